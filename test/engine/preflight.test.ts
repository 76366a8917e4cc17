/**
 * The pre-flight through the real engine on the rehearsal network: a node that fails its pre-flight stops the
 * flag day before anything closed. The ingress still serves clients, every node still runs the old enclave on
 * its untouched ledger, no snapshot was taken; once the cause is cleared, the same flag day runs to the end.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { bringUp, flagDay, gateState, layout, probeIngress, sendTraffic } from "../../rehearsal/run";
import { ledgerDump, testNetwork } from "./rehearsal-harness";

const NODES = ["node1", "node2", "node3"];
const V1 = "8224f1e6433d814d03de7a7d8fab7969d9b44e2cec09bd0a071e51e8dca6bd4c";
const V2 = "326b1a950e55d1cba47e5e4c7c8d9b8ddfae4a10a3d822382c137d9bf3930548";

async function enclaves(nodes: readonly { name: string; admin: string }[]) {
  const out: Record<string, string | undefined> = {};
  for (const n of nodes) {
    try {
      const res = await fetch(`${n.admin}/info`, { signal: AbortSignal.timeout(1500) });
      out[n.name] = ((await res.json()) as { build_info: { mrenclave: string } }).build_info.mrenclave;
    } catch {
      out[n.name] = undefined;
    }
  }
  return out;
}

test(
  "a failed pre-flight closes nothing: clients are served, nodes run v1 on their ledgers; cleared, the flag day completes",
  { timeout: 300_000 },
  async () => {
    const net = await testNetwork("preflight", {
      config: { "flagday:checks.timeoutSeconds": "8", "flagday:checks.quietPeriodSeconds": "1" },
    });
    try {
      await bringUp(net.stack, "v1.0.0", net.log);
      await sendTraffic(net.stack, 2, net.log);
      const before = Object.fromEntries(NODES.map((n) => [n, ledgerDump(net.rootDir, n)]));
      const hook = path.join(net.rootDir, "faults", "node2-preflight");
      fs.mkdirSync(path.dirname(hook), { recursive: true });
      fs.writeFileSync(hook, `echo "ssh: connect to host node2 port 22: Connection refused" >&2; exit 1`);

      const error = await flagDay(net.stack, "v2.0.0", net.log).then(
        () => undefined,
        (e: Error) => e.message,
      );
      assert.ok(error, "the flag day must fail");
      assert.match(error, /-u1-node2-preflight\b/, "the failure names node2's pre-flight");
      assert.doesNotMatch(error, /-u1-ingress-reject\b/);

      // Nothing was closed or stopped.
      const { ingress, nodes } = await layout(net.stack);
      assert.equal(await gateState(ingress.control), "accept", "the gate never rejected");
      assert.equal(await probeIngress(ingress.listen), "served", "clients are served");
      assert.deepEqual(await enclaves(nodes), Object.fromEntries(NODES.map((n) => [n, V1])));
      for (const n of NODES) {
        const d = ledgerDump(net.rootDir, n);
        assert.equal(d.format, 1, `${n}: ledger not migrated`);
        assert.deepEqual(d.blocks.slice(0, before[n].blocks.length), before[n].blocks, `${n}: every block`);
      }
      // No window snapshot was taken (the prepare stage's warm snapshots, taken with clients served, may be).
      const snapshots = path.join(net.rootDir, "snapshots");
      const taken = fs.existsSync(snapshots)
        ? fs.readdirSync(snapshots).flatMap((t) => fs.readdirSync(path.join(snapshots, t)))
        : [];
      assert.deepEqual(
        taken.filter((f) => !f.endsWith(".warm")),
        [],
        "no snapshot of a stopped node was taken",
      );
      assert.equal(
        fs.existsSync(path.join(net.rootDir, "marks")) &&
          fs.readdirSync(path.join(net.rootDir, "marks")).some((m) => /ingress-reject|-stop\./.test(m)),
        false,
      );

      // The cause cleared, the same update runs the whole flag day.
      fs.rmSync(hook);
      const res = await net.stack.up();
      assert.equal(res.summary.result, "succeeded");
      assert.deepEqual(await enclaves(nodes), Object.fromEntries(NODES.map((n) => [n, V2])));
      assert.equal(await gateState(ingress.control), "accept");
      for (const n of NODES) assert.equal(ledgerDump(net.rootDir, n).format, 2, `${n}: migrated`);
    } finally {
      await net.cleanup();
    }
  },
);
