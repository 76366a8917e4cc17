// bin/consensus-service-sim: the simulator's launcher answers a stop of a node that is not running without
// starting node (a flag day's start step runs one on every node at once), and hands everything else to
// bin/consensus-service-sim.js.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import { promisify } from "node:util";

const ROOT = path.resolve(__dirname, "../..");
const LAUNCHER = path.join(ROOT, "bin", "consensus-service-sim");
const run = promisify(execFile);

/** Every folder a test here makes, removed when the file ends. */
const made: string[] = [];
const scratch = (prefix: string) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
};
after(() => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
});

/** A PATH with the shell tools the launcher uses and no node. */
function pathWithoutNode(): string {
  const dir = scratch("flagday-no-node-");
  for (const tool of ["sh", "basename", "dirname", "readlink"]) {
    const at = ["/usr/bin", "/bin"].map((d) => path.join(d, tool)).find((p) => fs.existsSync(p));
    assert.ok(at, `${tool} on this machine`);
    fs.symlinkSync(at, path.join(dir, tool));
  }
  return dir;
}

const nodeDir = (name: string) => {
  const dir = path.join(scratch("flagday-sim-"), name);
  fs.mkdirSync(dir);
  return dir;
};

test("a stop of a node with no pid file is answered without node, as the simulator answers it", async () => {
  const dir = nodeDir("node7");
  const bare = await run(LAUNCHER, ["stop", "--dir", dir], { env: { PATH: pathWithoutNode() } });
  assert.equal(bare.stdout, "consensus-service-sim node7: already stopped\n");
  // Through a link, the way .engine/bin calls it by name.
  const linkDir = scratch("flagday-bin-");
  fs.symlinkSync(LAUNCHER, path.join(linkDir, "consensus-service-sim"));
  const linked = await run(path.join(linkDir, "consensus-service-sim"), ["stop", "--dir", dir], {
    env: { PATH: pathWithoutNode() },
  });
  assert.equal(linked.stdout, bare.stdout);
  // The simulator itself says the same of the same folder.
  const sim = await run(process.execPath, [
    path.join(ROOT, "bin", "consensus-service-sim.js"),
    "stop",
    "--dir",
    dir,
  ]);
  assert.equal(sim.stdout, bare.stdout);
});

test("anything else goes to the simulator: a stale pid file is the simulator's to clear, and other commands", async () => {
  const dir = nodeDir("node8");
  fs.writeFileSync(path.join(dir, "node.pid"), "999999999\n");
  const env = { PATH: `${path.dirname(process.execPath)}:${process.env.PATH}` };
  const r = await run(LAUNCHER, ["stop", "--dir", dir], { env });
  assert.match(r.stdout, /already stopped/);
  assert.equal(fs.existsSync(path.join(dir, "node.pid")), false, "the simulator removed the stale pid file");
  // Without node on PATH the launcher cannot run the simulator, so it did not answer these itself.
  await assert.rejects(run(LAUNCHER, ["--help"], { env: { PATH: pathWithoutNode() } }));
  const help = await run(LAUNCHER, ["--help"], { env });
  assert.match(help.stdout + help.stderr, /consensus-service-sim/);
});
