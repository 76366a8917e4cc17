// The fatal flag on verdicts: set where waiting cannot help (a node on the wrong MRENCLAVE), so the CLI's poll
// stops at once instead of matching the text of the reason.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  attestVerdict,
  healthyVerdict,
  heightsVerdict,
  liveVerdict,
  quiesceVerdict,
  settledVerdict,
  syncedAndEqual,
  type Verdict,
} from "../../checks/verdicts";
import { down, hex, node } from "../unit/fixtures";

const A = hex("a1");
const B = hex("b2");
const onB = (name: string) => node(name, { mrenclave: B });
const at = (...nodes: ReturnType<typeof node>[][]) => nodes.map((n, i) => ({ at: i * 1000, nodes: n }));

function fatal(v: Verdict, why: RegExp) {
  assert.equal(v.ok, false);
  assert.match(v.reason, why);
  assert.equal(v.fatal, true, v.reason);
}
function notFatal(v: Verdict) {
  assert.equal(v.fatal, undefined, v.reason);
}

describe("Verdict.fatal", () => {
  test("a wrong MRENCLAVE is fatal, for attest and for healthy, whatever else is wrong", () => {
    fatal(attestVerdict(9, [node("node1"), onB("node2")], A), /^wrong MRENCLAVE: node2=/);
    fatal(healthyVerdict([node("node1", { syncStatus: "catchup" }), onB("node2")], A), /^wrong MRENCLAVE/);
    fatal(healthyVerdict([onB("node1")], A, { allowUnreported: true }), /^wrong MRENCLAVE/);
  });

  test("failures that may clear on a later poll are not fatal", () => {
    const failing: Verdict[] = [
      healthyVerdict([down("node1")], A), // a node still starting
      healthyVerdict([node("node1", { blocksBehind: 2 })], A), // catching up
      healthyVerdict([node("node1", { mrenclave: undefined })], A), // not reported
      attestVerdict(10, [node("node1")], A), // no new block yet
      attestVerdict(9, [node("node1", { attestedPeers: [] })], A), // peers still attesting
      quiesceVerdict(at([node("node1", { pendingValues: 1 })]), 0),
      quiesceVerdict(at([node("node1")]), 5000), // quiet period not yet covered
      syncedAndEqual([node("node1"), node("node2", { blockHeight: 9 })]),
      settledVerdict([node("node1", { pendingValues: 2 })]),
      liveVerdict(at([node("node1")], [down("node1")]), 5000),
      heightsVerdict([down("node1")], 10),
    ];
    for (const v of failing) {
      assert.equal(v.ok, false, v.reason);
      notFatal(v);
    }
  });

  test("a passing verdict is never fatal", () => {
    for (const v of [
      healthyVerdict([node("node1")], A),
      attestVerdict(9, [node("node1")], A),
      quiesceVerdict(at([node("node1")], [node("node1")]), 1000),
      settledVerdict([node("node1"), node("node2")]),
      heightsVerdict([node("node1")], 10),
    ]) {
      assert.equal(v.ok, true, v.reason);
      notFatal(v);
    }
  });

  test("the flag travels with the verdict: it prints and serialises, and only on a fatal failure", () => {
    const v = healthyVerdict([onB("node1")], A);
    assert.deepEqual(JSON.parse(JSON.stringify(v)), {
      ok: false,
      reason: v.reason,
      nodes: ["node1"],
      fatal: true,
    });
    assert.deepEqual(Object.keys(healthyVerdict([node("node1")], A)), ["ok", "reason", "nodes"]);
  });

  test("settledVerdict: synced, equal and nothing pending; it names what is not", () => {
    assert.equal(
      settledVerdict([node("node1"), node("node2")]).reason,
      "settled: all 2 nodes synced at height 10, no pending values",
    );
    assert.equal(
      settledVerdict([node("node1", { pendingValues: undefined })]).ok,
      true,
      "no /metrics counts as none",
    );
    assert.equal(settledVerdict([node("node1", { pendingValues: 2 })]).reason, "pending values: node1=2");
    assert.match(
      settledVerdict([node("node1"), node("node2", { blockHeight: 11 })]).reason,
      /^unequal heights/,
    );
  });
});
