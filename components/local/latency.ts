/**
 * MODELLED latencies of the remote operations a flag day waits for, per platform and per ledger size, for the
 * local platform's simulated steps (the rehearsal and the benchmarks). Nothing here is measured on a cloud:
 * every figure is an assumption with its source, so that the bench compares strategies on the same model.
 *
 * Sources (each figure below names the one it rests on):
 * - [ebs-pending] AWS EBS user guide, "Create Amazon EBS snapshots": "Snapshots occur asynchronously; the
 *   point-in-time snapshot is created immediately, but the status of the snapshot is pending until the snapshot
 *   is complete ..., which can take several hours for large initial snapshots or subsequent snapshots where
 *   many blocks have changed." And AWS re:Post knowledge center "Why is my AMI or EBS snapshot creation slow":
 *   "The first snapshot of any volume is always a full snapshot ... Subsequent snapshots are incremental."
 * - [ebs-copy-quota] AWS EBS user guide, "Time-based copies": 500 MiB/s is the most a single snapshot copy
 *   achieves; AWS documents no throughput for snapshot creation, so 100 MiB/s is ASSUMED here (a first
 *   snapshot of 500 GiB then takes about 85 minutes, in line with "several hours" for large volumes).
 * - [csi] CSI snapshots of cloud disks (GCE PD, Azure Disk, EBS CSI) are the same block-level incremental
 *   snapshots as the cloud's own: same model as [ebs-pending], with `creationTime` as the cut and
 *   `readyToUse` as the seal (Kubernetes VolumeSnapshot API).
 * - [boot] a pod on a running node starts in seconds once its image is present (ASSUMED 10 s). On AWS an
 *   enclave change boots no instance: the start step swaps the release's containers on the node's running
 *   instance (components/aws/platform.ts), with the image prepare pulled there, so the same 10 s is ASSUMED for
 *   `docker run` of the consensus and admin containers. (An EC2 instance boot, about a minute as commonly
 *   reported, happens only when the host itself changes, outside a flag day, or in a rollback by restore.)
 * - [pull] MobileCoin's node image is pulled with `imagePullPolicy: Always` (MOBILECOIN.md); a pull of a
 *   multi-hundred-MB image is ASSUMED to take 45 s.
 * - [attach] attaching an EBS volume or a cloud PD to a node: ASSUMED 10 s.
 * - [quiet] the quiesce check's quiet period, which the flag day and the runbook by hand both wait: `mc-consensus-tool
 *   wait-for-quiet --period 40` (MOBILECOIN.md; WAIT_FOR_QUIET_SECONDS, the checks' default). Not a platform's
 *   operation: the benchmarks set it as the stack's `flagday:checks.quietPeriodSeconds`, scaled like the rest.
 */

import { WAIT_FOR_QUIET_SECONDS } from "../mobilecoin";

export interface LatencyProfile {
  readonly name: string;
  /** Stopping the node's service (docker stop, pod termination). */
  readonly stopSeconds: number;
  /** A snapshot's cut: the request returns once the point in time is taken [ebs-pending]. */
  readonly snapshotCutSeconds: number;
  /** How fast a snapshot's changed blocks are copied until it is sealed (complete) [ebs-copy-quota]. */
  readonly snapshotMiBPerSecond: number;
  /** The node's server starting, once its image is on the host [boot]. */
  readonly bootSeconds: number;
  /** Pulling the node image onto a host that does not have it [pull]. */
  readonly pullSeconds: number;
  /** Attaching a (restored) ledger volume [attach]. */
  readonly attachSeconds: number;
  /** A migration job: mc-ledger-migration is a no-op since v4.0.0 (MOBILECOIN.md); its container start. */
  readonly migrateSeconds: number;
}

export const LATENCY_PROFILES: Readonly<Record<"kubernetes" | "aws", LatencyProfile>> = {
  /** An SGX node pool: pods on running nodes, CSI disk snapshots [csi]. */
  kubernetes: {
    name: "kubernetes",
    stopSeconds: 5,
    snapshotCutSeconds: 5,
    snapshotMiBPerSecond: 100,
    bootSeconds: 10,
    pullSeconds: 45,
    attachSeconds: 10,
    migrateSeconds: 10,
  },
  /** EC2 software-mode development networks: the release's containers swapped on the running instance [boot]. */
  aws: {
    name: "aws",
    stopSeconds: 5,
    snapshotCutSeconds: 3,
    snapshotMiBPerSecond: 100,
    bootSeconds: 10,
    pullSeconds: 45,
    attachSeconds: 10,
    migrateSeconds: 10,
  },
};

/** What the local platform takes as `flagday:local.latency`. */
export interface LatencyConfig {
  /** `kubernetes` or `aws`. */
  readonly profile: keyof typeof LATENCY_PROFILES;
  /** The modelled ledger volume's used size, GiB: a first (full) snapshot copies all of it. */
  readonly ledgerGiB: number;
  /**
   * What changed on the ledger volume between the warm snapshot and the window's, GiB (blocks written since,
   * plus LMDB's page churn). @default 0.5
   */
  readonly changedGiB?: number;
  /**
   * Divide every modelled figure by this, so a bench finishes in minutes while keeping the model's
   * proportions. @default 1
   */
  readonly timeScale?: number;
}

/** Every problem with `flagday:local.latency`, naming the key. */
export function latencyProblems(c: unknown, where = "flagday:local.latency"): string[] {
  if (c === undefined) return [];
  const l = c as Partial<LatencyConfig>;
  const problems: string[] = [];
  if (typeof l !== "object" || l === null)
    return [`${where} must be {profile, ledgerGiB} (got ${JSON.stringify(c)}).`];
  if (!l.profile || !(l.profile in LATENCY_PROFILES)) {
    problems.push(
      `${where}.profile must be one of ${Object.keys(LATENCY_PROFILES).join(", ")} (got ${JSON.stringify(l.profile)}).`,
    );
  }
  for (const k of ["ledgerGiB", "changedGiB", "timeScale"] as const) {
    const v = l[k];
    if (v === undefined && k !== "ledgerGiB") continue;
    if (typeof v !== "number" || !(v >= 0) || (k === "timeScale" && v === 0)) {
      problems.push(
        `${where}.${k} must be a ${k === "timeScale" ? "positive" : "non-negative"} number (got ${JSON.stringify(v)}).`,
      );
    }
  }
  return problems;
}

/** The modelled seconds of each simulated operation, scaled. */
export function modelledSeconds(c: LatencyConfig) {
  const p = LATENCY_PROFILES[c.profile];
  const scale = c.timeScale ?? 1;
  const copy = (gib: number) => (gib * 1024) / p.snapshotMiBPerSecond;
  const s = (x: number) => Math.round((x / scale) * 1000) / 1000;
  return {
    stop: s(p.stopSeconds),
    cut: s(p.snapshotCutSeconds),
    /** Sealing a snapshot that has a warm base: only the blocks changed since. */
    sealIncremental: s(copy(c.changedGiB ?? 0.5)),
    /** Sealing a first (full) snapshot: every used block. */
    sealFull: s(copy(c.ledgerGiB)),
    boot: s(p.bootSeconds),
    pull: s(p.pullSeconds),
    attach: s(p.attachSeconds),
    migrate: s(p.migrateSeconds),
    /** The quiesce check's quiet period [quiet]. */
    quiet: s(WAIT_FOR_QUIET_SECONDS),
  };
}
export type ModelledSeconds = ReturnType<typeof modelledSeconds>;
