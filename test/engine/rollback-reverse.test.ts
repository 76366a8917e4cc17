/**
 * The rollback by reverse migrations (`rollback-reverse`) through the real engine: a release that ships a
 * reverse migration (the simulator's `migrate --to 1 --reverse`) is rolled back on the ledgers as they are,
 * so the blocks made after the flag day are kept (a restore would drop them), with a snapshot first.
 */
import { after, before, test } from "node:test";
import * as assert from "node:assert/strict";
import { stageOfStep } from "../../components/names";
import { ROLLBACK_REVERSE } from "../../components/stages";
import { bringUp, flagDay, layout, sendTraffic } from "../../rehearsal/run";
import { ledgerDump, testNetwork, TestNetwork } from "./rehearsal-harness";

const NODES = ["node1", "node2", "node3"];
const V1 = "8224f1e6433d814d03de7a7d8fab7969d9b44e2cec09bd0a071e51e8dca6bd4c";
let net: TestNetwork;

before(async () => {
  net = await testNetwork("reverse");
  const releases = JSON.parse((await net.stack.getConfig("flagday:releases")).value);
  releases["v2.0.0"].reverseMigrations = [
    'consensus-service-sim migrate --ledger-db "$LEDGER_DB" --to 1 --reverse',
  ];
  await net.stack.setConfig("flagday:releases", { value: JSON.stringify(releases) });
});
after(async () => {
  await net?.cleanup();
});

test(
  "a rollback with the release's reverse migrations keeps every block, the ones made since included",
  { timeout: 420_000 },
  async () => {
    await bringUp(net.stack, "v1.0.0", net.log);
    await sendTraffic(net.stack, 3, net.log);
    const up = await flagDay(net.stack, "v2.0.0", net.log);
    assert.equal(up.sequence, "flag-day");
    for (const n of NODES) assert.equal(ledgerDump(net.rootDir, n).format, 2);
    // Clients were served after the flag day: these blocks exist only on the migrated ledgers.
    await sendTraffic(net.stack, 2, net.log);
    const before = NODES.map((n) => ledgerDump(net.rootDir, n));

    const back = await flagDay(net.stack, "v1.0.0", net.log);
    assert.equal(back.sequence, "rollback-reverse");
    const ran = new Set(
      back.steps
        .filter((s) => s.op === "create" || s.op === "create-replacement")
        .map((s) => stageOfStep(s.name, back.network))
        .filter(Boolean),
    );
    for (const s of ROLLBACK_REVERSE) assert.ok(ran.has(s.name), `the rollback ran its ${s.name} stage`);
    assert.ok(!ran.has("restore"), "nothing restored from a snapshot");
    NODES.forEach((n, i) => {
      const after = ledgerDump(net.rootDir, n);
      assert.equal(after.format, 1, `${n}: back on the old ledger format`);
      assert.deepEqual(
        after.blocks.slice(0, before[i].blocks.length),
        before[i].blocks,
        `${n}: every block kept`,
      );
    });
    const { nodes } = await layout(net.stack);
    for (const n of nodes) {
      const info = (await (await fetch(`${n.admin}/info`)).json()) as { build_info: { mrenclave: string } };
      assert.equal(info.build_info.mrenclave, V1, `${n.name} runs the old enclave`);
    }
    const record = back.outputs.flagday as { history: { sequence: string; outcome: string }[] };
    assert.deepEqual(
      record.history.map((h) => [h.sequence, h.outcome]),
      [
        ["flag-day", "completed"],
        ["rollback-reverse", "completed"],
      ],
    );
  },
);
