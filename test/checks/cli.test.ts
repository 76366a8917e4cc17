// flagday CLI end to end against a small simulated network.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import {
  destroyNet,
  flagday,
  hex,
  makeIngressConfig,
  makeNet,
  pay,
  sim,
  startNodes,
  stopNodes,
  type TestNet,
  waitFor,
  height,
} from "../sim/helpers";

describe("flagday CLI against the simulator", () => {
  let t: TestNet;
  let nodesFile: string;
  let ingressDir: string;
  let control: string;

  before(async () => {
    t = await makeNet(3, 2);
    await startNodes(t);
    nodesFile = path.join(t.root, "nodes.json");
    fs.writeFileSync(
      nodesFile,
      JSON.stringify(
        t.configs.map((c) => ({
          name: c.name,
          admin: `http://127.0.0.1:${c.ports.admin}`,
          client: `http://127.0.0.1:${c.ports.client}`,
        })),
      ),
    );
    const ing = await makeIngressConfig(t.root, t.configs);
    ingressDir = ing.cfg.dir;
    control = `http://127.0.0.1:${ing.cfg.control}`;
    assert.equal((await sim("ingress", "start", "--config", ing.file)).code, 0);
  });
  after(() => destroyNet(t, [ingressDir]));

  test("status prints a table, --json parses, and an unreachable node fails naming it", async () => {
    const r = await flagday("status", "--nodes", nodesFile);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^node\s+\| height \| sync\s+\| release \| MRENCLAVE\s+\| peers/m);
    assert.match(r.stdout, /node2 \| 1\s+\| synced \| v1\.0\.0\s+\| aaaaaaaaaaaa…/);
    const j = await flagday("status", "--nodes", nodesFile, "--json");
    const st = JSON.parse(j.stdout);
    assert.equal(st.length, 3);
    assert.equal(st[0].mrenclave, hex("a"));
    const bad = await flagday(
      "status",
      "--admin",
      `node1=http://127.0.0.1:${t.configs[0].ports.admin}`,
      "--admin",
      "ghost=http://127.0.0.1:1",
      "--request-timeout",
      "1",
    );
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^FAIL status: unreachable: ghost/m);
    const usage = await flagday("status");
    assert.equal(usage.code, 2);
  });

  test("txtest runs all four checks and prints a table; a failing --command fails its check", async () => {
    const r = await flagday("txtest", "--nodes", nodesFile, "--timeout", "15");
    assert.equal(r.code, 0, r.stdout + r.stderr);
    for (const c of ["self-payment", "cross-payment", "fog", "non-fog"]) {
      assert.match(r.stdout, new RegExp(`^${c}\\s+\\| PASS\\s+\\| \\d+\\.\\d\\ds`, "m"));
    }
    assert.match(r.stdout, /double spend refused/);
    // Checks that share no wallet run at the same time; self-payment and non-fog (both touch alice) in turn.
    const row = (c: string) => {
      const m = new RegExp(`^${c}\\s+\\| PASS\\s+\\| (\\d+\\.\\d\\d)s\\s+\\| \\+(\\d+\\.\\d\\d)s`, "m").exec(
        r.stdout,
      );
      assert.ok(m, `${c} row with its time and start in:\n${r.stdout}`);
      return { time: Number(m[1]), started: Number(m[2]) };
    };
    const [self, cross, fog, nonFog] = ["self-payment", "cross-payment", "fog", "non-fog"].map(row);
    const selfEnds = self.started + self.time;
    // The table rounds to 0.01 s: allow that much either way.
    assert.ok(cross.started < selfEnds - 0.01 && fog.started < selfEnds - 0.01, r.stdout);
    assert.ok(nonFog.started >= selfEnds - 0.01, r.stdout);
    const cmd = await flagday(
      "txtest",
      "--nodes",
      nodesFile,
      "--only",
      "mobilecoind,fog",
      "--command",
      "mobilecoind=echo paid; exit 0",
      "--command",
      "fog=echo boom >&2; exit 3",
    );
    assert.equal(cmd.code, 1);
    assert.match(cmd.stdout, /^mobilecoind \| PASS .*command exited 0: paid/m);
    assert.match(cmd.stdout, /^fog\s+\| FAIL .*command exited 3: boom/m);
    assert.match(cmd.stderr, /FAIL txtest: fog: command exited 3/);
  });

  test("quiesce passes on a quiet network and fails (timeout) while a tx is stuck pending", async () => {
    const q = await flagday(
      "quiesce",
      "--nodes",
      nodesFile,
      "--quiet-period",
      "0.5",
      "--timeout",
      "10",
      "--interval",
      "0.1",
    );
    assert.equal(q.code, 0, q.stdout + q.stderr);
    assert.match(q.stdout, /OK quiesce: quiet: 3 nodes at height \d+/);

    // Two nodes down: node1 alone cannot reach threshold 2, its tx stays pending.
    await stopNodes(t, [1, 2]);
    assert.equal((await pay(t.configs[0], "alice", "bob", 1)).status, 200);
    const fail = await flagday(
      "quiesce",
      "--admin",
      `node1=http://127.0.0.1:${t.configs[0].ports.admin}`,
      "--quiet-period",
      "0.3",
      "--timeout",
      "1",
      "--interval",
      "0.1",
    );
    assert.equal(fail.code, 1);
    assert.match(fail.stderr, /FAIL quiesce: not quiet after 1s: pending values: node1=1/);
    await startNodes(t, [1, 2]);
    await waitFor("pending tx committed", async () =>
      (await Promise.all(t.configs.map(height))).every((h, _, a) => h === a[0] && h > 1),
    );
  });

  test("attest --submit-tx passes on the expected MRENCLAVE and fails fast on another", async () => {
    const ok = await flagday(
      "attest",
      "--nodes",
      nodesFile,
      "--mrenclave",
      hex("a"),
      "--timeout",
      "15",
      "--submit-tx",
      "--interval",
      "0.1",
    );
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(
      ok.stdout,
      /OK attest: attested: all 3 nodes on aaaaaaaaaaaa…, new block\(s\) up to height \d+/,
    );
    const bad = await flagday(
      "attest",
      "--nodes",
      nodesFile,
      "--mrenclave",
      hex("b"),
      "--timeout",
      "15",
      "--interval",
      "0.1",
    );
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /FAIL attest: wrong MRENCLAVE: node1=aaaa.*node2=aaaa.*node3=aaaa/);
  });

  test("live --traffic sees the height advance; a stalled network fails", async () => {
    const ok = await flagday(
      "live",
      "--nodes",
      nodesFile,
      "--period",
      "2.5",
      "--traffic",
      "--interval",
      "0.1",
      "--stall",
      "2",
    );
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /OK live: live: height \d+ -> \d+ over \ds, no stall, 2 payments submitted/);

    await stopNodes(t, [1, 2]);
    const stalled = await flagday(
      "live",
      "--admin",
      `node1=http://127.0.0.1:${t.configs[0].ports.admin}`,
      "--client",
      `node1=http://127.0.0.1:${t.configs[0].ports.client}`,
      "--period",
      "3",
      "--traffic",
      "--stall",
      "1",
      "--interval",
      "0.1",
    );
    assert.equal(stalled.code, 1);
    assert.match(
      stalled.stderr,
      /FAIL live: stall: no new block for 1(\.\d)?s at height \d+ with pending values on node1=1/,
    );
    await startNodes(t, [1, 2]);
  });

  test("ingress reject/state/accept", async () => {
    const rj = await flagday("ingress", "reject", "--control", control);
    assert.equal(rj.code, 0, rj.stderr);
    assert.match(rj.stdout, /OK ingress reject: client connections REJECTED since /);
    const st = await flagday("ingress", "state", "--control", control);
    assert.match(st.stdout, /REJECTED/);
    const ac = await flagday("ingress", "accept", "--control", control);
    assert.match(ac.stdout, /OK ingress accept: client connections ACCEPTED/);
    const down = await flagday(
      "ingress",
      "state",
      "--control",
      "http://127.0.0.1:1",
      "--request-timeout",
      "1",
    );
    assert.equal(down.code, 1);
    assert.match(down.stderr, /FAIL ingress state: http:\/\/127\.0\.0\.1:1/);
  });
});
