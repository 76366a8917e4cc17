/**
 * The rehearsal network on Kubernetes: a local control plane (Kubernetes' own apiserver, controller manager and
 * scheduler, controlPlane.ts), flagday-kube-agent as its one SGX node (the SIMULATED kubelet, CSI driver and
 * snapshot controller, ../kube-agent) and the agent's SIMULATED ingress controller, with what an operator sets up
 * before flagday's first `pulumi up`: the namespace, each node's message-signer key Secret and the tokens
 * ConfigMap. `stackConfig` is the stack config that puts the rehearsal stack on it: `flagday:platform:
 * kubernetes`, the platform's settings as MobileCoin's chart has them (SGX resource, node selector, toleration),
 * and each node's addresses (the agent's simulated ports on 127.0.0.1).
 */
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { KubernetesPlatformArgs } from "../../components/kubernetes/args";
import { localPorts } from "../../components/local/scripts";
import { nodeImage } from "../../components/mobilecoin";
import type { EnclaveRelease } from "../../components/release";
import { KubeAgent } from "../kube-agent/agent";
import { IngressStandIn } from "../kube-agent/ingress";
import { kubeApi } from "../kube-agent/api";
import type { AgentConfig } from "../kube-agent/plan";
import { buildKube } from "./build";
import { ControlPlane, startControlPlane } from "./controlPlane";

/** The tokens config the rehearsal's nodes load; the practice stack's releases carry its digest. */
export const REHEARSAL_TOKENS = '{"fee_map":{"0":400000000},"governors":{}}';
export const TOKENS_DIGEST = createHash("sha256").update(REHEARSAL_TOKENS).digest("hex");
/** The ingress class the simulated controller serves (the platform's default). */
const SERVED_CLASS = "nginx";

export interface KubeRehearsalInput {
  /** Folder of the agent's volumes, snapshots, pods and logs. */
  readonly dir: string;
  /** The simulated nodes' ports: the local platform's layout on this base (localPorts); base+1 is the ingress. */
  readonly basePort: number;
  readonly network: {
    readonly name: string;
    readonly chainId: string;
    readonly nodes: readonly { name: string; settings?: Record<string, unknown> }[];
  };
  readonly releases: Readonly<Record<string, EnclaveRelease>>;
  /** The simulator's ledger format per release version (flagday:local.ledgerFormats). */
  readonly ledgerFormats: Readonly<Record<string, number>>;
  readonly log: (line: string) => void;
}

export interface KubeRehearsal {
  readonly controlPlane: ControlPlane;
  readonly agent: KubeAgent;
  readonly ingress: IngressStandIn;
  /** The simulated ingress controller's port (clients reach node `n` with Host `n.<network>.local`). */
  readonly ingressPort: number;
  readonly namespace: string;
  readonly clientHost: (node: string) => string;
  /** For the stack's workspace: KUBECONFIG and PATH with kubectl first. */
  readonly env: Record<string, string>;
  /** Stack config (non-path keys, JSON values) that puts the rehearsal stack on this cluster. */
  readonly stackConfig: Record<string, string>;
  readonly agentConfig: AgentConfig;
  /** Stops the ingress, the agent (and the simulated nodes) and the control plane. */
  stop(): Promise<void>;
}

export async function startKubeRehearsal(a: KubeRehearsalInput): Promise<KubeRehearsal> {
  a.log(
    "building (or finding cached) the control plane and the Kubernetes provider (scripts/build-kube.sh)...",
  );
  await buildKube();
  const controlPlane = await startControlPlane();
  const namespace = a.network.name;
  const releases = Object.fromEntries(
    Object.values(a.releases).map((r) => {
      const release = { ...r, tokensConfigDigest: TOKENS_DIGEST };
      return [
        nodeImage(release, a.network.chainId),
        {
          version: r.version,
          mrenclave: r.mrenclave,
          mrsigner: r.mrsigner ?? "0".repeat(64),
          tokensConfigDigest: TOKENS_DIGEST,
          blockVersion: r.blockVersion ?? 3,
          ledgerFormat: a.ledgerFormats[r.version] ?? 1,
          distributionStateFile: Boolean(r.distributionStateFile),
        },
      ];
    }),
  );
  const agentConfig: AgentConfig = {
    dir: path.resolve(a.dir),
    labels: { dcap: "true" },
    taints: [{ key: "dcap", value: "true", effect: "NoSchedule" }],
    resources: { "sgx.intel.com/epc": "128Mi" },
    releases,
    nodes: Object.fromEntries(
      a.network.nodes.map((n, i) => {
        const { admin, client, peer } = localPorts(a.basePort, i);
        return [n.name, { admin, client, peer }];
      }),
    ),
  };
  fs.mkdirSync(agentConfig.dir, { recursive: true });
  const agentLog = path.join(agentConfig.dir, "agent.log");
  const agent = new KubeAgent(controlPlane.kubeconfig, agentConfig, {
    log: (l) => fs.appendFileSync(agentLog, `${new Date().toISOString()} ${l}\n`),
  });
  const stops: (() => Promise<void>)[] = [() => controlPlane.stop()];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  try {
    await agent.start();
    stops.push(() => agent.stop());
    const ingress = new IngressStandIn(
      kubeApi(controlPlane.kubeconfig),
      agentConfig,
      SERVED_CLASS,
      a.basePort + 1,
    );
    const ingressPort = await ingress.start();
    stops.push(() => ingress.stop());
    await controlPlane.kubectl("create", "namespace", namespace);
    const objects = [
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "tokens", namespace },
        data: { "tokens.signed.json": REHEARSAL_TOKENS },
      },
      ...a.network.nodes.map((n) => ({
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: `${n.name}-msg-signer-key`, namespace },
        stringData: { MC_MSG_SIGNER_KEY: randomBytes(32).toString("base64") },
      })),
    ];
    const file = path.join(agentConfig.dir, "operator-objects.json");
    fs.writeFileSync(file, JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }), {
      mode: 0o600,
    });
    await controlPlane.kubectl("apply", "-f", file);
    fs.rmSync(file);
    const clientHost = (node: string) => `${node}.${a.network.name}.local`;
    const kubernetes: KubernetesPlatformArgs = {
      namespace,
      clientHost: `{node}.${a.network.name}.local`,
      storageClassName: agent.storageClassName,
      volumeSnapshotClassName: agent.storageClassName,
      ledgerSize: "1Gi",
      msgSignerKeySecret: "{node}-msg-signer-key",
      tokensConfigMap: "tokens",
      sgxResources: { "sgx.intel.com/epc": "512Ki" },
      nodeSelector: { dcap: "true" },
      tolerations: [{ key: "dcap", operator: "Equal", value: "true", effect: "NoSchedule" }],
      commandProvider: "flagday",
      snapshotTimeoutMinutes: 5,
    };
    const network = {
      ...a.network,
      nodes: a.network.nodes.map((n) => ({
        ...n,
        settings: {
          ...(n.settings ?? {}),
          adminUrl: `http://127.0.0.1:${agentConfig.nodes[n.name].admin}`,
          clientUrl: `http://127.0.0.1:${agentConfig.nodes[n.name].client}`,
        },
      })),
    };
    const stackConfig = {
      "flagday:platform": "kubernetes",
      "flagday:kubernetes": JSON.stringify(kubernetes),
      "flagday:network": JSON.stringify(network),
      "flagday:releases": JSON.stringify(
        Object.fromEntries(
          Object.entries(a.releases).map(([k, r]) => [k, { ...r, tokensConfigDigest: TOKENS_DIGEST }]),
        ),
      ),
    };
    return {
      controlPlane,
      agent,
      ingress,
      ingressPort,
      namespace,
      clientHost,
      env: {
        KUBECONFIG: controlPlane.kubeconfig,
        PATH: controlPlane.env.PATH ?? process.env.PATH ?? "",
      },
      stackConfig,
      agentConfig,
      stop,
    };
  } catch (e) {
    a.log(`the Kubernetes rehearsal did not start; the agent's log: ${agentLog}`);
    await stop();
    throw e;
  }
}

/** The committed rehearsal stack file's network, releases and simulated ledger formats: what a cluster needs. */
export function committedRehearsal(
  root: string,
): Pick<KubeRehearsalInput, "network" | "releases" | "ledgerFormats"> {
  const yaml = require("js-yaml") as { load(text: string): unknown };
  const file = yaml.load(fs.readFileSync(path.join(root, "stacks", "Pulumi.rehearsal.yaml"), "utf8")) as {
    config: Record<string, unknown>;
  };
  const c = file.config;
  return {
    network: c["flagday:network"] as KubeRehearsalInput["network"],
    releases: c["flagday:releases"] as Record<string, EnclaveRelease>,
    ledgerFormats: (c["flagday:local"] as { ledgerFormats?: Record<string, number> }).ledgerFormats ?? {},
  };
}
