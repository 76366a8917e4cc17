/**
 * The cross-operator barriers as plain functions, and the waiting loop against a real directory board: who
 * arrived, where the missing operators are, an abort fails every waiter at once, reports that disagree on the
 * height fail, forged entries never count, and a re-run resumes the wait with the entry it already posted.
 */
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { execFile } from "node:child_process";
import {
  BarrierSpec,
  abortEntry,
  barrierCommand,
  barrierOrder,
  barrierStatus,
  describeBarrier,
  heightDisagreement,
  progressEntry,
  waitAtBarrier,
} from "../../components/coordination/barrier";
import { CoordinationBoard, entryKey } from "../../components/coordination/board";
import { DirectoryBoardBackend } from "../../components/coordination/boardDir";
import { flagDayId } from "../../components/coordination/proposal";
import { BARRIER_NAMES, stagesOf } from "../../components/stages";
import { ALICE, BOB, CAROL, MALLORY, PROPOSAL, TestOperator } from "./fixtures";
import { S3Server, startS3Server } from "../../rehearsal/s3server";
import { FLAGDAY_BIN, ROOT } from "../sim/helpers";

const ID = flagDayId(PROPOSAL);
const OPS = [ALICE, BOB, CAROL].map(({ name, publicKey }) => ({ name, publicKey }));

const spec = (op: TestOperator, over: Partial<BarrierSpec> = {}): BarrierSpec => ({
  network: "testnet",
  flagDayId: ID,
  sequence: "flag-day",
  stage: "all-quiesced",
  operator: op.name,
  operators: OPS,
  payload: { height: 42, blockHash: "ab".repeat(32) },
  agreeOn: "height",
  ...over,
});

const boardDirs: string[] = [];
after(() => boardDirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function board(): { board: CoordinationBoard; dir: string } {
  const dir = mkdtempSync(path.join(tmpdir(), "flagday-barrier-"));
  boardDirs.push(dir);
  return { board: new CoordinationBoard(new DirectoryBoardBackend(dir)), dir };
}

describe("barrier stages", () => {
  test("every coordinated sequence has its barriers in runbook order; one operator's has none", () => {
    assert.deepEqual(barrierOrder("flag-day"), [
      "all-ready",
      "all-rejecting",
      "all-quiesced",
      "all-snapshotted",
      "all-proven",
      "all-live",
    ]);
    assert.ok(barrierOrder("rollback-restore").includes("all-restored"));
    for (const seq of ["flag-day", "rollback-restore", "rollback-reverse"] as const) {
      assert.equal(stagesOf(seq, false).filter((s) => s.scope === "operators").length, 0);
      const names = stagesOf(seq, true).map((s) => s.name);
      // No start before the stop-and-snapshot barrier; no reopening before the proof barrier.
      const barrierBeforeStart = seq === "rollback-restore" ? "all-restored" : "all-snapshotted";
      assert.ok(names.indexOf(barrierBeforeStart) < names.indexOf("start"), seq);
      assert.ok(names.indexOf("all-proven") < names.indexOf("ingress-accept"), seq);
      assert.ok(names.indexOf("all-rejecting") < names.indexOf("stop"), seq);
      assert.ok(names.indexOf("all-ready") < names.indexOf("ingress-reject"), seq);
    }
    assert.equal(new Set(BARRIER_NAMES).size, BARRIER_NAMES.length);
  });
});

describe("barrierStatus", () => {
  test("names the missing operators and the furthest barrier each posted", () => {
    const entries = [
      progressEntry(spec(ALICE), ALICE.privateKey),
      progressEntry(spec(BOB, { stage: "all-ready", payload: {} }), BOB.privateKey),
      progressEntry(spec(BOB, { stage: "all-rejecting", payload: {} }), BOB.privateKey),
    ];
    const s = barrierStatus(spec(ALICE), entries);
    assert.deepEqual(s.arrived, ["alice"]);
    assert.deepEqual(
      s.missing.map((m) => [m.operator, m.last?.stage]),
      [
        ["bob", "all-rejecting"],
        ["carol", undefined],
      ],
    );
    assert.equal(s.complete, false);
    const words = describeBarrier(s);
    assert.match(words, /all-quiesced: 1 of 3 operators arrived \(alice\)/);
    assert.match(words, /bob \(last at all-rejecting, \d+s ago\)/);
    assert.match(words, /carol \(no barrier posted yet\)/);
  });

  test("complete only when every operator arrived with one height and one block hash", () => {
    const all = [ALICE, BOB, CAROL].map((o) => progressEntry(spec(o), o.privateKey));
    assert.equal(barrierStatus(spec(ALICE), all).complete, true);
    const other = [
      ...all.slice(0, 2),
      progressEntry(spec(CAROL, { payload: { height: 43, blockHash: "cd".repeat(32) } }), CAROL.privateKey),
    ];
    const s = barrierStatus(spec(ALICE), other);
    assert.equal(s.complete, false);
    assert.match(s.disagreement ?? "", /not at one height and one block hash: alice=42 .*carol=43/);
    // A barrier that compares nothing does not care about payloads.
    assert.equal(barrierStatus(spec(ALICE, { agreeOn: undefined }), other).complete, true);
    assert.match(
      heightDisagreement([progressEntry(spec(BOB, { payload: {} }), BOB.privateKey)]) ?? "",
      /bob reported no block height/,
    );
  });

  test("an abort of this flag day fails it; one of another flag day does not", () => {
    const all = [ALICE, BOB, CAROL].map((o) => progressEntry(spec(o), o.privateKey));
    const abort = abortEntry(
      { network: "testnet", flagDayId: ID, operator: "bob", reason: "node3 will not stop" },
      BOB.privateKey,
    );
    const s = barrierStatus(spec(ALICE), [...all, abort]);
    assert.equal(s.complete, false);
    assert.deepEqual(
      { operator: s.abort?.operator, reason: s.abort?.reason },
      { operator: "bob", reason: "node3 will not stop" },
    );
    const elsewhere = abortEntry(
      { network: "testnet", flagDayId: "e".repeat(64), operator: "bob", reason: "other" },
      BOB.privateKey,
    );
    assert.equal(barrierStatus(spec(ALICE), [...all, elsewhere]).complete, true);
  });
});

describe("waitAtBarrier on a directory board", () => {
  const quiet = { intervalMs: 20, reportEveryMs: 0 };

  test("posts its arrival, says whom it waits for, and passes once every operator arrived", async () => {
    const { board: b } = board();
    const lines: string[] = [];
    const posted = new Set<string>();
    // bob arrives once alice says she waits for bob and carol; carol once alice waits for her alone.
    const arrive = (op: TestOperator) => {
      if (posted.has(op.name)) return;
      posted.add(op.name);
      void b.put(progressEntry(spec(op), op.privateKey));
    };
    const out = await waitAtBarrier(b, spec(ALICE), ALICE.privateKey, {
      ...quiet,
      timeoutMs: 10_000,
      log: (l) => {
        lines.push(l);
        if (/waiting for bob .*carol/.test(l)) arrive(BOB);
        else if (/waiting for carol/.test(l)) arrive(CAROL);
      },
    });
    assert.equal(out.ok, true, lines.join("\n"));
    assert.ok(lines.some((l) => /alice arrived at all-quiesced \(posted testnet\/alice\//.test(l)));
    assert.ok(lines.some((l) => /1 of 3 operators arrived \(alice\); waiting for bob/.test(l)));
    assert.ok(lines.some((l) => /2 of 3 operators arrived \(alice, bob\); waiting for carol/.test(l)));
  });

  test("times out naming every missing operator and its last barrier; a re-run resumes", async () => {
    const { board: b } = board();
    await b.put(progressEntry(spec(BOB, { stage: "all-rejecting", payload: {} }), BOB.privateKey));
    const out = await waitAtBarrier(b, spec(ALICE), ALICE.privateKey, {
      ...quiet,
      timeoutMs: 150,
      log: () => undefined,
    });
    assert.equal(out.ok, false);
    assert.match(
      out.ok ? "" : out.reason,
      /not every operator reached all-quiesced within 0s: bob \(last at all-rejecting\), carol \(no barrier posted\)/,
    );
    // bob and carol arrive; alice re-runs: her entry exists (write-once), the wait resumes and passes.
    for (const o of [BOB, CAROL]) await b.put(progressEntry(spec(o), o.privateKey));
    const lines: string[] = [];
    const again = await waitAtBarrier(b, spec(ALICE), ALICE.privateKey, {
      ...quiet,
      timeoutMs: 5_000,
      log: (l) => lines.push(l),
    });
    assert.equal(again.ok, true);
    assert.ok(lines.some((l) => /had already arrived at all-quiesced.*resuming the wait/.test(l)));
  });

  test("an abort posted while waiting fails the wait at once with the operator and the reason", async () => {
    const { board: b } = board();
    setTimeout(
      () =>
        void b.put(
          abortEntry(
            { network: "testnet", flagDayId: ID, operator: "carol", reason: "node5 snapshot failed" },
            CAROL.privateKey,
          ),
        ),
      100,
    );
    const t0 = Date.now();
    const out = await waitAtBarrier(b, spec(ALICE), ALICE.privateKey, {
      ...quiet,
      timeoutMs: 30_000,
      log: () => undefined,
    });
    assert.equal(out.ok, false);
    assert.match(
      out.ok ? "" : out.reason,
      /operator carol aborted flag day [0-9a-f]{12} at .*: node5 snapshot failed/,
    );
    assert.ok(Date.now() - t0 < 5_000, "failed at once, not at the timeout");
  });

  test("forged and edited arrivals are ignored and reported, never counted", async () => {
    const { board: b, dir } = board();
    for (const o of [ALICE, BOB]) await b.put(progressEntry(spec(o), o.privateKey));
    // carol's arrival, signed by mallory's key (not in the operator list).
    const forged = progressEntry(spec(CAROL), MALLORY.privateKey);
    const at = entryKey(forged);
    mkdirSync(path.dirname(path.join(dir, at)), { recursive: true });
    writeFileSync(path.join(dir, at), JSON.stringify(forged));
    const lines: string[] = [];
    const out = await waitAtBarrier(b, spec(ALICE), ALICE.privateKey, {
      ...quiet,
      timeoutMs: 200,
      log: (l) => lines.push(l),
    });
    assert.equal(out.ok, false);
    assert.match(out.ok ? "" : out.reason, /carol \(no barrier posted\)/);
    assert.ok(
      lines.some((l) => l.includes(`ignored board entry ${at}: forged`)),
      lines.join("\n"),
    );
  });
});

describe("barrierCommand", () => {
  test("names the barrier, every operator's public key and the payload, never a private key", () => {
    const cmd = barrierCommand(
      "flagday",
      {
        network: "testnet",
        flagDayId: ID,
        sequence: "flag-day",
        operator: "alice",
        operators: OPS,
        board: { directory: "/srv/board" },
        timeoutSeconds: 900,
      },
      "all-quiesced",
      { height: 42 },
      "height",
    );
    assert.match(cmd, /^flagday barrier --stage all-quiesced --network 'testnet' --flag-day [0-9a-f]{64} /);
    for (const o of OPS) assert.ok(cmd.includes(`--operator-key '${o.name}=${o.publicKey}'`));
    assert.match(
      cmd,
      /--board '\{"directory":"\/srv\/board"\}' --payload '\{"height":42\}' --agree-on height --timeout 900$/,
    );
    assert.doesNotMatch(cmd, /PRIVATE KEY|FLAGDAY_OPERATOR_KEY/);
  });
});

describe("flagday barrier on an S3 board (moto on loopback), three operators at once", () => {
  let server: S3Server;
  before(async () => {
    server = await startS3Server();
    await server.createBucket("flagday-board");
  });
  after(async () => {
    await server?.stop();
  });

  /** The command a stage runs, as a subprocess with the operator's key and S3 credentials in its environment. */
  function barrierCli(op: TestOperator, stage: string, payload: object, timeout = 30) {
    const cmd = barrierCommand(
      "flagday",
      {
        network: "testnet",
        flagDayId: ID,
        sequence: "flag-day",
        operator: op.name,
        operators: OPS,
        board: { s3: { bucket: "flagday-board", region: "us-east-1", endpoint: server.endpoint } },
        timeoutSeconds: timeout,
      },
      stage as "all-quiesced",
      payload as never,
      stage === "all-quiesced" ? "height" : undefined,
    ).replace(/^flagday /, "");
    const env = {
      ...process.env,
      PATH: `${path.join(ROOT, "node_modules", ".bin")}:${process.env.PATH}`,
      AWS_ACCESS_KEY_ID: "flagday-test",
      AWS_SECRET_ACCESS_KEY: "flagday-test",
      FLAGDAY_OPERATOR_KEY: op.privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    };
    return new Promise<{ code: number; out: string }>((resolve) => {
      execFile("bash", ["-c", `node ${FLAGDAY_BIN} ${cmd} --interval 0.2`], { env }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
      );
    });
  }

  test("every operator passes once all posted (write-once conditional puts); a re-run resumes", async () => {
    const height = { height: 42, blockHash: "ab".repeat(32) };
    const runs = await Promise.all([ALICE, BOB, CAROL].map((o) => barrierCli(o, "all-quiesced", height)));
    for (const r of runs) {
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /OK all-quiesced: every operator arrived \(alice, bob, carol\)/);
      assert.doesNotMatch(r.out, /PRIVATE KEY/);
    }
    // A re-run finds its own entry (the conditional put is refused) and resumes.
    const again = await barrierCli(ALICE, "all-quiesced", height);
    assert.equal(again.code, 0, again.out);
    assert.match(again.out, /had already arrived at all-quiesced/);

    // all-snapshotted compares no heights: each operator reports its own nodes' snapshot heights.
    const other = await Promise.all([
      barrierCli(ALICE, "all-snapshotted", { heights: { node1: 42 } }),
      barrierCli(BOB, "all-snapshotted", { heights: { node3: 42 } }),
      barrierCli(CAROL, "all-snapshotted", { heights: { node4: 42 } }),
    ]);
    for (const r of other) assert.equal(r.code, 0, r.out);
  });

  test("a missing operator fails the barrier after the timeout, naming it and its last barrier", async () => {
    const r = await barrierCli(ALICE, "all-proven", {}, 2);
    assert.equal(r.code, 1, r.out);
    assert.match(
      r.out,
      /FAIL all-proven: not every operator reached all-proven within 2s: bob \(last at all-snapshotted\), carol \(last at all-snapshotted\)/,
    );
  });
});
