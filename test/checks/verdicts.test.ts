import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import type { NodeStatus } from "../../checks/info";
import {
  attestVerdict,
  liveVerdict,
  quiesceVerdict,
  type Sample,
  syncedAndEqual,
} from "../../checks/verdicts";

const A = "a".repeat(64);
const B = "b".repeat(64);

function node(name: string, over: Partial<NodeStatus> = {}): NodeStatus {
  return {
    name,
    reachable: true,
    blockHeight: 10,
    syncStatus: "synced",
    blocksBehind: 0,
    latestBlockHash: "h10",
    broadcastPeerCount: 2,
    pendingValues: 0,
    simulated: true,
    mrenclave: A,
    ...over,
  };
}
const three = (over: Record<string, Partial<NodeStatus>> = {}) =>
  ["node1", "node2", "node3"].map((n) => node(n, over[n] ?? {}));
const samples = (times: number[], f: (t: number) => NodeStatus[]): Sample[] =>
  times.map((at) => ({ at, nodes: f(at) }));

test("quiesce passes when synced, equal, no pending values and quiet for the period", () => {
  const v = quiesceVerdict(
    samples([0, 500, 1000, 1500, 2000], () => three()),
    2000,
  );
  assert.equal(v.ok, true, v.reason);
});

test("quiesce fails on unequal heights and names the lagging node", () => {
  const v = quiesceVerdict(
    samples([0, 2000], () => three({ node2: { blockHeight: 9, latestBlockHash: "h9" } })),
    1000,
  );
  assert.equal(v.ok, false);
  assert.deepEqual(v.nodes, ["node2"]);
  assert.match(v.reason, /unequal heights: .*node2=9/);
});

test("quiesce fails on catchup and on pending values", () => {
  const c = quiesceVerdict(
    samples([0, 2000], () => three({ node3: { syncStatus: "catchup", blocksBehind: 4 } })),
    1000,
  );
  assert.equal(c.ok, false);
  assert.match(c.reason, /not synced: node3 catchup \(4 behind\)/);
  const p = quiesceVerdict(
    samples([0, 2000], () => three({ node1: { pendingValues: 2 } })),
    1000,
  );
  assert.equal(p.ok, false);
  assert.match(p.reason, /pending values: node1=2/);
});

test("quiesce fails when a height changed within the quiet period or the period is not yet covered", () => {
  const moved = quiesceVerdict(
    samples([0, 500, 1000, 1500], (t) =>
      t < 1000
        ? three({ node1: { blockHeight: 9 }, node2: { blockHeight: 9 }, node3: { blockHeight: 9 } })
        : three(),
    ),
    1000,
  );
  assert.equal(moved.ok, false);
  assert.match(moved.reason, /height changed/);
  const short = quiesceVerdict(
    samples([0, 500], () => three()),
    1000,
  );
  assert.equal(short.ok, false);
  assert.match(short.reason, /quiet for 0.5s so far, need 1s/);
});

test("quiesce needs metrics and reachable nodes", () => {
  const nm = quiesceVerdict(
    samples([0, 2000], () => three({ node2: { pendingValues: undefined } })),
    1000,
  );
  assert.equal(nm.ok, false);
  assert.match(nm.reason, /unknown.*node2/);
  const down = quiesceVerdict(
    samples([0, 2000], () => three({ node3: { reachable: false, error: "ECONNREFUSED" } })),
    1000,
  );
  assert.equal(down.ok, false);
  assert.match(down.reason, /unreachable: node3 \(ECONNREFUSED\)/);
});

test("same heights but different block hashes is a fork, not quiet", () => {
  const v = syncedAndEqual(three({ node2: { latestBlockHash: "other" } }));
  assert.equal(v.ok, false);
  assert.match(v.reason, /different latest block hashes/);
});

test("attest passes with expected MRENCLAVE everywhere and a new block on every node", () => {
  const v = attestVerdict(9, three({ node1: { attestedPeers: ["node2", "node3"] } }), A);
  assert.equal(v.ok, true, v.reason);
});

test("attest fails on wrong MRENCLAVE naming the node", () => {
  const v = attestVerdict(9, three({ node2: { mrenclave: B } }), A);
  assert.equal(v.ok, false);
  assert.deepEqual(v.nodes, ["node2"]);
  assert.match(v.reason, /wrong MRENCLAVE: node2=bbbb/);
});

test("attest fails without a new block (stall) and when a node sees too few attested peers", () => {
  const stall = attestVerdict(10, three(), A);
  assert.equal(stall.ok, false);
  assert.match(stall.reason, /no new block since height 10 on node1, node2, node3/);
  const lonely = attestVerdict(9, three({ node3: { attestedPeers: ["node1"] } }), A);
  assert.equal(lonely.ok, false);
  assert.match(lonely.reason, /node3 1\/2/);
});

test("attest on real nodes (no MRENCLAVE in /info) fails unless explicitly allowed", () => {
  const real = three({
    node1: { mrenclave: undefined },
    node2: { mrenclave: undefined },
    node3: { mrenclave: undefined },
  });
  const strict = attestVerdict(9, real, A);
  assert.equal(strict.ok, false);
  assert.match(strict.reason, /not reported/);
  const lax = attestVerdict(9, real, A, { allowUnreported: true });
  assert.equal(lax.ok, true, lax.reason);
  assert.match(lax.reason, /unreported on node1,node2,node3/);
});

test("live passes while height advances and fails on a stall with pending values", () => {
  const good = liveVerdict(
    samples([0, 1000, 2000, 3000, 4000], (t) =>
      three({}).map((n) => ({ ...n, blockHeight: 10 + t / 1000, pendingValues: 1 })),
    ),
    2500,
    {
      requireProgress: true,
    },
  );
  assert.equal(good.ok, true, good.reason);
  const stalled = liveVerdict(
    samples([0, 1000, 2000, 3000], (t) => three({ node2: { pendingValues: t > 0 ? 3 : 0 } })),
    2000,
  );
  assert.equal(stalled.ok, false);
  assert.deepEqual(stalled.nodes, ["node2"]);
  assert.match(stalled.reason, /stall: no new block for 2s at height 10 with pending values on node2=3/);
});

test("live: an idle network (no pending values) is not a stall, but requireProgress demands a new block", () => {
  const idle = samples([0, 5000, 10000], () => three());
  assert.equal(liveVerdict(idle, 2000).ok, true);
  const v = liveVerdict(idle, 2000, { requireProgress: true });
  assert.equal(v.ok, false);
  assert.match(v.reason, /did not advance/);
});

test("live fails when a node becomes unreachable or ends in catchup", () => {
  const down = liveVerdict(
    samples([0, 1000], (t) => three({ node1: { reachable: t === 0 } })),
    5000,
  );
  assert.equal(down.ok, false);
  assert.match(down.reason, /unreachable: node1/);
  const cu = liveVerdict(
    samples([0, 1000], (t) => three({ node3: t ? { syncStatus: "catchup", blocksBehind: 2 } : {} })),
    5000,
  );
  assert.equal(cu.ok, false);
  assert.match(cu.reason, /node3 catchup/);
});

test("live: a node in catchup for a moment is transient and passes once it is back; one stuck fails", () => {
  // node3 reports catchup (0 behind) at one poll, as a node does that saw a block before its peers agreed on it.
  const blip = (t: number) => three(t === 2000 ? { node3: { syncStatus: "catchup", blocksBehind: 0 } } : {});
  const during = liveVerdict(samples([0, 1000, 2000], blip), 5000);
  assert.equal(during.ok, false);
  assert.equal(during.transient, true, "momentary: sample on before judging");
  assert.equal(liveVerdict(samples([0, 1000, 2000, 3000], blip), 5000).ok, true);
  // Stuck in catchup for the whole grace period: the window fails, not transient, naming the node.
  const stuck = liveVerdict(
    samples([0, 1000, 2000, 3000, 4000, 5000, 6000], (t) =>
      three(t >= 1000 ? { node2: { syncStatus: "catchup", blocksBehind: 0 } } : {}),
    ),
    5000,
  );
  assert.equal(stuck.ok, false);
  assert.equal(stuck.transient, undefined);
  assert.deepEqual(stuck.nodes, ["node2"]);
  assert.match(stuck.reason, /not synced for 5s or more: node2 catchup \(0 behind\) for 5s/);
});

test("property: syncedAndEqual holds iff all reachable, synced and at one height", () => {
  const st = fc.record({
    blockHeight: fc.integer({ min: 1, max: 3 }),
    synced: fc.boolean(),
    reachable: fc.boolean(),
  });
  fc.assert(
    fc.property(fc.array(st, { minLength: 1, maxLength: 5 }), (xs) => {
      const nodes = xs.map((x, i) =>
        node(`n${i}`, {
          blockHeight: x.blockHeight,
          latestBlockHash: `h${x.blockHeight}`,
          syncStatus: x.synced ? "synced" : "catchup",
          reachable: x.reachable,
        }),
      );
      const expected =
        xs.every((x) => x.reachable && x.synced) && new Set(xs.map((x) => x.blockHeight)).size === 1;
      const v = syncedAndEqual(nodes);
      assert.equal(v.ok, expected);
      if (!v.ok) assert.ok(v.nodes.length > 0 && v.nodes.every((n) => v.reason.includes(n)));
    }),
  );
});
