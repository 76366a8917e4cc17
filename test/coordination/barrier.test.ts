/**
 * The cross-operator barriers as plain functions, and the waiting loop against a real directory board: who
 * arrived, where the missing operators are, an abort fails every waiter at once, reports that disagree on the
 * height fail, forged entries never count, and a re-run resumes the wait with the entry it already posted.
 */
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, test } from "node:test";
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

function board(): { board: CoordinationBoard; dir: string } {
  const dir = mkdtempSync(path.join(tmpdir(), "flagday-barrier-"));
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
    const later = (op: TestOperator, ms: number) =>
      new Promise<void>((r) =>
        setTimeout(() => void b.put(progressEntry(spec(op), op.privateKey)).then(() => r()), ms),
      );
    const [out] = await Promise.all([
      waitAtBarrier(b, spec(ALICE), ALICE.privateKey, {
        ...quiet,
        timeoutMs: 10_000,
        log: (l) => lines.push(l),
      }),
      later(BOB, 100),
      later(CAROL, 250),
    ]);
    assert.equal(out.ok, true);
    assert.ok(out.waitedMs >= 200, `waited ${out.waitedMs} ms`);
    assert.ok(lines.some((l) => /alice arrived at all-quiesced \(posted testnet\/alice\//.test(l)));
    assert.ok(
      lines.some((l) => /waiting for .*carol/.test(l)),
      lines.join("\n"),
    );
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
