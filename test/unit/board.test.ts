/** The live board's reading of an engine event log: cells, elapsed times, failures with reasons, the clock. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { BoardEvent, boardModel, boardText } from "../../checks/board";
import { FLAG_DAY } from "../../components/stages";

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
