/**
 * Where a flag day is, from the engine's step events: which stage of how many, how many nodes have finished a
 * node stage, and how long since the first stage began. Plain functions over the step names (components/names.ts
 * parses them), so the rehearsal's terminal output and its tests share one reading.
 */
import { parseStepName, stageOfStep } from "../components/names";
import { SEQUENCES, SequenceName, Stage, StageName, stagesOf } from "../components/stages";

export interface StepEvent {
  /** The step's resource name, e.g. `rehearsal-u1-node2-snapshot`. */
  readonly name: string;
  readonly phase: "start" | "done" | "failed";
  /** Milliseconds. */
  readonly at: number;
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

/** Turns step events into progress lines; `nodes` is how many nodes this stack runs (node stages count them). */
export function progressTracker(a: {
  readonly network: string;
  readonly nodes: number;
  /** Several operators: the barriers are stages too. */
  readonly coordinated: boolean;
}) {
  const seen: StageName[] = [];
  const done = new Map<StageName, Set<string>>();
  let first: number | undefined;
  const since = (at: number) => `${((at - (first ?? at)) / 1000).toFixed(1)} s in`;
  const stages = (): readonly Stage[] => {
    const seq = sequenceOfStages(seen);
    return seq ? stagesOf(seq, a.coordinated) : [];
  };
  /** The line for an event, or undefined when it says nothing new about where the flag day is. */
  return (e: StepEvent): string | undefined => {
    const stage = stageOfStep(e.name, a.network);
    if (!stage) return undefined;
    first ??= e.at;
    const node = parseStepName(e.name, a.network)?.node;
    if (!seen.includes(stage)) {
      seen.push(stage);
      const list = stages();
      const n = list.findIndex((s) => s.name === stage) + 1;
      const s = list[n - 1];
      const what = s ? `: ${s.runbook}` : "";
      return `-- stage ${n} of ${list.length}, ${stage}${what} (${since(e.at)})`;
    }
    if (e.phase === "failed") return `-- ${stage} FAILED${node ? ` on ${node}` : ""} (${since(e.at)})`;
    if (e.phase === "done" && node !== undefined) {
      const finished = done.get(stage) ?? new Set<string>();
      finished.add(node);
      done.set(stage, finished);
      return `   ${stage}: ${finished.size} of ${a.nodes} node(s) done, ${node} last (${since(e.at)})`;
    }
    if (e.phase === "done") return `   ${stage}: done (${since(e.at)})`;
    return undefined;
  };
}
