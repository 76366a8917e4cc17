/**
 * The flag day, as data: the runbook's steps in order (../shared/seeds/upgrading-the-enclave.md), each one a
 * step that `pulumi preview` shows. `buildStages` in orchestrate.ts turns these lists into resources, the same
 * way on every platform; the graph it builds enforces the order below.
 *
 *   ingress-reject -> quiesce -> stop (every node) -> snapshot (every node, after every stop)
 *     -> migrate (each node after its own snapshot) -> start (every node, after every migration)
 *     -> attest -> txtest -> ingress-accept -> live
 */
export type StageName =
  | "rollback-guard"
  | "ingress-reject"
  | "quiesce"
  | "stop"
  | "snapshot"
  | "migrate"
  | "restore"
  | "reverse-migrate"
  | "start"
  | "attest"
  | "txtest"
  | "ingress-accept"
  | "live";

export interface Stage {
  readonly name: StageName;
  /** A network stage runs once; a node stage runs once per node. */
  readonly scope: "network" | "node";
  /**
   * What a node stage waits for: the previous stage on `every-node` (a barrier) or only on the `same-node`.
   * Network stages always wait for everything before them.
   */
  readonly waitFor: "every-node" | "same-node";
  /** The runbook step this stage performs, for previews, logs and the README. */
  readonly runbook: string;
}

const stage = (
  name: StageName,
  scope: Stage["scope"],
  waitFor: Stage["waitFor"],
  runbook: string,
): Stage => ({ name, scope, waitFor, runbook });

const INGRESS_REJECT = stage(
  "ingress-reject",
  "network",
  "every-node",
  "Ingress rejects new client connections",
);
const QUIESCE = stage(
  "quiesce",
  "network",
  "every-node",
  "No new transactions; all nodes at the same height",
);
const STOP = stage("stop", "node", "every-node", "Stop all nodes");
const START = stage("start", "node", "every-node", "Restart all nodes with the target enclave");
const ATTEST = stage("attest", "network", "every-node", "All nodes attest to each other and make a block");
const TXTEST = stage("txtest", "network", "every-node", "Transaction tests: self, cross, fog, non-fog");
const INGRESS_ACCEPT = stage("ingress-accept", "network", "every-node", "Ingress accepts client connections");
const LIVE = stage("live", "network", "every-node", "Live window: blocks keep coming");

/** An enclave upgrade. */
export const FLAG_DAY: readonly Stage[] = [
  INGRESS_REJECT,
  QUIESCE,
  STOP,
  stage("snapshot", "node", "every-node", "Snapshot ledger-db and ledger-distribution state"),
  stage("migrate", "node", "same-node", "Apply forward-DB migrations"),
  START,
  ATTEST,
  TXTEST,
  INGRESS_ACCEPT,
  LIVE,
];

/** Undoing an upgrade by restoring each node's pre-upgrade snapshot: the same gates, no migration. */
export const ROLLBACK_RESTORE: readonly Stage[] = [
  stage(
    "rollback-guard",
    "network",
    "every-node",
    "No node has blocks beyond the snapshots (restoring would drop confirmed transactions)",
  ),
  INGRESS_REJECT,
  STOP,
  stage("restore", "node", "every-node", "Restore each ledger from its pre-upgrade snapshot"),
  START,
  ATTEST,
  TXTEST,
  INGRESS_ACCEPT,
  LIVE,
];

/** Undoing an upgrade with the release's reverse migrations, keeping blocks made since (snapshot first). */
export const ROLLBACK_REVERSE: readonly Stage[] = [
  INGRESS_REJECT,
  QUIESCE,
  STOP,
  stage("snapshot", "node", "every-node", "Snapshot ledger-db before reverse migration"),
  stage("reverse-migrate", "node", "same-node", "Apply the release's reverse migrations"),
  START,
  ATTEST,
  TXTEST,
  INGRESS_ACCEPT,
  LIVE,
];

/** The stage lists by name, for the rehearsal summary and the README's picture. */
export const SEQUENCES = {
  "flag-day": FLAG_DAY,
  "rollback-restore": ROLLBACK_RESTORE,
  "rollback-reverse": ROLLBACK_REVERSE,
};
export type SequenceName = keyof typeof SEQUENCES;
