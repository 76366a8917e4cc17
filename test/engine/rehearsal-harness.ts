import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { Stack } from "@pulumi/pulumi/automation";
import { rehearsalStack, ROOT } from "../../rehearsal/run";

/** A rehearsal network of its own for one engine test: own stack, backend, folder and ports. */
export interface TestNetwork {
  readonly stack: Stack;
  readonly name: string;
  readonly basePort: number;
  readonly rootDir: string;
  readonly log: (line: string) => void;
  readonly lines: string[];
  /** Destroys the network, stops every process it started and removes its files. */
  cleanup(): Promise<void>;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

/** A base port whose whole block (ingress and `nodes` nodes) is free right now. */
export async function freeBase(nodes: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    // Below Linux's ephemeral range (32768-60999): there, a port found free can be taken before the node binds it
    // by any outgoing connection or plugin server (seen as EADDRINUSE on a node's peer port).
    const base = 20000 + Math.floor(Math.random() * 120) * 100;
    const ports = [base + 1, base + 2];
    for (let i = 1; i <= nodes; i++) ports.push(base + 10 * i, base + 10 * i + 3, base + 10 * i + 4);
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) return base;
  }
  throw new Error("no free port block found for a test rehearsal network");
}

export async function testNetwork(
  label: string,
  opts: { nodes?: number; threshold?: number; config?: Record<string, string> } = {},
): Promise<TestNetwork> {
  const name = `test-${label}-${process.pid}`;
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), `flagday-${label}-`));
  const rootDir = path.join(scratch, "net");
  const nodes = opts.nodes ?? 3;
  const basePort = await freeBase(nodes);
  const config: Record<string, string> = {
    "flagday:local.basePort": String(basePort),
    "flagday:local.rootDir": rootDir,
    ...(opts.config ?? {}),
  };
  const env = {
    PULUMI_BACKEND_URL: `file://${path.join(scratch, "state")}`,
    PULUMI_HOME: path.join(scratch, "home"),
    PULUMI_CONFIG_PASSPHRASE: "flagday-test-only",
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    PULUMI_NODEJS_TRANSPILE_ONLY: "true",
    PULUMI_PARALLEL: "64",
    PATH: `${path.join(ROOT, ".engine", "bin")}:${path.join(ROOT, "node_modules", ".bin")}:${process.env.PATH}`,
  };
  fs.mkdirSync(path.join(scratch, "state"), { recursive: true });
  fs.mkdirSync(env.PULUMI_HOME, { recursive: true });
  const stack = await rehearsalStack({ stackName: name, config, env });
  // The copy starts from the rehearsal stack file as it is on disk, which a rehearsal may have changed: start
  // every test from the committed release and no operator decisions.
  await stack.setConfig("flagday:release", { value: "v1.0.0" });
  for (const key of [
    "flagday:window",
    "flagday:acceptDataLoss",
    "flagday:abort",
    "flagday:rollback",
    "flagday:msgSignerKeys",
  ]) {
    await stack.removeConfig(key).catch(() => undefined);
  }
  if (opts.nodes !== undefined) {
    const network = {
      name: "rehearsal",
      chainId: "local",
      quorumThreshold: opts.threshold ?? Math.floor(nodes / 2) + 1,
      release: "v1.0.0",
      nodes: Array.from({ length: nodes }, (_, i) => ({
        name: `node${i + 1}`,
        settings: { logLevel: "info" },
      })),
    };
    await stack.setConfig("flagday:network", { value: JSON.stringify(network) });
  }
  const lines: string[] = [];
  const log = (l: string) => {
    lines.push(l);
    if (process.env.FLAGDAY_TEST_VERBOSE) console.log(l);
  };
  return {
    stack,
    name,
    basePort,
    rootDir,
    log,
    lines,
    async cleanup() {
      await stack.destroy().catch(() => undefined);
      // Whatever a failed test left running: every pid file under the network's folder.
      for (const pidFile of findPidFiles(rootDir)) {
        const pid = Number(fs.readFileSync(pidFile, "utf8"));
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          /* already gone */
        }
      }
      await stack.workspace.removeStack(name, { force: true }).catch(() => undefined);
      fs.rmSync(path.join(ROOT, "stacks", `Pulumi.${name}.yaml`), { force: true });
      fs.rmSync(scratch, { recursive: true, force: true });
    },
  };
}

function findPidFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".pid"))
    .map((f) => path.join(dir, f));
}

/** Block ids of a node's ledger (the simulator's ledger-dump), with its format. */
export function ledgerDump(rootDir: string, node: string): LedgerDump {
  return dumpLedgerDir(path.join(rootDir, node, "ledger"));
}

export interface LedgerDump {
  format: number;
  blocks: { index: number; id: string }[];
}

/** The same for any ledger directory (a snapshot is a copy of one). */
export function dumpLedgerDir(dir: string): LedgerDump {
  const out = execFileSync(
    path.join(ROOT, "node_modules", ".bin", "node"),
    [path.join(ROOT, "bin", "consensus-service-sim.js"), "ledger-dump", "--ledger-db", dir],
    { encoding: "utf8" },
  );
  return JSON.parse(out);
}
