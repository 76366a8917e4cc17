// A stopping node drains: new connections are refused at connect (so the ingress fails over to another
// node), a request already on its way is answered, and an idle keep-alive connection does not hold the stop.

import assert from "node:assert/strict";
import * as net from "node:net";
import { after, before, test } from "node:test";
import { SimNode } from "../../rehearsal/sim/node";
import { makeLogger } from "../../rehearsal/sim/util";
import { destroyNet, makeNet, type TestNet } from "./helpers";

let t: TestNet;
let node: SimNode;
before(async () => {
  t = await makeNet(1, 1);
  node = new SimNode(t.configs[0], makeLogger("node1", "error"), { slotMs: 40 });
  await node.start();
});
after(async () => {
  await node.stop();
  await destroyNet(t);
});

const connect = (port: number) =>
  new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect(port, "127.0.0.1", () => resolve(s));
    s.once("error", reject);
  });
const everything = (s: net.Socket) =>
  new Promise<string>((resolve) => {
    let got = "";
    s.on("data", (d) => (got += d.toString()));
    s.on("error", () => undefined);
    s.on("close", () => resolve(got));
  });

test("stop: a request in flight is answered, an idle keep-alive is closed, new connects are refused", async () => {
  const port = t.configs[0].ports.client;
  const inFlight = await connect(port);
  const inFlightReply = everything(inFlight);
  inFlight.write("GET /balance/alice HTTP/1.1\r\nHost: x\r\n"); // headers not finished yet
  const idle = await connect(port);
  const idleReply = everything(idle);
  idle.write("GET /balance/alice HTTP/1.1\r\nHost: x\r\n\r\n"); // answered, then kept alive
  await new Promise<void>((resolve) => idle.once("data", () => resolve()));
  await new Promise((r) => setTimeout(r, 50)); // both requests have reached the server

  const stopped = node.stop();
  await assert.rejects(connect(port), /ECONNREFUSED/, "a new connection is refused while stopping");
  inFlight.write("Connection: keep-alive\r\n\r\n");
  const reply = await inFlightReply;
  assert.match(reply, /^HTTP\/1\.1 503 /, `the request in flight is answered: ${JSON.stringify(reply)}`);
  assert.match(reply, /stopping/);
  assert.match(await idleReply, /^HTTP\/1\.1 200 /, "the idle connection kept its answer and was closed");
  await stopped;
});
