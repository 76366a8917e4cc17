/**
 * The AWS platform's snapshot lookup and restore settings, as plain functions. The lookup serves only the
 * rollback of a flag day that failed part-way (orchestrate.ts reads a completed flag day's snapshots, and a
 * past restore's, from the history), so it must find exactly the snapshot flagday's own snapshot step took.
 */

/**
 * The tags that identify the snapshot a flag day's snapshot step took of a node: the step finds its own by them
 * (a re-run reuses it), and the lookup below does. The prepare stage's warm snapshot carries
 * `flagday:warm-for` instead of `flagday:transition`, so neither ever finds it: a warm snapshot was taken while
 * clients were served and is never a way back.
 */
export function windowSnapshotTags(
  network: string,
  transition: string,
  node: string,
): Record<string, string> {
  return { "flagday:network": network, "flagday:transition": transition, "flagday:node": node };
}

/** The tags of the prepare stage's warm snapshot of a node (found again by them: a re-run takes no second). */
export function warmSnapshotTags(network: string, transition: string, node: string): Record<string, string> {
  return { "flagday:network": network, "flagday:warm-for": transition, "flagday:node": node };
}

/**
 * What identifies a snapshot flagday's snapshot step took (platform.ts tags it so): cut (`pending`: the copy
 * still runs, or `completed`; an `error` one holds nothing), and tagged with the network, the transition and the
 * node. A `pending` one is found so that the lookup can say to wait for it: it cannot be restored yet, and its
 * node's ledger may have been migrated since the cut. The owner (`self`) is a separate argument of the lookup.
 */
export function snapshotLookupFilters(
  network: string,
  transition: string,
  node: string,
): { name: string; values: string[] }[] {
  return [
    { name: "status", values: ["pending", "completed"] },
    ...Object.entries(windowSnapshotTags(network, transition, node)).map(([k, v]) => ({
      name: `tag:${k}`,
      values: [v],
    })),
  ];
}

/**
 * Why the snapshots a lookup found for one node cannot be restored, or undefined when there is at most one.
 * Several mean a copy with the same tags (AWS Backup or DLM copy tags over, a hand-made copy): restoring the
 * newest could put an older or foreign ledger in place of the live one, so the operator decides.
 */
export function snapshotLookupProblem(
  transition: string,
  node: string,
  ids: readonly string[],
): string | undefined {
  if (ids.length <= 1) return undefined;
  return (
    `flagday: ${ids.length} snapshots of this account are tagged as node ${node}'s snapshot of flag ` +
    `day ${transition}: ${ids.join(", ")}. Only one was taken by that flag day's snapshot step (the step's ` +
    `resource in the stack's state holds its id; its description starts "flagday ${transition}:"); the others ` +
    `are copies (AWS Backup, DLM or by hand), and flagday will not guess. Nothing was changed. Remove the ` +
    `flagday:transition tag from every snapshot that is not the step's own (aws ec2 delete-tags --resources ` +
    `<id> --tags Key=flagday:transition), then run \`pulumi up\` again.`
  );
}

/** The volume initialization rate of restored ledgers when `restoreInitializationRateMiBps` is not set. */
export const DEFAULT_RESTORE_INITIALIZATION_RATE_MIBPS = 300;

/**
 * The rate (MiB/s) a restored ledger volume downloads its snapshot at, or undefined for EBS's default lazy
 * loading (`restoreInitializationRateMiBps: 0`, for example when the snapshots have fast snapshot restore).
 */
export function restoreInitializationRate(args: {
  readonly restoreInitializationRateMiBps?: number;
}): number | undefined {
  const rate = args.restoreInitializationRateMiBps ?? DEFAULT_RESTORE_INITIALIZATION_RATE_MIBPS;
  return rate === 0 ? undefined : rate;
}

/** EBS accepts a volume initialization rate from 100 to 300 MiB/s (CreateVolume's VolumeInitializationRate). */
export const RESTORE_INITIALIZATION_RATE_RANGE = { min: 100, max: 300 } as const;
