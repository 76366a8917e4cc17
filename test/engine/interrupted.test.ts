/**
 * An operator's machine dies mid flag day, tried as an operator would meet it: `pulumi up` (the CLI, as in the
 * window) is SIGKILLed with everything it started while the snapshots are being taken. The next `up` is refused
 * because the stack is still locked; `pulumi cancel` removes the lock; the next `up` warns about the operations
 * the dead one left pending and completes the flag day, every pre-window block kept, the ingress open again.
 */
import { after, before, test } from "node:test";
import * as assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { bringUp, layout, openWindow, ROOT, sendTraffic } from "../../rehearsal/run";
import { ledgerDump, testNetwork, TestNetwork } from "./rehearsal-harness";

const NODES = ["node1", "node2", "node3"];
const V2 = "326b1a950e55d1cba47e5e4c7c8d9b8ddfae4a10a3d822382c137d9bf3930548";
let net: TestNetwork;

before(async () => {
  // Slow steps, so the kill lands inside the snapshot stage.
  net = await testNetwork("interrupted", { config: { "flagday:local.stepLatencySeconds": "2" } });
});
after(async () => {
  await net?.cleanup();
});

/** The pulumi CLI on the test's stack, as the operator runs it, with the workspace's environment. */
function pulumiArgs(...args: string[]) {
  return {
    cmd: path.join(ROOT, ".engine", "bin", "pulumi"),
    args: [...args, "--stack", net.name, "--non-interactive", "--cwd", ROOT],
    env: { ...process.env, ...(net.stack.workspace.envVars ?? {}) },
  };
}
/** Every live process below `pid`, from /proc (Linux): children first found, then theirs. */
function descendants(pid: number): number[] {
  const parents = new Map<number, number>();
  for (const d of fs.readdirSync("/proc").filter((x) => /^\d+$/.test(x))) {
    try {
      // `pid (comm) state ppid …`: comm may hold spaces and parentheses, so read after its last ")".
      const stat = fs.readFileSync(`/proc/${d}/stat`, "utf8");
      parents.set(Number(d), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  for (let i = -1; i < out.length; i++) {
    const of = i < 0 ? pid : out[i];
    for (const [child, parent] of parents) if (parent === of && !out.includes(child)) out.push(child);
  }
  return out;
}

/**
 * The machine dies: the CLI and everything it started, the plugins too (the engine starts each in a process
 * group of its own, so killing the CLI's group leaves them, and the commands they run, behind). Frozen first, so
 * nothing spawns or is re-parented while the tree is read again; then all killed. Returns the pids it killed.
 */
function machineDies(pid: number): number[] {
  const tree = [pid];
  for (let more = [pid]; more.length > 0;) {
    for (const p of more) {
      try {
        process.kill(p, "SIGSTOP");
      } catch {
        // gone meanwhile
      }
    }
    // Nothing stopped is re-parented, so the root's descendants are the whole tree.
    more = descendants(pid).filter((p) => !tree.includes(p));
    tree.push(...more);
  }
  for (const p of tree) {
    try {
      process.kill(p, "SIGKILL");
    } catch {
      // gone meanwhile
    }
  }
  return tree;
}
const alive = (pid: number) => {
  try {
    return !/^\S+ \([^]*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
};

const pulumi = (...args: string[]) => {
  const p = pulumiArgs(...args);
  const r = spawnSync(p.cmd, p.args, { env: p.env, encoding: "utf8", timeout: 600_000 });
  return { code: r.status, out: `${r.stdout}\n${r.stderr}` };
};

test(
  "SIGKILL during the snapshots: the lock refuses the next up, pulumi cancel clears it, up completes with every block",
  { timeout: 900_000 },
  async () => {
    await bringUp(net.stack, "v1.0.0", net.log);
    await sendTraffic(net.stack, 3, net.log);
    const before = Object.fromEntries(NODES.map((n) => [n, ledgerDump(net.rootDir, n)]));
    await net.stack.setConfig("flagday:release", { value: "v2.0.0" });
    await openWindow(net.stack, net.log);

    const p = pulumiArgs("up", "--yes", "--skip-preview");
    const up = spawn(p.cmd, p.args, { env: p.env, detached: true, stdio: "ignore" });
    const exited = new Promise((r) => up.once("exit", r));
    // The snapshot steps write their logs as they run (components/local/platform.ts): kill on the first.
    const logs = path.join(net.rootDir, "logs");
    const deadline = Date.now() + 300_000;
    while (!(fs.existsSync(logs) && fs.readdirSync(logs).some((f) => /-node\d-snapshot\.log$/.test(f)))) {
      assert.ok(Date.now() < deadline, "the update reached the snapshots");
      await new Promise((r) => setTimeout(r, 100));
    }
    const killed = machineDies(up.pid!); // the CLI, the language host, the provider host, every step
    await exited;
    assert.ok(killed.length >= 3, `the CLI and its plugins: ${killed.length} process(es)`);
    const deadline2 = Date.now() + 10_000;
    while (killed.some(alive) && Date.now() < deadline2) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(killed.filter(alive), [], "nothing the dead update started runs on");
    net.log(`the machine died: ${killed.length} processes killed`);

    const locked = pulumi("up", "--yes", "--skip-preview");
    assert.notEqual(locked.code, 0);
    assert.match(locked.out, /locked/i, "the dead update's lock refuses a second one");
    net.log(
      `second up: ${locked.out
        .split("\n")
        .find((l) => /locked/i.test(l))
        ?.trim()}`,
    );
    const cancel = pulumi("cancel", "--yes");
    assert.equal(cancel.code, 0, cancel.out);

    const resumed = pulumi("up", "--yes", "--skip-preview");
    assert.equal(resumed.code, 0, resumed.out.slice(-3000));
    assert.match(
      resumed.out,
      /\d+ pending operations from previous deployment/,
      "the engine names what the dead update left",
    );
    net.log(
      `resumed up: ${resumed.out
        .split("\n")
        .filter((l) => /pending operations/.test(l))
        .slice(0, 3)
        .join(" | ")}`,
    );
    for (const n of NODES) {
      const d = ledgerDump(net.rootDir, n);
      assert.equal(d.format, 2, `${n}: migrated`);
      assert.deepEqual(
        d.blocks.slice(0, before[n].blocks.length),
        before[n].blocks,
        `${n}: every block kept`,
      );
    }
    const { nodes } = await layout(net.stack);
    for (const n of nodes) {
      const info = (await (await fetch(`${n.admin}/info`)).json()) as { build_info: { mrenclave: string } };
      assert.equal(info.build_info.mrenclave, V2, `${n.name} on the new enclave`);
    }
    const record = (await net.stack.outputs()).flagday.value as { history: { outcome: string }[] };
    assert.deepEqual(
      record.history.map((h) => h.outcome),
      ["completed"],
    );
  },
);
