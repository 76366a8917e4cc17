/**
 * Many operators, one flag day, through the real engine (issue 10): the rehearsal network split among three
 * operators, each with its own stack, state, folder, ingress and board key, managing only its own node; the
 * nodes peer across stacks; the three `pulumi up`s run at the same time and meet at the barriers on a shared
 * board. Covered: the agreement (not signed, signed a different MRENCLAVE, a forged entry), a coordinated abort
 * after the snapshots (every operator restores every block), one operator's failed stop (nobody starts the new
 * enclave, the others fail at the barrier naming it, the re-run completes), and barrier waits in the summary.
 */
import { after, before, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { CoordinationBoard, agreeEntry } from "../../components/coordination/board";
import { DirectoryBoardBackend } from "../../components/coordination/boardDir";
import { flagDayProposal, networkOperators } from "../../components/coordination/proposal";
import { generateOperatorKey, privateKeyFrom } from "../../components/coordination/signing";
import type { NetworkSpec } from "../../components/network";
import type { EnclaveRelease } from "../../components/release";
import { fetchAll } from "../../checks/client";
import { bringUp, gateState, layout, sendTraffic, windowAroundNow } from "../../rehearsal/run";
import {
  OperatorStack,
  agree,
  agreeOnFlagDay,
  everyOperatorUp,
  formatCoordinated,
  operatorUps,
  postAbort,
  splitAmongOperators,
} from "../../rehearsal/operators";
import { freeBase } from "../../rehearsal/scratch";
import { LedgerDump, ledgerDump, testNetwork, TestNetwork } from "./rehearsal-harness";

const V1 = "8224f1e6433d814d03de7a7d8fab7969d9b44e2cec09bd0a071e51e8dca6bd4c";
const V2 = "326b1a950e55d1cba47e5e4c7c8d9b8ddfae4a10a3d822382c137d9bf3930548";
const BARRIER_TIMEOUT = 25;

let nets: TestNetwork[] = [];
let ops: OperatorStack[] = [];
let board: string;
let scratch: string;
const byName = (name: string) => ops.find((o) => o.operator === name)!;
const netOf = (name: string) => nets[ops.findIndex((o) => o.operator === name)];
const nodeOf: Record<string, string> = { alice: "node1", bob: "node2", carol: "node3" };

before(async () => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), "flagday-operators-"));
  board = path.join(scratch, "board");
  const basePort = await freeBase(3);
  nets = await Promise.all(
    ["alice", "bob", "carol"].map((o) => testNetwork(`op-${o}`, { nodes: 3, basePort })),
  );
  ops = await splitAmongOperators(nets, { board, barrierTimeoutSeconds: BARRIER_TIMEOUT });
});
after(async () => {
  await Promise.allSettled(nets.map((n) => n.cleanup()));
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

/** Each operator's own node's ledger. */
const ledgers = () =>
  Object.fromEntries(ops.map((o) => [o.operator, ledgerDump(netOf(o.operator).rootDir, nodeOf[o.operator])]));

function assertKept(before: Record<string, LedgerDump>, what: string) {
  const now = ledgers();
  for (const [op, b] of Object.entries(before)) {
    assert.deepEqual(
      now[op].blocks.slice(0, b.blocks.length),
      b.blocks,
      `${op}: every pre-window block ${what}`,
    );
  }
  return now;
}

/** What every node's admin API says: its MRENCLAVE, or that it is down. */
async function enclaves(): Promise<Record<string, string>> {
  const all = (await Promise.all(ops.map((o) => layout(o.stack)))).flatMap((l) => l.nodes);
  const st = await fetchAll(all.map((n) => ({ name: n.name, admin: n.admin })));
  return Object.fromEntries(st.map((s) => [s.name, s.reachable ? (s.mrenclave ?? "?") : "down"]));
}

test(
  "three operators bring up their own nodes, which peer across the stacks",
  { timeout: 240_000 },
  async () => {
    const ups = await Promise.all(ops.map((o) => bringUp(o.stack, "v1.0.0", o.log)));
    for (const up of ups) assert.equal(up.summary.result, "succeeded");
    for (const o of ops) {
      const state = (await o.stack.exportStack()).deployment as {
        resources?: { type: string; urn: string }[];
      };
      const nodes = (state.resources ?? []).filter((r) => r.type === "flagday:index:ConsensusNode");
      assert.deepEqual(
        nodes.map((r) => r.urn.split("::").pop()),
        [`rehearsal-${nodeOf[o.operator]}`],
        `${o.operator}'s stack manages only its own node`,
      );
      assert.equal((await layout(o.stack)).nodes.length, 1);
    }
    // A payment through each operator's node commits: the three nodes reach quorum across the stacks.
    for (const o of ops) await sendTraffic(o.stack, 1, o.log);
    assert.deepEqual(Object.values(await enclaves()), [V1, V1, V1]);
  },
);

test(
  "the flag day is refused until every operator signed the same proposal; forged entries are ignored",
  { timeout: 240_000 },
  async () => {
    const window = windowAroundNow();
    const before = ledgers();
    for (const o of ops) {
      await o.stack.setConfig("flagday:release", { value: "v2.0.0" });
      await o.stack.setConfig("flagday:window", { value: JSON.stringify(window) });
    }
    const alice = byName("alice");
    const preview = await alice.stack.preview();
    assert.match(preview.stdout, /0 of 3 operators signed flag day/);
    for (const stage of ["all-ready", "all-quiesced", "all-snapshotted", "all-proven", "all-live"]) {
      assert.match(preview.stdout, new RegExp(`rehearsal-u1-${stage}`), `preview shows the ${stage} barrier`);
    }

    // alice and bob sign with the CLI; carol signs a proposal with another MRENCLAVE.
    for (const name of ["alice", "bob"]) {
      const out = await agree(byName(name));
      assert.match(out, new RegExp(`signed and posted: rehearsal/${name}/`));
      assert.doesNotMatch(out, /PRIVATE KEY/);
    }
    // carol has not signed: the others' `up` refuses before any change, naming her.
    await assert.rejects(byName("bob").stack.up(), (e: Error) => {
      assert.match(e.message, /2 of 3 operators signed flag day [0-9a-f]{12}: alice, bob\./);
      assert.match(e.message, /operator carol has not signed\./);
      return true;
    });
    const all = await alice.stack.getAllConfig();
    const releases = JSON.parse(all["flagday:releases"].value) as Record<string, EnclaveRelease>;
    const network = JSON.parse(all["flagday:network"].value) as NetworkSpec & { release: string };
    const spec = { ...network, release: releases["v2.0.0"] };
    const proposalWith = (to: EnclaveRelease) =>
      flagDayProposal({
        network: spec,
        operators: networkOperators(spec)!,
        from: releases["v1.0.0"],
        to,
        window,
        checks: JSON.parse(all["flagday:checks"].value),
      });
    const carolKey = privateKeyFrom(byName("carol").privateKeyPem);
    const direct = new CoordinationBoard(new DirectoryBoardBackend(board));
    await direct.put(
      agreeEntry(proposalWith({ ...releases["v2.0.0"], mrenclave: "f".repeat(64) }), "carol", carolKey),
    );
    await assert.rejects(alice.stack.up(), (e: Error) => {
      assert.match(
        e.message,
        /not every operator has signed this flag day, so it cannot start\. Nothing was changed/,
      );
      assert.match(
        e.message,
        /operator carol signed a different proposal \([0-9a-f]{12}\): to\.mrenclave differ/,
      );
      return true;
    });

    // A forged agreement in carol's name (a key not in the network) is ignored and reported.
    const fake = agreeEntry(
      proposalWith(releases["v2.0.0"]),
      "carol",
      privateKeyFrom(generateOperatorKey().privateKeyPem),
    );
    await new DirectoryBoardBackend(board).create(
      `rehearsal/carol/${fake.flagDayId}/agree`,
      JSON.stringify(fake),
    );
    const again = await alice.stack.preview();
    assert.match(again.stdout, /ignored board entry rehearsal\/carol\/[0-9a-f]+\/agree: forged/);
    assert.match(again.stdout, /2 of 3 operators signed/);
    await assert.rejects(byName("bob").stack.up(), /operator carol/);
    assertKept(before, "untouched while the agreement was missing");
    assert.deepEqual(Object.values(await enclaves()), [V1, V1, V1], "nothing changed");
    fs.rmSync(path.join(board, "rehearsal", "carol", fake.flagDayId), { recursive: true, force: true });
  },
);

test(
  "a coordinated abort after the snapshots: every waiting operator fails at once, every operator restores",
  { timeout: 420_000 },
  async () => {
    const carol = byName("carol");
    const window = JSON.parse((await carol.stack.getConfig("flagday:window")).value);
    assert.match(await agree(carol), /3 of 3 operators signed/);
    const before = ledgers();
    // carol's migration fails: she is stopped and snapshotted, alice and bob wait for her at all-snapshotted.
    const faults = path.join(netOf("carol").rootDir, "faults");
    fs.mkdirSync(faults, { recursive: true });
    fs.writeFileSync(
      path.join(faults, "node3-migrate"),
      `echo "mc-ledger-migration: out of space" >&2; exit 1\n`,
    );
    const runs = operatorUps(ops, "v2.0.0", window);
    // The call decides to abort as soon as carol reports her failure.
    const carolOutcome = await runs[ops.indexOf(carol)];
    assert.equal(carolOutcome.ok, false);
    const abortedAt = Date.now();
    assert.match(
      await postAbort(carol, "node3's migration failed; retry in the next window"),
      /posted the abort/,
    );
    const outcomes = await Promise.all(runs);
    const settledAfterAbort = Date.now() - abortedAt;
    fs.rmSync(path.join(faults, "node3-migrate"));
    const byOp = Object.fromEntries(outcomes.map((o) => [o.operator, o]));
    const err = (name: string) => (byOp[name].ok ? "" : (byOp[name] as { error: string }).error);
    assert.match(err("carol"), /node3-migrate|injected fault/);
    for (const name of ["alice", "bob"]) {
      assert.match(
        err(name),
        /FAIL all-snapshotted: operator carol aborted flag day [0-9a-f]{12} at [^:]+:\d\d:\d\d[^:]*: node3's migration failed/,
        `${name} fails at the barrier with carol's reason`,
      );
    }
    // Nobody started the new enclave; every ingress still turns clients away.
    const e = await enclaves();
    assert.ok(!Object.values(e).includes(V2), `no node on the new enclave: ${JSON.stringify(e)}`);
    for (const o of ops) assert.equal(await gateState((await layout(o.stack)).ingress.control), "reject");
    assert.ok(
      settledAfterAbort < BARRIER_TIMEOUT * 1000,
      `the waiting operators failed on the abort (${settledAfterAbort} ms), not at the barrier timeout`,
    );

    // Each operator undoes the failed flag day on its own stack: no new signatures, the abort is on the board.
    for (const o of ops) {
      await o.stack.setConfig("flagday:release", { value: "v1.0.0" });
      await o.stack.setConfig("flagday:abort", { value: "v2.0.0" });
    }
    const back = await Promise.all(ops.map((o) => o.stack.up({ onEvent: undefined })));
    for (const b of back) assert.equal(b.summary.result, "succeeded");
    const after = assertKept(before, "restored");
    for (const op of Object.keys(after))
      assert.equal(after[op].format, 1, `${op}'s ledger is back on format 1`);
    assert.deepEqual(Object.values(await enclaves()), [V1, V1, V1]);
    for (const o of ops) await o.stack.removeConfig("flagday:abort");
  },
);

test(
  "one operator's stop fails: nobody starts the new enclave, the others fail at the barrier naming it; after the fix every re-run completes",
  { timeout: 600_000 },
  async () => {
    // A new attempt is a new proposal (a new window on the call): every operator signs it again.
    const window = windowAroundNow(3);
    await agreeOnFlagDay(ops, "v2.0.0", window);
    const before = ledgers();
    const faults = path.join(netOf("bob").rootDir, "faults");
    fs.mkdirSync(faults, { recursive: true });
    fs.writeFileSync(
      path.join(faults, "node2-stop"),
      `echo "docker stop: daemon not responding" >&2; exit 1\n`,
    );
    const failed = await everyOperatorUp(ops, "v2.0.0", window);
    const byOp = Object.fromEntries(failed.map((o) => [o.operator, o]));
    const err = (name: string) => (byOp[name].ok ? "" : (byOp[name] as { error: string }).error);
    assert.match(err("bob"), /node2-stop/);
    for (const name of ["alice", "carol"]) {
      assert.match(
        err(name),
        new RegExp(
          `FAIL all-snapshotted: not every operator reached all-snapshotted within ${BARRIER_TIMEOUT}s: bob \\(last at all-quiesced\\)`,
        ),
        `${name} names bob and where he is`,
      );
    }
    const e = await enclaves();
    assert.ok(!Object.values(e).includes(V2), `no node on the new enclave: ${JSON.stringify(e)}`);
    for (const o of ops) assert.equal(await gateState((await layout(o.stack)).ingress.control), "reject");
    // While alice waited, her own `pulumi up` output said for whom (the stack program reads the board).
    const said = fs.readFileSync(path.join(netOf("alice").rootDir, "events.jsonl"), "utf8");
    assert.match(
      said,
      /stage \d+ of \d+, all-snapshotted: 2 of 3 operators arrived \(alice, carol\); waiting for bob \(last at all-quiesced/,
    );

    // bob fixes his node; everyone re-runs `up`: the waits resume and the flag day completes.
    fs.rmSync(path.join(faults, "node2-stop"));
    const done = await everyOperatorUp(ops, "v2.0.0", window);
    for (const o of done) assert.equal(o.ok, true, o.ok ? "" : o.error);
    assertKept(before, "kept on every node");
    assert.deepEqual(Object.values(await enclaves()), [V2, V2, V2]);
    const summary = formatCoordinated(done);
    for (const name of ["alice", "bob", "carol"]) assert.match(summary, new RegExp(`== operator ${name} ==`));
    assert.match(summary, /barrier waits: .*all-snapshotted \d+\.\ds/);
    for (const o of ops) assert.equal(await gateState((await layout(o.stack)).ingress.control), "accept");
  },
);
