// Parsing of a consensus node's admin endpoints into a NodeStatus. Pure functions, no I/O.
//
// Real shape (mc-admin-http-gateway /info rendering consensus-service's GetInfoResponse, see
// consensus/service/src/consensus_service.rs create_get_config_json_fn):
//   { "name": "Consensus Service", "id": "<peer responder id>",
//     "build_info": { "GIT_COMMIT": …, "PROFILE": …, "SGX_MODE": …, … },           (no enclave measurements)
//     "config": { "config": { "peer_responder_id", "client_responder_id", … },
//                 "network": { "broadcast_peers", "quorum_set", … },
//                 "status": { "block_height", "version", "broadcast_peer_count", "known_peer_count",
//                             "sync_status", "blocks_behind", "latest_block_hash", "latest_block_timestamp" } },
//     "rust_log": "…" }
// The status fields are also accepted at the top level (older/other renderings). consensus-service-sim adds
// build_info.mrenclave/mrsigner/simulated and a top-level "attested_peers" (real nodes expose neither).

export interface NodeTarget {
  name: string;
  /** Admin HTTP gateway base URL, e.g. http://127.0.0.1:8000 */
  admin: string;
  /** Client endpoint base URL (simulator HTTP client API); optional. */
  client?: string;
}

export interface NodeStatus {
  name: string;
  reachable: boolean;
  error?: string;
  blockHeight?: number;
  syncStatus?: string;
  blocksBehind?: number;
  latestBlockHash?: string;
  latestBlockTimestamp?: string;
  version?: string;
  broadcastPeerCount?: number;
  knownPeerCount?: number;
  peerResponderId?: string;
  /** Only when /info reports it (simulator, or a gateway that exposes it). */
  mrenclave?: string;
  mrsigner?: string;
  gitCommit?: string;
  simulated: boolean;
  /** undefined = not exposed (real nodes). */
  attestedPeers?: string[];
  /** From /metrics; undefined when the metric was not found or /metrics failed. */
  pendingValues?: number;
  txCacheEntries?: number;
  curSlot?: number;
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | undefined =>
  typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Obj) : undefined;
const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

export class InfoParseError extends Error {}

/** Parse /info JSON (already JSON.parsed) into the status part of a NodeStatus. */
export function parseInfo(name: string, json: unknown): NodeStatus {
  const root = obj(json);
  if (!root) throw new InfoParseError(`${name}: /info is not a JSON object`);
  const config = obj(root.config);
  const status = obj(config?.status) ?? root;
  const inner = obj(config?.config);
  const build = obj(root.build_info) ?? {};
  const height = num(status.block_height);
  if (height === undefined) {
    throw new InfoParseError(
      `${name}: /info has no config.status.block_height (node starting or ledger unreadable?)`,
    );
  }
  const pick = (k: string) => str(build[k]) ?? str(build[k.toUpperCase()]);
  const attested = root.attested_peers;
  return {
    name,
    reachable: true,
    blockHeight: height,
    syncStatus: str(status.sync_status),
    blocksBehind: num(status.blocks_behind),
    latestBlockHash: str(status.latest_block_hash),
    latestBlockTimestamp:
      status.latest_block_timestamp === undefined ? undefined : String(status.latest_block_timestamp),
    version: str(status.version),
    broadcastPeerCount: num(status.broadcast_peer_count),
    knownPeerCount: num(status.known_peer_count),
    peerResponderId: str(inner?.peer_responder_id) ?? str(root.id),
    mrenclave: pick("mrenclave")?.toLowerCase(),
    mrsigner: pick("mrsigner")?.toLowerCase(),
    gitCommit: pick("git_commit"),
    simulated: typeof build.simulated === "string",
    attestedPeers: Array.isArray(attested) ? attested.map(String) : undefined,
  };
}

export interface MetricsSummary {
  pendingValues?: number;
  txCacheEntries?: number;
  curSlot?: number;
}

/**
 * Prometheus text -> the gauges the checks use. Matches `<anything>_gauge{…op="cur_num_pending_values"…} N`
 * (real consensus-service: consensus_service_gauge; MOBILECOIN.md: consensus_scp_gauge).
 */
export function parseMetrics(text: string): MetricsSummary {
  const out: MetricsSummary = {};
  const keys: Record<string, keyof MetricsSummary> = {
    cur_num_pending_values: "pendingValues",
    tx_cache_num_entries: "txCacheEntries",
    cur_slot_num: "curSlot",
  };
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const m = /^[a-zA-Z_:][\w:]*_gauge\{([^}]*)\}\s+(\S+)/.exec(line.trim());
    if (!m) continue;
    const op = /(?:^|,)\s*op="([^"]*)"/.exec(m[1])?.[1];
    const k = op ? keys[op] : undefined;
    const v = Number(m[2]);
    if (k && Number.isFinite(v)) out[k] = Math.max(out[k] ?? 0, v);
  }
  return out;
}

export function shortHex(h: string | undefined, n = 8): string {
  return h ? `${h.slice(0, n)}…` : "-";
}
