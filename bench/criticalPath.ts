/**
 * The critical path of a flag day's window, from the steps' measured start and end times: the longest chain of
 * in-window steps along the sequence's own dependencies (components/stages.ts), not a sum of parallel branches.
 * A network or every-node stage waits for every step of the stage before it and for every branch (`after`,
 * the seal) listed since; a same-node stage waits for its own node's; a branch waits for its `after` stage on
 * its own node. Only the window counts: stages from ingress-reject to ingress-accept, each step clipped to
 * [ingress-reject's start, ingress-accept's end]. Plain functions: tested without the engine.
 */
import type { EngineEvent } from "@pulumi/pulumi/automation";
import { parseStepName, stageOfStep } from "../components/names";
import { FLAG_DAY, Stage, StageName } from "../components/stages";
import { stepNameOf } from "../rehearsal/run";

export interface TimedStep {
  readonly stage: StageName;
  /** Absent on a network stage. */
  readonly node?: string;
  /** Milliseconds, on any one clock. */
  readonly start: number;
  readonly end: number;
}

const isBranch = (s: Stage) => s.scope === "node" && s.after !== undefined;
const joinsAll = (s: Stage) => s.scope !== "node" || s.waitFor === "every-node";

/** What stage `i` of `stages` waits for: earlier stages, each on every node or only on the step's own. */
function predecessors(stages: readonly Stage[], i: number): { stage: StageName; sameNode: boolean }[] {
  const s = stages[i];
  if (s.scope === "node" && s.after !== undefined) return [{ stage: s.after, sameNode: true }];
  let prev = i - 1;
  while (prev >= 0 && isBranch(stages[prev])) prev--;
  if (prev < 0) return [];
  const sameNode = !joinsAll(s) && stages[prev].scope === "node";
  const out = [{ stage: stages[prev].name, sameNode }];
  if (joinsAll(s)) {
    // The branches listed since the last stage that joined every node (they run beside the stages between).
    for (let j = i - 1; j >= 0 && !(joinsAll(stages[j]) && j < prev); j--) {
      if (isBranch(stages[j])) out.push({ stage: stages[j].name, sameNode: false });
    }
  }
  return out;
}

/** The window's stages, ingress-reject to ingress-accept, of `sequence`; the first and last step times. */
function windowOf(steps: readonly TimedStep[], sequence: readonly Stage[]) {
  const names = sequence.map((s) => s.name);
  const first = names.indexOf("ingress-reject");
  const last = names.indexOf("ingress-accept");
  const rejects = steps.filter((s) => s.stage === "ingress-reject");
  const accepts = steps.filter((s) => s.stage === "ingress-accept");
  if (first < 0 || last < first || !rejects.length || !accepts.length) {
    throw new Error("critical path: no ingress window (ingress-reject .. ingress-accept) in these steps");
  }
  return {
    stages: sequence.slice(first, last + 1),
    from: Math.min(...rejects.map((s) => s.start)),
    to: Math.max(...accepts.map((s) => s.end)),
    accepts,
  };
}

/** The steps of `steps` that step `step` of stage `window[i]` waits for. */
function waitedFor(window: readonly Stage[], i: number, step: TimedStep, steps: readonly TimedStep[]) {
  const preds = predecessors(window, i);
  return steps.filter((q) => preds.some((p) => q.stage === p.stage && (!p.sameNode || q.node === step.node)));
}

export interface StageWaits {
  readonly stage: StageName;
  readonly steps: number;
  /** From the end of the last step it waited for (or the window's start) to its own start: min and max. */
  readonly waitMs: readonly [number, number];
  /** Its own start to end: min and max. */
  readonly runMs: readonly [number, number];
}

/**
 * Where the window's time goes, stage by stage: how long each stage's steps waited after what they depend on
 * had ended (the engine's and the stack program's own time between steps), and how long they ran.
 */
export function windowWaits(
  steps: readonly TimedStep[],
  sequence: readonly Stage[] = FLAG_DAY,
): StageWaits[] {
  const { stages, from } = windowOf(steps, sequence);
  const span = (xs: number[]): [number, number] => [Math.min(...xs), Math.max(...xs)];
  return stages.flatMap((stage, i) => {
    const mine = steps.filter((s) => s.stage === stage.name);
    if (!mine.length) return [];
    const waits = mine.map(
      (s) => s.start - Math.max(from, ...waitedFor(stages, i, s, steps).map((q) => q.end)),
    );
    return [
      {
        stage: stage.name,
        steps: mine.length,
        waitMs: span(waits),
        runMs: span(mine.map((s) => s.end - s.start)),
      },
    ];
  });
}

/** The critical path of the window, in the steps' unit (ms), over `sequence` (the flag day by default). */
export function criticalPathMs(steps: readonly TimedStep[], sequence: readonly Stage[] = FLAG_DAY): number {
  const { stages, from, to, accepts } = windowOf(steps, sequence);
  const longest = new Map<TimedStep, number>();
  stages.forEach((stage, i) => {
    for (const step of steps.filter((s) => s.stage === stage.name)) {
      const own = Math.max(0, Math.min(step.end, to) - Math.max(step.start, from));
      const before = Math.max(0, ...waitedFor(stages, i, step, steps).map((q) => longest.get(q) ?? 0));
      longest.set(step, own + before);
    }
  });
  return Math.max(...accepts.map((s) => longest.get(s) ?? 0));
}

/**
 * Each step of one transition with its measured start (its first event's arrival) and end (its last outputs
 * event's), from the engine's events as they reached the driver. The transition is the one whose
 * ingress-reject ran; a node's server (the `start` stage, no ordinal) counts with its replacement (the old
 * process deleted, the new one created).
 */
export function timedSteps(
  timed: readonly { readonly event: EngineEvent; readonly at: number }[],
  network: string,
): TimedStep[] {
  const spans = new Map<
    string,
    { stage: StageName; node?: string; ordinal?: string; start: number; end?: number }
  >();
  for (const { event, at } of timed) {
    const pre = event.resourcePreEvent?.metadata;
    const out = event.resOutputsEvent?.metadata;
    const m = pre ?? out;
    if (!m || m.op === "same" || m.op === "read") continue;
    const name = stepNameOf(m.urn);
    const stage = stageOfStep(name, network);
    if (!stage) continue;
    const p = parseStepName(name, network);
    const span = spans.get(name) ?? { stage, node: p?.node, ordinal: p?.ordinal, start: at };
    if (out) span.end = at;
    spans.set(name, span);
  }
  const ordinal = [...spans.values()].find((s) => s.stage === "ingress-reject")?.ordinal;
  return [...spans.values()]
    .filter((s) => s.end !== undefined && s.ordinal === (s.stage === "start" ? undefined : ordinal))
    .map((s) => ({ stage: s.stage, ...(s.node ? { node: s.node } : {}), start: s.start, end: s.end! }));
}
