/**
 * `flagday barrier` (run by a flag day's barrier stage, or by hand to see where the operators are) and
 * `flagday abort` (an operator or the coordinator stops the flag day for everyone). The key is the operator's
 * Ed25519 private key: `--key-file`, or the environment variable FLAGDAY_OPERATOR_KEY (the stage step passes the
 * secret `flagday:operatorKey` there), never the command line.
 */
import { CHECKOUT } from "./checkout";
import { KeyObject } from "node:crypto";
import { openBoard } from "../components/coordination/agreement";
import { abortEntry, BarrierSpec, barrierOrder, waitAtBarrier } from "../components/coordination/barrier";
import { EntryExistsError } from "../components/coordination/board";
import type { Json } from "../components/coordination/canonical";
import type { Operator } from "../components/coordination/proposal";
import { shortId } from "../components/coordination/proposal";
import { privateKeyFrom, readPrivateKeyFile } from "../components/coordination/signing";
import {
  BARRIER_NAMES,
  type BarrierName,
  isBarrierName,
  SEQUENCES,
  type SequenceName,
} from "../components/stages";

export class BarrierUsageError extends Error {}

export interface BarrierFlags {
  board?: string;
  network?: string;
  flagDay?: string;
  sequence?: string;
  stage?: string;
  operator?: string;
  operatorKey?: string[];
  payload?: string;
  agreeOn?: string;
  timeout?: string;
  interval?: string;
  keyFile?: string;
}

function need(v: string | undefined, flag: string): string {
  if (v === undefined || v === "") throw new BarrierUsageError(`${flag} is required`);
  return v;
}

/** A flag's JSON value, or a usage error naming the flag. */
export function parseJson(text: string, flag: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new BarrierUsageError(`${flag} is not JSON: ${(e as Error).message}`);
  }
}

/** The operators `--operator-key name=<public key>` gives (none when the flag is not given). */
export function operatorKeyFlags(list: readonly string[] | undefined): Operator[] {
  return (list ?? []).map((p) => {
    const i = p.indexOf("=");
    if (i <= 0) throw new BarrierUsageError(`--operator-key expects name=<public key>, got "${p}"`);
    return { name: p.slice(0, i), publicKey: p.slice(i + 1) };
  });
}

function operatorsFrom(list: string[] | undefined): Operator[] {
  const ops = operatorKeyFlags(list);
  if (ops.length === 0)
    throw new BarrierUsageError("--operator-key name=<public key> is required for every operator");
  return ops;
}

/** The operator's private key: --key-file, else FLAGDAY_OPERATOR_KEY. */
export function operatorPrivateKey(keyFile: string | undefined): KeyObject {
  if (keyFile) return readPrivateKeyFile(keyFile);
  const text = process.env.FLAGDAY_OPERATOR_KEY;
  if (!text) {
    throw new BarrierUsageError(
      "the operator's Ed25519 private key is needed to sign: --key-file <pem>, or the environment variable " +
        "FLAGDAY_OPERATOR_KEY (a flag day's stage sets it from the secret flagday:operatorKey)",
    );
  }
  return privateKeyFrom(text, "FLAGDAY_OPERATOR_KEY");
}

function specFrom(o: BarrierFlags): BarrierSpec {
  const stage = need(o.stage, "--stage");
  if (!isBarrierName(stage)) {
    throw new BarrierUsageError(`--stage must be one of ${BARRIER_NAMES.join(", ")} (got "${stage}")`);
  }
  const sequence = o.sequence ?? "flag-day";
  if (!(sequence in SEQUENCES)) {
    throw new BarrierUsageError(`--sequence must be one of ${Object.keys(SEQUENCES).join(", ")}`);
  }
  if (!barrierOrder(sequence as SequenceName).includes(stage as BarrierName)) {
    throw new BarrierUsageError(`the ${sequence} sequence has no barrier ${stage}`);
  }
  if (o.agreeOn !== undefined && o.agreeOn !== "height") {
    throw new BarrierUsageError(`--agree-on takes only "height" (got "${o.agreeOn}")`);
  }
  const flagDayId = need(o.flagDay, "--flag-day");
  if (!/^[0-9a-f]{64}$/.test(flagDayId))
    throw new BarrierUsageError("--flag-day must be the 64-hex flag-day id");
  return {
    network: need(o.network, "--network"),
    flagDayId,
    sequence: sequence as SequenceName,
    stage: stage as BarrierName,
    operator: need(o.operator, "--operator"),
    operators: operatorsFrom(o.operatorKey),
    payload: (o.payload === undefined ? {} : parseJson(o.payload, "--payload")) as Json,
    ...(o.agreeOn ? { agreeOn: "height" as const } : {}),
  };
}

const stamp = () => new Date().toISOString().replace(/\.\d+Z$/, "Z");

/** `flagday barrier`: post this operator's arrival and wait for every operator's. Exit 0, 1 (FAIL) or 2. */
export async function barrier(o: BarrierFlags): Promise<number> {
  const spec = specFrom(o);
  if (!spec.operators.some((op) => op.name === spec.operator)) {
    throw new BarrierUsageError(`--operator ${spec.operator} is not one of the --operator-key operators`);
  }
  const timeout = Number(o.timeout ?? 3600);
  const interval = Number(o.interval ?? 0.5);
  if (!Number.isFinite(timeout) || timeout < 0) throw new BarrierUsageError("--timeout must be seconds");
  if (!Number.isFinite(interval) || interval <= 0) throw new BarrierUsageError("--interval must be seconds");
  const board = openBoard(parseJson(need(o.board, "--board"), "--board"), CHECKOUT, spec.operator);
  const key = operatorPrivateKey(o.keyFile);
  const log = (l: string) => console.log(`${stamp()} ${l}`);
  const out = await waitAtBarrier(board, spec, key, {
    timeoutMs: timeout * 1000,
    intervalMs: interval * 1000,
    log,
  });
  const waited = `${(out.waitedMs / 1000).toFixed(1)}s`;
  if (out.ok) {
    console.log(`waited=${waited}`);
    console.log(
      `${stamp()} OK ${spec.stage}: every operator arrived (${out.status.arrived.join(", ")}) after waiting ${waited}`,
    );
    return 0;
  }
  console.log(`${stamp()} FAIL ${spec.stage}: ${out.reason}`);
  console.error(`FAIL ${spec.stage}: ${out.reason}`);
  return 1;
}

/** `flagday abort`: post a signed abort of a flag day; every operator's waiting barrier fails with the reason. */
export async function postAbort(
  a: { network: string; flagDayId: string; operator: string; reason: string; board: unknown },
  key: KeyObject,
  log: (line: string) => void,
): Promise<number> {
  if (!a.reason.trim())
    throw new BarrierUsageError("--reason is required: say why, for every operator on the call");
  const board = openBoard(a.board, CHECKOUT, a.operator);
  try {
    const at = await board.put(abortEntry(a, key));
    log(`posted the abort of flag day ${shortId(a.flagDayId)} by ${a.operator}: ${at}`);
  } catch (e) {
    if (!(e instanceof EntryExistsError)) throw e;
    log(`operator ${a.operator} had already aborted flag day ${shortId(a.flagDayId)}.`);
  }
  log(
    `every operator's waiting barrier now fails with this reason. Each operator then sets flagday:abort to the ` +
      `release the flag day started from and runs \`pulumi up\`: its nodes are restored from their snapshots.`,
  );
  return 0;
}
