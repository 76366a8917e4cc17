// flagday: checks an operator (or a flag-day stage) runs against consensus nodes, real or simulated.
// Every subcommand exits 0 on success, 1 with a one-line "FAIL <check>: <reason naming nodes>" on failure,
// 2 on usage errors; output is meant to be pasted into the call. `flagday <command> --help` lists its flags.

import * as fs from "node:fs";
import { Argument, Command, CommanderError } from "commander";
import { fetchAll, httpJson, setRequestTimeout, submitPayment } from "./client";
import { type NodeStatus, type NodeTarget, shortHex } from "./info";
import type { BarrierFlags } from "./barrier";
import { FAST_PROBE_MS, pollUntil, type PollOptions } from "./poll";
import { runTxTests, TX_CHECKS } from "./txtest";
import {
  attestVerdict,
  healthyVerdict,
  heightsVerdict,
  liveVerdict,
  quiesceVerdict,
  type Sample,
  settledVerdict,
  type Verdict,
} from "./verdicts";

class UsageError extends Error {}

/** The options of every subcommand, as commander hands them over (each subcommand takes its own subset). */
/** Every flag of every command (commander's camel-cased names); the barrier's own are BarrierFlags. */
interface Opts extends Omit<BarrierFlags, "board"> {
  /** `plan --board` alone: the stack file's own board. */
  board?: string | true;
  nodes?: string;
  admin?: string[];
  client?: string[];
  json?: boolean;
  quietPeriod?: string;
  mrenclave?: string;
  submitTx?: boolean;
  allowUnreportedMrenclave?: boolean;
  only?: string;
  command?: string[];
  period?: string;
  traffic?: boolean;
  stall?: string;
  atMost?: string;
  acceptLoss?: boolean;
  ingressClosed?: boolean;
  control?: string;
  requestTimeout?: string;
  stack?: string;
  dryRun?: boolean;
  from?: string;
  to?: string;
  out?: string;
  reason?: string;
  wallets?: string;
  events?: string[];
  text?: boolean;
  once?: boolean;
  port?: string;
}

function seconds(v: string | undefined, flag: string, dflt?: number): number {
  if (v === undefined) {
    if (dflt === undefined) throw new UsageError(`${flag} is required`);
    return dflt;
  }
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`${flag} must be a number of seconds, got "${v}"`);
  return n;
}

function pairs(list: string[] | undefined, flag: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const p of list ?? []) {
    const i = p.indexOf("=");
    if (i <= 0) throw new UsageError(`${flag} expects name=value, got "${p}"`);
    m.set(p.slice(0, i), p.slice(i + 1));
  }
  return m;
}

export function loadTargets(o: Pick<Opts, "nodes" | "admin" | "client">): NodeTarget[] {
  const targets: NodeTarget[] = [];
  if (o.nodes) {
    let raw: unknown;
    try {
      raw = JSON.parse(fs.readFileSync(o.nodes, "utf8"));
    } catch (e) {
      throw new UsageError(`--nodes ${o.nodes}: ${(e as Error).message}`);
    }
    if (!Array.isArray(raw)) throw new UsageError(`--nodes ${o.nodes}: expected a JSON array`);
    for (const t of raw as NodeTarget[]) {
      if (typeof t?.name !== "string" || typeof t.admin !== "string") {
        throw new UsageError(`--nodes ${o.nodes}: each entry needs "name" and "admin"`);
      }
      targets.push({
        name: t.name,
        admin: t.admin,
        client: typeof t.client === "string" ? t.client : undefined,
      });
    }
  }
  const clients = pairs(o.client, "--client");
  for (const [name, admin] of pairs(o.admin, "--admin"))
    targets.push({ name, admin, client: clients.get(name) });
  for (const name of clients.keys()) {
    if (!targets.some((t) => t.name === name))
      throw new UsageError(`--client ${name}=… without --admin ${name}=…`);
  }
  if (targets.length === 0) throw new UsageError("no targets: give --nodes <file> or --admin name=url");
  const dup = targets.find((t, i) => targets.findIndex((u) => u.name === t.name) !== i);
  if (dup) throw new UsageError(`duplicate node name ${dup.name}`);
  return targets;
}

function pad(rows: string[][]): string {
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(w[i]))
        .join(" | ")
        .trimEnd(),
    )
    .join("\n");
}

export function statusTable(st: NodeStatus[]): string {
  const rows = [["node", "height", "sync", "release", "MRENCLAVE", "peers"]];
  for (const s of st) {
    if (!s.reachable) {
      rows.push([s.name, "-", "UNREACHABLE", "-", "-", s.error ?? ""]);
      continue;
    }
    const sync =
      s.syncStatus === "synced" ? "synced" : `${s.syncStatus ?? "?"} (${s.blocksBehind ?? "?"} behind)`;
    const peers =
      s.attestedPeers !== undefined
        ? `${s.attestedPeers.length}/${s.broadcastPeerCount ?? "?"} attested`
        : `${s.broadcastPeerCount ?? "?"} broadcast (attestation not exposed)`;
    rows.push([
      s.name,
      String(s.blockHeight),
      sync,
      s.version ?? "-",
      s.mrenclave ? shortHex(s.mrenclave, 12) : "(not reported)",
      peers,
    ]);
  }
  return pad(rows);
}

const stamp = () => new Date().toISOString().replace(/\.\d+Z$/, "Z");

function ok(check: string, msg: string): number {
  console.log(`${stamp()} OK ${check}: ${msg}`);
  return 0;
}
function fail(check: string, msg: string): number {
  console.log(`${stamp()} FAIL ${check}: ${msg}`);
  console.error(`FAIL ${check}: ${msg}`);
  return 1;
}

async function cmdStatus(o: Opts): Promise<number> {
  const st = await fetchAll(loadTargets(o));
  if (o.json) console.log(JSON.stringify(st, null, 2));
  else console.log(statusTable(st));
  const down = st.filter((s) => !s.reachable);
  if (down.length)
    return fail("status", `unreachable: ${down.map((s) => `${s.name} (${s.error})`).join(", ")}`);
  return 0;
}

/** The poll interval of a polling subcommand, in ms. */
const intervalMs = (o: Opts) => seconds(o.interval, "--interval", 0.5) * 1000;
/**
 * quiesce, attest and healthy probe fast for their first seconds (poll.ts `fastForMs`): in the window they usually
 * pass within a second (a rehearsal's quiet period, a block right after the submission, a node just started), and
 * every tick of `--interval` they wait past that is downtime. A probe is one admin /info request per node.
 */
const FAST_START_MS = 2000;
const fastPoll = (o: Opts) => ({
  timeoutMs: seconds(o.timeout, "--timeout") * 1000,
  intervalMs: intervalMs(o),
  fastForMs: FAST_START_MS,
});

/** `--mrenclave`, checked. */
function mrenclave(o: Opts): string {
  if (!o.mrenclave || !/^[0-9a-fA-F]{64}$/.test(o.mrenclave))
    throw new UsageError("--mrenclave <64 hex> is required");
  return o.mrenclave;
}

/** Poll the targets until `judge` passes (or fails fatally, or time is up); prints the last table and verdict. */
async function pollCheck(
  check: string,
  targets: NodeTarget[],
  judge: (st: NodeStatus[]) => Verdict,
  opts: PollOptions<Verdict>,
): Promise<number> {
  let last: NodeStatus[] = [];
  const v = await pollUntil(async () => judge((last = await fetchAll(targets))), opts);
  console.log(statusTable(last));
  return v.ok ? ok(check, v.reason) : fail(check, v.reason);
}

async function cmdQuiesce(o: Opts): Promise<number> {
  const targets = loadTargets(o);
  const quietMs = seconds(o.quietPeriod, "--quiet-period") * 1000;
  const timeoutMs = seconds(o.timeout, "--timeout") * 1000;
  const samples: Sample[] = [];
  const v = await pollUntil(
    async () => {
      samples.push({ at: Date.now(), nodes: await fetchAll(targets) });
      const v = quiesceVerdict(samples, quietMs);
      if (!v.ok && v.nodes.length) samples.splice(0, samples.length - 1); // the quiet period restarts from now
      return v;
    },
    { timeoutMs, intervalMs: intervalMs(o), fastForMs: FAST_START_MS },
  );
  const last = samples[samples.length - 1].nodes;
  console.log(statusTable(last));
  if (!v.ok) return fail("quiesce", `not quiet after ${timeoutMs / 1000}s: ${v.reason}`);
  // The height the snapshots are taken at: recorded in the upgrade history and read by rollbacks.
  console.log(`height=${last[0].blockHeight}`);
  // With several operators, each reports its own nodes' height and hash; the all-quiesced barrier compares them.
  if (last[0].latestBlockHash) console.log(`hash=${last[0].latestBlockHash}`);
  return ok("quiesce", v.reason);
}

/** A self-payment through the i-th client in turn. Never throws: an error comes back as the message. */
async function submitSomewhere(
  targets: NodeTarget[],
  i: number,
): Promise<{ refused: boolean; message: string }> {
  const clients = targets.filter((t) => t.client);
  if (clients.length === 0)
    return { refused: false, message: "--submit-tx/--traffic need client URLs (simulator client API)" };
  const t = clients[i % clients.length];
  try {
    const r = await submitPayment(t.client!, "alice", "alice", 1, false);
    return r.ok
      ? { refused: false, message: `submitted self-payment ${r.txId.slice(0, 12)} to ${t.name}` }
      : { refused: true, message: `submit to ${t.name} refused: ${r.error}` };
  } catch (e) {
    return { refused: false, message: (e as Error).message };
  }
}

async function cmdAttest(o: Opts): Promise<number> {
  const targets = loadTargets(o);
  const expected = mrenclave(o);
  const opts = fastPoll(o);
  const allowUnreported = o.allowUnreportedMrenclave;
  const first = await fetchAll(targets);
  const baseline = Math.max(0, ...first.filter((s) => s.reachable).map((s) => s.blockHeight ?? 0));
  console.log(
    `${stamp()} attest: baseline height ${baseline}; expecting MRENCLAVE ${expected.toLowerCase()}`,
  );
  let submitted = 0;
  let lastSubmit = 0;
  return pollCheck("attest", targets, (st) => attestVerdict(baseline, st, expected, { allowUnreported }), {
    ...opts,
    // Resubmit now and then: a tx sent while peers were still attesting may have been refused or dropped.
    onProgress: async () => {
      if (!o.submitTx || Date.now() - lastSubmit <= 3000) return;
      console.log(`${stamp()} attest: ${(await submitSomewhere(targets, submitted++)).message}`);
      lastSubmit = Date.now();
    },
  });
}

async function cmdTxtest(o: Opts): Promise<number> {
  const targets = loadTargets(o);
  const commands = pairs(o.command, "--command");
  const timeoutMs = seconds(o.timeout, "--timeout", 30) * 1000;
  let only = o.only
    ? o.only
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean)
    : [];
  if (only.length === 0) {
    const hasClient = targets.some((t) => t.client);
    only = hasClient
      ? [...new Set([...TX_CHECKS, ...commands.keys()])]
      : commands.size
        ? [...commands.keys()]
        : [...TX_CHECKS];
  }
  const unknown = only.filter((n) => !(TX_CHECKS as readonly string[]).includes(n) && !commands.has(n));
  if (unknown.length)
    throw new UsageError(`unknown check(s) ${unknown.join(", ")}: give --command name=cmd for them`);
  const wallets = o.wallets === undefined ? undefined : Number(o.wallets);
  if (wallets !== undefined && (!Number.isInteger(wallets) || wallets < 1)) {
    throw new UsageError(`--wallets must be a wallet set number from 1 (got "${o.wallets}")`);
  }
  const results = await runTxTests({ targets, only, commands, timeoutMs, wallets });
  const rows = [["check", "result", "time", "started", "detail"]];
  for (const r of results) {
    const [time, started] = [r.ms, r.startMs].map((ms) => `${(ms / 1000).toFixed(2)}s`);
    rows.push([r.name, r.ok ? "PASS" : "FAIL", time, `+${started}`, r.detail]);
  }
  console.log(pad(rows));
  const bad = results.filter((r) => !r.ok);
  if (bad.length) return fail("txtest", bad.map((r) => `${r.name}: ${r.detail}`).join("; "));
  return ok("txtest", `${results.length} checks passed (${results.map((r) => r.name).join(", ")})`);
}

async function cmdLive(o: Opts): Promise<number> {
  const targets = loadTargets(o);
  const periodMs = seconds(o.period, "--period") * 1000;
  const stallMs = seconds(o.stall, "--stall", 10) * 1000;
  const interval = intervalMs(o);
  const trafficEveryMs = 2000;
  const samples: Sample[] = [];
  const sample = async () => {
    samples.push({ at: Date.now(), nodes: await fetchAll(targets) });
    return samples[samples.length - 1].nodes;
  };
  let sent = 0;
  let lastSent = 0;
  const end = Date.now() + periodMs;
  const during = await pollUntil(
    async () => {
      if (o.traffic && Date.now() - lastSent >= trafficEveryMs && Date.now() < end) {
        const r = await submitSomewhere(targets, sent++);
        if (r.refused) console.log(`${stamp()} live: ${r.message}`);
        lastSent = Date.now();
      }
      await sample();
      return liveVerdict(samples, stallMs);
    },
    // The first failure ends the watch, except a node out of sync for a moment (judged again at the end).
    { timeoutMs: periodMs, intervalMs: interval, until: (v) => !v.ok && !v.transient },
  );
  if (!during.ok && !during.transient) {
    console.log(statusTable(samples[samples.length - 1].nodes));
    return fail("live", during.reason);
  }
  if (o.traffic) {
    // Let the last payment settle before judging progress.
    const settled = await pollUntil(async () => settledVerdict(await sample()), {
      timeoutMs: Math.min(stallMs, 10_000),
      intervalMs: interval,
    });
    if (!settled.ok) console.log(`${stamp()} live: network not settled at the end of the period`);
  }
  let v = liveVerdict(samples, stallMs, { requireProgress: o.traffic });
  // A node out of sync for a moment at the end: sample on until it is back, or stuck for the grace period.
  const graceEnd = Date.now() + stallMs + interval;
  while (!v.ok && v.transient && Date.now() < graceEnd) {
    await new Promise((r) => setTimeout(r, interval));
    await sample();
    v = liveVerdict(samples, stallMs, { requireProgress: o.traffic });
  }
  console.log(statusTable(samples[samples.length - 1].nodes));
  return v.ok
    ? ok("live", `${v.reason}${o.traffic ? `, ${sent} payments submitted` : ""}`)
    : fail("live", v.reason);
}

async function cmdHealthy(o: Opts): Promise<number> {
  const targets = loadTargets(o);
  const expected = mrenclave(o);
  const opts = fastPoll(o);
  const allowUnreported = o.allowUnreportedMrenclave;
  // A wrong MRENCLAVE is fatal; anything else may be a node still starting or catching up.
  return pollCheck("healthy", targets, (st) => healthyVerdict(st, expected, { allowUnreported }), opts);
}

async function cmdHeights(o: Opts): Promise<number> {
  const st = await fetchAll(loadTargets(o));
  console.log(statusTable(st));
  if (o.atMost === undefined)
    return ok("heights", st.map((s) => `${s.name}=${s.blockHeight ?? "-"}`).join(" "));
  const atMost = Number(o.atMost);
  if (!Number.isInteger(atMost) || atMost < 0) {
    throw new UsageError(`--at-most must be a block height (the snapshot's), got "${o.atMost}"`);
  }
  const v = heightsVerdict(st, atMost, { acceptLoss: o.acceptLoss, ingressClosed: o.ingressClosed });
  return v.ok ? ok("heights", v.reason) : fail("heights", v.reason);
}

async function cmdIngress(o: Opts, action: string): Promise<number> {
  if (!o.control) throw new UsageError("--control <url> is required");
  const base = o.control.replace(/\/+$/, "");
  let r;
  try {
    r = action === "state" ? await httpJson(`${base}/state`) : await httpJson(`${base}/${action}`, {});
  } catch (e) {
    return fail(`ingress ${action}`, `${base}: ${(e as Error).message}`);
  }
  if (r.status !== 200)
    return fail(`ingress ${action}`, `${base}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
  const s = r.body as { state: string; since: string };
  if (action !== "state" && s.state !== action) return fail(`ingress ${action}`, `state is ${s.state}`);
  return ok(
    `ingress ${action}`,
    `client connections ${s.state === "accept" ? "ACCEPTED" : "REJECTED"} since ${s.since}`,
  );
}

/** A command module's own usage errors (thrown by `run`) become the CLI's: printed, exit 2. */
async function usageErrors(
  classes: readonly (abstract new (...args: never[]) => Error)[],
  run: () => Promise<number> | number,
): Promise<number> {
  try {
    return await run();
  } catch (e) {
    if (classes.some((c) => e instanceof c)) throw new UsageError((e as Error).message);
    throw e;
  }
}

/** A `--board <json>` value (commander gives `true` only to `plan --board` without one). */
const boardJson = (o: Opts) => (typeof o.board === "string" ? o.board : undefined);

/**
 * Runs `board` or `progress` with the coordination board their flags name (-s, --board, --operator-key,
 * --flag-day), their usage errors the CLI's. Loaded only here: the board's backends bring the AWS SDK, the
 * stack file the Pulumi SDK.
 */
function withCoordination(
  o: Opts,
  run: (c: import("./coordination").CoordinationSource | undefined) => Promise<number>,
): Promise<number> {
  const { coordinationSource } = require("./coordination") as typeof import("./coordination");
  const { BoardUsageError } = require("./board") as typeof import("./board");
  const { BarrierUsageError } = require("./barrier") as typeof import("./barrier");
  const { PlanUsageError } = require("./plan") as typeof import("./plan");
  return usageErrors([BoardUsageError, BarrierUsageError, PlanUsageError], () =>
    run(coordinationSource({ ...o, board: boardJson(o) })),
  );
}

type Run = (o: Opts, ...args: string[]) => Promise<number>;
/** An option: its flags, its help line, and whether it may be given more than once. */
type Flag = [flags: string, help: string, repeatable?: "repeatable"];

const TARGETS: Flag[] = [
  ["--nodes <file.json>", 'the nodes, from a JSON file: [{"name","admin","client"?}]'],
  ["--admin <name=url>", "a node and its admin HTTP gateway", "repeatable"],
  ["--client <name=url>", "that node's client API (simulator only)", "repeatable"],
];
const POLL: Flag[] = [["--interval <s>", "seconds between polls (default 0.5)"]];
/** quiesce, attest, healthy: FAST_START_MS. */
const FAST_POLL: Flag[] = [
  [
    "--interval <s>",
    `seconds between polls (default 0.5; ${FAST_PROBE_MS / 1000} in the first ${FAST_START_MS / 1000} s)`,
  ],
];
const TIMEOUT: Flag = ["--timeout <s>", "seconds before it fails (required)"];
const MRENCLAVE: Flag = ["--mrenclave <hex>", "the expected MRENCLAVE, 64 hex digits (required)"];
const EVENTS: Flag = [
  "--events <file>",
  "an operator's engine event log: pulumi up --event-log <file> (the rehearsal: .rehearsal/<stack>/events.jsonl)",
  "repeatable",
];
/** Where `board` and `progress` read the coordination board, and the keys they verify its entries with. */
const COORDINATION: Flag[] = [
  [
    "-s, --stack <stack>",
    "an operator's stack file: the coordination board (flagday:board) and the operators' keys (flagday:network)",
  ],
  ["--board <json>", "the coordination board, as flagday:board gives it (default: the stack file's)"],
  ["--operator-key <name=public-key>", "without -s: every operator and its Ed25519 public key", "repeatable"],
  ["--flag-day <id>", "the flag day's id (default: the newest on the board)"],
];
const UNREPORTED: Flag = [
  "--allow-unreported-mrenclave",
  "pass when /info reports no MRENCLAVE (real nodes)",
];

/** The subcommands, in the order of the top-level help. Each also takes --request-timeout. */
const COMMANDS: Record<string, { summary: string; run: Run; flags: Flag[]; argument?: Argument }> = {
  status: {
    summary: "every node's height, sync state, release, MRENCLAVE and peers",
    run: cmdStatus,
    flags: [["--json", "print the statuses as JSON"], ...TARGETS],
  },
  quiesce: {
    summary: "wait for no new transactions and equal heights; prints height=<n>",
    run: cmdQuiesce,
    flags: [
      ["--quiet-period <s>", "seconds the heights must stay unchanged (required)"],
      TIMEOUT,
      ...TARGETS,
      ...FAST_POLL,
    ],
  },
  attest: {
    summary: "wait until every node runs the expected MRENCLAVE and a new block is made",
    run: cmdAttest,
    flags: [
      MRENCLAVE,
      TIMEOUT,
      ["--submit-tx", "submit self-payments so that a block is made (simulator client API)"],
      UNREPORTED,
      ...TARGETS,
      ...FAST_POLL,
    ],
  },
  txtest: {
    summary: "transaction tests: self-payment, cross-payment, fog, non-fog",
    run: cmdTxtest,
    flags: [
      ["--only <checks>", `comma-separated checks to run (built in: ${TX_CHECKS.join(",")})`],
      [
        "--command <name=shell-cmd>",
        "a check as a shell command that exits 0 on success; commands run one after another, beside the built-in checks (which run at once where they share no wallet)",
        "repeatable",
      ],
      ["--timeout <s>", "seconds each check may take (default 30)"],
      [
        "--wallets <n>",
        "built-in checks: this operator's own wallet set (simulator w<n>-alice, ...), for operators testing at once",
      ],
      ...TARGETS,
    ],
  },
  live: {
    summary: "watch the network for a period: heights advance, no stall",
    run: cmdLive,
    flags: [
      ["--period <s>", "seconds to watch (required)"],
      ["--traffic", "submit a self-payment every 2s and require the height to advance"],
      ["--stall <s>", "seconds without a block while values are pending that fail it (default 10)"],
      ...TARGETS,
      ...POLL,
    ],
  },
  healthy: {
    summary: "wait until the nodes answer, synced, on the expected MRENCLAVE",
    run: cmdHealthy,
    flags: [MRENCLAVE, TIMEOUT, UNREPORTED, ...TARGETS, ...FAST_POLL],
  },
  heights: {
    summary: "every node's height; with --at-most, the rollback guard",
    run: cmdHeights,
    flags: [
      ["--at-most <height>", "fail when a node is above this height (the snapshot's)"],
      ["--accept-loss", "with --at-most: pass, naming the blocks a restore drops"],
      [
        "--ingress-closed",
        "with --at-most: pass, the blocks beyond hold only the window's test transactions",
      ],
      ...TARGETS,
    ],
  },
  agree: {
    summary: "sign this stack's flag-day proposal for its operator and post it to the coordination board",
    run: async (o) => {
      if (!o.stack) throw new UsageError("--stack is required");
      // Loaded only here: it brings the Pulumi SDK, which the checks the stages run do not need.
      const { agree } = require("./agree") as typeof import("./agree");
      return agree({ stack: o.stack, keyFile: o.keyFile, dryRun: o.dryRun }, (l) => console.log(l));
    },
    flags: [
      ["-s, --stack <stack>", "the operator's stack (required)"],
      [
        "--key-file <path>",
        "the operator's Ed25519 private key (PEM); default: the secret flagday:operatorKey",
      ],
      ["--dry-run", "print the proposal and who signed; sign nothing"],
    ],
  },
  barrier: {
    summary: "post this operator's arrival at a cross-operator barrier and wait for every operator's",
    run: async (o) => {
      // Loaded only here: it brings the board's backends (the AWS SDK for an S3 board).
      const { barrier, BarrierUsageError } = require("./barrier") as typeof import("./barrier");
      return usageErrors([BarrierUsageError], () => barrier({ ...o, board: boardJson(o) }));
    },
    flags: [
      ["--stage <barrier>", "the barrier (all-ready, all-rejecting, all-quiesced, ...) (required)"],
      ["--network <name>", "the network's name (required)"],
      ["--flag-day <id>", "the flag day's id, the sha256 every operator signed (required)"],
      ["--sequence <name>", "flag-day, rollback-restore or rollback-reverse (default flag-day)"],
      ["--operator <name>", "this operator, who posts (required)"],
      ["--operator-key <name=public-key>", "every operator and its Ed25519 public key", "repeatable"],
      ["--board <json>", "the coordination board, as flagday:board gives it (required)"],
      ["--payload <json>", "what this operator read at the barrier (default {})"],
      ["--agree-on <what>", "height: every report must carry one height and one block hash"],
      ["--timeout <s>", "seconds to wait for every operator (default 3600)"],
      ["--interval <s>", "seconds between board reads (default 0.5)"],
      ["--key-file <path>", "the operator's Ed25519 private key (PEM); default: $FLAGDAY_OPERATOR_KEY"],
    ],
  },
  abort: {
    summary: "post a signed abort of this stack's flag day: every operator's waiting barrier fails with it",
    run: async (o) => {
      if (!o.stack) throw new UsageError("--stack is required");
      if (!o.reason?.trim()) throw new UsageError("--reason is required: say why, for everyone on the call");
      const { abort } = require("./agree") as typeof import("./agree");
      return abort({ stack: o.stack, keyFile: o.keyFile, reason: o.reason }, (l) => console.log(l));
    },
    flags: [
      ["-s, --stack <stack>", "the operator's (or the coordinator's) stack (required)"],
      ["--reason <text>", "why, in words every operator will read (required)"],
      [
        "--key-file <path>",
        "the operator's Ed25519 private key (PEM); default: the secret flagday:operatorKey",
      ],
    ],
  },
  plan: {
    summary: "print this stack's flag-day runbook (Markdown) from its stack file, offline",
    run: async (o) => {
      if (!o.stack) throw new UsageError("--stack is required");
      // Loaded only here, as agree is: it brings the Pulumi SDK's config reader and a YAML parser.
      const { plan, PlanUsageError } = require("./plan") as typeof import("./plan");
      const { BarrierUsageError } = require("./barrier") as typeof import("./barrier");
      const stack = o.stack;
      return usageErrors([PlanUsageError, BarrierUsageError], () =>
        plan({ stack, from: o.from, to: o.to, out: o.out, board: o.board }, (l) => console.log(l)),
      );
    },
    flags: [
      ["-s, --stack <stack>", "the stack whose file (stacks/Pulumi.<stack>.yaml) to read (required)"],
      [
        "--from <release>",
        "the release the network runs, from flagday:releases (default: the stack's release)",
      ],
      ["--to <release>", "the release to upgrade to, from flagday:releases (default: the stack's release)"],
      ["--out <file>", "write the runbook to this file instead of printing it"],
      [
        "--board [json]",
        "read who has signed from the coordination board: the stack file's flagday:board, or this one",
      ],
    ],
  },
  board: {
    summary:
      "the live board for the call: operators' nodes against stages, from event logs and the coordination board",
    run: async (o) => {
      const { board } = require("./board") as typeof import("./board");
      const admin = Object.fromEntries(pairs(o.admin, "--admin"));
      return withCoordination(o, (coordination) =>
        board({ events: o.events, coordination, text: o.text, port: o.port, once: o.once, admin }, (l) =>
          console.log(l),
        ),
      );
    },
    flags: [
      EVENTS,
      ...COORDINATION,
      ["--text", "a terminal table refreshed every second instead of the web page"],
      ["--once", "with --text: print the table once and exit"],
      ["--port <port>", "the page's port on 127.0.0.1 (default: any free one)"],
      ["--admin <name=url>", "a node's admin gateway: its height and MRENCLAVE on the board", "repeatable"],
    ],
  },
  progress: {
    summary: "follow pulumi up's event log(s): stage n of m, nodes done, elapsed, whom a barrier waits for",
    run: async (o) => {
      const { progress } = require("./progress") as typeof import("./progress");
      return withCoordination(o, (coordination) =>
        progress({ events: o.events, coordination }, (l) => console.log(l)),
      );
    },
    flags: [EVENTS, ...COORDINATION],
  },
  timeline: {
    summary: "write the SVG timeline and Mermaid gantt of the stack's last flag day, rollback or abort",
    run: async (o) => {
      if (!o.stack) throw new UsageError("--stack is required");
      const { timeline, TimelineUsageError } = require("./timeline") as typeof import("./timeline");
      const stack = o.stack;
      return usageErrors([TimelineUsageError], () => timeline({ stack, out: o.out }, (l) => console.log(l)));
    },
    flags: [
      ["-s, --stack <stack>", "the stack whose recorded steps to draw (pulumi stack export; required)"],
      ["--out <dir>", "where to write timeline-<stack>.svg and .md (default: the current directory)"],
    ],
  },
  ingress: {
    summary: "close, reopen or read the client ingress (the simulator's gate)",
    run: cmdIngress,
    argument: new Argument("<action>", "the operation").choices(["reject", "accept", "state"]),
    flags: [["--control <url>", "the ingress control URL (required)"]],
  },
};

/** The CLI; `exit` receives the exit code of the subcommand that ran. */
function program(exit: (code: number) => void): Command {
  const prog = new Command("flagday")
    .description("Checks for the MobileCoin consensus flag-day upgrade, against real or simulated nodes.")
    .exitOverride() // errors come back to main, which returns 2 for them
    .showHelpAfterError()
    .addHelpText("after", "\ntargets: --nodes <file.json> or --admin name=url [--client name=url] ...");
  const collect = (v: string, prev?: string[]) => [...(prev ?? []), v];
  for (const [name, { summary, run, flags, argument }] of Object.entries(COMMANDS)) {
    const c = prog.command(name).description(summary);
    if (argument) c.addArgument(argument);
    const common: Flag = ["--request-timeout <s>", "seconds each HTTP request may take (default 3)"];
    for (const [f, help, repeatable] of [...flags, common]) {
      if (repeatable) c.option(f, `${help} (repeatable)`, collect);
      else c.option(f, help);
    }
    c.action(async (...args: unknown[]) => {
      const o = c.opts<Opts>();
      try {
        setRequestTimeout(seconds(o.requestTimeout, "--request-timeout", 3) * 1000);
        exit(await run(o, ...(args.slice(0, -2) as string[])));
      } catch (e) {
        if (!(e instanceof UsageError)) throw e;
        c.error(`flagday ${name}: ${e.message}`, { exitCode: 2, code: "flagday.usage" });
      }
    });
  }
  return prog;
}

export async function main(argv: string[]): Promise<number> {
  let code = 2; // no subcommand ran
  const prog = program((c) => (code = c));
  if (argv.length === 0) {
    prog.outputHelp();
    return 2;
  }
  try {
    await prog.parseAsync(argv, { from: "user" });
    return code;
  } catch (e) {
    if (!(e instanceof CommanderError)) throw e;
    // Commander has printed the error (and the help): --help exits 0, every usage error 2.
    return e.exitCode === 0 ? 0 : 2;
  }
}
