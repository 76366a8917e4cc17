/**
 * Where a flag day is, in the words the operators' terminals show: the stage n of m, and for a node stage how
 * many of the stack's nodes are done. One wording for the stack program's own messages during `pulumi up`
 * (reportProgress below), the rehearsal's terminal output and `flagday progress` (rehearsal/progress.ts).
 */
import * as pulumi from "@pulumi/pulumi";
import { BarrierSpec, barrierStatus, describeBarrier } from "./coordination/barrier";
import type { CoordinationBoard } from "./coordination/board";
import type { Step } from "./platform";
import type { Stage, StageName } from "./stages";

const since = (seconds: number) => `${seconds.toFixed(1)} s in`;

/** `-- stage 5 of 14, stop: stop all nodes (42.0 s in)`: a stage begins. */
export function stageLine(
  n: number,
  of: number,
  stage: StageName,
  runbook: string | undefined,
  seconds: number,
) {
  return `-- stage ${n} of ${of}, ${stage}${runbook ? `: ${runbook}` : ""} (${since(seconds)})`;
}

/** `   stop: 3 of 10 node(s) done, node7 last (42.0 s in)`, or `   quiesce: done (12.0 s in)`. */
export function stageDoneLine(
  stage: StageName,
  seconds: number,
  nodes?: { readonly done: number; readonly of: number; readonly last: string },
): string {
  return nodes
    ? `   ${stage}: ${nodes.done} of ${nodes.of} node(s) done, ${nodes.last} last (${since(seconds)})`
    : `   ${stage}: done (${since(seconds)})`;
}

/**
 * The stack program's own progress messages while `pulumi up` applies a transition: as each stage step
 * completes, an info message on the network's component (`parent`), which the engine shows in its row as the
 * update runs and lists under Diagnostics at the end, e.g. `stage 6 of 14, stop: 3 of 10 node(s) done, node7
 * last (42.0 s in)`. Nothing is printed for steps that do not run (a preview leaves their outputs unknown).
 */
export function reportProgress(
  sequence: readonly {
    readonly stage: Stage;
    readonly steps: readonly Step[];
    readonly nodes?: readonly string[];
  }[],
  parent: pulumi.Resource,
  now: () => number = Date.now,
): void {
  const began = now();
  const seconds = () => (now() - began) / 1000;
  sequence.forEach(({ stage, steps, nodes }, i) => {
    let done = 0;
    steps.forEach((step, k) =>
      (step.output ?? step.resource.urn).apply(() => {
        done += 1;
        const line = stageDoneLine(
          stage.name,
          seconds(),
          nodes ? { done, of: nodes.length, last: nodes[k] } : undefined,
        );
        pulumi.log.info(`stage ${i + 1} of ${sequence.length}, ${line.trim()}`, parent);
      }),
    );
  });
}

/**
 * While this stack waits at a barrier, whom it waits for, in `pulumi up`'s own output: from the moment the
 * stage before it is done (`arrived`) until the barrier step is (`passed`), every `everyMs` an info message on
 * `parent` from the coordination board's verified entries, e.g. `stage 9 of 20, all-quiesced: 1 of 3 operators
 * arrived (alice); waiting for bob (last at all-rejecting, 12s ago), carol (no barrier posted yet)`. Read-only;
 * a board that cannot be read says nothing here (the barrier step itself fails or reports). The timer never
 * keeps the program alive, and stops after `stopAfterMs` (the barrier's own timeout) whatever happens.
 */
export function reportBarrierWait(a: {
  readonly board: Pick<CoordinationBoard, "read">;
  readonly spec: Pick<BarrierSpec, "network" | "flagDayId" | "sequence" | "stage" | "operators" | "agreeOn">;
  /** `stage 9 of 20` */
  readonly prefix: string;
  readonly arrived: pulumi.Output<unknown>;
  readonly passed: pulumi.Output<unknown>;
  readonly parent: pulumi.Resource;
  readonly everyMs?: number;
  readonly stopAfterMs: number;
}): void {
  let passed = false;
  let timer: ReturnType<typeof setInterval> | undefined;
  const stop = () => {
    passed = true;
    if (timer) clearInterval(timer);
  };
  const tick = async () => {
    try {
      const reading = await a.board.read({
        network: a.spec.network,
        operators: a.spec.operators,
        select: (k) => k.split("/")[2] === a.spec.flagDayId,
      });
      const status = barrierStatus(a.spec, reading.entries);
      if (!passed && !status.complete)
        void pulumi.log.info(`${a.prefix}, ${describeBarrier(status)}`, a.parent);
    } catch {
      /* the barrier step reads the board too, and says why it cannot */
    }
  };
  a.passed.apply(stop);
  a.arrived.apply(() => {
    if (passed) return;
    timer = setInterval(() => void tick(), a.everyMs ?? 5000);
    timer.unref();
    setTimeout(stop, a.stopAfterMs).unref();
  });
}
