/**
 * The flag day, as data: the runbook's steps in order (../shared/seeds/upgrading-the-enclave.md), each one a
 * step that `pulumi preview` shows. `buildStages` in orchestrate.ts turns these lists into resources, the same
 * way on every platform; the graph it builds enforces the order below.
 *
 *   prepare: warm-snapshot -> pull (each node, clients still served; `flagday:prepare` runs them hours ahead)
 *   preflight (every node) -> ingress-reject -> quiesce -> stop (every node) -> snapshot, cut (every node,
 *     after every stop) -> migrate (each node after its own snapshot) -> start (every node, after every
 *     migration) -> attest -> txtest -> [seal: each node's snapshot complete, from its cut on] -> ingress-accept
 *     -> live
 *
 * A network with several operators (each running `pulumi up` on its own stack for its own nodes) runs the same
 * stages with cross-operator barriers between them (COORDINATED_SEQUENCES): all-ready before any ingress closes,
 * all-rejecting before the quiesce, all-quiesced (one height, one block hash) before any stop, all-snapshotted
 * before any start, all-proven before any ingress reopens, all-live to judge the live window network-wide.
 *
 * Before anything that turns clients away, every sequence that stops nodes runs `preflight`: each platform proves, on every node, that the steps
 * after it can run (the SSH key, docker, the ledger mount, the cloud account, the cluster permissions) while
 * the ingress still accepts clients. A failed pre-flight closed nothing.
 *
 * A node stage is something a platform does to one node: each platform implements every one of them
 * (`Platform.nodeSteps` is a record keyed by NodeStageName, so a new node stage does not compile until every
 * platform has it). A network stage is a command on the operator's machine: a check or a gate switch.
 */
export const NODE_STAGE_NAMES = [
  "warm-snapshot",
  "pull",
  "preflight",
  "stop",
  "snapshot",
  "migrate",
  "restore",
  "reverse-migrate",
  "start",
  "seal",
] as const;
export const NETWORK_STAGE_NAMES = [
  "rollback-guard",
  "ingress-reject",
  "quiesce",
  "attest",
  "txtest",
  "ingress-accept",
  "live",
] as const;
/**
 * The cross-operator barriers (a network with several operators): each operator's stack posts, signed, that it
 * reached the point, with what it read there, and waits until every operator did. A barrier never proceeds on
 * partial agreement; an abort any operator posts fails it at once.
 */
export const BARRIER_NAMES = [
  "all-ready",
  "all-rejecting",
  "all-quiesced",
  "all-snapshotted",
  "all-restored",
  "all-proven",
  "all-live",
] as const;
export type NodeStageName = (typeof NODE_STAGE_NAMES)[number];
export type NetworkStageName = (typeof NETWORK_STAGE_NAMES)[number];
export type BarrierName = (typeof BARRIER_NAMES)[number];
/** Whether a stage (or a word read from a step name or a flag) is a cross-operator barrier. */
export const isBarrierName = (s: string | undefined): s is BarrierName =>
  (BARRIER_NAMES as readonly string[]).includes(s ?? "");
export type StageName = NodeStageName | NetworkStageName | BarrierName;
export const STAGE_NAMES: readonly StageName[] = [
  ...NETWORK_STAGE_NAMES,
  ...NODE_STAGE_NAMES,
  ...BARRIER_NAMES,
];

interface StageBase {
  /** The runbook step this stage performs, for previews, logs and the README. */
  readonly runbook: string;
}
/** A network stage runs once, after everything before it. */
export interface NetworkStage extends StageBase {
  readonly name: NetworkStageName;
  readonly scope: "network";
  readonly waitFor: "every-node";
}
/** A node stage runs once per node. */
export interface NodeStage extends StageBase {
  readonly name: NodeStageName;
  readonly scope: "node";
  /** What it waits for: the previous stage on `every-node` (a barrier) or only on the `same-node`. */
  readonly waitFor: "every-node" | "same-node";
  /**
   * A branch: the stage waits for this earlier stage on the same node instead of the stage listed before it,
   * and runs alongside the stages listed between; the next network, barrier or every-node stage waits for it
   * too. `seal` waits only for its own node's `snapshot`, and the ingress does not reopen before it is done.
   */
  readonly after?: NodeStageName;
  /**
   * Leaves nothing a later update needs (a warm snapshot, a pulled image, a wait): once its transition
   * completed, a steady update no longer registers it, so upgrading flagday never runs it for an old flag day.
   */
  readonly transient?: true;
}
/**
 * A barrier runs once per operator stack and only in a network with several operators (NetworkSpec.operators):
 * post this operator's progress, then wait for every operator's (coordination/barrier.ts).
 */
export interface BarrierStage extends StageBase {
  readonly name: BarrierName;
  readonly scope: "operators";
  readonly waitFor: "every-operator";
  /**
   * What every operator's report must agree on, besides having arrived: `height` (one height and one block
   * hash across every node of every operator).
   */
  readonly agreeOn?: "height";
}
export type Stage = NetworkStage | NodeStage | BarrierStage;

const network = (name: NetworkStageName, runbook: string): NetworkStage => ({
  name,
  scope: "network",
  waitFor: "every-node",
  runbook,
});
const node = (name: NodeStageName, waitFor: NodeStage["waitFor"], runbook: string): NodeStage => ({
  name,
  scope: "node",
  waitFor,
  runbook,
});

const barrier = (name: BarrierName, runbook: string, agreeOn?: "height"): BarrierStage => ({
  name,
  scope: "operators",
  waitFor: "every-operator",
  runbook,
  ...(agreeOn ? { agreeOn } : {}),
});

/**
 * Prepare: everything a flag day needs that does not need the network down, done while it serves clients (and,
 * with `flagday:prepare: true`, hours ahead: the flag day then finds these steps done and reuses them).
 */
const WARM_SNAPSHOT: NodeStage = {
  ...node(
    "warm-snapshot",
    "same-node",
    "Warm snapshot of every ledger while the network serves clients, so the window's snapshot is incremental",
  ),
  transient: true,
};
const PULL: NodeStage = {
  ...node(
    "pull",
    "same-node",
    "The target release's image pulled on every node's host and its enclave's sha256 checked",
  ),
  transient: true,
};
/** The stages `flagday:prepare` runs on their own, before the window. */
export const PREPARE: readonly Stage[] = [WARM_SNAPSHOT, PULL];

/**
 * Before anything closes: every node can be reached and acted on the way the stages after it will act on it.
 * Read-only; a node stage so each platform checks its own way (SSH and docker, kubectl auth can-i, the local
 * folders), and the ingress-reject after it waits for every node's.
 */
export const PREFLIGHT = node(
  "preflight",
  "every-node",
  "Pre-flight: every node reachable and every step's access in place, before clients are turned away",
);
const INGRESS_REJECT = network("ingress-reject", "Ingress rejects new client connections");
const QUIESCE = network("quiesce", "No new transactions; all nodes at the same height");
const STOP = node("stop", "every-node", "Stop all nodes");
const START = node("start", "every-node", "Restart all nodes with the target enclave");
const ATTEST = network("attest", "All nodes attest to each other and make a block");
const TXTEST = network("txtest", "Transaction tests: self, cross, fog, non-fog");
const INGRESS_ACCEPT = network("ingress-accept", "Ingress accepts client connections");
const LIVE = network("live", "Live window: blocks keep coming");
/** Inside the window a snapshot is only cut (point in time); sealing it (complete) runs beside the next stages. */
const SNAPSHOT = node(
  "snapshot",
  "every-node",
  "Snapshot ledger-db and ledger-distribution state (cut: point in time; sealed later)",
);
const SEAL: NodeStage = {
  ...node(
    "seal",
    "same-node",
    "Every window snapshot sealed (complete) before clients come back: never serve them without a way back",
  ),
  after: "snapshot",
  transient: true,
};

// The barriers (several operators only; a network of one operator runs the sequences without them).
const ALL_READY = barrier(
  "all-ready",
  "Every operator passed its pre-flight: only then does any operator turn clients away",
);
const ALL_REJECTING = barrier(
  "all-rejecting",
  "Every operator's ingress rejects clients: only then do the heights settle network-wide",
);
const ALL_QUIESCED = barrier(
  "all-quiesced",
  "Every node of every operator quiet at one height and one block hash: only then does any operator stop a node",
  "height",
);
const ALL_SNAPSHOTTED = barrier(
  "all-snapshotted",
  "Every node of every operator stopped, snapshotted and migrated: only then does any operator start the new enclave",
);
const ALL_RESTORED = barrier(
  "all-restored",
  "Every node of every operator stopped and restored: only then does any operator start the old enclave",
);
const ALL_PROVEN = barrier(
  "all-proven",
  "Every operator's nodes attest on the target enclave and passed the transaction tests: only then does any operator reopen its ingress",
);
const ALL_LIVE = barrier("all-live", "Every operator's live window passed: the network is judged as a whole");

/** How every transition ends, once the ledgers are ready: the target enclave starts and is proven, then clients. */
const START_AND_PROVE: readonly Stage[] = [START, ATTEST, TXTEST, ALL_PROVEN, INGRESS_ACCEPT, LIVE, ALL_LIVE];
/** The same after a snapshot was taken in the window: its seal joins before any ingress reopens. */
const START_SEAL_AND_PROVE: readonly Stage[] = [START, ATTEST, TXTEST, SEAL, ...START_AND_PROVE.slice(3)];
/** Before anything stops: every node checked, then every ingress closed. */
const CLOSE: readonly Stage[] = [PREFLIGHT, ALL_READY, INGRESS_REJECT, ALL_REJECTING];

/** An enclave upgrade. */
export const FLAG_DAY_STAGES: readonly Stage[] = [
  ...PREPARE,
  ...CLOSE,
  QUIESCE,
  ALL_QUIESCED,
  STOP,
  SNAPSHOT,
  node("migrate", "same-node", "Apply forward-DB migrations"),
  ALL_SNAPSHOTTED,
  ...START_SEAL_AND_PROVE,
];

/** The restore stage: also re-registered, unchanged, after a rollback that restored ledgers to new volumes. */
export const RESTORE = node("restore", "every-node", "Restore each ledger from its pre-upgrade snapshot");

/** Undoing an upgrade by restoring each node's pre-upgrade snapshot: the same gates, no migration. */
const ROLLBACK_RESTORE_STAGES: readonly Stage[] = [
  network(
    "rollback-guard",
    "No node has blocks beyond the snapshots (restoring would drop confirmed transactions)",
  ),
  // The guard first: it reads the ledgers only, and if it refuses, no node needs to be checked.
  ...CLOSE,
  STOP,
  RESTORE,
  ALL_RESTORED,
  ...START_AND_PROVE,
];

/** Undoing an upgrade with the release's reverse migrations, keeping blocks made since (snapshot first). */
const ROLLBACK_REVERSE_STAGES: readonly Stage[] = [
  ...CLOSE,
  QUIESCE,
  ALL_QUIESCED,
  STOP,
  { ...SNAPSHOT, runbook: "Snapshot ledger-db before reverse migration (cut: point in time; sealed later)" },
  node("reverse-migrate", "same-node", "Apply the release's reverse migrations"),
  ALL_SNAPSHOTTED,
  ...START_SEAL_AND_PROVE,
];

/**
 * The sequences of a network with several operators, barriers included: the whole order in one place. One
 * operator's network runs the same sequences without the barriers (SEQUENCES).
 */
export const COORDINATED_SEQUENCES = {
  "flag-day": FLAG_DAY_STAGES,
  "rollback-restore": ROLLBACK_RESTORE_STAGES,
  "rollback-reverse": ROLLBACK_REVERSE_STAGES,
};
const withoutBarriers = (stages: readonly Stage[]) => stages.filter((s) => s.scope !== "operators");

export const FLAG_DAY: readonly Stage[] = withoutBarriers(FLAG_DAY_STAGES);
export const ROLLBACK_RESTORE: readonly Stage[] = withoutBarriers(ROLLBACK_RESTORE_STAGES);
export const ROLLBACK_REVERSE: readonly Stage[] = withoutBarriers(ROLLBACK_REVERSE_STAGES);

/** The stage lists by name, for the rehearsal summary and the README's picture. */
export const SEQUENCES = {
  "flag-day": FLAG_DAY,
  "rollback-restore": ROLLBACK_RESTORE,
  "rollback-reverse": ROLLBACK_REVERSE,
};
export type SequenceName = keyof typeof SEQUENCES;

/** A sequence's stages: with the cross-operator barriers when the network has several operators. */
export const stagesOf = (sequence: SequenceName, coordinated: boolean): readonly Stage[] =>
  (coordinated ? COORDINATED_SEQUENCES : SEQUENCES)[sequence];

/** Whether a sequence has a stage: a platform's pre-flight checks only what the sequence's stages will do. */
export const sequenceHas = (sequence: SequenceName, stage: StageName): boolean =>
  SEQUENCES[sequence].some((s) => s.name === stage);
