/**
 * `npm run rehearse`: a whole flag day on this machine. Brings the rehearsal network (stacks/Pulumi.rehearsal.yaml,
 * three simulated nodes) up on v1.0.0, sends payments, performs the flag day to v2.0.0 through one real
 * `pulumi up`, and prints the summary. Options:
 *   --rollback   afterwards, set the release back to v1.0.0 and `pulumi up` again (restores the snapshots)
 *   --teardown   destroy the rehearsal network and its files, and stop (nothing else)
 *   --keep       start from the network as it is instead of a fresh one
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import { bringUp, flagDay, formatReport, layout, rehearsalStack, ROOT, sendTraffic } from "./run";

async function main(argv: string[]): Promise<number> {
  const flags = new Set(argv);
  const unknown = argv.filter((a) => !["--rollback", "--teardown", "--keep"].includes(a));
  if (unknown.length) {
    console.error(`unknown option ${unknown.join(" ")}: use --rollback, --teardown or --keep`);
    return 2;
  }
  const log = (l: string) => console.log(l);
  const stack = await rehearsalStack();
  const dir = path.join(ROOT, ".rehearsal", stack.name);
  if (flags.has("--teardown") || !flags.has("--keep")) {
    log(`tearing down any previous rehearsal network (pulumi destroy)...`);
    await stack.destroy({ onOutput: undefined });
    fs.rmSync(dir, { recursive: true, force: true });
    // Back to the stack file as committed: the release under rehearsal, no window, no accepted loss.
    await stack.setConfig("flagday:release", { value: "v1.0.0" });
    for (const key of ["flagday:window", "flagday:acceptDataLoss", "flagday:msgSignerKeys"]) {
      await stack.removeConfig(key).catch(() => undefined);
    }
    if (flags.has("--teardown")) {
      log("rehearsal network destroyed.");
      return 0;
    }
  }
  // Each simulated node gets a message-signer key, a Pulumi secret, as real nodes get --msg-signer-key.
  const { nodes } = await layout(stack);
  for (const n of nodes) {
    const key = `flagday:msgSignerKeys.${n.name}`;
    const has = await stack.getConfig(key, true).then(
      () => true,
      () => false,
    );
    if (!has) await stack.setConfig(key, { value: randomBytes(32).toString("base64"), secret: true }, true);
  }
  await bringUp(stack, "v1.0.0", log);
  await sendTraffic(stack, 5, log);
  const report = await flagDay(stack, "v2.0.0", log);
  log("\n" + formatReport(report) + "\n");
  if (flags.has("--rollback")) {
    await sendTraffic(stack, 2, log);
    log(
      "rollback to v1.0.0: the live window made blocks after the snapshots, so the guard must refuse first...",
    );
    const refused = await flagDay(stack, "v1.0.0", log).then(
      () => undefined,
      (e: Error) => e.message,
    );
    if (refused === undefined) throw new Error("the rollback guard let a rollback drop confirmed blocks");
    log(`refused as expected: ${/FAIL heights: [^\n]*/.exec(refused)?.[0] ?? refused.split("\n")[0]}`);
    log("accepting the loss (flagday:acceptDataLoss, recorded in the history) and rolling back...");
    await stack.setConfig("flagday:acceptDataLoss", { value: "true" });
    const back = await flagDay(stack, "v1.0.0", log);
    log("\n" + formatReport(back) + "\n");
  }
  log(`The network is still running: npm run pulumi -- stack output -s ${stack.name} --json`);
  log(
    `  flagday status ${[1, 2, 3].map((i) => `--admin node${i}=http://127.0.0.1:${24000 + 10 * i}`).join(" ")}`,
  );
  log(`Tear it down with: npm run rehearse -- --teardown`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: Error) => {
    console.error(`rehearsal failed: ${e.message}`);
    process.exit(1);
  },
);
