import * as k8s from "@pulumi/kubernetes";
import { NetworkSpec, nodeSettingsProblems } from "../network";
import { describe, EnclaveRelease, sgxModeOf } from "../release";
import { COMMAND_PROVIDERS, CommandProvider } from "../operatorCommand";

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

/** A taint the consensus pods tolerate: core/v1 Toleration. */
export interface KubernetesToleration {
  /** The taint's key; with `operator: Exists` and no key, every taint is tolerated. */
  readonly key?: string;
  /** @default "Equal" */
  readonly operator?: "Equal" | "Exists";
  /** The taint's value, for `Equal`; a string (quote `"true"` in YAML). */
  readonly value?: string;
  /** @default every effect */
  readonly effect?: "NoSchedule" | "PreferNoSchedule" | "NoExecute";
  /** How long a `NoExecute` taint is tolerated once it appears. @default for ever */
  readonly tolerationSeconds?: number;
}

export type SgxQuoteProvider = "in-process" | "aesmd";
export const SGX_QUOTE_PROVIDERS: readonly SgxQuoteProvider[] = ["in-process", "aesmd"];
const TAINT_EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"];

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
   * How long a snapshot may take to become ready to use (the warm one before the window, and the window's own
   * seal), minutes. A first CSI snapshot of a large disk copies all of it; after the warm one, only what changed.
   * @default 240
   */
  readonly snapshotTimeoutMinutes?: number;
  /**
   * Secret holding each node's message-signer key under the key `MC_MSG_SIGNER_KEY`, `{node}` standing for the
   * node's name, e.g. `{node}-msg-signer-key`. Created by the operators, never by this program, so the key is
   * never in stack config or Pulumi state.
   */
  readonly msgSignerKeySecret: string;
  /** ConfigMap holding `tokens.signed.json`; checked at start against the release's `tokensConfigDigest`. */
  readonly tokensConfigMap: string;
  /**
   * Extended resources the consensus container requests, and is limited to, for SGX: the SGX device plugin's
   * enclave page cache, e.g. `{ "sgx.intel.com/epc": "512Ki" }` as MobileCoin's chart-consensus-node requests
   * (`node.resources` in .internal-ci/helm/consensus-node/values.yaml at v6.0.2; `intel.com/sgx: 5000` up to
   * v5.x). Other plugins name it otherwise (AKS's confcom add-on has documented
   * `kubernetes.azure.com/sgx_epc_mem_in_MiB`): use the name `kubectl describe node` shows. A hardware-mode
   * release needs one: without it the pod gets no SGX device and the enclave cannot load
   * (kubernetesReleaseProblems).
   * @default none (software-mode releases only)
   */
  readonly sgxResources?: Readonly<Record<string, string>>;
  /**
   * Labels a cluster node must carry for a consensus pod (and its migration Jobs, which then run where the
   * ledger volume can attach) to be scheduled there: the SGX node pool's. MobileCoin's chart uses
   * `{ dcap: "true" }` (`node.nodeSelector`, values.yaml at v6.0.2; `{ sgx-enabled-node: "true" }` before its
   * DCAP move, commit 4f46b13 "Enables dcap", January 2024). Values are strings: quote `"true"` in YAML.
   * @default none (any node the resources fit)
   */
  readonly nodeSelector?: Readonly<Record<string, string>>;
  /**
   * Taints of the SGX node pool the consensus pods (and migration Jobs) tolerate. MobileCoin's chart:
   * `[{ key: dcap, operator: Equal, value: "true", effect: NoSchedule }]` (`node.tolerations`, values.yaml).
   * @default none
   */
  readonly tolerations?: readonly KubernetesToleration[];
  /**
   * Where the enclave's DCAP attestation quotes come from, when `sgxResources` is set:
   * - `in-process`: the image carries the quote library and its PCCS settings (MobileCoin's node_hw since v6:
   *   dcap-runtime-base installs libsgx-dcap-ql and Azure's /etc/sgx_default_qcnl.conf). The pod annotation
   *   `sgx.intel.com/quote-provider` names the consensus container, so Intel's SGX admission webhook also
   *   gives it `/dev/sgx_provision`, as MobileCoin's chart does (`node.podAnnotations`).
   * - `aesmd`: a quoting daemon on the host (Intel's aesmd DaemonSet, AKS's SGX quote helper) serves quotes on
   *   its socket: `aesmdSocket` is mounted at /var/run/aesmd and `SGX_AESM_ADDR=1` is set.
   * @default "in-process"
   */
  readonly sgxQuoteProvider?: SgxQuoteProvider;
  /** Host directory holding aesmd's socket, for `sgxQuoteProvider: aesmd`. @default "/var/run/aesmd" */
  readonly aesmdSocket?: string;
  /** RUST_LOG of every node (per node: `settings.logLevel`). @default "info" */
  readonly logLevel?: string;
  /**
   * How the operator's machine (the checks) reaches a node's admin gateway and client port, `{node}` and
   * `{namespace}` standing for the node and namespace. @default the cluster DNS names (run the checks in-cluster
   * or over a VPN into the cluster network)
   */
  readonly adminUrl?: string;
  readonly clientUrl?: string;
  /**
   * What runs the stage steps' kubectl commands, the checks and the gate switches on the operator's machine:
   * `pulumi-command` (@pulumi/command's local.Command) or `flagday` (flagday's own provider, no plugin to
   * install: for machines that cannot fetch that plugin). operatorCommand.ts says more. @default "pulumi-command"
   */
  readonly commandProvider?: CommandProvider;
}

/** Per-node settings (`flagday:network.nodes[i].settings`) the Kubernetes platform understands. */
export const KUBERNETES_NODE_SETTINGS = [
  "cpu",
  "memory",
  "logLevel",
  "msgPublicKey",
  // How the operator's machine reaches this node, over the platform's adminUrl / clientUrl templates.
  "adminUrl",
  "clientUrl",
] as const;

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
    return [`${where} is missing: set it to the Kubernetes settings (see stacks/Pulumi.testnet.yaml).`];
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
  if (a.commandProvider !== undefined && !COMMAND_PROVIDERS.includes(a.commandProvider as CommandProvider)) {
    problems.push(
      `${where}.commandProvider must be pulumi-command (@pulumi/command's plugin) or flagday (flagday's own, no ` +
        `plugin to install), or be removed (got ${describe(a.commandProvider)}).`,
    );
  }
  return [...problems, ...sgxSettingsProblems(a, where)];
}

const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_PREFIX = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const QUANTITY = /^\d+(\.\d+)?(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$/;

/** A label key (or an extended resource name): an optional DNS-subdomain prefix and `/`, then a name. */
function isQualifiedName(key: string, prefixRequired = false): boolean {
  const cut = key.lastIndexOf("/");
  if (cut < 0) return !prefixRequired && LABEL_NAME.test(key);
  return LABEL_PREFIX.test(key.slice(0, cut)) && LABEL_NAME.test(key.slice(cut + 1));
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** sgxResources, nodeSelector, tolerations, sgxQuoteProvider and aesmdSocket: what puts a pod on an SGX node. */
function sgxSettingsProblems(a: Record<string, unknown>, where: string): string[] {
  const problems: string[] = [];
  if (a.sgxResources !== undefined) {
    const r = a.sgxResources;
    if (!isRecord(r) || Object.keys(r).length === 0) {
      problems.push(
        `${where}.sgxResources must map the SGX device plugin's resources to quantities, like ` +
          `{"sgx.intel.com/epc": "512Ki"} (got ${describe(r)}).`,
      );
    } else {
      for (const [name, q] of Object.entries(r)) {
        if (!isQualifiedName(name, true)) {
          problems.push(
            `${where}.sgxResources names ${describe(name)}, which is not an extended resource name like ` +
              `sgx.intel.com/epc.`,
          );
        }
        if (typeof q !== "string" || !QUANTITY.test(q)) {
          problems.push(
            `${where}.sgxResources["${name}"] must be a quantity in quotes, like "512Ki" (got ${describe(q)}).`,
          );
        }
      }
    }
  }
  if (a.nodeSelector !== undefined) {
    const sel = a.nodeSelector;
    if (!isRecord(sel) || Object.keys(sel).length === 0) {
      problems.push(
        `${where}.nodeSelector must map the SGX nodes' labels to values, like {dcap: "true"}, or be removed ` +
          `(got ${describe(sel)}).`,
      );
    } else {
      for (const [key, v] of Object.entries(sel)) {
        if (!isQualifiedName(key)) {
          problems.push(`${where}.nodeSelector names ${describe(key)}, which is not a label key.`);
        }
        if (typeof v !== "string" || (v !== "" && !LABEL_NAME.test(v))) {
          problems.push(
            `${where}.nodeSelector.${key} must be a label value in quotes, like "true" (got ${describe(v)}): ` +
              `Kubernetes takes strings only.`,
          );
        }
      }
    }
  }
  if (a.tolerations !== undefined) {
    if (!Array.isArray(a.tolerations) || a.tolerations.length === 0) {
      problems.push(
        `${where}.tolerations must list the SGX nodes' taints, like [{key: dcap, operator: Equal, ` +
          `value: "true", effect: NoSchedule}], or be removed (got ${describe(a.tolerations)}).`,
      );
    } else {
      a.tolerations.forEach((t: unknown, i: number) =>
        problems.push(...tolerationProblems(t, `${where}.tolerations[${i}]`)),
      );
    }
  }
  const provider = a.sgxQuoteProvider;
  if (provider !== undefined) {
    if (!SGX_QUOTE_PROVIDERS.includes(provider as SgxQuoteProvider)) {
      problems.push(
        `${where}.sgxQuoteProvider must be in-process (the image generates its own DCAP quotes, as MobileCoin's ` +
          `node_hw does) or aesmd (a quoting daemon on the host) (got ${describe(provider)}).`,
      );
    } else if (a.sgxResources === undefined) {
      problems.push(
        `${where}.sgxQuoteProvider has no effect without sgxResources: set both for a hardware-mode enclave, ` +
          `or remove it.`,
      );
    }
  }
  if (a.aesmdSocket !== undefined) {
    if (typeof a.aesmdSocket !== "string" || !/^\/[^\s]*$/.test(a.aesmdSocket)) {
      problems.push(
        `${where}.aesmdSocket must be the host directory of aesmd's socket, like /var/run/aesmd ` +
          `(got ${describe(a.aesmdSocket)}).`,
      );
    } else if (provider !== "aesmd") {
      problems.push(
        `${where}.aesmdSocket is only mounted with sgxQuoteProvider: aesmd: set that too, or remove aesmdSocket.`,
      );
    }
  }
  return problems;
}

function tolerationProblems(t: unknown, at: string): string[] {
  if (!isRecord(t)) {
    return [
      `${at} must be a toleration like {key: dcap, operator: Equal, value: "true", effect: NoSchedule}.`,
    ];
  }
  const problems: string[] = [];
  const known = ["key", "operator", "value", "effect", "tolerationSeconds"];
  for (const field of Object.keys(t).filter((f) => !known.includes(f))) {
    problems.push(`${at}.${field} is not a toleration field (known: ${known.join(", ")}).`);
  }
  const operator = t.operator ?? "Equal";
  if (operator !== "Equal" && operator !== "Exists") {
    problems.push(`${at}.operator must be Equal or Exists (got ${describe(t.operator)}).`);
  }
  if (t.key !== undefined && (typeof t.key !== "string" || !isQualifiedName(t.key))) {
    problems.push(`${at}.key must be the taint's key, like dcap (got ${describe(t.key)}).`);
  }
  if (operator === "Equal") {
    if (t.key === undefined) problems.push(`${at}.key is required with operator Equal.`);
    if (typeof t.value !== "string" || (t.value !== "" && !LABEL_NAME.test(t.value))) {
      problems.push(
        `${at}.value must be the taint's value in quotes, like "true" (got ${describe(t.value)}).`,
      );
    }
  } else if (operator === "Exists" && t.value !== undefined) {
    problems.push(`${at}.value must be removed with operator Exists (it matches any value).`);
  }
  if (t.effect !== undefined && !TAINT_EFFECTS.includes(t.effect as string)) {
    problems.push(
      `${at}.effect must be one of ${TAINT_EFFECTS.join(", ")}, or be removed (got ${describe(t.effect)}).`,
    );
  }
  if (t.tolerationSeconds !== undefined) {
    if (!Number.isInteger(t.tolerationSeconds) || (t.tolerationSeconds as number) < 0) {
      problems.push(
        `${at}.tolerationSeconds must be a whole number of seconds (got ${describe(t.tolerationSeconds)}).`,
      );
    } else if (t.effect !== "NoExecute") {
      problems.push(
        `${at}.tolerationSeconds only applies to effect NoExecute: remove it or set that effect.`,
      );
    }
  }
  return problems;
}

/** Whether the settings request an SGX resource from a device plugin (Intel's or AKS's). */
export function requestsSgx(args: Pick<KubernetesPlatformArgs, "sgxResources">): boolean {
  return Object.keys(args.sgxResources ?? {}).some((name) => /sgx/i.test(name));
}

/**
 * Why the Kubernetes platform, as configured, cannot run the network's enclave: a hardware-mode release on a
 * pod that requests no SGX resource would land on a node without SGX (or get no SGX device) and never load.
 * Checked with the node settings, before anything is registered; per-node releases too.
 */
export function kubernetesReleaseProblems(
  network: NetworkSpec,
  args: Pick<KubernetesPlatformArgs, "sgxResources">,
  where = "flagday:network",
  argsWhere = "flagday:kubernetes",
): string[] {
  if (requestsSgx(args)) return [];
  const refuse = (field: string, r: EnclaveRelease | undefined): string[] =>
    r === undefined || sgxModeOf(r) !== "hardware"
      ? []
      : [
          `${field} (${r.version}) is a hardware-mode SGX enclave` +
            `${r.sgxMode === undefined ? " (sgxMode defaults to hardware)" : ""}, but ${argsWhere}.sgxResources ` +
            `requests no SGX resource, so the pod would get no SGX device and the enclave would not load. Set ` +
            `${argsWhere}.sgxResources to the SGX device plugin's resource, like {"sgx.intel.com/epc": "512Ki"} ` +
            `(MobileCoin's chart), with nodeSelector and tolerations for the SGX node pool; or, for a ` +
            `development network only, use a software-mode build (sgxMode: software).`,
        ];
  return [
    ...refuse(`${where}.release`, network.release),
    ...network.nodes.flatMap((n, i) => refuse(`${where}.nodes[${i}].release`, n.release)),
  ];
}

/**
 * Node settings the Kubernetes platform does not understand: caught before anything is registered. With
 * `operator` (the stack's, in a network of several) only that operator's nodes; of the others only msgPublicKey.
 */
export function kubernetesNodeSettingsProblems(
  network: NetworkSpec,
  where = "flagday:network",
  operator?: string,
): string[] {
  return nodeSettingsProblems(network, KUBERNETES_NODE_SETTINGS, "a Kubernetes", where, operator);
}
