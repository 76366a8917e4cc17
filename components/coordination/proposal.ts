import { DateTime } from "luxon";
import type { ChecksOptions } from "../checks";
import { MaintenanceWindow, describeWindow, windowBounds } from "../gates";
import type { NetworkSpec } from "../network";
import { CONSENSUS_FIELDS, EnclaveRelease, consensusChanges, describe } from "../release";
import type { SequenceName } from "../stages";
import { canonicalJson, sha256Hex } from "./canonical";
import { keyId, publicKeyFrom, publicKeyString } from "./signing";

/**
 * The flag-day proposal: runbook step 1 ("the operators agree on the enclave and on the procedure") as data.
 * It is derived deterministically from the shared network description and the change, so every operator's
 * stack derives the same one; the sha256 of its canonical JSON is the flag day's id, and each operator's
 * agreement is a signature on that id.
 */

/** One operator of a network: an organisation that runs some of its nodes in its own account. */
export interface Operator {
  /** Lowercase letters, digits and dashes, e.g. `mobilecoin-foundation`; also its prefix on the board. */
  readonly name: string;
  /**
   * The operator's Ed25519 public key: base64 of its SubjectPublicKeyInfo DER, one line starting
   * `MCowBQYDK2VwAyEA`: `openssl genpkey -algorithm ed25519 -out key.pem`, then
   * `openssl pkey -in key.pem -pubout -outform DER | base64 -w0`. A PEM `PUBLIC KEY` block is accepted too;
   * the proposal always carries the base64 form.
   */
  readonly publicKey: string;
}

/**
 * Who runs which node: the operator list and, for every node of the network, its operator's name. An operator
 * may have no nodes (an event coordinator who only signs and may post an abort).
 */
export interface NetworkOperators {
  readonly operators: readonly Operator[];
  /** node name -> operator name; every node of the network appears exactly once. */
  readonly nodeOperators: Readonly<Record<string, string>>;
}

/** The consensus identity of a release: exactly the fields whose change makes a flag day (CONSENSUS_FIELDS). */
export type ConsensusRelease = { readonly [F in (typeof CONSENSUS_FIELDS)[number]]: EnclaveRelease[F] };

/** What the proposal is derived from: the shared network description, its operators, and the change. */
export interface ProposalInput {
  readonly network: Pick<NetworkSpec, "name" | "chainId" | "quorumThreshold"> & {
    readonly nodes: readonly { readonly name: string }[];
  };
  readonly operators: NetworkOperators;
  readonly from: EnclaveRelease;
  readonly to: EnclaveRelease;
  /** The stage sequence the operators agree to run. @default "flag-day" (a rollback is its own proposal) */
  readonly sequence?: SequenceName;
  readonly window: MaintenanceWindow;
  readonly checks?: Pick<ChecksOptions, "livePeriodSeconds" | "txTests">;
}

/** The agreed flag day. Every field is data the operators check before they sign. */
export interface FlagDayProposal {
  /** The form of this record; a new form gets a new number (and so new ids). */
  readonly format: 1;
  readonly network: { readonly name: string; readonly chainId: string };
  readonly sequence: SequenceName;
  readonly from: ConsensusRelease;
  readonly to: ConsensusRelease;
  /** Both ends as UTC instants (`2026-12-01T14:00:00Z`) and the zone the call uses. */
  readonly window: { readonly start: string; readonly end: string; readonly timeZone: string };
  /** How long the network stays under watch after the ingress reopens (checks.ts's default when unset). */
  readonly livePeriodSeconds: number;
  /** The transaction tests by name and command, or "built-in" for the checks CLI's own (simulator only). */
  readonly txTests: Readonly<Record<string, string>> | "built-in";
  /** By operator name: its public key (base64 SPKI DER) and its nodes, sorted. */
  readonly operators: Readonly<
    Record<string, { readonly publicKey: string; readonly nodes: readonly string[] }>
  >;
  readonly quorum: { readonly threshold: number; readonly nodes: number };
}

/** checks.ts's default live period (`flagday live --period`), so that unset and 1800 are the same agreement. */
export const DEFAULT_LIVE_PERIOD_SECONDS = 1800;

const NAME = /^[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?$/;

/**
 * Every problem with a network's operators as the network description states them (`operators`, and each
 * node's `operator`), each naming the field and the fix. Empty means valid. `where` is the network's config
 * key (`flagday:network`).
 */
export function operatorProblems(
  operators: readonly Partial<Operator>[] | undefined,
  nodes: readonly { readonly name: string; readonly operator?: string }[],
  where = "flagday:network",
): string[] {
  const problems: string[] = [];
  const names = new Set<string>();
  const keys = new Map<string, string>();
  if (!Array.isArray(operators) || operators.length === 0) {
    return [`${where}.operators is empty: list every operator with its Ed25519 public key.`];
  }
  operators.forEach((op, i) => {
    const at = `${where}.operators[${i}]`;
    if (!op || typeof op.name !== "string" || !NAME.test(op.name)) {
      problems.push(`${at}.name must be lowercase letters, digits and dashes (got ${describe(op?.name)}).`);
      return;
    }
    if (names.has(op.name)) {
      problems.push(`${at}.name "${op.name}" is listed twice: operator names must be unique.`);
    }
    names.add(op.name);
    let canonical: string;
    try {
      canonical = publicKeyString(publicKeyFrom(String(op.publicKey ?? ""), `${at}.publicKey`));
    } catch (e) {
      problems.push(`${(e as Error).message} Ask operator ${op.name} for it.`);
      return;
    }
    const other = keys.get(canonical);
    if (other !== undefined) {
      problems.push(
        `${at}.publicKey is also operator ${other}'s key: each operator needs its own key, or a signature ` +
          `could not say who signed.`,
      );
    }
    keys.set(canonical, op.name);
  });
  const known = [...names].sort().join(", ");
  nodes.forEach((n, i) => {
    if (n.operator === undefined) {
      problems.push(
        `${where}.nodes[${i}].operator is missing: every node names its operator (one of ${known}).`,
      );
    } else if (!names.has(n.operator)) {
      problems.push(
        `${where}.nodes[${i}].operator is "${n.operator}", which is not in ${where}.operators (${known}).`,
      );
    }
  });
  return problems;
}

/** Each node with the operator `ops` names for it. */
export function nodesWithOperators(
  ops: NetworkOperators,
  nodes: readonly { readonly name: string }[],
): { name: string; operator?: string }[] {
  return nodes.map((n) => ({ name: n.name, operator: ops.nodeOperators[n.name] }));
}

/** The operators of a network description, or undefined when it names none (one operator, as before). */
export function networkOperators(net: {
  readonly operators?: readonly Operator[];
  readonly nodes: readonly { readonly name: string; readonly operator?: string }[];
}): NetworkOperators | undefined {
  if (!net.operators || net.operators.length === 0) return undefined;
  return {
    operators: net.operators,
    nodeOperators: Object.fromEntries(net.nodes.map((n) => [n.name, n.operator ?? ""])),
  };
}

/**
 * The proposal for this change. Throws one error listing every problem (operators, window, live period) when
 * the input cannot make a proposal; the same input always gives the same proposal, whatever its key order.
 */
export function flagDayProposal(input: ProposalInput): FlagDayProposal {
  const problems = operatorProblems(
    input.operators.operators,
    nodesWithOperators(input.operators, input.network.nodes),
  );
  let window: FlagDayProposal["window"] | undefined;
  try {
    const b = windowBounds(input.window ?? {});
    const utc = (t: DateTime) => t.toUTC().toISO({ suppressMilliseconds: true }) as string;
    window = { start: utc(b.start), end: utc(b.end), timeZone: input.window.timeZone };
  } catch (e) {
    problems.push(
      `${(e as Error).message} A flag day with several operators needs the window they agreed on the call.`,
    );
  }
  const live = input.checks?.livePeriodSeconds ?? DEFAULT_LIVE_PERIOD_SECONDS;
  if (!Number.isInteger(live) || live < 0) {
    problems.push(
      `flagday:checks.livePeriodSeconds must be a whole number of seconds (got ${describe(live)}).`,
    );
  }
  const tests = input.checks?.txTests;
  for (const [name, cmd] of Object.entries(tests ?? {})) {
    if (typeof cmd !== "string" || !cmd.trim()) {
      problems.push(`flagday:checks.txTests.${name} must be a shell command (got ${describe(cmd)}).`);
    }
  }
  if (problems.length > 0 || !window) {
    throw new Error(`cannot make the flag-day proposal:\n  - ${problems.join("\n  - ")}`);
  }
  const operators: Record<string, { publicKey: string; nodes: string[] }> = {};
  for (const op of input.operators.operators) {
    operators[op.name] = { publicKey: publicKeyString(publicKeyFrom(op.publicKey)), nodes: [] };
  }
  for (const n of input.network.nodes) operators[input.operators.nodeOperators[n.name]].nodes.push(n.name);
  for (const op of Object.values(operators)) op.nodes.sort();
  return {
    format: 1,
    network: { name: input.network.name, chainId: input.network.chainId },
    sequence: input.sequence ?? "flag-day",
    from: consensusRelease(input.from),
    to: consensusRelease(input.to),
    window,
    livePeriodSeconds: live,
    txTests: tests === undefined ? "built-in" : { ...tests },
    operators,
    quorum: { threshold: input.network.quorumThreshold, nodes: input.network.nodes.length },
  };
}

/** Exactly the consensus fields of a release, in no particular order (the canonical form sorts them). */
export function consensusRelease(release: EnclaveRelease): ConsensusRelease {
  return Object.fromEntries(CONSENSUS_FIELDS.map((f) => [f, release[f]])) as unknown as ConsensusRelease;
}

/** The proposal's canonical JSON: sorted keys, no whitespace. What its id hashes and what the board stores. */
export function canonicalProposal(p: FlagDayProposal): string {
  return canonicalJson(p);
}

/** The flag day's id: sha256 hex of the proposal's canonical JSON. */
export function flagDayId(p: FlagDayProposal): string {
  return sha256Hex(canonicalProposal(p));
}

/** The first 12 characters of an id, for messages; the full id is what is signed. */
export function shortId(id: string): string {
  return id.slice(0, 12);
}

/**
 * The field paths where two proposals differ, sorted: `to.mrenclave`, `window.start`,
 * `operators.acme.publicKey`, `operators.acme` (one side lacks that operator), `operators.acme.nodes` (lists
 * compare whole). Empty when they are the same proposal.
 */
export function proposalDifferences(a: FlagDayProposal, b: FlagDayProposal): string[] {
  const out: string[] = [];
  const walk = (x: unknown, y: unknown, path: string) => {
    if (isPlainObject(x) && isPlainObject(y)) {
      const keys = [...new Set([...Object.keys(x), ...Object.keys(y)])].sort();
      for (const k of keys) walk(x[k], y[k], path ? `${path}.${k}` : k);
    } else if (canonicalJson(x ?? null) !== canonicalJson(y ?? null)) {
      out.push(path);
    }
  };
  walk(a, b, "");
  return out;
}

/** The proposal in words, as `flagday agree` prints it before the operator signs. */
export function describeProposal(p: FlagDayProposal): string {
  const id = flagDayId(p);
  const what =
    p.sequence === "flag-day"
      ? "enclave upgrade (flag day)"
      : `rollback (${p.sequence}) of a completed flag day`;
  const changed = consensusChanges(p.from as EnclaveRelease, p.to as EnclaveRelease);
  const release = (r: ConsensusRelease) => [
    `MRENCLAVE      ${r.mrenclave}`,
    `MRSIGNER       ${r.mrsigner}`,
    `enclave        ${r.enclaveUri}`,
    `enclave sha256 ${r.enclaveSha256}`,
    `tokens config  ${r.tokensConfigDigest}`,
    `block version  ${r.blockVersion}`,
  ];
  const zone = p.window.timeZone;
  const bounds = {
    start: DateTime.fromISO(p.window.start, { zone }),
    end: DateTime.fromISO(p.window.end, { zone }),
  };
  const tests =
    p.txTests === "built-in"
      ? ["the checks CLI's built-in tests (simulated networks only)"]
      : Object.keys(p.txTests).length === 0
        ? ["none"]
        : Object.entries(p.txTests)
            .sort(([a], [b]) => (a < b ? -1 : 1))
            .map(([name, cmd]) => `${name}: ${cmd}`);
  const operators = Object.entries(p.operators)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(
      ([name, o]) =>
        `${name} (key ${keyId(o.publicKey)}): ${o.nodes.length ? o.nodes.join(", ") : "no nodes (coordinator)"}`,
    );
  return [
    `Flag-day proposal ${id}`,
    `Network ${p.network.name} (chain id ${p.network.chainId}): ${what}, ${p.from.version} -> ${p.to.version}.`,
    `Consensus fields that change: ${changed.length ? changed.join(", ") : "none"}.`,
    `From ${p.from.version}:`,
    ...release(p.from).map((l) => `  ${l}`),
    `To ${p.to.version}:`,
    ...release(p.to).map((l) => `  ${l}`),
    `Window: ${describeWindow(bounds)}.`,
    `Live period after the ingress reopens: ${p.livePeriodSeconds} s.`,
    `Transaction tests:`,
    ...tests.map((t) => `  ${t}`),
    `Quorum: ${p.quorum.threshold} of ${p.quorum.nodes} nodes.`,
    `Operators (${Object.keys(p.operators).length}), every one of whom must sign this id:`,
    ...operators.map((o) => `  ${o}`),
  ].join("\n");
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
