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
import { BARRIER_NAMES, StageName, stagesOf } from "../components/stages";
import { sequenceOfStages } from "../rehearsal/progress";

export class BoardUsageError extends Error {}

/** The engine events the board reads (a subset of @pulumi/pulumi/automation's EngineEvent). */
export interface BoardEvent {
  readonly timestamp: number;
  readonly resourcePreEvent?: { metadata: { op: string; urn: string } };
  readonly resOutputsEvent?: { metadata: { op: string; urn: string } };
  readonly resOpFailedEvent?: { metadata: { op: string; urn: string } };
  readonly diagnosticEvent?: { urn?: string; message: string; severity: string };
}

export type CellState = "running" | "done" | "failed" | "waiting";
export interface Cell {
  readonly state: CellState;
  /** Seconds: how long it ran, or has been running. */
  readonly seconds: number;
  /** Why it failed (the engine's error), or whom a barrier waits for. */
  readonly detail?: string;
}

export interface BoardModel {
  readonly network?: string;
  readonly stages: readonly StageName[];
  readonly lanes: readonly string[];
  /** cells[lane][stage] */
  readonly cells: Readonly<Record<string, Partial<Record<StageName, Cell>>>>;
  readonly ingress: "open" | "closed" | "unknown";
  /** Seconds since the ingress first rejected clients (frozen once it accepts them again). */
  readonly downtimeSeconds?: number;
  readonly updatedAt: number;
}

const NETWORK = "network";
const nameOf = (urn: string) => urn.split("::").pop() ?? urn;
const isBarrier = (s: StageName) => (BARRIER_NAMES as readonly string[]).includes(s);

/** The network's name: the prefix before `-u<n>-` in the first transition step's name. */
export function networkOf(events: readonly BoardEvent[]): string | undefined {
  for (const e of events) {
    const m = e.resourcePreEvent?.metadata;
    const hit = m && /^(.+?)-u\d+-/.exec(nameOf(m.urn));
    if (hit) return hit[1];
  }
  return undefined;
}

/** Where the flag day is, from the events so far; `now` in seconds (the events' clock). */
export function boardModel(events: readonly BoardEvent[], now: number): BoardModel {
  const network = networkOf(events);
  const cells: Record<string, Partial<Record<StageName, Cell>>> = {};
  const seen: StageName[] = [];
  const started = new Map<string, number>();
  const urnOf = new Map<string, string>();
  const errors = new Map<string, string>();
  let rejectedAt: number | undefined;
  let acceptedAt: number | undefined;
  let failedAt: number | undefined;
  for (const e of events) {
    const d = e.diagnosticEvent;
    if (d?.urn && d.severity === "error") errors.set(d.urn, d.message.trim().split("\n").slice(-3).join(" "));
    const m = e.resourcePreEvent?.metadata ?? e.resOutputsEvent?.metadata ?? e.resOpFailedEvent?.metadata;
    if (!network || !m || m.op === "same" || m.op === "read" || m.op.startsWith("delete")) continue;
    const name = nameOf(m.urn);
    const stage = stageOfStep(name, network);
    if (!stage) continue;
    if (!seen.includes(stage)) seen.push(stage);
    const lane = parseStepName(name, network)?.node ?? NETWORK;
    const row = (cells[lane] ??= {});
    urnOf.set(`${lane}/${stage}`, m.urn);
    if (e.resourcePreEvent) {
      started.set(m.urn, e.timestamp);
      row[stage] = { state: isBarrier(stage) ? "waiting" : "running", seconds: 0 };
      if (stage === "ingress-reject") rejectedAt ??= e.timestamp;
    } else if (e.resOutputsEvent) {
      row[stage] = { state: "done", seconds: e.timestamp - (started.get(m.urn) ?? e.timestamp) };
      if (stage === "ingress-accept") acceptedAt = e.timestamp;
      if (stage === "ingress-reject") acceptedAt = undefined;
    } else {
      failedAt = e.timestamp;
      row[stage] = {
        state: "failed",
        seconds: e.timestamp - (started.get(m.urn) ?? e.timestamp),
        detail: errors.get(m.urn),
      };
    }
  }
  // Elapsed time of what still runs (or waits); a failed update ran nothing further.
  const end = failedAt ?? now;
  for (const [lane, row] of Object.entries(cells)) {
    for (const [stage, c] of Object.entries(row) as [StageName, Cell][]) {
      if (c.state === "running" || c.state === "waiting") {
        const at = started.get(urnOf.get(`${lane}/${stage}`) ?? "") ?? end;
        row[stage] = { ...c, seconds: Math.max(0, end - at) };
      }
    }
  }
  const seq = sequenceOfStages(seen);
  const coordinated = seen.some(isBarrier);
  const stages = seq ? stagesOf(seq, coordinated).map((s) => s.name) : seen;
  const nodes = Object.keys(cells)
    .filter((l) => l !== NETWORK)
    .sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
  const closed = rejectedAt !== undefined && acceptedAt === undefined;
  return {
    ...(network ? { network } : {}),
    stages,
    lanes: [NETWORK, ...nodes],
    cells,
    ingress: rejectedAt === undefined ? "unknown" : closed ? "closed" : "open",
    ...(rejectedAt !== undefined ? { downtimeSeconds: (acceptedAt ?? end) - rejectedAt } : {}),
    updatedAt: now,
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

/** The board as a terminal table: a row per lane, a column per stage. */
export function boardText(b: BoardModel, info: Record<string, string> = {}): string {
  const w = 9;
  const head = `${"".padEnd(9)}${b.stages.map((s) => s.slice(0, w - 1).padEnd(w)).join("")}`;
  const rows = b.lanes.map((lane) => {
    const cells = b.stages.map((s) => {
      const c = b.cells[lane]?.[s];
      return (c ? `${mark[c.state]}${c.state === "done" ? "" : ` ${Math.round(c.seconds)}s`}` : "").padEnd(w);
    });
    return `${lane.padEnd(9)}${cells.join("")}${info[lane] ? `  ${info[lane]}` : ""}`;
  });
  const failures = b.lanes.flatMap((lane) =>
    Object.entries(b.cells[lane] ?? {})
      .filter(([, c]) => c?.state === "failed")
      .map(([s, c]) => `FAILED ${lane} ${s}: ${c?.detail ?? "(no reason in the event log)"}`),
  );
  const clock = b.downtimeSeconds === undefined ? "" : `, downtime ${b.downtimeSeconds.toFixed(0)} s`;
  return [
    `flag day on ${b.network ?? "(no transition yet)"}: ingress ${b.ingress}${clock}`,
    head,
    ...rows,
    ...failures,
  ].join("\n");
}

/** The page: a table it fills from /state.json every second. Self-contained: no external scripts or styles. */
export const BOARD_PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>flagday board</title><style>
body{font-family:sans-serif;margin:16px} table{border-collapse:collapse} td,th{border:1px solid #ccc;padding:4px 6px;font-size:12px}
td.done{background:#c7e9c0} td.running{background:#fff3b0} td.waiting{background:#ffd8a8} td.failed{background:#f4a6a6}
#ingress.closed{color:#b00;font-weight:bold} #failures{color:#b00}
</style></head><body><h2 id="title">flagday board</h2><p>ingress: <span id="ingress">unknown</span>
<span id="downtime"></span> · updated <span id="updated"></span></p><table id="board"></table><ul id="failures"></ul>
<script>
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
async function refresh() {
  const b = await (await fetch("/state.json", { cache: "no-store" })).json();
  document.getElementById("title").textContent = "flag day on " + (b.network || "(no transition yet)");
  const ing = document.getElementById("ingress");
  ing.textContent = b.ingress; ing.className = b.ingress;
  document.getElementById("downtime").textContent = b.downtimeSeconds === undefined ? "" : "· downtime " + Math.round(b.downtimeSeconds) + " s";
  document.getElementById("updated").textContent = new Date(b.updatedAt * 1000).toISOString().slice(11, 19) + " UTC";
  let html = "<tr><th></th>" + b.stages.map((s) => "<th>" + esc(s) + "</th>").join("") + "<th>node</th></tr>";
  const fails = [];
  for (const lane of b.lanes) {
    html += "<tr><th>" + esc(lane) + "</th>";
    for (const s of b.stages) {
      const c = (b.cells[lane] || {})[s];
      if (!c) { html += "<td></td>"; continue; }
      if (c.state === "failed") fails.push(lane + " " + s + ": " + (c.detail || "(no reason in the event log)"));
      const t = c.state === "done" ? "done" : c.state + " " + Math.round(c.seconds) + " s";
      html += '<td class="' + c.state + '" data-lane="' + esc(lane) + '" data-stage="' + esc(s) + '" title="' + esc(c.detail || "") + '">' + esc(t) + "</td>";
    }
    html += "<td>" + esc((b.info || {})[lane] || "") + "</td></tr>";
  }
  document.getElementById("board").innerHTML = html;
  document.getElementById("failures").innerHTML = fails.map((f) => "<li>FAILED " + esc(f) + "</li>").join("");
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

/** The board's state for the page and the table: the model from the log, plus the nodes' /info. */
export function boardState(file: string, admins: Record<string, string> = {}) {
  return async () => ({ ...boardModel(readEvents(file), Date.now() / 1000), info: await nodeInfo(admins) });
}

export async function board(
  o: { events?: string; text?: boolean; port?: string; admin?: Record<string, string>; once?: boolean },
  log: (l: string) => void,
): Promise<number> {
  if (!o.events) throw new BoardUsageError("--events <file> is required (pulumi up --event-log <file>)");
  const file = o.events;
  const state = boardState(file, o.admin);
  if (o.text) {
    for (;;) {
      const s = await state();
      log(`${o.once ? "" : "\x1b[2J\x1b[H"}${boardText(s, s.info)}`);
      if (o.once) return 0;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  const server = await startBoard(state, Number(o.port ?? 0));
  log(`flagday board: ${server.url} (reading ${file}; Ctrl-C to stop)`);
  await new Promise<void>((r) => process.once("SIGINT", () => void server.close().then(r)));
  return 0;
}
