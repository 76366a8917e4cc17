/**
 * Cross-operator barriers (stages.ts's BarrierStage): each operator's stack posts, signed, that it reached a
 * barrier with what it read there (`progress-<barrier>` on the board), then waits until every operator of the
 * flag day did. The decisions are plain functions of a verified board reading; `waitAtBarrier` is the loop the
 * `flagday barrier` command runs inside a stage step.
 *
 * Nothing here trusts another operator's admin port or unverified text: the network-wide verdict (one height,
 * one block hash) is computed from the signed reports only, and an entry that fails verification is reported
 * and never counted.
 */
import { KeyObject } from "node:crypto";
import type { Json } from "./canonical";
import type { BarrierName, SequenceName, Stage } from "../stages";
import { stagesOf } from "../stages";
import {
  BoardEntry,
  BoardReading,
  CoordinationBoard,
  EntryExistsError,
  describeRejected,
  entryKey,
  signEntry,
} from "./board";
import type { Operator } from "./proposal";
import { shortId } from "./proposal";
import { shellQuote as q } from "../mobilecoin/shell";

/** One barrier, as a flag day's stack passes it to `flagday barrier`. */
export interface BarrierSpec {
  readonly network: string;
  readonly flagDayId: string;
  readonly sequence: SequenceName;
  readonly stage: BarrierName;
  /** This stack's operator (the one that posts). */
  readonly operator: string;
  /** Every operator of the flag day, with its public key: the only keys a reader accepts. */
  readonly operators: readonly Operator[];
  /** What this operator read at the barrier: `{height, blockHash}` at all-quiesced, snapshot heights, ... */
  readonly payload: Json;
  /** What the reports must agree on besides having arrived. */
  readonly agreeOn?: "height";
}

/** Where one operator is, from its verified progress entries. */
export interface OperatorProgress {
  readonly operator: string;
  /** The furthest barrier of the sequence it posted, and when; undefined when it posted none. */
  readonly last?: { readonly stage: BarrierName; readonly at: string };
}

export interface BarrierStatus {
  readonly stage: BarrierName;
  /** Operators who posted this barrier, sorted. */
  readonly arrived: readonly string[];
  /** Operators who have not, sorted, with the furthest barrier each did post. */
  readonly missing: readonly OperatorProgress[];
  /** A verified abort of this flag day (the first, by signing time): every barrier fails on it at once. */
  readonly abort?: { readonly operator: string; readonly reason: string; readonly at: string };
  /** The arrived reports disagree (different heights or block hashes): waiting cannot fix it. */
  readonly disagreement?: string;
  /** Every operator arrived and the reports agree. */
  readonly complete: boolean;
}

/** The barriers of a sequence in order (for "where is each operator"). */
export function barrierOrder(sequence: SequenceName): BarrierName[] {
  return stagesOf(sequence, true)
    .filter((s: Stage) => s.scope === "operators")
    .map((s) => s.name as BarrierName);
}

/** The barrier's progress-entry stage word on the board: the barrier's own name (`progress-all-quiesced`). */
export const progressStage = (stage: BarrierName): string => stage;

/**
 * Where the flag day stands at `stage`, from the verified entries of this flag day. Only verified entries
 * reach here (CoordinationBoard.read): a forged or edited entry never counts as an arrival or an abort.
 */
export function barrierStatus(
  spec: Pick<BarrierSpec, "flagDayId" | "sequence" | "stage" | "operators" | "agreeOn">,
  entries: readonly BoardEntry[],
): BarrierStatus {
  const mine = entries.filter((e) => e.flagDayId === spec.flagDayId);
  const order = barrierOrder(spec.sequence);
  const names = spec.operators.map((o) => o.name).sort();
  const reports = new Map(
    mine.filter((e) => e.kind === "progress" && e.stage === spec.stage).map((e) => [e.operator, e]),
  );
  const arrived = names.filter((n) => reports.has(n));
  const missing = names
    .filter((n) => !reports.has(n))
    .map((operator): OperatorProgress => {
      const posted = mine
        .filter((e) => e.kind === "progress" && e.operator === operator)
        .filter((e) => order.includes(e.stage as BarrierName))
        .sort((a, b) => order.indexOf(b.stage as BarrierName) - order.indexOf(a.stage as BarrierName));
      return posted[0]
        ? { operator, last: { stage: posted[0].stage as BarrierName, at: posted[0].signedAt } }
        : { operator };
    });
  const aborts = mine
    .filter((e) => e.kind === "abort")
    .sort((a, b) => Date.parse(a.signedAt) - Date.parse(b.signedAt));
  const abort = aborts[0]
    ? {
        operator: aborts[0].operator,
        reason: String((aborts[0].payload as { reason?: unknown }).reason),
        at: aborts[0].signedAt,
      }
    : undefined;
  const disagreement = spec.agreeOn === "height" ? heightDisagreement([...reports.values()]) : undefined;
  return {
    stage: spec.stage,
    arrived,
    missing,
    ...(abort ? { abort } : {}),
    ...(disagreement ? { disagreement } : {}),
    complete: missing.length === 0 && !abort && !disagreement,
  };
}

/** The reported heights and block hashes, when they are not one height and one hash; undefined when they are. */
export function heightDisagreement(reports: readonly BoardEntry[]): string | undefined {
  const read = (e: BoardEntry) => {
    const p = (e.payload ?? {}) as { height?: unknown; blockHash?: unknown };
    return { operator: e.operator, height: p.height, blockHash: p.blockHash };
  };
  const all = reports.map(read).sort((a, b) => (a.operator < b.operator ? -1 : 1));
  const bad = all.filter((r) => !Number.isInteger(r.height));
  if (bad.length) {
    return `operator(s) ${bad.map((r) => r.operator).join(", ")} reported no block height`;
  }
  const keys = new Set(all.map((r) => `${r.height}/${r.blockHash ?? ""}`));
  if (keys.size <= 1) return undefined;
  return (
    `the operators' nodes are not at one height and one block hash: ` +
    all
      .map((r) => `${r.operator}=${r.height}${r.blockHash ? ` (${String(r.blockHash).slice(0, 12)})` : ""}`)
      .join(", ")
  );
}

/** The barrier in words: who arrived, and for every missing operator where it is. */
export function describeBarrier(s: BarrierStatus, now = new Date()): string {
  const total = s.arrived.length + s.missing.length;
  const head = `${s.stage}: ${s.arrived.length} of ${total} operators arrived${s.arrived.length ? ` (${s.arrived.join(", ")})` : ""}`;
  if (s.missing.length === 0) return head;
  const where = s.missing.map((m) =>
    m.last
      ? `${m.operator} (last at ${m.last.stage}, ${ago(m.last.at, now)})`
      : `${m.operator} (no barrier posted yet)`,
  );
  return `${head}; waiting for ${where.join(", ")}`;
}

function ago(at: string, now: Date): string {
  const s = Math.max(0, Math.round((now.getTime() - Date.parse(at)) / 1000));
  return `${s}s ago`;
}

/** This operator's progress entry for the barrier. */
export function progressEntry(spec: BarrierSpec, key: KeyObject, signedAt?: string): BoardEntry {
  return signEntry(
    {
      network: spec.network,
      operator: spec.operator,
      kind: "progress",
      flagDayId: spec.flagDayId,
      stage: progressStage(spec.stage),
      payload: spec.payload,
      ...(signedAt ? { signedAt } : {}),
    },
    key,
  );
}

/** An abort of a flag day, with the reason every waiting barrier fails with. */
export function abortEntry(
  a: {
    readonly network: string;
    readonly flagDayId: string;
    readonly operator: string;
    readonly reason: string;
  },
  key: KeyObject,
): BoardEntry {
  return signEntry(
    {
      network: a.network,
      operator: a.operator,
      kind: "abort",
      flagDayId: a.flagDayId,
      payload: { reason: a.reason },
    },
    key,
  );
}

export interface WaitOptions {
  readonly timeoutMs: number;
  /** Between board reads. @default 1000 */
  readonly intervalMs?: number;
  /** How often a waiting barrier says whom it waits for. @default 5000 */
  readonly reportEveryMs?: number;
  readonly log: (line: string) => void;
  /** For tests. */
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

export type BarrierOutcome =
  | { readonly ok: true; readonly status: BarrierStatus; readonly waitedMs: number }
  | {
      readonly ok: false;
      readonly reason: string;
      readonly status?: BarrierStatus;
      readonly waitedMs: number;
    };

/**
 * Posts this operator's arrival (once: a re-run finds its own entry and keeps it) and waits until every
 * operator arrived with agreeing reports. Fails at once on an abort or a disagreement, and after the timeout
 * naming every missing operator and where it is. Never proceeds on partial agreement.
 */
export async function waitAtBarrier(
  board: CoordinationBoard,
  spec: BarrierSpec,
  key: KeyObject,
  o: WaitOptions,
): Promise<BarrierOutcome> {
  const now = o.now ?? Date.now;
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const started = now();
  const read = async (): Promise<BarrierStatus> => {
    const reading: BoardReading = await board.read({
      network: spec.network,
      operators: spec.operators,
      select: (k) => k.split("/")[2] === spec.flagDayId,
    });
    for (const r of reading.rejected) {
      if (!reported.has(r.key)) o.log(`flagday: ${describeRejected(r)}`);
      reported.add(r.key);
    }
    return barrierStatus(spec, reading.entries);
  };
  const reported = new Set<string>();
  const aborted = (s: BarrierStatus) =>
    s.abort &&
    `operator ${s.abort.operator} aborted flag day ${shortId(spec.flagDayId)} at ${s.abort.at}: ${s.abort.reason}`;

  let status = await read();
  if (status.abort) return { ok: false, reason: aborted(status) as string, status, waitedMs: 0 };
  try {
    const at = await board.put(progressEntry(spec, key));
    o.log(`flagday: ${spec.operator} arrived at ${spec.stage} (posted ${at})`);
  } catch (e) {
    if (!(e instanceof EntryExistsError)) throw e;
    o.log(
      `flagday: ${spec.operator} had already arrived at ${spec.stage} (${entryKey({ ...spec, kind: "progress", stage: spec.stage })}): resuming the wait`,
    );
  }
  let lastReport = 0;
  for (;;) {
    status = await read();
    const waitedMs = now() - started;
    if (status.abort) return { ok: false, reason: aborted(status) as string, status, waitedMs };
    if (status.disagreement) return { ok: false, reason: status.disagreement, status, waitedMs };
    if (status.complete) return { ok: true, status, waitedMs };
    if (waitedMs >= o.timeoutMs) {
      return {
        ok: false,
        reason:
          `not every operator reached ${spec.stage} within ${Math.round(o.timeoutMs / 1000)}s: ` +
          status.missing
            .map((m) => `${m.operator} (${m.last ? `last at ${m.last.stage}` : "no barrier posted"})`)
            .join(", "),
        status,
        waitedMs,
      };
    }
    if (now() - lastReport >= (o.reportEveryMs ?? 5000)) {
      o.log(`flagday: ${describeBarrier(status, new Date(now()))}, ${Math.round(waitedMs / 1000)}s so far`);
      lastReport = now();
    }
    await sleep(o.intervalMs ?? 1000);
  }
}

/** What a flag day's barrier steps need to post and read: one operator's stack of a coordinated network. */
export interface BarrierContext {
  readonly network: string;
  readonly flagDayId: string;
  readonly sequence: SequenceName;
  readonly operator: string;
  readonly operators: readonly Operator[];
  /** The board as `flagday:board` gives it, with a directory made absolute. */
  readonly board: unknown;
  readonly timeoutSeconds: number;
  /** The operator's key file, if the key is not the secret FLAGDAY_OPERATOR_KEY the step's environment holds. */
  readonly keyFile?: string;
}

/**
 * The command a barrier step runs (the checks CLI's `barrier`), with this operator's report as its payload.
 * Public keys and the board's address are public; the private key never appears here.
 */
export function barrierCommand(
  cli: string,
  c: BarrierContext,
  stage: BarrierName,
  payload: Json,
  agreeOn?: "height",
): string {
  return [
    cli,
    "barrier",
    `--stage ${stage}`,
    `--network ${q(c.network)}`,
    `--flag-day ${c.flagDayId}`,
    `--sequence ${c.sequence}`,
    `--operator ${q(c.operator)}`,
    ...c.operators.map((o) => `--operator-key ${q(`${o.name}=${o.publicKey}`)}`),
    `--board ${q(JSON.stringify(c.board))}`,
    `--payload ${q(JSON.stringify(payload))}`,
    ...(agreeOn ? [`--agree-on ${agreeOn}`] : []),
    `--timeout ${c.timeoutSeconds}`,
    ...(c.keyFile ? [`--key-file ${q(c.keyFile)}`] : []),
  ].join(" ");
}
