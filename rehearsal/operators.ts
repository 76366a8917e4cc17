/**
 * A rehearsal network split among several operators, as mainnet is: each operator has its own stack (own
 * state, own nodes' folder, own ingress, own board key) for its own nodes, the nodes peer across operators,
 * and the operators meet on one coordination board (a directory here, an S3 bucket on a real network). Used by
 * `npm run rehearse -- --operators <n>` and by the engine tests of the barriers.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import * as path from "node:path";
import { Stack } from "@pulumi/pulumi/automation";
import { generateOperatorKey } from "../components/coordination/signing";
import type { MaintenanceWindow } from "../components/gates";
import type { TimelineStep } from "../components/timeline";
import { FlagDayReport, flagDay, formatReport, openWindow, ROOT, timelineSteps } from "./run";

const run = promisify(execFile);

/** Operator names, in order, for a rehearsal of up to six operators (mainnet has about six). */
export const OPERATOR_NAMES = ["alice", "bob", "carol", "dave", "erin", "frank"] as const;

export interface OperatorStack {
  readonly operator: string;
  readonly stack: Stack;
  readonly log: (line: string) => void;
  /** The operator's Ed25519 key: the public half is in the network description, the private half a secret. */
  readonly publicKey: string;
  readonly privateKeyPem: string;
}

/** Which operator runs node i of n (0-based): contiguous blocks, as evenly as the numbers allow. */
export function operatorOfNode(i: number, nodes: number, operators: number): number {
  return Math.floor((i * operators) / nodes);
}

/**
 * Makes the stacks one network of several operators: the same network description (every node naming its
 * operator, every operator its public key), each stack its own `flagday:operator` and secret key, one board.
 * The stacks must share `flagday:local.basePort` (the nodes' ports follow their place in the network).
 */
export async function splitAmongOperators(
  stacks: readonly { readonly stack: Stack; readonly log: (l: string) => void }[],
  opts: { readonly board: string; readonly barrierTimeoutSeconds?: number },
): Promise<OperatorStack[]> {
  if (stacks.length < 2 || stacks.length > OPERATOR_NAMES.length) {
    throw new Error(`a rehearsal of several operators takes 2 to ${OPERATOR_NAMES.length} operators`);
  }
  const first = await stacks[0].stack.getAllConfig();
  const network = JSON.parse(first["flagday:network"].value) as {
    nodes: { name: string; operator?: string }[];
    operators?: { name: string; publicKey: string }[];
  };
  if (network.nodes.length < stacks.length) {
    throw new Error(
      `${stacks.length} operators need at least as many nodes (the network has ${network.nodes.length})`,
    );
  }
  const ops = stacks.map((s, k) => ({ ...s, operator: OPERATOR_NAMES[k], ...generateOperatorKey() }));
  network.operators = ops.map((o) => ({ name: o.operator, publicKey: o.publicKey }));
  network.nodes = network.nodes.map((n, i) => ({
    ...n,
    operator: OPERATOR_NAMES[operatorOfNode(i, network.nodes.length, ops.length)],
  }));
  await Promise.all(
    ops.map(async (o) => {
      await o.stack.setConfig("flagday:network", { value: JSON.stringify(network) });
      await o.stack.setConfig("flagday:operator", { value: o.operator });
      await o.stack.setConfig("flagday:board", { value: JSON.stringify({ directory: opts.board }) });
      await o.stack.setConfig("flagday:operatorKey", { value: o.privateKeyPem, secret: true });
      if (opts.barrierTimeoutSeconds !== undefined) {
        await o.stack.setConfig(
          "flagday:checks.barrierTimeoutSeconds",
          { value: String(opts.barrierTimeoutSeconds) },
          true,
        );
      }
    }),
  );
  return ops.map((o) => ({
    operator: o.operator,
    stack: o.stack,
    log: o.log,
    publicKey: o.publicKey,
    privateKeyPem: o.privateKeyPem,
  }));
}

/** The flagday CLI as the operator runs it for its stack (its stack's own backend and environment). */
async function flagdayCli(o: OperatorStack, ...args: string[]): Promise<string> {
  const env = { ...process.env, ...(o.stack.workspace.envVars ?? {}) } as Record<string, string>;
  const out = await run(
    path.join(ROOT, "node_modules", ".bin", "node"),
    [path.join(ROOT, "bin", "flagday.js"), ...args],
    { env, cwd: ROOT },
  );
  return out.stdout;
}

/** `flagday agree -s <stack>` for one operator. */
export const agree = (o: OperatorStack): Promise<string> => flagdayCli(o, "agree", "-s", o.stack.name);

/** `flagday abort -s <stack> --reason <why>` for one operator. */
export const postAbort = (o: OperatorStack, reason: string): Promise<string> =>
  flagdayCli(o, "abort", "-s", o.stack.name, "--reason", reason);

/** Every operator sets the agreed release and window, then signs the proposal its own stack derives. */
export async function agreeOnFlagDay(
  ops: readonly OperatorStack[],
  to: string,
  window: MaintenanceWindow,
): Promise<void> {
  for (const o of ops) {
    await o.stack.setConfig("flagday:release", { value: to });
    await openWindow(o.stack, o.log, window);
  }
  for (const o of ops) o.log((await agree(o)).trim().split("\n").pop() ?? "");
}

/** One operator's `pulumi up` of a coordinated flag day, settled: its report, or why it failed. */
export type OperatorOutcome =
  | { readonly operator: string; readonly ok: true; readonly report: FlagDayReport }
  | { readonly operator: string; readonly ok: false; readonly error: string };

/** Every operator's `pulumi up` at the same time, as on the call: one settled promise per operator. */
export function operatorUps(
  ops: readonly OperatorStack[],
  to: string,
  window: MaintenanceWindow,
): Promise<OperatorOutcome>[] {
  return ops.map((o) =>
    flagDay(o.stack, to, o.log, { window }).then(
      (report): OperatorOutcome => ({ operator: o.operator, ok: true, report }),
      (e: Error): OperatorOutcome => ({ operator: o.operator, ok: false, error: e.message }),
    ),
  );
}

/** Every operator's `pulumi up` at the same time, all settled. Never throws: each outcome says. */
export function everyOperatorUp(
  ops: readonly OperatorStack[],
  to: string,
  window: MaintenanceWindow,
): Promise<OperatorOutcome[]> {
  return Promise.all(operatorUps(ops, to, window));
}

/** The summary of a coordinated flag day: each operator's stages, and how long it waited at each barrier. */
export function formatCoordinated(outcomes: readonly OperatorOutcome[]): string {
  const out: string[] = [];
  for (const o of outcomes) {
    out.push(`== operator ${o.operator} ==`);
    if (!o.ok) {
      out.push(`FAILED: ${o.error.split("\n").find((l) => /FAIL|error:/.test(l)) ?? o.error.split("\n")[0]}`);
      continue;
    }
    out.push(formatReport(o.report));
    const waits = o.report.stages
      .filter((s) => s.stage.startsWith("all-"))
      .map((s) => `${s.stage} ${((s.end - s.start) / 1000).toFixed(1)}s`);
    out.push(`barrier waits: ${waits.join(", ") || "none"}`, "");
  }
  return out.join("\n");
}

/**
 * Every operator's steps on one timeline (components/timeline.ts: a lane per operator and per node, the
 * downtime from the first ingress closing to the last reopening): the ones the engine reported to each
 * operator's driver. An operator whose `up` failed has no report here; its own timeline was written beside its
 * nodes.
 */
export function operatorsTimelineSteps(outcomes: readonly OperatorOutcome[]): TimelineStep[] {
  return outcomes.flatMap((o) =>
    o.ok ? timelineSteps(o.report.timed, o.report.network).map((s) => ({ ...s, operator: o.operator })) : [],
  );
}
