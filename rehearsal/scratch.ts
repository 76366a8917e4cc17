/**
 * Throwaway rehearsal networks for the engine tests and the benchmarks: each has its own stack (a copy of the
 * committed rehearsal stack file, gitignored), its own state backend and PULUMI_HOME in a temporary folder, its
 * own folder for the nodes and its own block of ports, so several can run at once beside `npm run rehearse`.
 * Networks that must see each other's stacks (a mainnet stack reading its testnet stack) share a backend the
 * caller owns: `stateDir`.
 */
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { Stack } from "@pulumi/pulumi/automation";
import { fileBackendUrl, PRACTICE_BASE_PORT, rehearsalStack, ROOT } from "./run";

export interface ScratchNetwork {
  readonly stack: Stack;
  readonly name: string;
  readonly basePort: number;
  readonly rootDir: string;
  readonly log: (line: string) => void;
  readonly lines: string[];
  /** Destroys the network, stops every process it started and removes its files. */
  cleanup(): Promise<void>;
}

export interface ScratchOptions {
  /** How many nodes (node1..nodeN); @default the three of the committed rehearsal stack */
  readonly nodes?: number;
  /** @default a majority of `nodes` */
  readonly threshold?: number;
  /** Config overrides (path syntax), after the network's own ports and folder. */
  readonly config?: Record<string, string>;
  /** Progress lines are printed as well as kept when set. @default FLAGDAY_TEST_VERBOSE */
  readonly verbose?: boolean;
  /**
   * A state backend folder the caller made and removes. Networks given the same one share their state, so a
   * stack reference from one to the other resolves (`stackReferenceName`); each network's `cleanup` removes
   * only its own stack from it. Each keeps its own PULUMI_HOME: the backend is all a reference reads.
   * @default a backend of the network's own, removed by `cleanup`
   */
  readonly stateDir?: string;
  /**
   * The port block, when several stacks share one network (each operator's stack of a coordinated rehearsal):
   * the caller found it free with `freeBase`. @default a free block of the network's own
   */
  readonly basePort?: number;
  /** More environment for the engine (KUBECONFIG, say); a PATH here goes before the engine's own. */
  readonly env?: Readonly<Record<string, string>>;
}

/**
 * How a stack reference names the stack `stackName` of this project in a file backend: the organization is
 * always `organization` there (what `pulumi.getOrganization()` returns).
 */
export function stackReferenceName(stackName: string): string {
  return `organization/flagday/${stackName}`;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

/** The ports a local network on `base` with `nodes` nodes listens on (components/local/platform.ts's layout). */
export function portsOf(base: number, nodes: number): number[] {
  const ports = [base + 1, base + 2];
  // Node i's admin, client and peer ports, and (several operators) the i-th operator's ingress and control.
  for (let i = 1; i <= nodes; i++) {
    ports.push(base + 10 * i, base + 10 * i + 1, base + 10 * i + 2, base + 10 * i + 3, base + 10 * i + 4);
  }
  return ports;
}

/** Blocks this process already handed out: two networks made one after the other bind their ports only later. */
const handedOut = new Set<number>();

/** A base port whose whole block (ingress and `nodes` nodes) is free right now, and not handed out before. */
export async function freeBase(nodes: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    // Below Linux's ephemeral range (32768-60999): there, a port found free can be taken before the node binds it
    // by any outgoing connection or plugin server (seen as EADDRINUSE on a node's peer port).
    const base = 20000 + Math.floor(Math.random() * 120) * 100;
    // The practice network's own block is left to `npm run rehearse`, which may start at any moment.
    if (base === PRACTICE_BASE_PORT || handedOut.has(base)) continue;
    handedOut.add(base);
    if ((await Promise.all(portsOf(base, nodes).map(portFree))).every(Boolean)) return base;
    handedOut.delete(base);
  }
  throw new Error("no free port block found for a scratch rehearsal network");
}

/** A rehearsal network of its own on the stack `stackName` (its stack file is removed again by `cleanup`). */
export async function scratchNetwork(stackName: string, opts: ScratchOptions = {}): Promise<ScratchNetwork> {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), `flagday-${stackName}-`));
  const rootDir = path.join(scratch, "net");
  const nodes = opts.nodes ?? 3;
  const basePort = opts.basePort ?? (await freeBase(nodes));
  const config: Record<string, string> = {
    "flagday:local.basePort": String(basePort),
    "flagday:local.rootDir": rootDir,
    ...(opts.config ?? {}),
  };
  const stateDir = opts.stateDir ?? path.join(scratch, "state");
  const env = {
    PULUMI_BACKEND_URL: fileBackendUrl(stateDir),
    PULUMI_HOME: path.join(scratch, "home"),
    PULUMI_CONFIG_PASSPHRASE: "flagday-test-only",
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    PULUMI_NODEJS_TRANSPILE_ONLY: "true",
    PULUMI_PARALLEL: "64",
    ...(opts.env ?? {}),
    PATH: [
      ...(opts.env?.PATH ? [opts.env.PATH] : []),
      path.join(ROOT, ".engine", "bin"),
      path.join(ROOT, "node_modules", ".bin"),
      process.env.PATH,
    ].join(":"),
  };
  fs.mkdirSync(stateDir, { recursive: true });
  fs.mkdirSync(env.PULUMI_HOME, { recursive: true });
  const stack = await rehearsalStack({ stackName, config, env });
  // The copy starts from the rehearsal stack file as it is on disk, which an operator driving the rehearsal
  // stack by hand may have changed: start from the committed release and no operator decisions.
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
  const verbose = opts.verbose ?? Boolean(process.env.FLAGDAY_TEST_VERBOSE);
  const lines: string[] = [];
  const log = (l: string) => {
    lines.push(l);
    if (verbose) console.log(l);
  };
  return {
    stack,
    name: stackName,
    basePort,
    rootDir,
    log,
    lines,
    async cleanup() {
      await stack.destroy().catch(() => undefined);
      // Whatever a failed run left running: every pid file under the network's folder.
      for (const pidFile of findPidFiles(rootDir)) {
        const pid = Number(fs.readFileSync(pidFile, "utf8"));
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          /* already gone */
        }
      }
      await stack.workspace.removeStack(stackName, { force: true }).catch(() => undefined);
      fs.rmSync(path.join(ROOT, "stacks", `Pulumi.${stackName}.yaml`), { force: true });
      // The scratch folder holds the state only when it is the network's own; a shared stateDir is the caller's.
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
