import { KeyObject } from "node:crypto";
import { Json, canonicalJson, sha256Hex } from "./canonical";
import { FlagDayProposal, Operator, flagDayId, proposalDifferences, shortId } from "./proposal";
import { describe } from "../release";
import { keyId, publicKeyFrom, signMessage, verifyMessage } from "./signing";

/**
 * The coordination board: where operators' signed entries meet. Every entry is write-once (a second write to
 * its key is refused, never overwrites), signed by its operator, and stored at a key derived from its own
 * content:
 *
 *     <network>/<operator>/<flagDayId>/<kind>[-<stage>]      e.g. mainnet/acme/3f9a…c1/progress-stop
 *
 * The operator comes before the flag day so that each operator writes under one plain prefix,
 * `<network>/<operator>/`, which an S3 bucket policy can grant to that operator alone (boardS3.ts). Readers
 * trust nothing they did not verify: an entry that is unsigned, signed by a key not in the network's operator
 * list, signed by another operator than the one it names, edited after signing, or stored where its content
 * does not belong (replayed from another flag day, network or operator) is ignored and reported with the reason.
 */

export const ENTRY_KINDS = ["agree", "progress", "abort"] as const;
/**
 * - `agree`: the operator signed the flag day; payload `{ proposal }` (the whole proposal, so that readers can
 *   name the fields where a different one differs).
 * - `progress`: the operator reached `stage`; the payload is what it read or did (heights, snapshot ids, ...).
 * - `abort`: stop the flag day; payload `{ reason }`. The coordinator may post one too.
 */
export type EntryKind = (typeof ENTRY_KINDS)[number];

/** What an operator signs. */
export interface EntryContent {
  readonly network: string;
  readonly operator: string;
  readonly kind: EntryKind;
  /** sha256 hex of the proposal's canonical JSON. */
  readonly flagDayId: string;
  /** Only for `progress`: lowercase letters, digits and dashes, e.g. `stop`, `quiesce-report`. */
  readonly stage?: string;
  readonly payload: Json;
  /** ISO 8601 UTC time of signing; information only (ordering comes from the stages, not clocks). */
  readonly signedAt: string;
}

/** An entry as stored: its content, the fingerprint of the key that signed it, and the signature. */
export interface BoardEntry extends EntryContent {
  /** keyId() of the signing key: a hint for messages, itself signed. Verification never trusts it. */
  readonly keyId: string;
  /** base64 Ed25519 signature over the canonical JSON of every other field (domain `flagday-board-entry-v1`). */
  readonly signature: string;
}

/** An entry that failed verification: ignored by every decision, reported so that operators see it. */
export interface RejectedEntry {
  readonly key: string;
  /** The operator the entry names, when it could be read. */
  readonly operator?: string;
  readonly flagDayId?: string;
  readonly reason: string;
}

export interface BoardReading {
  /** Verified entries, sorted by key. */
  readonly entries: readonly BoardEntry[];
  readonly rejected: readonly RejectedEntry[];
}

/** Where a board keeps its entries. `create` is write-once: it refuses an existing key. */
export interface BoardBackend {
  /** For messages: `directory /srv/board`, `s3://bucket/prefix/ (http://127.0.0.1:9000)`. */
  readonly description: string;
  /** Stores `body` at `key` unless the key exists; then throws EntryExistsError and changes nothing. */
  create(key: string, body: string): Promise<void>;
  /** Every key that starts with `prefix`, sorted. */
  list(prefix: string): Promise<string[]>;
  /** The text at `key`, or undefined if there is none. Throws if it is larger than `maxBytes`. */
  read(key: string, maxBytes: number): Promise<string | undefined>;
}

export class EntryExistsError extends Error {
  constructor(
    readonly key: string,
    where: string,
  ) {
    super(
      `the board (${where}) already has an entry at ${key}: board entries are write-once, never overwritten.`,
    );
    this.name = "EntryExistsError";
  }
}

/** The largest entry a reader accepts; a proposal with ten operators is about 3 KiB. */
export const MAX_ENTRY_BYTES = 256 * 1024;

const SEGMENT = /^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$/;
const HEX64 = /^[0-9a-f]{64}$/;
const KEY_ID = /^[0-9a-f]{16}$/;
const STAGE = /^[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?$/;
const ENTRY_FIELDS = [
  "network",
  "operator",
  "kind",
  "flagDayId",
  "stage",
  "payload",
  "signedAt",
  "keyId",
  "signature",
];

/** The key an entry is stored at, derived from its content. */
export function entryKey(
  e: Pick<EntryContent, "network" | "operator" | "flagDayId" | "kind" | "stage">,
): string {
  return `${e.network}/${e.operator}/${e.flagDayId}/${e.kind}${e.stage ? `-${e.stage}` : ""}`;
}

/** The prefix under which one operator writes: `<network>/<operator>/`. */
export function operatorPrefix(network: string, operator: string): string {
  return `${network}/${operator}/`;
}

/** The text an entry's signature signs: the canonical JSON of every field but the signature. */
export function signedText(e: Omit<BoardEntry, "signature">): string {
  const content: Record<string, unknown> = {};
  for (const f of ENTRY_FIELDS) {
    if (f !== "signature") content[f] = (e as unknown as Record<string, unknown>)[f];
  }
  return canonicalJson(content);
}

/** Signs an entry with the operator's private key. `signedAt` defaults to now. */
export function signEntry(
  content: Omit<EntryContent, "signedAt"> & { readonly signedAt?: string },
  privateKey: KeyObject,
): BoardEntry {
  const problems = contentProblems(content);
  if (problems.length) throw new Error(`cannot sign this board entry: ${problems.join("; ")}`);
  const unsigned = {
    ...content,
    signedAt: content.signedAt ?? new Date().toISOString(),
    keyId: keyId(privateKey),
  };
  return { ...unsigned, signature: signMessage("entry", signedText(unsigned), privateKey) };
}

/** The agree entry for a proposal: the operator's signature on its id, with the proposal itself. */
export function agreeEntry(proposal: FlagDayProposal, operator: string, privateKey: KeyObject): BoardEntry {
  return signEntry(
    {
      network: proposal.network.name,
      operator,
      kind: "agree",
      flagDayId: flagDayId(proposal),
      payload: { proposal: proposal as unknown as Json },
    },
    privateKey,
  );
}

/** The shape rules for an entry's content, as messages; empty when it may be signed and stored. */
function contentProblems(e: Partial<EntryContent>): string[] {
  const problems: string[] = [];
  if (typeof e.network !== "string" || !SEGMENT.test(e.network)) {
    problems.push(`network ${describe(e.network)} is not a name`);
  }
  if (typeof e.operator !== "string" || !SEGMENT.test(e.operator)) {
    problems.push(`operator ${describe(e.operator)} is not a name`);
  }
  if (!ENTRY_KINDS.includes(e.kind as EntryKind)) {
    problems.push(`kind ${describe(e.kind)} is not one of ${ENTRY_KINDS.join(", ")}`);
  }
  if (typeof e.flagDayId !== "string" || !HEX64.test(e.flagDayId)) {
    problems.push(`flagDayId ${describe(e.flagDayId)} is not a sha256`);
  }
  if (e.kind === "progress" && (typeof e.stage !== "string" || !STAGE.test(e.stage))) {
    problems.push(
      `a progress entry needs a stage of lowercase letters, digits and dashes (got ${describe(e.stage)})`,
    );
  }
  if (e.kind !== "progress" && e.stage !== undefined) problems.push(`a ${e.kind} entry has no stage`);
  if (e.payload === undefined) {
    problems.push("payload is missing");
  } else {
    try {
      canonicalJson(e.payload);
    } catch (err) {
      problems.push(`payload is not JSON data (${(err as Error).message})`);
    }
  }
  if (e.kind === "abort") {
    const reason = (e.payload as { reason?: unknown } | null)?.reason;
    if (typeof reason !== "string" || !reason.trim()) {
      problems.push("an abort entry's payload needs a reason");
    }
  }
  if (e.signedAt !== undefined && (typeof e.signedAt !== "string" || Number.isNaN(Date.parse(e.signedAt)))) {
    problems.push(`signedAt ${describe(e.signedAt)} is not a time`);
  }
  return problems;
}

/** Who may sign entries on a network: operator name -> public key. */
export type OperatorKeys = ReadonlyMap<string, KeyObject>;

export function operatorKeys(operators: readonly Operator[] | FlagDayProposal["operators"]): OperatorKeys {
  const list = Array.isArray(operators)
    ? (operators as readonly Operator[])
    : Object.entries(operators as FlagDayProposal["operators"]).map(([name, o]) => ({
        name,
        publicKey: o.publicKey,
      }));
  return new Map(list.map((o) => [o.name, publicKeyFrom(o.publicKey, `operator ${o.name}'s public key`)]));
}

export type Verdict =
  | { readonly ok: true; readonly entry: BoardEntry }
  | { readonly ok: false; readonly rejected: RejectedEntry };

/**
 * Verifies the text stored at `key` on `network`'s board against the network's operator keys. The checks run
 * from the entry's form to its signature to its place, so the reason names the first thing wrong.
 */
export function verifyEntry(key: string, text: string, network: string, keys: OperatorKeys): Verdict {
  const reject = (reason: string, e?: Partial<BoardEntry>): Verdict => ({
    ok: false,
    rejected: {
      key,
      ...(typeof e?.operator === "string" ? { operator: e.operator } : {}),
      ...(typeof e?.flagDayId === "string" ? { flagDayId: e.flagDayId } : {}),
      reason,
    },
  });
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return reject("not a board entry: the stored text is not JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    return reject("not a board entry: the stored JSON is not an object");
  }
  const e = parsed as Partial<BoardEntry>;
  const extra = Object.keys(e).filter((k) => !ENTRY_FIELDS.includes(k));
  if (extra.length) return reject(`not a board entry: unexpected field(s) ${extra.join(", ")}`, e);
  const problems = contentProblems(e);
  if (e.signedAt === undefined) problems.push("signedAt is missing");
  if (problems.length) return reject(`not a board entry: ${problems.join("; ")}`, e);
  if (typeof e.signature !== "string" || e.signature.length === 0) {
    return reject(`unsigned: the entry names operator ${e.operator} but carries no signature`, e);
  }
  if (typeof e.keyId !== "string" || !KEY_ID.test(e.keyId)) {
    return reject(`not a board entry: keyId ${describe(e.keyId)} is not a key fingerprint`, e);
  }
  const named = keys.get(e.operator as string);
  if (!named) {
    return reject(
      `forged: operator ${e.operator} is not in the network's operator list (${[...keys.keys()].sort().join(", ")})`,
      e,
    );
  }
  const signed = signedText(e as BoardEntry);
  if (!verifyMessage("entry", signed, e.signature, named)) {
    const signer = [...keys].find(([, k]) => verifyMessage("entry", signed, e.signature as string, k))?.[0];
    if (signer) {
      return reject(`forged: signed with operator ${signer}'s key but names operator ${e.operator}`, e);
    }
    if (e.keyId === keyId(named)) {
      return reject(`edited: the content no longer matches operator ${e.operator}'s signature on it`, e);
    }
    const known = [...keys].find(([, k]) => keyId(k) === e.keyId)?.[0];
    return reject(
      known
        ? `forged or edited: the signature does not verify with operator ${e.operator}'s key`
        : `forged: signed by a key that is not in the network's operator list (key ${describe(e.keyId)}), ` +
            `not by operator ${e.operator}'s key`,
      e,
    );
  }
  const entry = e as BoardEntry;
  if (entry.network !== network) {
    return reject(`replayed: a ${entry.network} entry on the ${network} board`, e);
  }
  const expected = entryKey(entry);
  if (key !== expected) {
    return reject(`replayed or moved: stored at ${key} but its signed content belongs at ${expected}`, e);
  }
  if (entry.kind === "agree") {
    const proposal = (entry.payload as { proposal?: unknown } | null)?.proposal;
    let id: string | undefined;
    try {
      id = proposal && typeof proposal === "object" ? sha256Hex(canonicalJson(proposal)) : undefined;
    } catch {
      id = undefined;
    }
    if (id !== entry.flagDayId) {
      return reject(`invalid agreement: its proposal does not hash to the flag-day id it signs`, e);
    }
    if ((proposal as FlagDayProposal).network?.name !== network) {
      return reject(
        `invalid agreement: its proposal is for network ${describe((proposal as FlagDayProposal).network?.name)}`,
        e,
      );
    }
  }
  return { ok: true, entry };
}

export interface BoardOptions {
  /**
   * The operator this board writes for: `put` then refuses entries of any other operator, so a stack only
   * ever writes under its own prefix. Unset: any operator's entries (tests, tools).
   */
  readonly operator?: string;
}

/** A board over a backend: write-once puts, listing, and verified reads. */
export class CoordinationBoard {
  /** Entries are write-once, so a text once read never changes: reads are cached by key. */
  private readonly cache = new Map<string, string>();

  constructor(
    readonly backend: BoardBackend,
    readonly options: BoardOptions = {},
  ) {}

  /** Stores a signed entry at its key. Throws EntryExistsError if that key is taken; returns the key. */
  async put(entry: BoardEntry): Promise<string> {
    const problems = contentProblems(entry);
    if (typeof entry.signature !== "string" || !entry.signature) problems.push("it is not signed");
    if (problems.length) throw new Error(`refusing to post a malformed board entry: ${problems.join("; ")}`);
    const own = this.options.operator;
    if (own !== undefined && entry.operator !== own) {
      throw new Error(
        `this board writes for operator ${own} only (under ${operatorPrefix(entry.network, own)}), ` +
          `not for ${entry.operator}`,
      );
    }
    const key = entryKey(entry);
    await this.backend.create(key, JSON.stringify(entry));
    return key;
  }

  /** Every key under `prefix`, sorted. */
  list(prefix: string): Promise<string[]> {
    return this.backend.list(prefix);
  }

  /**
   * Every entry on `network`'s board (or the keys `select` keeps), verified against the operators' keys.
   * Verified entries and rejected ones, each sorted by key.
   */
  async read(opts: {
    readonly network: string;
    readonly operators: readonly Operator[] | FlagDayProposal["operators"];
    readonly select?: (key: string) => boolean;
  }): Promise<BoardReading> {
    const keys = operatorKeys(opts.operators);
    const listed = (await this.backend.list(`${opts.network}/`)).filter(opts.select ?? (() => true));
    const verdicts = await mapLimit(listed, 16, async (key): Promise<Verdict> => {
      let text = this.cache.get(key);
      if (text === undefined) {
        try {
          text = await this.backend.read(key, MAX_ENTRY_BYTES);
        } catch (e) {
          return { ok: false, rejected: { key, reason: `unreadable: ${(e as Error).message}` } };
        }
        if (text === undefined) return { ok: false, rejected: { key, reason: "listed but gone when read" } };
        this.cache.set(key, text);
      }
      return verifyEntry(key, text, opts.network, keys);
    });
    return {
      entries: verdicts.flatMap((v) => (v.ok ? [v.entry] : [])),
      rejected: verdicts.flatMap((v) => (v.ok ? [] : [v.rejected])),
    };
  }

  /**
   * What the board says about one flag day: its verified entries, the agreements operators signed for other
   * proposals of the network (to name the fields that differ), and the rejected entries that concern this
   * flag day (history's own rejects, e.g. signed with a key since rotated, are not repeated forever).
   */
  async readFlagDay(proposal: FlagDayProposal): Promise<FlagDayReading> {
    const id = flagDayId(proposal);
    const reading = await this.read({
      network: proposal.network.name,
      operators: proposal.operators,
      select: (key) => key.split("/")[2] === id || key.endsWith("/agree"),
    });
    return {
      flagDayId: id,
      entries: reading.entries.filter((e) => e.flagDayId === id),
      otherAgreements: reading.entries.filter((e) => e.flagDayId !== id && e.kind === "agree"),
      rejected: reading.rejected.filter((r) => r.key.split("/")[2] === id || r.flagDayId === id),
    };
  }
}

export interface FlagDayReading extends BoardReading {
  readonly flagDayId: string;
  /** Verified agree entries of this network for other proposals. */
  readonly otherAgreements: readonly BoardEntry[];
}

export interface AgreementStatus {
  readonly flagDayId: string;
  /** Operators who signed this proposal, sorted. */
  readonly signed: readonly string[];
  /** Operators who have not, sorted. */
  readonly missing: readonly string[];
  /** Of the missing: those whose latest signature is on a different proposal, with the fields that differ. */
  readonly different: readonly {
    readonly operator: string;
    readonly flagDayId: string;
    readonly signedAt: string;
    readonly differences: readonly string[];
  }[];
  /** Every operator signed this proposal. */
  readonly complete: boolean;
}

/** Who signed this proposal, who has not, and who signed a different one (and how it differs). */
export function agreementStatus(proposal: FlagDayProposal, reading: FlagDayReading): AgreementStatus {
  const operators = Object.keys(proposal.operators).sort();
  const signedSet = new Set(reading.entries.filter((e) => e.kind === "agree").map((e) => e.operator));
  const signed = operators.filter((o) => signedSet.has(o));
  const missing = operators.filter((o) => !signedSet.has(o));
  const different = missing.flatMap((operator) => {
    const latest = reading.otherAgreements
      .filter((e) => e.operator === operator)
      .sort((a, b) => Date.parse(b.signedAt) - Date.parse(a.signedAt))[0];
    if (!latest) return [];
    const theirs = (latest.payload as unknown as { proposal: FlagDayProposal }).proposal;
    return [
      {
        operator,
        flagDayId: latest.flagDayId,
        signedAt: latest.signedAt,
        differences: proposalDifferences(proposal, theirs),
      },
    ];
  });
  return { flagDayId: reading.flagDayId, signed, missing, different, complete: missing.length === 0 };
}

/** The agreement in words, for previews and refusals. */
export function describeAgreement(s: AgreementStatus): string {
  const total = s.signed.length + s.missing.length;
  const lines = [
    `${s.signed.length} of ${total} operators signed flag day ${shortId(s.flagDayId)}` +
      (s.signed.length ? `: ${s.signed.join(", ")}.` : "."),
  ];
  for (const op of s.missing) {
    const d = s.different.find((x) => x.operator === op);
    lines.push(
      d
        ? `operator ${op} signed a different proposal (${shortId(d.flagDayId)}): ${d.differences.join(", ")} differ.`
        : `operator ${op} has not signed.`,
    );
  }
  return lines.join("\n");
}

/** One line per rejected entry, for reports. */
export function describeRejected(r: RejectedEntry): string {
  return `ignored board entry ${r.key}: ${r.reason}`;
}

/** Checks a key's form before a backend touches the file system or the bucket with it. */
export function checkKey(key: string): void {
  const parts = key.split("/");
  if (parts.length === 0 || parts.some((p) => !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(p) || p.includes(".."))) {
    throw new Error(
      `${describe(key)} is not a board key (segments of letters, digits, dots, dashes, underscores).`,
    );
  }
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
