import { stageNamesOf } from "../../components/orchestrate";
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseHeight, recordAfter } from "../../components/consensusNetwork";
import type { MaintenanceWindow } from "../../components/gates";
import { historyEntry, planUpgrade, transitionId, type Plan, type Transition } from "../../components/plan";
import { deployedOn, pastEntries, V1, V2 } from "./fixtures";

const transitionOf = (plan: Plan): Transition => {
  assert.equal(plan.kind, "transition");
  return (plan as Extract<Plan, { kind: "transition" }>).transition;
};

const W: MaintenanceWindow = {
  start: "2026-12-01T14:00",
  end: "2026-12-01T18:00",
  timeZone: "Europe/Zurich",
};
const SNAPS = { node1: { id: "snap-a", height: 120 }, node2: { id: "snap-b", height: 120 } };

describe("parseHeight", () => {
  test("reads height=<n> from the quiesce output", () => {
    assert.equal(parseHeight("height=42"), 42);
    assert.equal(parseHeight("quiet: 3 nodes\nheight=1234\n"), 1234);
    assert.equal(parseHeight("height=7 height=9"), 7);
    assert.equal(parseHeight("height=0"), 0);
  });

  test("undefined when there is none", () => {
    assert.equal(parseHeight(""), undefined);
    assert.equal(parseHeight("height="), undefined);
    assert.equal(parseHeight("height=abc"), undefined);
    assert.equal(parseHeight("blockheight=5"), undefined);
  });
});

describe("recordAfter", () => {
  test("initial: the release and an empty history, no last transition", () => {
    assert.deepEqual(recordAfter(V1, undefined, { kind: "initial" }, {}), { release: V1, history: [] });
  });

  test("steady (a non-consensus change): the new release, the same history and last transition", () => {
    const fd = transitionOf(planUpgrade(V2, deployedOn(V1)));
    const deployed = deployedOn(V2, [...pastEntries(1), historyEntry(fd, SNAPS)], fd);
    const target = { ...V2, image: "mobilecoin/node_hw:v6.0.0-test-patched" };
    const plan = planUpgrade(target, deployed);
    assert.equal(plan.kind, "steady");
    assert.deepEqual(recordAfter(target, deployed, plan, {}, W), {
      release: target,
      history: deployed.history,
      lastTransition: fd,
    });
    const none = recordAfter(V1, deployedOn(V1), planUpgrade(V1, deployedOn(V1)), {});
    assert.deepEqual(none, { release: V1, history: [] });
    assert.equal("lastTransition" in none, false);
  });

  test("a flag day appends its entry with the window in its zone", () => {
    const deployed = deployedOn(V1, pastEntries(2));
    const plan = planUpgrade(V2, deployed);
    const t = transitionOf(plan);
    const r = recordAfter(V2, deployed, plan, SNAPS, W);
    assert.equal(r.release, V2);
    // The transition, with the stages it ran (a steady update registers exactly those again).
    assert.deepEqual(r.lastTransition, { ...t, stages: stageNamesOf(t, false) });
    assert.ok(r.lastTransition?.stages?.includes("seal"));
    assert.equal(r.history.length, 3);
    assert.deepEqual(r.history.slice(0, 2), deployed.history);
    assert.deepEqual(r.history[2], {
      ...historyEntry(t, SNAPS),
      window: { start: "2026-12-01T14:00 Europe/Zurich", end: "2026-12-01T18:00 Europe/Zurich" },
    });
    assert.equal(r.history[2].outcome, "completed");
    assert.equal(deployed.history.length, 2, "the deployed history is not mutated");
  });

  test("no window: no window key", () => {
    const plan = planUpgrade(V2, deployedOn(V1));
    const r = recordAfter(V2, deployedOn(V1), plan, SNAPS);
    assert.equal("window" in r.history[0], false);
  });

  test("a rollback of a completed flag day adds only its own entry", () => {
    const fd = transitionOf(planUpgrade(V2, deployedOn(V1)));
    const deployed = deployedOn(V2, [historyEntry(fd, SNAPS)], fd);
    const plan = planUpgrade(V1, deployed);
    const r = recordAfter(V1, deployed, plan, SNAPS);
    assert.deepEqual(
      r.history.map((h) => [h.id, h.sequence, h.outcome, h.undoes]),
      [
        [fd.id, "flag-day", "completed", undefined],
        [transitionId(2, "rollback", V2, V1), "rollback-restore", "completed", fd.id],
      ],
    );
    assert.equal(r.release, V1);
  });

  test("an abort records the failed flag day as aborted (same id it had), then the rollback", () => {
    const deployed = deployedOn(V1, pastEntries(1));
    const failedId = transitionOf(planUpgrade(V2, deployed)).id;
    const plan = planUpgrade(V1, deployed, { abort: V2 });
    const rb = transitionOf(plan);
    const r = recordAfter(V1, deployed, plan, SNAPS, W);
    assert.equal(r.history.length, 3);
    assert.deepEqual(r.history[1], {
      id: failedId,
      sequence: "flag-day",
      from: `v5.2.3-${"a1".repeat(4)}`,
      to: `v6.0.0-${"b2".repeat(4)}`,
      changed: ["version", "mrenclave", "enclaveUri", "enclaveSha256", "blockVersion"],
      snapshots: SNAPS,
      outcome: "aborted",
    });
    assert.deepEqual(r.history[2], {
      ...historyEntry(rb, SNAPS),
      window: { start: "2026-12-01T14:00 Europe/Zurich", end: "2026-12-01T18:00 Europe/Zurich" },
    });
    assert.equal(r.history[2].undoes, failedId);
    assert.deepEqual(r.lastTransition, { ...rb, stages: stageNamesOf(rb, false) });
    assert.equal(r.release, V1);

    // The retry after the abort is a new flag day with fresh steps: u4, not the aborted u2.
    const retry = transitionOf(planUpgrade(V2, r));
    assert.equal(retry.id, transitionId(4, "upgrade", V1, V2));
    assert.notEqual(retry.id, failedId);
  });
});
