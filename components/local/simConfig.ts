// The contract between the local platform and consensus-service-sim, the SIMULATED stand-in for MobileCoin's
// consensus-service used by the rehearsal network: the platform writes one NodeConfig JSON file per node and
// one IngressConfig JSON file for the client-facing proxy; the simulator (rehearsal/sim) loads them with the
// checks below. It lives on the library's side, which the simulator depends on, never the other way round.

import * as fs from "node:fs";
import * as path from "node:path";
import type { NetworkJson } from "../mobilecoin";

export const HEX64 = /^[0-9a-f]{64}$/;

/** What a release of the (simulated) node software is: the consensus-affecting measurements and settings. */
export interface SimRelease {
  /** Release tag, e.g. "v1.0.0" (reported as /info .config.status.version). */
  version: string;
  /** Enclave measurement (64 hex). Peers attest only if MRENCLAVE is identical. */
  mrenclave: string;
  /** Enclave signer (64 hex); clients check it, peers do not. */
  mrsigner: string;
  /** Digest of tokens.signed.json (fee map, governors), 64 hex. Part of the peer settings digest. */
  tokensConfigDigest: string;
  /** MC_BLOCK_VERSION. Part of the peer settings digest. */
  blockVersion: number;
  /** Ledger format this release reads (LedgerDB::open refuses any other). */
  ledgerFormat: number;
  /** Whether ledger-distribution maintains <ledger>/.distribution-state (true up to v6.0.0). */
  distributionStateFile: boolean;
}

export interface QuorumMember {
  type: "Node";
  /** "host:port" of the member's peer endpoint (its peer responder id). */
  args: string;
}

/**
 * network.json, as components/mobilecoin writes it for real nodes: "insecure-mcp://host:port/?consensus-msg-key=
 * <key>" per peer (the simulator uses node names as keys), and a quorum set whose threshold counts only the
 * members, never the node itself (SCP adds the local node), as MobileCoin's consensus-service reads it.
 */
export type NetworkConfig = Omit<NetworkJson, "tx_source_urls"> & { tx_source_urls?: string[] };

export type LogLevel = "debug" | "info" | "warn" | "error";

export interface NodeConfig {
  name: string;
  /** Absolute node directory: ledger at <dir>/ledger, pid file <dir>/node.pid, log <dir>/node.log. */
  dir: string;
  ports: { client: number; peer: number; admin: number };
  release: SimRelease;
  network: NetworkConfig;
  logLevel?: LogLevel;
}

export interface IngressUpstream {
  name: string;
  clientPort: number;
  /** Defaults to 127.0.0.1. */
  host?: string;
}

export interface IngressConfig {
  /** Absolute directory: ingress.pid, ingress.log, ingress-state.json. */
  dir: string;
  /** Client-facing TCP port. Connections are spread round-robin over the upstreams (with failover). */
  listen: number;
  /** HTTP control port: POST /reject, POST /accept, GET /state. */
  control: number;
  upstreams: IngressUpstream[];
  logLevel?: LogLevel;
}

export class ConfigError extends Error {}

function fail(file: string, msg: string): never {
  throw new ConfigError(`${file}: ${msg}`);
}

function isPort(p: unknown): p is number {
  return typeof p === "number" && Number.isInteger(p) && p > 0 && p < 65536;
}

export function ledgerDir(cfg: Pick<NodeConfig, "dir">): string {
  return path.join(cfg.dir, "ledger");
}

export function validateNodeConfig(raw: unknown, file = "<config>"): NodeConfig {
  if (typeof raw !== "object" || raw === null) fail(file, "not a JSON object");
  const c = raw as Partial<NodeConfig>;
  if (typeof c.name !== "string" || !c.name) fail(file, "name missing");
  if (typeof c.dir !== "string" || !path.isAbsolute(c.dir)) fail(file, "dir must be an absolute path");
  const p = c.ports;
  if (!p || !isPort(p.client) || !isPort(p.peer) || !isPort(p.admin)) {
    fail(file, "ports.client, ports.peer and ports.admin must be TCP ports");
  }
  const r = c.release;
  if (!r) fail(file, "release missing");
  for (const k of ["mrenclave", "mrsigner", "tokensConfigDigest"] as const) {
    if (typeof r[k] !== "string" || !HEX64.test(r[k])) fail(file, `release.${k} must be 64 lowercase hex`);
  }
  if (typeof r.version !== "string" || !r.version) fail(file, "release.version missing");
  if (!Number.isInteger(r.blockVersion)) fail(file, "release.blockVersion must be an integer");
  if (!Number.isInteger(r.ledgerFormat) || r.ledgerFormat < 1)
    fail(file, "release.ledgerFormat must be >= 1");
  if (typeof r.distributionStateFile !== "boolean")
    fail(file, "release.distributionStateFile must be boolean");
  const n = c.network;
  if (!n || !Array.isArray(n.broadcast_peers)) fail(file, "network.broadcast_peers missing");
  const q = n.quorum_set;
  if (!q || !Number.isInteger(q.threshold) || q.threshold < 0 || !Array.isArray(q.members)) {
    fail(file, "network.quorum_set {threshold, members} missing");
  }
  if (q.threshold > q.members.length) {
    fail(
      file,
      `quorum_set.threshold ${q.threshold} exceeds its members (${q.members.length}; the node itself is not counted)`,
    );
  }
  for (const m of q.members) {
    if (m.type !== "Node" || typeof m.args !== "string" || !/^[^:]+:\d+$/.test(m.args)) {
      fail(file, `bad quorum_set member ${JSON.stringify(m)}`);
    }
  }
  if (c.logLevel !== undefined && !["debug", "info", "warn", "error"].includes(c.logLevel)) {
    fail(file, `bad logLevel ${c.logLevel}`);
  }
  return c as NodeConfig;
}

export function validateIngressConfig(raw: unknown, file = "<config>"): IngressConfig {
  if (typeof raw !== "object" || raw === null) fail(file, "not a JSON object");
  const c = raw as Partial<IngressConfig>;
  if (typeof c.dir !== "string" || !path.isAbsolute(c.dir)) fail(file, "dir must be an absolute path");
  if (!isPort(c.listen) || !isPort(c.control)) fail(file, "listen and control must be TCP ports");
  if (!Array.isArray(c.upstreams) || c.upstreams.length === 0) fail(file, "upstreams must be non-empty");
  for (const u of c.upstreams) {
    if (typeof u.name !== "string" || !isPort(u.clientPort)) fail(file, `bad upstream ${JSON.stringify(u)}`);
  }
  return c as IngressConfig;
}

function readJson(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new ConfigError(`cannot read ${file}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${file}: invalid JSON: ${(e as Error).message}`);
  }
}

export function loadNodeConfig(file: string): NodeConfig {
  return validateNodeConfig(readJson(file), file);
}

export function loadIngressConfig(file: string): IngressConfig {
  return validateIngressConfig(readJson(file), file);
}
