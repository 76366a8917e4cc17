/**
 * `npm run rehearse`, the project's main command, run as a user runs it, leaves the checkout as it found it: the
 * same `git status`, and every file git sees (tracked, or untracked and not ignored) with the same content. Its
 * release, window, accepted loss and secrets go to its own gitignored stack file, its nodes to .rehearsal/.
 * In CI the checkout is a clean clone; locally it may hold work in progress, so this compares before with after.
 * The run gets its own practice stack, ports and state backend, so it disturbs no rehearsal already running.
 */
import { after, before, test } from "node:test";
import * as assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileBackendUrl, ROOT } from "../../rehearsal/run";
import { freeBase } from "../../rehearsal/scratch";

const STACK = `practice-clean-${process.pid}`;
const STACK_FILE = path.join(ROOT, "stacks", `Pulumi.${STACK}.yaml`);
const git = (...args: string[]) => execFileSync("git", args, { cwd: ROOT, encoding: "utf8" });
const inGit = (() => {
  try {
    return git("rev-parse", "--show-toplevel").trim() === ROOT;
  } catch {
    return false;
  }
})();

interface Checkout {
  readonly status: string;
  /** sha256 of every file git sees, by path; `absent` for a tracked file deleted in the working tree. */
  readonly files: ReadonlyMap<string, string>;
}

function checkout(): Checkout {
  const status = git("status", "--porcelain=v1", "--untracked-files=all");
  const files = new Map<string, string>();
  for (const f of git("ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")) {
    if (!f) continue;
    const full = path.join(ROOT, f);
    const stat = fs.lstatSync(full, { throwIfNoEntry: false });
    if (!stat) files.set(f, "absent");
    else if (stat.isSymbolicLink()) files.set(f, `link:${fs.readlinkSync(full)}`);
    else files.set(f, createHash("sha256").update(fs.readFileSync(full)).digest("hex"));
  }
  return { status, files };
}

function assertUnchanged(before: Checkout, now: Checkout, after: string): void {
  const changed = [...new Set([...before.files.keys(), ...now.files.keys()])].filter(
    (f) => before.files.get(f) !== now.files.get(f),
  );
  assert.deepEqual(changed, [], `files changed by ${after} (or edited by hand while the test ran)`);
  assert.equal(now.status, before.status, `git status after ${after}`);
}

let scratch: string;
let env: NodeJS.ProcessEnv;
let basePort: number;

/** `npm run rehearse -- <args>` in the checkout, as a user runs it; resolves to its exit code and output. */
function rehearse(args: string[], timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("npm", ["run", "rehearse", "--", ...args], { cwd: ROOT, env, timeout: timeoutMs });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, output }));
  });
}

before(async () => {
  if (!inGit) return;
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), "flagday-rehearse-clean-"));
  basePort = await freeBase(3);
  env = {
    ...process.env,
    // A backend and PULUMI_HOME of its own (scripts/env.sh keeps what it is given), so the run neither sees nor
    // changes the practice stacks of .pulumi-state.
    PULUMI_BACKEND_URL: fileBackendUrl(path.join(scratch, "state")),
    PULUMI_HOME: path.join(scratch, "home"),
  };
});

after(async () => {
  if (!inGit) return;
  // A failed run may have left its network running.
  if (fs.existsSync(STACK_FILE)) await rehearse(["--teardown", "--stack", STACK], 180_000);
  fs.rmSync(scratch, { recursive: true, force: true });
});

test(
  "npm run rehearse leaves git status and every file git sees unchanged",
  { skip: !inGit && "not a git checkout", timeout: 900_000 },
  async () => {
    const start = checkout();

    const run = await rehearse(["--stack", STACK, "--base-port", String(basePort)], 600_000);
    assert.equal(run.code, 0, `npm run rehearse failed:\n${run.output.slice(-4000)}`);
    assert.match(run.output, new RegExp(`flag-day v1\\.0\\.0 -> v2\\.0\\.0 on stack ${STACK}`));
    assert.ok(fs.existsSync(STACK_FILE), "the rehearsal's settings are in its own stack file");
    assertUnchanged(start, checkout(), "npm run rehearse");

    const down = await rehearse(["--teardown", "--stack", STACK], 180_000);
    assert.equal(down.code, 0, `npm run rehearse -- --teardown failed:\n${down.output.slice(-4000)}`);
    assert.ok(!fs.existsSync(STACK_FILE), "--teardown removes the stack file");
    assert.ok(!fs.existsSync(path.join(ROOT, ".rehearsal", STACK)), "--teardown removes the nodes' folder");
    assertUnchanged(start, checkout(), "npm run rehearse -- --teardown");
  },
);

test(
  "npm run rehearse -- --platform kubernetes runs the flag day on a cluster and leaves nothing behind",
  { skip: !inGit && "not a git checkout", timeout: 1_200_000 },
  async () => {
    const start = checkout();
    const stack = `practice-kube-clean-${process.pid}`;
    const run = await rehearse(
      ["--platform", "kubernetes", "--stack", stack, "--base-port", String(await freeBase(3))],
      900_000,
    );
    assert.equal(
      run.code,
      0,
      `npm run rehearse -- --platform kubernetes failed:\n${run.output.slice(-4000)}`,
    );
    assert.match(run.output, new RegExp(`flag-day v1\\.0\\.0 -> v2\\.0\\.0 on stack ${stack}`));
    assert.match(run.output, /client probes during the window: (\d+)\/\1 refused; after: served/);
    // The platform's own objects, as the API server held them at the end.
    assert.match(run.output, /deployment\.apps\/node1-[0-9a-f]+\s+1\/1/);
    assert.match(
      run.output,
      /volumesnapshot\.snapshot\.storage\.k8s\.io\/node1-snapshot-[0-9a-f]+\s+true\s+node1-data/,
    );
    assert.match(run.output, /ingress\.networking\.k8s\.io\/rehearsal-client\s+nginx/);
    assert.ok(!fs.existsSync(path.join(ROOT, "stacks", `Pulumi.${stack}.yaml`)), "its stack file removed");
    assert.ok(!fs.existsSync(path.join(ROOT, ".rehearsal", stack)), "its cluster's folder removed");
    assertUnchanged(start, checkout(), "npm run rehearse -- --platform kubernetes");
  },
);
