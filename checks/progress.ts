/**
 * `flagday progress --events <file> [--events <file> ...] [-s <stack> | --board <json> --operator-key ...]`:
 * where a plain `pulumi up --event-log <file>` is, printed beside it as the rehearsal prints it (stage n of m,
 * n of N node(s) done, the time since the first stage; rehearsal/progress.ts), and at a barrier whom it waits
 * for, from the coordination board's verified entries. It follows the log as the engine writes it, and exits
 * when the update ends (the engine's summary, or its cancel event): 0 when every update succeeded, else 1.
 *
 * `pulumi up` writes its preview to the log first, then starts the log again for the update: the preview's
 * events are not the update's and are skipped, and a log that shrinks is read again from its start.
 */
import { stageOfStep } from "../components/names";
import { BarrierName, isBarrierName } from "../components/stages";
import { progressTracker, stepEventOf } from "../rehearsal/progress";
import { BoardEvent, BoardUsageError, networkOf, operatorOfLog, readEvents, viewOf } from "./board";
import { CoordinationSource, CoordinationView, waitingFor } from "./coordination";

/** How an update ended, from its event log; undefined while it runs, or when only its preview ended. */
export function updateEnd(
  events: readonly BoardEvent[],
): { readonly result: string; readonly seconds?: number } | undefined {
  if (events.some((e) => e.summaryEvent?.isPreview || e.resourcePreEvent?.planning)) return undefined;
  const summary = events.find((e) => e.summaryEvent)?.summaryEvent;
  if (summary) return { result: summary.result ?? "ended", seconds: summary.durationSeconds };
  return events.some((e) => e.cancelEvent) ? { result: "cancelled" } : undefined;
}

/**
 * Follows one event log: given the log as it is now (and the board's view), the progress lines for what is
 * new since the last call. The lines are made from the whole log each time, so a log the engine started again
 * (the update after its preview) prints its own from the start. At a barrier its step waits at, a line naming
 * whom for, again when that changes.
 */
export function logFollower() {
  let printed: readonly string[] = [];
  let said = "";
  return (events: readonly BoardEvent[], view: CoordinationView | undefined, nowMs: number): string[] => {
    const network = networkOf(events) ?? view?.network;
    if (!network) return [];
    const operator = operatorOfLog(events, view);
    const nodes = view?.operators.find((o) => o.name === operator)?.nodes.length;
    const track = progressTracker({ network, coordinated: view !== undefined, ...(nodes ? { nodes } : {}) });
    const lines: string[] = [];
    let barrier: { readonly step: string; readonly stage: BarrierName } | undefined;
    for (const e of events) {
      const step = stepEventOf(e);
      const stage = step && stageOfStep(step.name, network);
      if (!step || !stage) continue;
      const line = track(step);
      if (line) lines.push(line);
      if (isBarrierName(stage)) barrier = step.phase === "start" ? { step: step.name, stage } : undefined;
    }
    const continued = printed.every((l, i) => lines[i] === l);
    const fresh = lines.slice(continued ? printed.length : 0);
    printed = lines;
    const who = barrier && view ? waitingFor(view, barrier.stage, operator) : [];
    if (barrier && who.length && `${barrier.step} ${who.join(", ")}` !== said) {
      said = `${barrier.step} ${who.join(", ")}`;
      fresh.push(track({ name: barrier.step, phase: "waiting", at: nowMs, waitingFor: who }) ?? "");
    }
    return fresh;
  };
}

export interface ProgressOptions {
  readonly events?: readonly string[];
  readonly coordination?: CoordinationSource;
  /** Between reads of the logs and the board. @default 1000 */
  readonly intervalMs?: number;
}

/** `flagday progress`: follows the logs until every update ended. */
export async function progress(o: ProgressOptions, log: (line: string) => void): Promise<number> {
  const files = o.events ?? [];
  if (!files.length) {
    throw new BoardUsageError(
      "--events <file> is required: the log `pulumi up --event-log <file>` writes (one per operator's stack)",
    );
  }
  const followers = files.map(() => logFollower());
  const ended = new Map<number, string>();
  const warned = new Set<string>();
  for (;;) {
    const logs = files.map(readEvents);
    const view = await viewOf(o.coordination, logs);
    for (const w of view?.warnings ?? []) if (!warned.has(w) && warned.add(w)) log(`WARNING ${w}`);
    logs.forEach((events, k) => {
      const who = files.length > 1 ? `[${operatorOfLog(events, view) ?? files[k]}] ` : "";
      for (const line of followers[k](events, view, Date.now())) log(who + line);
      const end = ended.has(k) ? undefined : updateEnd(events);
      if (!end) return;
      ended.set(k, end.result);
      log(
        `${who}-- the update ended: ${end.result}${end.seconds === undefined ? "" : ` (${end.seconds} s)`}`,
      );
    });
    if (ended.size === files.length) return [...ended.values()].every((r) => r === "succeeded") ? 0 : 1;
    await new Promise((r) => setTimeout(r, o.intervalMs ?? 1000));
  }
}
