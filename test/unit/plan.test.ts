import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, test } from "node:test";
import {
  historyEntry,
  planUpgrade,
  transitionId,
  transitionOrdinal,
  type Plan,
  type Transition,
} from "../../components/plan";
import { CONSENSUS_FIELDS, type EnclaveRelease } from "../../components/release";
import { deployedOn, hex, ID, pastEntries, V1, V2, V2R, V3 } from "./fixtures";

function transitionOf(plan: Plan): Transition {
  assert.equal(plan.kind, "transition", `expected a transition, got ${JSON.stringify(plan)}`);
  return (plan as Extract<Plan, { kind: "transition" }>).transition;
}

/** Deployed on V2 after a completed flag day V1 -> V2 (the first transition of the stack). */
function afterFlagDay(to: EnclaveRelease = V2, earlier = 0) {
  const fd = transitionOf(planUpgrade(to, deployedOn(V1, pastEntries(earlier))));
  return { fd, deployed: deployedOn(to, [...pastEntries(earlier), historyEntry(fd, {})], fd) };
}

describe("transitionId / transitionOrdinal", () => {
  test("format u<n>-<kind>-<from>-to-<to>-<8 hex> with a pinned digest (ids must stay stable across code versions)", () => {
    assert.equal(transitionId(1, "upgrade", V1, V2), "u1-upgrade-v5.2.3-to-v6.0.0-75407ba0");
    assert.equal(transitionId(7, "rollback", V2, V1), "u7-rollback-v6.0.0-to-v5.2.3-42f58fba");
    assert.match(transitionId(12, "rollback", V2, V1), ID);
  });

  test("the digest is the sha256 of both releases' consensus fields", () => {
    const digest = createHash("sha256")
      .update(JSON.stringify([CONSENSUS_FIELDS.map((f) => V1[f]), CONSENSUS_FIELDS.map((f) => V2[f])]))
      .digest("hex")
      .slice(0, 8);
    assert.equal(transitionId(3, "upgrade", V1, V2), `u3-upgrade-v5.2.3-to-v6.0.0-${digest}`);
  });

  test("every consensus field changes the digest; image and migrations do not", () => {
    const base = transitionId(1, "upgrade", V1, V2);
    const changed: Record<(typeof CONSENSUS_FIELDS)[number], unknown> = {
      version: "v6.0.9",
      mrenclave: hex("d4"),
      mrsigner: hex("d5"),
      enclaveUri: "https://elsewhere.test/enclave.so",
      enclaveSha256: hex("d6"),
      tokensConfigDigest: hex("d7"),
      blockVersion: 5,
    };
    for (const f of CONSENSUS_FIELDS) {
      const id = transitionId(1, "upgrade", V1, { ...V2, [f]: changed[f] });
      assert.notEqual(id.slice(-8), base.slice(-8), `changing ${f} must change the digest`);
    }
    const cosmetic = { ...V2, image: "other:tag", migrations: [], reverseMigrations: ["x"] };
    assert.equal(transitionId(1, "upgrade", V1, cosmetic), base);
  });

  test("transitionOrdinal is the part before the first dash", () => {
    assert.equal(transitionOrdinal({ id: transitionId(3, "upgrade", V1, V2) } as Transition), "u3");
    assert.equal(transitionOrdinal({ id: transitionId(12, "rollback", V2, V1) } as Transition), "u12");
  });
});

describe("planUpgrade: initial and steady", () => {
  test("never deployed: initial", () => {
    assert.deepEqual(planUpgrade(V1, undefined), { kind: "initial" });
    assert.deepEqual(planUpgrade(V1, undefined, { overrides: ["x"] }), { kind: "initial" });
  });

  test("never deployed with rollback or abort: error", () => {
    const msg = "flagday:rollback is set but this stack has never been upgraded: remove it.";
    assert.throws(() => planUpgrade(V1, undefined, { rollback: true }), { message: msg });
    assert.throws(() => planUpgrade(V1, undefined, { abort: V2 }), {
      message: "flagday:abort is set but this stack has never been upgraded: remove it.",
    });
  });

  test("same release, no transition yet: steady with no transition", () => {
    assert.deepEqual(planUpgrade(V1, deployedOn(V1)), { kind: "steady", transition: undefined });
  });

  test("a non-consensus change (image, migrations) is steady and keeps the last transition", () => {
    const { fd, deployed } = afterFlagDay();
    const target = { ...V2, image: "mobilecoin/node_hw:v6.0.0-test-patched", migrations: [] };
    const plan = planUpgrade(target, deployed);
    assert.equal(plan.kind, "steady");
    assert.equal((plan as Extract<Plan, { kind: "steady" }>).transition, fd);
  });
});

describe("planUpgrade: flag day", () => {
  test("a consensus change is a flag day from the deployed release, ordinal from the history length", () => {
    const deployed = deployedOn(V1, pastEntries(2));
    const t = transitionOf(planUpgrade(V2, deployed));
    assert.equal(t.id, transitionId(3, "upgrade", V1, V2));
    assert.match(t.id, /^u3-upgrade-v5\.2\.3-to-v6\.0\.0-[0-9a-f]{8}$/);
    assert.equal(transitionOrdinal(t), "u3");
    assert.equal(t.sequence, "flag-day");
    assert.equal(t.from, V1);
    assert.equal(t.to, V2);
    assert.equal(t.undoes, undefined);
    assert.equal("overrides" in t, false, "no overrides key when none are given");
  });

  test("a change of only blockVersion or tokensConfigDigest is a flag day too", () => {
    assert.equal(transitionOf(planUpgrade({ ...V1, blockVersion: 4 }, deployedOn(V1))).sequence, "flag-day");
    assert.equal(
      transitionOf(planUpgrade({ ...V1, tokensConfigDigest: hex("71") }, deployedOn(V1))).sequence,
      "flag-day",
    );
  });

  test("deterministic: a re-run after a failure plans the same id (and overrides do not change it)", () => {
    const a = transitionOf(planUpgrade(V2, deployedOn(V1, pastEntries(1))));
    const b = transitionOf(
      planUpgrade(V2, deployedOn(V1, pastEntries(1)), { overrides: ["outside-window: x"] }),
    );
    const c = transitionOf(
      planUpgrade({ ...V2, image: "patched" }, deployedOn({ ...V1, image: "y" }, pastEntries(1))),
    );
    assert.equal(a.id, b.id);
    assert.equal(a.id, c.id);
    assert.deepEqual(b.overrides, ["outside-window: x"]);
    assert.notEqual(a.id, transitionOf(planUpgrade(V3, deployedOn(V1, pastEntries(1)))).id);
  });

  test("empty overrides are not recorded", () => {
    assert.equal("overrides" in transitionOf(planUpgrade(V2, deployedOn(V1), { overrides: [] })), false);
  });

  test("moving on to a third release after a flag day is a new flag day, not a rollback", () => {
    const { deployed } = afterFlagDay();
    const t = transitionOf(planUpgrade(V3, deployed));
    assert.equal(t.sequence, "flag-day");
    assert.equal(t.id, transitionId(2, "upgrade", V2, V3));
    assert.equal(t.undoes, undefined);
  });
});

describe("planUpgrade: rollback of a completed flag day", () => {
  test("setting the release back is a rollback-restore that undoes the last flag day", () => {
    const { fd, deployed } = afterFlagDay(V2, 1);
    const t = transitionOf(planUpgrade(V1, deployed));
    assert.equal(t.sequence, "rollback-restore");
    assert.equal(t.id, transitionId(3, "rollback", V2, V1));
    assert.match(t.id, /^u3-rollback-v6\.0\.0-to-v5\.2\.3-[0-9a-f]{8}$/);
    assert.equal(t.from, V2);
    assert.equal(t.to, V1);
    assert.equal(t.undoes, fd);
    assert.equal(transitionOrdinal(t), "u3");
  });

  test("rollback: true gives the same plan; overrides are recorded on it", () => {
    const { deployed } = afterFlagDay();
    assert.deepEqual(planUpgrade(V1, deployed, { rollback: true }), planUpgrade(V1, deployed));
    assert.deepEqual(transitionOf(planUpgrade(V1, deployed, { overrides: ["data-loss: ok"] })).overrides, [
      "data-loss: ok",
    ]);
  });

  test("the undone release has reverse migrations: rollback-reverse", () => {
    const { fd, deployed } = afterFlagDay(V2R);
    const t = transitionOf(planUpgrade(V1, deployed, { rollback: true }));
    assert.equal(t.sequence, "rollback-reverse");
    assert.equal(t.undoes, fd);
  });

  test("reverse migrations on the rollback target do not matter, only on the undone release", () => {
    const { deployed } = afterFlagDay(V2);
    const t = transitionOf(planUpgrade({ ...V1, reverseMigrations: ["x"] }, deployed));
    assert.equal(t.sequence, "rollback-restore");
  });

  test("rollback: true with a release that is not the one before the flag day: error naming flagday:release", () => {
    const { fd, deployed } = afterFlagDay();
    const expected =
      `flagday:rollback is set, but the target release is not the one before the last flag day: the last ` +
      `transition (${fd.id}) went v5.2.3 -> v6.0.0; set flagday:release back to v5.2.3 or remove flagday:rollback.`;
    assert.throws(() => planUpgrade(V3, deployed, { rollback: true }), { message: expected });
    // The release left unchanged is not a rollback either.
    assert.throws(() => planUpgrade(V2, deployed, { rollback: true }), { message: expected });
  });

  test("rollback: true with no transition yet: error", () => {
    assert.throws(() => planUpgrade(V1, deployedOn(V1, pastEntries(1)), { rollback: true }), {
      message:
        "flagday:rollback is set, but the target release is not the one before the last flag day: " +
        "there is no flag day to undo; remove flagday:rollback.",
    });
  });

  test("after a rollback, setting the release forward again is a new flag day with the next ordinal", () => {
    const { deployed } = afterFlagDay();
    const rb = transitionOf(planUpgrade(V1, deployed));
    const back = deployedOn(V1, [...deployed.history, historyEntry(rb, {})], rb);
    const t = transitionOf(planUpgrade(V2, back));
    assert.equal(t.sequence, "flag-day");
    assert.equal(t.id, transitionId(3, "upgrade", V1, V2));
    assert.notEqual(t.id, deployed.lastTransition?.id, "its steps must not be the first flag day's");
  });

  test("after a completed rollback, the rollback error's hint does not name a release that is refused again", () => {
    const { deployed } = afterFlagDay();
    const rb = transitionOf(planUpgrade(V1, deployed, { rollback: true }));
    const back = deployedOn(V1, [...deployed.history, historyEntry(rb, {})], rb);
    let hint = "";
    try {
      planUpgrade(V1, back, { rollback: true });
    } catch (e) {
      hint = (e as Error).message;
    }
    assert.match(hint, /remove flagday:rollback/);
    // If the hint names a release, following it (flagday:rollback still set) must work.
    const suggested = /set flagday:release back to (v[\d.]+)/.exec(hint)?.[1];
    const release = [V1, V2].find((r) => r.version === suggested);
    if (release) {
      assert.doesNotThrow(() => planUpgrade(release, back, { rollback: true }), `the hint was: ${hint}`);
    }
  });
});

describe("planUpgrade: abort of a failed flag day", () => {
  // A flag day V1 -> V2 planned on a stack with 1 history entry failed part-way: nothing was recorded.
  const deployed = deployedOn(V1, pastEntries(1));
  const failedPlan = transitionOf(planUpgrade(V2, deployed));

  test("abort: rollback to the deployed release undoing the flag day exactly as it was planned", () => {
    const t = transitionOf(planUpgrade(V1, deployed, { abort: V2 }));
    assert.equal(failedPlan.id, "u2-upgrade-v5.2.3-to-v6.0.0-75407ba0");
    assert.deepEqual(t.undoes, { id: failedPlan.id, sequence: "flag-day", from: V1, to: V2 });
    assert.equal(t.sequence, "rollback-restore");
    assert.equal(t.id, transitionId(3, "rollback", V2, V1));
    assert.equal(transitionOrdinal(t), "u3", "one more than the failed flag day's u2");
    assert.equal(transitionOrdinal(t.undoes!), "u2");
    assert.equal(t.from, V2);
    assert.equal(t.to, V1);
  });

  test("abort of a release with reverse migrations: rollback-reverse; overrides recorded", () => {
    const t = transitionOf(planUpgrade(V1, deployed, { abort: V2R, overrides: ["data-loss: test only"] }));
    assert.equal(t.sequence, "rollback-reverse");
    assert.deepEqual(t.overrides, ["data-loss: test only"]);
    assert.equal(t.undoes?.id, transitionId(2, "upgrade", V1, V2R));
  });

  test("abort with a non-consensus difference in the target (image) is still allowed", () => {
    const t = transitionOf(planUpgrade({ ...V1, image: "patched" }, deployed, { abort: V2 }));
    assert.equal(t.undoes?.id, failedPlan.id);
  });

  test("abort with a target that is not the deployed release: error", () => {
    assert.throws(() => planUpgrade(V2, deployed, { abort: V2 }), {
      message:
        "flagday:abort undoes a failed flag day and returns to the deployed release v5.2.3: " +
        "set flagday:release back to it (it is v6.0.0).",
    });
  });

  test("abort naming the deployed release: error", () => {
    assert.throws(() => planUpgrade(V1, deployed, { abort: { ...V1, image: "other" } }), {
      message:
        "flagday:abort names v5.2.3, which is the deployed release: there is no failed flag day " +
        "to undo. Remove flagday:abort.",
    });
  });
});

describe("historyEntry", () => {
  test("a flag day: release keys, changed fields, snapshots, window and overrides", () => {
    const t = transitionOf(planUpgrade(V2, deployedOn(V1), { overrides: ["outside-window: moved"] }));
    const snaps = { node1: { id: "snap-1", height: 41 }, node2: { id: "snap-2" } };
    const w = { start: "2026-12-01T14:00 UTC", end: "2026-12-01T18:00 UTC" };
    assert.deepEqual(historyEntry(t, snaps, w), {
      id: t.id,
      sequence: "flag-day",
      from: `v5.2.3-${"a1".repeat(4)}`,
      to: `v6.0.0-${"b2".repeat(4)}`,
      changed: ["version", "mrenclave", "enclaveUri", "enclaveSha256", "blockVersion"],
      snapshots: snaps,
      window: w,
      overrides: ["outside-window: moved"],
      outcome: "completed",
    });
  });

  test("a rollback: undoes is the undone id; no window or overrides keys when absent", () => {
    const { fd, deployed } = afterFlagDay();
    const rb = transitionOf(planUpgrade(V1, deployed));
    const h = historyEntry(rb, {});
    assert.equal(h.undoes, fd.id);
    assert.equal(h.sequence, "rollback-restore");
    assert.equal(h.from, `v6.0.0-${"b2".repeat(4)}`);
    assert.deepEqual(Object.keys(h).sort(), [
      "changed",
      "from",
      "id",
      "outcome",
      "sequence",
      "snapshots",
      "to",
      "undoes",
    ]);
  });
});

describe("planUpgrade: the abort messages name flagday:abort, the key that is set (issue 9)", () => {
  const deployed = deployedOn(V1, pastEntries(1));
  const blamesRollback = /flagday:rollback\b/;
  const messageOf = (f: () => unknown): string => {
    try {
      f();
    } catch (e) {
      return (e as Error).message;
    }
    assert.fail("expected an error");
  };

  test("abort on a stack never upgraded: names flagday:abort and does not blame flagday:rollback", () => {
    const msg = messageOf(() => planUpgrade(V1, undefined, { abort: V2 }));
    assert.match(msg, /^flagday:abort is set but this stack has never been upgraded/);
    assert.doesNotMatch(msg, blamesRollback);
  });

  test("rollback and abort both set on a stack never upgraded: names both", () => {
    const msg = messageOf(() => planUpgrade(V1, undefined, { rollback: true, abort: V2 }));
    assert.match(msg, /flagday:rollback\b/);
    assert.match(msg, /flagday:abort\b/);
  });

  test("abort with a target that is not the deployed release: names flagday:abort, not flagday:rollback", () => {
    const msg = messageOf(() => planUpgrade(V2, deployed, { abort: V2 }));
    assert.match(msg, /^flagday:abort undoes a failed flag day/);
    assert.match(msg, /set flagday:release back to it/);
    assert.doesNotMatch(msg, blamesRollback);
  });

  test("abort naming the deployed release: tells the operator to remove flagday:abort", () => {
    const msg = messageOf(() => planUpgrade(V1, deployed, { abort: V1 }));
    assert.match(msg, /^flagday:abort names v5\.2\.3, which is the deployed release/);
    assert.match(msg, /Remove flagday:abort\.$/);
    assert.doesNotMatch(msg, blamesRollback);
  });
});
