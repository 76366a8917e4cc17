import { after, before, test } from "node:test";
import * as assert from "node:assert/strict";
import { EngineEvent } from "@pulumi/pulumi/automation";
import { healthyName, serverName, stageOfStep } from "../../components/names";
import { FLAG_DAY } from "../../components/stages";
import {
  bringUp,
  flagDay,
  layout,
  openWindow,
  probeIngress,
  resourceSteps,
  sendTraffic,
} from "../../rehearsal/run";
import { ledgerDump, testNetwork, TestNetwork } from "./rehearsal-harness";

// One rehearsal network, driven through the real engine step by step like an operator would: bring up on v1,
// preview the flag day, run it, re-run with nothing changed, then a change that is not a flag day.
let net: TestNetwork;
const NODES = ["node1", "node2", "node3"];
const V2_MRENCLAVE = "326b1a950e55d1cba47e5e4c7c8d9b8ddfae4a10a3d822382c137d9bf3930548";
const V1_MRENCLAVE = "8224f1e6433d814d03de7a7d8fab7969d9b44e2cec09bd0a071e51e8dca6bd4c";

before(async () => {
  net = await testNetwork("flagday");
});
after(async () => {
  await net?.cleanup();
});

test("the rehearsal network comes up on v1 and commits payments", { timeout: 180_000 }, async () => {
  const up = await bringUp(net.stack, "v1.0.0", net.log);
  assert.equal(up.summary.result, "succeeded");
  const blocks = await sendTraffic(net.stack, 4, net.log);
  assert.equal(blocks.length, 4);
  const dumps = NODES.map((n) => ledgerDump(net.rootDir, n));
  for (const d of dumps) {
    assert.equal(d.format, 1);
    assert.deepEqual(d.blocks, dumps[0].blocks, "every node holds the same chain");
  }
});

test(
  "a preview of the enclave change lists the stages and changes nothing",
  { timeout: 120_000 },
  async () => {
    await net.stack.setConfig("flagday:release", { value: "v2.0.0" });
    await openWindow(net.stack, net.log);
    const heightBefore = ledgerDump(net.rootDir, "node1").blocks.length;
    const events: EngineEvent[] = [];
    await net.stack.preview({ onEvent: (e) => events.push(e) });
    const planned = resourceSteps(events).filter((s) => s.op !== "same");
    const { network } = await layout(net.stack);
    const stages = new Set(planned.map((s) => stageOfStep(s.name, network)).filter(Boolean));
    for (const s of FLAG_DAY) assert.ok(stages.has(s.name), `preview shows the ${s.name} stage`);
    // Nothing ran: same ledger, still v1, ingress still serving clients.
    assert.equal(ledgerDump(net.rootDir, "node1").blocks.length, heightBefore);
    const { nodes, ingress } = await layout(net.stack);
    const info = (await (await fetch(`${nodes[0].admin}/info`)).json()) as {
      build_info: { mrenclave: string };
    };
    assert.equal(info.build_info.mrenclave, V1_MRENCLAVE);
    assert.equal(await probeIngress(ingress.listen), "served");
    await net.stack.setConfig("flagday:release", { value: "v1.0.0" });
  },
);

test(
  "the flag day runs in stage order, keeps every block and migrates the ledger",
  { timeout: 300_000 },
  async () => {
    const before = Object.fromEntries(NODES.map((n) => [n, ledgerDump(net.rootDir, n)]));
    const report = await flagDay(net.stack, "v2.0.0", net.log);

    // The engine's step order is the stage order: a stage's first step starts only after every step of the
    // stage before it has started (barriers are the graph's; same-node stages may interleave across nodes).
    // A branch stage (seal) starts as soon as its own node's `after` stage is done, beside the stages listed
    // before it: it is checked against that stage and the one after it, not in the linear order.
    const branches = FLAG_DAY.filter((s) => s.scope === "node" && s.after);
    const order = FLAG_DAY.filter((s) => !branches.includes(s)).map((s) => s.name);
    const firstStep = report.steps
      .filter((s) => s.op !== "same" && s.op !== "delete" && s.op !== "delete-replaced")
      .map((s) => stageOfStep(s.name, report.network))
      .filter((s): s is NonNullable<typeof s> => s !== undefined);
    const firstIndex = order.map((s) => firstStep.indexOf(s));
    assert.ok(
      firstIndex.every((i) => i >= 0),
      `every stage ran: ${JSON.stringify(firstIndex)}`,
    );
    assert.deepEqual(
      [...firstIndex].sort((a, b) => a - b),
      firstIndex,
      `stages start in order: ${firstStep.join(" ")}`,
    );
    const linear = report.stages.filter((x) => !branches.some((b) => b.name === x.stage));
    for (let k = 1; k < linear.length; k++) {
      assert.ok(linear[k].start >= linear[k - 1].start, `${linear[k].stage} after ${linear[k - 1].stage}`);
    }
    for (const b of branches) {
      const at = (name: string) => report.stages.find((x) => x.stage === name);
      const branch = at(b.name);
      const from = at((b as { after: string }).after);
      const next = FLAG_DAY[FLAG_DAY.indexOf(b) + 1];
      assert.ok(branch && from && branch.start >= from.start, `${b.name} starts after ${from?.stage}`);
      assert.ok(at(next.name)!.start >= branch.end, `${next.name} waits for every ${b.name}`);
    }

    // No health check is deleted inside the window: each is re-run after the live stage, new one first (a
    // check keyed on its server's id was deleted ahead of every old server, two state saves per node).
    const acceptAt = report.steps.findIndex((s) => stageOfStep(s.name, report.network) === "ingress-accept");
    const deletedChecks = report.steps
      .slice(0, acceptAt)
      .filter((s) => s.name.endsWith("-healthy") && s.op.startsWith("delete"))
      .map((s) => s.name);
    assert.ok(acceptAt > 0, "the ingress reopened");
    assert.deepEqual(deletedChecks, [], "health checks deleted before the ingress reopened");

    // Every block from before the window is there afterwards, with the same id, and the ledger is format 2.
    for (const n of NODES) {
      const afterDump = ledgerDump(net.rootDir, n);
      assert.equal(afterDump.format, 2, `${n} ledger migrated`);
      assert.deepEqual(
        afterDump.blocks.slice(0, before[n].blocks.length),
        before[n].blocks,
        `${n} kept every block`,
      );
      assert.ok(afterDump.blocks.length > before[n].blocks.length, `${n} made new blocks on v2`);
    }
    for (const s of report.after.nodes) assert.equal(s.mrenclave, V2_MRENCLAVE);

    // Clients were refused during the window and served after it.
    assert.ok(report.clientProbes.during.length > 0, "the window was probed");
    assert.ok(
      report.clientProbes.during.every((p) => p === "refused"),
      JSON.stringify(report.clientProbes.during),
    );
    assert.equal(report.clientProbes.after, "served");
    assert.ok(report.downtimeMs > 0);

    const record = report.outputs.flagday as {
      history: { outcome: string; snapshots: Record<string, { height: number }> }[];
    };
    assert.equal(record.history.length, 1);
    assert.equal(record.history[0].outcome, "completed");
    assert.equal(record.history[0].snapshots.node1.height, before.node1.blocks.length);

    // `pulumi up`'s own output says where the flag day is: the program's info messages as steps complete.
    const said = report.timed
      .map(({ event }) => event.diagnosticEvent?.message ?? "")
      .filter((m) => /^stage \d+ of \d+, /.test(m));
    const m = FLAG_DAY.length;
    const n = NODES.length;
    for (const line of [
      `stage 1 of ${m}, warm-snapshot: ${n} of ${n} node(s) done`,
      `stage ${m} of ${m}, live: done`,
    ]) {
      assert.ok(
        said.some((x) => x.startsWith(line)),
        `${line} in:\n${said.join("")}`,
      );
    }
  },
);

test("the state keeps each resource's source position, not the whole stack it was made in", async () => {
  // keepSourcePositionsOnly (stacks/index.ts): the engine writes the whole state before and after every step.
  const { resources } = (await net.stack.exportStack()).deployment as {
    resources: { urn: string; custom?: boolean; sourcePosition?: string; stackTrace?: unknown[] }[];
  };
  // The stack's root resource is registered by the SDK before the program is loaded, so before the cut.
  const deep = resources.filter(
    (r) => (r.stackTrace?.length ?? 0) > 1 && !r.urn.includes("::pulumi:pulumi:Stack::"),
  );
  assert.ok(resources.length > 30, `${resources.length} resources`);
  assert.deepEqual(
    deep.map((r) => `${r.urn}: ${r.stackTrace!.length} frames`),
    [],
    "no resource keeps more than its first frame",
  );
  // What is kept is the source position: the flag day's own steps name the flagday file that made them.
  const steps = resources.filter((r) => r.custom && r.urn.endsWith("-stop"));
  assert.equal(steps.length, NODES.length);
  for (const r of steps) assert.match(r.sourcePosition ?? "", /^project:\/\/\/components\/.+\.ts#\d+/, r.urn);
});

test("a re-run with nothing changed runs no stage", { timeout: 120_000 }, async () => {
  const events: EngineEvent[] = [];
  const outputsBefore = JSON.stringify(await net.stack.outputs());
  const res = await net.stack.up({ onEvent: (e) => events.push(e) });
  assert.equal(JSON.stringify(res.outputs), outputsBefore, "the outputs are unchanged too");
  const changed = resourceSteps(events).filter((s) => s.op !== "same" && s.op !== "read");
  assert.deepEqual(changed, [], "no resource step but `same`");
  assert.deepEqual(
    Object.keys(res.summary.resourceChanges ?? {}).filter((k) => k !== "same" && k !== "read"),
    [],
  );
});

test(
  "a change that is not a flag day rolls the nodes one at a time with the ingress open",
  { timeout: 240_000 },
  async () => {
    const { network, ingress } = await layout(net.stack);
    for (let i = 0; i < NODES.length; i++) {
      await net.stack.setConfig(`flagday:network.nodes[${i}].settings.logLevel`, { value: "debug" }, true);
    }
    const probes: string[] = [];
    let rolling = true;
    const prober = (async () => {
      while (rolling) {
        probes.push(await probeIngress(ingress.listen));
        await new Promise((r) => setTimeout(r, 300));
      }
    })();
    const events: EngineEvent[] = [];
    try {
      await net.stack.up({ onEvent: (e) => events.push(e) });
    } finally {
      rolling = false;
      await prober;
    }
    const steps = resourceSteps(events).filter((s) => s.op !== "same" && s.op !== "read");
    const gate = ["ingress-reject", "ingress-accept"];
    assert.ok(!steps.some((s) => gate.includes(stageOfStep(s.name, network) ?? "")), "no ingress gate step");
    // Node i+1's server is replaced only after node i is healthy again.
    const at = (name: string, op: string) =>
      events.findIndex(
        (e) => e.resOutputsEvent?.metadata.op === op && e.resOutputsEvent.metadata.urn.endsWith(`::${name}`),
      );
    const startOf = (name: string) =>
      events.findIndex(
        (e) =>
          e.resourcePreEvent &&
          e.resourcePreEvent.metadata.op !== "same" &&
          e.resourcePreEvent.metadata.urn.endsWith(`::${name}`),
      );
    for (let i = 1; i < NODES.length; i++) {
      const healthyPrev = at(healthyName(network, NODES[i - 1]), "create-replacement");
      assert.ok(healthyPrev >= 0, `${NODES[i - 1]} health checked`);
      assert.ok(
        startOf(serverName(network, NODES[i])) > healthyPrev,
        `${NODES[i]} replaced after ${NODES[i - 1]} was healthy`,
      );
    }
    assert.ok(
      probes.length > 0 && probes.every((p) => p === "served"),
      `clients served throughout: ${probes.join(",")}`,
    );
  },
);
