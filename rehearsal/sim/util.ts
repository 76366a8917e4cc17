// Small shared helpers for consensus-service-sim: logger, JSON HTTP server helpers, pid files.

import * as fs from "node:fs";
import * as http from "node:http";
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

/**
 * Connections kept open between requests: a node asks each attested peer for its status every second or every
 * slot, and a new TCP connection per request would cost more than the request. Idle sockets do not keep a
 * process alive (the agent unrefs them), and the agent heeds the server's Keep-Alive timeout.
 */
const keepAlive = new http.Agent({ keepAlive: true });

/** A kept-alive connection the server closed just as it was reused: the request never reached it. */
const staleSocket = (req: http.ClientRequest, e: NodeJS.ErrnoException) =>
  req.reusedSocket && (e.code === "ECONNRESET" || e.code === "EPIPE");

/**
 * POST/GET JSON with a timeout. Returns status and parsed body (or text when not JSON). Plain node:http rather
 * than fetch: fetch loads undici, which costs each simulator process more CPU than all of its own modules.
 */
export function requestJson(
  url: string,
  opts: {
    method?: string;
    body?: unknown;
    timeoutMs?: number;
    headers?: Record<string, string>;
    signal?: AbortSignal;
  },
): Promise<{ status: number; body: unknown }> {
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  const timeoutMs = opts.timeoutMs ?? 2000;
  const attempt = (retry: boolean) =>
    new Promise<{ status: number; body: unknown }>((resolve, reject) => {
      if (opts.signal?.aborted) return reject(abortError(opts.signal));
      const req = http.request(url, {
        method: opts.method ?? (payload === undefined ? "GET" : "POST"),
        agent: keepAlive,
        headers: {
          "content-type": "application/json",
          ...(payload === undefined ? {} : { "content-length": Buffer.byteLength(payload) }),
          ...(opts.headers ?? {}),
        },
      });
      const timer = setTimeout(
        () => req.destroy(new TimeoutError(`request to ${url} timed out after ${timeoutMs} ms`)),
        timeoutMs,
      );
      const onAbort = () => req.destroy(abortError(opts.signal!));
      opts.signal?.addEventListener("abort", onAbort, { once: true });
      let answered = false;
      const done = () => {
        clearTimeout(timer);
        opts.signal?.removeEventListener("abort", onAbort);
      };
      req.on("error", (e: NodeJS.ErrnoException) => {
        done();
        if (retry && !answered && staleSocket(req, e)) attempt(false).then(resolve, reject);
        else reject(e);
      });
      req.on("response", (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", (e) => {
          done();
          reject(e);
        });
        res.on("end", () => {
          done();
          const text = Buffer.concat(chunks).toString("utf8");
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            /* leave as text */
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
      });
      req.end(payload);
    });
  return attempt(true);
}

class TimeoutError extends Error {
  override name = "TimeoutError";
}

function abortError(signal: AbortSignal): Error {
  const e = new Error(`request aborted${signal.reason instanceof Error ? `: ${signal.reason.message}` : ""}`);
  e.name = "AbortError";
  return e;
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

/** The environment variable naming the file descriptor a daemon's `run` reports readiness on (daemon.ts). */
export const READY_FD_ENV = "FLAGDAY_SIM_READY_FD";

/**
 * Tells the `start` that spawned this process (if any) that it now listens: one line on the pipe it handed
 * down, then the pipe is closed. The `start` still checks readiness over HTTP; this only spares it polling
 * while the process loads.
 */
export function signalReady(): void {
  const fd = Number(process.env[READY_FD_ENV]);
  delete process.env[READY_FD_ENV];
  if (!Number.isInteger(fd) || fd < 3) return;
  try {
    fs.writeSync(fd, "ready\n");
  } catch {
    /* the start is gone: it will not need the line */
  }
  try {
    fs.closeSync(fd);
  } catch {
    /* already closed */
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
