// Ledger of consensus-service-sim (SIMULATED stand-in for mc-ledger-db's LedgerDB).
//
// Stored in LMDB (the `lmdb` package) at <node dir>/ledger/data.mdb, like the real /ledger/data.mdb.
// Blocks are hash chained: id = sha256(parent_id || canonical JSON of {index, timestamp, txs}).
// The database records its FORMAT VERSION under "meta/format"; opening a ledger of another format than the
// release reads is refused (LedgerDB::open does the same: a node does not start on an unmigrated database).
//
// On-disk layouts (they really differ, so a migration rewrites data):
//   format 1: "blocks/<index as 16 hex>" -> {index, parent_id, id, timestamp, txs}
//   format 2: "b2/hdr/<index 16 hex>"    -> {index, parent_id, id, timestamp, contents_hash, tx_count}
//             "b2/txs/<index 16 hex>"    -> txs[]
//             "b2/id/<block id>"         -> index          (block id index)
//             contents_hash = sha256(JSON of txs), verified on every read.
// Account balances are derived by replaying the chain on open (the origin block mints the seed accounts).

import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { RootDatabase } from "lmdb";

export const KNOWN_LEDGER_FORMATS = [1, 2] as const;
export const LATEST_LEDGER_FORMAT = 2;
export const ZERO_ID = "0".repeat(64);
/** Accounts minted by the origin block, identical on every node. */
const BASE_ACCOUNTS = ["alice", "bob", "carol", "dave", "fog0", "fog1"];
/**
 * How many operators' own test wallets the origin block mints (`w<k>-alice`, ...): operators of one network
 * run their transaction tests at the same time, each with its own wallets, as real operators do.
 */
export const WALLET_SETS = 6;
export const SEED_ACCOUNTS: Record<string, number> = Object.fromEntries(
  [
    ...BASE_ACCOUNTS,
    ...Array.from({ length: WALLET_SETS }, (_, k) => BASE_ACCOUNTS.map((a) => `w${k + 1}-${a}`)).flat(),
  ].map((a) => [a, 1_000_000]),
);
const ORIGIN_TIMESTAMP = 1_600_000_000_000;

export interface Tx {
  id: string;
  kind: "mint" | "payment";
  /** Absent for mints. */
  from?: string;
  to: string;
  amount: number;
  /** Simulator flag: payment made through the fog path (stand-in for fog test_client) or not. */
  fog: boolean;
  nonce: string;
}

export interface Block {
  index: number;
  parent_id: string;
  id: string;
  /** ms since epoch */
  timestamp: number;
  txs: Tx[];
}

export type LedgerErrorCode =
  "FORMAT_MISMATCH" | "UNKNOWN_FORMAT" | "NO_LEDGER" | "CORRUPT" | "INVALID_BLOCK";

export class LedgerError extends Error {
  constructor(
    public readonly code: LedgerErrorCode,
    message: string,
  ) {
    super(message);
  }
}

function sha256(s: string): string {
  return createHash("sha256").update(s).digest("hex");
}

export function txId(t: Omit<Tx, "id">): string {
  return sha256(JSON.stringify([t.kind, t.from ?? null, t.to, t.amount, t.fog, t.nonce]));
}

export function computeBlockId(parentId: string, index: number, timestamp: number, txs: Tx[]): string {
  return sha256(parentId + JSON.stringify({ index, timestamp, txs }));
}

export function makeBlock(parent: Block | undefined, timestamp: number, txs: Tx[]): Block {
  const index = parent ? parent.index + 1 : 0;
  const parent_id = parent ? parent.id : ZERO_ID;
  return { index, parent_id, id: computeBlockId(parent_id, index, timestamp, txs), timestamp, txs };
}

export function originBlock(): Block {
  const txs: Tx[] = Object.entries(SEED_ACCOUNTS).map(([to, amount]) => {
    const t = { kind: "mint" as const, to, amount, fog: false, nonce: "origin" };
    return { id: txId(t), ...t };
  });
  return makeBlock(undefined, ORIGIN_TIMESTAMP, txs);
}

/** Apply txs to a copy of balances; returns the valid ones and why the others were dropped. */
export function applyTxs(
  balances: Map<string, number>,
  txs: Tx[],
  allowMint = false,
): { ok: Tx[]; bad: { tx: Tx; reason: string }[]; balances: Map<string, number> } {
  const b = new Map(balances);
  const ok: Tx[] = [];
  const bad: { tx: Tx; reason: string }[] = [];
  const seen = new Set<string>();
  for (const tx of txs) {
    const reason = checkTx(b, tx, allowMint, seen);
    if (reason) {
      bad.push({ tx, reason });
      continue;
    }
    seen.add(tx.id);
    if (tx.kind === "payment") b.set(tx.from!, (b.get(tx.from!) ?? 0) - tx.amount);
    b.set(tx.to, (b.get(tx.to) ?? 0) + tx.amount);
    ok.push(tx);
  }
  return { ok, bad, balances: b };
}

function checkTx(b: Map<string, number>, tx: Tx, allowMint: boolean, seen: Set<string>): string | undefined {
  if (!Number.isSafeInteger(tx.amount) || tx.amount <= 0) return "amount must be a positive integer";
  if (typeof tx.to !== "string" || !tx.to) return "missing recipient";
  if (txId(tx) !== tx.id) return "tx id does not match contents";
  if (seen.has(tx.id)) return "duplicate tx";
  if (tx.kind === "mint") return allowMint ? undefined : "mint only allowed in the origin block";
  if (tx.kind !== "payment" || typeof tx.from !== "string" || !tx.from) return "malformed payment";
  const have = b.get(tx.from) ?? 0;
  if (tx.amount > have)
    return `double spend / insufficient funds: ${tx.from} has ${have}, spends ${tx.amount}`;
  return undefined;
}

const key1 = (i: number) => `blocks/${i.toString(16).padStart(16, "0")}`;
const hdr2 = (i: number) => `b2/hdr/${i.toString(16).padStart(16, "0")}`;
const txs2 = (i: number) => `b2/txs/${i.toString(16).padStart(16, "0")}`;
const id2 = (id: string) => `b2/id/${id}`;
const FORMAT_KEY = "meta/format";

interface Header2 {
  index: number;
  parent_id: string;
  id: string;
  timestamp: number;
  contents_hash: string;
  tx_count: number;
}

function openEnv(dir: string): RootDatabase {
  // Loaded here, not at the top: most runs of the simulator (start, stop, --help, the ingress) never open a
  // ledger, and loading lmdb costs about as much CPU as the rest of the simulator's modules together.
  const { open } = require("lmdb") as typeof import("lmdb");
  // A directory path without an extension: lmdb creates <dir>/data.mdb and <dir>/lock.mdb.
  return open({ path: dir, encoding: "json", compression: false });
}

export function ledgerExists(dir: string): boolean {
  return fs.existsSync(path.join(dir, "data.mdb"));
}

function readFormat(db: RootDatabase, dir: string): number {
  const f = db.get(FORMAT_KEY) as unknown;
  if (f === undefined) throw new LedgerError("CORRUPT", `${dir}: no ledger format version stored`);
  if (typeof f !== "number" || !(KNOWN_LEDGER_FORMATS as readonly number[]).includes(f)) {
    throw new LedgerError(
      "UNKNOWN_FORMAT",
      `${dir}: unknown ledger format version ${JSON.stringify(f)} (this build knows ${KNOWN_LEDGER_FORMATS.join(", ")})`,
    );
  }
  return f;
}

function readBlockRaw(db: RootDatabase, format: number, i: number): Block | undefined {
  if (format === 1) return db.get(key1(i)) as Block | undefined;
  const h = db.get(hdr2(i)) as Header2 | undefined;
  if (!h) return undefined;
  const txs = (db.get(txs2(i)) as Tx[] | undefined) ?? [];
  if (sha256(JSON.stringify(txs)) !== h.contents_hash || txs.length !== h.tx_count) {
    throw new LedgerError("CORRUPT", `block ${i}: contents hash mismatch`);
  }
  return { index: h.index, parent_id: h.parent_id, id: h.id, timestamp: h.timestamp, txs };
}

function writeBlockRaw(db: RootDatabase, format: number, b: Block): void {
  if (format === 1) {
    db.putSync(key1(b.index), b);
    return;
  }
  const h: Header2 = {
    index: b.index,
    parent_id: b.parent_id,
    id: b.id,
    timestamp: b.timestamp,
    contents_hash: sha256(JSON.stringify(b.txs)),
    tx_count: b.txs.length,
  };
  db.putSync(hdr2(b.index), h);
  db.putSync(txs2(b.index), b.txs);
  db.putSync(id2(b.id), b.index);
}

function readAll(db: RootDatabase, format: number): Block[] {
  const out: Block[] = [];
  for (let i = 0; ; i++) {
    const b = readBlockRaw(db, format, i);
    if (!b) break;
    out.push(b);
  }
  return out;
}

/** Verify the hash chain and the tx validity of a whole chain; returns the resulting balances. */
export function verifyChain(blocks: Block[]): Map<string, number> {
  let balances = new Map<string, number>();
  let parent: Block | undefined;
  for (const b of blocks) {
    const expectParent = parent ? parent.id : ZERO_ID;
    const expectIndex = parent ? parent.index + 1 : 0;
    if (b.index !== expectIndex)
      throw new LedgerError("CORRUPT", `block ${b.index}: expected index ${expectIndex}`);
    if (b.parent_id !== expectParent)
      throw new LedgerError("CORRUPT", `block ${b.index}: parent id mismatch`);
    if (computeBlockId(b.parent_id, b.index, b.timestamp, b.txs) !== b.id) {
      throw new LedgerError("CORRUPT", `block ${b.index}: id does not match contents`);
    }
    const r = applyTxs(balances, b.txs, b.index === 0);
    if (r.bad.length) throw new LedgerError("CORRUPT", `block ${b.index}: invalid tx: ${r.bad[0].reason}`);
    balances = r.balances;
    parent = b;
  }
  return balances;
}

export class Ledger {
  private blocksMem: Block[];
  private balancesMem: Map<string, number>;
  private txIndex = new Map<string, number>();
  private closed = false;

  private constructor(
    private readonly db: RootDatabase,
    public readonly dir: string,
    public readonly format: number,
  ) {
    this.blocksMem = readAll(db, format);
    if (this.blocksMem.length === 0) throw new LedgerError("CORRUPT", `${dir}: ledger has no origin block`);
    this.balancesMem = verifyChain(this.blocksMem);
    for (const b of this.blocksMem) for (const t of b.txs) this.txIndex.set(t.id, b.index);
  }

  /**
   * Open the ledger at `dir` for a release that reads `format`. With `create`, a missing ledger is created
   * (origin block). A ledger of another format is refused with LedgerError FORMAT_MISMATCH.
   */
  static async open(dir: string, opts: { format: number; create?: boolean }): Promise<Ledger> {
    if (!(KNOWN_LEDGER_FORMATS as readonly number[]).includes(opts.format)) {
      throw new LedgerError("UNKNOWN_FORMAT", `this build cannot write ledger format ${opts.format}`);
    }
    if (!ledgerExists(dir)) {
      if (!opts.create) throw new LedgerError("NO_LEDGER", `${dir}: no ledger (data.mdb missing)`);
      fs.mkdirSync(dir, { recursive: true });
      const db = openEnv(dir);
      db.transactionSync(() => {
        db.putSync(FORMAT_KEY, opts.format);
        writeBlockRaw(db, opts.format, originBlock());
      });
      return new Ledger(db, dir, opts.format);
    }
    const db = openEnv(dir);
    try {
      const f = readFormat(db, dir);
      if (f !== opts.format) {
        throw new LedgerError(
          "FORMAT_MISMATCH",
          `${dir}: ledger format version ${f}, but this release reads format ${opts.format}; ` +
            `run the ledger migration (consensus-service-sim migrate --ledger-db ${dir}) first`,
        );
      }
      return new Ledger(db, dir, f);
    } catch (e) {
      await db.close();
      throw e;
    }
  }

  /** Read-only inspection of a ledger of any known format (ledger-dump). */
  static async inspect(dir: string): Promise<{ format: number; blocks: Block[] }> {
    if (!ledgerExists(dir)) throw new LedgerError("NO_LEDGER", `${dir}: no ledger (data.mdb missing)`);
    const db = openEnv(dir);
    try {
      const format = readFormat(db, dir);
      const blocks = readAll(db, format);
      verifyChain(blocks);
      return { format, blocks };
    } finally {
      await db.close();
    }
  }

  get height(): number {
    return this.blocksMem.length;
  }
  get tip(): Block {
    return this.blocksMem[this.blocksMem.length - 1];
  }
  block(i: number): Block | undefined {
    return this.blocksMem[i];
  }
  blocks(from: number, limit: number): Block[] {
    return this.blocksMem.slice(from, from + limit);
  }
  balance(account: string): number {
    return this.balancesMem.get(account) ?? 0;
  }
  balances(): Map<string, number> {
    return new Map(this.balancesMem);
  }
  txBlock(id: string): number | undefined {
    return this.txIndex.get(id);
  }

  /** Check a candidate next block without writing it; returns an error message or undefined. */
  validateNext(b: Block): string | undefined {
    if (b.index !== this.height) return `block index ${b.index}, expected ${this.height}`;
    if (b.parent_id !== this.tip.id) return `block ${b.index}: parent id does not match our tip`;
    if (computeBlockId(b.parent_id, b.index, b.timestamp, b.txs) !== b.id) return `block ${b.index}: bad id`;
    if (b.txs.length === 0) return `block ${b.index}: empty block`;
    for (const t of b.txs)
      if (this.txIndex.has(t.id)) return `block ${b.index}: tx ${t.id} already committed`;
    const r = applyTxs(this.balancesMem, b.txs);
    if (r.bad.length) return `block ${b.index}: ${r.bad[0].reason}`;
    return undefined;
  }

  /** Append a validated block in one synchronous LMDB write transaction. */
  append(b: Block): void {
    if (this.closed) throw new LedgerError("INVALID_BLOCK", "ledger closed");
    const err = this.validateNext(b);
    if (err) throw new LedgerError("INVALID_BLOCK", err);
    this.db.transactionSync(() => writeBlockRaw(this.db, this.format, b));
    this.blocksMem.push(b);
    this.balancesMem = applyTxs(this.balancesMem, b.txs).balances;
    for (const t of b.txs) this.txIndex.set(t.id, b.index);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.db.close();
  }
}

export type MigrateResult = { from: number; to: number; migrated: boolean; blocks: number };

/**
 * Stand-in for `mc-ledger-migration --ledger-db <dir>`: migrate in place, forward only, in one write
 * transaction. Refuses unknown versions and downgrades; a ledger already at `to` is left untouched.
 */
/**
 * Rewrites the ledger to format `to`: forward (mc-ledger-migration), or, with `reverse`, back to an older
 * format (the simulator's stand-in for a release's reverse migrations). Every block and its id are kept.
 */
export async function migrateLedger(
  dir: string,
  to: number = LATEST_LEDGER_FORMAT,
  opts: { readonly reverse?: boolean } = {},
): Promise<MigrateResult> {
  if (!(KNOWN_LEDGER_FORMATS as readonly number[]).includes(to)) {
    throw new LedgerError("UNKNOWN_FORMAT", `unknown target ledger format ${to}`);
  }
  if (!ledgerExists(dir)) throw new LedgerError("NO_LEDGER", `${dir}: no ledger (data.mdb missing)`);
  const db = openEnv(dir);
  try {
    const from = readFormat(db, dir);
    if (from === to) return { from, to, migrated: false, blocks: readAll(db, from).length };
    if (from > to && !opts.reverse) {
      throw new LedgerError(
        "FORMAT_MISMATCH",
        `${dir}: format ${from} is newer than ${to}; migrations are forward only (a release's reverse ` +
          `migration passes --reverse)`,
      );
    }
    if (from < to && opts.reverse) {
      throw new LedgerError(
        "FORMAT_MISMATCH",
        `${dir}: format ${from} is older than ${to}: nothing to reverse`,
      );
    }
    const blocks = readAll(db, from);
    verifyChain(blocks);
    const step = from < to ? 1 : -1;
    db.transactionSync(() => {
      for (let f = from; f !== to; f += step) {
        // Each step rewrites every block from layout f to layout f±1 and drops the old keys.
        for (const b of blocks) writeBlockRaw(db, f + step, b);
        for (const b of blocks) removeBlockRaw(db, f, b);
      }
      db.putSync(FORMAT_KEY, to);
    });
    const after = readAll(db, to);
    verifyChain(after);
    if (after.length !== blocks.length || after.some((b, i) => b.id !== blocks[i].id)) {
      throw new LedgerError("CORRUPT", `${dir}: migration changed block ids`);
    }
    return { from, to, migrated: true, blocks: after.length };
  } finally {
    await db.close();
  }
}

function removeBlockRaw(db: RootDatabase, format: number, b: Block): void {
  if (format === 1) {
    db.removeSync(key1(b.index));
    return;
  }
  db.removeSync(hdr2(b.index));
  db.removeSync(txs2(b.index));
  db.removeSync(id2(b.id));
}

/** Raw key listing (tests use it to show the on-disk layout really changed). */
export async function rawKeys(dir: string): Promise<string[]> {
  const db = openEnv(dir);
  try {
    return [...db.getKeys({})].map(String);
  } finally {
    await db.close();
  }
}
