/**
 * `flagday board --events <file> [--text] [--port <p>] [--admin <node>=<url> ...]`: the live board for the call.
 * It reads a Pulumi engine event log as it grows (`pulumi up --event-log <file>`; the rehearsal writes
 * `.rehearsal/<stack>/events.jsonl`) and shows operators' nodes against the stages: each cell done, running
 * (with its elapsed time), waiting at a barrier, or failed (with the engine's reason), the ingress state and the
 * downtime clock since the ingress first rejected clients, and, given `--admin`, each node's height and
 * MRENCLAVE from its admin /info. Served as a local page that polls its own JSON every second (no scripts from
 * elsewhere), or printed as a terminal table (`--text`). Read-only: it never writes anything.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { parseStepName, stageOfStep } from "../components/names";
import { esc } from "../components/timeline";
import { BarrierName, isBarrierName, StageName, stagesOf } from "../components/stages";
import { EngineStepEvent, sequenceOfStages, stepEventOf, stepNameOf } from "../rehearsal/progress";
import {
  BarrierView,
  CoordinationSource,
  CoordinationView,
  operatorOfNodes,
  readCoordination,
} from "./coordination";

export class BoardUsageError extends Error {}

/** The engine events the board reads (a subset of @pulumi/pulumi/automation's EngineEvent). */
export interface BoardEvent extends EngineStepEvent {
  readonly diagnosticEvent?: { urn?: string; message: string; severity: string };
  /** The first event of an update (or of the preview before it): the stack's config, secrets blinded. */
  readonly preludeEvent?: { config: Record<string, string> };
  /** The end of an update (or of its preview). */
  readonly summaryEvent?: { isPreview?: boolean; result?: string; durationSeconds?: number };
  readonly cancelEvent?: object;
}

export type CellState = "running" | "done" | "failed" | "waiting";
export interface Cell {
  readonly state: CellState;
  /** Seconds: how long it ran, or has been running. */
  readonly seconds: number;
  /** Why it failed (the engine's error), or whom a barrier waits for ("waiting for bob, carol"). */
  readonly detail?: string;
}

export type IngressState = "open" | "closed" | "unknown";

export interface BoardModel {
  readonly network?: string;
  readonly stages: readonly StageName[];
  readonly lanes: readonly string[];
  /** cells[lane][stage] */
  readonly cells: Readonly<Record<string, Partial<Record<StageName, Cell>>>>;
  /** Several operators: closed while any operator's ingress rejects clients. */
  readonly ingress: IngressState;
  /** Several operators: each one's own ingress. */
  readonly operatorIngress?: Readonly<Record<string, IngressState>>;
  /** When the ingress first rejected clients (seconds since the epoch). */
  readonly ingressClosedAt?: number;
  /** Seconds since the ingress first rejected clients (frozen once it accepts them again). */
  readonly downtimeSeconds?: number;
  /** Read from the coordination board: the flag day shown. */
  readonly flagDayId?: string;
  /** Read from the coordination board: the entries that failed verification (never counted), in words. */
  readonly warnings?: readonly string[];
  readonly updatedAt: number;
}

const NETWORK = "network";

/** The network's name: the prefix before `-u<n>-` in the first transition step's name. */
export function networkOf(events: readonly BoardEvent[]): string | undefined {
  for (const e of events) {
    const m = e.resourcePreEvent?.metadata;
    const hit = m && /^(.+?)-u\d+-/.exec(stepNameOf(m.urn));
    if (hit) return hit[1];
  }
  return undefined;
}

/** The stages to show: the whole sequence the seen stages belong to, with the barriers when there are any. */
function stagesFor(seen: readonly StageName[], coordinated: boolean): readonly StageName[] {
  const seq = sequenceOfStages(seen);
  return seq ? stagesOf(seq, coordinated).map((s) => s.name) : seen;
}

/** Where the flag day is, from the events so far; `now` in seconds (the events' clock). */
export function boardModel(events: readonly BoardEvent[], now: number): BoardModel {
  const network = networkOf(events);
  const cells: Record<string, Partial<Record<StageName, Cell>>> = {};
  const seen: StageName[] = [];
  const started = new Map<string, number>();
  const stepOf = new Map<string, string>();
  const errors = new Map<string, string>();
  let rejectedAt: number | undefined;
  let acceptedAt: number | undefined;
  let failedAt: number | undefined;
  for (const e of events) {
    const d = e.diagnosticEvent;
    if (d?.urn && d.severity === "error") {
      errors.set(stepNameOf(d.urn), d.message.trim().split("\n").slice(-3).join(" "));
    }
    const step = stepEventOf(e);
    const stage = network && step && stageOfStep(step.name, network);
    if (!network || !step || !stage) continue;
    if (!seen.includes(stage)) seen.push(stage);
    const lane = parseStepName(step.name, network)?.node ?? NETWORK;
    const row = (cells[lane] ??= {});
    stepOf.set(`${lane}/${stage}`, step.name);
    const ran = e.timestamp - (started.get(step.name) ?? e.timestamp);
    if (step.phase === "start") {
      started.set(step.name, e.timestamp);
      row[stage] = { state: isBarrierName(stage) ? "waiting" : "running", seconds: 0 };
      if (stage === "ingress-reject") rejectedAt ??= e.timestamp;
    } else if (step.phase === "done") {
      row[stage] = { state: "done", seconds: ran };
      if (stage === "ingress-accept") acceptedAt = e.timestamp;
      if (stage === "ingress-reject") acceptedAt = undefined;
    } else {
      failedAt = e.timestamp;
      row[stage] = { state: "failed", seconds: ran, detail: errors.get(step.name) };
    }
  }
  // Elapsed time of what still runs (or waits); a failed update ran nothing further.
  const end = failedAt ?? now;
  for (const [lane, row] of Object.entries(cells)) {
    for (const [stage, c] of Object.entries(row) as [StageName, Cell][]) {
      if (c.state === "running" || c.state === "waiting") {
        const at = started.get(stepOf.get(`${lane}/${stage}`) ?? "") ?? end;
        row[stage] = { ...c, seconds: Math.max(0, end - at) };
      }
    }
  }
  const nodes = Object.keys(cells)
    .filter((l) => l !== NETWORK)
    .sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
  const closed = rejectedAt !== undefined && acceptedAt === undefined;
  return {
    ...(network ? { network } : {}),
    stages: stagesFor(seen, seen.some(isBarrierName)),
    lanes: [NETWORK, ...nodes],
    cells,
    ingress: rejectedAt === undefined ? "unknown" : closed ? "closed" : "open",
    ...(rejectedAt !== undefined
      ? { ingressClosedAt: rejectedAt, downtimeSeconds: (acceptedAt ?? end) - rejectedAt }
      : {}),
    updatedAt: now,
  };
}

/**
 * Whose stack wrote this event log: the update's own config (`flagday:operator`, in the engine's first event),
 * else the operator whose nodes its steps name (unchanged steps too), else undefined.
 */
export function operatorOfLog(events: readonly BoardEvent[], view?: CoordinationView): string | undefined {
  const own = events.find((e) => e.preludeEvent)?.preludeEvent?.config["flagday:operator"];
  if (own) return own;
  const network = networkOf(events) ?? view?.network;
  if (!view || !network) return undefined;
  const nodes = events.flatMap((e) => {
    const m = e.resourcePreEvent?.metadata;
    const node = m && parseStepName(stepNameOf(m.urn), network)?.node;
    return node ? [node] : [];
  });
  return operatorOfNodes(view, nodes);
}

/**
 * A barrier cell of `operator`, from its stack's own cell (`logged`, when its event log is read) and the
 * board's verified arrivals: done once every operator arrived; waiting, naming whom for, once it arrived (or
 * its step waits); failed on an abort, on reports that disagree, or when its step failed.
 */
export function barrierCell(
  operator: string,
  b: BarrierView,
  logged: Cell | undefined,
  now: number,
): Cell | undefined {
  const s = b.status;
  const arrived = b.arrivedAt[operator];
  if (logged?.state === "failed" || (!logged && arrived === undefined)) return logged;
  const seconds = logged?.seconds ?? Math.max(0, now - arrived);
  if (s.abort) {
    return { state: "failed", seconds, detail: `operator ${s.abort.operator} aborted: ${s.abort.reason}` };
  }
  if (s.disagreement && arrived !== undefined) return { state: "failed", seconds, detail: s.disagreement };
  if (s.missing.length === 0)
    return { state: "done", seconds: logged?.state === "done" ? logged.seconds : seconds };
  const others = s.missing.map((m) => m.operator).filter((o) => o !== operator);
  return {
    state: "waiting",
    seconds,
    ...(others.length ? { detail: `waiting for ${others.join(", ")}` } : {}),
  };
}

/**
 * The board of a flag day of several operators: a lane per operator (its own steps and its barriers) and one
 * per node (`alice/node1`), from each operator's event log and the coordination board's verified entries. A
 * log whose operator cannot be told is shown as `log<n>`.
 */
export function operatorsBoardModel(
  logs: readonly (readonly BoardEvent[])[],
  view: CoordinationView | undefined,
  now: number,
): BoardModel {
  const byOperator = new Map<string, BoardModel>();
  logs.forEach((events, k) =>
    byOperator.set(operatorOfLog(events, view) ?? `log${k + 1}`, boardModel(events, now)),
  );
  const names = [...new Set([...(view?.operators.map((o) => o.name) ?? []), ...byOperator.keys()])];
  const rows = names.map((op) => operatorRows(op, byOperator.get(op), view, now));
  const cells = Object.assign({}, ...rows.map((r) => r.cells)) as BoardModel["cells"];
  const seen = [...new Set(Object.values(cells).flatMap((row) => Object.keys(row) as StageName[]))];
  const network = view?.network ?? [...byOperator.values()].find((m) => m.network)?.network;
  return {
    ...(network ? { network } : {}),
    stages: view?.sequence ? stagesOf(view.sequence, true).map((s) => s.name) : stagesFor(seen, true),
    lanes: rows.flatMap((r) => r.lanes),
    cells,
    ...ingressOf(byOperator),
    ...(view?.flagDayId ? { flagDayId: view.flagDayId } : {}),
    ...(view ? { warnings: view.warnings } : {}),
    updatedAt: now,
  };
}

/** One operator's lanes: its own (its steps, its barriers as the board has them) and its nodes'. */
function operatorRows(
  op: string,
  m: BoardModel | undefined,
  view: CoordinationView | undefined,
  now: number,
) {
  const viewed = view?.operators.find((o) => o.name === op)?.nodes ?? [];
  const nodes = [...new Set([...viewed, ...(m?.lanes.filter((l) => l !== NETWORK) ?? [])])];
  const own: Partial<Record<StageName, Cell>> = { ...m?.cells[NETWORK] };
  for (const [stage, b] of Object.entries(view?.barriers ?? {}) as [BarrierName, BarrierView][]) {
    const c = barrierCell(op, b, own[stage], now);
    if (c) own[stage] = c;
  }
  const cells: Record<string, Partial<Record<StageName, Cell>>> = { [op]: own };
  for (const n of nodes) if (m?.cells[n]) cells[`${op}/${n}`] = m.cells[n];
  return { lanes: [op, ...nodes.map((n) => `${op}/${n}`)], cells };
}

/** The network's ingress from each operator's: closed while any is; the downtime from the first close. */
function ingressOf(byOperator: ReadonlyMap<string, BoardModel>) {
  const models = [...byOperator.values()].filter((m) => m.ingressClosedAt !== undefined);
  const closedAt = Math.min(...models.map((m) => m.ingressClosedAt as number));
  const openedAt = Math.max(...models.map((m) => (m.ingressClosedAt as number) + (m.downtimeSeconds ?? 0)));
  const states = [...byOperator.values()].map((m) => m.ingress);
  return {
    ingress: states.includes("closed")
      ? "closed"
      : states.includes("open")
        ? "open"
        : ("unknown" as IngressState),
    operatorIngress: Object.fromEntries([...byOperator].map(([op, m]) => [op, m.ingress])),
    ...(models.length ? { ingressClosedAt: closedAt, downtimeSeconds: openedAt - closedAt } : {}),
  };
}

/** The event log as written so far: one JSON event per line; a half-written last line is skipped. */
export function readEvents(file: string): BoardEvent[] {
  if (!fs.existsSync(file)) return [];
  const out: BoardEvent[] = [];
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as BoardEvent);
    } catch {
      /* being written */
    }
  }
  return out;
}

const mark: Record<CellState, string> = { done: "done", running: "run", failed: "FAIL", waiting: "wait" };

/** What the board shows: the network and the flag day. */
const titleOf = (b: BoardModel) =>
  `flag day on ${b.network ?? "(no transition yet)"}${b.flagDayId ? ` (${b.flagDayId.slice(0, 12)})` : ""}`;

/** The board's first line: the network, the flag day, the ingress (each operator's) and the downtime clock. */
function headline(b: BoardModel): string {
  const each = Object.entries(b.operatorIngress ?? {}).map(([op, s]) => `${op} ${s}`);
  const clock = b.downtimeSeconds === undefined ? "" : `, downtime ${b.downtimeSeconds.toFixed(0)} s`;
  return `${titleOf(b)}: ingress ${b.ingress}${each.length > 1 ? ` (${each.join(", ")})` : ""}${clock}`;
}

/** A lane's node information: given by node name (`--admin node1=...`), also on the lane `alice/node1`. */
const infoOf = (info: Record<string, string>, lane: string) => info[lane] ?? info[lane.split("/")[1] ?? ""];

/** Every cell in `state`, as `<lane> <stage>: <detail>`. */
function cellsIn(b: BoardModel, state: CellState, dflt = ""): string[] {
  return b.lanes.flatMap((lane) =>
    Object.entries(b.cells[lane] ?? {})
      .filter(([, c]) => c?.state === state && (c.detail || dflt))
      .map(([s, c]) => `${lane} ${s}: ${c?.detail || dflt}`),
  );
}

const failuresOf = (b: BoardModel) => cellsIn(b, "failed", "(no reason in the event log)");

/** The board as a terminal table: a row per lane, a column per stage. */
export function boardText(b: BoardModel, info: Record<string, string> = {}): string {
  const w = 9;
  const lw = Math.max(9, ...b.lanes.map((l) => l.length + 1));
  const head = `${"".padEnd(lw)}${b.stages.map((s) => s.slice(0, w - 1).padEnd(w)).join("")}`;
  const rows = b.lanes.map((lane) => {
    const cells = b.stages.map((s) => {
      const c = b.cells[lane]?.[s];
      return (c ? `${mark[c.state]}${c.state === "done" ? "" : ` ${Math.round(c.seconds)}s`}` : "").padEnd(w);
    });
    const i = infoOf(info, lane);
    return `${lane.padEnd(lw)}${cells.join("")}${i ? `  ${i}` : ""}`;
  });
  return [
    headline(b),
    head,
    ...rows,
    ...cellsIn(b, "waiting").map((l) => `WAITING ${l}`),
    ...failuresOf(b).map((l) => `FAILED ${l}`),
    ...(b.warnings ?? []).map((l) => `WARNING ${l}`),
  ].join("\n");
}

/**
 * The page's dynamic parts as HTML, rendered here rather than in the page's script: the headline, the table
 * (`td.<state>[data-lane][data-stage]`, its reason or whom it waits for in `title`), the failures and the
 * warnings (entries the board ignored).
 */
export function boardHtml(b: BoardModel, info: Record<string, string> = {}) {
  const cell = (lane: string, s: StageName) => {
    const c = b.cells[lane]?.[s];
    if (!c) return "<td></td>";
    const waiting = c.state === "waiting" && c.detail ? c.detail : c.state;
    const text = c.state === "done" ? "done" : `${waiting} ${Math.round(c.seconds)} s`;
    return (
      `<td class="${c.state}" data-lane="${esc(lane)}" data-stage="${s}" title="${esc(c.detail ?? "")}">` +
      `${esc(text)}</td>`
    );
  };
  const rows = b.lanes.map(
    (lane) =>
      `<tr><th>${esc(lane)}</th>${b.stages.map((s) => cell(lane, s)).join("")}<td>${esc(infoOf(info, lane) ?? "")}</td></tr>`,
  );
  const items = (lines: readonly string[], prefix: string) =>
    lines.map((l) => `<li>${prefix}${esc(l)}</li>`).join("");
  return {
    title: titleOf(b),
    table: `<tr><th></th>${b.stages.map((s) => `<th>${s}</th>`).join("")}<th>node</th></tr>${rows.join("")}`,
    failures: items(failuresOf(b), "FAILED "),
    warnings: items(b.warnings ?? [], "WARNING "),
  };
}

/** The page: it shows what /state.json holds every second. Self-contained: no external scripts or styles. */
export const BOARD_PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>flagday board</title><style>
body{font-family:sans-serif;margin:16px} table{border-collapse:collapse} td,th{border:1px solid #ccc;padding:4px 6px;font-size:12px}
td.done{background:#c7e9c0} td.running{background:#fff3b0} td.waiting{background:#ffd8a8} td.failed{background:#f4a6a6}
#ingress.closed{color:#b00;font-weight:bold} #failures{color:#b00} #warnings{color:#a60}
</style></head><body><h2 id="title">flagday board</h2><p>ingress: <span id="ingress">unknown</span>
<span id="downtime"></span> · updated <span id="updated"></span></p><table id="board"></table><ul id="failures"></ul>
<ul id="warnings"></ul>
<script>
async function refresh() {
  const b = await (await fetch("/state.json", { cache: "no-store" })).json();
  document.getElementById("title").textContent = b.html.title;
  const ing = document.getElementById("ingress");
  ing.textContent = b.ingress; ing.className = b.ingress;
  document.getElementById("downtime").textContent = b.downtimeSeconds === undefined ? "" : "· downtime " + Math.round(b.downtimeSeconds) + " s";
  document.getElementById("updated").textContent = new Date(b.updatedAt * 1000).toISOString().slice(11, 19) + " UTC";
  document.getElementById("board").innerHTML = b.html.table;
  document.getElementById("failures").innerHTML = b.html.failures;
  document.getElementById("warnings").innerHTML = b.html.warnings;
}
refresh(); setInterval(() => refresh().catch(() => {}), 1000);
</script></body></html>
`;

/** Each node's height and MRENCLAVE from its admin /info, for the board's last column. */
async function nodeInfo(admins: Record<string, string>): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  await Promise.all(
    Object.entries(admins).map(async ([node, url]) => {
      try {
        const r = await fetch(`${url.replace(/\/$/, "")}/info`, { signal: AbortSignal.timeout(1500) });
        const i = (await r.json()) as {
          build_info?: { mrenclave?: string };
          config?: { status?: { block_height?: number } };
        };
        out[node] =
          `height ${i.config?.status?.block_height ?? "?"} · ${(i.build_info?.mrenclave ?? "").slice(0, 12) || "MRENCLAVE not reported"}`;
      } catch {
        out[node] = "not answering";
      }
    }),
  );
  return out;
}

/** Serves the page and its JSON (`state`) on 127.0.0.1:`port` (0: any free port). GET only: read-only. */
export async function startBoard(
  state: () => Promise<object>,
  port = 0,
): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (req.method !== "GET") return void res.writeHead(405).end();
    if (req.url === "/state.json") {
      void state().then((s) =>
        res
          .writeHead(200, { "content-type": "application/json", "cache-control": "no-store" })
          .end(JSON.stringify(s)),
      );
      return;
    }
    if (req.url === "/" || req.url === "/index.html") {
      return void res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(BOARD_PAGE);
    }
    // Browsers ask for it: an empty icon, not a 404 in the page's console.
    if (req.url === "/favicon.ico") return void res.writeHead(204).end();
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/**
 * The board's state for the page and the table: the model from the event log(s) and, given a coordination
 * source, the board's verified entries; the nodes' /info; the page's HTML.
 */
export function boardState(
  files: string | readonly string[],
  admins: Record<string, string> = {},
  coordination?: CoordinationSource,
) {
  const list = typeof files === "string" ? [files] : files;
  return async () => {
    const logs = list.map(readEvents);
    const now = Date.now() / 1000;
    const model =
      coordination || logs.length > 1
        ? operatorsBoardModel(logs, await viewOf(coordination, logs), now)
        : boardModel(logs[0] ?? [], now);
    const info = await nodeInfo(admins);
    return { ...model, info, html: boardHtml(model, info) };
  };
}

/** The coordination board's view, or one saying why it could not be read (the board shows it as a warning). */
export async function viewOf(
  source: CoordinationSource | undefined,
  logs: readonly (readonly BoardEvent[])[],
): Promise<CoordinationView | undefined> {
  if (!source) return undefined;
  const unread = (why: string): CoordinationView => ({ operators: [], barriers: {}, warnings: [why] });
  const network = source.network ?? logs.map(networkOf).find((n) => n !== undefined);
  if (!network) {
    return unread("the coordination board is not read yet: no event log names the network (give -s <stack>)");
  }
  try {
    return await readCoordination(source, network);
  } catch (e) {
    const where = source.board.backend.description;
    return unread(`the coordination board (${where}) could not be read: ${(e as Error).message}`);
  }
}

export interface BoardOptions {
  readonly events?: readonly string[];
  readonly coordination?: CoordinationSource;
  readonly text?: boolean;
  readonly port?: string;
  readonly admin?: Record<string, string>;
  readonly once?: boolean;
}

export async function board(o: BoardOptions, log: (l: string) => void): Promise<number> {
  const files = o.events ?? [];
  if (!files.length && !o.coordination) {
    throw new BoardUsageError(
      "--events <file> is required (pulumi up --event-log <file>), or -s <stack> / --board <json> for the " +
        "coordination board alone",
    );
  }
  const state = boardState(files, o.admin, o.coordination);
  if (o.text) {
    for (;;) {
      const s = await state();
      log(`${o.once ? "" : "\x1b[2J\x1b[H"}${boardText(s, s.info)}`);
      if (o.once) return 0;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  const server = await startBoard(state, Number(o.port ?? 0));
  const reading = [...files, ...(o.coordination ? [o.coordination.board.backend.description] : [])];
  log(`flagday board: ${server.url} (reading ${reading.join(", ")}; Ctrl-C to stop)`);
  await new Promise<void>((r) => process.once("SIGINT", () => void server.close().then(r)));
  return 0;
}
