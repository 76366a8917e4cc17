/**
 * The flag day's downtime on the rehearsal network, through the real engine, for 3 and 10 nodes with the same
 * simulated per-step latency. Prints one line per size:
 *   BENCH downtime nodes=<n> seconds=<s> critical_path_seconds=<c>
 * downtime: from the ingress rejecting clients to it accepting them again. critical path: the longest chain of
 * the window's steps along the flag day's dependencies (the seal a branch after each snapshot), each step's
 * duration measured from the engine's events (bench/criticalPath.ts).
 * Targets: downtime(10) / downtime(3) <= 1.25 (stages run in parallel across nodes), and downtime <= 1.3 x the
 * critical path (the engine adds little between steps).
 */
import { StepEventMetadata } from "@pulumi/pulumi/automation";
import { stageOfStep } from "../components/names";
import { bringUp, flagDay, FlagDayReport, sendTraffic, stepNameOf } from "../rehearsal/run";
import { scratchNetwork } from "../rehearsal/scratch";
import { criticalPathMs, timedSteps } from "./criticalPath";

// Far below a real EBS snapshot or instance boot (minutes), but long enough that the simulator's own CPU work
// (ten Node processes migrating and starting at once on a 2-core machine) does not stand in for the remote
// operations it models. With 2 s here the 10-node run measured a ratio of 1.50 on 2 cores, from that contention;
// 1.39, then 1.30 once the simulator ran from a bundle instead of through tsx (its 10-node start stage still takes
// 3.0-4.1 s against 2.5 s on 3 nodes: ten simulated nodes booting at once on 2 cores), and 1.16 once the state,
// which the engine saves whole before and after every step, was halved (components/local/command.ts).
export const STEP_LATENCY_SECONDS = Number(process.env.FLAGDAY_BENCH_STEP_SECONDS ?? 6);

export interface DowntimeFigures {
  readonly nodes: number;
  readonly downtimeSeconds: number;
  readonly criticalPathSeconds: number;
}

/**
 * The longest chain of the window's steps along the flag day's dependencies (bench/criticalPath.ts): what the
 * downtime cannot be shorter than with these step durations, whatever the engine does between them.
 */
export function criticalPathSeconds(report: FlagDayReport): number {
  return criticalPathMs(timedSteps(report.timed, report.network)) / 1000;
}

/** The window on the driver's clock (ms): the first ingress-reject step's start to the last ingress-accept's end. */
export function windowBounds(report: FlagDayReport): { start: number; end: number } {
  const stage = (m?: StepEventMetadata) =>
    m && m.op !== "same" ? stageOfStep(stepNameOf(m.urn), report.network) : undefined;
  let start: number | undefined;
  let end: number | undefined;
  for (const { event, at } of report.timed) {
    if (stage(event.resourcePreEvent?.metadata) === "ingress-reject") start ??= at;
    if (stage(event.resOutputsEvent?.metadata) === "ingress-accept") end = at;
  }
  if (start === undefined || end === undefined) throw new Error("bench: the flag day had no ingress window");
  return { start, end };
}

/** The downtime (s) measured as the ingress steps reached the driver. */
export function downtimeSeconds(report: FlagDayReport): number {
  const { start, end } = windowBounds(report);
  return (end - start) / 1000;
}

async function measure(n: number): Promise<DowntimeFigures> {
  const net = await scratchNetwork(`bench-${n}-${process.pid}`, {
    nodes: n,
    threshold: Math.floor((2 * n) / 3) + 1,
    config: {
      "flagday:local.stepLatencySeconds": String(STEP_LATENCY_SECONDS),
      "flagday:checks.livePeriodSeconds": "3",
    },
  });
  try {
    await bringUp(net.stack, "v1.0.0", net.log);
    await sendTraffic(net.stack, 3, net.log);
    const report = await flagDay(net.stack, "v2.0.0", net.log);
    return {
      nodes: n,
      downtimeSeconds: downtimeSeconds(report),
      criticalPathSeconds: criticalPathSeconds(report),
    };
  } finally {
    await net.cleanup();
  }
}

export async function benchDowntime(sizes: readonly number[] = [3, 10]): Promise<DowntimeFigures[]> {
  const out: DowntimeFigures[] = [];
  for (const n of sizes) {
    const f = await measure(n);
    out.push(f);
    console.log(
      `BENCH downtime nodes=${n} seconds=${f.downtimeSeconds.toFixed(2)} critical_path_seconds=${f.criticalPathSeconds.toFixed(2)}`,
    );
  }
  if (out.length === 2) {
    console.log(
      `BENCH downtime ratio_${out[1].nodes}_over_${out[0].nodes}=${(out[1].downtimeSeconds / out[0].downtimeSeconds).toFixed(3)} ` +
        out
          .map((f) => `overhead_${f.nodes}=${(f.downtimeSeconds / f.criticalPathSeconds).toFixed(3)}`)
          .join(" "),
    );
  }
  return out;
}
