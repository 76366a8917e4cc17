// Test helpers: free ports from the OS, node configs for a small simulated network, CLI runner, polling.

import { execFile, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import type { IngressConfig, NodeConfig, SimRelease } from "../../components/local/simConfig";
import { networkJson } from "../../components/mobilecoin";

export const ROOT = path.resolve(__dirname, "../..");
export const SIM_BIN = path.join(ROOT, "bin/consensus-service-sim.js");
export const FLAGDAY_BIN = path.join(ROOT, "bin/flagday.js");
/** Slot interval for simulated nodes under test. */
export const TEST_ENV = { ...process.env, CONSENSUS_SIM_SLOT_MS: "40" };

export const hex = (c: string) => c.repeat(64);
export const RELEASE_A: SimRelease = {
  version: "v1.0.0",
  mrenclave: hex("a"),
  mrsigner: hex("5"),
  tokensConfigDigest: hex("7"),
  blockVersion: 3,
  ledgerFormat: 1,
  distributionStateFile: true,
};
export const RELEASE_B: SimRelease = {
  ...RELEASE_A,
  version: "v2.0.0",
  mrenclave: hex("b"),
  ledgerFormat: 2,
  distributionStateFile: false,
};

/** Ask the OS for `n` distinct free ports (listen on port 0, then release). */
export async function freePorts(n: number): Promise<number[]> {
  const servers: net.Server[] = [];
  const ports: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
    servers.push(s);
    ports.push((s.address() as net.AddressInfo).port);
  }
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

export function tmpDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `flagday-${prefix}-`));
}

export interface TestNet {
  root: string;
  configs: NodeConfig[];
  configFiles: string[];
  writeConfig(i: number, cfg: NodeConfig): void;
}

export async function makeNet(
  n: number,
  threshold: number,
  release: SimRelease = RELEASE_A,
): Promise<TestNet> {
  const root = tmpDir("net");
  const ports = await freePorts(n * 3);
  const names = Array.from({ length: n }, (_, i) => `node${i + 1}`);
  const peerPort = (i: number) => ports[i * 3 + 1];
  const configs: NodeConfig[] = names.map((name, i) => {
    const others = names.map((_, j) => j).filter((j) => j !== i);
    return {
      name,
      dir: path.join(root, name),
      ports: { admin: ports[i * 3], peer: peerPort(i), client: ports[i * 3 + 2] },
      release: { ...release },
      // `threshold` is the network-wide k of n; network.json turns it into each node's quorum set.
      network: networkJson({
        threshold,
        peers: others.map((j) => ({ host: "127.0.0.1", port: peerPort(j), msgPublicKey: names[j] })),
      }),
      logLevel: "debug",
    };
  });
  const configFiles = configs.map((c) => path.join(root, `${c.name}.json`));
  const t: TestNet = {
    root,
    configs,
    configFiles,
    writeConfig(i, cfg) {
      configs[i] = cfg;
      fs.mkdirSync(cfg.dir, { recursive: true });
      fs.writeFileSync(configFiles[i], JSON.stringify(cfg, null, 2));
    },
  };
  configs.forEach((c, i) => t.writeConfig(i, c));
  return t;
}

export async function makeIngressConfig(
  root: string,
  upstreams: NodeConfig[],
): Promise<{ file: string; cfg: IngressConfig }> {
  const [listen, control] = await freePorts(2);
  const cfg: IngressConfig = {
    dir: path.join(root, "ingress"),
    listen,
    control,
    upstreams: upstreams.map((u) => ({ name: u.name, clientPort: u.ports.client })),
    logLevel: "debug",
  };
  const file = path.join(root, "ingress.json");
  fs.writeFileSync(file, JSON.stringify(cfg));
  return { file, cfg };
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `bin` under node with TEST_ENV, plus `env` over it. */
export function runBin(
  bin: string,
  args: string[],
  timeoutMs = 30_000,
  env: Record<string, string> = {},
): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { env: { ...TEST_ENV, ...env }, timeout: timeoutMs },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

export const sim = (...args: string[]) => runBin(SIM_BIN, args);
export const flagday = (...args: string[]) => runBin(FLAGDAY_BIN, args, 60_000);

/** Start nodes as daemons via the CLI (asserting success). */
export async function startNodes(t: TestNet, idx: number[] = t.configs.map((_, i) => i)): Promise<void> {
  const rs = await Promise.all(idx.map((i) => sim("start", "--config", t.configFiles[i])));
  rs.forEach((r, k) => {
    if (r.code !== 0) throw new Error(`start ${t.configs[idx[k]].name} failed: ${r.stderr}${r.stdout}`);
  });
}

export async function stopNodes(t: TestNet, idx: number[] = t.configs.map((_, i) => i)): Promise<void> {
  await Promise.all(idx.map((i) => sim("stop", "--dir", t.configs[i].dir)));
}

/** Stop everything and delete the temp dir. */
export async function destroyNet(t: TestNet, extraDirs: string[] = []): Promise<void> {
  await stopNodes(t);
  await Promise.all(extraDirs.map((d) => sim("ingress", "stop", "--dir", d)));
  fs.rmSync(t.root, { recursive: true, force: true });
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 30));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
}

// Untyped JSON for assertions in tests.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function getJson(url: string): Promise<{ status: number; body: any }> {
  const r = await fetch(url, { signal: AbortSignal.timeout(3000) });
  const text = await r.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* text */
  }
  return { status: r.status, body };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function postJson(url: string, body: unknown = {}): Promise<{ status: number; body: any }> {
  const r = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(3000),
  });
  const text = await r.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* text */
  }
  return { status: r.status, body: parsed };
}

export const info = async (c: NodeConfig) => (await getJson(`http://127.0.0.1:${c.ports.admin}/info`)).body;
export const height = async (c: NodeConfig): Promise<number> => (await info(c)).config.status.block_height;

export async function pay(c: NodeConfig, from: string, to: string, amount: number, fog = false) {
  return postJson(`http://127.0.0.1:${c.ports.client}/tx`, { from, to, amount, fog });
}

export async function dump(
  c: NodeConfig,
): Promise<{ format: number; blocks: { index: number; id: string }[] }> {
  const r = await sim("ledger-dump", "--ledger-db", path.join(c.dir, "ledger"));
  if (r.code !== 0) throw new Error(`ledger-dump failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** Spawn a foreground process (used where a test needs the exit code of `run`). */
export function spawnRun(args: string[]) {
  return spawn(process.execPath, [SIM_BIN, ...args], { env: TEST_ENV, stdio: ["ignore", "pipe", "pipe"] });
}
