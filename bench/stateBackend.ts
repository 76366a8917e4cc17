/**
 * The flag day's window with the stack's state in S3, as the README asks of real stacks (a shared backend), beside
 * the local file backend the rest of the bench uses. Pulumi's S3 backend saves the whole state before and after
 * every step, one save at a time, and each save is several requests (it lists the stack's folder, checks and copies
 * the old file to `.bak`, then PUTs the new one). This runs the Kubernetes profile's 10-node flag day once per
 * backend with the state in moto's S3 server on loopback, behind a proxy that counts the requests and delays each
 * by a MODELLED in-region S3 latency divided by the time_scale, like every other modelled figure (the profile
 * module's fine scale, where the model outweighs the tools):
 *   BENCH downtime-state-backend backend=<file|s3> profile=kubernetes nodes=10 ledger_gb=<g> time_scale=<k>
 *     seconds=<s> critical_path_seconds=<c> state_requests_in_window=<n> state_saves_in_window=<p>
 *     state_kb=<size of the state file at the end> s3_request_ms=<modelled, unscaled>
 *     window_state_requests_seconds_unscaled=<the window's state requests one after another at s3_request_ms>
 * The last figure is what those requests would add to a real window if each waited for the one before (the
 * engine saves one at a time; the loopback run shows whether the window grows by that much).
 * S3_REQUEST_MS's source: AWS, "Best Practices Design Patterns: Optimizing Amazon S3 Performance", section
 * "Timeouts and Retries for Latency-Sensitive Applications": for small requests (under 512 KB), "median latencies
 * are often in the tens of milliseconds"; the Amazon S3 User Guide's performance design patterns give "roughly
 * 100-200 milliseconds" for consistent small-object latencies. 100 ms is taken: pessimistic against the median.
 * Only this module: source scripts/env.sh && npx tsx -e 'require("./bench/stateBackend").benchStateBackend()'
 */
import * as http from "node:http";
import { AddressInfo } from "node:net";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { LatencyConfig } from "../components/local/latency";
import { bringUp, flagDay, sendTraffic } from "../rehearsal/run";
import { startS3Server } from "../rehearsal/s3server";
import { criticalPathSeconds, downtimeSeconds, windowBounds } from "./downtime";
import { FINE_TIME_SCALE, NODES, profileNetwork } from "./profile";

const LEDGER_GIB = 5;
/** MODELLED: one in-region S3 request, unscaled (sources in the header). */
export const S3_REQUEST_MS = 100;
const BUCKET = "flagday-state";
/**
 * The profile module's fine scale (10), where the modelled steps outweigh the tools' own time. Each request then
 * waits 10 ms, and moto's own time on loopback (about 5 ms a request: the window grew by 20 ms a save at scale
 * 200, where the modelled wait is 0.5 ms) comes on top, unscaled.
 */
const TIME_SCALE = FINE_TIME_SCALE;

export interface StateRequest {
  readonly method: string;
  readonly path: string;
  /** Date.now() when the proxy received the request and when it sent the answer. */
  readonly start: number;
  readonly end: number;
}

/**
 * An HTTP proxy in front of an S3 endpoint that records every request and holds each one `delayMs` before passing
 * it on (the time a remote S3 would take that loopback does not).
 */
export async function delayingProxy(target: string, delayMs: number) {
  const requests: StateRequest[] = [];
  const upstream = new URL(target);
  const server = http.createServer((req, res) => {
    const start = Date.now();
    const body: Buffer[] = [];
    req.on("data", (c: Buffer) => body.push(c));
    req.on("end", () => {
      setTimeout(() => {
        const out = http.request(
          {
            host: upstream.hostname,
            port: upstream.port,
            method: req.method,
            path: req.url,
            headers: req.headers,
          },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
            answer.on("end", () =>
              requests.push({ method: req.method ?? "?", path: req.url ?? "", start, end: Date.now() }),
            );
          },
        );
        out.on("error", (e) => {
          res.writeHead(502);
          res.end(String(e));
        });
        out.end(Buffer.concat(body));
      }, delayMs);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

export interface StateBackendFigures {
  readonly backend: "file" | "s3";
  readonly seconds: number;
  readonly criticalPathSeconds: number;
  /** s3 only. */
  readonly requestsInWindow?: number;
  readonly savesInWindow?: number;
  readonly stateKiB?: number;
}

/** Requests to the state bucket in [from, to], and the PUTs of the stack's checkpoint among them (one per save). */
export function stateTraffic(requests: readonly StateRequest[], stack: string, from: number, to: number) {
  const file = `/.pulumi/stacks/flagday/${stack}.json`;
  const inWindow = requests.filter((r) => r.start >= from && r.end <= to && r.path.includes(`/${BUCKET}`));
  const saves = inWindow.filter((r) => r.method === "PUT" && r.path.split("?")[0].endsWith(file));
  return { requests: inWindow.length, saves: saves.length };
}

export async function measureStateBackend(backend: "file" | "s3"): Promise<StateBackendFigures> {
  const s3 = backend === "s3" ? await startS3Server() : undefined;
  const proxy = s3 ? await delayingProxy(s3.endpoint, S3_REQUEST_MS / TIME_SCALE) : undefined;
  try {
    if (s3) await s3.createBucket(BUCKET);
    const stackName = `bench-state-${backend}-${process.pid}`;
    const latency: LatencyConfig = { profile: "kubernetes", ledgerGiB: LEDGER_GIB, timeScale: TIME_SCALE };
    const net = await profileNetwork(
      stackName,
      latency,
      proxy && {
        PULUMI_BACKEND_URL: `s3://${BUCKET}?endpoint=${encodeURIComponent(proxy.endpoint)}&region=us-east-1&use_path_style=true`,
        AWS_ACCESS_KEY_ID: "flagday-test",
        AWS_SECRET_ACCESS_KEY: "flagday-test",
        AWS_REGION: "us-east-1",
      },
    );
    try {
      await bringUp(net.stack, "v1.0.0", net.log);
      await sendTraffic(net.stack, 3, net.log);
      const report = await flagDay(net.stack, "v2.0.0", net.log);
      const figures = {
        backend,
        seconds: downtimeSeconds(report),
        criticalPathSeconds: criticalPathSeconds(report),
      };
      if (!proxy || !s3) return figures;
      const { start, end } = windowBounds(report);
      const traffic = stateTraffic(proxy.requests, stackName, start, end);
      const c = s3.client();
      const state = await c.send(
        new GetObjectCommand({ Bucket: BUCKET, Key: `.pulumi/stacks/flagday/${stackName}.json` }),
      );
      const size = (await state.Body!.transformToByteArray()).length;
      c.destroy();
      return {
        ...figures,
        requestsInWindow: traffic.requests,
        savesInWindow: traffic.saves,
        stateKiB: size / 1024,
      };
    } finally {
      await net.cleanup();
    }
  } finally {
    await proxy?.close();
    await s3?.stop();
  }
}

export async function benchStateBackend(): Promise<StateBackendFigures[]> {
  const out: StateBackendFigures[] = [];
  for (const backend of ["file", "s3"] as const) {
    const f = await measureStateBackend(backend);
    out.push(f);
    console.log(
      `BENCH downtime-state-backend backend=${backend} profile=kubernetes nodes=${NODES} ledger_gb=${LEDGER_GIB} ` +
        `time_scale=${TIME_SCALE} seconds=${f.seconds.toFixed(2)} ` +
        `critical_path_seconds=${f.criticalPathSeconds.toFixed(2)}` +
        (f.requestsInWindow === undefined
          ? ""
          : ` state_requests_in_window=${f.requestsInWindow} state_saves_in_window=${f.savesInWindow} ` +
            `state_kb=${Math.round(f.stateKiB!)} s3_request_ms=${S3_REQUEST_MS} ` +
            `window_state_requests_seconds_unscaled=${((f.requestsInWindow * S3_REQUEST_MS) / 1000).toFixed(1)} ` +
            `figures=MODELLED`),
    );
  }
  return out;
}
