/**
 * Testnet first through the real engine (issue 10): a testnet stack and a mainnet stack on one state backend,
 * the mainnet stack naming the testnet one in `flagday:testnetStack` (README, "Using it on testnet and mainnet",
 * step 5). Mainnet's flag day `up` is refused before anything changes until the same release completed a flag
 * day on testnet; its preview works all along; once testnet is done, mainnet goes ahead with no override. A
 * third stack, pointed at the same testnet, goes first with `flagday:testnetOverride`, recorded in its history.
 */
import { after, before, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { EngineEvent } from "@pulumi/pulumi/automation";
import type { Deployed } from "../../components/plan";
import { bringUp, flagDay, layout, openWindow, resourceSteps } from "../../rehearsal/run";
import { stackReferenceName } from "../../rehearsal/scratch";
import { ledgerDump, testNetwork, TestNetwork } from "./rehearsal-harness";

const NODES = 3;
const V1_KEY = "v1.0.0-8224f1e6";
const V2_MRENCLAVE = "326b1a950e55d1cba47e5e4c7c8d9b8ddfae4a10a3d822382c137d9bf3930548";
const V1_MRENCLAVE = "8224f1e6433d814d03de7a7d8fab7969d9b44e2cec09bd0a071e51e8dca6bd4c";

let stateDir: string;
let testnet: TestNetwork;
let mainnet: TestNetwork;
/** A second mainnet-like stack that goes first with the override (one node is enough for that). */
let early: TestNetwork;
let testnetRef: string;
const OVERRIDE = "testnet is down; agreed on the call";

before(async () => {
  // The shared backend is this test's: each network's cleanup removes only its own stack from it.
  stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "flagday-testnet-first-state-"));
  testnet = await testNetwork("testnet", { nodes: NODES, stateDir });
  testnetRef = stackReferenceName(testnet.name);
  mainnet = await testNetwork("mainnet", {
    nodes: NODES,
    stateDir,
    config: { "flagday:testnetStack": testnetRef },
  });
  early = await testNetwork("early", { nodes: 1, stateDir, config: { "flagday:testnetStack": testnetRef } });
});
after(async () => {
  await Promise.allSettled([testnet?.cleanup(), mainnet?.cleanup(), early?.cleanup()]);
  if (stateDir) fs.rmSync(stateDir, { recursive: true, force: true });
});

const recordOf = async (net: TestNetwork) => (await net.stack.outputs()).flagday?.value as Deployed;

async function mrenclaves(net: TestNetwork): Promise<string[]> {
  const { nodes } = await layout(net.stack);
  return Promise.all(
    nodes.map(async (n) => {
      const info = (await (await fetch(`${n.admin}/info`)).json()) as { build_info: { mrenclave: string } };
      return info.build_info.mrenclave;
    }),
  );
}

test("a testnet and a mainnet network come up on v1.0.0 on one backend", { timeout: 180_000 }, async () => {
  const [t, m, e] = await Promise.all(
    [testnet, mainnet, early].map((net) => bringUp(net.stack, "v1.0.0", net.log)),
  );
  assert.equal(t.summary.result, "succeeded");
  assert.equal(m.summary.result, "succeeded", "a first deployment is not a flag day: no testnet check");
  assert.equal(e.summary.result, "succeeded");
  assert.equal(new Set([testnet, mainnet, early].map((n) => n.basePort)).size, 3, "each its own ports");
  assert.equal(new Set([testnet, mainnet, early].map((n) => n.rootDir)).size, 3, "each its own folder");
});

test(
  "mainnet's flag day is refused before any change while testnet has not completed it; preview works",
  { timeout: 120_000 },
  async () => {
    await mainnet.stack.setConfig("flagday:release", { value: "v2.0.0" });
    await openWindow(mainnet.stack, mainnet.log);
    await testnet.stack.setConfig("flagday:release", { value: "v2.0.0" });
    await openWindow(testnet.stack, testnet.log);
    const ledgerBefore = ledgerDump(mainnet.rootDir, "node1");
    const outputsBefore = JSON.stringify(await mainnet.stack.outputs());

    const events: EngineEvent[] = [];
    await assert.rejects(mainnet.stack.up({ onEvent: (e) => events.push(e) }), (e: Error) => {
      // testnetRefusal's text: the reference resolved (it read testnet's record, v1.0.0), and it names the
      // testnet stack and the release.
      assert.ok(
        e.message.includes(
          `flagday: release v2.0.0 has not completed a flag day on the testnet stack ${testnetRef}; ` +
            `its last recorded release is ${V1_KEY}. Run the flag day on testnet first, or set ` +
            `flagday:testnetOverride to the reason (recorded in the history).`,
        ),
        e.message,
      );
      return true;
    });
    const changed = resourceSteps(events).filter((s) => s.op !== "same" && s.op !== "read");
    assert.deepEqual(changed, [], "the refused up ran no step");
    assert.deepEqual(ledgerDump(mainnet.rootDir, "node1"), ledgerBefore, "the mainnet ledger is unchanged");
    assert.equal(JSON.stringify(await mainnet.stack.outputs()), outputsBefore, "the record is unchanged");
    assert.deepEqual(await mrenclaves(mainnet), Array(NODES).fill(V1_MRENCLAVE), "mainnet still runs v1");

    // The preview shows the flag day (and says why `up` would refuse it), changing nothing.
    const previewEvents: EngineEvent[] = [];
    const preview = await mainnet.stack.preview({ onEvent: (e) => previewEvents.push(e) });
    assert.ok(
      resourceSteps(previewEvents).some((s) => s.op !== "same" && s.op !== "read"),
      "the preview lists the flag day's steps",
    );
    assert.match(
      preview.stdout,
      new RegExp(`has not completed a flag day on the testnet stack ${testnetRef}`),
    );
    assert.deepEqual(ledgerDump(mainnet.rootDir, "node1"), ledgerBefore);
  },
);

test(
  "with flagday:testnetOverride a mainnet goes first, and its history records the override",
  { timeout: 240_000 },
  async () => {
    await early.stack.setConfig("flagday:testnetOverride", { value: OVERRIDE });
    const report = await flagDay(early.stack, "v2.0.0", early.log);
    for (const s of report.after.nodes) assert.equal(s.mrenclave, V2_MRENCLAVE);
    const record = report.outputs.flagday as Deployed;
    assert.equal(record.history.length, 1);
    assert.equal(record.history[0].outcome, "completed");
    assert.deepEqual(record.history[0].overrides, [`testnet-skipped: ${OVERRIDE}`]);
    // Testnet itself is still on v1: the override, not testnet, let this one through.
    assert.equal((await recordOf(testnet)).release.version, "v1.0.0");
  },
);

test("testnet's flag day to v2.0.0 completes", { timeout: 240_000 }, async () => {
  const report = await flagDay(testnet.stack, "v2.0.0", testnet.log);
  for (const s of report.after.nodes) assert.equal(s.mrenclave, V2_MRENCLAVE);
  const record = report.outputs.flagday as Deployed;
  assert.equal(record.history.at(-1)?.outcome, "completed");
  assert.equal(record.history.at(-1)?.sequence, "flag-day");
});

test("then mainnet's flag day goes ahead, with no override", { timeout: 240_000 }, async () => {
  assert.equal((await mainnet.stack.getAllConfig())["flagday:testnetOverride"], undefined);
  const before = ledgerDump(mainnet.rootDir, "node1");
  const report = await flagDay(mainnet.stack, "v2.0.0", mainnet.log);
  for (const s of report.after.nodes) assert.equal(s.mrenclave, V2_MRENCLAVE);
  const after = ledgerDump(mainnet.rootDir, "node1");
  assert.equal(after.format, 2);
  assert.deepEqual(after.blocks.slice(0, before.blocks.length), before.blocks, "every pre-window block kept");
  const record = await recordOf(mainnet);
  assert.equal(record.history.length, 1);
  assert.equal(record.history[0].outcome, "completed");
  assert.equal(record.history[0].overrides, undefined, "nothing was overridden");
});
