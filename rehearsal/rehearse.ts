/**
 * `npm run rehearse`: a whole flag day on this machine. Brings a rehearsal network (three simulated nodes) up on
 * v1.0.0, sends payments, performs the flag day to v2.0.0 through one real `pulumi up`, and prints the summary.
 *
 * It runs on its own stack, `practice`: its stack file stacks/Pulumi.practice.yaml is a fresh copy of the
 * committed stacks/Pulumi.rehearsal.yaml, gitignored, and holds everything the rehearsal sets (release, window,
 * accepted loss, the nodes' secret keys); the nodes live in .rehearsal/practice. The checkout stays as it was.
 * Options:
 *   --rollback          afterwards, set the release back to v1.0.0 and `pulumi up` again (restores the snapshots)
 *   --teardown          destroy the rehearsal network, its stack and its files, and stop (nothing else)
 *   --keep              start from the network as it is instead of a fresh one
 *   --stack <name>      another practice network: `practice-<anything>` (default `practice`)
 *   --base-port <port>  where the network listens (default the committed stack file's, 24000)
 *   --operators <n>     split the network among n operators (2 to 3 with the three rehearsal nodes), each with
 *                       its own stack (practice-alice, practice-bob, ...), state, folder, ingress and board key;
 *                       they sign the proposal and run their `pulumi up`s at the same time, meeting at the
 *                       barriers on a board in .rehearsal/<stack>-board
 *   --platform kubernetes
 *                       the same flag day on the Kubernetes platform: a local control plane (Kubernetes' own
 *                       apiserver, controllers and scheduler), flagday-kube-agent as its SGX node running the
 *                       simulated nodes, the platform's own Deployments, VolumeSnapshots, Jobs and client
 *                       Ingress (stack `practice-kubernetes`). The cluster lives only while the rehearsal runs:
 *                       it is torn down at the end, with its stack (rehearsal/kubernetes/network.ts)
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { randomBytes } from "node:crypto";
import { Stack } from "@pulumi/pulumi/automation";
import {
  bringUp,
  flagDay,
  formatReport,
  layout,
  PRACTICE_STACK,
  rehearsalStack,
  rehearseRollback,
  ROOT,
  sendTraffic,
  windowAroundNow,
  writeTimeline,
} from "./run";
import { KUBE_PRACTICE_STACK, rehearseKubernetes } from "./kubernetes/rehearse";
import {
  OPERATOR_NAMES,
  agreeOnFlagDay,
  everyOperatorUp,
  formatCoordinated,
  operatorsTimelineSteps,
  splitAmongOperators,
} from "./operators";

const USAGE =
  "usage: npm run rehearse -- [--rollback] [--teardown] [--keep] [--stack practice[-<name>]] [--base-port <port>] " +
  "[--operators <n>] [--platform local|kubernetes]";

/** Destroys the network, then removes the stack (with its stack file) and the nodes' folder. */
async function removePractice(stack: Stack, log: (l: string) => void): Promise<void> {
  log(`tearing down any previous rehearsal network on stack ${stack.name} (pulumi destroy)...`);
  await stack.destroy({ onOutput: undefined });
  await stack.workspace.removeStack(stack.name);
  fs.rmSync(path.join(ROOT, "stacks", `Pulumi.${stack.name}.yaml`), { force: true });
  fs.rmSync(path.join(ROOT, ".rehearsal", stack.name), { recursive: true, force: true });
}

async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        rollback: { type: "boolean" },
        teardown: { type: "boolean" },
        keep: { type: "boolean" },
        stack: { type: "string", default: PRACTICE_STACK },
        "base-port": { type: "string" },
        operators: { type: "string" },
        platform: { type: "string", default: "local" },
      },
    }));
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  // Only practice stacks: their files are gitignored, and a fresh run removes the stack and its file.
  if (!/^practice(-[A-Za-z0-9_.-]+)?$/.test(values.stack)) {
    console.error(`--stack must be "practice" or "practice-<name>" (got "${values.stack}")\n${USAGE}`);
    return 2;
  }
  const basePort = values["base-port"];
  if (basePort !== undefined && !/^\d+$/.test(basePort)) {
    console.error(`--base-port must be a port number (got "${basePort}")\n${USAGE}`);
    return 2;
  }
  const log = (l: string) => console.log(l);
  if (values.platform !== "local" && values.platform !== "kubernetes") {
    console.error(`--platform must be local or kubernetes (got "${values.platform}")\n${USAGE}`);
    return 2;
  }
  if (values.platform === "kubernetes") {
    if (values.operators !== undefined || values.keep) {
      console.error(`--platform kubernetes runs one fresh flag day: no --operators or --keep\n${USAGE}`);
      return 2;
    }
    const stackName = values.stack === PRACTICE_STACK ? KUBE_PRACTICE_STACK : values.stack;
    return rehearseKubernetes({
      stackName,
      basePort: basePort === undefined ? undefined : Number(basePort),
      rollback: Boolean(values.rollback),
      teardownOnly: Boolean(values.teardown),
      log,
    });
  }
  const config = basePort === undefined ? undefined : { "flagday:local.basePort": basePort };
  if (values.operators !== undefined) {
    const n = Number(values.operators);
    if (!Number.isInteger(n) || n < 2 || n > 3) {
      console.error(
        `--operators must be 2 or 3 (the rehearsal network has three nodes; got "${values.operators}")`,
      );
      return 2;
    }
    if (values.rollback || values.keep) {
      console.error(`--operators runs a fresh flag day: it does not take --rollback or --keep\n${USAGE}`);
      return 2;
    }
    return rehearseOperators(values.stack, n, config, Boolean(values.teardown), log);
  }
  let stack = await rehearsalStack({ stackName: values.stack, config });
  if (values.teardown || !values.keep) {
    await removePractice(stack, log);
    if (values.teardown) {
      log("rehearsal network destroyed.");
      return 0;
    }
    // A fresh copy of the committed stack file: the release under rehearsal, no window, no accepted loss.
    stack = await rehearsalStack({ stackName: values.stack, config });
  }
  // Each simulated node gets a message-signer key, a Pulumi secret, as real nodes get --msg-signer-key.
  const { nodes } = await layout(stack);
  for (const n of nodes) {
    const key = `flagday:msgSignerKeys.${n.name}`;
    const has = await stack.getConfig(key, true).then(
      () => true,
      () => false,
    );
    if (!has) await stack.setConfig(key, { value: randomBytes(32).toString("base64"), secret: true }, true);
  }
  await bringUp(stack, "v1.0.0", log);
  await sendTraffic(stack, 5, log);
  const report = await flagDay(stack, "v2.0.0", log);
  log("\n" + formatReport(report) + "\n");
  if (values.rollback) await rehearseRollback(stack, log);
  const stackOption = stack.name === PRACTICE_STACK ? "" : ` --stack ${stack.name}`;
  log(`The network is still running: npm run pulumi -- stack output -s ${stack.name} --json`);
  log(`  flagday status ${nodes.map((n) => `--admin ${n.name}=${n.admin}`).join(" ")}`);
  log(`Tear it down with: npm run rehearse -- --teardown${stackOption}`);
  return 0;
}

/**
 * The flag day with the network split among `count` operators: one practice stack each
 * (`<stack>-alice`, ...), the same ports, one board folder, every `pulumi up` at the same time.
 */
async function rehearseOperators(
  base: string,
  count: number,
  config: Record<string, string> | undefined,
  teardown: boolean,
  log: (l: string) => void,
): Promise<number> {
  const names = OPERATOR_NAMES.slice(0, count);
  const board = path.join(ROOT, ".rehearsal", `${base}-board`);
  const fresh = async () =>
    Promise.all(names.map((op) => rehearsalStack({ stackName: `${base}-${op}`, config })));
  for (const stack of await fresh()) await removePractice(stack, log);
  fs.rmSync(board, { recursive: true, force: true });
  if (teardown) {
    log(`the ${count} operators' rehearsal networks are destroyed.`);
    return 0;
  }
  const stacks = await fresh();
  const ops = await splitAmongOperators(
    stacks.map((stack, k) => ({ stack, log: (l: string) => log(`[${names[k]}] ${l}`) })),
    { board, barrierTimeoutSeconds: 120 },
  );
  for (const o of ops) {
    const { nodes } = await layout(o.stack);
    log(`operator ${o.operator}: stack ${o.stack.name}, nodes ${nodes.map((x) => x.name).join(", ")}`);
  }
  await Promise.all(ops.map((o) => bringUp(o.stack, "v1.0.0", o.log)));
  for (const o of ops) await sendTraffic(o.stack, 2, o.log);
  const window = windowAroundNow();
  log("every operator sets v2.0.0 and the agreed window, and signs the proposal (flagday agree)...");
  await agreeOnFlagDay(ops, "v2.0.0", window);
  log(`the ${count} operators run \`pulumi up\` at the same time...`);
  const outcomes = await everyOperatorUp(ops, "v2.0.0", window);
  log("\n" + formatCoordinated(outcomes));
  const both = writeTimeline(
    path.join(ROOT, ".rehearsal", "timelines"),
    `${base}-operators`,
    `flag-day v1.0.0 -> v2.0.0, ${count} operators`,
    operatorsTimelineSteps(outcomes),
  );
  if (both)
    log(
      `every operator's timeline: ${path.relative(process.cwd(), both.svg)} (Mermaid gantt: ${path.relative(process.cwd(), both.markdown)})`,
    );
  log(
    `The networks are still running. Tear them down with: npm run rehearse -- --teardown --operators ${count}`,
  );
  return outcomes.every((o) => o.ok) ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: Error) => {
    console.error(`rehearsal failed: ${e.message}`);
    process.exit(1);
  },
);
