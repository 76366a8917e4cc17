import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { InfoParseError, parseInfo, parseMetrics } from "../../checks/info";

const fx = (f: string) => fs.readFileSync(path.join(__dirname, "../fixtures", f), "utf8");
const fxJson = (f: string) => JSON.parse(fx(f)) as unknown;

test("parses a real mc-admin-http-gateway /info (status under config.status, no MRENCLAVE)", () => {
  const s = parseInfo("node1", fxJson("info-real-synced.json"));
  assert.equal(s.reachable, true);
  assert.equal(s.blockHeight, 1456021);
  assert.equal(s.syncStatus, "synced");
  assert.equal(s.blocksBehind, 0);
  assert.equal(s.version, "6.0.2");
  assert.equal(s.broadcastPeerCount, 2);
  assert.equal(s.knownPeerCount, 0);
  assert.equal(s.latestBlockHash, "9c3c0a2b4f0b8e1e0b6f8d2b7c0c4b1f3a2e5d6c7b8a9f0e1d2c3b4a5f6e7d8c");
  assert.equal(s.latestBlockTimestamp, "1716300000");
  assert.equal(s.peerResponderId, "node1.test.mobilecoin.com:443");
  assert.equal(s.gitCommit, "4b4b5c3a8e0c0e1d2d0c9b1f6c6f8b1e2a3c4d5e");
  assert.equal(s.mrenclave, undefined, "real build_info carries no enclave measurement");
  assert.equal(s.attestedPeers, undefined, "real /info has no attested_peers");
  assert.equal(s.simulated, false);
});

test("parses a real node in catchup", () => {
  const s = parseInfo("node2", fxJson("info-real-catchup.json"));
  assert.equal(s.syncStatus, "catchup");
  assert.equal(s.blocksBehind, 121);
  assert.equal(s.blockHeight, 1455900);
});

test("a /info without block height (ledger unreadable) is a parse error naming the node", () => {
  assert.throws(
    () => parseInfo("node3", fxJson("info-real-no-height.json")),
    (e: unknown) => {
      assert.ok(e instanceof InfoParseError);
      assert.match(e.message, /^node3: .*block_height/);
      return true;
    },
  );
  assert.throws(() => parseInfo("node4", "not json object"), /node4: \/info is not a JSON object/);
});

test("parses the simulator's /info extras (mrenclave, attested_peers)", () => {
  const s = parseInfo("node1", fxJson("info-sim-one-peer.json"));
  assert.equal(s.mrenclave, "a".repeat(64));
  assert.equal(s.mrsigner, "5".repeat(64));
  assert.deepEqual(s.attestedPeers, ["node2"]);
  assert.equal(s.simulated, true);
  assert.equal(s.blockHeight, 7);
});

test("accepts status fields at the top level too", () => {
  const s = parseInfo("n", { block_height: 3, sync_status: "synced", blocks_behind: 0, build_info: {} });
  assert.equal(s.blockHeight, 3);
  assert.equal(s.syncStatus, "synced");
});

test("parses real consensus_service_gauge metrics, ignoring counters and other ops", () => {
  const m = parseMetrics(fx("metrics-real.txt"));
  assert.deepEqual(m, { pendingValues: 3, txCacheEntries: 5, curSlot: 1456021 });
});

test("parses consensus_scp_gauge metrics; missing metrics stay undefined", () => {
  assert.deepEqual(parseMetrics(fx("metrics-scp.txt")), { pendingValues: 0, txCacheEntries: 0, curSlot: 42 });
  assert.deepEqual(parseMetrics('# nothing\nother_gauge{op="x"} 1\n'), {});
});
