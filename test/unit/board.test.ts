/**
 * The live board's reading of engine event logs and of the coordination board: cells, elapsed times, failures
 * with reasons, whom a barrier waits for (verified entries only), the clock, and the page's HTML.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import { BoardEvent, boardHtml, boardModel, boardText, operatorsBoardModel } from "../../checks/board";
import { coordinationView, readCoordination, waitingFor } from "../../checks/coordination";
import { agreeEntry, CoordinationBoard, entryKey, signEntry } from "../../components/coordination/board";
import { DirectoryBoardBackend } from "../../components/coordination/boardDir";
import { flagDayId, flagDayProposal, networkOperators } from "../../components/coordination/proposal";
import { FLAG_DAY } from "../../components/stages";
import { ALICE, BOB, CAROL, input, MALLORY, TestOperator } from "../coordination/fixtures";

const urn = (name: string) => `urn:pulumi:practice::flagday::flagday:index:LocalCommand::${name}`;
const pre = (name: string, t: number): BoardEvent => ({
  timestamp: t,
  resourcePreEvent: { metadata: { op: "create", urn: urn(name) } },
});
const out = (name: string, t: number): BoardEvent => ({
  timestamp: t,
  resOutputsEvent: { metadata: { op: "create", urn: urn(name) } },
});
const fail = (name: string, t: number, why: string): BoardEvent[] => [
  {
    timestamp: t,
    diagnosticEvent: { urn: urn(name), message: `command failed (exit 3)\n${why}\n`, severity: "error" },
  },
  { timestamp: t, resOpFailedEvent: { metadata: { op: "create", urn: urn(name) } } },
];

test("done, running with its elapsed time, the ingress closed and the downtime clock running", () => {
  const events = [
    pre("rehearsal-u1-node1-warm-snapshot", 100),
    out("rehearsal-u1-node1-warm-snapshot", 102),
    pre("rehearsal-u1-ingress-reject", 103),
    out("rehearsal-u1-ingress-reject", 103),
    pre("rehearsal-u1-node1-stop", 104),
    pre("rehearsal-u1-node2-stop", 104),
    out("rehearsal-u1-node2-stop", 105),
  ];
  const b = boardModel(events, 110);
  assert.equal(b.network, "rehearsal");
  assert.deepEqual(
    b.stages,
    FLAG_DAY.map((s) => s.name),
  );
  assert.deepEqual(b.lanes, ["network", "node1", "node2"]);
  assert.deepEqual(b.cells.node1["warm-snapshot"], { state: "done", seconds: 2 });
  assert.deepEqual(b.cells.node1.stop, { state: "running", seconds: 6 });
  assert.deepEqual(b.cells.node2.stop, { state: "done", seconds: 1 });
  assert.equal(b.ingress, "closed");
  assert.equal(b.downtimeSeconds, 7);
  const text = boardText(b, { node1: "height 12" });
  assert.match(text, /^flag day on rehearsal: ingress closed, downtime 7 s/);
  assert.match(text, /\nnode1 +done +[^\n]*run 6s[^\n]*height 12/);
});

test("a failure: the cell says why, the clocks stop; reopening stops the downtime clock", () => {
  const events = [
    pre("rehearsal-u1-ingress-reject", 0),
    out("rehearsal-u1-ingress-reject", 1),
    pre("rehearsal-u1-node2-migrate", 2),
    ...fail("rehearsal-u1-node2-migrate", 5, "flagday rehearsal fault: node2 migration refused"),
  ];
  const b = boardModel(events, 60);
  assert.equal(b.cells.node2.migrate?.state, "failed");
  assert.match(b.cells.node2.migrate?.detail ?? "", /node2 migration refused/);
  assert.equal(b.downtimeSeconds, 5, "frozen at the failure");
  assert.match(boardText(b), /FAILED node2 migrate: .*node2 migration refused/);
  const reopened = boardModel(
    [
      ...events.slice(0, 3),
      out("rehearsal-u1-node2-migrate", 3),
      pre("rehearsal-u1-ingress-accept", 9),
      out("rehearsal-u1-ingress-accept", 10),
    ],
    60,
  );
  assert.equal(reopened.ingress, "open");
  assert.equal(reopened.downtimeSeconds, 10);
});

test("a barrier waits, counted as waiting; an empty log shows nothing yet", () => {
  const b = boardModel([pre("net-u1-all-ready", 0)], 4);
  assert.deepEqual(b.cells.network["all-ready"], { state: "waiting", seconds: 4 });
  assert.ok(b.stages.includes("all-ready"), "the coordinated sequence, barriers included");
  const empty = boardModel([], 0);
  assert.equal(empty.network, undefined);
  assert.equal(empty.ingress, "unknown");
});

// Several operators: each one's event log, and the coordination board's verified entries (keys made here).
const THREE = flagDayProposal(
  input({
    operators: {
      operators: [ALICE, BOB, CAROL].map(({ name, publicKey }) => ({ name, publicKey })),
      nodeOperators: { node1: "alice", node2: "alice", node3: "bob", node4: "carol", node5: "carol" },
    },
  }),
);
const THREE_ID = flagDayId(THREE);
const THREE_OPS = networkOperators({
  operators: [ALICE, BOB, CAROL].map(({ name, publicKey }) => ({ name, publicKey })),
  nodes: Object.entries(THREE.operators).flatMap(([op, o]) =>
    o.nodes.map((name) => ({ name, operator: op })),
  ),
})!;
const arrival = (op: TestOperator, stage: string, signedAt: string, key = op.privateKey) =>
  signEntry(
    {
      network: "testnet",
      operator: op.name,
      kind: "progress",
      flagDayId: THREE_ID,
      stage,
      payload: {},
      signedAt,
    },
    key,
  );
const prelude = (operator: string): BoardEvent => ({
  timestamp: 0,
  preludeEvent: { config: { "flagday:operator": operator } },
});
const T0 = Date.parse("2026-12-01T14:00:00Z") / 1000;
const at = (s: number) => new Date((T0 + s) * 1000).toISOString();

const boardDirs: string[] = [];
after(() => boardDirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
/** A directory board: every operator signed, all three passed all-ready, alice reached all-rejecting. */
async function boardWithForgery() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "flagday-board-unit-"));
  boardDirs.push(dir);
  const board = new CoordinationBoard(new DirectoryBoardBackend(dir));
  for (const op of [ALICE, BOB, CAROL]) {
    await board.put(agreeEntry(THREE, op.name, op.privateKey));
    await board.put(arrival(op, "all-ready", at(10)));
  }
  await board.put(arrival(ALICE, "all-rejecting", at(20)));
  // Mallory, who holds no operator's key, writes bob's arrival at all-rejecting where bob's would be.
  const forged = arrival(BOB, "all-rejecting", at(21), MALLORY.privateKey);
  await board.backend.create(entryKey(forged), JSON.stringify(forged));
  return { board, operators: THREE_OPS };
}

test("the coordination board: a barrier every operator reached is done; a forged arrival is not counted", async () => {
  const view = await readCoordination(await boardWithForgery(), "testnet");
  assert.equal(view.flagDayId, THREE_ID, "the newest flag day on the board");
  assert.equal(view.sequence, "flag-day", "from the proposal the operators signed");
  assert.deepEqual(view.operators, [
    { name: "alice", nodes: ["node1", "node2"] },
    { name: "bob", nodes: ["node3"] },
    { name: "carol", nodes: ["node4", "node5"] },
  ]);
  assert.equal(view.barriers["all-ready"]?.status.complete, true);
  assert.deepEqual(view.barriers["all-rejecting"]?.status.arrived, ["alice"]);
  assert.deepEqual(waitingFor(view, "all-rejecting", "alice"), ["bob", "carol"]);
  assert.equal(view.warnings.length, 1);
  assert.match(
    view.warnings[0],
    /^ignored board entry testnet\/bob\/[0-9a-f]{64}\/progress-all-rejecting: forged/,
  );
});

test("two operators' event logs and the board: a lane per operator and node, barriers say whom they wait for", async () => {
  const view = await readCoordination(await boardWithForgery(), "testnet");
  const net = (s: string) => `testnet-u1-${s}`;
  const alice = [
    prelude("alice"),
    pre(net("node1-warm-snapshot"), T0),
    out(net("node1-warm-snapshot"), T0 + 2),
    pre(net("node2-warm-snapshot"), T0),
    out(net("node2-warm-snapshot"), T0 + 3),
    pre(net("all-ready"), T0 + 5),
    out(net("all-ready"), T0 + 11),
    pre(net("ingress-reject"), T0 + 12),
    out(net("ingress-reject"), T0 + 13),
    pre(net("all-rejecting"), T0 + 14),
  ];
  const bob = [
    prelude("bob"),
    pre(net("node3-warm-snapshot"), T0),
    out(net("node3-warm-snapshot"), T0 + 4),
    pre(net("all-ready"), T0 + 8),
    out(net("all-ready"), T0 + 11),
    pre(net("ingress-reject"), T0 + 16),
  ];
  const b = operatorsBoardModel([alice, bob], view, T0 + 30);
  assert.deepEqual(b.lanes, [
    "alice",
    "alice/node1",
    "alice/node2",
    "bob",
    "bob/node3",
    "carol",
    "carol/node4",
    "carol/node5",
  ]);
  assert.ok(b.stages.includes("all-rejecting"), "the coordinated sequence");
  assert.deepEqual(b.cells["alice/node2"]["warm-snapshot"], { state: "done", seconds: 3 });
  assert.deepEqual(b.cells["bob/node3"]["warm-snapshot"], { state: "done", seconds: 4 });
  assert.equal(b.cells["carol/node4"], undefined, "carol's log is not read: its nodes' rows are empty");
  assert.deepEqual(b.cells.alice["all-rejecting"], {
    state: "waiting",
    seconds: 16,
    detail: "waiting for bob, carol",
  });
  assert.equal(b.cells.bob["all-rejecting"], undefined, "bob's forged arrival does not count");
  assert.equal(
    b.cells.carol["all-ready"]?.state,
    "done",
    "every operator reached it: done, from the board alone",
  );
  assert.deepEqual(b.cells.bob["ingress-reject"], { state: "running", seconds: 14 });
  assert.equal(b.ingress, "closed");
  assert.deepEqual(b.operatorIngress, { alice: "closed", bob: "closed" });
  assert.equal(b.downtimeSeconds, 18, "since the first operator closed its ingress");

  const text = boardText(b, { node3: "height 40" });
  assert.match(
    text,
    /^flag day on testnet \([0-9a-f]{12}\): ingress closed \(alice closed, bob closed\), downtime 18 s/,
  );
  assert.match(text, /\nbob\/node3 +done +height 40\n/);
  assert.match(text, /\nWAITING alice all-rejecting: waiting for bob, carol\n/);
  assert.match(text, /\nWARNING ignored board entry testnet\/bob\/[0-9a-f]+\/progress-all-rejecting: forged/);

  const html = boardHtml(b, { node3: "height 40" });
  assert.match(
    html.table,
    /<td class="waiting" data-lane="alice" data-stage="all-rejecting" title="waiting for bob, carol">waiting for bob, carol 16 s<\/td>/,
  );
  assert.match(html.table, /<th>bob\/node3<\/th>.*<td>height 40<\/td><\/tr>/);
  assert.match(html.warnings, /^<li>WARNING ignored board entry .*forged/);
  assert.equal(html.title, `flag day on testnet (${THREE_ID.slice(0, 12)})`);
});

test("a barrier cell: an abort fails it; without a board several logs still make lanes per operator", () => {
  const entries = [ALICE, BOB, CAROL].map((op) => agreeEntry(THREE, op.name, op.privateKey));
  entries.push(arrival(ALICE, "all-quiesced", at(5)));
  entries.push(
    signEntry(
      {
        network: "testnet",
        operator: "carol",
        kind: "abort",
        flagDayId: THREE_ID,
        payload: { reason: "node4 will not quiesce" },
        signedAt: at(9),
      },
      CAROL.privateKey,
    ),
  );
  const view = coordinationView({ entries, rejected: [] }, "testnet", THREE_OPS);
  const b = operatorsBoardModel([], view, T0 + 10);
  assert.deepEqual(b.cells.alice["all-quiesced"], {
    state: "failed",
    seconds: 5,
    detail: "operator carol aborted: node4 will not quiesce",
  });
  assert.match(boardText(b), /\nFAILED alice all-quiesced: operator carol aborted: node4 will not quiesce/);

  const plain = operatorsBoardModel(
    [
      [prelude("alice"), pre("testnet-u1-node1-stop", 0)],
      [prelude("bob"), pre("testnet-u1-node3-stop", 0)],
    ],
    undefined,
    1,
  );
  assert.deepEqual(plain.lanes, ["alice", "alice/node1", "bob", "bob/node3"]);
  assert.equal(plain.cells["bob/node3"].stop?.state, "running");
});

test("the single-stack page gets the same cells as HTML: done, running with seconds, failures with reasons", () => {
  const events = [
    pre("rehearsal-u1-ingress-reject", 0),
    out("rehearsal-u1-ingress-reject", 1),
    pre("rehearsal-u1-node1-stop", 2),
    pre("rehearsal-u1-node2-migrate", 2),
    ...fail("rehearsal-u1-node2-migrate", 5, "practice fault: node2 <migration> refused"),
  ];
  const html = boardHtml(boardModel(events, 9), { node1: "not answering" });
  assert.match(html.table, /data-lane="network" data-stage="ingress-reject" title="">done<\/td>/);
  assert.match(html.table, /<th>node1<\/th>.*>running 3 s<\/td>.*<td>not answering<\/td>/);
  assert.match(html.failures, /^<li>FAILED node2 migrate: .*node2 &lt;migration&gt; refused<\/li>$/);
  assert.equal(html.warnings, "");
});
