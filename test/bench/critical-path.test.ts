// The bench's critical path over synthetic timed steps: the longest chain of the window's steps along the flag
// day's dependencies, with the seal a branch after each node's snapshot; never a sum of parallel branches.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { EngineEvent } from "@pulumi/pulumi/automation";
import { criticalPathMs, TimedStep, timedSteps, windowWaits } from "../../bench/criticalPath";
import { StageName } from "../../components/stages";

const step = (stage: StageName, start: number, end: number, node?: string): TimedStep => ({
  stage,
  ...(node ? { node } : {}),
  start,
  end,
});

/** A two-node flag day window from 0 to `acceptEnd`, with each node's seal as given. */
function window(seal1: [number, number], seal2: [number, number], acceptStart: number): TimedStep[] {
  return [
    step("warm-snapshot", -50, -3, "node1"),
    step("pull", -3, -2, "node1"),
    step("preflight", -2, -1, "node1"),
    step("ingress-reject", 0, 1),
    step("quiesce", 1, 3),
    step("stop", 3, 4, "node1"),
    step("stop", 3, 5, "node2"),
    step("snapshot", 5, 6, "node1"),
    step("snapshot", 5, 6.5, "node2"),
    step("migrate", 6, 7, "node1"),
    step("migrate", 6.5, 7, "node2"),
    step("start", 7, 9, "node1"),
    step("start", 7, 8, "node2"),
    step("attest", 9, 10),
    step("txtest", 10, 11),
    step("seal", ...seal1, "node1"),
    step("seal", ...seal2, "node2"),
    step("ingress-accept", acceptStart, acceptStart + 0.5),
    step("live", acceptStart + 0.5, acceptStart + 30),
  ];
}

test("a seal longer than the rest of the window is the critical path: its snapshot's chain, then accept", () => {
  // reject 1 + quiesce 2 + slowest stop 2 + node1's snapshot 1 + its seal 14 + accept 0.5
  assert.equal(criticalPathMs(window([6, 20], [6.5, 7], 20)), 20.5);
});

test("a short seal runs beside migrate, start and the checks: not added to them", () => {
  // reject 1 + quiesce 2 + stop 2 + snapshot 1.5 (node2) + migrate 0.5 + start 2 (node1, after every
  // migration) + attest 1 + txtest 1 + accept 0.5; the seals (3 s and 0.5 s) are parallel branches.
  assert.equal(criticalPathMs(window([6, 9], [6.5, 7], 11)), 11.5);
});

test("only the window counts: prepare, pre-flight and live are left out, a step is clipped to the window", () => {
  const steps = window([6, 9], [6.5, 7], 11);
  const inWindow = steps.filter((s) => !["warm-snapshot", "pull", "preflight", "live"].includes(s.stage));
  assert.equal(criticalPathMs(inWindow), criticalPathMs(steps));
  // A step measured as ending after the ingress reopened counts only up to the window's end (11.5).
  steps.push(step("seal", 6, 40, "node3"));
  assert.equal(criticalPathMs(steps), 11.5);
  assert.throws(() => criticalPathMs(steps.filter((s) => s.stage !== "ingress-accept")), /no ingress window/);
});

test("the steps of the flag day's transition, its servers with their replacement, from the engine's events", () => {
  const urn = (name: string) => `urn:pulumi:s::flagday::flagday:x::${name}`;
  const ev = (kind: "pre" | "out", name: string, op: string, at: number) => {
    const metadata = { op, urn: urn(name), type: "x" };
    const event = (kind === "pre"
      ? { resourcePreEvent: { metadata } }
      : { resOutputsEvent: { metadata } }) as unknown as EngineEvent;
    return { event, at };
  };
  const timed = [
    ev("pre", "rehearsal-u2-ingress-reject", "create", 100),
    ev("out", "rehearsal-u2-ingress-reject", "create", 110),
    ev("pre", "rehearsal-u1-node1-stop", "delete", 120), // the previous transition's steps: not this one's
    ev("out", "rehearsal-u1-node1-stop", "delete", 121),
    ev("pre", "rehearsal-node1-server", "delete-replaced", 130),
    ev("out", "rehearsal-node1-server", "delete-replaced", 135),
    ev("pre", "rehearsal-node1-server", "create-replacement", 135),
    ev("out", "rehearsal-node1-server", "create-replacement", 150),
    ev("pre", "rehearsal-node1-healthy", "create", 150), // no stage
    ev("pre", "rehearsal-u2-node1-seal", "same", 150), // nothing ran
    ev("pre", "rehearsal-u2-ingress-accept", "create", 160),
    ev("out", "rehearsal-u2-ingress-accept", "create", 170),
  ];
  assert.deepEqual(timedSteps(timed, "rehearsal"), [
    { stage: "ingress-reject", start: 100, end: 110 },
    { stage: "start", node: "node1", start: 130, end: 150 },
    { stage: "ingress-accept", start: 160, end: 170 },
  ]);
});

test("where the window's time goes: each stage's wait after what it depends on, and its run, min and max", () => {
  const waits = windowWaits(window([6, 8], [6.5, 7], 11.5));
  const of = (stage: StageName) => waits.find((w) => w.stage === stage);
  assert.deepEqual(
    waits.map((w) => w.stage),
    [
      "ingress-reject",
      "quiesce",
      "stop",
      "snapshot",
      "migrate",
      "start",
      "attest",
      "txtest",
      "seal",
      "ingress-accept",
    ],
    "the window's stages only, in sequence order",
  );
  assert.deepEqual(of("ingress-reject"), {
    stage: "ingress-reject",
    steps: 1,
    waitMs: [0, 0],
    runMs: [1, 1],
  });
  // Each node's migrate waits for its own snapshot (node2's ends at 6.5, its migrate starts then: no wait).
  assert.deepEqual(of("migrate"), { stage: "migrate", steps: 2, waitMs: [0, 0], runMs: [0.5, 1] });
  // Every start waits for every migrate (the last ends at 7).
  assert.deepEqual(of("start")?.waitMs, [0, 0]);
  // The accept waits for the txtest (ends at 11) and for every seal (the last ends at 8): 0.5 after.
  assert.deepEqual(of("ingress-accept")?.waitMs, [0.5, 0.5]);
  assert.deepEqual(of("seal"), { stage: "seal", steps: 2, waitMs: [0, 0], runMs: [0.5, 2] });
});

test("a step that starts late after its predecessors shows the gap", () => {
  const steps = window([6, 8], [6.5, 7], 11.5).map((s) =>
    s.stage === "attest" ? { ...s, start: s.start + 0.25 } : s,
  );
  assert.deepEqual(windowWaits(steps).find((w) => w.stage === "attest")?.waitMs, [0.25, 0.25]);
});
