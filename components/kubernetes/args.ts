import * as k8s from "@pulumi/kubernetes";
import { NetworkSpec, nodeSettingsProblems } from "../network";
import { describe } from "../release";

/** The client-facing Ingress: the gate. Peers talk over the nodes' peer Services and never pass through it. */
export interface KubernetesGateArgs {
  /** Namespace of the Ingress (and of the backend Services the gate creates for nodes outside the cluster). */
  readonly namespace: string;
  /** Client host of each node, `{node}` standing for its name, e.g. `{node}.test.mobilecoin.com`. */
  readonly clientHost: string;
  /** The controller that serves client traffic. @default "nginx" */
  readonly ingressClassName?: string;
  /**
   * An ingress class no controller serves: rejecting moves the client Ingress there, so every controller drops
   * its routes while the object (and the peer Services) stay as they are.
   * @default "flagday-closed"
   */
  readonly closedIngressClassName?: string;
  /** TLS secret for the client hosts. @default none (TLS terminated before the controller) */
  readonly tlsSecretName?: string;
  /** kubectl context the gate switches use. @default the current context */
  readonly context?: string;
  /** Provider for the gate's objects. @default the default provider */
  readonly provider?: k8s.Provider;
}

/** MobileCoin consensus nodes on Kubernetes, shaped like MobileCoin's chart-consensus-node. */
export interface KubernetesPlatformArgs extends KubernetesGateArgs {
  /** Node image repository; the tag is `<version>-<chainId>` unless the release names a full image. @default "mobilecoin/node_hw" */
  readonly imageRepository?: string;
  /** Storage class of the ledger PVCs; must support CSI snapshots. @default the cluster's default */
  readonly storageClassName?: string;
  /** @default "512Gi" (MobileCoin's Helm chart) */
  readonly ledgerSize?: string;
  /** VolumeSnapshotClass the flag-day snapshots use. */
  readonly volumeSnapshotClassName: string;
  /**
   * Secret holding each node's message-signer key under the key `MC_MSG_SIGNER_KEY`, `{node}` standing for the
   * node's name, e.g. `{node}-msg-signer-key`. Created by the operators, never by this program, so the key is
   * never in stack config or Pulumi state.
   */
  readonly msgSignerKeySecret: string;
  /** ConfigMap holding `tokens.signed.json`; checked at start against the release's `tokensConfigDigest`. */
  readonly tokensConfigMap: string;
  /** Extended resources the node's pod needs for SGX, e.g. `{ "sgx.intel.com/epc": "10Mi" }`. @default none */
  readonly sgxResources?: Readonly<Record<string, string>>;
  /** RUST_LOG of every node (per node: `settings.logLevel`). @default "info" */
  readonly logLevel?: string;
  /**
   * How the operator's machine (the checks) reaches a node's admin gateway and client port, `{node}` and
   * `{namespace}` standing for the node and namespace. @default the cluster DNS names (run the checks in-cluster
   * or over a VPN into the cluster network)
   */
  readonly adminUrl?: string;
  readonly clientUrl?: string;
}

/** Per-node settings (`flagday:network.nodes[i].settings`) the Kubernetes platform understands. */
export const KUBERNETES_NODE_SETTINGS = ["cpu", "memory", "logLevel", "msgPublicKey"] as const;

const DNS = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Reads and checks `flagday:kubernetes`; throws one error listing every problem with its fix. */
export function kubernetesPlatformArgs(raw: unknown, where: string): KubernetesPlatformArgs {
  const problems = kubernetesArgsProblems(raw, where);
  if (problems.length > 0) {
    throw new Error(
      `flagday: invalid Kubernetes settings (nothing was changed):\n` +
        problems.map((p) => `  - ${p}`).join("\n"),
    );
  }
  return raw as KubernetesPlatformArgs;
}

export function kubernetesArgsProblems(raw: unknown, where: string): string[] {
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) {
    return [`${where} is missing: set it to the Kubernetes settings (see README.md).`];
  }
  const a = raw as Record<string, unknown>;
  const problems: string[] = [];
  const str = (field: string, test: RegExp | undefined, fix: string, optional = false) => {
    const v = a[field];
    if (optional && v === undefined) return;
    if (typeof v !== "string" || v.length === 0 || (test && !test.test(v))) {
      problems.push(`${where}.${field} ${fix} (got ${describe(v)}).`);
    }
  };
  str("namespace", DNS, "must be a namespace name (lowercase letters, digits, dashes)");
  str(
    "clientHost",
    /^\{node\}\.[a-z0-9.-]+$/,
    "must be the client host with {node} for the node, like {node}.test.mobilecoin.com",
  );
  str("ingressClassName", DNS, "must name the ingress class serving clients, like nginx", true);
  str(
    "closedIngressClassName",
    DNS,
    "must name an ingress class no controller serves, like flagday-closed",
    true,
  );
  if (
    a.closedIngressClassName !== undefined &&
    a.closedIngressClassName === (a.ingressClassName ?? "nginx")
  ) {
    problems.push(
      `${where}.closedIngressClassName must differ from ingressClassName, or rejecting would change nothing.`,
    );
  }
  str("tlsSecretName", DNS, "must name a TLS secret, or be removed", true);
  str("context", undefined, "must name a kubectl context, or be removed", true);
  str(
    "imageRepository",
    undefined,
    "must be an image repository like mobilecoin/node_hw, or be removed",
    true,
  );
  str("storageClassName", DNS, "must name a storage class with CSI snapshot support, or be removed", true);
  str("ledgerSize", /^\d+(Gi|Ti)$/, "must be a size like 512Gi", true);
  str("volumeSnapshotClassName", DNS, "must name the VolumeSnapshotClass for the flag-day snapshots");
  str(
    "msgSignerKeySecret",
    /^([a-z0-9-]*\{node\}[a-z0-9-]*)$/,
    "must name the per-node signer key Secret with {node}, like {node}-msg-signer-key",
  );
  str("tokensConfigMap", DNS, "must name the ConfigMap holding tokens.signed.json");
  str("logLevel", undefined, "must be a RUST_LOG value like info", true);
  str(
    "adminUrl",
    /\{node\}/,
    "must contain {node}, like http://{node}-peer.{namespace}.svc.cluster.local:8000",
    true,
  );
  str(
    "clientUrl",
    /\{node\}/,
    "must contain {node}, like insecure-mc://{node}-client.{namespace}.svc.cluster.local:3223/",
    true,
  );
  return problems;
}

export function kubernetesNodeSettingsProblems(network: NetworkSpec, where = "flagday:network"): string[] {
  return nodeSettingsProblems(network, KUBERNETES_NODE_SETTINGS, "a Kubernetes", where);
}
