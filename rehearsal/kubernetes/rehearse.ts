/**
 * `npm run rehearse -- --platform kubernetes`: the rehearsal's flag day on the Kubernetes platform. A local
 * control plane and flagday-kube-agent (network.ts) stand in for an SGX cluster; the stack `practice-kubernetes`
 * (a gitignored copy of the committed rehearsal stack file) brings the three simulated nodes up on v1.0.0 as
 * Deployments, sends payments, and performs the flag day to v2.0.0 through one `pulumi up`: the client Ingress
 * switched, Deployments scaled to zero, VolumeSnapshots, migration Jobs, new Deployments. The cluster exists only
 * while the rehearsal runs, so at the end it is stopped and the stack, its file and its folder removed.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import {
  ClientGate,
  bringUp,
  flagDay,
  formatReport,
  probeIngress,
  rehearsalStack,
  rehearseRollback,
  ROOT,
  sendTraffic,
} from "../run";
import { committedRehearsal, startKubeRehearsal } from "./network";

export const KUBE_PRACTICE_STACK = "practice-kubernetes";
/** Away from the local rehearsal's 24000, so both can run at once. */
export const KUBE_PRACTICE_BASE_PORT = 24200;

/** Forgets a previous run's stack (its cluster went with that run) and removes its file and folder. */
async function forget(stackName: string): Promise<void> {
  const stack = await rehearsalStack({ stackName });
  await stack.workspace.removeStack(stackName, { force: true }).catch(() => undefined);
  fs.rmSync(path.join(ROOT, "stacks", `Pulumi.${stackName}.yaml`), { force: true });
  fs.rmSync(path.join(ROOT, ".rehearsal", stackName), { recursive: true, force: true });
}

export async function rehearseKubernetes(o: {
  readonly stackName: string;
  readonly basePort?: number;
  readonly rollback: boolean;
  readonly teardownOnly: boolean;
  readonly log: (line: string) => void;
}): Promise<number> {
  const { log } = o;
  await forget(o.stackName);
  if (o.teardownOnly) {
    log(`the Kubernetes rehearsal's stack ${o.stackName} is removed (its cluster ends with each run).`);
    return 0;
  }
  const basePort = o.basePort ?? KUBE_PRACTICE_BASE_PORT;
  const rehearsal = committedRehearsal(ROOT);
  const kube = await startKubeRehearsal({
    dir: path.join(ROOT, ".rehearsal", o.stackName, "cluster"),
    basePort,
    ...rehearsal,
    log,
  });
  try {
    log(
      `control plane at ${kube.controlPlane.server}; follow it with ` +
        `KUBECONFIG=${kube.controlPlane.kubeconfig} ${path.join(kube.controlPlane.bin, "kubectl")} -n ` +
        `${kube.namespace} get deploy,pvc,volumesnapshot,job,ingress`,
    );
    const stack = await rehearsalStack({
      stackName: o.stackName,
      config: { "flagday:local.basePort": String(basePort) },
      env: kube.env,
    });
    for (const [key, value] of Object.entries(kube.stackConfig)) await stack.setConfig(key, { value });
    const first = rehearsal.network.nodes[0].name;
    // The stack's folder goes with the cluster: the timelines stay in .rehearsal/timelines.
    const timelineDir = path.join(ROOT, ".rehearsal", "timelines");
    const gate: ClientGate = {
      probe: () => probeIngress(kube.ingressPort, 1500, kube.clientHost(first)),
      closed: async () =>
        (
          await kube.controlPlane.kubectl(
            "-n",
            kube.namespace,
            "get",
            "ingress",
            `${rehearsal.network.name}-client`,
            "-o",
            "jsonpath={.spec.ingressClassName}",
          )
        ).trim() !== "nginx",
    };
    await bringUp(stack, "v1.0.0", log);
    await sendTraffic(stack, 5, log);
    const report = await flagDay(stack, "v2.0.0", log, { gate, timelineDir });
    log("\n" + formatReport(report) + "\n");
    if (o.rollback) await rehearseRollback(stack, log, { gate, timelineDir });
    log(
      "what the API server holds now:\n" +
        (await kube.controlPlane.kubectl(
          "-n",
          kube.namespace,
          "get",
          "deployments,pvc,volumesnapshots,jobs,ingress",
        )),
    );
    log("stopping the cluster and removing its stack (a Kubernetes rehearsal lives only while it runs)...");
    return 0;
  } finally {
    await kube.stop();
    await forget(o.stackName);
  }
}
