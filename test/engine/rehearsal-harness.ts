import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { ROOT } from "../../rehearsal/run";
import { ScratchNetwork, ScratchOptions, scratchNetwork } from "../../rehearsal/scratch";

/** A rehearsal network of its own for one engine test: own stack, backend, folder and ports. */
export type TestNetwork = ScratchNetwork;

/** The stack is `test-<label>-<pid>` (stacks/Pulumi.test-*.yaml is gitignored). */
export function testNetwork(label: string, opts: ScratchOptions = {}): Promise<TestNetwork> {
  return scratchNetwork(`test-${label}-${process.pid}`, opts);
}

/** Block ids of a node's ledger (the simulator's ledger-dump), with its format. */
export function ledgerDump(rootDir: string, node: string): LedgerDump {
  return dumpLedgerDir(path.join(rootDir, node, "ledger"));
}

export interface LedgerDump {
  format: number;
  blocks: { index: number; id: string }[];
}

/** The same for any ledger directory (a snapshot is a copy of one). */
export function dumpLedgerDir(dir: string): LedgerDump {
  const out = execFileSync(
    path.join(ROOT, "node_modules", ".bin", "node"),
    [path.join(ROOT, "bin", "consensus-service-sim.js"), "ledger-dump", "--ledger-db", dir],
    { encoding: "utf8" },
  );
  return JSON.parse(out);
}
