/**
 * Property tests over random networks (1 to 15 nodes), random release changes and option sets, on both
 * platforms: every graph obeys the flag-day rules, a change of a non-consensus field rolls instead, and the
 * run after a flag day is a no-op (every resource's inputs identical, so the engine would find nothing to do).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { ChecksOptions } from "../../components/checks";
import { NetworkSpec } from "../../components/network";
import { CONSENSUS_FIELDS, EnclaveRelease, needsFlagDay } from "../../components/release";
import { stableJson } from "../graph/harness";
import { checkFlagDayGraph } from "../graph/invariants";
import { aws, kube, network, runNetwork, V5 } from "./fixtures";

const hexArb = fc.stringMatching(/^[0-9a-f]{64}$/);

/** A change to one consensus field, keeping the release valid. */
const consensusChange = fc
  .constantFrom(...CONSENSUS_FIELDS)
  .chain((field): fc.Arbitrary<Partial<EnclaveRelease>> => {
    switch (field) {
      case "version":
        return fc.nat({ max: 40 }).map((n) => ({ version: `v6.${n}.${n % 3}` }));
      case "blockVersion":
        return fc.integer({ min: 4, max: 9 }).map((blockVersion) => ({ blockVersion }));
      case "enclaveUri":
        return fc
          .nat()
          .map((n) => ({ enclaveUri: `https://enclave-distribution.test.mobilecoin.com/pool/${n}/x.so` }));
      default:
        return hexArb.filter((h) => h !== V5[field]).map((h) => ({ [field]: h }));
    }
  });

/** A change outside the consensus identity: release bookkeeping or a node setting. */
const otherChange = fc.oneof(
  fc.constant<Partial<EnclaveRelease>>({ migrations: ["mc-util-migrate --ledger /ledger"] }),
  fc.constant<Partial<EnclaveRelease>>({ image: "registry.example/node_hw:v5.2.3-patched" }),
  fc.constant<Partial<EnclaveRelease>>({}),
);

const checksArb: fc.Arbitrary<ChecksOptions> = fc.record(
  {
    quietPeriodSeconds: fc.integer({ min: 1, max: 120 }),
    generateTraffic: fc.boolean(),
    txTests: fc.constant({ "self-payment": "python3 test_client.py --self" }),
    timeoutSeconds: fc.integer({ min: 30, max: 900 }),
  },
  { requiredKeys: [] },
);

const scenario = fc.record({
  n: fc.integer({ min: 1, max: 15 }),
  platform: fc.constantFrom("aws", "kubernetes"),
  consensus: fc.array(consensusChange, { minLength: 0, maxLength: 3 }),
  other: otherChange,
  logLevelOn: fc.option(fc.nat(), { nil: undefined }),
  checks: checksArb,
});

test("every scenario: the rules hold, non-consensus changes roll, the run after a flag day changes nothing", async () => {
  await fc.assert(
    fc.asyncProperty(scenario, async (s) => {
      const make = s.platform === "aws" ? aws() : kube();
      const before = network(s.n, V5);
      const target: EnclaveRelease = Object.assign({}, V5, s.other, ...s.consensus);
      const after: NetworkSpec = {
        ...network(s.n, target),
        nodes: before.nodes.map((node, i) =>
          s.logLevelOn !== undefined && i === s.logLevelOn % s.n
            ? { ...node, settings: { logLevel: "debug" } }
            : node,
        ),
      };
      const opts = { checks: s.checks };
      const first = await runNetwork(make, before, undefined, opts);
      assert.deepEqual(checkFlagDayGraph(first.graph, before, first.result.net.plan), []);

      const second = await runNetwork(make, after, first.result.record, opts);
      const plan = second.result.net.plan;
      assert.equal(plan.kind, needsFlagDay(V5, target) ? "transition" : "steady");
      assert.deepEqual(checkFlagDayGraph(second.graph, after, plan), []);
      if (plan.kind !== "transition") return;

      const third = await runNetwork(make, after, second.result.record, opts);
      assert.equal(third.result.net.plan.kind, "steady");
      assert.deepEqual(checkFlagDayGraph(third.graph, after, third.result.net.plan), []);
      const was = new Map(second.graph.resources.map((r) => [r.urn, stableJson(r.inputs)]));
      assert.equal(third.graph.resources.length, was.size);
      for (const r of third.graph.resources) assert.equal(stableJson(r.inputs), was.get(r.urn), r.name);
    }),
    { numRuns: 14, seed: Number(process.env.FLAGDAY_SEED ?? 20261124) },
  );
});
