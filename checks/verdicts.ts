// Flag-day verdicts as pure functions over NodeStatus samples. No I/O: the CLI polls and feeds them.

import type { NodeStatus } from "./info";

export interface Verdict {
  ok: boolean;
  /** One line, names the node(s) at fault. */
  reason: string;
  /** Nodes at fault (empty when ok). */
  nodes: string[];
  /**
   * Present (and true) when no later sample can turn this failure into a pass (a node runs the wrong
   * MRENCLAVE), so a poll stops at once instead of waiting out its timeout. Never set when ok.
   */
  readonly fatal?: true;
  /**
   * Present (and true) on a live-window failure that is only a node momentarily out of sync (catchup, or
   * blocks behind) for less than the grace period: sample on, and judge again, before failing the window.
   */
  readonly transient?: true;
}

export interface Sample {
  /** ms timestamp of the poll */
  at: number;
  nodes: NodeStatus[];
}

/** Every verdict is made here: `fatal` appears only on a failure no later sample can turn into a pass. */
function verdict(ok: boolean, reason: string, nodes: string[], fatal: boolean): Verdict {
  return !ok && fatal ? { ok, reason, nodes, fatal: true } : { ok, reason, nodes };
}
const pass = (reason: string): Verdict => verdict(true, reason, [], false);
const failV = (reason: string, nodes: string[], fatal = false): Verdict =>
  verdict(false, reason, nodes, fatal);

/** Problems common to every check: unreachable nodes. */
export function unreachable(nodes: NodeStatus[]): Verdict | undefined {
  const bad = nodes.filter((n) => !n.reachable);
  if (bad.length)
    return failV(
      `unreachable: ${bad.map((n) => `${n.name} (${n.error ?? "no answer"})`).join(", ")}`,
      bad.map((n) => n.name),
    );
  return undefined;
}

/** Nodes in catchup or with blocks behind, named. */
function notSynced(nodes: NodeStatus[]): Verdict | undefined {
  const behind = nodes.filter((n) => n.syncStatus !== "synced" || (n.blocksBehind ?? 0) > 0);
  if (!behind.length) return undefined;
  return failV(
    `not synced: ${behind.map((n) => `${n.name} ${n.syncStatus ?? "?"} (${n.blocksBehind ?? "?"} behind)`).join(", ")}`,
    behind.map((n) => n.name),
  );
}

/** Nodes with consensus values still pending, named (a node without /metrics counts as none). */
function pending(nodes: NodeStatus[]): Verdict | undefined {
  const busy = nodes.filter((n) => (n.pendingValues ?? 0) > 0);
  if (!busy.length) return undefined;
  return failV(
    `pending values: ${busy.map((n) => `${n.name}=${n.pendingValues}`).join(", ")}`,
    busy.map((n) => n.name),
  );
}

/** All synced (not catchup, blocks_behind 0) and at one height. */
export function syncedAndEqual(nodes: NodeStatus[]): Verdict {
  const u = unreachable(nodes);
  if (u) return u;
  const behind = notSynced(nodes);
  if (behind) return behind;
  const heights = new Map<number, string[]>();
  for (const n of nodes) heights.set(n.blockHeight!, [...(heights.get(n.blockHeight!) ?? []), n.name]);
  if (heights.size > 1) {
    const max = Math.max(...heights.keys());
    const low = nodes.filter((n) => n.blockHeight !== max);
    return failV(
      `unequal heights: ${[...heights].map(([h, ns]) => `${ns.join(",")}=${h}`).join(" ")}`,
      low.map((n) => n.name),
    );
  }
  const hashes = new Set(nodes.map((n) => n.latestBlockHash).filter((h) => h !== undefined));
  if (hashes.size > 1) {
    return failV(
      `same height but different latest block hashes: ${nodes.map((n) => `${n.name}=${n.latestBlockHash?.slice(0, 12)}`).join(" ")}`,
      nodes.map((n) => n.name),
    );
  }
  return pass(`all ${nodes.length} nodes synced at height ${nodes[0]?.blockHeight}`);
}

/**
 * Quiesce (model: mc-consensus-tool wait-for-quiet): on the latest sample all nodes synced, equal heights,
 * zero pending values; and no node's height changed during the last `quietMs` (needs samples spanning it).
 */
export function quiesceVerdict(samples: Sample[], quietMs: number): Verdict {
  if (samples.length === 0) return failV("no samples", []);
  const last = samples[samples.length - 1];
  const base = syncedAndEqual(last.nodes);
  if (!base.ok) return base;
  const unknown = last.nodes.filter((n) => n.pendingValues === undefined);
  if (unknown.length) {
    return failV(
      `cur_num_pending_values unknown (no /metrics) on ${unknown.map((n) => n.name).join(", ")}`,
      unknown.map((n) => n.name),
    );
  }
  const busy = pending(last.nodes);
  if (busy) return busy;
  const window = samples.filter((s) => s.at >= last.at - quietMs);
  const covered = samples.some((s) => s.at <= last.at - quietMs);
  const h = new Map(last.nodes.map((n) => [n.name, n.blockHeight]));
  const moved = new Set<string>();
  for (const s of window)
    for (const n of s.nodes) if (n.reachable && n.blockHeight !== h.get(n.name)) moved.add(n.name);
  if (moved.size) {
    return failV(`height changed within the last ${quietMs / 1000}s on ${[...moved].join(", ")}`, [...moved]);
  }
  if (!covered) {
    const since = Math.round((last.at - samples[0].at) / 100) / 10;
    return failV(`quiet for ${since}s so far, need ${quietMs / 1000}s`, []);
  }
  return pass(
    `quiet: ${last.nodes.length} nodes at height ${last.nodes[0].blockHeight}, no pending values, no change for ${quietMs / 1000}s`,
  );
}

/** Settled (the end of a live period with traffic): synced, equal heights, nothing pending. */
export function settledVerdict(nodes: NodeStatus[]): Verdict {
  const se = syncedAndEqual(nodes);
  if (!se.ok) return se;
  return pending(nodes) ?? pass(`settled: ${se.reason}, no pending values`);
}

/** A node on another MRENCLAVE than `exp`, or one that reports none unless that is allowed. */
function enclaveVerdict(
  nodes: NodeStatus[],
  exp: string,
  opts: { allowUnreported?: boolean },
  unreportedHint: string,
): Verdict | undefined {
  const wrong = nodes.filter((n) => n.mrenclave !== undefined && n.mrenclave !== exp);
  if (wrong.length) {
    return failV(
      `wrong MRENCLAVE: ${wrong.map((n) => `${n.name}=${n.mrenclave!.slice(0, 12)}…`).join(", ")} (expected ${exp.slice(0, 12)}…)`,
      wrong.map((n) => n.name),
      true, // a node does not change its enclave while it runs
    );
  }
  const unreported = nodes.filter((n) => n.mrenclave === undefined);
  if (unreported.length && !opts.allowUnreported) {
    return failV(
      `MRENCLAVE not reported by /info on ${unreported.map((n) => n.name).join(", ")}${unreportedHint}`,
      unreported.map((n) => n.name),
    );
  }
  return undefined;
}

/**
 * Attest: every node reports the expected MRENCLAVE (or does not report one, if allowed: real /info has
 * none), sees all its peers attested when it says so, and the network made a new block that reached every
 * node (height above the highest baseline height) — a network whose nodes cannot attest makes no blocks.
 */
export function attestVerdict(
  baselineMax: number,
  nodes: NodeStatus[],
  expected: string,
  opts: { allowUnreported?: boolean } = {},
): Verdict {
  const u = unreachable(nodes);
  if (u) return u;
  const exp = expected.toLowerCase();
  const enclave = enclaveVerdict(
    nodes,
    exp,
    opts,
    ` (real nodes do not expose it: pass --allow-unreported-mrenclave to rely on block production alone)`,
  );
  if (enclave) return enclave;
  const unreported = nodes.filter((n) => n.mrenclave === undefined);
  const lonely = nodes.filter(
    (n) => n.attestedPeers !== undefined && n.attestedPeers.length < (n.broadcastPeerCount ?? 0),
  );
  if (lonely.length) {
    return failV(
      `not attested to all peers: ${lonely.map((n) => `${n.name} ${n.attestedPeers!.length}/${n.broadcastPeerCount} [${n.attestedPeers!.join(",")}]`).join("; ")}`,
      lonely.map((n) => n.name),
    );
  }
  const stale = nodes.filter((n) => n.blockHeight! <= baselineMax);
  if (stale.length) {
    return failV(
      `no new block since height ${baselineMax} on ${stale.map((n) => n.name).join(", ")}`,
      stale.map((n) => n.name),
    );
  }
  const se = syncedAndEqual(nodes);
  if (!se.ok) return se;
  const how = unreported.length ? `MRENCLAVE unreported on ${unreported.map((n) => n.name).join(",")}, ` : "";
  return pass(
    `attested: ${how}all ${nodes.length} nodes on ${exp.slice(0, 12)}…, new block(s) up to height ${nodes[0].blockHeight}`,
  );
}

/**
 * Live: over the samples, no node unreachable or stuck out of sync at the end (catchup or behind, in every
 * sample for at least the grace period: a moment in catchup comes back `transient`, to be sampled on), and no
 * stall: a stretch of at least `stallMs` with no height change on the network while some node had pending
 * values. With
 * `requireProgress` (traffic was submitted) the height must have advanced over the period.
 */
export function liveVerdict(
  samples: Sample[],
  stallMs: number,
  opts: {
    requireProgress?: boolean;
    /** How long a node may be out of sync before the window fails. @default stallMs */
    syncGraceMs?: number;
  } = {},
): Verdict {
  if (samples.length === 0) return failV("no samples", []);
  for (const s of samples) {
    const u = unreachable(s.nodes);
    if (u) return failV(`${u.reason} at ${new Date(s.at).toISOString()}`, u.nodes);
  }
  const maxH = (s: Sample) => Math.max(...s.nodes.map((n) => n.blockHeight ?? 0));
  let lastChange = samples[0].at;
  let prev = maxH(samples[0]);
  let pendingSince: number | undefined;
  for (const s of samples) {
    const h = maxH(s);
    if (h !== prev) {
      prev = h;
      lastChange = s.at;
    }
    const pendingNodes = s.nodes.filter((n) => (n.pendingValues ?? 0) > 0);
    if (pendingNodes.length === 0) pendingSince = undefined;
    else pendingSince ??= s.at;
    if (pendingSince !== undefined && s.at - Math.max(lastChange, pendingSince) >= stallMs) {
      return failV(
        `stall: no new block for ${Math.round((s.at - Math.max(lastChange, pendingSince)) / 100) / 10}s at height ${h} ` +
          `with pending values on ${pendingNodes.map((n) => `${n.name}=${n.pendingValues}`).join(", ")}`,
        pendingNodes.map((n) => n.name),
      );
    }
  }
  const last = samples[samples.length - 1];
  const se = syncedAndEqual(last.nodes);
  const first = maxH(samples[0]);
  const end = maxH(last);
  if (opts.requireProgress && end <= first) {
    return failV(
      `height did not advance during the live period (stayed at ${end})`,
      last.nodes.map((n) => n.name),
    );
  }
  if (!se.ok) {
    // Heights differing by a block in flight at the last poll are normal under traffic, and so is a node in
    // catchup for a moment (it saw a block before its peers externalized it); a node stuck out of sync is not.
    const outOfSync = (n: NodeStatus) => n.syncStatus !== "synced" || (n.blocksBehind ?? 0) > 0;
    const catching = last.nodes.filter(outOfSync);
    if (catching.length) {
      const grace = opts.syncGraceMs ?? stallMs;
      /** How long the node has been out of sync, in every sample up to the last. */
      const outFor = (name: string) => {
        let since = last.at;
        for (let i = samples.length - 1; i >= 0; i--) {
          const n = samples[i].nodes.find((x) => x.name === name);
          if (!n || !outOfSync(n)) break;
          since = samples[i].at;
        }
        return last.at - since;
      };
      const stuck = catching.filter((n) => outFor(n.name) >= grace);
      if (stuck.length) {
        return failV(
          `not synced for ${grace / 1000}s or more: ` +
            stuck
              .map(
                (n) =>
                  `${n.name} ${n.syncStatus ?? "?"} (${n.blocksBehind ?? "?"} behind) for ${Math.round(outFor(n.name) / 100) / 10}s`,
              )
              .join(", "),
          stuck.map((n) => n.name),
        );
      }
      return { ...se, transient: true };
    }
  }
  return pass(
    `live: height ${first} -> ${end} over ${Math.round((last.at - samples[0].at) / 1000)}s, no stall`,
  );
}

/**
 * Healthy (the rolling path, after a node's server was replaced): the node answers, is synced with nothing
 * behind, and runs the expected MRENCLAVE (or does not report one, if allowed: real /info has none).
 */
export function healthyVerdict(
  nodes: NodeStatus[],
  expected: string,
  opts: { allowUnreported?: boolean } = {},
): Verdict {
  const u = unreachable(nodes);
  if (u) return u;
  const exp = expected.toLowerCase();
  const enclave = enclaveVerdict(nodes, exp, opts, `: pass --allow-unreported-mrenclave`);
  if (enclave) return enclave;
  const behind = notSynced(nodes);
  if (behind) return behind;
  return pass(
    `healthy: ${nodes.map((n) => `${n.name} synced at ${n.blockHeight}`).join(", ")} on ${exp.slice(0, 12)}…`,
  );
}

/**
 * The rollback guard: restoring a snapshot taken at `atMost` must not drop confirmed transactions. Passes when
 * every node that answers is at or below that height. Nodes that do not answer (stopped) cannot be read; they
 * are named, and they pass only when some node answers, the ingress stayed closed, or the loss is accepted. With `acceptLoss` it passes
 * and names the blocks that will be dropped; with `ingressClosed` (no client could connect since the snapshot)
 * blocks beyond it hold only the window's own test transactions, and it passes naming them.
 */
export function heightsVerdict(
  nodes: NodeStatus[],
  atMost: number,
  opts: { acceptLoss?: boolean; ingressClosed?: boolean } = {},
): Verdict {
  const up = nodes.filter((n) => n.reachable);
  const down = nodes.filter((n) => !n.reachable).map((n) => n.name);
  const above = up.filter((n) => (n.blockHeight ?? 0) > atMost);
  const stopped = down.length ? `; not running (ledger not read): ${down.join(", ")}` : "";
  if (above.length) {
    const max = Math.max(...above.map((n) => n.blockHeight!));
    const which = above.map((n) => `${n.name}=${n.blockHeight}`).join(", ");
    if (opts.acceptLoss) {
      return pass(
        `loss ACCEPTED by the operator: blocks ${atMost + 1}..${max} will be dropped (${which})${stopped}`,
      );
    }
    if (opts.ingressClosed) {
      // No client could reach the network since the snapshot: these blocks hold only the window's own checks.
      return pass(
        `blocks ${atMost + 1}..${max} (${which}) were made while the ingress stayed closed: only the window's ` +
          `test transactions, dropped by the restore${stopped}`,
      );
    }
    return failV(
      `blocks beyond the snapshot height ${atMost}: ${which}. Restoring would drop blocks ${atMost + 1}..${max} ` +
        `(confirmed transactions). Use a release with reverse migrations, or set flagday:acceptDataLoss to accept ` +
        `the loss${stopped}`,
      above.map((n) => n.name),
    );
  }
  if (up.length === 0 && !opts.acceptLoss && !opts.ingressClosed) {
    return failV(
      `no node answers, so no ledger height can be checked against the snapshot height ${atMost}${stopped}. ` +
        `Start a node on its current release to check, or set flagday:acceptDataLoss`,
      down,
    );
  }
  return pass(
    `no blocks beyond the snapshot height ${atMost}: ${up.map((n) => `${n.name}=${n.blockHeight}`).join(", ") || "(none running)"}${stopped}`,
  );
}
