/**
 * The Kubernetes platform's object specs and commands, as plain functions of plain values (after MobileCoin's
 * chart-consensus-node): platform.ts only wires them into resources, and tests read them without mocks.
 */
import { createHash } from "node:crypto";
import {
  ADMIN_PORT,
  adminGatewayArgs,
  CLIENT_PORT,
  consensusServiceArgs,
  DISTRIBUTION_STATE_FILE,
  ENCLAVE_IN_IMAGE,
  LEDGER_DB_FILE,
  LEDGER_PATH,
  PEER_PORT,
  shellQuote as q,
} from "../mobilecoin";
import type { KubernetesPlatformArgs, KubernetesToleration, SgxQuoteProvider } from "./args";

export const short = (s: string) => createHash("sha256").update(s).digest("hex").slice(0, 8);

/** A Kubernetes object name of at most `max` characters, kept unique by a digest when it must be cut. */
export function kubeName(s: string, max = 63): string {
  return s.length <= max ? s : `${s.slice(0, max - 9).replace(/-+$/, "")}-${short(s)}`;
}

/** The name of a node stage's object (Job, VolumeSnapshot, restored PVC) in a transition. */
export const stageObjectName = (node: string, stage: string, transitionId: string) =>
  kubeName(`${node}-${stage}-${short(transitionId)}`);

/** The labels that select a node's pod: its Services and the stop step find it by these. */
export function nodeSelector(node: string): Record<string, string> {
  return { "app.kubernetes.io/name": "consensus-node", "app.kubernetes.io/instance": node };
}

/** `kubectl` for the platform's namespace and context. */
export function kubectl(namespace: string, context?: string): string {
  return `kubectl${context ? ` --context ${q(context)}` : ""} -n ${q(namespace)}`;
}

/** Scale the node's Deployment to zero and wait for its pod to be gone: the snapshot then sees a closed LMDB. */
export function stopCommand(kubectlPrefix: string, selector: Record<string, string>): string {
  const select = Object.entries(selector)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
  return [
    `${kubectlPrefix} scale deployment -l ${q(select)} --replicas=0`,
    `${kubectlPrefix} wait --for=delete pod -l ${q(select)} --timeout=600s`,
  ].join(" && ");
}

/** One permission a stage needs, as `kubectl auth can-i` takes it: `<verb> <resource>[ --subresource=<s>]`. */
export type KubeAccess = string;

/**
 * What each stage does through kubectl or the provider, as permissions: the pre-flight asks for exactly those
 * of the stages its sequence runs, so a flag day never closes the ingress to meet a Forbidden part-way.
 */
export const STAGE_ACCESS: Readonly<Record<string, readonly KubeAccess[]>> = {
  // stopCommand: `scale deployment -l` lists the Deployments and patches their scale; `wait` watches the pods.
  stop: ["list deployments", "patch deployments --subresource=scale", "list pods", "watch pods"],
  // The gate's switches (ingressClassPatch).
  "ingress-reject": ["patch ingresses.networking.k8s.io"],
  // ingressAcceptCommand: the switch and the transition's reopened mark.
  "ingress-accept": ["patch ingresses.networking.k8s.io", "get configmaps", "create configmaps"],
  // ingressClosedTest, for the rollback of a flag day that failed part-way.
  "rollback-guard": ["get ingresses.networking.k8s.io", "get configmaps"],
  "warm-snapshot": ["create volumesnapshots.snapshot.storage.k8s.io"],
  pull: ["create jobs.batch"],
  snapshot: ["create volumesnapshots.snapshot.storage.k8s.io"],
  seal: ["get volumesnapshots.snapshot.storage.k8s.io", "watch volumesnapshots.snapshot.storage.k8s.io"],
  migrate: ["create jobs.batch"],
  "reverse-migrate": ["create jobs.batch"],
  restore: ["create persistentvolumeclaims"],
  // The new server: its image host (imageHostCommand reads the Deployments and the pre-pull's pods), a
  // ConfigMap and a Deployment, the old Deployment deleted first.
  start: ["list deployments", "list pods", "create configmaps", "create deployments", "delete deployments"],
};

/** The permissions a sequence of stages needs, each once, in stage order. */
export function accessFor(stages: readonly string[]): KubeAccess[] {
  return [...new Set(stages.flatMap((s) => STAGE_ACCESS[s] ?? []))];
}

/**
 * The pre-flight of a node: kubectl (the platform's context and namespace) may do everything the stages need
 * (`kubectl auth can-i`, every denial named at once), and the node's Deployment is there, found by its
 * labels as the stop step finds it (a wrong context or namespace finds none). Read-only.
 */
export function preflightCommand(
  kubectlPrefix: string,
  node: string,
  selector: Record<string, string>,
  access: readonly KubeAccess[],
): string {
  const select = Object.entries(selector)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
  const say = (text: string) => q(`flagday: pre-flight of ${node}: ${text}`);
  return [
    `denied=""`,
    `for a in ${access.map(q).join(" ")}; do`,
    `  ${kubectlPrefix} auth can-i --quiet $a || denied="$denied; $a"`,
    `done`,
    `if [ -n "$denied" ]; then`,
    `  echo ${say(`\`${kubectlPrefix}\` may not:`)}"\${denied#;}" >&2; exit 1`,
    `fi`,
    `found=$(${kubectlPrefix} get deployment -l ${q(select)} -o name) || exit 1`,
    `if [ -z "$found" ]; then`,
    `  echo ${say(`no Deployment labelled ${select} where \`${kubectlPrefix}\` looks (wrong context or namespace?)`)} >&2; exit 1`,
    `fi`,
    `echo ${say("ok:")}" $found; ${access.length} permission(s) in place"`,
  ].join("\n");
}

/** The gate's switch: move the client Ingress to an ingress class. */
export function ingressClassPatch(kubectlPrefix: string, ingress: string, ingressClass: string): string {
  return (
    `${kubectlPrefix} patch ingress ${q(ingress)} --type=merge -p ` +
    q(JSON.stringify({ spec: { ingressClassName: ingressClass } }))
  );
}

/**
 * The gate's accept for a transition: the switch, then a ConfigMap `mark` saying this transition reopened the
 * ingress (created once; a re-run finds it). A ConfigMap the stack does not own, because the stack's own apply
 * of the Ingress removes annotations that others added (found on the real control plane).
 */
export function ingressAcceptCommand(
  kubectlPrefix: string,
  ingress: string,
  ingressClass: string,
  mark: string,
  transitionId: string,
): string {
  return (
    `${ingressClassPatch(kubectlPrefix, ingress, ingressClass)} && ` +
    `{ ${kubectlPrefix} get configmap ${q(mark)} -o name >/dev/null 2>&1 || ` +
    `${kubectlPrefix} create configmap ${q(mark)} --from-literal=transition=${q(transitionId)}; }`
  );
}

/**
 * Exits 0 iff the client Ingress is on the closed class and the transition never reopened it (no `mark`). Any
 * error reading either (access, network) exits non-zero: "clients may have been served", the safe answer.
 */
export function ingressClosedTest(
  kubectlPrefix: string,
  ingress: string,
  closedClass: string,
  mark: string,
): string {
  return (
    `{ c=$(${kubectlPrefix} get ingress ${q(ingress)} -o jsonpath='{.spec.ingressClassName}') && ` +
    `[ "$c" = ${q(closedClass)} ] && m=$(${kubectlPrefix} get configmap ${q(mark)} --ignore-not-found -o name) && ` +
    `[ -z "$m" ]; }`
  );
}

/** A ledger claim: the node's own, or one a restore makes from a VolumeSnapshot. */
export function ledgerClaimSpec(a: {
  readonly size?: string;
  readonly storageClassName?: string;
  readonly fromSnapshot?: string;
}) {
  return {
    accessModes: ["ReadWriteOnce"],
    ...(a.storageClassName ? { storageClassName: a.storageClassName } : {}),
    resources: { requests: { storage: a.size ?? "512Gi" } },
    ...(a.fromSnapshot !== undefined
      ? { dataSource: { apiGroup: "snapshot.storage.k8s.io", kind: "VolumeSnapshot", name: a.fromSnapshot } }
      : {}),
  };
}

/** The annotation a flag-day VolumeSnapshot carries its block height in: the rollback guard reads it. */
export const HEIGHT_ANNOTATION = "flagday/height";

/**
 * A CSI snapshot of the node's stopped ledger claim, annotated with what it holds and its height. Inside the
 * window the step waits only until it is cut (`creationTime`: the point in time is taken); the seal stage waits
 * for `readyToUse` later, beside the start and the checks.
 */
export function volumeSnapshotSpec(a: {
  readonly claim: string;
  readonly volumeSnapshotClassName: string;
  readonly height: string;
  readonly hasStateFile: boolean;
}) {
  return {
    annotations: {
      // ledger-distribution's state file sits on the same volume up to v6.0.0: one snapshot holds both.
      "flagday/contents": a.hasStateFile ? `${LEDGER_DB_FILE} ${DISTRIBUTION_STATE_FILE}` : LEDGER_DB_FILE,
      [HEIGHT_ANNOTATION]: a.height,
      // The migration must not touch the volume before the snapshot is cut (its point in time taken).
      "pulumi.com/waitFor": "jsonpath={.status.creationTime}",
    },
    spec: {
      volumeSnapshotClassName: a.volumeSnapshotClassName,
      source: { persistentVolumeClaimName: a.claim },
    },
  };
}

/**
 * The prepare stage's warm snapshot of the live claim (crash-consistent, as CSI snapshots of attached disks are):
 * awaited until ready, before the window, so the window's snapshot of the same disk is incremental.
 */
export function warmSnapshotSpec(a: { readonly claim: string; readonly volumeSnapshotClassName: string }) {
  return {
    annotations: { "pulumi.com/waitFor": "jsonpath={.status.readyToUse}=true" },
    spec: {
      volumeSnapshotClassName: a.volumeSnapshotClassName,
      source: { persistentVolumeClaimName: a.claim },
    },
  };
}

/** The seal: wait until the window's VolumeSnapshot is ready to use (complete), or fail after the timeout. */
export function sealCommand(kubectlPrefix: string, snapshot: string, timeoutSeconds: number): string {
  return (
    `${kubectlPrefix} wait volumesnapshot/${q(snapshot)} --for=jsonpath='{.status.readyToUse}'=true ` +
    `--timeout=${timeoutSeconds}s`
  );
}

/**
 * The prepare stage's pre-pull: a Job with the target image on the host that runs the node's pod now (pod
 * affinity on the node's labels), checking the sha256 of the enclave the image carries. The transition's new pod
 * then prefers that host (imageHostCommand, preferHostAffinity).
 */
export function prePullJobSpec(a: {
  readonly image: string;
  readonly enclaveSha256: string;
  readonly podLabels: Readonly<Record<string, string>>;
  readonly sgx?: SgxPodSettings;
}) {
  const check = [
    `got="$(sha256sum ${ENCLAVE_IN_IMAGE} | cut -d' ' -f1)"`,
    `[ "$got" = ${q(a.enclaveSha256)} ] || { echo "flagday: the enclave in ${a.image} has sha256 $got, not the release's ${a.enclaveSha256}" >&2; exit 1; }`,
    `echo "enclave sha256 ${a.enclaveSha256} checked"`,
  ].join("\n");
  return oneShotJobSpec(
    { name: "pull", image: a.image, command: ["/bin/sh", "-c", check] },
    {
      ...placementSpec(a.sgx),
      affinity: {
        podAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: [
            { labelSelector: { matchLabels: { ...a.podLabels } }, topologyKey: "kubernetes.io/hostname" },
          ],
        },
      },
    },
  );
}

/** Where a Deployment's pod template names its preferred host (preferHostAffinity), as kubectl's jsonpath. */
const PREFERRED_HOST_PATH =
  ".spec.template.spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].preference.matchFields[0].values[0]";

/**
 * The image host of a transition's new server: the Node its pre-pull Job ran on (that pod's `spec.nodeName`),
 * printed alone, for the new Deployment to prefer (preferHostAffinity). Read, not left to the scheduler: the
 * scheduler ignores finished pods, so pod affinity to the completed pull pod would steer nothing. It runs as the
 * server starts and never fails the start: what it cannot read (no succeeded pod, an API error) is a warning on
 * stderr and no preference, which costs at most a pull inside the window.
 *
 * When the node's Deployment already runs this transition (its `flagday/generation`), it prints the host that
 * Deployment prefers, or nothing: run again (a flagday upgrade that changed this text), or for the first time
 * for a flag day an earlier flagday ran without it, it leaves that Deployment exactly as it is.
 */
export function imageHostCommand(a: {
  readonly kubectl: string;
  readonly node: string;
  /** The pre-pull Job's name. */
  readonly job: string;
  readonly selector: Readonly<Record<string, string>>;
  readonly transitionId: string;
}): string {
  const select = Object.entries(a.selector)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
  const k = a.kubectl;
  const none = (why: string) =>
    `{ echo ${q(`flagday: ${a.node}: ${why}; its new pod prefers no host (and pulls the image if it lands where it is missing)`)} >&2; exit 0; }`;
  return [
    `deps=$(${k} get deployment -l ${q(select)} -o jsonpath='{range .items[*]}{.metadata.annotations.flagday/generation}{" "}{${PREFERRED_HOST_PATH}}{"\\n"}{end}') || ${none("could not read its Deployment")}`,
    `while read -r gen host; do`,
    `  if [ "$gen" = ${q(a.transitionId)} ]; then echo "$host"; exit 0; fi`,
    `done <<EOF`,
    `$deps`,
    `EOF`,
    `hosts=$(${k} get pods -l ${q(`job-name=${a.job}`)} --field-selector=status.phase=Succeeded -o jsonpath='{.items[*].spec.nodeName}') || ${none(`could not read the pods of its pre-pull Job ${a.job}`)}`,
    `[ -n "$hosts" ] || ${none(`its pre-pull Job ${a.job} has no succeeded pod (removed by a TTL or the pod garbage collector?)`)}`,
    `echo "\${hosts%% *}"`,
  ].join("\n");
}

/** A Node's name as the API server accepts it in a node field selector: a DNS-1123 subdomain. */
const NODE_NAME = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * What a transition's new pod prefers: the Node that pulled its image before the window (imageHostCommand's
 * output), matched by name (`metadata.name`, what `spec.nodeName` holds; the `kubernetes.io/hostname` label can
 * differ from it). Preferred (weight 100, the most), never required: a host drained or full since must not keep
 * the node from starting; another host only costs a pull inside the window. No host, or text that is no Node's
 * name: no preference, and the pod spec has no `affinity` at all.
 */
export function preferHostAffinity(host: string | undefined) {
  const name = host?.trim() ?? "";
  if (!NODE_NAME.test(name)) return undefined;
  return {
    nodeAffinity: {
      preferredDuringSchedulingIgnoredDuringExecution: [
        {
          weight: 100,
          preference: { matchFields: [{ key: "metadata.name", operator: "In", values: [name] }] },
        },
      ],
    },
  };
}
export type HostPreference = NonNullable<ReturnType<typeof preferHostAffinity>>;

/** The consensus container: the one whose enclave needs SGX, named by the quote-provider annotation. */
export const CONSENSUS_CONTAINER = "consensus";
/** Where SGX software looks for aesmd's socket (`aesm.socket`). */
export const AESMD_PATH = "/var/run/aesmd";
/** The Intel SGX admission webhook's pod annotation: which container generates its own quotes, or `aesmd`. */
export const QUOTE_PROVIDER_ANNOTATION = "sgx.intel.com/quote-provider";
/** The webhook's own name for the socket volume: with it, the webhook adds no second one. */
const AESMD_VOLUME = "aesmd-socket";

/**
 * Where a node's pods run and how its enclave gets attestation quotes, after MobileCoin's chart-consensus-node
 * (.internal-ci/helm/consensus-node/ at v6.0.2, .internal-ci/helm/chart-consensus-node/ on main): values.yaml
 * `node.nodeSelector` {dcap: "true"}, `node.tolerations` dcap=true:NoSchedule, `node.resources`
 * sgx.intel.com/epc 512Ki as request and limit, and the pod annotation `sgx.intel.com/quote-provider: node`
 * (its container's name) for in-process DCAP quotes. The chart sets no SGX_MODE or IAS_MODE at run time: both
 * are build-time settings of the enclave (BUILD.md), and IAS went with the DCAP move.
 */
export interface SgxPodSettings {
  readonly nodeSelector?: Readonly<Record<string, string>>;
  readonly tolerations?: readonly KubernetesToleration[];
  /** Set only when the pod requests SGX resources. */
  readonly quoteProvider?: SgxQuoteProvider;
  /** The host directory mounted at /var/run/aesmd, with quoteProvider aesmd. */
  readonly aesmdSocket?: string;
}

/** The platform's SGX settings with their defaults: quoting only matters on a pod that requests SGX. */
export function sgxPodSettings(
  a: Pick<
    KubernetesPlatformArgs,
    "sgxResources" | "nodeSelector" | "tolerations" | "sgxQuoteProvider" | "aesmdSocket"
  >,
): SgxPodSettings {
  const quoteProvider = a.sgxResources ? (a.sgxQuoteProvider ?? "in-process") : undefined;
  return {
    ...(a.nodeSelector ? { nodeSelector: { ...a.nodeSelector } } : {}),
    ...(a.tolerations ? { tolerations: a.tolerations.map((t) => ({ ...t })) } : {}),
    ...(quoteProvider ? { quoteProvider } : {}),
    ...(quoteProvider === "aesmd" ? { aesmdSocket: a.aesmdSocket ?? AESMD_PATH } : {}),
  };
}

/** A pod's node selector and tolerations: the consensus pod's, and its Jobs' (they run where its ledger attaches). */
export function placementSpec(s: SgxPodSettings = {}) {
  return {
    ...(s.nodeSelector ? { nodeSelector: { ...s.nodeSelector } } : {}),
    ...(s.tolerations ? { tolerations: s.tolerations.map((t) => ({ ...t })) } : {}),
  };
}

/** A Job that runs `commands` in `image` on the node's ledger claim; awaited to completion, never retried. */
export function ledgerJobSpec(a: {
  readonly container: string;
  readonly image: string;
  readonly claim: string;
  readonly commands: readonly string[];
  /** The node's placement (no SGX resources: migrations do not load the enclave). @default anywhere */
  readonly sgx?: SgxPodSettings;
}) {
  return oneShotJobSpec(
    {
      name: a.container,
      image: a.image,
      command: ["/bin/sh", "-c", ["set -eu", ...a.commands].join("\n")],
      volumeMounts: [{ name: "ledger", mountPath: LEDGER_PATH }],
    },
    {
      ...placementSpec(a.sgx),
      volumes: [{ name: "ledger", persistentVolumeClaim: { claimName: a.claim } }],
    },
  );
}

/** A Job that runs its one container once: no retry (a stage that fails must fail the update, not loop). */
function oneShotJobSpec<C extends object, P extends object>(container: C, pod: P) {
  return {
    backoffLimit: 0,
    template: { spec: { restartPolicy: "Never", ...pod, containers: [container] } },
  };
}

const asArgs = (pairs: readonly (readonly [string, string])[]) => pairs.map(([f, v]) => `${f}=${v}`);

/**
 * `Ref` and `Affinity` are plain values in tests; the platform passes its Outputs for them (the claim, the
 * ConfigMap's name, the pull's host), so that the rest of the spec stays known in a preview that cannot know them.
 */
export interface DeploymentInputs<Ref = string, Affinity = HostPreference> {
  readonly node: string;
  readonly namespace: string;
  readonly image: string;
  readonly claim: Ref;
  readonly networkConfigMap: Ref;
  readonly tokensConfigMap: string;
  readonly tokensConfigDigest: string;
  readonly chainId: string;
  readonly blockVersion: number;
  readonly logLevel: string;
  readonly clientHost: string;
  /** The node's peerHost, when stated: its peer responder id instead of its peer Service's cluster name. */
  readonly peerHost?: string;
  readonly msgSignerKeySecret: string;
  readonly resources: {
    readonly requests: Readonly<Record<string, string>>;
    readonly limits: Readonly<Record<string, string>>;
  };
  readonly labels: Readonly<Record<string, string>>;
  readonly selector: Readonly<Record<string, string>>;
  /** SGX placement and quoting (sgxPodSettings); the SGX resources themselves are in `resources`. @default none */
  readonly sgx?: SgxPodSettings;
  /** The host the pod prefers (preferHostAffinity), beside the SGX placement. @default no preference */
  readonly affinity?: Affinity;
}

/**
 * The node's pod: one replica, Recreate, the consensus service beside its admin gateway, the ledger claim at
 * /ledger, and an init container that refuses a tokens config other than the release's. On SGX nodes: the node
 * selector and tolerations, the quote-provider annotation naming the consensus container (in-process DCAP), or
 * aesmd's host socket at /var/run/aesmd with SGX_AESM_ADDR=1 (aesmd). In a flag day, a preference for the host
 * that pulled the image.
 */
export function deploymentSpec<Ref = string, Affinity = HostPreference>(a: DeploymentInputs<Ref, Affinity>) {
  const tokens = { name: "tokens", mountPath: "/config/tokens.signed.json", subPath: "tokens.signed.json" };
  const sgx = a.sgx ?? {};
  const aesmd = sgx.quoteProvider === "aesmd" ? (sgx.aesmdSocket ?? AESMD_PATH) : undefined;
  return {
    replicas: 1,
    strategy: { type: "Recreate" },
    selector: { matchLabels: { ...a.selector } },
    template: {
      metadata: {
        labels: { ...a.labels },
        // The webhook reads the pod's annotation (not the Deployment's) and gives the named container
        // /dev/sgx_provision beside /dev/sgx_enclave. For aesmd the pod mounts the socket itself, so it runs
        // with or without the webhook.
        ...(sgx.quoteProvider === "in-process"
          ? { annotations: { [QUOTE_PROVIDER_ANNOTATION]: CONSENSUS_CONTAINER } }
          : {}),
      },
      spec: {
        ...placementSpec(sgx),
        ...(a.affinity !== undefined ? { affinity: a.affinity } : {}),
        initContainers: [
          {
            name: "tokens-digest",
            image: a.image,
            command: [
              "/bin/sh",
              "-c",
              `echo '${a.tokensConfigDigest}  /config/tokens.signed.json' | sha256sum -c -`,
            ],
            volumeMounts: [tokens],
          },
        ],
        containers: [
          {
            name: CONSENSUS_CONTAINER,
            image: a.image,
            args: [
              "consensus-service",
              ...asArgs(
                consensusServiceArgs({
                  peerResponderId: `${a.peerHost ?? `${a.node}-peer.${a.namespace}.svc.cluster.local`}:${PEER_PORT}`,
                  clientResponderId: `${a.clientHost}:443`,
                }),
              ),
            ],
            env: [
              { name: "MC_CHAIN_ID", value: a.chainId },
              { name: "MC_BLOCK_VERSION", value: String(a.blockVersion) },
              { name: "RUST_LOG", value: a.logLevel },
              {
                name: "MC_MSG_SIGNER_KEY",
                valueFrom: { secretKeyRef: { name: a.msgSignerKeySecret, key: "MC_MSG_SIGNER_KEY" } },
              },
              ...(aesmd ? [{ name: "SGX_AESM_ADDR", value: "1" }] : []),
            ],
            ports: [
              { name: "client", containerPort: CLIENT_PORT },
              { name: "peer", containerPort: PEER_PORT },
            ],
            resources: a.resources,
            volumeMounts: [
              { name: "ledger", mountPath: LEDGER_PATH },
              { name: "network", mountPath: "/config/network.json", subPath: "network.json" },
              tokens,
              { name: "sealed", mountPath: "/sealed" },
              ...(aesmd ? [{ name: AESMD_VOLUME, mountPath: AESMD_PATH }] : []),
            ],
          },
          {
            name: "admin-gateway",
            image: a.image,
            args: ["mc-admin-http-gateway", ...asArgs(adminGatewayArgs())],
            ports: [{ name: "admin", containerPort: ADMIN_PORT }],
          },
        ],
        volumes: [
          { name: "ledger", persistentVolumeClaim: { claimName: a.claim } },
          { name: "network", configMap: { name: a.networkConfigMap } },
          { name: "tokens", configMap: { name: a.tokensConfigMap } },
          { name: "sealed", emptyDir: {} },
          // Directory, not DirectoryOrCreate: on a host with no aesmd the pod does not start, and its events name the path.
          ...(aesmd ? [{ name: AESMD_VOLUME, hostPath: { path: aesmd, type: "Directory" } }] : []),
        ],
      },
    },
  };
}

/** What `kubectl get volumesnapshot -o json` says of the named snapshots that exist: their heights. */
export function parseSnapshotList(
  json: string,
): Record<string, { readonly readyToUse: boolean; readonly height?: number }> {
  const list = JSON.parse(json || "{}") as {
    items?: {
      metadata?: { name?: string; annotations?: Record<string, string> };
      status?: { readyToUse?: boolean };
    }[];
  };
  const out: Record<string, { readyToUse: boolean; height?: number }> = {};
  for (const item of list.items ?? []) {
    const name = item.metadata?.name;
    if (!name) continue;
    const raw = item.metadata?.annotations?.[HEIGHT_ANNOTATION];
    const height = raw !== undefined && /^\d+$/.test(raw) ? Number(raw) : undefined;
    out[name] = { readyToUse: item.status?.readyToUse === true, ...(height !== undefined ? { height } : {}) };
  }
  return out;
}
