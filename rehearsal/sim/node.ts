// consensus-service-sim: a SIMULATED stand-in for MobileCoin's consensus-service, for the local rehearsal
// network only. It is not SGX, not SCP and not gRPC. What it models honestly:
//  - ledger in LMDB with a format version the release must match (see ledger.ts);
//  - peers attest before they talk: a peer link is refused (HTTP 403, logged) unless the caller's MRENCLAVE
//    and consensus-settings digest (tokens config digest + block version, as in the peer responder id)
//    equal ours; only attested peers take part in consensus, so a mixed-enclave network stalls;
//  - blocks commit only with a quorum (this node plus quorum_set.threshold of its members, as SCP counts) of attested peers voting
//    for the same block; blocks are made only when there are pending transactions;
//  - a node that is behind catches up from attested peers (sync_status "catchup", blocks_behind > 0);
//  - /info shaped like mc-admin-http-gateway's, /metrics Prometheus text, .distribution-state file.
// Consensus scheme (simple, crash-tolerant in the cases the rehearsal exercises, NOT Byzantine fault
// tolerant): the leader of a slot is the smallest peer responder id among this node and its attested
// quorum members; it proposes a block of pending txs, peers vote once per slot index (a vote locks the
// block; a leader told about a conflicting lock adopts it if nobody voted for its own), and the leader
// commits on threshold votes and broadcasts the commit. Followers that miss a commit catch up.

import { randomBytes, createHash } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import { ledgerDir, type NodeConfig } from "../../components/local/simConfig";
import { applyTxs, computeBlockId, Ledger, txId, type Block, type Tx } from "./ledger";
import {
  handler,
  HttpError,
  type Logger,
  readJsonBody,
  requestJson,
  sendJson,
  sendText,
  signalReady,
  writeFileAtomic,
} from "./util";

/** How often an idle node refreshes its peers' heights. */
const IDLE_STATUS_POLL_MS = 1000;
/** How long a stopping node lets requests in flight finish before it cuts their connections. */
const DRAIN_MS = 2000;
export const SIM_NAME = "consensus-service-sim";
const SIM_VERSION = "0.1.0";

export function settingsDigest(tokensConfigDigest: string, blockVersion: number): string {
  return createHash("sha256").update(`${tokensConfigDigest}:${blockVersion}`).digest("hex");
}

interface PeerState {
  uri: string;
  responderId: string;
  baseUrl: string;
  /** consensus-msg-key from the URI (the simulator uses node names there) */
  key: string;
  inQuorum: boolean;
  name?: string;
  attested: boolean;
  session?: string;
  height: number;
  nextAttemptAt: number;
  lastRefusal?: string;
}

interface Lock {
  block: Block;
  /** responder ids (other than us) that voted for this block while we led */
  votes: Set<string>;
}

export function parsePeerUri(uri: string): { host: string; port: number; key: string } {
  const u = new URL(uri);
  if (u.protocol !== "mcp:" && u.protocol !== "insecure-mcp:") throw new Error(`bad peer uri ${uri}`);
  const port = Number(u.port || 443);
  return { host: u.hostname, port, key: u.searchParams.get("consensus-msg-key") ?? "" };
}

export class SimNode {
  private ledger!: Ledger;
  private servers: http.Server[] = [];
  private peers = new Map<string, PeerState>();
  /** sessions granted to callers that attested to us: session token -> responder id */
  private sessions = new Map<string, { responderId: string; name: string }>();
  private pending = new Map<string, Tx>();
  private rejected = new Map<string, string>();
  private locks = new Map<number, Lock>();
  private timer?: NodeJS.Timeout;
  private ticking?: Promise<void>;
  private stopping = false;
  private abort = new AbortController();
  private syncStatus: "synced" | "catchup" = "synced";
  private highestPeerBlock = 0;
  readonly responderId: string;
  readonly clientResponderId: string;
  private readonly digest: string;
  private readonly slotMs: number;
  private lastStatusPoll = 0;
  private readonly reqTimeoutMs: number;

  constructor(
    readonly cfg: NodeConfig,
    private readonly log: Logger,
    opts: { slotMs?: number } = {},
  ) {
    this.responderId = `127.0.0.1:${cfg.ports.peer}`;
    this.clientResponderId = `127.0.0.1:${cfg.ports.client}`;
    this.digest = settingsDigest(cfg.release.tokensConfigDigest, cfg.release.blockVersion);
    this.slotMs = opts.slotMs ?? (Number(process.env.CONSENSUS_SIM_SLOT_MS) || 200);
    this.reqTimeoutMs = Math.max(500, this.slotMs * 5);
    const members = new Set(cfg.network.quorum_set.members.map((m) => m.args));
    for (const uri of cfg.network.broadcast_peers) {
      const p = parsePeerUri(uri);
      const responderId = `${p.host}:${p.port}`;
      this.peers.set(responderId, {
        uri,
        responderId,
        baseUrl: `http://${p.host}:${p.port}`,
        key: p.key,
        inQuorum: members.has(responderId),
        attested: false,
        height: 0,
        nextAttemptAt: 0,
      });
    }
  }

  get height(): number {
    return this.ledger.height;
  }

  async start(): Promise<void> {
    const r = this.cfg.release;
    this.log.info(
      `starting SIMULATED consensus node ${this.cfg.name} release ${r.version} mrenclave ${r.mrenclave} ` +
        `ledger format ${r.ledgerFormat}`,
    );
    // Refuses (throws) on a ledger of another format, like LedgerDB::open.
    this.ledger = await Ledger.open(ledgerDir(this.cfg), { format: r.ledgerFormat, create: true });
    this.log.info(
      `ledger ${ledgerDir(this.cfg)} opened: ${this.ledger.height} blocks, tip ${this.ledger.tip.id}`,
    );
    this.writeDistributionState();
    try {
      await this.listen(
        this.cfg.ports.peer,
        handler(this.log, (q, s, u) => this.peerApi(q, s, u)),
      );
      await this.listen(
        this.cfg.ports.client,
        handler(this.log, (q, s, u) => this.clientApi(q, s, u)),
      );
      await this.listen(
        this.cfg.ports.admin,
        handler(this.log, (q, s, u) => this.adminApi(q, s, u)),
      );
    } catch (e) {
      await this.stop();
      throw e;
    }
    this.log.info(
      `listening: client 127.0.0.1:${this.cfg.ports.client} peer 127.0.0.1:${this.cfg.ports.peer} ` +
        `admin 127.0.0.1:${this.cfg.ports.admin}; slot ${this.slotMs} ms`,
    );
    this.schedule();
  }

  private listen(port: number, fn: http.RequestListener): Promise<void> {
    const server = http.createServer((req, res) => {
      // While stopping, a connection is closed once its last response is out, not kept alive.
      res.on("finish", () => {
        if (this.stopping) setImmediate(() => server.closeIdleConnections());
      });
      fn(req, res);
    });
    server.keepAliveTimeout = 2000;
    this.servers.push(server);
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
  }

  /** Clean stop: no new ticks, finish the current one (ledger writes are synchronous), drain, close LMDB. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    // Stop accepting first, so a proxy in front fails over to another node at connect; requests in flight
    // are answered (a proxy cannot retry a request whose connection is cut); what is left after DRAIN_MS
    // is cut.
    const drained = Promise.all(
      this.servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            if (!s.listening) return resolve();
            s.close(() => resolve());
            s.closeIdleConnections();
            setTimeout(() => s.closeAllConnections(), DRAIN_MS).unref();
          }),
      ),
    );
    this.abort.abort();
    await this.ticking?.catch(() => undefined);
    await drained;
    if (this.ledger) {
      this.writeDistributionState();
      await this.ledger.close();
    }
    this.log.info(`stopped cleanly at height ${this.ledger?.height ?? 0}`);
  }

  private schedule(): void {
    if (this.stopping) return;
    this.timer = setTimeout(() => {
      this.ticking = this.tick()
        .catch((e: unknown) => this.log.error(`tick failed: ${(e as Error).stack ?? e}`))
        .finally(() => {
          this.ticking = undefined;
          this.schedule();
        });
    }, this.slotMs);
  }

  private writeDistributionState(): void {
    // Stand-in for ledger-distribution's MC_STATE_FILE: there is no S3 here, so "published" == committed.
    if (!this.cfg.release.distributionStateFile || !this.ledger) return;
    writeFileAtomic(
      path.join(ledgerDir(this.cfg), ".distribution-state"),
      JSON.stringify({ next_block: this.ledger.height }),
    );
  }

  // ---------------------------------------------------------------- peer links and consensus

  private async peerCall(
    p: PeerState,
    pathName: string,
    body?: unknown,
  ): Promise<{ status: number; body: unknown }> {
    return requestJson(p.baseUrl + pathName, {
      body,
      timeoutMs: this.reqTimeoutMs,
      signal: this.abort.signal,
      headers: p.session ? { "x-sim-session": p.session } : {},
    });
  }

  private dropPeer(p: PeerState, why: string): void {
    if (p.attested) this.log.warn(`peer ${p.name ?? p.responderId} no longer attested: ${why}`);
    p.attested = false;
    p.session = undefined;
    p.nextAttemptAt = Date.now() + this.slotMs;
  }

  private async attest(p: PeerState): Promise<void> {
    const r = this.cfg.release;
    let res;
    try {
      res = await requestJson(`${p.baseUrl}/attest`, {
        body: {
          responder_id: this.responderId,
          name: this.cfg.name,
          mrenclave: r.mrenclave,
          settings_digest: this.digest,
        },
        timeoutMs: this.reqTimeoutMs,
        signal: this.abort.signal,
      });
    } catch (e) {
      this.log.debug(`attest to ${p.responderId}: unreachable (${(e as Error).message})`);
      p.nextAttemptAt = Date.now() + this.slotMs * 2;
      return;
    }
    const b = res.body as {
      error?: string;
      name?: string;
      mrenclave?: string;
      settings_digest?: string;
      session?: string;
    };
    let refusal: string | undefined;
    if (res.status !== 200) refusal = `peer refused us (${res.status}): ${b?.error ?? JSON.stringify(b)}`;
    else if (b.mrenclave !== r.mrenclave)
      refusal = `peer presented MRENCLAVE ${b.mrenclave}, ours is ${r.mrenclave}`;
    else if (b.settings_digest !== this.digest)
      refusal = `peer consensus settings digest ${b.settings_digest} != ours`;
    else if (!b.session) refusal = "no session granted";
    if (refusal) {
      if (p.lastRefusal !== refusal)
        this.log.warn(`attestation with ${p.key || p.responderId} failed: ${refusal}`);
      p.lastRefusal = refusal;
      p.nextAttemptAt = Date.now() + this.slotMs * 5;
      return;
    }
    p.attested = true;
    p.session = b.session;
    p.name = b.name;
    p.lastRefusal = undefined;
    this.log.info(`attested peer ${b.name} (${p.responderId}), MRENCLAVE ${r.mrenclave.slice(0, 12)}…`);
  }

  private attestedPeers(): PeerState[] {
    return [...this.peers.values()].filter((p) => p.attested);
  }

  private leader(): string {
    const ids = [
      this.responderId,
      ...this.attestedPeers()
        .filter((p) => p.inQuorum)
        .map((p) => p.responderId),
    ];
    return ids.sort()[0];
  }

  private async tick(): Promise<void> {
    const now = Date.now();
    await Promise.all(
      [...this.peers.values()]
        .filter((p) => !p.attested && now >= p.nextAttemptAt)
        .map((p) => this.attest(p)),
    );
    // Heights of attested peers (stand-in for the highest-peer-block tracking of the real ledger sync). An idle
    // node asks only every second: every node polling every peer every slot is O(n^2) requests, and on a small
    // machine that load (not the flag day) would decide how long a 10-node rehearsal takes.
    const busy = this.pending.size > 0 || this.locks.size > 0 || this.syncStatus === "catchup";
    const poll = busy || now - this.lastStatusPoll >= IDLE_STATUS_POLL_MS;
    if (poll) this.lastStatusPoll = now;
    await Promise.all(
      (poll ? this.attestedPeers() : []).map(async (p) => {
        try {
          const res = await this.peerCall(p, "/status");
          if (res.status !== 200) return this.dropPeer(p, `status ${res.status}`);
          p.height = (res.body as { height: number }).height;
        } catch (e) {
          this.dropPeer(p, (e as Error).message);
        }
      }),
    );
    if (this.stopping) return;
    const best = this.attestedPeers().reduce<PeerState | undefined>(
      (a, p) => (!a || p.height > a.height ? p : a),
      undefined,
    );
    this.highestPeerBlock = Math.max(this.ledger.height, best?.height ?? 0);
    if (best && best.height > this.ledger.height) {
      if (this.syncStatus !== "catchup") {
        this.log.info(`behind: height ${this.ledger.height}, ${best.name} has ${best.height}; catching up`);
      }
      this.syncStatus = "catchup";
      await this.catchUp(best);
      return;
    }
    if (this.syncStatus === "catchup") this.log.info(`synced at height ${this.ledger.height}`);
    this.syncStatus = "synced";
    this.pruneLocks();
    if (this.pending.size === 0 && !this.locks.has(this.ledger.height)) return;
    const leader = this.leader();
    if (leader === this.responderId) await this.lead();
    else {
      // Make sure the leader has our pending txs (it may have been unreachable when they arrived).
      const lp = this.peers.get(leader);
      if (lp && this.pending.size) await this.gossip([...this.pending.values()], [lp]);
    }
  }

  private async catchUp(p: PeerState): Promise<void> {
    try {
      const res = await this.peerCall(p, `/blocks?from=${this.ledger.height}&limit=100`);
      if (res.status !== 200) return this.dropPeer(p, `blocks ${res.status}`);
      for (const b of (res.body as { blocks: Block[] }).blocks) {
        const err = this.ledger.validateNext(b);
        if (err) {
          this.log.error(`catch-up from ${p.name}: rejected block: ${err}`);
          return;
        }
        this.commitLocal(b, `caught up from ${p.name}`);
      }
    } catch (e) {
      this.dropPeer(p, (e as Error).message);
    }
  }

  private pruneLocks(): void {
    for (const i of this.locks.keys()) if (i < this.ledger.height) this.locks.delete(i);
  }

  private buildProposal(): Block | undefined {
    const index = this.ledger.height;
    const lock = this.locks.get(index);
    if (lock) return lock.block;
    const { ok, bad } = applyTxs(this.ledger.balances(), [...this.pending.values()].slice(0, 100));
    for (const { tx, reason } of bad) {
      this.pending.delete(tx.id);
      this.rejected.set(tx.id, reason);
      this.log.info(`dropped tx ${tx.id.slice(0, 12)}: ${reason}`);
    }
    if (ok.length === 0) return undefined;
    const tip = this.ledger.tip;
    const timestamp = Math.max(Date.now(), tip.timestamp + 1);
    const block: Block = {
      index,
      parent_id: tip.id,
      id: computeBlockId(tip.id, index, timestamp, ok),
      timestamp,
      txs: ok,
    };
    this.locks.set(index, { block, votes: new Set() });
    return block;
  }

  private async lead(): Promise<void> {
    const block = this.buildProposal();
    if (!block) return;
    const lock = this.locks.get(block.index)!;
    const threshold = this.cfg.network.quorum_set.threshold;
    const voters = this.attestedPeers().filter((p) => p.inQuorum);
    const conflicting: Block[] = [];
    await Promise.all(
      voters.map(async (p) => {
        try {
          const res = await this.peerCall(p, "/propose", { block });
          const b = res.body as { vote?: boolean; locked?: Block; reason?: string };
          if (res.status === 403) return this.dropPeer(p, b.reason ?? "403");
          if (b.vote) lock.votes.add(p.responderId);
          else {
            this.log.debug(`${p.name} did not vote for block ${block.index}: ${b.reason}`);
            if (b.locked && b.locked.id !== block.id) conflicting.push(b.locked);
          }
        } catch (e) {
          this.dropPeer(p, (e as Error).message);
        }
      }),
    );
    if (this.stopping || this.ledger.height !== block.index) return;
    // As SCP does, the node is always in its own quorum: it needs `threshold` of its members besides itself.
    const peerVotes = [...lock.votes].filter((id) => this.peers.get(id)?.inQuorum).length;
    const votes = 1 + peerVotes;
    if (peerVotes >= threshold) {
      this.commitLocal(block, `committed with ${votes}/${threshold + 1} votes`);
      await Promise.all(
        this.attestedPeers().map((p) => this.peerCall(p, "/commit", { block }).catch(() => undefined)),
      );
      return;
    }
    this.log.debug(`block ${block.index}: ${votes} of ${threshold + 1} votes, waiting`);
    // Nobody voted for our block but some peer is locked on another one: adopt it (lowest id wins).
    if (lock.votes.size === 0 && conflicting.length) {
      const other = conflicting.sort((a, b) => (a.id < b.id ? -1 : 1))[0];
      if (!this.ledger.validateNext(other)) this.locks.set(other.index, { block: other, votes: new Set() });
    }
  }

  private commitLocal(b: Block, why: string): void {
    this.ledger.append(b);
    for (const t of b.txs) this.pending.delete(t.id);
    this.pruneLocks();
    this.writeDistributionState();
    this.log.info(`block ${b.index} ${b.id.slice(0, 16)} (${b.txs.length} tx): ${why}`);
  }

  private async gossip(txs: Tx[], to: PeerState[] = this.attestedPeers()): Promise<void> {
    await Promise.all(to.map((p) => this.peerCall(p, "/txs", { txs }).catch(() => undefined)));
  }

  /** Admit a tx into the pending set; returns an error string when invalid against ledger + pending. */
  private admit(tx: Tx): string | undefined {
    if (this.ledger.txBlock(tx.id) !== undefined || this.pending.has(tx.id)) return undefined;
    const r = applyTxs(this.ledger.balances(), [...this.pending.values(), tx]);
    const bad = r.bad.find((x) => x.tx.id === tx.id);
    if (bad) return bad.reason;
    this.pending.set(tx.id, tx);
    return undefined;
  }

  private async peerApi(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    if (this.stopping) throw new HttpError(503, "stopping");
    if (req.method === "POST" && url.pathname === "/attest") {
      const b = (await readJsonBody(req)) as {
        responder_id?: string;
        name?: string;
        mrenclave?: string;
        settings_digest?: string;
      };
      const r = this.cfg.release;
      let reason: string | undefined;
      if (b.mrenclave !== r.mrenclave)
        reason = `MRENCLAVE mismatch: peer ${b.mrenclave}, ours ${r.mrenclave}`;
      else if (b.settings_digest !== this.digest) {
        reason = `consensus settings digest mismatch (tokens config / block version): peer ${b.settings_digest}, ours ${this.digest}`;
      }
      if (reason) {
        this.log.warn(`refused attestation from ${b.name ?? "?"} (${b.responder_id ?? "?"}): ${reason}`);
        // The peer that now presents another enclave is not the one we attested: its sessions end, both ways,
        // at once (a real node drops the connection whose re-attestation fails).
        for (const [k, v] of this.sessions) if (v.responderId === b.responder_id) this.sessions.delete(k);
        const peer = this.peers.get(String(b.responder_id));
        if (peer) this.dropPeer(peer, reason);
        return sendJson(res, 403, { error: `attestation refused: ${reason}` });
      }
      const session = randomBytes(16).toString("hex");
      for (const [k, v] of this.sessions) if (v.responderId === b.responder_id) this.sessions.delete(k);
      this.sessions.set(session, { responderId: String(b.responder_id), name: String(b.name) });
      this.log.debug(`granted session to ${b.name}`);
      return sendJson(res, 200, {
        responder_id: this.responderId,
        name: this.cfg.name,
        mrenclave: r.mrenclave,
        settings_digest: this.digest,
        session,
      });
    }
    // Unattested BlockchainAPI-like call (the peer ingress routes it without attestation in the real node).
    if (req.method === "GET" && url.pathname === "/last-block-info")
      return sendJson(res, 200, this.lastBlockInfo());
    const sessionId = String(req.headers["x-sim-session"] ?? "");
    const caller = this.sessions.get(sessionId);
    if (!caller) return sendJson(res, 403, { error: "not attested", reason: "no attested session" });
    if (req.method === "GET" && url.pathname === "/status") {
      return sendJson(res, 200, { height: this.ledger.height, tip: this.ledger.tip.id, name: this.cfg.name });
    }
    if (req.method === "GET" && url.pathname === "/blocks") {
      const from = Number(url.searchParams.get("from") ?? 0);
      const limit = Math.min(500, Number(url.searchParams.get("limit") ?? 100));
      return sendJson(res, 200, { blocks: this.ledger.blocks(from, limit) });
    }
    if (req.method === "POST" && url.pathname === "/txs") {
      const { txs } = (await readJsonBody(req)) as { txs: Tx[] };
      for (const t of txs ?? []) this.admit(t);
      return sendJson(res, 200, { ok: true });
    }
    if (req.method === "POST" && url.pathname === "/propose") {
      const { block } = (await readJsonBody(req)) as { block: Block };
      const err = this.ledger.validateNext(block);
      if (err) return sendJson(res, 200, { vote: false, reason: err });
      const lock = this.locks.get(block.index);
      if (lock && lock.block.id !== block.id) {
        return sendJson(res, 200, { vote: false, reason: "locked on another block", locked: lock.block });
      }
      if (!lock) this.locks.set(block.index, { block, votes: new Set() });
      return sendJson(res, 200, { vote: true });
    }
    if (req.method === "POST" && url.pathname === "/commit") {
      const { block } = (await readJsonBody(req)) as { block: Block };
      if (block.index === this.ledger.height) {
        const err = this.ledger.validateNext(block);
        if (err) this.log.error(`commit from ${caller.name} rejected: ${err}`);
        else this.commitLocal(block, `externalized (from ${caller.name})`);
      }
      return sendJson(res, 200, { ok: true });
    }
    throw new HttpError(404, `no route ${req.method} ${url.pathname}`);
  }

  // ---------------------------------------------------------------- client API
  // HTTP JSON, not gRPC: a stand-in for consensus_client.ConsensusClientAPI / consensus_common.BlockchainAPI.

  private lastBlockInfo() {
    return {
      index: this.ledger.height - 1,
      minimum_fees: {},
      network_block_version: this.cfg.release.blockVersion,
    };
  }

  private async clientApi(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    if (this.stopping) throw new HttpError(503, "stopping");
    if (req.method === "POST" && url.pathname === "/tx") {
      const b = (await readJsonBody(req)) as {
        from?: unknown;
        to?: unknown;
        amount?: unknown;
        fog?: unknown;
      };
      if (this.syncStatus === "catchup")
        throw new HttpError(503, "node is behind (catchup): not serving client requests");
      if (typeof b.from !== "string" || typeof b.to !== "string" || !b.from || !b.to) {
        throw new HttpError(400, "from and to must be account names");
      }
      if (typeof b.amount !== "number" || !Number.isSafeInteger(b.amount) || b.amount <= 0) {
        throw new HttpError(400, "amount must be a positive integer");
      }
      const t = {
        kind: "payment" as const,
        from: b.from,
        to: b.to,
        amount: b.amount,
        fog: b.fog === true,
        nonce: randomBytes(8).toString("hex"),
      };
      const tx: Tx = { id: txId(t), ...t };
      const err = this.admit(tx);
      if (err) {
        this.log.info(`rejected client tx: ${err}`);
        return sendJson(res, 400, { error: err });
      }
      this.log.info(
        `accepted tx ${tx.id.slice(0, 12)} ${tx.from} -> ${tx.to} ${tx.amount}${tx.fog ? " (fog)" : ""}`,
      );
      void this.gossip([tx]);
      return sendJson(res, 200, { tx_id: tx.id, status: "pending" });
    }
    const m = /^\/tx\/([0-9a-f]{64})$/.exec(url.pathname);
    if (req.method === "GET" && m) {
      const id = m[1];
      const bi = this.ledger.txBlock(id);
      if (bi !== undefined) return sendJson(res, 200, { tx_id: id, status: "committed", block_index: bi });
      if (this.pending.has(id))
        return sendJson(res, 200, { tx_id: id, status: "pending", block_index: null });
      const why = this.rejected.get(id);
      if (why) return sendJson(res, 200, { tx_id: id, status: "rejected", reason: why, block_index: null });
      throw new HttpError(404, `unknown tx ${id}`);
    }
    const bm = /^\/balance\/([^/]+)$/.exec(url.pathname);
    if (req.method === "GET" && bm) {
      const account = decodeURIComponent(bm[1]);
      return sendJson(res, 200, {
        account,
        balance: this.ledger.balance(account),
        block_height: this.ledger.height,
      });
    }
    if (req.method === "GET" && url.pathname === "/last-block-info")
      return sendJson(res, 200, this.lastBlockInfo());
    throw new HttpError(404, `no route ${req.method} ${url.pathname}`);
  }

  // ---------------------------------------------------------------- admin (mc-admin-http-gateway shaped)

  /** /info as mc-admin-http-gateway renders consensus-service's GetInfoResponse. */
  info(): Record<string, unknown> {
    const r = this.cfg.release;
    const tip = this.ledger.tip;
    return {
      name: "Consensus Service",
      id: this.responderId,
      build_info: {
        GIT_COMMIT: createHash("sha1").update(r.version).digest("hex"),
        PROFILE: "release",
        SGX_MODE: "SIM",
        IAS_MODE: "DEV",
        // Simulator extras: the real build_info has no enclave measurements.
        git_commit: createHash("sha1").update(r.version).digest("hex"),
        mrenclave: r.mrenclave,
        mrsigner: r.mrsigner,
        simulated: SIM_NAME,
        sim_version: SIM_VERSION,
      },
      config: {
        config: {
          peer_responder_id: this.responderId,
          client_responder_id: this.clientResponderId,
          peer_listen_uri: `insecure-mcp://127.0.0.1:${this.cfg.ports.peer}/`,
          client_listen_uri: `insecure-mc://127.0.0.1:${this.cfg.ports.client}/`,
          admin_listen_uri: `insecure-mca://127.0.0.1:${this.cfg.ports.admin}/`,
          ledger_path: ledgerDir(this.cfg),
          // Simulator extra: which message-signer key the node was given (--msg-signer-key, a secret, from
          // MC_MSG_SIGNER_KEY), as a fingerprint only, so a check can tell the key arrived without showing it.
          msg_signer_key_fingerprint: process.env.MC_MSG_SIGNER_KEY
            ? createHash("sha256").update(process.env.MC_MSG_SIGNER_KEY).digest("hex").slice(0, 16)
            : null,
        },
        network: this.cfg.network,
        status: {
          block_height: this.ledger.height,
          version: r.version,
          broadcast_peer_count: this.cfg.network.broadcast_peers.length,
          known_peer_count: this.cfg.network.known_peers?.length ?? 0,
          sync_status: this.syncStatus,
          blocks_behind: Math.max(0, this.highestPeerBlock - this.ledger.height),
          latest_block_hash: tip.id,
          latest_block_timestamp: String(Math.floor(tip.timestamp / 1000)),
        },
      },
      rust_log: this.cfg.logLevel ?? "info",
      // Simulator extra: real nodes do not expose per-peer attestation state.
      attested_peers: this.attestedPeers()
        .map((p) => p.name ?? p.responderId)
        .sort(),
    };
  }

  metrics(): string {
    const pending = this.pending.size;
    const lines = [`# ${SIM_NAME} (simulated consensus node ${this.cfg.name})`];
    // Real consensus-service registers OpMetrics "consensus_service" (consensus_service_gauge{op=...});
    // MOBILECOIN.md names consensus_scp_gauge. Both are exported so either name can be scraped.
    for (const metric of ["consensus_service_gauge", "consensus_scp_gauge"]) {
      lines.push(`# TYPE ${metric} gauge`);
      lines.push(`${metric}{op="cur_num_pending_values"} ${pending}`);
      lines.push(`${metric}{op="tx_cache_num_entries"} ${pending}`);
      lines.push(`${metric}{op="cur_slot_num"} ${this.ledger.height}`);
    }
    return lines.join("\n") + "\n";
  }

  private async adminApi(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    if (req.method === "GET" && url.pathname === "/info") return sendJson(res, 200, this.info());
    if (req.method === "GET" && url.pathname === "/metrics") return sendText(res, 200, this.metrics());
    throw new HttpError(404, `no route ${req.method} ${url.pathname}`);
  }
}

/** Foreground run: start, write <dir>/node.pid, stop cleanly on SIGTERM/SIGINT. Resolves with exit code. */
export async function runNode(cfg: NodeConfig, log: Logger): Promise<number> {
  fs.mkdirSync(cfg.dir, { recursive: true });
  const node = new SimNode(cfg, log);
  try {
    await node.start();
  } catch (e) {
    log.error(`failed to start: ${(e as Error).message}`);
    return 1;
  }
  const pidFile = path.join(cfg.dir, "node.pid");
  fs.writeFileSync(pidFile, String(process.pid));
  signalReady();
  await new Promise<void>((resolve) => {
    const onSig = (sig: string) => {
      log.info(`${sig} received, stopping`);
      resolve();
    };
    process.once("SIGTERM", () => onSig("SIGTERM"));
    process.once("SIGINT", () => onSig("SIGINT"));
  });
  await node.stop();
  try {
    if (fs.readFileSync(pidFile, "utf8").trim() === String(process.pid)) fs.unlinkSync(pidFile);
  } catch {
    /* already gone */
  }
  return 0;
}
