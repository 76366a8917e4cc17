/**
 * Where a flag day is, from the engine's step events: which stage of how many, how many nodes have finished a
 * node stage, how long since the first stage began, and at a barrier whom it waits for. Plain functions over
 * the step names (components/names.ts parses them), so the rehearsal's terminal output, `flagday progress`
 * beside a plain `pulumi up`, the live board and their tests share one reading.
 */
import { parseStepName, stageOfStep } from "../components/names";
import { stageDoneLine, stageLine } from "../components/progress";
import { isBarrierName, SEQUENCES, SequenceName, Stage, StageName, stagesOf } from "../components/stages";

export interface StepEvent {
  /** The step's resource name, e.g. `rehearsal-u1-node2-snapshot`. */
  readonly name: string;
  /** `waiting`: a barrier step still waits, for the operators in `waitingFor` (from the coordination board). */
  readonly phase: "start" | "done" | "failed" | "waiting";
  /** Milliseconds. */
  readonly at: number;
  readonly waitingFor?: readonly string[];
}

/** A step's event metadata, as the engine writes it. */
interface StepMetadata {
  readonly op: string;
  readonly urn: string;
}

/**
 * The engine events progress reads: a subset of @pulumi/pulumi/automation's EngineEvent, as the automation API
 * hands them over and as `pulumi up --event-log <file>` writes them (one JSON object a line).
 */
export interface EngineStepEvent {
  /** Seconds. */
  readonly timestamp: number;
  /** `planning`: an event of the preview `pulumi up` runs first, not of the update. */
  readonly resourcePreEvent?: { readonly metadata: StepMetadata; readonly planning?: boolean };
  readonly resOutputsEvent?: { readonly metadata: StepMetadata; readonly planning?: boolean };
  readonly resOpFailedEvent?: { readonly metadata: StepMetadata };
}

/** A resource's name, the last part of its URN. */
export const stepNameOf = (urn: string) => urn.split("::").pop() ?? urn;

/**
 * The step event an engine event is, or undefined: a preview's events, unchanged resources (`same`), reads and
 * deletions (an earlier transition's steps going away) say nothing about where the update is.
 */
export function stepEventOf(e: EngineStepEvent): StepEvent | undefined {
  const pre = e.resourcePreEvent;
  const out = e.resOutputsEvent;
  const m = pre?.metadata ?? out?.metadata ?? e.resOpFailedEvent?.metadata;
  if (!m || pre?.planning || out?.planning) return undefined;
  if (m.op === "same" || m.op === "read" || m.op.startsWith("delete")) return undefined;
  const phase = pre ? "start" : out ? "done" : "failed";
  return { name: stepNameOf(m.urn), phase, at: e.timestamp * 1000 };
}

/**
 * The sequence the seen stages belong to: the first (flag day, then the rollbacks) that holds every one of them.
 * A rollback by reverse migrations reads as a flag day until it reverse-migrates (its count then changes), and
 * one by restore as any rollback until it restores: the step names do not say which sequence they belong to.
 */
export function sequenceOfStages(seen: readonly StageName[]): SequenceName | undefined {
  return (Object.keys(SEQUENCES) as SequenceName[]).find((s) =>
    seen.every((name) => stagesOf(s, true).some((x) => x.name === name)),
  );
}

/** Turns step events into progress lines. */
export function progressTracker(a: {
  readonly network: string;
  /** How many nodes this stack runs (node stages count them). @default the nodes its steps named so far */
  readonly nodes?: number;
  /** Several operators: the barriers are stages too (as they are once a barrier step is seen). */
  readonly coordinated: boolean;
}) {
  const seen: StageName[] = [];
  const nodes = new Set<string>();
  const done = new Map<StageName, Set<string>>();
  let first: number | undefined;
  const elapsed = (at: number) => (at - (first ?? at)) / 1000;
  const since = (at: number) => `${elapsed(at).toFixed(1)} s in`;
  const stages = (): readonly Stage[] => {
    const seq = sequenceOfStages(seen);
    return seq ? stagesOf(seq, a.coordinated || seen.some(isBarrierName)) : [];
  };
  /** The line for an event, or undefined when it says nothing new about where the flag day is. */
  return (e: StepEvent): string | undefined => {
    const stage = stageOfStep(e.name, a.network);
    if (!stage) return undefined;
    first ??= e.at;
    const node = parseStepName(e.name, a.network)?.node;
    if (node !== undefined) nodes.add(node);
    if (e.phase === "waiting") return `   ${stage}: waiting for ${e.waitingFor?.join(", ")} (${since(e.at)})`;
    if (!seen.includes(stage)) {
      seen.push(stage);
      const list = stages();
      const n = list.findIndex((s) => s.name === stage) + 1;
      return stageLine(n, list.length, stage, list[n - 1]?.runbook, elapsed(e.at));
    }
    if (e.phase === "failed") return `-- ${stage} FAILED${node ? ` on ${node}` : ""} (${since(e.at)})`;
    if (e.phase === "done" && node !== undefined) {
      const finished = done.get(stage) ?? new Set<string>();
      finished.add(node);
      done.set(stage, finished);
      return stageDoneLine(stage, elapsed(e.at), {
        done: finished.size,
        of: a.nodes ?? nodes.size,
        last: node,
      });
    }
    if (e.phase === "done") return stageDoneLine(stage, elapsed(e.at));
    return undefined;
  };
}
