/** The rehearsal's progress lines: stage n of m, nodes done, time since the first stage. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { progressTracker, sequenceOfStages } from "../../rehearsal/progress";
import { FLAG_DAY, ROLLBACK_RESTORE, ROLLBACK_REVERSE } from "../../components/stages";

test("the sequence is the first that holds every stage seen so far", () => {
  assert.equal(sequenceOfStages(["warm-snapshot", "ingress-reject"]), "flag-day");
  assert.equal(sequenceOfStages(["rollback-guard", "stop"]), "rollback-restore", "ambiguous: the first");
  assert.equal(
    sequenceOfStages(["preflight", "stop"]),
    "flag-day",
    "a reverse rollback looks like a flag day...",
  );
  assert.equal(
    sequenceOfStages(["preflight", "stop", "reverse-migrate"]),
    "rollback-reverse",
    "...until it is not",
  );
  assert.equal(sequenceOfStages(["warm-snapshot", "restore"]), undefined);
});

test("a flag day's lines: each stage once with its number, node stages counted, failures named", () => {
  const track = progressTracker({ network: "rehearsal", nodes: 3, coordinated: false });
  const lines = [
    track({ name: "rehearsal-u1-node1-warm-snapshot", phase: "start", at: 1000 }),
    track({ name: "rehearsal-u1-node2-warm-snapshot", phase: "start", at: 1100 }),
    track({ name: "rehearsal-u1-node2-warm-snapshot", phase: "done", at: 2000 }),
    track({ name: "rehearsal-u1-ingress-reject", phase: "start", at: 5000 }),
    track({ name: "rehearsal-u1-ingress-reject", phase: "done", at: 5500 }),
    track({ name: "rehearsal-u1-node3-migrate", phase: "start", at: 9000 }),
    track({ name: "rehearsal-u1-node3-migrate", phase: "failed", at: 9500 }),
    track({ name: "rehearsal-node1-data", phase: "start", at: 9600 }),
  ];
  const reject = FLAG_DAY.findIndex((s) => s.name === "ingress-reject") + 1;
  const migrate = FLAG_DAY.findIndex((s) => s.name === "migrate") + 1;
  assert.deepEqual(lines, [
    `-- stage 1 of ${FLAG_DAY.length}, warm-snapshot: ${FLAG_DAY[0].runbook} (0.0 s in)`,
    undefined,
    "   warm-snapshot: 1 of 3 node(s) done, node2 last (1.0 s in)",
    `-- stage ${reject} of ${FLAG_DAY.length}, ingress-reject: ${FLAG_DAY[reject - 1].runbook} (4.0 s in)`,
    "   ingress-reject: done (4.5 s in)",
    `-- stage ${migrate} of ${FLAG_DAY.length}, migrate: ${FLAG_DAY[migrate - 1].runbook} (8.0 s in)`,
    "-- migrate FAILED on node3 (8.5 s in)",
    undefined,
  ]);
});

test("a rollback counts its own stages; with several operators the barriers count too", () => {
  const track = progressTracker({ network: "net", nodes: 1, coordinated: false });
  assert.match(
    track({ name: "net-u2-rollback-guard", phase: "start", at: 0 }) ?? "",
    new RegExp(`^-- stage 1 of ${ROLLBACK_RESTORE.length}, rollback-guard`),
  );
  const reverse = progressTracker({ network: "net", nodes: 1, coordinated: false });
  reverse({ name: "net-u2-preflight", phase: "start", at: 0 });
  assert.match(
    reverse({ name: "net-u2-node1-reverse-migrate", phase: "start", at: 0 }) ?? "",
    new RegExp(`^-- stage 6 of ${ROLLBACK_REVERSE.length}, reverse-migrate`),
  );
  const coordinated = progressTracker({ network: "net", nodes: 1, coordinated: true });
  const line = coordinated({ name: "net-u1-all-ready", phase: "start", at: 0 }) ?? "";
  assert.match(line, /^-- stage \d+ of (\d+), all-ready/);
  assert.ok(
    Number(/of (\d+)/.exec(line)![1]) > FLAG_DAY.length,
    "barriers are stages of the coordinated day",
  );
});
