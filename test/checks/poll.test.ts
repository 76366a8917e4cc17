// pollUntil, the one polling loop of the checks CLI, with scripted verdicts: no network, short intervals.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { FAST_PROBE_MS, pollUntil } from "../../checks/poll";
import { healthyVerdict, type Verdict } from "../../checks/verdicts";
import { hex, node } from "../unit/fixtures";

interface Step {
  ok: boolean;
  fatal?: boolean;
  reason: string;
}

/** A probe that returns `steps` in turn (the last one forever after) and counts its calls. */
function script(...steps: Step[]) {
  let calls = 0;
  const probe = async () => steps[Math.min(calls++, steps.length - 1)];
  return { probe, calls: () => calls };
}

const waiting = (n: number): Step => ({ ok: false, reason: `waiting ${n}` });

describe("pollUntil", () => {
  test("returns the first passing verdict without waiting out the timeout", async () => {
    const s = script(waiting(1), waiting(2), { ok: true, reason: "done" });
    const t0 = Date.now();
    const v = await pollUntil(s.probe, { timeoutMs: 5000, intervalMs: 5 });
    assert.deepEqual(v, { ok: true, reason: "done" });
    assert.equal(s.calls(), 3);
    assert.ok(Date.now() - t0 < 1000, `took ${Date.now() - t0} ms`);
  });

  test("times out: returns the last verdict once the timeout has passed", async () => {
    const s = script(waiting(1), waiting(2), waiting(3));
    const t0 = Date.now();
    const v = await pollUntil(s.probe, { timeoutMs: 200, intervalMs: 20 });
    const took = Date.now() - t0;
    assert.deepEqual(v, waiting(3));
    assert.ok(took >= 200 && took < 1500, `took ${took} ms`);
    // About one probe per interval, and one more at the deadline itself.
    assert.ok(s.calls() >= 5 && s.calls() <= 12, `${s.calls()} probes`);
  });

  test("fastForMs: a check that passes a few hundred ms in passes then, not at the next interval", async () => {
    const s = script(waiting(1), waiting(2), { ok: true, reason: "done" });
    const t0 = Date.now();
    const v = await pollUntil(s.probe, { timeoutMs: 60_000, intervalMs: 5000, fastForMs: 2000 });
    assert.equal(v.reason, "done");
    assert.equal(s.calls(), 3);
    // Two waits of FAST_PROBE_MS; without fastForMs, two of intervalMs (10 s).
    assert.ok(Date.now() - t0 < 2 * FAST_PROBE_MS + 1000, `took ${Date.now() - t0} ms`);
  });

  test("fastForMs: once it has passed, probes come intervalMs apart again", async () => {
    const at: number[] = [];
    const probe = async () => {
      at.push(Date.now());
      return waiting(at.length);
    };
    const t0 = Date.now();
    const fastForMs = 250;
    const intervalMs = 600;
    await pollUntil(probe, { timeoutMs: 1500, intervalMs, fastForMs });
    const gaps = at.slice(1).map((t, i) => ({ after: at[i] - t0, gap: t - at[i] }));
    // Fast at first (FAST_PROBE_MS, with room for a slow machine)...
    assert.ok(gaps[0].gap < intervalMs / 2, `first gap ${gaps[0].gap} ms`);
    // ...then every intervalMs, or less only where the deadline cut the wait short.
    for (const { after, gap } of gaps.filter((g) => g.after >= fastForMs)) {
      assert.ok(gap >= Math.min(intervalMs, 1500 - after) - 30, `a ${gap} ms gap ${after} ms in`);
    }
    assert.ok(
      gaps.some((g) => g.after >= fastForMs),
      "no probe after fastForMs",
    );
  });

  test("a timeout of 0 probes exactly once", async () => {
    const s = script(waiting(1));
    assert.deepEqual(await pollUntil(s.probe, { timeoutMs: 0, intervalMs: 1000 }), waiting(1));
    assert.equal(s.calls(), 1);
  });

  test("returns at once on a fatal verdict, however long the timeout", async () => {
    const wrong: Step = { ok: false, fatal: true, reason: "wrong MRENCLAVE" };
    const s = script(waiting(1), wrong, { ok: true, reason: "never reached" });
    const t0 = Date.now();
    const v = await pollUntil(s.probe, { timeoutMs: 60_000, intervalMs: 10 });
    assert.equal(v, wrong);
    assert.equal(s.calls(), 2);
    assert.ok(Date.now() - t0 < 1000, `took ${Date.now() - t0} ms`);
  });

  test("a fatal verdict ends the poll even when `until` would go on", async () => {
    const s = script(waiting(1), { ok: false, fatal: true, reason: "gone" });
    const v = await pollUntil(s.probe, { timeoutMs: 60_000, intervalMs: 5, until: () => false });
    assert.equal(v.reason, "gone");
    assert.equal(s.calls(), 2);
  });

  test("reports progress: every verdict that does not end the poll, in order, before the wait", async () => {
    const s = script(waiting(1), waiting(2), waiting(3), { ok: true, reason: "done" });
    const seen: string[] = [];
    const v = await pollUntil(s.probe, {
      timeoutMs: 5000,
      intervalMs: 5,
      onProgress: async (p) => {
        seen.push(`${p.reason} after ${s.calls()} probes`);
      },
    });
    assert.equal(v.reason, "done");
    assert.deepEqual(seen, [
      "waiting 1 after 1 probes",
      "waiting 2 after 2 probes",
      "waiting 3 after 3 probes",
    ]);
  });

  test("no progress is reported for the verdict that ends the poll, nor at the deadline", async () => {
    const seen: string[] = [];
    const onProgress = (p: Step) => void seen.push(p.reason);
    await pollUntil(script({ ok: true, reason: "at once" }).probe, {
      timeoutMs: 5000,
      intervalMs: 5,
      onProgress,
    });
    await pollUntil(script(waiting(1)).probe, { timeoutMs: 0, intervalMs: 5, onProgress });
    assert.deepEqual(seen, []);
  });

  test("`until` decides what ends the poll: watch while passing, stop at the first failure", async () => {
    const s = script(
      { ok: true, reason: "live 1" },
      { ok: true, reason: "live 2" },
      { ok: false, reason: "stall" },
    );
    const v = await pollUntil(s.probe, { timeoutMs: 5000, intervalMs: 5, until: (x) => !x.ok });
    assert.equal(v.reason, "stall");
    assert.equal(s.calls(), 3);
    const quiet = script({ ok: true, reason: "live" });
    const w = await pollUntil(quiet.probe, { timeoutMs: 100, intervalMs: 10, until: (x) => !x.ok });
    assert.deepEqual(
      w,
      { ok: true, reason: "live" },
      "a period without failure ends at the timeout, passing",
    );
    assert.ok(quiet.calls() > 2);
  });

  test("a probe that throws ends the poll with its error", async () => {
    let calls = 0;
    const probe = async (): Promise<Step> => {
      if (++calls === 2) throw new Error("probe broke");
      return waiting(calls);
    };
    await assert.rejects(pollUntil(probe, { timeoutMs: 5000, intervalMs: 5 }), /probe broke/);
    assert.equal(calls, 2);
  });

  test("with real verdicts: a node still catching up is waited for, a wrong MRENCLAVE is not", async () => {
    const A = hex("a1");
    const catching = [node("node1", { syncStatus: "catchup", blocksBehind: 3 })];
    const synced = [node("node1")];
    let polls = 0;
    const healthy = await pollUntil(async () => healthyVerdict(polls++ < 2 ? catching : synced, A), {
      timeoutMs: 5000,
      intervalMs: 5,
    });
    assert.equal(healthy.ok, true, healthy.reason);
    assert.equal(polls, 3);

    polls = 0;
    const onB = [node("node1", { mrenclave: hex("b2") })];
    const wrong: Verdict = await pollUntil(
      async () => {
        polls++;
        return healthyVerdict(onB, A);
      },
      { timeoutMs: 60_000, intervalMs: 5 },
    );
    assert.equal(wrong.ok, false);
    assert.equal(wrong.fatal, true);
    assert.match(wrong.reason, /^wrong MRENCLAVE: node1=/);
    assert.equal(polls, 1);
  });
});
