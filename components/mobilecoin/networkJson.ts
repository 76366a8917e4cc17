import { PEER_PORT } from "./node";

/** One other node as this node's network.json names it. */
export interface NetworkPeer {
  /** The peer's host (DNS name or IP) as this node reaches it. */
  readonly host: string;
  /** @default PEER_PORT (8443) */
  readonly port?: number;
  /**
   * The peer's message-signer public key (base64 DER Ed25519), which the peer URI carries as
   * `consensus-msg-key`. The simulator uses the peer's node name here.
   */
  readonly msgPublicKey?: string;
}

/** network.json as consensus-service reads it (consensus/service/config/src/network.rs). */
export interface NetworkJson {
  broadcast_peers: string[];
  quorum_set: { threshold: number; members: { type: "Node"; args: string }[] };
  tx_source_urls: string[];
  known_peers?: string[];
}

/**
 * A node's network.json: every other node is a broadcast peer and a quorum member.
 *
 * `threshold` is the network-wide "k of n" the operators agree on (mainnet 7 of 10), counting every node. On a
 * node it becomes k - 1 over the n - 1 others: a node's quorum_set never lists the node itself (network.rs
 * refuses a peer with the node's own responder id) and SCP always adds the local node to its own quorum
 * (quorum_set_ext.rs), exactly as tools/local-network/local_network.py writes "4 out of 5" as
 * QuorumSet(3, <the 4 others>). The simulator reads it the same way.
 */
export function networkJson(a: {
  readonly threshold: number;
  readonly peers: readonly NetworkPeer[];
  /** Archives a node that falls behind fetches blocks from (ledger-distribution's S3 or HTTP). @default [] */
  readonly txSourceUrls?: readonly string[];
}): NetworkJson {
  const address = (p: NetworkPeer) => `${p.host}:${p.port ?? PEER_PORT}`;
  const peers = [...a.peers].sort((x, y) => address(x).localeCompare(address(y)));
  return {
    broadcast_peers: peers.map(
      (p) =>
        `insecure-mcp://${address(p)}/` +
        (p.msgPublicKey ? `?consensus-msg-key=${encodeURIComponent(p.msgPublicKey)}` : ""),
    ),
    quorum_set: {
      threshold: Math.max(a.threshold - 1, 0),
      members: peers.map((p) => ({ type: "Node", args: address(p) })),
    },
    tx_source_urls: [...(a.txSourceUrls ?? [])],
  };
}
