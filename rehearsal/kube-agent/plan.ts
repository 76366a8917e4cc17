/**
 * The kube agent's decisions, as plain functions of plain values (agent.ts only carries them out): what a pod's
 * containers are to the agent, how a consensus container becomes a SIMULATED node's config, and the status
 * documents the agent writes for its Node, pods, volumes and snapshots.
 */
import * as os from "node:os";
import * as path from "node:path";
import type { NetworkJson } from "../../components/mobilecoin";
import type { LogLevel, NodeConfig, SimRelease } from "../../components/local/simConfig";

/** The agent's settings (`--config agent.json`). */
export interface AgentConfig {
  /** Absolute folder of volumes/, snapshots/, pods/ and tools/. */
  readonly dir: string;
  /** The Node the agent registers and runs pods for. @default "flagday-sgx-0" */
  readonly nodeName?: string;
  /** The Node's labels, e.g. {dcap: "true"} for the platform's nodeSelector. @default none */
  readonly labels?: Readonly<Record<string, string>>;
  /** The Node's taints, e.g. dcap=true:NoSchedule, which the platform's pods tolerate. @default none */
  readonly taints?: readonly { key: string; value?: string; effect: string }[];
  /** Extended resources on top of cpu, memory and pods, e.g. {"sgx.intel.com/epc": "128Mi"}. @default none */
  readonly resources?: Readonly<Record<string, string>>;
  /**
   * The Node's InternalIP and every pod's IP, as a hostNetwork pod's would be: Kubernetes refuses loopback
   * addresses in EndpointSlices, so the platform's Services would never select a pod at 127.0.0.1. The
   * simulated nodes listen on 127.0.0.1 whatever this is (nothing routes Service traffic: there is no kube-proxy).
   * @default the host's first non-loopback IPv4 address
   */
  readonly hostIP?: string;
  /** The StorageClass (and VolumeSnapshotClass) the agent provisions for. @default "flagday-local" */
  readonly storageClassName?: string;
  /** Each image the agent can run, and the SIMULATED release it runs. */
  readonly releases: Readonly<Record<string, SimRelease>>;
  /** Each consensus node's sim ports (127.0.0.1), by node name; `peerHost` when network.json names it so. */
  readonly nodes: Readonly<
    Record<
      string,
      { readonly admin: number; readonly client: number; readonly peer: number; peerHost?: string }
    >
  >;
}

export const PROVISIONER = "flagday.local/agent";
export const defaults = (c: AgentConfig) => ({
  nodeName: c.nodeName ?? "flagday-sgx-0",
  hostIP:
    c.hostIP ??
    Object.values(os.networkInterfaces())
      .flat()
      .find((a) => a && a.family === "IPv4" && !a.internal)?.address ??
    "192.0.2.1",
  storageClassName: c.storageClassName ?? "flagday-local",
});

/* eslint-disable @typescript-eslint/no-explicit-any */
/** A Kubernetes object as the API returns it: only the fields read here are typed. */
export type Obj = {
  metadata: { name: string; namespace?: string; uid: string; [k: string]: any };
  [k: string]: any;
};

// ---------------------------------------------------------------- containers

export type ContainerPlan = { readonly name: string; readonly image: string } & (
  | { readonly kind: "sim"; readonly args: Readonly<Record<string, string>> }
  | { readonly kind: "gateway" }
  | { readonly kind: "shell"; readonly script: string }
  | { readonly kind: "unsupported"; readonly why: string }
);

/**
 * What the agent runs for a container: `consensus-service` is a simulated node, `mc-admin-http-gateway` is that
 * node's admin API (the simulator serves it), a `/bin/sh -c` script runs in a host shell, and the rest is refused.
 */
export function containerPlan(c: any, releases: AgentConfig["releases"]): ContainerPlan {
  const base = { name: String(c.name), image: String(c.image) };
  if (!releases[base.image]) {
    return { ...base, kind: "unsupported", why: `image ${base.image} is not in the agent's releases` };
  }
  const argv: string[] = [...(c.command ?? []), ...(c.args ?? [])];
  if (argv[0] === "consensus-service") {
    const args: Record<string, string> = {};
    for (const a of argv.slice(1)) {
      const m = /^(--[^=]+)=(.*)$/.exec(a);
      if (m) args[m[1]] = m[2];
    }
    return { ...base, kind: "sim", args };
  }
  if (argv[0] === "mc-admin-http-gateway") return { ...base, kind: "gateway" };
  if (/^(\/bin\/)?(ba)?sh$/.test(argv[0] ?? "") && argv[1] === "-c" && argv.length === 3) {
    return { ...base, kind: "shell", script: argv[2] };
  }
  return {
    ...base,
    kind: "unsupported",
    why: `the agent runs consensus-service, mc-admin-http-gateway and /bin/sh -c scripts, not ${JSON.stringify(argv)}`,
  };
}

/** A container path on the host: its volume mount's host folder (or subPath file) and the rest of the path. */
export function hostPath(
  p: string,
  mounts: readonly { mountPath: string; name: string; subPath?: string }[],
  volumes: Readonly<Record<string, string>>,
): string | undefined {
  const m = [...mounts]
    .sort((a, b) => b.mountPath.length - a.mountPath.length)
    .find((x) => p === x.mountPath || p.startsWith(`${x.mountPath}/`));
  if (!m || volumes[m.name] === undefined) return undefined;
  return path.join(volumes[m.name], m.subPath ?? "", p.slice(m.mountPath.length));
}

/** A script with every mount path it names rewritten to the host's folder: the stand-in for a mount namespace. */
export function rewriteMounts(
  script: string,
  mounts: readonly { mountPath: string; name: string; subPath?: string }[],
  volumes: Readonly<Record<string, string>>,
): string {
  let out = script;
  for (const m of [...mounts].sort((a, b) => b.mountPath.length - a.mountPath.length)) {
    const to = hostPath(m.mountPath, mounts, volumes);
    if (to === undefined) continue;
    const esc = m.mountPath.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    out = out.replace(new RegExp(`(^|[\\s'"=:])${esc}(?=$|[\\s'"/;:)])`, "gm"), `$1${to}`);
  }
  return out;
}

// ---------------------------------------------------------------- the simulated node

/** Which consensus node a peer host names: `<node>-peer.<namespace>.svc…` or a node's configured peerHost. */
export function nodeOfHost(host: string, nodes: AgentConfig["nodes"]): string | undefined {
  return Object.keys(nodes).find((n) => nodes[n].peerHost === host || host.startsWith(`${n}-peer.`));
}

/**
 * The pod's network.json for the simulator: each peer the agent knows becomes 127.0.0.1:<its sim peer port>,
 * named by its node (the simulator's consensus-msg-key); a peer it does not know stays as written (unreachable).
 */
export function simNetwork(network: NetworkJson, nodes: AgentConfig["nodes"]): NodeConfig["network"] {
  const map = (address: string) => {
    const host = address.replace(/:\d+$/, "");
    const n = nodeOfHost(host, nodes);
    return n ? { address: `127.0.0.1:${nodes[n].peer}`, key: n } : { address, key: undefined };
  };
  return {
    broadcast_peers: network.broadcast_peers.map((uri) => {
      const u = new URL(uri);
      const { address, key } = map(u.host);
      const k = key ?? u.searchParams.get("consensus-msg-key");
      return `insecure-mcp://${address}/${k ? `?consensus-msg-key=${encodeURIComponent(k)}` : ""}`;
    }),
    quorum_set: {
      threshold: network.quorum_set.threshold,
      members: network.quorum_set.members.map((m) => ({ type: "Node", args: map(m.args).address })),
    },
    ...(network.tx_source_urls ? { tx_source_urls: network.tx_source_urls } : {}),
  };
}

/**
 * A consensus container as a simulated node: the node by the pod's `app.kubernetes.io/instance` label (or its
 * peer responder id), its ports from the agent's config, its release from the image, with the block version and
 * tokens digest the pod gives it (MC_BLOCK_VERSION, the mounted tokens file), its ledger the mounted volume.
 */
export function simNodeConfig(a: {
  readonly pod: Obj;
  readonly plan: Extract<ContainerPlan, { kind: "sim" }>;
  readonly config: AgentConfig;
  readonly env: Readonly<Record<string, string>>;
  readonly ledger: string;
  readonly network: NetworkJson;
  readonly tokensDigest?: string;
}): NodeConfig {
  const byLabel = a.pod.metadata.labels?.["app.kubernetes.io/instance"];
  const name =
    byLabel && a.config.nodes[byLabel]
      ? byLabel
      : nodeOfHost((a.plan.args["--peer-responder-id"] ?? "").replace(/:\d+$/, ""), a.config.nodes);
  if (!name) {
    throw new Error(
      `pod ${a.pod.metadata.name} runs a node the agent has no ports for (label app.kubernetes.io/instance ` +
        `${byLabel ?? "missing"}; known: ${Object.keys(a.config.nodes).join(", ")})`,
    );
  }
  if (path.basename(a.ledger) !== "ledger") {
    throw new Error(`the simulator keeps its ledger at <dir>/ledger; ${a.ledger} is not such a folder`);
  }
  const release = a.config.releases[a.plan.image];
  const blockVersion = a.env.MC_BLOCK_VERSION ? Number(a.env.MC_BLOCK_VERSION) : release.blockVersion;
  const level = a.env.RUST_LOG as LogLevel;
  const { admin, client, peer } = a.config.nodes[name];
  return {
    name,
    dir: path.dirname(a.ledger),
    ports: { admin, client, peer },
    release: { ...release, blockVersion, tokensConfigDigest: a.tokensDigest ?? release.tokensConfigDigest },
    network: simNetwork(a.network, a.config.nodes),
    logLevel: ["debug", "info", "warn", "error"].includes(level) ? level : "info",
  };
}

// ---------------------------------------------------------------- status documents

export type ContainerState =
  | { waiting: { reason: string; message?: string } }
  | { running: { startedAt: string } }
  | {
      terminated: {
        exitCode: number;
        reason: string;
        message?: string;
        startedAt?: string;
        finishedAt: string;
      };
    };

export interface ContainerRun {
  readonly name: string;
  readonly image: string;
  state: ContainerState;
  ready: boolean;
  restartCount: number;
  lastState?: ContainerState;
}

export interface PodRun {
  readonly startTime: string;
  phase: "Pending" | "Running" | "Succeeded" | "Failed";
  init: ContainerRun[];
  containers: ContainerRun[];
  /** When the pod's Initialized and Ready conditions last changed. */
  initializedAt?: string;
  readySince?: string;
  notReadySince?: string;
  reason?: string;
  message?: string;
}

const containerStatus = (podUid: string, c: ContainerRun) => ({
  name: c.name,
  image: c.image,
  imageID: `flagday-sim://${c.image}`,
  containerID: `flagday://${podUid}/${c.name}`,
  ready: c.ready,
  started: "running" in c.state,
  restartCount: c.restartCount,
  state: c.state,
  lastState: c.lastState ?? {},
});

/** The pod's status as a kubelet reports it: phase, conditions, container states; its IP once it runs. */
export function podStatus(uid: string, run: PodRun, ip: string) {
  const initialized = run.init.every((c) => "terminated" in c.state && c.state.terminated.exitCode === 0);
  const ready = run.phase === "Running" && run.containers.every((c) => c.ready);
  const started = run.containers.some((c) => !("waiting" in c.state) || c.restartCount > 0);
  const condition = (type: string, ok: boolean, since = run.startTime) => ({
    type,
    status: ok ? "True" : "False",
    lastTransitionTime: since,
  });
  const readyAt = ready ? run.readySince : run.notReadySince;
  return {
    phase: run.phase,
    hostIP: ip,
    hostIPs: [{ ip }],
    ...(started ? { podIP: ip, podIPs: [{ ip }] } : {}),
    startTime: run.startTime,
    ...(run.reason ? { reason: run.reason } : {}),
    ...(run.message ? { message: run.message } : {}),
    conditions: [
      condition("PodScheduled", true),
      condition("Initialized", initialized, run.initializedAt),
      condition("ContainersReady", ready, readyAt),
      condition("Ready", ready, readyAt),
    ],
    initContainerStatuses: run.init.map((c) => containerStatus(uid, c)),
    containerStatuses: run.containers.map((c) => containerStatus(uid, c)),
  };
}

/** The phase of a pod whose containers are as they are: a kubelet's rule, restart policy included. */
export function podPhase(run: PodRun, restartPolicy: string): PodRun["phase"] {
  const done = run.containers.map((c) => ("terminated" in c.state ? c.state.terminated.exitCode : undefined));
  const failedInit = run.init.some((c) => "terminated" in c.state && c.state.terminated.exitCode !== 0);
  if (restartPolicy === "Never" && failedInit) return "Failed";
  if (restartPolicy !== "Always" && done.every((x) => x !== undefined)) {
    return done.every((x) => x === 0) ? "Succeeded" : restartPolicy === "Never" ? "Failed" : "Running";
  }
  return run.containers.some((c) => !("waiting" in c.state) || c.restartCount > 0) ? "Running" : "Pending";
}

// ---------------------------------------------------------------- node, volumes, snapshots

/** Bytes of a quantity like 512Gi, 1G or 1024. */
export function bytes(q: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMGTPE]i?|k)?$/.exec(q);
  if (!m) throw new Error(`not a storage quantity: ${q}`);
  const power = m[2] ? "kMGTPE".indexOf(m[2][0] === "K" ? "k" : m[2][0]) + 1 : 0;
  return Math.round(Number(m[1]) * (m[2]?.endsWith("i") ? 1024 : 1000) ** power);
}

/** The Node object: schedulable for the platform's pods (labels, taints, the SGX resource), Ready. */
export function nodeObject(c: AgentConfig, capacity: { cpu: string; memory: string }) {
  const name = defaults(c).nodeName;
  const resources = { ...capacity, pods: "110", "ephemeral-storage": "100Gi", ...c.resources };
  return {
    metadata: {
      name,
      labels: {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": process.arch === "arm64" ? "arm64" : "amd64",
        ...c.labels,
      },
    },
    spec: { taints: [...(c.taints ?? [])] },
    status: { capacity: resources, allocatable: resources },
  };
}

export function nodeConditions(now: string, since: string) {
  const c = (type: string, status: string, reason: string, message: string) => ({
    type,
    status,
    reason,
    message,
    lastHeartbeatTime: now,
    lastTransitionTime: since,
  });
  return [
    c("Ready", "True", "FlagdayAgentReady", "flagday-kube-agent runs simulated consensus nodes"),
    c("MemoryPressure", "False", "FlagdayAgentHasSufficientMemory", "not measured"),
    c("DiskPressure", "False", "FlagdayAgentHasNoDiskPressure", "not measured"),
    c("PIDPressure", "False", "FlagdayAgentHasSufficientPID", "not measured"),
  ];
}

/** The PV the agent provisions for a claim: a local volume on its node, bound to the claim by claimRef. */
export function persistentVolume(pvc: Obj, c: AgentConfig, volumeDir: string) {
  return {
    apiVersion: "v1",
    kind: "PersistentVolume",
    metadata: {
      name: `pvc-${pvc.metadata.uid}`,
      annotations: { "pv.kubernetes.io/provisioned-by": PROVISIONER },
    },
    spec: {
      capacity: { storage: pvc.spec.resources.requests.storage },
      accessModes: pvc.spec.accessModes,
      persistentVolumeReclaimPolicy: "Delete",
      storageClassName: pvc.spec.storageClassName,
      volumeMode: "Filesystem",
      claimRef: {
        apiVersion: "v1",
        kind: "PersistentVolumeClaim",
        namespace: pvc.metadata.namespace,
        name: pvc.metadata.name,
        uid: pvc.metadata.uid,
      },
      local: { path: volumeDir },
      nodeAffinity: {
        required: {
          nodeSelectorTerms: [
            {
              matchExpressions: [
                { key: "kubernetes.io/hostname", operator: "In", values: [defaults(c).nodeName] },
              ],
            },
          ],
        },
      },
    },
  };
}

/** The content of a snapshot the agent cut, and the status both objects get once its copy is whole. */
export function snapshotContent(snap: Obj, pv: Obj, handle: string, at: Date) {
  const name = `snapcontent-${snap.metadata.uid}`;
  const size = String(pv.spec.capacity.storage);
  return {
    content: {
      apiVersion: "snapshot.storage.k8s.io/v1",
      kind: "VolumeSnapshotContent",
      metadata: { name },
      spec: {
        deletionPolicy: "Delete",
        driver: PROVISIONER,
        source: { volumeHandle: pv.metadata.name },
        volumeSnapshotClassName: snap.spec.volumeSnapshotClassName,
        volumeSnapshotRef: {
          apiVersion: "snapshot.storage.k8s.io/v1",
          kind: "VolumeSnapshot",
          name: snap.metadata.name,
          namespace: snap.metadata.namespace,
          uid: snap.metadata.uid,
        },
      },
    },
    contentStatus: {
      snapshotHandle: handle,
      creationTime: at.getTime() * 1_000_000,
      readyToUse: true,
      restoreSize: bytes(size),
    },
    snapshotStatus: {
      boundVolumeSnapshotContentName: name,
      creationTime: at.toISOString().replace(/\.\d+Z$/, "Z"),
      readyToUse: true,
      restoreSize: size,
    },
  };
}
