/**
 * The smallest Kubernetes API client the agent needs: JSON over HTTPS with the kubeconfig's client certificate
 * (or bearer token). `@kubernetes/client-node` is not among the project's dependencies, so this is node:https.
 */
import * as fs from "node:fs";
import * as https from "node:https";

// js-yaml comes with @pulumi/pulumi; it ships no typings.
export const loadYaml = (require("js-yaml") as { load(text: string): unknown }).load;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

interface Kubeconfig {
  "current-context"?: string;
  contexts?: { name: string; context: { cluster: string; user: string } }[];
  clusters?: { name: string; cluster: Record<string, string> }[];
  users?: { name: string; user: Record<string, string> }[];
}

export type Api = <T = Record<string, unknown>>(
  method: string,
  path: string,
  body?: unknown,
  contentType?: string,
) => Promise<T>;

/** The longest one request may take, answer included (the API server's own limit is 60 s). */
const REQUEST_DEADLINE_MS = 90_000;

/**
 * A client for the kubeconfig's context (its current one unless named). Every request settles: with the answer,
 * or with an error when the connection breaks, the answer is not JSON, or no whole answer came within `deadlineMs`.
 */
export function kubeApi(
  kubeconfigFile: string,
  context?: string,
  { deadlineMs = REQUEST_DEADLINE_MS }: { deadlineMs?: number } = {},
): Api {
  const kc = loadYaml(fs.readFileSync(kubeconfigFile, "utf8")) as Kubeconfig;
  const name = context ?? kc["current-context"];
  const ctx = kc.contexts?.find((c) => c.name === name)?.context;
  const cluster = kc.clusters?.find((c) => c.name === ctx?.cluster)?.cluster;
  const user = kc.users?.find((u) => u.name === ctx?.user)?.user ?? {};
  if (!ctx || !cluster?.server)
    throw new Error(`${kubeconfigFile}: no context ${name} with a cluster server`);
  const pem = (data?: string, file?: string) =>
    data ? Buffer.from(data, "base64") : file ? fs.readFileSync(file) : undefined;
  const agent = new https.Agent({
    keepAlive: true,
    ca: pem(cluster["certificate-authority-data"], cluster["certificate-authority"]),
    cert: pem(user["client-certificate-data"], user["client-certificate"]),
    key: pem(user["client-key-data"], user["client-key"]),
  });
  const server = new URL(cluster.server);
  return (method, path, body, contentType = "application/json") =>
    new Promise((resolve, reject) => {
      const text = body === undefined ? undefined : JSON.stringify(body);
      const req = https.request(
        {
          agent,
          host: server.hostname,
          port: server.port || 443,
          method,
          path,
          timeout: 30_000,
          headers: {
            accept: "application/json",
            ...(user.token ? { authorization: `Bearer ${user.token}` } : {}),
            ...(text !== undefined
              ? { "content-type": contentType, "content-length": Buffer.byteLength(text) }
              : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          // A connection that breaks mid-answer ends no "end": without these the promise would never settle,
          // and the agent's loop, which awaits it, would stop for good.
          res.on("error", reject);
          res.on("aborted", () => reject(new Error(`${method} ${path}: the answer was cut off`)));
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const raw = Buffer.concat(chunks).toString("utf8");
            let parsed: { message?: string };
            try {
              parsed = raw ? (JSON.parse(raw) as { message?: string }) : {};
            } catch {
              reject(
                new ApiError(res.statusCode ?? 500, `${method} ${path}: not JSON: ${raw.slice(0, 200)}`),
              );
              return;
            }
            if ((res.statusCode ?? 500) >= 400) {
              reject(new ApiError(res.statusCode ?? 500, `${method} ${path}: ${parsed.message ?? raw}`));
            } else resolve(parsed as never);
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error(`${method} ${path}: timed out`)));
      req.on("error", reject);
      // The socket's idle timeout above does not bound an answer that trickles: this does, whatever happens.
      const deadline = setTimeout(() => {
        const e = new Error(`${method} ${path}: no whole answer in ${deadlineMs / 1000} s`);
        reject(e);
        req.destroy(e);
      }, deadlineMs);
      req.once("close", () => clearTimeout(deadline));
      req.end(text);
    });
}

/** `api(...)` that answers undefined for a 404 (and for a 409 on create: it is there already). */
export async function maybe<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 409)) return undefined;
    throw e;
  }
}

export const MERGE = "application/merge-patch+json";
