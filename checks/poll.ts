// The one polling loop of the checks: probe, judge, wait, until the verdict settles it or the time is up.

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** What a probe returns: a Verdict (verdicts.ts), or any result that says whether it passed. */
export interface Polled {
  readonly ok: boolean;
  /** Waiting cannot make it pass: the poll stops at once. */
  readonly fatal?: boolean;
}

export interface PollOptions<V extends Polled> {
  /** Stop probing this long after the poll starts; the last verdict is returned as it is. */
  timeoutMs: number;
  /** The wait between probes, cut short at the deadline so the last probe lands on it. */
  intervalMs: number;
  /** Called with each verdict that does not end the poll, before the wait (progress lines, resubmissions). */
  onProgress?: (v: V) => void | Promise<void>;
  /** Whether a verdict ends the poll early. @default it passed. A fatal verdict always ends it. */
  until?: (v: V) => boolean;
  /**
   * For this long after the poll starts, probe every FAST_PROBE_MS (or `intervalMs`, if shorter): a check that
   * can pass within a second (a short quiet period, a block right after a submission) passes when it does, not at
   * the next tick of `intervalMs`. A check that waits for minutes then probes at `intervalMs` as before.
   * @default 0 (every probe `intervalMs` apart)
   */
  fastForMs?: number;
}

/** The wait between probes at the start of a poll with `fastForMs` (the transaction tests' own interval). */
export const FAST_PROBE_MS = 100;

/**
 * Probe until a verdict ends the poll (`until`, by default a pass), one is fatal, or the timeout is reached;
 * returns the last verdict. The first probe runs at once. A probe that throws ends the poll with its error:
 * probes that should retry on an error catch it themselves.
 */
export async function pollUntil<V extends Polled>(probe: () => Promise<V>, o: PollOptions<V>): Promise<V> {
  const until = o.until ?? ((v: V) => v.ok);
  const start = Date.now();
  const deadline = start + o.timeoutMs;
  for (;;) {
    const v = await probe();
    if (v.fatal || until(v) || Date.now() >= deadline) return v;
    await o.onProgress?.(v);
    const fast = Date.now() - start < (o.fastForMs ?? 0);
    const interval = fast ? Math.min(FAST_PROBE_MS, o.intervalMs) : o.intervalMs;
    await sleep(Math.min(interval, Math.max(0, deadline - Date.now())));
  }
}
