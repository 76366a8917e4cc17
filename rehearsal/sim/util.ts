// Small shared helpers for consensus-service-sim: logger, JSON HTTP server helpers, pid files.

import * as fs from "node:fs";
import type * as http from "node:http";
import type { LogLevel } from "../../components/local/simConfig";

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/** Lines like `2025-01-01T00:00:00.000Z INFO consensus-service-sim[node1] message` on stdout. */
export function makeLogger(component: string, level: LogLevel = "info", out = process.stdout): Logger {
  const min = LEVELS[level];
  const line = (lvl: LogLevel, msg: string) => {
    if (LEVELS[lvl] >= min)
      out.write(`${new Date().toISOString()} ${lvl.toUpperCase()} ${component} ${msg}\n`);
  };
  return {
    debug: (m) => line("debug", m),
    info: (m) => line("info", m),
    warn: (m) => line("warn", m),
    error: (m) => line("error", m),
  };
}

export class HttpError extends Error {
  constructor(
    public readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function readJsonBody(req: http.IncomingMessage, limit = 4 * 1024 * 1024): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > limit) throw new HttpError(413, "body too large");
    chunks.push(c as Buffer);
  }
  if (size === 0) return {};
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new HttpError(400, "invalid JSON body");
  }
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

export function sendText(res: http.ServerResponse, status: number, text: string): void {
  res.writeHead(status, {
    "content-type": "text/plain; version=0.0.4",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

/** Wrap an async request handler: HttpError -> its status, anything else -> 500. */
export function handler(
  log: Logger,
  fn: (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => Promise<void>,
): http.RequestListener {
  return (req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    fn(req, res, url).catch((e: unknown) => {
      const status = e instanceof HttpError ? e.status : 500;
      if (status >= 500) log.error(`${req.method} ${url.pathname}: ${(e as Error).stack ?? e}`);
      if (!res.headersSent) sendJson(res, status, { error: (e as Error).message });
      else res.destroy();
    });
  };
}

/** POST/GET JSON with a timeout. Returns status and parsed body (or text when not JSON). */
export async function requestJson(
  url: string,
  opts: {
    method?: string;
    body?: unknown;
    timeoutMs?: number;
    headers?: Record<string, string>;
    signal?: AbortSignal;
  },
): Promise<{ status: number; body: unknown }> {
  const signals = [AbortSignal.timeout(opts.timeoutMs ?? 2000)];
  if (opts.signal) signals.push(opts.signal);
  const res = await fetch(url, {
    method: opts.method ?? (opts.body === undefined ? "GET" : "POST"),
    headers: { "content-type": "application/json", ...(opts.headers ?? {}) },
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    signal: AbortSignal.any(signals),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* leave as text */
  }
  return { status: res.status, body };
}

/** Is `pid` a live process? (Signal 0 probes without killing.) */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
  // A zombie (exited, not yet reaped by its new parent) still answers signal 0: it is not running.
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return true;
  }
}

export function readPid(file: string): number | undefined {
  try {
    const n = Number(fs.readFileSync(file, "utf8").trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Pid from the file if that process is alive (and, on Linux, is a consensus-service-sim process). */
export function livePid(file: string): number | undefined {
  const pid = readPid(file);
  if (pid === undefined || !isAlive(pid)) return undefined;
  try {
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8");
    if (!cmd.includes("consensus-service-sim")) return undefined; // pid reused by something else
  } catch {
    /* no /proc: trust kill(0) */
  }
  return pid;
}

export function writeFileAtomic(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
