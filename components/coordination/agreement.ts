/**
 * The agreement gate (runbook step 1 across operators): a flag day of a network with several operators starts
 * only once every operator signed the same proposal on the coordination board. Plain functions: the stack
 * program reads the board and hands the status to ConsensusNetwork, which refuses before anything changes.
 */
import * as path from "node:path";
import type { ChecksOptions } from "../checks";
import type { MaintenanceWindow } from "../gates";
import type { NetworkSpec } from "../network";
import type { Plan } from "../plan";
import {
  AgreementStatus,
  agreementStatus,
  CoordinationBoard,
  describeAgreement,
  FlagDayReading,
} from "./board";
import { DirectoryBoardBackend } from "./boardDir";
import { S3BoardBackend } from "./boardS3";
import { FlagDayProposal, flagDayProposal, networkOperators } from "./proposal";

/** Where the operators' board is: `flagday:board`. */
export type BoardConfig =
  /** A directory (the rehearsal, or a shared mount), relative to the project. */
  | { readonly directory: string }
  /** An S3-compatible bucket every operator can read and write its own prefix of. */
  | {
      readonly s3: {
        readonly bucket: string;
        readonly prefix?: string;
        readonly region?: string;
        /** Another S3-compatible server (path-style requests). @default AWS S3 */
        readonly endpoint?: string;
      };
    };

/** The board `flagday:board` names, writing as `operator` (if given). Throws naming the key when it is unusable. */
export function openBoard(config: unknown, projectDir: string, operator?: string): CoordinationBoard {
  const c = (config ?? {}) as Partial<Record<"directory" | "s3", unknown>>;
  const opts = operator ? { operator } : {};
  if (typeof c.directory === "string" && c.directory) {
    return new CoordinationBoard(new DirectoryBoardBackend(path.resolve(projectDir, c.directory)), opts);
  }
  const s3 = c.s3 as { bucket?: unknown; prefix?: string; region?: string; endpoint?: string } | undefined;
  if (s3 && typeof s3.bucket === "string" && s3.bucket) {
    return new CoordinationBoard(
      new S3BoardBackend({
        bucket: s3.bucket,
        prefix: s3.prefix,
        clientConfig: {
          ...(s3.region ? { region: s3.region } : {}),
          ...(s3.endpoint ? { endpoint: s3.endpoint, forcePathStyle: true } : {}),
        },
      }),
      opts,
    );
  }
  throw new Error(
    `flagday:board must name the operators' coordination board: {directory: <path>} for a rehearsal, or ` +
      `{s3: {bucket: <name>, region: <region>}} for a real network (got ${JSON.stringify(config)}).`,
  );
}

/** The proposal every operator signs for this update, or undefined when it is no flag day or rollback. */
export function proposalFor(
  network: NetworkSpec,
  plan: Plan,
  window: MaintenanceWindow | undefined,
  checks: ChecksOptions | undefined,
): FlagDayProposal | undefined {
  const operators = networkOperators(network);
  if (!operators || plan.kind !== "transition") return undefined;
  const t = plan.transition;
  return flagDayProposal({
    network,
    operators,
    from: t.from,
    to: t.to,
    sequence: t.sequence,
    window: window as MaintenanceWindow,
    checks,
  });
}

/**
 * For an abort (a rollback of a flag day that failed part-way, `flagday:abort`): the proposal of the flag day it
 * undoes, derived from the same description, so that the abort posted against it on the board is found.
 * Undefined for anything else (a rollback of a completed flag day is its own proposal every operator signs).
 */
export function abortedProposal(
  network: NetworkSpec,
  plan: Plan,
  window: MaintenanceWindow | undefined,
  checks: ChecksOptions | undefined,
  completed: (id: string) => boolean,
): FlagDayProposal | undefined {
  const operators = networkOperators(network);
  if (!operators || plan.kind !== "transition") return undefined;
  const undone = plan.transition.undoes;
  if (!undone || completed(undone.id)) return undefined;
  return flagDayProposal({
    network,
    operators,
    from: undone.from,
    to: undone.to,
    sequence: undone.sequence,
    window: window as MaintenanceWindow,
    checks,
  });
}

/** The first verified abort of `proposal`'s flag day on the board, or undefined. */
export async function readAbort(
  board: CoordinationBoard,
  proposal: FlagDayProposal,
): Promise<{ readonly operator: string; readonly reason: string; readonly at: string } | undefined> {
  const reading = await board.readFlagDay(proposal);
  const abort = reading.entries
    .filter((e) => e.kind === "abort")
    .sort((a, b) => Date.parse(a.signedAt) - Date.parse(b.signedAt))[0];
  return abort
    ? {
        operator: abort.operator,
        reason: String((abort.payload as { reason?: unknown }).reason),
        at: abort.signedAt,
      }
    : undefined;
}

/** What the board says of `proposal`, with the entries it ignored (forged, edited, replayed) in words. */
export async function readAgreement(
  board: CoordinationBoard,
  proposal: FlagDayProposal,
): Promise<{ readonly status: AgreementStatus; readonly reading: FlagDayReading }> {
  const reading = await board.readFlagDay(proposal);
  return { status: agreementStatus(proposal, reading), reading };
}

/**
 * Why this update must not start, or undefined: a flag day (or rollback) of a network with several operators
 * waits until every operator signed the same proposal. A preview never refuses: it shows who signed.
 */
export function agreementRefusal(
  plan: Plan,
  status: AgreementStatus | undefined,
  opts: { readonly dryRun: boolean },
): string | undefined {
  if (plan.kind !== "transition" || !status || status.complete || opts.dryRun) return undefined;
  return (
    `flagday: not every operator has signed this flag day, so it cannot start. Nothing was changed.\n` +
    `${describeAgreement(status)}\n` +
    `Each operator checks the proposal and signs it with \`flagday agree -s <its stack>\`; an operator who ` +
    `signed a different proposal compares its stack file with the others' (the fields above differ).`
  );
}
