/**
 * Whom a stack waits for at a barrier, in `pulumi up`'s own output: the stack program reads the coordination
 * board while its barrier step runs and logs `stage n of m, <barrier>: ... waiting for ...` (reportBarrierWait),
 * from verified entries only, and stops once the barrier passes. Outside an engine the runtime prints info
 * messages to the console, so the test reads them there.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { BarrierSpec, progressEntry } from "../../components/coordination/barrier";
import { CoordinationBoard } from "../../components/coordination/board";
import { DirectoryBoardBackend } from "../../components/coordination/boardDir";
import { flagDayId } from "../../components/coordination/proposal";
import { reportBarrierWait } from "../../components/progress";
import { ALICE, BOB, CAROL, MALLORY, PROPOSAL } from "./fixtures";

const OPS = [ALICE, BOB, CAROL].map(({ name, publicKey }) => ({ name, publicKey }));
const SPEC: BarrierSpec = {
  network: "testnet",
  flagDayId: flagDayId(PROPOSAL),
  sequence: "flag-day",
  stage: "all-quiesced",
  operator: "alice",
  operators: OPS,
  payload: { height: 42, blockHash: "ab".repeat(32) },
  agreeOn: "height",
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A settable Output: resolves when `resolve` is called. */
function gate(): { output: pulumi.Output<unknown>; resolve: () => void } {
  let resolve!: () => void;
  const output = pulumi.output(new Promise<unknown>((r) => (resolve = () => r(true))));
  return { output, resolve };
}

test("while the barrier step runs: whom it waits for, from verified entries; nothing once it passed", async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), "flagday-wait-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const board = new CoordinationBoard(new DirectoryBoardBackend(dir));
  await board.put(progressEntry(SPEC, ALICE.privateKey));
  await board.put(
    progressEntry({ ...SPEC, operator: "bob", stage: "all-rejecting", payload: {} }, BOB.privateKey),
  );
  // Carol's arrival, signed by someone whose key is not hers: never counted.
  await board.put(progressEntry({ ...SPEC, operator: "carol" }, MALLORY.privateKey)).catch(() => undefined);

  const lines: string[] = [];
  const log = console.log;
  console.log = (...args: unknown[]) => {
    const m = /^info: \[runtime\] (.*)$/s.exec(args.map(String).join(" "));
    if (m) lines.push(m[1]);
    else log(...args);
  };
  try {
    const arrived = gate();
    const passed = gate();
    reportBarrierWait({
      board,
      spec: SPEC,
      prefix: "stage 9 of 20",
      arrived: arrived.output,
      passed: passed.output,
      parent: undefined as unknown as pulumi.Resource,
      everyMs: 30,
      stopAfterMs: 10_000,
    });
    await sleep(150);
    assert.deepEqual(lines, [], "nothing before this stack reaches the barrier");
    arrived.resolve();
    await sleep(200);
    assert.ok(lines.length >= 2, `reports every interval: ${lines.length}`);
    assert.match(
      lines[0],
      /^stage 9 of 20, all-quiesced: 1 of 3 operators arrived \(alice\); waiting for bob \(last at all-rejecting, \d+s ago\), carol \(no barrier posted yet\)$/,
    );
    passed.resolve();
    await sleep(100);
    const after = lines.length;
    await sleep(200);
    assert.equal(lines.length, after, "nothing once the barrier passed");
  } finally {
    console.log = log;
  }
});
