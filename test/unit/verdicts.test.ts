import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { healthyVerdict, heightsVerdict } from "../../checks/verdicts";
import { down, hex, node } from "./fixtures";

const A = hex("a1");
const B = hex("b2");

describe("healthyVerdict", () => {
  test("all synced on the expected MRENCLAVE (case-insensitive): ok, naming each node's height", () => {
    const v = healthyVerdict([node("node1"), node("node2", { blockHeight: 11 })], A.toUpperCase());
    assert.deepEqual(v, {
      ok: true,
      reason: `healthy: node1 synced at 10, node2 synced at 11 on ${A.slice(0, 12)}…`,
      nodes: [],
    });
  });

  test("unreachable comes first, with the error or 'no answer'", () => {
    const v = healthyVerdict(
      [node("node1", { mrenclave: B }), down("node2", "ECONNREFUSED"), down("node3")],
      A,
    );
    assert.deepEqual(v, {
      ok: false,
      reason: "unreachable: node2 (ECONNREFUSED), node3 (no answer)",
      nodes: ["node2", "node3"],
    });
  });

  test("wrong MRENCLAVE names the node and both measurements", () => {
    const v = healthyVerdict([node("node1"), node("node2", { mrenclave: B, syncStatus: "catchup" })], A);
    assert.deepEqual(v, {
      ok: false,
      reason: `wrong MRENCLAVE: node2=${B.slice(0, 12)}… (expected ${A.slice(0, 12)}…)`,
      nodes: ["node2"],
      fatal: true,
    });
  });

  test("unreported MRENCLAVE: refused unless allowed", () => {
    const nodes = [node("node1", { mrenclave: undefined }), node("node2")];
    assert.deepEqual(healthyVerdict(nodes, A), {
      ok: false,
      reason: "MRENCLAVE not reported by /info on node1: pass --allow-unreported-mrenclave",
      nodes: ["node1"],
    });
    const ok = healthyVerdict(nodes, A, { allowUnreported: true });
    assert.equal(ok.ok, true, ok.reason);
    assert.equal(ok.reason, `healthy: node1 synced at 10, node2 synced at 10 on ${A.slice(0, 12)}…`);
  });

  test("not synced: catchup, blocks behind, or no status", () => {
    const v = healthyVerdict(
      [
        node("node1", { syncStatus: "catchup", blocksBehind: 4 }),
        node("node2", { blocksBehind: 1 }),
        node("node3", { syncStatus: undefined, blocksBehind: undefined }),
        node("node4"),
      ],
      A,
    );
    assert.deepEqual(v, {
      ok: false,
      reason: "not synced: node1 catchup (4 behind), node2 synced (1 behind), node3 ? (? behind)",
      nodes: ["node1", "node2", "node3"],
    });
  });
});

describe("heightsVerdict", () => {
  test("every node at or below the snapshot height: ok", () => {
    const v = heightsVerdict([node("node1", { blockHeight: 100 }), node("node2", { blockHeight: 99 })], 100);
    assert.deepEqual(v, {
      ok: true,
      reason: "no blocks beyond the snapshot height 100: node1=100, node2=99",
      nodes: [],
    });
  });

  test("stopped nodes are named; they pass when some node answers", () => {
    const v = heightsVerdict([node("node1", { blockHeight: 100 }), down("node2"), down("node3")], 100);
    assert.deepEqual(v, {
      ok: true,
      reason:
        "no blocks beyond the snapshot height 100: node1=100; not running (ledger not read): node2, node3",
      nodes: [],
    });
  });

  test("above the snapshot height: refused, naming the block range that would be dropped", () => {
    const v = heightsVerdict(
      [
        node("node1", { blockHeight: 103 }),
        node("node2", { blockHeight: 100 }),
        node("node3", { blockHeight: 105 }),
        down("node4"),
      ],
      100,
    );
    assert.deepEqual(v, {
      ok: false,
      reason:
        "blocks beyond the snapshot height 100: node1=103, node3=105. Restoring would drop blocks 101..105 " +
        "(confirmed transactions). Use a release with reverse migrations, or set flagday:acceptDataLoss to " +
        "accept the loss; not running (ledger not read): node4",
      nodes: ["node1", "node3"],
    });
  });

  test("one block above is refused too (the guard is strict, not off by one)", () => {
    const v = heightsVerdict([node("node1", { blockHeight: 101 })], 100);
    assert.equal(v.ok, false);
    assert.match(v.reason, /Restoring would drop blocks 101\.\.101 /);
  });

  test("acceptLoss: passes, naming the blocks dropped", () => {
    const v = heightsVerdict(
      [node("node1", { blockHeight: 103 }), node("node2", { blockHeight: 100 })],
      100,
      {
        acceptLoss: true,
      },
    );
    assert.deepEqual(v, {
      ok: true,
      reason: "loss ACCEPTED by the operator: blocks 101..103 will be dropped (node1=103)",
      nodes: [],
    });
  });

  test("ingressClosed: passes, saying the blocks hold only the window's test transactions", () => {
    const v = heightsVerdict([node("node1", { blockHeight: 102 }), down("node2")], 100, {
      ingressClosed: true,
    });
    assert.deepEqual(v, {
      ok: true,
      reason:
        "blocks 101..102 (node1=102) were made while the ingress stayed closed: only the window's test " +
        "transactions, dropped by the restore; not running (ledger not read): node2",
      nodes: [],
    });
  });

  test("acceptLoss takes precedence over ingressClosed in the message", () => {
    const v = heightsVerdict([node("node1", { blockHeight: 102 })], 100, {
      acceptLoss: true,
      ingressClosed: true,
    });
    assert.match(v.reason, /^loss ACCEPTED by the operator: blocks 101\.\.102/);
  });

  test("nobody answering: refused, naming every node, unless the loss is accepted", () => {
    const nodes = [down("node1"), down("node2", "timeout")];
    assert.deepEqual(heightsVerdict(nodes, 100), {
      ok: false,
      reason:
        "no node answers, so no ledger height can be checked against the snapshot height 100; not running " +
        "(ledger not read): node1, node2. Start a node on its current release to check, or set flagday:acceptDataLoss",
      nodes: ["node1", "node2"],
    });
    assert.deepEqual(heightsVerdict(nodes, 100, { acceptLoss: true }), {
      ok: true,
      reason:
        "no blocks beyond the snapshot height 100: (none running); not running (ledger not read): node1, node2",
      nodes: [],
    });
  });

  test("nobody answering with the ingress closed passes (no client block can be lost)", () => {
    const v = heightsVerdict([down("node1")], 100, { ingressClosed: true });
    assert.equal(v.ok, true);
    assert.equal(
      v.reason,
      "no blocks beyond the snapshot height 100: (none running); not running (ledger not read): node1",
    );
  });
});
