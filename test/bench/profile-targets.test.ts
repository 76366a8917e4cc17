import assert from "node:assert/strict";
import { test } from "node:test";
import {
  FINE_TIME_SCALE,
  median,
  type ProfileFigures,
  RUNBOOK_EVERY_RUN_SECONDS,
  profileRuns,
  runbookEveryRun,
  targetFigures,
  waitsFigures,
} from "../../bench/profile";

const row = (
  ledgerGiB: number,
  timeScale: number,
  seconds: number,
  runbookSeconds?: number,
): ProfileFigures => ({
  profile: "kubernetes",
  ledgerGiB,
  timeScale,
  seconds,
  criticalPathSeconds: seconds / 1.25,
  helmSeconds: seconds / 2,
  runbookSeconds,
  waits: [],
});

test("targets: overhead per row, the 500 over 5 ratio at each scale that has both, runbook not-run when skipped", () => {
  const line = targetFigures(
    [row(5, 200, 10, 40), row(500, 200, 11, 400), row(5, 10, 12, 120), row(500, 10, 13)],
    200,
  );
  assert.equal(
    line,
    "overhead_5=1.250 overhead_500=1.250 overhead_5_scale10=1.250 overhead_500_scale10=1.250 " +
      "ratio_500_over_5=1.100 ratio_500_over_5_scale10=1.083 " +
      "over_runbook_5=0.250 over_runbook_500=0.028 over_runbook_5_scale10=0.100 over_runbook_500_scale10=not-run " +
      "over_helm_5=2.000 over_helm_500=2.000 over_helm_5_scale10=2.000 over_helm_500_scale10=2.000",
  );
});

test("targets: one size at a scale gives no ratio for it", () => {
  const line = targetFigures([row(5, 200, 10, 40), row(500, 200, 11, 400), row(5, 10, 12, 120)], 200);
  assert.match(line, /ratio_500_over_5=1\.100 over_runbook/);
  assert.doesNotMatch(line, /ratio_500_over_5_scale10/);
});

test("waits: each stage's wait and run in whole ms, min-max", () => {
  assert.equal(
    waitsFigures([
      { stage: "ingress-reject", steps: 1, waitMs: [0, 0], runMs: [167.4, 167.4] },
      { stage: "stop", steps: 10, waitMs: [47.2, 135.6], runMs: [271, 441] },
    ]),
    "wait_ms=ingress-reject:0-0,stop:47-136 run_ms=ingress-reject:167-167,stop:271-441",
  );
});

test("targets: a row run several times is judged on medians, each run over its own critical path and helm", () => {
  const run = (ledgerGiB: number, seconds: number, cp: number, runbookSeconds?: number): ProfileFigures => ({
    ...row(ledgerGiB, 200, seconds, runbookSeconds),
    criticalPathSeconds: cp,
  });
  const line = targetFigures(
    [
      // Over the critical path 1.25, 1.2 and 1.1: the median is 1.2, not 11 / 10 (the medians' ratio).
      run(5, 10, 8, 40),
      run(5, 12, 10),
      run(5, 11, 10),
      run(500, 11, 10, 400),
      run(500, 13, 10),
      run(500, 12, 10),
    ],
    200,
  );
  assert.equal(
    line,
    "runs_5=3 runs_500=3 overhead_5=1.200 overhead_500=1.200 ratio_500_over_5=1.091 " +
      "over_runbook_5=0.275 over_runbook_500=0.030 over_helm_5=2.000 over_helm_500=2.000",
  );
});

test("median: odd and even counts, any order", () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([7]), 7);
});

test("runbook: measured in every run where its modelled waits are short, once where ten full snapshots take minutes", () => {
  const every = (profile: "kubernetes" | "aws", ledgerGiB: number, timeScale: number) =>
    runbookEveryRun({ profile, ledgerGiB, timeScale });
  // 5 GiB at 200: about 6 modelled seconds (ten 0.26 s full seals, pulls, boots); 500 GiB: about 260 s.
  assert.equal(every("kubernetes", 5, 200), true);
  assert.equal(every("aws", 5, 200), true);
  assert.equal(every("kubernetes", 500, 200), false);
  assert.equal(every("aws", 500, 200), false);
  // At the fine scale even 5 GiB is about two minutes of modelled waits.
  assert.equal(every("aws", 5, 10), false);
  assert.ok(RUNBOOK_EVERY_RUN_SECONDS >= 10 && RUNBOOK_EVERY_RUN_SECONDS <= 120);
});

test("runs: round by round at the main scale, every ledger size in each round, then each fine-scale row once", () => {
  const order = profileRuns("aws", 200, [5, 500], [5], 3).map(
    ({ latency, run, n }) => `${latency.ledgerGiB}@${latency.timeScale} ${run}/${n}`,
  );
  assert.deepEqual(order, [
    "5@200 1/3",
    "500@200 1/3",
    "5@200 2/3",
    "500@200 2/3",
    "5@200 3/3",
    "500@200 3/3",
    `5@${FINE_TIME_SCALE} 1/1`,
  ]);
  assert.ok(profileRuns("kubernetes", 200, [5], [], 2).every((r) => r.latency.profile === "kubernetes"));
  assert.deepEqual(profileRuns("aws", 200, [], [], 3), []);
});
