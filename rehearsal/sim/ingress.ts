// Client-facing ingress proxy of the rehearsal network (stand-in for the reverse proxy / load balancer /
// ingress controller in front of the nodes' client ports). A plain TCP proxy: one listen port, new client
// connections go round-robin to the upstream client ports, with failover to the next upstream if a connect
// fails. Peer ports never go through it.
// While REJECTED, new client connections are accepted and immediately reset (the port stays ours); already
// established connections are left alone. Control over HTTP: POST /reject, POST /accept, GET /state.
// The state is persisted in <dir>/ingress-state.json so a restart keeps it.

import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as path from "node:path";
import type { IngressConfig } from "../../components/local/simConfig";
import { handler, HttpError, type Logger, sendJson, signalReady, writeFileAtomic } from "./util";

export type IngressStateName = "accept" | "reject";
export interface IngressState {
  state: IngressStateName;
  since: string;
}

export function stateFile(dir: string): string {
  return path.join(dir, "ingress-state.json");
}

export function loadIngressState(dir: string): IngressState {
  try {
    const s = JSON.parse(fs.readFileSync(stateFile(dir), "utf8")) as IngressState;
    if (s.state === "accept" || s.state === "reject") return s;
  } catch {
    /* default below */
  }
  return { state: "accept", since: new Date().toISOString() };
}

export class Ingress {
  private state: IngressState;
  private proxy?: net.Server;
  private control?: http.Server;
  private next = 0;
  private sockets = new Set<net.Socket>();
  private counts = { accepted: 0, refused: 0 };

  constructor(
    readonly cfg: IngressConfig,
    private readonly log: Logger,
  ) {
    this.state = loadIngressState(cfg.dir);
  }

  async start(): Promise<void> {
    fs.mkdirSync(this.cfg.dir, { recursive: true });
    writeFileAtomic(stateFile(this.cfg.dir), JSON.stringify(this.state));
    this.proxy = net.createServer((s) => this.onClient(s));
    this.control = http.createServer(handler(this.log, (q, s, u) => this.controlApi(q, s, u)));
    await listen(this.proxy, this.cfg.listen);
    await listen(this.control, this.cfg.control);
    this.log.info(
      `ingress listening on 127.0.0.1:${this.cfg.listen} -> ${this.cfg.upstreams.map((u) => `${u.name}:${u.clientPort}`).join(", ")}; ` +
        `control 127.0.0.1:${this.cfg.control}; state ${this.state.state} since ${this.state.since}`,
    );
  }

  private onClient(client: net.Socket): void {
    if (this.state.state === "reject") {
      this.counts.refused++;
      this.log.debug(`refused client ${client.remoteAddress}:${client.remotePort} (rejecting)`);
      client.resetAndDestroy();
      return;
    }
    this.counts.accepted++;
    this.sockets.add(client);
    client.on("close", () => this.sockets.delete(client));
    client.on("error", () => undefined);
    client.pause();
    this.connectUpstream(client, 0);
  }

  private connectUpstream(client: net.Socket, attempt: number): void {
    const ups = this.cfg.upstreams;
    if (attempt >= ups.length) {
      this.log.warn("no upstream reachable; closing client connection");
      client.resetAndDestroy();
      return;
    }
    const u = ups[this.next++ % ups.length];
    const up = net.connect(u.clientPort, u.host ?? "127.0.0.1");
    const onErr = () => {
      up.destroy();
      this.connectUpstream(client, attempt + 1);
    };
    up.once("error", onErr);
    up.once("connect", () => {
      up.off("error", onErr);
      this.sockets.add(up);
      up.on("close", () => {
        this.sockets.delete(up);
        client.destroy();
      });
      up.on("error", () => client.destroy());
      client.on("close", () => up.destroy());
      client.pipe(up);
      up.pipe(client);
      client.resume();
    });
  }

  private setState(s: IngressStateName): IngressState {
    if (this.state.state !== s) {
      this.state = { state: s, since: new Date().toISOString() };
      writeFileAtomic(stateFile(this.cfg.dir), JSON.stringify(this.state));
      this.log.info(`state -> ${s} (new client connections ${s === "accept" ? "accepted" : "refused"})`);
    }
    return this.state;
  }

  private async controlApi(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    if (req.method === "GET" && url.pathname === "/state") {
      return sendJson(res, 200, { ...this.state, open_connections: this.sockets.size, ...this.counts });
    }
    if (req.method === "POST" && url.pathname === "/reject")
      return sendJson(res, 200, this.setState("reject"));
    if (req.method === "POST" && url.pathname === "/accept")
      return sendJson(res, 200, this.setState("accept"));
    throw new HttpError(404, `no route ${req.method} ${url.pathname}`);
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await Promise.all(
      [this.proxy, this.control].map(
        (srv) => new Promise<void>((resolve) => (srv?.listening ? srv.close(() => resolve()) : resolve())),
      ),
    );
    this.log.info("ingress stopped");
  }
}

function listen(server: net.Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
}

export async function runIngress(cfg: IngressConfig, log: Logger): Promise<number> {
  const ing = new Ingress(cfg, log);
  try {
    await ing.start();
  } catch (e) {
    log.error(`failed to start: ${(e as Error).message}`);
    await ing.stop();
    return 1;
  }
  const pidFile = path.join(cfg.dir, "ingress.pid");
  fs.writeFileSync(pidFile, String(process.pid));
  signalReady();
  await new Promise<void>((resolve) => {
    process.once("SIGTERM", () => resolve());
    process.once("SIGINT", () => resolve());
  });
  await ing.stop();
  try {
    if (fs.readFileSync(pidFile, "utf8").trim() === String(process.pid)) fs.unlinkSync(pidFile);
  } catch {
    /* gone */
  }
  return 0;
}
