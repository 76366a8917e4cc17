/**
 * A SIMULATED ingress controller for the rehearsal on Kubernetes (a stand-in for ingress-nginx, which needs a
 * container runtime): it serves every Ingress of its class on one loopback port, routing each request by its Host
 * header through the rule's backend Service to a Ready pod of this agent's node, and on to that pod's simulated
 * client port. An Ingress of any other class (the gate's closed class) is not served: a request for its hosts
 * gets no answer (the connection is closed), as clients see a node whose ingress rejects them. The routes are
 * read from the API server for every request, so a gate switch takes effect at once: an idealised controller
 * (ingress-nginx applies a class change at its next sync, usually within a second or two).
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { Api } from "./api";
import type { AgentConfig } from "./plan";

/* eslint-disable @typescript-eslint/no-explicit-any */

/** Host -> the simulated client port behind it, for the Ingresses of `className`; pure, from the API's lists. */
export function ingressRoutes(
  className: string,
  ingresses: readonly any[],
  services: readonly any[],
  pods: readonly any[],
  nodes: AgentConfig["nodes"],
): Record<string, number> {
  const routes: Record<string, number> = {};
  for (const ing of ingresses) {
    if (ing.spec?.ingressClassName !== className) continue;
    const ns = ing.metadata.namespace;
    for (const rule of ing.spec.rules ?? []) {
      const backend = rule.http?.paths?.[0]?.backend?.service?.name;
      const svc = services.find((s) => s.metadata.namespace === ns && s.metadata.name === backend);
      const selector: Record<string, string> = svc?.spec?.selector ?? {};
      if (!svc || Object.keys(selector).length === 0) continue;
      const pod = pods.find(
        (p) =>
          p.metadata.namespace === ns &&
          !p.metadata.deletionTimestamp &&
          Object.entries(selector).every(([k, v]) => p.metadata.labels?.[k] === v) &&
          p.status?.conditions?.some((c: any) => c.type === "Ready" && c.status === "True"),
      );
      const node = pod?.metadata.labels?.["app.kubernetes.io/instance"];
      if (rule.host && node && nodes[node]) routes[rule.host] = nodes[node].client;
    }
  }
  return routes;
}

export class IngressStandIn {
  private routes: Record<string, number> = {};
  private server?: http.Server;

  constructor(
    private readonly api: Api,
    private readonly config: AgentConfig,
    private readonly className: string,
    private readonly port: number,
  ) {}

  /** The current routes (host -> simulated client port): what the controller serves now. */
  get served(): Readonly<Record<string, number>> {
    return this.routes;
  }

  async start(): Promise<number> {
    await this.refresh();
    this.server = http.createServer(async (req, res) => {
      const host = (req.headers.host ?? "").replace(/:\d+$/, "");
      const port = await this.refresh().then(
        () => this.routes[host],
        () => undefined,
      );
      if (port === undefined) {
        req.socket.destroy();
        return;
      }
      const up = http.request(
        { host: "127.0.0.1", port, method: req.method, path: req.url, headers: req.headers },
        (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        },
      );
      up.on("error", () => req.socket.destroy());
      req.pipe(up);
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once("error", reject);
      this.server!.listen(this.port, "127.0.0.1", () => resolve());
    });
    return (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  private async refresh(): Promise<void> {
    const [ingresses, services, pods] = await Promise.all([
      this.api<{ items: any[] }>("GET", "/apis/networking.k8s.io/v1/ingresses"),
      this.api<{ items: any[] }>("GET", "/api/v1/services"),
      this.api<{ items: any[] }>("GET", "/api/v1/pods"),
    ]);
    this.routes = ingressRoutes(
      this.className,
      ingresses.items,
      services.items,
      pods.items,
      this.config.nodes,
    );
  }
}
