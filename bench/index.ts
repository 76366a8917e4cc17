/**
 * `npm run bench`: runs every benchmark module in turn. Each prints `BENCH <name> …` lines; add a module by
 * importing it and awaiting it below.
 */
import { benchDowntime } from "./downtime";
import { benchGraph } from "./graph";
import { benchCoordinated } from "./coordinated";
import { benchProfile } from "./profile";
import { benchStateBackend } from "./stateBackend";

async function main(): Promise<void> {
  await benchGraph();
  await benchDowntime();
  await benchProfile();
  await benchStateBackend();
  await benchCoordinated();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
