/**
 * The state-backend bench's own parts: the proxy that stands in for a remote S3 (it passes every request on,
 * records it, and holds it for the modelled latency) and the count of the stack's state traffic in the window.
 */
import assert from "node:assert/strict";
import * as http from "node:http";
import { AddressInfo } from "node:net";
import { test } from "node:test";
import { delayingProxy, StateRequest, stateTraffic } from "../../bench/stateBackend";

test("the proxy passes requests and answers on, records each, and holds each for its delay", async () => {
  const seen: string[] = [];
  const upstream = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      seen.push(`${req.method} ${req.url} ${body}`);
      res.writeHead(201, { "x-upstream": "yes" });
      res.end("stored");
    });
  });
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", () => r()));
  const proxy = await delayingProxy(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}`, 150);
  try {
    const before = Date.now();
    const res = await fetch(`${proxy.endpoint}/flagday-state/key?x=1`, { method: "PUT", body: "state" });
    const took = Date.now() - before;
    assert.equal(res.status, 201);
    assert.equal(res.headers.get("x-upstream"), "yes");
    assert.equal(await res.text(), "stored");
    assert.deepEqual(seen, ["PUT /flagday-state/key?x=1 state"]);
    assert.ok(took >= 150, `answered after ${took} ms, before the 150 ms delay`);
    assert.equal(proxy.requests.length, 1);
    assert.deepEqual(
      { method: proxy.requests[0].method, path: proxy.requests[0].path },
      { method: "PUT", path: "/flagday-state/key?x=1" },
    );
    assert.ok(proxy.requests[0].end - proxy.requests[0].start >= 150);
  } finally {
    await proxy.close();
    await new Promise<void>((r) => upstream.close(() => r()));
  }
});

test("state traffic counts the window's requests to the bucket, and the PUTs of the stack's own file as saves", () => {
  const r = (method: string, path: string, start: number, end = start + 5): StateRequest => ({
    method,
    path,
    start,
    end,
  });
  const stack = "bench-state-s3-1";
  const file = `/flagday-state/.pulumi/stacks/flagday/${stack}.json`;
  const requests = [
    r("PUT", file, 50), // before the window
    r("GET", "/flagday-state?list-type=2&prefix=.pulumi%2Fstacks", 100),
    r("HEAD", file, 110),
    r("PUT", `${file}.bak`, 120),
    r("PUT", `${file}?x-id=PutObject`, 130),
    r("PUT", `/flagday-state/.pulumi/stacks/flagday/other.json`, 140),
    r("PUT", file, 195, 205), // ends after the window
    r("GET", "/moto-api/", 150),
  ];
  assert.deepEqual(stateTraffic(requests, stack, 100, 200), { requests: 5, saves: 1 });
});
