import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { after, before, test } from "node:test";
import {
  destroyNet,
  getJson,
  makeIngressConfig,
  makeNet,
  postJson,
  sim,
  startNodes,
  type TestNet,
  waitFor,
} from "./helpers";
import type { IngressConfig } from "../../components/local/simConfig";

let t: TestNet;
let ing: { file: string; cfg: IngressConfig };
let control: string;
let front: string;

before(async () => {
  t = await makeNet(2, 2);
  await startNodes(t);
  ing = await makeIngressConfig(t.root, t.configs);
  const r = await sim("ingress", "start", "--config", ing.file);
  assert.equal(r.code, 0, r.stderr);
  control = `http://127.0.0.1:${ing.cfg.control}`;
  front = `http://127.0.0.1:${ing.cfg.listen}`;
});
after(() => destroyNet(t, [ing.cfg.dir]));

/** Plain TCP connect + one HTTP request on a fresh connection (no keep-alive pool between tests). */
function rawGet(port: number, p: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, "127.0.0.1");
    let out = "";
    s.setTimeout(3000, () => s.destroy(new Error("timeout")));
    s.on("connect", () => s.write(`GET ${p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    s.on("data", (d) => (out += d));
    s.on("end", () => resolve(out));
    s.on("error", reject);
  });
}

test("clients are served while accepted, refused while rejected, served again after accept", async () => {
  assert.deepEqual((await getJson(`${control}/state`)).body.state, "accept");
  assert.match(await rawGet(ing.cfg.listen, "/balance/alice"), /200 OK[\s\S]*"balance":1000000/);

  // An established client connection survives the switch to reject.
  const established = net.connect(ing.cfg.listen, "127.0.0.1");
  await new Promise((r) => established.once("connect", r));

  const rj = await postJson(`${control}/reject`);
  assert.equal(rj.body.state, "reject");
  await assert.rejects(rawGet(ing.cfg.listen, "/balance/alice"), /ECONNRESET|socket hang up|EPIPE/);
  await assert.rejects(fetch(`${front}/balance/alice`, { signal: AbortSignal.timeout(3000) }));

  // The established connection still works while rejecting.
  const reply = await new Promise<string>((resolve, reject) => {
    let out = "";
    established.on("data", (d) => (out += d));
    established.on("end", () => resolve(out));
    established.on("error", reject);
    established.write("GET /balance/bob HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  });
  assert.match(reply, /200 OK[\s\S]*"account":"bob"/);

  // Peer ports never go through the ingress: consensus carries on, and a payment submitted directly to a
  // node (operators' txtest path) still commits.
  const p = await postJson(`http://127.0.0.1:${t.configs[0].ports.client}/tx`, {
    from: "alice",
    to: "bob",
    amount: 2,
  });
  assert.equal(p.status, 200);
  await waitFor("commit while rejected", async () => {
    const s = await getJson(`http://127.0.0.1:${t.configs[1].ports.client}/tx/${p.body.tx_id}`);
    return s.body.status === "committed";
  });

  const ac = await postJson(`${control}/accept`);
  assert.equal(ac.body.state, "accept");
  assert.match(await rawGet(ing.cfg.listen, "/balance/bob"), /"balance":1000002/);
});

test("the state survives an ingress restart", async () => {
  await postJson(`${control}/reject`);
  const saved = JSON.parse(fs.readFileSync(path.join(ing.cfg.dir, "ingress-state.json"), "utf8"));
  assert.equal(saved.state, "reject");
  assert.equal((await sim("ingress", "stop", "--dir", ing.cfg.dir)).code, 0);
  const again = await sim("ingress", "stop", "--dir", ing.cfg.dir);
  assert.match(again.stdout, /already stopped/);
  assert.equal((await sim("ingress", "start", "--config", ing.file)).code, 0);
  const st = (await getJson(`${control}/state`)).body;
  assert.equal(st.state, "reject");
  assert.equal(st.since, saved.since);
  await assert.rejects(rawGet(ing.cfg.listen, "/balance/alice"));
  await postJson(`${control}/accept`);
  assert.match(await rawGet(ing.cfg.listen, "/balance/alice"), /200 OK/);
});

test("round-robin over upstreams with failover when one node is down", async () => {
  for (let i = 0; i < 4; i++) assert.match(await rawGet(ing.cfg.listen, "/last-block-info"), /200 OK/);
  // With node1 down, every other new connection is first routed to it and must fail over to node2.
  assert.equal((await sim("stop", "--dir", t.configs[0].dir)).code, 0);
  for (let i = 0; i < 3; i++) assert.match(await rawGet(ing.cfg.listen, "/balance/alice"), /200 OK/);
  assert.equal((await sim("start", "--config", t.configFiles[0])).code, 0);
});
