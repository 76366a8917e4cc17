import { createHash } from "node:crypto";
import { EnclaveRelease, CONSENSUS_FIELDS, consensusChanges, needsFlagDay, releaseKey } from "./release";
import { SequenceName } from "./stages";

/** One flag day or rollback: what moves from which release to which. Stage steps re-run when its id changes. */
export interface Transition {
  /** Stable for a given upgrade, so that a re-run after a failure resumes instead of starting over. */
  readonly id: string;
  readonly sequence: SequenceName;
  readonly from: EnclaveRelease;
  readonly to: EnclaveRelease;
  /** For a rollback: the flag day it undoes (whose snapshots it restores). */
  readonly undoes?: Transition;
  /** Overrides the operator stated for this transition, recorded in the history. */
  readonly overrides?: readonly string[];
  /**
   * The stages it registered, recorded with it when it completed: a steady update registers exactly these
   * again (unchanged, so nothing re-runs), whatever the stage lists of a later flagday say.
   * @default recorded before flagday kept it: every stage of its sequence but the transient ones
   */
  readonly stages?: readonly string[];
}

/** What an upgrade left behind, kept in the stack output `flagday` (and read back through a stack reference). */
export interface HistoryEntry {
  readonly id: string;
  readonly sequence: SequenceName;
  readonly from: string;
  readonly to: string;
  readonly changed: readonly string[];
  /** Per node: the snapshot (AWS snapshot id, local path) taken before the change, and the height then. */
  readonly snapshots: Readonly<Record<string, { readonly id: string; readonly height?: number }>>;
  readonly window?: { readonly start: string; readonly end: string };
  readonly overrides?: readonly string[];
  readonly outcome: "completed" | "aborted";
  readonly undoes?: string;
}

/** The state of the network as the last successful `pulumi up` recorded it. */
export interface Deployed {
  readonly release: EnclaveRelease;
  /** The last flag day or rollback; its stage steps stay registered, unchanged, so that nothing re-runs. */
  readonly lastTransition?: Transition;
  /**
   * The last rollback that restored ledgers from snapshots. Where a platform cannot restore in place (AWS and
   * Kubernetes make new volumes from the snapshots), those restored volumes are the nodes' ledgers from then
   * on: their steps stay registered, unchanged, through every later update.
   */
  readonly restoredBy?: Transition;
  readonly history: readonly HistoryEntry[];
}

export type Plan =
  /** First deployment: nodes start on the release; there is nothing to upgrade. */
  | { readonly kind: "initial" }
  /** The deployed release is the target: nothing to stage (the last transition's steps stay as they were). */
  | { readonly kind: "steady"; readonly transition?: Transition }
  /** A flag day or a rollback is due. */
  | { readonly kind: "transition"; readonly transition: Transition };

export interface PlanOptions {
  /** Undo the last flag day; the target must be the release before it. */
  readonly rollback?: boolean;
  /**
   * Undo a flag day to this release that failed part-way (so it was never recorded as deployed): its
   * snapshots are restored and every node restarts on the target (the deployed release).
   */
  readonly abort?: EnclaveRelease;
  /** Overrides the operator stated (window, testnet-first, data loss), recorded in the history. */
  readonly overrides?: readonly string[];
}

/**
 * Decides what this `pulumi up` does. Pure: the deployed state comes from the stack's own output, the target
 * from the stack config.
 */
export function planUpgrade(
  target: EnclaveRelease,
  deployed: Deployed | undefined,
  opts: PlanOptions = {},
): Plan {
  if (!deployed) {
    if (opts.rollback || opts.abort) {
      const both = opts.rollback && opts.abort;
      const set = both
        ? "flagday:rollback and flagday:abort are"
        : opts.rollback
          ? "flagday:rollback is"
          : "flagday:abort is";
      throw new Error(`${set} set but this stack has never been upgraded: remove ${both ? "them" : "it"}.`);
    }
    return { kind: "initial" };
  }
  const n = deployed.history.length + 1;
  const extra = opts.overrides?.length ? { overrides: opts.overrides } : {};
  const rollbackOf = (undone: Transition, ordinal: number): Plan => ({
    kind: "transition",
    transition: {
      id: transitionId(ordinal, "rollback", undone.to, target),
      sequence: (undone.to.reverseMigrations ?? []).length > 0 ? "rollback-reverse" : "rollback-restore",
      from: undone.to,
      to: target,
      undoes: undone,
      ...extra,
    },
  });

  if (opts.abort) {
    if (needsFlagDay(deployed.release, target)) {
      throw new Error(
        `flagday:abort undoes a failed flag day and returns to the deployed release ` +
          `${deployed.release.version}: set flagday:release back to it (it is ${target.version}).`,
      );
    }
    if (!needsFlagDay(deployed.release, opts.abort)) {
      throw new Error(
        `flagday:abort names ${opts.abort.version}, which is the deployed release: there is no ` +
          `failed flag day to undo. Remove flagday:abort.`,
      );
    }
    // The failed flag day is re-derived exactly as it was planned, so its steps (and snapshots) are found.
    const failed: Transition = {
      id: transitionId(n, "upgrade", deployed.release, opts.abort),
      sequence: "flag-day",
      from: deployed.release,
      to: opts.abort,
    };
    return rollbackOf(failed, n + 1);
  }

  const last = deployed.lastTransition;
  const rollingBack =
    last?.sequence === "flag-day" &&
    !needsFlagDay(last.from, target) &&
    needsFlagDay(deployed.release, target);
  if (opts.rollback && !rollingBack) {
    const hint =
      last?.sequence === "flag-day"
        ? `the last transition (${last.id}) went ${last.from.version} -> ${last.to.version}; set ` +
          `flagday:release back to ${last.from.version} or remove flagday:rollback.`
        : last
          ? `the last transition (${last.id}) was itself a rollback, so there is no flag day to undo: remove ` +
            `flagday:rollback.`
          : "there is no flag day to undo; remove flagday:rollback.";
    throw new Error(
      `flagday:rollback is set, but the target release is not the one before the last flag day: ${hint}`,
    );
  }
  if (!needsFlagDay(deployed.release, target)) {
    return { kind: "steady", transition: last };
  }
  if (rollingBack && last) return rollbackOf(last, n);
  return {
    kind: "transition",
    transition: {
      id: transitionId(n, "upgrade", deployed.release, target),
      sequence: "flag-day",
      from: deployed.release,
      to: target,
      ...extra,
    },
  };
}

/** The short, per-history ordinal of a transition (`u3`): resource names carry it, so each transition's steps are its own. */
export function transitionOrdinal(t: Pick<Transition, "id">): string {
  return t.id.split("-")[0];
}

/** e.g. `u3-upgrade-v5.1.0-to-v6.0.0-3f9a1c2e`: ordinal, kind, versions, digest of both identities. */
export function transitionId(n: number, kind: string, from: EnclaveRelease, to: EnclaveRelease): string {
  const digest = createHash("sha256")
    .update(JSON.stringify([CONSENSUS_FIELDS.map((f) => from[f]), CONSENSUS_FIELDS.map((f) => to[f])]))
    .digest("hex")
    .slice(0, 8);
  return `u${n}-${kind}-${from.version}-to-${to.version}-${digest}`;
}

/** The history entry a completed transition adds. */
export function historyEntry(
  t: Transition,
  snapshots: HistoryEntry["snapshots"],
  window?: HistoryEntry["window"],
): HistoryEntry {
  return {
    id: t.id,
    sequence: t.sequence,
    from: releaseKey(t.from),
    to: releaseKey(t.to),
    changed: consensusChanges(t.from, t.to),
    snapshots,
    ...(window ? { window } : {}),
    ...(t.overrides?.length ? { overrides: t.overrides } : {}),
    ...(t.undoes ? { undoes: t.undoes.id } : {}),
    outcome: "completed",
  };
}
