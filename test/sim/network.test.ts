import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import {
  destroyNet,
  dump,
  getJson,
  hex,
  height,
  info,
  makeNet,
  pay,
  RELEASE_A,
  RELEASE_B,
  sim,
  startNodes,
  stopNodes,
  type TestNet,
  waitFor,
} from "./helpers";

const heights = (t: TestNet) => Promise.all(t.configs.map(height));
const allAt = async (t: TestNet, h: number) => (await heights(t)).every((x) => x === h);

describe("3-node simulated network, threshold 2", () => {
  let t: TestNet;
  before(async () => {
    t = await makeNet(3, 2);
    await startNodes(t);
  });
  after(() => destroyNet(t));

  test("payments commit on all nodes with identical hashes and balances", async () => {
    await waitFor("all attested", async () =>
      (await Promise.all(t.configs.map(info))).every((i) => i.attested_peers.length === 2),
    );
    const r = await pay(t.configs[2], "alice", "bob", 25);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    await waitFor("block 1 everywhere", () => allAt(t, 2));
    const tx = await getJson(`http://127.0.0.1:${t.configs[0].ports.client}/tx/${r.body.tx_id}`);
    assert.deepEqual(tx.body, { tx_id: r.body.tx_id, status: "committed", block_index: 1 });
    const infos = await Promise.all(t.configs.map(info));
    assert.equal(new Set(infos.map((i) => i.config.status.latest_block_hash)).size, 1);
    for (const c of t.configs) {
      const b = await getJson(`http://127.0.0.1:${c.ports.client}/balance/bob`);
      assert.equal(b.body.balance, 1_000_025);
    }
    // double spend refused at the client API
    const ds = await pay(t.configs[0], "carol", "dave", 2_000_000);
    assert.equal(ds.status, 400);
    assert.match(ds.body.error, /double spend/);
    // no transactions, no blocks
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(await heights(t), [2, 2, 2]);
    // metrics
    const m = await fetch(`http://127.0.0.1:${t.configs[0].ports.admin}/metrics`).then((x) => x.text());
    assert.match(m, /consensus_scp_gauge\{op="cur_num_pending_values"\} 0/);
    assert.match(m, /consensus_scp_gauge\{op="cur_slot_num"\} 2/);
    const ds2 = JSON.parse(
      fs.readFileSync(path.join(t.configs[1].dir, "ledger/.distribution-state"), "utf8"),
    );
    assert.deepEqual(ds2, { next_block: 2 });
  });

  test("a node that was down catches up; stop/start keeps the ledger; stop is idempotent", async () => {
    await stopNodes(t, [2]);
    const again = await sim("stop", "--dir", t.configs[2].dir);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /already stopped/);
    const start = (await heights({ ...t, configs: t.configs.slice(0, 2) }))[0];
    for (let i = 0; i < 3; i++) {
      const r = await pay(t.configs[i % 2], "carol", "dave", 1);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      await waitFor(
        `block ${start + i}`,
        async () =>
          (await height(t.configs[0])) === start + i + 1 && (await height(t.configs[1])) === start + i + 1,
      );
    }
    const before3 = await dump(t.configs[2]);
    assert.equal(before3.blocks.length, start, "node3's ledger kept what it had when stopped");
    await startNodes(t, [2]);
    await waitFor("node3 caught up", () => allAt(t, start + 3));
    const logFile = path.join(t.configs[2].dir, "node.log");
    await waitFor("synced logged", async () => /synced at height/.test(fs.readFileSync(logFile, "utf8")));
    assert.match(fs.readFileSync(logFile, "utf8"), /behind: height \d+, node\d has \d+; catching up/);
    await stopNodes(t);
    const dumps = await Promise.all(t.configs.map(dump));
    assert.deepEqual(dumps[0], dumps[1]);
    assert.deepEqual(dumps[0], dumps[2]);
    await startNodes(t);
    assert.deepEqual(await heights(t), [start + 3, start + 3, start + 3]);
  });

  test("a node on a different MRENCLAVE is refused by its peers; the matching pair carries on", async () => {
    await stopNodes(t, [0]);
    t.writeConfig(0, { ...t.configs[0], release: { ...t.configs[0].release, mrenclave: hex("c") } });
    await startNodes(t, [0]);
    const h0 = await height(t.configs[1]);
    await waitFor("refusal logged", async () =>
      /refused attestation from node1 .*MRENCLAVE mismatch/.test(
        fs.readFileSync(path.join(t.configs[1].dir, "node.log"), "utf8"),
      ),
    );
    const r = await pay(t.configs[1], "alice", "carol", 3);
    assert.equal(r.status, 200);
    await waitFor(
      "node2+node3 commit",
      async () => (await height(t.configs[1])) === h0 + 1 && (await height(t.configs[2])) === h0 + 1,
    );
    const i1 = await info(t.configs[0]);
    assert.deepEqual(i1.attested_peers, []);
    assert.equal(i1.config.status.block_height, h0, "refused node gets no blocks");
    assert.deepEqual((await info(t.configs[1])).attested_peers, ["node3"]);
  });

  test("with only one node per MRENCLAVE the network stalls: no new block", async () => {
    await stopNodes(t, [2]);
    t.writeConfig(2, { ...t.configs[2], release: { ...t.configs[2].release, mrenclave: hex("d") } });
    await startNodes(t, [2]);
    const hs = await heights(t);
    for (const c of t.configs) assert.equal((await pay(c, "bob", "alice", 1)).status, 200);
    // 40 ms slots: 1.5 s is ~35 slot intervals in which a healthy network commits.
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual(await heights(t), hs);
    for (const c of t.configs) {
      const m = await fetch(`http://127.0.0.1:${c.ports.admin}/metrics`).then((x) => x.text());
      assert.match(m, /consensus_scp_gauge\{op="cur_num_pending_values"\} 1/);
      assert.deepEqual((await info(c)).attested_peers, []);
    }
  });
});

describe("flag day on the simulator: stop, migrate, restart on the new release", () => {
  let t: TestNet;
  before(async () => {
    t = await makeNet(3, 2, RELEASE_A);
    await startNodes(t);
  });
  after(() => destroyNet(t));

  test("new release refuses the old ledger, runs after migration, keeps every block id", async () => {
    assert.equal((await pay(t.configs[0], "alice", "bob", 1)).status, 200);
    await waitFor("block 1", () => allAt(t, 2));
    await stopNodes(t);
    const old = await Promise.all(t.configs.map(dump));
    t.configs.forEach((c, i) => t.writeConfig(i, { ...c, release: { ...RELEASE_B } }));

    const refused = await sim("start", "--config", t.configFiles[0]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /ledger format version 1, but this release reads format 2/);

    for (const c of t.configs) {
      const m = await sim("migrate", "--ledger-db", path.join(c.dir, "ledger"));
      assert.equal(m.code, 0, m.stderr);
    }
    const migrated = await Promise.all(t.configs.map(dump));
    migrated.forEach((d, i) => {
      assert.equal(d.format, 2);
      assert.deepEqual(d.blocks, old[i].blocks);
    });
    await startNodes(t);
    const i0 = await info(t.configs[0]);
    assert.equal(i0.build_info.mrenclave, RELEASE_B.mrenclave);
    assert.equal(i0.config.status.version, "v2.0.0");
    assert.equal((await pay(t.configs[1], "bob", "alice", 1)).status, 200);
    await waitFor("block 2 on the new release", () => allAt(t, 3));
  });
});
