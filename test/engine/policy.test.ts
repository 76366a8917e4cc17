import { after, before, test } from "node:test";
import * as assert from "node:assert/strict";
import * as path from "node:path";
import { EngineEvent, PolicyEvent } from "@pulumi/pulumi/automation";
import { networkProblems } from "../../components/network";
import { openWindow, resourceSteps } from "../../rehearsal/run";
import { engineStack, ROOT } from "./engine";
import { testNetwork, TestNetwork } from "./rehearsal-harness";
import { network as rogueNetwork } from "../policy/rogue/spec";

// The policy pack as the engine runs it (through the Node.js language host's RunPlugin), on a rehearsal network's
// bring-up and flag day, then on a program that bypasses the components' own checks.
const POLICY_PACK = path.join(ROOT, "policy");
const STACK_POLICIES = ["one-enclave-per-network", "peers-pin-mrenclave", "snapshot-before-flag-day"];

interface StackSummary {
  policyPackName: string;
  passed?: string[];
  failed?: string[];
}

/** What the engine reported about the pack in one operation. */
function packReport(events: readonly EngineEvent[]) {
  const raw = events as unknown as readonly Record<string, unknown>[];
  const stackSummaries = raw
    .map((e) => e.policyAnalyzeStackSummaryEvent as StackSummary | undefined)
    .filter((s): s is StackSummary => s?.policyPackName === "flagday");
  const resourceSummaries = raw
    .map((e) => e.policyAnalyzeSummaryEvent as (StackSummary & { resourceUrn: string }) | undefined)
    .filter((s): s is StackSummary & { resourceUrn: string } => s?.policyPackName === "flagday");
  const summary = events.find((e) => e.summaryEvent)?.summaryEvent as
    (Record<string, unknown> & { policyPacks?: Record<string, string> }) | undefined;
  return {
    // The packs the update ran, by `name|local|path` (the engine writes this field in PascalCase).
    packs: Object.keys(
      (summary?.PolicyPacks as Record<string, string> | undefined) ?? summary?.policyPacks ?? {},
    ).map((k) => k.split("|")[0]),
    violations: events.map((e) => e.policyEvent).filter((p): p is PolicyEvent => p !== undefined),
    stackPassed: stackSummaries.flatMap((s) => s.passed ?? []).sort(),
    resourcesAnalyzed: resourceSummaries.length,
    resourceFailed: resourceSummaries.flatMap((s) => s.failed ?? []),
  };
}

let net: TestNetwork;
before(async () => {
  net = await testNetwork("policy");
});
after(async () => {
  await net?.cleanup();
});

test(
  "the pack passes the rehearsal's bring-up and flag day, and refuses a hand-built network at preview",
  { timeout: 240_000 },
  async () => {
    // 1. Bring-up on v1 with the pack: the network-wide policies check the network; no node is on a flag day yet.
    await net.stack.setConfig("flagday:release", { value: "v1.0.0" });
    const upEvents: EngineEvent[] = [];
    const up = await net.stack.up({ policyPacks: [POLICY_PACK], onEvent: (e) => upEvents.push(e) });
    assert.equal(up.summary.result, "succeeded");
    const first = packReport(upEvents);
    assert.deepEqual(first.packs, ["flagday"], "the engine ran the pack");
    assert.deepEqual(first.violations, [], "no violation on bring-up");
    assert.deepEqual(first.stackPassed, ["one-enclave-per-network", "peers-pin-mrenclave"]);
    assert.ok(first.resourcesAnalyzed >= 10, `every registration analyzed (${first.resourcesAnalyzed})`);
    assert.deepEqual(first.resourceFailed, []);

    // 2. The flag day to v2.0.0 with the pack: now every policy checks something, and none objects.
    await net.stack.setConfig("flagday:release", { value: "v2.0.0" });
    await openWindow(net.stack, net.log);
    const flagDayEvents: EngineEvent[] = [];
    const flagDay = await net.stack.up({
      policyPacks: [POLICY_PACK],
      onEvent: (e) => flagDayEvents.push(e),
    });
    assert.equal(flagDay.summary.result, "succeeded");
    const created = resourceSteps(flagDayEvents)
      .filter((s) => s.op === "create")
      .map((s) => s.name);
    for (const node of ["node1", "node2", "node3"]) {
      assert.ok(
        created.includes(`rehearsal-u1-${node}-snapshot`),
        `${node} snapshotted: ${created.join(" ")}`,
      );
    }
    const second = packReport(flagDayEvents);
    assert.deepEqual(second.packs, ["flagday"]);
    assert.deepEqual(second.violations, [], "no violation on the flag day");
    assert.deepEqual(second.stackPassed, STACK_POLICIES);
    assert.deepEqual(second.resourceFailed, []);

    // 3. A program that assembles a network from flagday's pieces without ConsensusNetwork: the component would
    // refuse this network, the program never asks it, and only the pack stops the preview.
    const problems = networkProblems(rogueNetwork);
    assert.ok(problems.some((p) => /peerAttestation\.mode/.test(p)) && problems.some((p) => /node3/.test(p)));
    const rogue = await engineStack(path.join(ROOT, "test", "policy", "rogue"), `rogue-${process.pid}`);
    try {
      const events: EngineEvent[] = [];
      await assert.rejects(
        rogue.stack.preview({ policyPacks: [POLICY_PACK], onEvent: (e) => events.push(e) }),
        "the preview fails on mandatory violations",
      );
      const violations = packReport(events).violations;
      const mandatory = (policy: string) =>
        violations.filter((v) => v.policyName === policy && v.enforcementLevel === "mandatory");
      const [attestation] = mandatory("peers-pin-mrenclave");
      assert.ok(attestation, JSON.stringify(violations, null, 2));
      assert.match(attestation.resourceUrn ?? "", /flagday:index:ConsensusNetwork::rogue$/);
      assert.match(attestation.message, /"mrsigner".*malicious enclave.*Fix: /s);
      const [enclaves] = mandatory("one-enclave-per-network");
      assert.ok(enclaves);
      assert.match(enclaves.message, /2 different enclaves.*node3/s);
      const [snapshot] = mandatory("snapshot-before-flag-day");
      assert.ok(snapshot);
      assert.match(snapshot.resourceUrn ?? "", /ConsensusNode::rogue-node3$/);
      assert.match(snapshot.message, /"rogue-u2-node3-snapshot"/);
      assert.equal(violations.length, 3, JSON.stringify(violations, null, 2));
    } finally {
      await rogue.stack.workspace.removeStack(rogue.stack.name, { force: true }).catch(() => undefined);
      rogue.cleanup();
    }
  },
);
