// flagday: checks an operator (or a flag-day stage) runs against consensus nodes, real or simulated.
// Every subcommand exits 0 on success, 1 with a one-line "FAIL <check>: <reason naming nodes>" on failure,
// 2 on usage errors; output is meant to be pasted into the call.

import * as fs from "node:fs";
import { parseArgs } from "node:util";
import { fetchAll, httpJson, pollUntil, setRequestTimeout, sleep, submitPayment } from "./client";
import { type NodeStatus, type NodeTarget, shortHex } from "./info";
import { runTxTests, TX_CHECKS } from "./txtest";
import {
  attestVerdict,
  healthyVerdict,
  heightsVerdict,
  liveVerdict,
  quiesceVerdict,
  type Sample,
  syncedAndEqual,
} from "./verdicts";

const USAGE = `usage: flagday <command> [targets] [options]
targets: --nodes <file.json>  ([{"name","admin","client"?}])  or  --admin name=url [--client name=url] ...
commands:
  status   [--json]
  quiesce  --quiet-period <s> --timeout <s>
  attest   --mrenclave <hex> --timeout <s> [--submit-tx] [--allow-unreported-mrenclave]
  txtest   [--only self-payment,cross-payment,fog,non-fog] [--command name=shell-cmd ...] [--timeout <s>]
  live     --period <s> [--traffic] [--stall <s>]
  healthy  --mrenclave <hex> --timeout <s> [--allow-unreported-mrenclave]
  heights  [--at-most <height> [--accept-loss] [--ingress-closed]]
  ingress  reject|accept|state --control <url>
common: --request-timeout <s> (default 3), --interval <s> poll interval (default 0.5)`;

class UsageError extends Error {}

const OPTIONS = {
  nodes: { type: "string" },
  admin: { type: "string", multiple: true },
  client: { type: "string", multiple: true },
  json: { type: "boolean" },
  "quiet-period": { type: "string" },
  timeout: { type: "string" },
  mrenclave: { type: "string" },
  "submit-tx": { type: "boolean" },
  "allow-unreported-mrenclave": { type: "boolean" },
  only: { type: "string" },
  command: { type: "string", multiple: true },
  period: { type: "string" },
  traffic: { type: "boolean" },
  stall: { type: "string" },
  "at-most": { type: "string" },
  "accept-loss": { type: "boolean" },
  "ingress-closed": { type: "boolean" },
  control: { type: "string" },
  "request-timeout": { type: "string" },
  interval: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

type Opts = ReturnType<typeof parse>["values"];
function parse(args: string[]) {
  return parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
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

async function cmdQuiesce(o: Opts): Promise<number> {
  const targets = loadTargets(o);
  const quietMs = seconds(o["quiet-period"], "--quiet-period") * 1000;
  const timeoutMs = seconds(o.timeout, "--timeout") * 1000;
  const intervalMs = seconds(o.interval, "--interval", 0.5) * 1000;
  const samples: Sample[] = [];
  const deadline = Date.now() + timeoutMs;
  let v = quiesceVerdict(samples, quietMs);
  for (;;) {
    samples.push({ at: Date.now(), nodes: await fetchAll(targets) });
    v = quiesceVerdict(samples, quietMs);
    if (v.ok) {
      const last = samples[samples.length - 1].nodes;
      console.log(statusTable(last));
      // The height the snapshots are taken at: recorded in the upgrade history and read by rollbacks.
      console.log(`height=${last[0].blockHeight}`);
      return ok("quiesce", v.reason);
    }
    if (v.nodes.length) samples.splice(0, samples.length - 1); // the quiet period restarts from now
    if (Date.now() >= deadline) break;
    await sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
  }
  console.log(statusTable(samples[samples.length - 1].nodes));
  return fail("quiesce", `not quiet after ${timeoutMs / 1000}s: ${v.reason}`);
}

async function submitSomewhere(targets: NodeTarget[], i: number, fog = false): Promise<string> {
  const clients = targets.filter((t) => t.client);
  if (clients.length === 0)
    throw new UsageError("--submit-tx/--traffic need client URLs (simulator client API)");
  const t = clients[i % clients.length];
  const r = await submitPayment(t.client!, "alice", "alice", 1, fog);
  return r.ok
    ? `submitted self-payment ${r.txId.slice(0, 12)} to ${t.name}`
    : `submit to ${t.name} refused: ${r.error}`;
}

async function cmdAttest(o: Opts): Promise<number> {
  const targets = loadTargets(o);
  const expected = o.mrenclave;
  if (!expected || !/^[0-9a-fA-F]{64}$/.test(expected))
    throw new UsageError("--mrenclave <64 hex> is required");
  const timeoutMs = seconds(o.timeout, "--timeout") * 1000;
  const intervalMs = seconds(o.interval, "--interval", 0.5) * 1000;
  const first = await fetchAll(targets);
  const baseline = Math.max(0, ...first.filter((s) => s.reachable).map((s) => s.blockHeight ?? 0));
  console.log(
    `${stamp()} attest: baseline height ${baseline}; expecting MRENCLAVE ${expected.toLowerCase()}`,
  );
  let last = first;
  let v = attestVerdict(baseline, first, expected, { allowUnreported: o["allow-unreported-mrenclave"] });
  let submitted = 0;
  let lastSubmit = 0;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // Resubmit now and then: a tx sent while peers were still attesting may have been refused or dropped.
    if (o["submit-tx"] && Date.now() - lastSubmit > 3000) {
      console.log(
        `${stamp()} attest: ${await submitSomewhere(targets, submitted++).catch((e: Error) => e.message)}`,
      );
      lastSubmit = Date.now();
    }
    await sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
    last = await fetchAll(targets);
    v = attestVerdict(baseline, last, expected, { allowUnreported: o["allow-unreported-mrenclave"] });
    // A wrong MRENCLAVE will not fix itself; fail at once.
    if (v.ok || v.reason.startsWith("wrong MRENCLAVE") || Date.now() >= deadline) break;
  }
  console.log(statusTable(last));
  return v.ok ? ok("attest", v.reason) : fail("attest", v.reason);
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
  const results = await runTxTests({ targets, only, commands, timeoutMs });
  const rows = [["check", "result", "time", "detail"]];
  for (const r of results)
    rows.push([r.name, r.ok ? "PASS" : "FAIL", `${(r.ms / 1000).toFixed(1)}s`, r.detail]);
  console.log(pad(rows));
  const bad = results.filter((r) => !r.ok);
  if (bad.length) return fail("txtest", bad.map((r) => `${r.name}: ${r.detail}`).join("; "));
  return ok("txtest", `${results.length} checks passed (${results.map((r) => r.name).join(", ")})`);
}

async function cmdLive(o: Opts): Promise<number> {
  const targets = loadTargets(o);
  const periodMs = seconds(o.period, "--period") * 1000;
  const stallMs = seconds(o.stall, "--stall", 10) * 1000;
  const intervalMs = seconds(o.interval, "--interval", 0.5) * 1000;
  const trafficEveryMs = 2000;
  const samples: Sample[] = [];
  const end = Date.now() + periodMs;
  let sent = 0;
  let lastSent = 0;
  while (true) {
    if (o.traffic && Date.now() - lastSent >= trafficEveryMs && Date.now() < end) {
      const msg = await submitSomewhere(targets, sent++).catch((e: Error) => e.message);
      if (msg.includes("refused")) console.log(`${stamp()} live: ${msg}`);
      lastSent = Date.now();
    }
    samples.push({ at: Date.now(), nodes: await fetchAll(targets) });
    const v = liveVerdict(samples, stallMs);
    if (!v.ok) {
      console.log(statusTable(samples[samples.length - 1].nodes));
      return fail("live", v.reason);
    }
    if (Date.now() >= end) break;
    await sleep(Math.min(intervalMs, Math.max(0, end - Date.now())));
  }
  if (o.traffic) {
    // Let the last payment settle before judging progress.
    const settled = await pollUntil(Math.min(stallMs, 10_000), intervalMs, async () => {
      const st = await fetchAll(targets);
      samples.push({ at: Date.now(), nodes: st });
      return syncedAndEqual(st).ok && st.every((s) => (s.pendingValues ?? 0) === 0) ? true : undefined;
    });
    if (!settled) console.log(`${stamp()} live: network not settled at the end of the period`);
  }
  const v = liveVerdict(samples, stallMs, { requireProgress: o.traffic });
  console.log(statusTable(samples[samples.length - 1].nodes));
  return v.ok
    ? ok("live", `${v.reason}${o.traffic ? `, ${sent} payments submitted` : ""}`)
    : fail("live", v.reason);
}

async function cmdHealthy(o: Opts): Promise<number> {
  const targets = loadTargets(o);
  const expected = o.mrenclave;
  if (!expected || !/^[0-9a-fA-F]{64}$/.test(expected))
    throw new UsageError("--mrenclave <64 hex> is required");
  const timeoutMs = seconds(o.timeout, "--timeout") * 1000;
  const intervalMs = seconds(o.interval, "--interval", 0.5) * 1000;
  const opts = { allowUnreported: o["allow-unreported-mrenclave"] };
  let last = await fetchAll(targets);
  let v = healthyVerdict(last, expected, opts);
  const deadline = Date.now() + timeoutMs;
  // A wrong MRENCLAVE will not fix itself; anything else may be a node still starting or catching up.
  while (!v.ok && !v.reason.startsWith("wrong MRENCLAVE") && Date.now() < deadline) {
    await sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
    last = await fetchAll(targets);
    v = healthyVerdict(last, expected, opts);
  }
  console.log(statusTable(last));
  return v.ok ? ok("healthy", v.reason) : fail("healthy", v.reason);
}

async function cmdHeights(o: Opts): Promise<number> {
  const st = await fetchAll(loadTargets(o));
  console.log(statusTable(st));
  if (o["at-most"] === undefined)
    return ok("heights", st.map((s) => `${s.name}=${s.blockHeight ?? "-"}`).join(" "));
  const atMost = Number(o["at-most"]);
  if (!Number.isInteger(atMost) || atMost < 0) {
    throw new UsageError(`--at-most must be a block height (the snapshot's), got "${o["at-most"]}"`);
  }
  const v = heightsVerdict(st, atMost, { acceptLoss: o["accept-loss"], ingressClosed: o["ingress-closed"] });
  return v.ok ? ok("heights", v.reason) : fail("heights", v.reason);
}

async function cmdIngress(o: Opts, action: string | undefined): Promise<number> {
  if (!o.control) throw new UsageError("--control <url> is required");
  const base = o.control.replace(/\/+$/, "");
  if (action !== "reject" && action !== "accept" && action !== "state") {
    throw new UsageError("ingress needs reject|accept|state");
  }
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

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parse(argv);
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values: o, positionals } = parsed;
  const [cmd, ...rest] = positionals;
  if (o.help || !cmd) {
    console.log(USAGE);
    return o.help ? 0 : 2;
  }
  try {
    setRequestTimeout(seconds(o["request-timeout"], "--request-timeout", 3) * 1000);
    if (cmd !== "ingress" && rest.length) throw new UsageError(`unexpected argument ${rest[0]}`);
    switch (cmd) {
      case "status":
        return await cmdStatus(o);
      case "quiesce":
        return await cmdQuiesce(o);
      case "attest":
        return await cmdAttest(o);
      case "txtest":
        return await cmdTxtest(o);
      case "live":
        return await cmdLive(o);
      case "healthy":
        return await cmdHealthy(o);
      case "heights":
        return await cmdHeights(o);
      case "ingress":
        return await cmdIngress(o, rest[0]);
      default:
        throw new UsageError(`unknown command ${cmd}`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`flagday ${cmd}: ${e.message}\n${USAGE}`);
      return 2;
    }
    throw e;
  }
}
