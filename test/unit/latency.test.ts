// The modelled latency profile of the local platform: a first snapshot copies the whole ledger, one after a
// warm snapshot only what changed; the scale keeps the proportions; bad settings name the key.
import assert from "node:assert/strict";
import { test } from "node:test";
import { LATENCY_PROFILES, latencyProblems, modelledSeconds } from "../../components/local/latency";
import { localPlatformArgs } from "../../components/local/platform";

test("a full seal grows with the ledger, an incremental one with what changed; the scale divides both", () => {
  const small = modelledSeconds({ profile: "kubernetes", ledgerGiB: 5 });
  const large = modelledSeconds({ profile: "kubernetes", ledgerGiB: 500 });
  const mibps = LATENCY_PROFILES.kubernetes.snapshotMiBPerSecond;
  assert.equal(large.sealFull, (500 * 1024) / mibps);
  assert.equal(large.sealFull / small.sealFull, 100);
  assert.equal(large.sealIncremental, small.sealIncremental, "incremental: only the changed blocks");
  assert.equal(large.sealIncremental, (0.5 * 1024) / mibps);
  const scaled = modelledSeconds({ profile: "aws", ledgerGiB: 500, timeScale: 10 });
  assert.equal(scaled.boot, LATENCY_PROFILES.aws.bootSeconds / 10);
  assert.ok(
    modelledSeconds({ profile: "aws", ledgerGiB: 5 }).boot < 60,
    "AWS: an enclave change starts containers on the running instance; no instance boots in the window",
  );
});

test("bad latency settings fail naming the key; none is fine", () => {
  assert.deepEqual(latencyProblems(undefined), []);
  assert.deepEqual(latencyProblems({ profile: "kubernetes", ledgerGiB: 5 }), []);
  const p = latencyProblems({ profile: "gke", ledgerGiB: -1, timeScale: 0 });
  assert.match(p.join("\n"), /flagday:local\.latency\.profile must be one of kubernetes, aws \(got "gke"\)/);
  assert.match(p.join("\n"), /flagday:local\.latency\.ledgerGiB must be a non-negative number \(got -1\)/);
  assert.match(p.join("\n"), /flagday:local\.latency\.timeScale must be a positive number \(got 0\)/);
  assert.throws(
    () => localPlatformArgs({ latency: { profile: "gke" } as never }, "/tmp", "x"),
    /flagday: flagday:local\.latency\.profile must be one of .* Nothing was changed\./,
  );
});
