// bin/consensus-service-sim: the simulator's launcher answers `stop --dir` without starting node (a flag day's
// stop and start stages run one on every node at once), as the simulator answers it, and hands everything else
// to bin/consensus-service-sim.js.

import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
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
  for (const tool of ["sh", "basename", "dirname", "readlink", "cat", "grep", "sleep", "rm"]) {
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

/** A process that stands for a running node: its command line names the simulator; it exits `exitAfterMs` after
 * a SIGTERM. */
function fakeNode(exitAfterMs: number) {
  const child = spawn(
    process.execPath,
    [
      "-e",
      `process.on("SIGTERM", () => setTimeout(() => process.exit(0), ${exitAfterMs})); setInterval(() => {}, 1000);`,
      "consensus-service-sim",
    ],
    { stdio: "ignore" },
  );
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  return { pid: child.pid!, exited, kill: () => child.kill("SIGKILL") };
}

test("a running node is stopped without node: SIGTERM, then its exit waited for, and its pid file removed", async () => {
  const dir = nodeDir("node9");
  const fake = fakeNode(400);
  try {
    await new Promise((r) => setTimeout(r, 300)); // its SIGTERM handler is in place
    fs.writeFileSync(path.join(dir, "node.pid"), String(fake.pid));
    const t0 = Date.now();
    const r = await run(LAUNCHER, ["stop", "--dir", dir], { env: { PATH: pathWithoutNode() } });
    const took = Date.now() - t0;
    assert.equal(r.stdout, `consensus-service-sim node9: stopped (pid ${fake.pid})\n`);
    assert.ok(took >= 400, `it waited for the exit (${took} ms)`);
    // It exited through its SIGTERM handler (exit code 0), not the SIGKILL below.
    assert.deepEqual(await fake.exited, { code: 0, signal: null });
    assert.equal(fs.existsSync(path.join(dir, "node.pid")), false, "the pid file is removed");
  } finally {
    fake.kill();
  }
});

test("a pid file naming a process that is not the simulator's: nothing signalled, already stopped", async () => {
  const other = spawn("sleep", ["30"], { stdio: "ignore" });
  try {
    const dirs = [nodeDir("node10"), nodeDir("node10")];
    for (const d of dirs) fs.writeFileSync(path.join(d, "node.pid"), `${other.pid}\n`);
    const bare = await run(LAUNCHER, ["stop", "--dir", dirs[0]], { env: { PATH: pathWithoutNode() } });
    assert.equal(bare.stdout, "consensus-service-sim node10: already stopped\n");
    // The simulator itself says the same of the same pid.
    const sim = await run(process.execPath, [
      path.join(ROOT, "bin", "consensus-service-sim.js"),
      "stop",
      "--dir",
      dirs[1],
    ]);
    assert.equal(sim.stdout, bare.stdout);
    for (const d of dirs) assert.equal(fs.existsSync(path.join(d, "node.pid")), false);
    assert.equal(other.exitCode, null, "the other process still runs");
    process.kill(other.pid!, 0);
  } finally {
    other.kill("SIGKILL");
  }
});

test("anything else goes to the simulator; a stale pid file is cleared", async () => {
  const dir = nodeDir("node8");
  fs.writeFileSync(path.join(dir, "node.pid"), "999999999\n");
  const env = { PATH: `${path.dirname(process.execPath)}:${process.env.PATH}` };
  const r = await run(LAUNCHER, ["stop", "--dir", dir], { env: { PATH: pathWithoutNode() } });
  assert.equal(r.stdout, "consensus-service-sim node8: already stopped\n");
  assert.equal(fs.existsSync(path.join(dir, "node.pid")), false, "the stale pid file is removed");
  // Without node on PATH the launcher cannot run the simulator, so it did not answer these itself.
  await assert.rejects(run(LAUNCHER, ["--help"], { env: { PATH: pathWithoutNode() } }));
  const help = await run(LAUNCHER, ["--help"], { env });
  assert.match(help.stdout + help.stderr, /consensus-service-sim/);
});
