/**
 * `flagday timeline -s <stack> [--out <dir>]`: the timeline (components/timeline.ts) of the stack's last
 * transition (flag day, rollback or abort), from what the stack recorded: `pulumi stack export` gives each step
 * resource's `created` time (when the engine finished it) and its dependencies, `pulumi stack history` the
 * update's start. A step's bar starts when the last step it waited for ended (or at the update's start) and ends
 * when it was created. Writes timeline-<stack>.svg and timeline-<stack>.md (the Mermaid gantt) in `--out`.
 * A step that failed is not in the state: the timeline shows what completed.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseStepName, stageOfStep } from "../components/names";
import { transitionOrdinal } from "../components/plan";
import { TimelineStep, timelineGantt, timelineSvg } from "../components/timeline";

export class TimelineUsageError extends Error {}

interface StateResource {
  readonly urn: string;
  readonly type: string;
  readonly created?: string;
  readonly dependencies?: readonly string[];
  readonly outputs?: Record<string, unknown>;
}

interface Recorded {
  readonly lastTransition?: {
    readonly id: string;
    readonly sequence: string;
    readonly from: { readonly version: string };
    readonly to: { readonly version: string };
  };
}

const nameOf = (urn: string) => urn.split("::").pop() ?? urn;

/** The last transition's steps with their recorded times, from a stack export and the update's start (ms). */
export function recordedTimeline(
  exported: { deployment?: { resources?: readonly StateResource[] } },
  updateStart: number,
  stack: string,
): { title: string; steps: TimelineStep[] } {
  const resources = exported.deployment?.resources ?? [];
  const root = resources.find((r) => r.type === "pulumi:pulumi:Stack");
  const record = (root?.outputs?.flagday ?? {}) as Recorded;
  const t = record.lastTransition;
  if (!t) {
    throw new TimelineUsageError(
      `stack ${stack} records no flag day, rollback or abort yet (its output flagday.lastTransition is empty)`,
    );
  }
  const ordinal = `-${transitionOrdinal(t)}-`;
  const ends = new Map<string, number>();
  // Every resource's end: a step may wait for one that is not named by the transition (a node's server).
  for (const r of resources) if (r.created) ends.set(r.urn, Date.parse(r.created));
  const named = resources.find((r) => nameOf(r.urn).includes(ordinal));
  if (!named) throw new TimelineUsageError(`stack ${stack} holds no step of ${t.id}`);
  const network = nameOf(named.urn).slice(0, nameOf(named.urn).indexOf(ordinal));
  // The transition's own steps, and what this update created under other names (each node's new server).
  const ofTransition = resources.filter(
    (r) =>
      r.created !== undefined &&
      (nameOf(r.urn).includes(ordinal) || Date.parse(r.created) >= updateStart) &&
      stageOfStep(nameOf(r.urn), network) !== undefined,
  );
  const steps: TimelineStep[] = [];
  for (const r of ofTransition) {
    const name = nameOf(r.urn);
    const stage = stageOfStep(name, network)!;
    const node = parseStepName(name, network)?.node;
    const waited = (r.dependencies ?? []).map((d) => ends.get(d)).filter((x): x is number => x !== undefined);
    const end = ends.get(r.urn)!;
    steps.push({
      stage,
      ...(node ? { node } : {}),
      start: Math.min(end, Math.max(updateStart, ...waited)),
      end,
    });
  }
  return {
    title: `${t.sequence} ${t.from.version} -> ${t.to.version} on stack ${stack} (recorded step times)`,
    steps,
  };
}

/** The update's start time (ms) from `pulumi stack history --json`'s newest entry. */
export function updateStartOf(history: readonly { startTime?: string | number }[]): number {
  const v = history[0]?.startTime;
  if (v === undefined) throw new TimelineUsageError("the stack has no update history");
  return typeof v === "number" ? v * 1000 : Date.parse(v);
}

export function timeline(o: { stack: string; out?: string }, log: (l: string) => void): number {
  const pulumiJson = (...args: string[]) =>
    JSON.parse(
      execFileSync("pulumi", [...args, "--stack", o.stack], {
        encoding: "utf8",
        maxBuffer: 256 * 1024 * 1024,
        stdio: ["ignore", "pipe", "pipe"],
      }),
    );
  let exported;
  let history;
  try {
    exported = pulumiJson("stack", "export");
    history = pulumiJson("stack", "history", "--json");
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new TimelineUsageError(
      `could not read stack ${o.stack} (pulumi stack export / history): ${(err.stderr || err.message).trim().split("\n")[0]}`,
    );
  }
  const t = recordedTimeline(exported, updateStartOf(history), o.stack);
  const dir = o.out ?? ".";
  fs.mkdirSync(dir, { recursive: true });
  const base = path.join(dir, `timeline-${o.stack}`);
  fs.writeFileSync(`${base}.svg`, timelineSvg(t));
  fs.writeFileSync(
    `${base}.md`,
    `# ${t.title}\n\n![timeline](${path.basename(base)}.svg)\n\n${timelineGantt(t)}`,
  );
  log(`wrote ${base}.svg and ${base}.md (${t.steps.length} steps of ${t.title})`);
  return 0;
}
