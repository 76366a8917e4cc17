// A simulated node stands for a remote host, so it runs below the operator's tools on the shared machine
// (bin/consensus-service-sim.js, FLAGDAY_SIM_NICE): the node the `start` command spawns is the one that must be.

import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import { destroyNet, makeNet, runBin, SIM_BIN, type TestNet } from "./helpers";

const nets: TestNet[] = [];
after(async () => {
  for (const t of nets) await destroyNet(t);
});

const simWith = (env: Record<string, string>, ...args: string[]) => runBin(SIM_BIN, args, 30_000, env);

/** Starts node1 of a fresh one-node network with `env`; the niceness its node process runs at. */
async function startedNiceness(env: Record<string, string>): Promise<number> {
  const t = await makeNet(1, 1);
  nets.push(t);
  const r = await simWith(env, "start", "--config", t.configFiles[0]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const pid = Number(fs.readFileSync(path.join(t.configs[0].dir, "node.pid"), "utf8"));
  return os.getPriority(pid);
}

test("the simulated node runs at niceness 10 by default (unset or empty), and at what FLAGDAY_SIM_NICE says", async () => {
  // Only ever raised: a test run started nicer than that keeps its own.
  const here = os.getPriority();
  assert.equal(await startedNiceness({}), Math.max(here, 10));
  assert.equal(await startedNiceness({ FLAGDAY_SIM_NICE: "" }), Math.max(here, 10), "empty is unset");
  assert.equal(await startedNiceness({ FLAGDAY_SIM_NICE: "15" }), Math.max(here, 15));
  assert.equal(await startedNiceness({ FLAGDAY_SIM_NICE: "0" }), here);
});

test("a FLAGDAY_SIM_NICE that is not a niceness is refused, naming it and the range", async () => {
  for (const bad of ["ten", "-5", "20", "1.5"]) {
    const r = await simWith({ FLAGDAY_SIM_NICE: bad }, "--help");
    assert.equal(r.code, 2, bad);
    assert.match(
      r.stderr,
      new RegExp(`FLAGDAY_SIM_NICE=${bad.replace(".", "\\.")}: a niceness from 0 .* to 19`),
    );
  }
});
