/**
 * What the cross-operator barriers cost: the same rehearsal network and the same simulated per-step latency,
 * once as one stack driving every node and once split among three operator stacks whose `pulumi up`s run at
 * the same time and meet at the barriers on a directory board. Prints
 *   BENCH coordinated operators=3 nodes=<n> seconds=<s> single_stack_seconds=<t> ratio=<s/t>
 * seconds: the network's downtime, from the first ingress rejecting clients (any operator) to the last one
 * accepting them again, from the engine events as they reached the driver. Target: ratio <= 1.15.
 * On this machine the three engines share 2 cores with nine simulated nodes: part of the ratio is that.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { stageOfStep } from "../components/names";
import { bringUp, flagDay, FlagDayReport, sendTraffic, stepNameOf, windowAroundNow } from "../rehearsal/run";
import { agreeOnFlagDay, everyOperatorUp, splitAmongOperators } from "../rehearsal/operators";
import { freeBase, scratchNetwork } from "../rehearsal/scratch";
import { downtimeSeconds, STEP_LATENCY_SECONDS } from "./downtime";

const NODES = 3;
const OPERATORS = 3;

const config = {
  "flagday:local.stepLatencySeconds": String(STEP_LATENCY_SECONDS),
  "flagday:checks.livePeriodSeconds": "3",
};

/** From the first ingress-reject start to the last ingress-accept end, over every operator's report. */
function networkDowntimeSeconds(reports: readonly FlagDayReport[]): number {
  let start = Infinity;
  let end = -Infinity;
  for (const r of reports) {
    for (const { event, at } of r.timed) {
      const pre = event.resourcePreEvent?.metadata;
      const out = event.resOutputsEvent?.metadata;
      if (pre && pre.op !== "same" && stageOfStep(stepNameOf(pre.urn), r.network) === "ingress-reject") {
        start = Math.min(start, at);
      }
      if (out && out.op !== "same" && stageOfStep(stepNameOf(out.urn), r.network) === "ingress-accept") {
        end = Math.max(end, at);
      }
    }
  }
  if (!Number.isFinite(start) || !Number.isFinite(end)) throw new Error("bench: no ingress window");
  return (end - start) / 1000;
}

async function singleStack(): Promise<number> {
  const net = await scratchNetwork(`bench-single-${process.pid}`, { nodes: NODES, config });
  try {
    await bringUp(net.stack, "v1.0.0", net.log);
    await sendTraffic(net.stack, 3, net.log);
    return downtimeSeconds(await flagDay(net.stack, "v2.0.0", net.log));
  } finally {
    await net.cleanup();
  }
}

async function coordinated(): Promise<number> {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "flagday-bench-operators-"));
  const basePort = await freeBase(NODES);
  const nets = await Promise.all(
    Array.from({ length: OPERATORS }, (_, k) =>
      scratchNetwork(`bench-op${k + 1}-${process.pid}`, { nodes: NODES, basePort, config }),
    ),
  );
  try {
    const ops = await splitAmongOperators(nets, { board: path.join(scratch, "board") });
    await Promise.all(ops.map((o) => bringUp(o.stack, "v1.0.0", o.log)));
    for (const o of ops) await sendTraffic(o.stack, 1, o.log);
    const window = windowAroundNow();
    await agreeOnFlagDay(ops, "v2.0.0", window);
    const outcomes = await everyOperatorUp(ops, "v2.0.0", window);
    const failed = outcomes.find((o) => !o.ok);
    if (failed && !failed.ok) throw new Error(`bench: operator ${failed.operator} failed: ${failed.error}`);
    return networkDowntimeSeconds(outcomes.flatMap((o) => (o.ok ? [o.report] : [])));
  } finally {
    await Promise.allSettled(nets.map((n) => n.cleanup()));
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

export async function benchCoordinated(): Promise<void> {
  const single = await singleStack();
  const multi = await coordinated();
  console.log(
    `BENCH coordinated operators=${OPERATORS} nodes=${NODES} seconds=${multi.toFixed(2)} ` +
      `single_stack_seconds=${single.toFixed(2)} ratio=${(multi / single).toFixed(3)}`,
  );
}
