/**
 * Progress lines, as the rehearsal prints them and `flagday progress` beside a plain `pulumi up`: stage n of m,
 * nodes done, time since the first stage, and at a barrier whom it waits for.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import type { BoardEvent } from "../../checks/board";
import type { CoordinationView } from "../../checks/coordination";
import { logFollower, progress, updateEnd } from "../../checks/progress";
import { progressTracker, sequenceOfStages } from "../../rehearsal/progress";
import { FLAG_DAY, ROLLBACK_RESTORE, ROLLBACK_REVERSE, stagesOf } from "../../components/stages";

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

// `flagday progress`: following `pulumi up --event-log <file>` (synthesized logs in the engine's JSON form).
const urn = (name: string) => `urn:pulumi:practice-alice::flagday::flagday:index:LocalCommand::${name}`;
const step = (kind: "pre" | "out" | "failed", name: string, t: number, planning = false): BoardEvent => {
  const event = { metadata: { op: "create", urn: urn(name) }, ...(planning ? { planning } : {}) };
  if (kind === "pre") return { timestamp: t, resourcePreEvent: event };
  if (kind === "out") return { timestamp: t, resOutputsEvent: event };
  return { timestamp: t, resOpFailedEvent: event };
};
const same = (name: string, t: number): BoardEvent => ({
  timestamp: t,
  resourcePreEvent: { metadata: { op: "same", urn: urn(name) } },
});
const summary = (result: string, isPreview = false): BoardEvent => ({
  timestamp: 0,
  summaryEvent: { isPreview, result, durationSeconds: 42 },
});

/** Where alice is on the board: at all-quiesced, bob and carol missing (or only carol). */
function viewWaiting(missing: string[]): CoordinationView {
  const ops = ["alice", "bob", "carol"];
  return {
    network: "net",
    flagDayId: "f".repeat(64),
    sequence: "flag-day",
    operators: ops.map((name, i) => ({ name, nodes: [`node${i + 1}`] })),
    barriers: {
      "all-quiesced": {
        status: {
          stage: "all-quiesced",
          arrived: ops.filter((o) => !missing.includes(o)),
          missing: missing.map((operator) => ({ operator })),
          complete: missing.length === 0,
        },
        arrivedAt: {},
      },
    },
    warnings: [],
  };
}

test("progress follows the update, not its preview; at a barrier it says whom it waits for, once per change", () => {
  const follow = logFollower();
  const preview = [
    { timestamp: 0, preludeEvent: { config: { "flagday:operator": "alice" } } },
    step("pre", "net-u1-node1-quiesce", 1, true),
    step("out", "net-u1-node1-quiesce", 1, true),
    summary("succeeded", true),
    { timestamp: 2, cancelEvent: {} },
  ];
  assert.deepEqual(follow(preview, viewWaiting(["bob", "carol"]), 2000), []);
  assert.equal(updateEnd(preview), undefined, "only the preview ended");

  // The engine starts the log again for the update.
  const update: BoardEvent[] = [
    { timestamp: 10, preludeEvent: { config: { "flagday:operator": "alice" } } },
    same("net-u1-node1-warm-snapshot", 10),
    step("pre", "net-u1-quiesce", 10),
    step("out", "net-u1-quiesce", 14),
    step("pre", "net-u1-all-quiesced", 15),
  ];
  const quiesced = stagesOf("flag-day", true).findIndex((s) => s.name === "all-quiesced") + 1;
  const m = stagesOf("flag-day", true).length;
  assert.deepEqual(follow(update, viewWaiting(["bob", "carol"]), 17_000), [
    `-- stage ${stagesOf("flag-day", true).findIndex((s) => s.name === "quiesce") + 1} of ${m}, quiesce: ` +
      `${stagesOf("flag-day", true).find((s) => s.name === "quiesce")!.runbook} (0.0 s in)`,
    "   quiesce: done (4.0 s in)",
    `-- stage ${quiesced} of ${m}, all-quiesced: ${stagesOf("flag-day", true)[quiesced - 1].runbook} (5.0 s in)`,
    "   all-quiesced: waiting for bob, carol (7.0 s in)",
  ]);
  assert.deepEqual(follow(update, viewWaiting(["bob", "carol"]), 18_000), [], "nothing new: nothing printed");
  assert.deepEqual(follow(update, viewWaiting(["carol"]), 20_000), [
    "   all-quiesced: waiting for carol (10.0 s in)",
  ]);
  const done = [
    ...update,
    step("out", "net-u1-all-quiesced", 21),
    step("pre", "net-u1-node1-stop", 22),
    step("out", "net-u1-node1-stop", 23),
  ];
  const after = follow(done, viewWaiting([]), 23_000);
  assert.equal(after[0], "   all-quiesced: done (11.0 s in)");
  assert.match(after[1], /^-- stage \d+ of \d+, stop: /);
  assert.equal(
    after[2],
    "   stop: 1 of 1 node(s) done, node1 last (13.0 s in)",
    "alice runs one node (the board)",
  );
  assert.equal(updateEnd(done), undefined, "still running");
  assert.deepEqual(updateEnd([...done, summary("succeeded"), { timestamp: 30, cancelEvent: {} }]), {
    result: "succeeded",
    seconds: 42,
  });
  assert.deepEqual(updateEnd([...done, { timestamp: 30, cancelEvent: {} }]), { result: "cancelled" });
});

test("flagday progress on a log file: prints where the update is and exits with its result", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "flagday-progress-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, "events.jsonl");
  const write = (events: BoardEvent[]) =>
    fs.writeFileSync(file, events.map((e) => JSON.stringify(e)).join("\n") + "\n");
  const ok = [
    step("pre", "net-u1-node1-warm-snapshot", 100),
    step("pre", "net-u1-node2-warm-snapshot", 100),
    step("out", "net-u1-node2-warm-snapshot", 101),
    step("out", "net-u1-node1-warm-snapshot", 102),
    summary("succeeded"),
  ];
  write(ok);
  const lines: string[] = [];
  assert.equal(await progress({ events: [file], intervalMs: 10 }, (l) => lines.push(l)), 0);
  assert.deepEqual(lines, [
    `-- stage 1 of ${FLAG_DAY.length}, warm-snapshot: ${FLAG_DAY[0].runbook} (0.0 s in)`,
    "   warm-snapshot: 1 of 2 node(s) done, node2 last (1.0 s in)",
    "   warm-snapshot: 2 of 2 node(s) done, node1 last (2.0 s in)",
    "-- the update ended: succeeded (42 s)",
  ]);

  // A failed update, whose end arrives while progress follows it.
  write(ok.slice(0, 2));
  const seen: string[] = [];
  const running = progress({ events: [file], intervalMs: 10 }, (l) => seen.push(l));
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(seen.length, 1, "the first stage, then it waits for more");
  write([...ok.slice(0, 2), step("failed", "net-u1-node1-warm-snapshot", 103), summary("failed")]);
  assert.equal(await running, 1);
  assert.deepEqual(seen.slice(1), [
    "-- warm-snapshot FAILED on node1 (3.0 s in)",
    "-- the update ended: failed (42 s)",
  ]);
  await assert.rejects(
    progress({}, () => {}),
    /--events <file> is required/,
  );
});
