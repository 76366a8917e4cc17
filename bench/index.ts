/**
 * `npm run bench`: runs every benchmark module in turn. Each prints `BENCH <name> …` lines; add a module by
 * importing it and awaiting it below.
 */
import { benchGraph } from "./graph";

async function main(): Promise<void> {
  await benchGraph();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
