import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { EngineEvent, LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import { parseStepName, stageOfStep } from "../components/names";
import { TimelineStep, timelineGantt, timelineSvg } from "../components/timeline";
import { ingressPorts, localPorts } from "../components/local/scripts";
import type { MaintenanceWindow } from "../components/gates";
import { COORDINATED_SEQUENCES, FLAG_DAY, SequenceName, StageName } from "../components/stages";
import { fetchAll, submitPayment, waitCommitted } from "../checks/client";
import type { NodeStatus } from "../checks/info";
import { progressTracker, StepEvent, stepEventOf, stepNameOf } from "./progress";

export { stepNameOf };

/** The project root. */
export const ROOT = path.resolve(__dirname, "..");

/**
 * A local file backend in `dir`, as the rehearsal's stacks use it (scripts/env.sh gives the same for the practice
 * stacks). `metadata=skip` (gocloud's fileblob, which the engine's file backend is) writes no sidecar `.attrs`
 * file beside each save: the engine writes the whole state before and after every step, one save at a time while
 * the window's steps wait, and the sidecar's MD5 of it was over a fifth of that work (`pulumi up --profiling` of a
 * 10-node flag day: 2.57 s of CPU in saves with it, 1.86 s without). Nothing reads those attributes.
 */
export const fileBackendUrl = (dir: string): string => `file://${dir}?metadata=skip`;

/**
 * The committed rehearsal stack (stacks/Pulumi.rehearsal.yaml): the clean starting point, which an operator may
 * drive by hand. Rehearsals never write to it: each runs on a stack of its own whose stack file is a copy of it.
 */
export const REHEARSAL_STACK = "rehearsal";
/**
 * `npm run rehearse`'s own stack: stacks/Pulumi.practice.yaml (and `practice-<anything>`), gitignored, holds the
 * rehearsal's release, window, accepted loss and secrets; its nodes live in .rehearsal/<stack>.
 */
export const PRACTICE_STACK = "practice";
/** The committed stack file's `flagday:local.basePort`: where `npm run rehearse` listens unless told otherwise. */
export const PRACTICE_BASE_PORT = 24000;

export interface RehearsalOptions {
  /** Any stack but the committed `rehearsal` one. @default "practice" */
  readonly stackName?: string;
  /** Config overrides (path syntax, e.g. `flagday:local.basePort`) written to the stack before it runs. */
  readonly config?: Readonly<Record<string, string>>;
  /** The release the network starts on and the one the flag day moves to. @default v1.0.0 -> v2.0.0 */
  readonly from?: string;
  readonly to?: string;
  /** Payments sent before the window, so the ledger has blocks to carry across. @default 5 */
  readonly payments?: number;
  /** Progress lines go here. @default stdout */
  readonly log?: (line: string) => void;
  /** Extra environment for the engine (e.g. PULUMI_CONFIG_PASSPHRASE). */
  readonly env?: Readonly<Record<string, string>>;
}

export interface StageTiming {
  readonly stage: StageName;
  readonly start: number;
  readonly end: number;
  readonly steps: number;
}

export interface NetworkSnapshot {
  readonly at: number;
  readonly nodes: readonly NodeStatus[];
}

export interface FlagDayReport {
  readonly stack: string;
  /** The network's name: parse the steps' names with components/names.ts's `parseStepName(name, network)`. */
  readonly network: string;
  readonly from: string;
  readonly to: string;
  readonly sequence: SequenceName;
  /** The engine's resource steps in event order. */
  readonly steps: readonly { op: string; name: string; type: string }[];
  readonly stages: readonly StageTiming[];
  /** From the ingress rejecting to it accepting again, in milliseconds. */
  readonly downtimeMs: number;
  readonly before: NetworkSnapshot;
  readonly after: NetworkSnapshot;
  readonly clientProbes: { readonly during: ProbeResult[]; readonly after: ProbeResult };
  readonly outputs: Record<string, unknown>;
  /** The engine's events with the time (ms) they reached us: finer than the events' own whole seconds. */
  readonly timed: readonly { readonly event: EngineEvent; readonly at: number }[];
}

export type ProbeResult = "served" | "refused";

/**
 * A rehearsal stack driven through the Automation API, by the engine in .engine/bin. A stack without a stack
 * file starts from a copy of the committed rehearsal stack file (without its secrets salt); every setting the
 * rehearsal makes goes to that copy, never to a tracked file.
 */
export async function rehearsalStack(opts: RehearsalOptions = {}): Promise<Stack> {
  const stackName = opts.stackName ?? PRACTICE_STACK;
  if (stackName === REHEARSAL_STACK) {
    throw new Error(
      `rehearsalStack: the "${REHEARSAL_STACK}" stack's file is committed and stays the clean starting point; ` +
        `rehearse on a copy of it (the default, "${PRACTICE_STACK}", or any other name).`,
    );
  }
  const stackFile = path.join(ROOT, "stacks", `Pulumi.${stackName}.yaml`);
  if (!fs.existsSync(stackFile)) {
    const text = fs.readFileSync(path.join(ROOT, "stacks", `Pulumi.${REHEARSAL_STACK}.yaml`), "utf8");
    fs.writeFileSync(stackFile, text.replace(/^encryptionsalt:.*\n?/m, ""));
  }
  const pulumiCommand = await PulumiCommand.get({ root: path.join(ROOT, ".engine") });
  const envVars: Record<string, string> = {};
  for (const k of [
    "PATH",
    "PULUMI_HOME",
    "PULUMI_BACKEND_URL",
    "PULUMI_CONFIG_PASSPHRASE",
    "PULUMI_SKIP_UPDATE_CHECK",
    "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION",
    "PULUMI_NODEJS_TRANSPILE_ONLY",
    "PULUMI_PARALLEL",
  ]) {
    if (process.env[k] !== undefined) envVars[k] = process.env[k]!;
  }
  Object.assign(envVars, opts.env ?? {});
  const ws = await LocalWorkspace.create({
    workDir: ROOT,
    envVars,
    pulumiCommand,
    pulumiHome: envVars.PULUMI_HOME,
  });
  const stack = await Stack.createOrSelect(stackName, ws);
  for (const [key, value] of Object.entries(opts.config ?? {})) {
    await stack.setConfig(key, { value }, true);
  }
  return stack;
}

/**
 * The rehearsal network's name (`flagday:network.name`, the first word of every step's name) and addresses,
 * from the stack's config (same layout as components/local/platform.ts). A stack of one operator of several
 * (`flagday:operator`) lists only that operator's nodes and its own ingress.
 */
export async function layout(stack: Stack) {
  const cfg = await stack.getAllConfig();
  const local = JSON.parse(cfg["flagday:local"]?.value ?? "{}") as { basePort?: number };
  const network = JSON.parse(cfg["flagday:network"].value) as {
    name: string;
    nodes: { name: string; operator?: string }[];
    operators?: { name: string }[];
  };
  const operator = cfg["flagday:operator"]?.value;
  const k = operator === undefined ? -1 : (network.operators ?? []).findIndex((o) => o.name === operator);
  const base = local.basePort ?? PRACTICE_BASE_PORT;
  return {
    network: network.name,
    operator,
    ingress: ingressPorts(base, k < 0 ? undefined : k),
    nodes: network.nodes
      .map((n, i) => ({
        name: n.name,
        operator: n.operator,
        admin: `http://127.0.0.1:${localPorts(base, i).admin}`,
        client: `http://127.0.0.1:${localPorts(base, i).client}`,
      }))
      .filter((n) => operator === undefined || n.operator === operator),
  };
}

/** The local gate's state as its control endpoint reports it. */
export async function gateState(controlPort: number): Promise<string | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${controlPort}/state`, { signal: AbortSignal.timeout(1000) });
    return ((await res.json()) as { state?: string }).state;
  } catch {
    return undefined;
  }
}

/**
 * How the rehearsal sees the client-facing ingress: a client's probe, and whether the gate says it is closed.
 * @default the local platform's gate (its listen port, and its control endpoint's state)
 */
export interface ClientGate {
  probe(): Promise<ProbeResult>;
  closed(): Promise<boolean>;
}

const localGate = (ingress: { listen: number; control: number }): ClientGate => ({
  probe: () => probeIngress(ingress.listen),
  closed: async () => (await gateState(ingress.control)) === "reject",
});

/** Whether the client-facing ingress takes a new connection and answers an HTTP request on it (for `host`). */
export function probeIngress(port: number, timeoutMs = 1500, host = "x"): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    let answered = false;
    const done = (r: ProbeResult) => {
      socket.destroy();
      resolve(r);
    };
    socket.setTimeout(timeoutMs, () => done("refused"));
    socket.on("connect", () =>
      socket.write(`GET /balance/alice HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`),
    );
    socket.on("data", (d) => {
      answered = answered || /^HTTP\/1\.[01] \d{3}/.test(d.toString());
    });
    socket.on("error", () => done("refused"));
    socket.on("close", () => resolve(answered ? "served" : "refused"));
  });
}

/** A maintenance window as the call would set it: from a few minutes ago for `hours` hours, in UTC. */
export function windowAroundNow(hours = 2): MaintenanceWindow {
  const fmt = (d: Date) => d.toISOString().slice(0, 16);
  const now = Date.now();
  return {
    start: fmt(new Date(now - 5 * 60_000)),
    end: fmt(new Date(now + hours * 3600_000)),
    timeZone: "UTC",
  };
}

/**
 * Sets the maintenance window as the call would: from a few minutes ago for two hours, in UTC, or the window the
 * operators agreed (the same on every operator's stack, or their proposals differ).
 */
export async function openWindow(
  stack: Stack,
  log: (l: string) => void,
  window: MaintenanceWindow = windowAroundNow(),
): Promise<void> {
  await stack.setConfig("flagday:window", { value: JSON.stringify(window) });
  log(`maintenance window: ${window.start} to ${window.end} UTC`);
}

/** Brings the rehearsal network up on `from` (idempotent: an existing network on `from` is left as it is). */
export async function bringUp(stack: Stack, release: string, log: (l: string) => void) {
  await stack.setConfig("flagday:release", { value: release });
  log(`bringing the rehearsal network up on ${release} (pulumi up)...`);
  const res = await stack.up({ onOutput: undefined, onEvent: progressPrinter(log) });
  log(`network up on ${release}: ${res.summary.result}`);
  return res;
}

/** Sends payments through the nodes' client API and waits for them to commit. */
export async function sendTraffic(stack: Stack, count: number, log: (l: string) => void): Promise<number[]> {
  const { nodes } = await layout(stack);
  const blocks: number[] = [];
  for (let i = 0; i < count; i++) {
    const node = nodes[i % nodes.length];
    // A node that has just (re)started may still be catching up and refuses clients until it is synced, as a
    // real node does: wait for it rather than call that a failure.
    const deadline = Date.now() + 30_000;
    let r = await submitPayment(node.client, "alice", i % 2 ? "bob" : "alice", 1, i % 3 === 0);
    while (!r.ok && /catchup|behind/.test(r.error) && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 300));
      r = await submitPayment(node.client, "alice", i % 2 ? "bob" : "alice", 1, i % 3 === 0);
    }
    if (!r.ok) throw new Error(`payment ${i + 1} refused by ${node.name}: ${r.error}`);
    blocks.push(await waitCommitted(node.client, r.txId, 30_000));
  }
  log(`traffic: ${count} payments committed (blocks ${blocks.join(", ")})`);
  return blocks;
}

/** Performs the flag day (or rollback) to `to` through one `pulumi up`, timing every stage. */
export async function flagDay(
  stack: Stack,
  to: string,
  log: (l: string) => void,
  opts: {
    readonly window?: MaintenanceWindow;
    readonly gate?: ClientGate;
    /** Where the timeline goes. @default `timelines/` in the stack's rehearsal folder (beside its nodes) */
    readonly timelineDir?: string;
  } = {},
): Promise<FlagDayReport> {
  const { network, nodes, ingress, operator } = await layout(stack);
  const gate = opts.gate ?? localGate(ingress);
  const before: NetworkSnapshot = { at: Date.now(), nodes: await fetchAll(nodes) };
  const deployed = (await stack.outputs()).flagday?.value as { release?: { version: string } } | undefined;
  const from = deployed?.release?.version ?? (await stack.getConfig("flagday:release")).value;
  await stack.setConfig("flagday:release", { value: to });
  await openWindow(stack, log, opts.window);

  const events: EngineEvent[] = [];
  const probes: ProbeResult[] = [];
  let windowOpen = false;
  const arrivals: number[] = [];
  const rootDir = await rootDirOf(stack);
  // The engine's events as `pulumi up --event-log` writes them: what `flagday board --events` follows.
  const eventsFile = path.join(rootDir, "events.jsonl");
  fs.mkdirSync(path.dirname(eventsFile), { recursive: true });
  fs.writeFileSync(eventsFile, "");
  // With several operators, the stack file names the coordination board: the board shows whom barriers wait for.
  const follow = `${operator ? ` -s ${stack.name}` : ""} --events ${path.relative(ROOT, eventsFile)}`;
  log(
    `follow it live: .engine/bin/flagday board${follow} [--text], or .engine/bin/flagday progress${follow}`,
  );
  const onEvent = (e: EngineEvent) => {
    // Never fail the engine's event stream for the board's copy (its folder may be gone at teardown).
    try {
      fs.appendFileSync(eventsFile, JSON.stringify(e) + "\n");
    } catch {
      /* the board misses this event; the update does not */
    }
    events.push(e);
    arrivals.push(Date.now());
    const stage = e.resOutputsEvent && stageOfStep(stepNameOf(e.resOutputsEvent.metadata.urn), network);
    if (stage === "ingress-reject") windowOpen = true;
    if (stage === "ingress-accept") windowOpen = false;
    printer(e);
  };
  const printer = progressPrinter(
    log,
    progressTracker({ network, nodes: nodes.length, coordinated: operator !== undefined }),
  );
  // While the window is open, keep knocking on the client-facing ingress as a client would. A probe counts
  // only if the gate still says "reject" after it: engine events reach us a little late, and a probe that
  // raced the reopening says nothing about the window.
  const prober = setInterval(() => {
    if (!windowOpen) return;
    void gate.probe().then(async (r) => {
      if (windowOpen && (await gate.closed())) probes.push(r);
    });
  }, 500);
  // A barrier step (several operators) says in its log whom it waits for: show the latest line as it changes.
  const waits = barrierWaits(rootDir, log);
  log(`${from} -> ${to} (pulumi up)...`);
  let outputs: Record<string, unknown>;
  let failed = true;
  const timelineDir = opts.timelineDir ?? path.join(rootDir, "timelines");
  const written = () => {
    const timed = events.map((event, i) => ({ event, at: arrivals[i] }));
    const w = writeTimeline(
      timelineDir,
      stack.name,
      `${from} -> ${to} on stack ${stack.name}${failed ? " (failed)" : ""}`,
      timelineSteps(timed, network),
    );
    if (w)
      log(
        `timeline: ${path.relative(process.cwd(), w.svg)} (Mermaid gantt: ${path.relative(process.cwd(), w.markdown)})`,
      );
  };
  try {
    const res = await stack.up({ onEvent });
    outputs = Object.fromEntries(Object.entries(res.outputs).map(([k, v]) => [k, v.value]));
    failed = false;
  } finally {
    clearInterval(prober);
    clearInterval(waits);
    written();
  }
  const after: NetworkSnapshot = { at: Date.now(), nodes: await fetchAll(nodes) };
  const stepList = resourceSteps(events);
  const record = outputs.flagday as { lastTransition?: { sequence: SequenceName } } | undefined;
  const sequence = record?.lastTransition?.sequence ?? "flag-day";
  const stages = stageTimings(events, sequence, network);
  const reject = stages.find((s) => s.stage === "ingress-reject");
  const accept = stages.find((s) => s.stage === "ingress-accept");
  return {
    stack: stack.name,
    network,
    from,
    to,
    sequence,
    steps: stepList,
    stages,
    downtimeMs: reject && accept ? accept.end - reject.start : 0,
    before,
    after,
    clientProbes: { during: probes, after: await gate.probe() },
    outputs,
    timed: events.map((e, i) => ({ event: e, at: arrivals[i] })),
  };
}

/**
 * The rehearsal's rollback to v1.0.0 after its flag day: payments first, so the guard must refuse (the blocks
 * since the snapshots would be lost); then with the loss accepted (recorded in the history), the restore.
 */
export async function rehearseRollback(
  stack: Stack,
  log: (l: string) => void,
  opts: { readonly gate?: ClientGate; readonly timelineDir?: string } = {},
): Promise<FlagDayReport> {
  await sendTraffic(stack, 2, log);
  log(
    "rollback to v1.0.0: the live window made blocks after the snapshots, so the guard must refuse first...",
  );
  const refused = await flagDay(stack, "v1.0.0", log, opts).then(
    () => undefined,
    (e: Error) => e.message,
  );
  if (refused === undefined) throw new Error("the rollback guard let a rollback drop confirmed blocks");
  log(`refused as expected: ${/FAIL heights: [^\n]*/.exec(refused)?.[0] ?? refused.split("\n")[0]}`);
  log("accepting the loss (flagday:acceptDataLoss, recorded in the history) and rolling back...");
  await stack.setConfig("flagday:acceptDataLoss", { value: "true" });
  const back = await flagDay(stack, "v1.0.0", log, opts);
  log("\n" + formatReport(back) + "\n");
  return back;
}

/** Where the local platform keeps a stack's nodes and step logs (components/local/platform.ts's default). */
async function rootDirOf(stack: Stack): Promise<string> {
  const cfg = await stack.getAllConfig();
  const local = JSON.parse(cfg["flagday:local"]?.value ?? "{}") as { rootDir?: string };
  return path.resolve(ROOT, local.rootDir ?? path.join(".rehearsal", stack.name));
}

/**
 * Every 2 s, the newest "waiting for" line of each barrier step's log (`logs/<network>-<u>-all-*.log`), printed
 * when it changes: what the operator on the call sees while its stack waits for the others.
 */
function barrierWaits(rootDir: string, log: (l: string) => void): NodeJS.Timeout {
  const seen = new Map<string, string>();
  return setInterval(() => {
    const dir = path.join(rootDir, "logs");
    let files: string[] = [];
    try {
      files = fs.readdirSync(dir).filter((f) => /-all-[a-z-]+\.log$/.test(f));
    } catch {
      return;
    }
    for (const f of files) {
      let text = "";
      try {
        text = fs.readFileSync(path.join(dir, f), "utf8");
      } catch {
        continue;
      }
      const line = text
        .split("\n")
        .filter((l) => l.includes("waiting for"))
        .pop();
      if (line && seen.get(f) !== line) {
        seen.set(f, line);
        log(`         ${line.replace(/^\S+Z /, "")}`);
      }
    }
  }, 2000);
}

/** Engine resource steps in event order (`resourcePreEvent`), as the engine really ran them. */
export function resourceSteps(events: readonly EngineEvent[]) {
  return events
    .filter((e) => e.resourcePreEvent)
    .map((e) => {
      const m = e.resourcePreEvent!.metadata;
      return { op: m.op, name: stepNameOf(m.urn), type: m.type };
    });
}

/** First start and last end of each stage's steps, from the engine's events, in sequence order. */
export function stageTimings(
  events: readonly EngineEvent[],
  sequence: SequenceName,
  network: string,
): StageTiming[] {
  const t = new Map<StageName, { start: number; end: number; steps: number; urns: Set<string> }>();
  for (const e of events) {
    const pre = e.resourcePreEvent?.metadata;
    const out = e.resOutputsEvent?.metadata;
    const m = pre ?? out;
    if (!m || m.op === "same" || m.op === "read" || m.op === "delete-replaced" || m.op === "delete") continue;
    const stage = stageOfStep(stepNameOf(m.urn), network);
    if (!stage) continue;
    const at = e.timestamp * 1000;
    const cur = t.get(stage) ?? { start: at, end: at, steps: 0, urns: new Set<string>() };
    if (pre) {
      cur.start = Math.min(cur.start, at);
      cur.urns.add(m.urn);
      cur.steps = cur.urns.size;
    } else {
      cur.end = Math.max(cur.end, at);
    }
    t.set(stage, cur);
  }
  // The coordinated sequence is a superset: a single operator's update simply has no barrier steps.
  return COORDINATED_SEQUENCES[sequence]
    .filter((s) => t.has(s.name))
    .map((s) => {
      const { start, end, steps } = t.get(s.name)!;
      return { stage: s.name, start, end, steps };
    });
}

/**
 * Prints one line per resource step as the engine starts and finishes it, and, given a `progress` tracker
 * (progress.ts), where the flag day is: stage n of m, nodes done, time since the first stage.
 */
export function progressPrinter(log: (l: string) => void, progress?: (e: StepEvent) => string | undefined) {
  const started = new Map<string, number>();
  return (e: EngineEvent) => {
    const step = stepEventOf(e);
    const where = step && progress?.(step);
    const clock = new Date(e.timestamp * 1000).toISOString().slice(11, 19);
    const skip = (op: string) => op === "same" || op === "read";
    if (e.resourcePreEvent) {
      const m = e.resourcePreEvent.metadata;
      if (skip(m.op)) return;
      started.set(m.urn, e.timestamp);
      if (where) log(where);
      log(`${clock}  > ${m.op.padEnd(18)} ${stepNameOf(m.urn)}`);
    } else if (e.resOutputsEvent) {
      const m = e.resOutputsEvent.metadata;
      if (skip(m.op)) return;
      const secs = (e.timestamp - (started.get(m.urn) ?? e.timestamp)).toFixed(1);
      log(`${clock}  ok ${m.op.padEnd(17)} ${stepNameOf(m.urn)} (${secs}s)`);
      if (where) log(where);
    } else if (e.resOpFailedEvent) {
      log(`${clock}  FAILED ${stepNameOf(e.resOpFailedEvent.metadata.urn)}`);
      if (where) log(where);
    } else if (e.diagnosticEvent && e.diagnosticEvent.severity === "error") {
      log(`${clock}  error: ${e.diagnosticEvent.message.trim()}`);
    }
  };
}

/** The flag day's steps with their times, as the engine's events reached the driver (for the timeline). */
export function timelineSteps(timed: FlagDayReport["timed"], network: string): TimelineStep[] {
  const steps = new Map<
    string,
    { stage: StageName; node?: string; start: number; end?: number; failed?: boolean }
  >();
  for (const { event, at } of timed) {
    const pre = event.resourcePreEvent?.metadata;
    const out = event.resOutputsEvent?.metadata;
    const failed = event.resOpFailedEvent?.metadata;
    const m = pre ?? out ?? failed;
    if (!m || m.op === "same" || m.op === "read" || m.op.startsWith("delete")) continue;
    const name = stepNameOf(m.urn);
    const stage = stageOfStep(name, network);
    if (!stage) continue;
    const node = parseStepName(name, network)?.node;
    const s = steps.get(name) ?? { stage, ...(node ? { node } : {}), start: at };
    if (out) s.end = at;
    if (failed) Object.assign(s, { end: at, failed: true });
    steps.set(name, s);
  }
  const last = Math.max(0, ...timed.map((t) => t.at));
  return [...steps.values()].map((s) => ({ ...s, end: s.end ?? last }));
}

/**
 * Writes the flag day's timeline (SVG, and a Markdown file with the Mermaid gantt) in `dir`, named by stack and
 * time; returns the paths.
 */
export function writeTimeline(
  dir: string,
  stack: string,
  title: string,
  steps: readonly TimelineStep[],
): { svg: string; markdown: string } | undefined {
  if (steps.length === 0) return undefined;
  fs.mkdirSync(dir, { recursive: true });
  const base = path.join(dir, `${stack}-${new Date().toISOString().replace(/[-:]|\.\d+Z$/g, "")}`);
  const t = { title, steps };
  fs.writeFileSync(`${base}.svg`, timelineSvg(t));
  fs.writeFileSync(
    `${base}.md`,
    `# ${title}\n\n![timeline](${path.basename(base)}.svg)\n\n${timelineGantt(t)}`,
  );
  return { svg: `${base}.svg`, markdown: `${base}.md` };
}

/** The summary operators paste into the call. */
export function formatReport(r: FlagDayReport): string {
  const t0 = r.stages[0]?.start ?? 0;
  const s = (ms: number) => (ms / 1000).toFixed(1).padStart(6);
  const lines = [
    `${r.sequence} ${r.from} -> ${r.to} on stack ${r.stack}`,
    ``,
    `stage            start    end   (seconds from the first stage)`,
    ...r.stages.map((x) => `${x.stage.padEnd(15)} ${s(x.start - t0)} ${s(x.end - t0)}   ${x.steps} step(s)`),
    ``,
    `downtime (ingress closed): ${(r.downtimeMs / 1000).toFixed(1)} s; client probes during the window: ` +
      `${r.clientProbes.during.filter((p) => p === "refused").length}/${r.clientProbes.during.length} refused; ` +
      `after: ${r.clientProbes.after}`,
    ``,
    `node     height before -> after   MRENCLAVE before -> after`,
    ...r.before.nodes.map((b, i) => {
      const a = r.after.nodes[i];
      return `${b.name.padEnd(8)} ${String(b.blockHeight ?? "?").padStart(6)} -> ${String(a?.blockHeight ?? "?").padEnd(8)}   ${(b.mrenclave ?? "?").slice(0, 12)} -> ${(a?.mrenclave ?? "?").slice(0, 12)}`;
    }),
  ];
  return lines.join("\n");
}

export const STAGE_ORDER = FLAG_DAY.map((s) => s.name);
