/**
 * The fault matrix, through the real engine on the rehearsal network: a failure injected at each stage of a
 * flag day. For each one: the update fails at that stage, naming the stage (and the node at fault); the ingress
 * stays closed; no new-enclave node is attested beside an old one; the snapshots taken are intact; and, from
 * that point, both ways out work: clearing the fault and re-running completes the flag day, and aborting it
 * restores the pre-upgrade ledger exactly (every block, same hashes).
 */
import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { bringUp, flagDay, gateState, layout, sendTraffic } from "../../rehearsal/run";
import { dumpLedgerDir, LedgerDump, ledgerDump, testNetwork, TestNetwork } from "./rehearsal-harness";

const NODES = ["node1", "node2", "node3"];
const V1 = "8224f1e6433d814d03de7a7d8fab7969d9b44e2cec09bd0a071e51e8dca6bd4c";
const V2 = "326b1a950e55d1cba47e5e4c7c8d9b8ddfae4a10a3d822382c137d9bf3930548";
const BAD = "badbadbadbadbadbadbadbadbadbadbadbadbadbadbadbadbadbadbadbadbadb";

interface Fault {
  /** The operator's words for it. */
  readonly name: string;
  /** The failing step's name without network and ordinal (also the fault hook's file name). */
  readonly step: string;
  /** The node the failure message must name, if one is at fault. */
  readonly node?: string;
  /** The hook script; `pid(n)` gives node n's process id at run time. */
  readonly script: (pid: (node: string) => string) => string;
  /** Undo what the hook did to running processes (the hook file itself is removed by the test). */
  readonly paused?: readonly string[];
  /** How an operator resumes once the fault is cleared: re-run, or re-run replacing the faulty node. */
  readonly resume?: "replace-node2";
  /** The ingress reopened before the failure, so clients may have been served: a restore must be accepted. */
  readonly clientsServed?: boolean;
}

const pause =
  (...nodes: string[]) =>
  (pid: (n: string) => string) =>
    nodes.map((n) => `kill -STOP ${pid(n)}`).join(" && ");

const FAULTS: readonly Fault[] = [
  {
    name: "quiesce mismatch (a node stops answering)",
    step: "quiesce",
    node: "node3",
    script: pause("node3"),
    paused: ["node3"],
  },
  {
    name: "a stop that fails",
    step: "node2-stop",
    node: "node2",
    script: () => `echo "docker stop: daemon not responding" >&2; exit 1`,
  },
  {
    name: "a snapshot that fails",
    step: "node1-snapshot",
    node: "node1",
    script: () => `echo "CreateSnapshot: SnapshotLimitExceeded" >&2; exit 1`,
  },
  {
    name: "a migration that fails on one node",
    step: "node3-migrate",
    node: "node3",
    script: () => `echo "mc-ledger-migration: panicked" >&2; exit 1`,
  },
  {
    name: "a new node that fails attestation",
    step: "attest",
    node: "node2",
    // node2 comes up on an enclave nobody else runs: its peers refuse it.
    script: () =>
      `if grep -q ${V2} "$FLAGDAY_NODE_CONFIG"; then sed -i "s/${V2}/${BAD}/" "$FLAGDAY_NODE_CONFIG"; fi`,
    resume: "replace-node2",
  },
  {
    name: "a failed transaction test",
    step: "txtest",
    script: pause("node2", "node3"),
    paused: ["node2", "node3"],
  },
  {
    name: "a stall in the live window",
    step: "live",
    script: pause("node2", "node3"),
    paused: ["node2", "node3"],
    clientsServed: true,
  },
];

/** Which hook file a fault uses: the attestation fault is planted on node2's server start. */
const hookOf = (f: Fault) => (f.step === "attest" ? "node2-server" : f.step);

async function failAt(net: TestNetwork, f: Fault) {
  await bringUp(net.stack, "v1.0.0", net.log);
  await sendTraffic(net.stack, 3, net.log);
  const before = Object.fromEntries(NODES.map((n) => [n, ledgerDump(net.rootDir, n)]));
  const faults = path.join(net.rootDir, "faults");
  fs.mkdirSync(faults, { recursive: true });
  const pid = (n: string) => `$(cat ${path.join(net.rootDir, n, "node.pid")})`;
  fs.writeFileSync(path.join(faults, hookOf(f)), f.script(pid));
  const error = await flagDay(net.stack, "v2.0.0", net.log).then(
    () => undefined,
    (e: Error) => e.message,
  );
  assert.ok(error, `${f.name}: the flag day must fail`);
  return { before, error };
}

async function clear(net: TestNetwork, f: Fault) {
  fs.rmSync(path.join(net.rootDir, "faults", hookOf(f)), { force: true });
  for (const n of f.paused ?? []) {
    process.kill(Number(fs.readFileSync(path.join(net.rootDir, n, "node.pid"), "utf8")), "SIGCONT");
  }
}

interface Info {
  id: string;
  build_info: { mrenclave: string };
  attested_peers?: string[];
}
async function infos(net: TestNetwork): Promise<Map<string, Info>> {
  const { nodes } = await layout(net.stack);
  const out = new Map<string, Info>();
  for (const n of nodes) {
    try {
      const res = await fetch(`${n.admin}/info`, { signal: AbortSignal.timeout(1500) });
      out.set(n.name, (await res.json()) as Info);
    } catch {
      /* stopped or paused: not running beside anyone */
    }
  }
  return out;
}

async function assertSafeAfterFailure(
  net: TestNetwork,
  f: Fault,
  failure: { before: Record<string, LedgerDump>; error: string },
) {
  // The update stopped at the faulty stage, and says which stage and node.
  assert.match(failure.error, new RegExp(`-u1-${f.step}\\b`), `${f.name}: names the step`);
  if (f.node) assert.match(failure.error, new RegExp(f.node), `${f.name}: names ${f.node}`);

  // The ingress is closed: every stage of the matrix runs after the ingress rejected clients.
  const { ingress } = await layout(net.stack);
  assert.equal(await gateState(ingress.control), "reject", `${f.name}: ingress stays closed`);

  // No node on the new enclave is attested to a node on the old one.
  const running = await infos(net);
  for (const [a, ia] of running) {
    for (const [b, ib] of running) {
      if (a === b || ia.build_info.mrenclave === ib.build_info.mrenclave) continue;
      const peers = ia.attested_peers ?? [];
      assert.ok(
        !peers.includes(b) && !peers.includes(ib.id),
        `${f.name}: ${a} (${ia.build_info.mrenclave.slice(0, 8)}) attested to ${b} (${ib.build_info.mrenclave.slice(0, 8)})`,
      );
    }
  }

  // Every snapshot taken holds exactly the node's pre-upgrade ledger.
  const snapshots = path.join(net.rootDir, "snapshots");
  for (const t of fs.existsSync(snapshots) ? fs.readdirSync(snapshots) : []) {
    for (const n of NODES) {
      const record = path.join(snapshots, t, `${n}.json`);
      if (!fs.existsSync(record)) continue;
      const dump = dumpLedgerDir(path.join(snapshots, t, n));
      assert.deepEqual(dump, failure.before[n], `${f.name}: snapshot of ${n} intact`);
      assert.equal(
        (JSON.parse(fs.readFileSync(record, "utf8")) as { height: number }).height,
        failure.before[n].blocks.length,
      );
    }
  }
}

for (const f of FAULTS) {
  describe(`fault: ${f.name}`, { concurrency: false }, () => {
    test(
      "fails safely, and a re-run after the fault is cleared completes",
      { timeout: 300_000 },
      async () => {
        const net = await testNetwork(`fault-a-${f.step}`, { config: CHECKS });
        try {
          const failure = await failAt(net, f);
          await assertSafeAfterFailure(net, f, failure);
          await clear(net, f);
          const replace =
            f.resume === "replace-node2"
              ? (await net.stack.exportStack()).deployment.resources
                  .map((r: { urn: string }) => r.urn)
                  .filter((u: string) => u.endsWith("::rehearsal-node2-server"))
              : [];
          const res = await net.stack.up({ replace });
          assert.equal(res.summary.result, "succeeded");
          for (const [n, i] of await infos(net)) assert.equal(i.build_info.mrenclave, V2, `${n} on v2`);
          for (const n of NODES) {
            const d = ledgerDump(net.rootDir, n);
            assert.equal(d.format, 2);
            assert.deepEqual(d.blocks.slice(0, failure.before[n].blocks.length), failure.before[n].blocks);
          }
          const { ingress } = await layout(net.stack);
          assert.equal(await gateState(ingress.control), "accept");
        } finally {
          await net.cleanup();
        }
      },
    );

    test(
      "fails safely, and a rollback from that point restores the pre-upgrade ledger exactly",
      { timeout: 300_000 },
      async () => {
        const net = await testNetwork(`fault-b-${f.step}`, { config: CHECKS });
        try {
          const failure = await failAt(net, f);
          await assertSafeAfterFailure(net, f, failure);
          await clear(net, f);
          // Blocks the failed window made (attestation, tests, live traffic): a restore must drop them.
          const windowBlocks = new Set(
            NODES.flatMap((n) =>
              ledgerDump(net.rootDir, n)
                .blocks.slice(failure.before[n].blocks.length)
                .map((b) => b.id),
            ),
          );
          await net.stack.setConfig("flagday:release", { value: "v1.0.0" });
          await net.stack.setConfig("flagday:abort", { value: "v2.0.0" });
          if (f.clientsServed && windowBlocks.size > 0) {
            // Clients were served in the live window: the guard refuses to drop their blocks unless told to.
            const refused = await net.stack.up().then(
              () => undefined,
              (e: Error) => e.message,
            );
            assert.match(refused ?? "", /blocks beyond the snapshot height/, `${f.name}: the guard refuses`);
            await net.stack.setConfig("flagday:acceptDataLoss", { value: "true" });
          }
          const res = await net.stack.up();
          assert.equal(res.summary.result, "succeeded");
          for (const [n, i] of await infos(net)) assert.equal(i.build_info.mrenclave, V1, `${n} back on v1`);
          for (const n of NODES) {
            const d = ledgerDump(net.rootDir, n);
            assert.equal(d.format, 1, `${n} ledger back to format 1`);
            assert.deepEqual(
              d.blocks.slice(0, failure.before[n].blocks.length),
              failure.before[n].blocks,
              `${n}: every pre-upgrade block`,
            );
            assert.ok(
              !d.blocks.some((b) => windowBlocks.has(b.id)),
              `${n}: no block of the failed window survives`,
            );
          }
          const record = (await net.stack.outputs()).flagday.value as {
            history: { outcome: string; sequence: string }[];
          };
          assert.deepEqual(
            record.history.map((h) => `${h.sequence}:${h.outcome}`),
            ["flag-day:aborted", "rollback-restore:completed"],
          );
        } finally {
          await net.cleanup();
        }
      },
    );
  });
}

/** Short timeouts: a failing check should fail in seconds here, not the ten minutes a real call allows. */
const CHECKS: Record<string, string> = {
  "flagday:checks.timeoutSeconds": "8",
  "flagday:checks.quietPeriodSeconds": "1",
  "flagday:checks.livePeriodSeconds": "4",
};
