/**
 * The baselines the flag day is compared with, MEASURED on a rehearsal network the engine brought up: the same
 * simulated operations the local platform runs (the scripts of components/local/scripts.ts, behind the
 * modelled seconds of components/local/latency.ts), run here with bash by this driver, outside the engine.
 *
 * - helm: MobileCoin operators' `helm upgrade` of every node at once. No ingress change, no drain, no snapshot:
 *   every node stopped and replaced at the same time, its new image pulled and booted after the old one is gone,
 *   the entrypoint's migration before it serves. Downtime: from the first node stopping until every node runs
 *   the new release and they attest each other (admin /info, as the checks read it).
 * - runbook: the runbook by hand, each step waited for: ingress rejects; confirm no new transactions and equal
 *   heights (the runbook's step 2: the flag day's own quiesce check, same quiet period); stop each node in turn;
 *   a full (first, no warm base) snapshot of each in turn, its seal waited for; migrate each in turn; start each
 *   in turn (pull + boot); the checks (attest, txtest); ingress accepts. Downtime: reject -> accept.
 */
import { execFile } from "node:child_process";
import * as path from "node:path";
import { promisify } from "node:util";
import * as pulumi from "@pulumi/pulumi";
import type { Stack } from "@pulumi/pulumi/automation";
import { fetchAll } from "../checks/client";
import { pollUntil } from "../checks/poll";
import { attestVerdict } from "../checks/verdicts";
import { checkCommands, ChecksOptions } from "../components/checks";
import type { ModelledSeconds } from "../components/local/latency";
import {
  ingressCommands,
  localNodeConfig,
  localPorts,
  migrateScript,
  nodePaths,
  pullScript,
  sealScript,
  simRelease,
  snapshotScript,
  startScript,
  stopScript,
} from "../components/local/scripts";
import { shellQuote as q } from "../components/mobilecoin";
import type { NodeHandle } from "../components/platform";
import { EnclaveRelease, releaseKey } from "../components/release";
import { layout, ROOT } from "../rehearsal/run";

const SIM = "consensus-service-sim";
const CLI = "flagday";
const run = promisify(execFile);

/** What the driver needs of a rehearsal network, from its stack's config (the platform's own layout). */
export interface SimNetwork {
  readonly rootDir: string;
  readonly basePort: number;
  readonly threshold: number;
  readonly nodes: readonly { readonly name: string; readonly admin: string; readonly client: string }[];
  readonly ingressControl: number;
  readonly releases: Readonly<Record<string, EnclaveRelease>>;
  readonly ledgerFormats: Readonly<Record<string, number>>;
  readonly checks: ChecksOptions;
}

export async function simNetwork(stack: Stack, rootDir: string, basePort: number): Promise<SimNetwork> {
  const cfg = await stack.getAllConfig();
  const json = <T>(key: string) => JSON.parse(cfg[key]?.value ?? "{}") as T;
  const { nodes, ingress } = await layout(stack);
  return {
    rootDir,
    basePort,
    threshold: json<{ quorumThreshold: number }>("flagday:network").quorumThreshold,
    nodes,
    ingressControl: ingress.control,
    releases: json("flagday:releases"),
    ledgerFormats: json<{ ledgerFormats?: Record<string, number> }>("flagday:local").ledgerFormats ?? {},
    checks: json("flagday:checks"),
  };
}

/** Runs one script with bash, with the project's simulator and checks CLIs first on PATH. */
async function bash(script: string): Promise<void> {
  const PATH = [path.join(ROOT, ".engine", "bin"), path.join(ROOT, "bin"), process.env.PATH].join(":");
  try {
    await run("bash", ["-c", script], { env: { ...process.env, PATH }, maxBuffer: 16 << 20 });
  } catch (e) {
    const err = e as Error & { stderr?: string };
    throw new Error(
      `bench baseline: a step failed: ${err.stderr?.trim() || err.message}\n  script: ${script}`,
    );
  }
}

const sleep = (seconds: number) => (seconds ? `sleep ${seconds} && ` : "");

/** A node's folders and ports, as the local platform lays them out. */
function simNode(net: SimNetwork, index: number) {
  return { name: net.nodes[index].name, index, ...nodePaths(net.rootDir, net.nodes[index].name) };
}
type SimNode = ReturnType<typeof simNode>;
const simNodes = (net: SimNetwork) => net.nodes.map((_, i) => simNode(net, i));

/** Writes the node's config for `release` and starts its server on it, after `latency` (the start stage). */
function serve(net: SimNetwork, node: SimNode, release: EnclaveRelease, latency: string): string {
  const config = localNodeConfig({
    name: node.name,
    dir: node.dir,
    ports: localPorts(net.basePort, node.index),
    release: simRelease(release, net.ledgerFormats[release.version] ?? 1),
    threshold: net.threshold,
    peers: simNodes(net)
      .filter((p) => p.name !== node.name)
      .map((p) => ({ name: p.name, peerPort: localPorts(net.basePort, p.index).peer })),
    logLevel: "info",
  });
  const configFile = path.join(node.dir, "config", `node-${releaseKey(release)}.json`);
  return startScript({ sim: SIM, configFile, config, faultHook: "", latency });
}

const migrate = (net: SimNetwork, node: SimNode, release: EnclaveRelease) =>
  migrateScript({
    sim: SIM,
    node: node.name,
    dir: node.dir,
    ledger: node.ledger,
    pidFile: node.pid,
    toFormat: net.ledgerFormats[release.version] ?? 1,
    migrations: release.migrations,
  });

const pull = (net: SimNetwork, node: SimNode, release: EnclaveRelease, m: ModelledSeconds) =>
  pullScript({ node: node.name, rootDir: net.rootDir, release, latency: sleep(m.pull) });

/** Waits until every node runs `release` and has attested every peer, synced at one height. */
async function attested(net: SimNetwork, release: EnclaveRelease): Promise<void> {
  const v = await pollUntil(
    async () => attestVerdict(-1, await fetchAll([...net.nodes]), release.mrenclave),
    { timeoutMs: 180_000, intervalMs: 100 },
  );
  if (!v.ok)
    throw new Error(`bench baseline: the network did not come back on ${release.version}: ${v.reason}`);
}

/**
 * Untimed set-up: every node back on `release` (stopped, its ledger format reversed to the release's, started),
 * attested, so each baseline starts where the flag day did.
 */
export async function resetTo(net: SimNetwork, version: string): Promise<void> {
  const release = net.releases[version];
  const format = net.ledgerFormats[version] ?? 1;
  await Promise.all(
    simNodes(net).map((n) =>
      bash(
        [
          stopScript(SIM, n.dir),
          `${SIM} migrate --ledger-db ${q(n.ledger)} --to ${format} --reverse`,
          serve(net, n, release, ""),
        ].join(" && "),
      ),
    ),
  );
  await attested(net, release);
}

/** `helm upgrade` of every node at once: the seconds from the first node stopping until all attest on `to`. */
export async function helmSeconds(net: SimNetwork, to: string, m: ModelledSeconds): Promise<number> {
  const release = net.releases[to];
  const t0 = Date.now();
  await Promise.all(
    simNodes(net).map((n) =>
      bash(
        [
          `${sleep(m.stop)}${stopScript(SIM, n.dir)}`,
          pull(net, n, release, m),
          // The new pod boots, its entrypoint migrates the ledger, then the server starts.
          `${sleep(m.boot)}${sleep(m.migrate)}${migrate(net, n, release)}`,
          serve(net, n, release, ""),
        ].join(" && "),
      ),
    ),
  );
  await attested(net, release);
  return (Date.now() - t0) / 1000;
}

/** The runbook by hand, node by node and each step waited for: the seconds from reject to accept. */
export async function runbookSeconds(
  net: SimNetwork,
  from: string,
  to: string,
  m: ModelledSeconds,
): Promise<number> {
  const release = net.releases[to];
  const gate = ingressCommands(CLI, net.ingressControl);
  const handles = net.nodes.map((n) => ({ spec: { name: n.name }, adminUrl: n.admin, clientUrl: n.client }));
  const checks = checkCommands(handles as unknown as NodeHandle[], net.checks);
  const text = (o: pulumi.Output<string>) => new Promise<string>((resolve) => o.apply(resolve));
  const quiesce = await text(checks.quiesce());
  const attest = await text(checks.attest(release.mrenclave));
  const txtest = await text(checks.txtest());
  const nodes = simNodes(net);
  const t0 = Date.now();
  await bash(gate.reject);
  await bash(quiesce);
  for (const n of nodes) await bash(`${sleep(m.stop)}${stopScript(SIM, n.dir)}`);
  for (const n of nodes) {
    const snapshot = path.join(net.rootDir, "bench-runbook", `${from}-${to}-${t0}`, n.name);
    const record = { id: snapshot, node: n.name, transition: `runbook-${t0}`, from, to };
    const cut = snapshotScript({ node: n.name, ledger: n.ledger, pidFile: n.pid, snapshot, record });
    // No warm snapshot beside it: the seal copies the whole ledger (a first snapshot).
    const seal = sealScript({
      node: n.name,
      snapshot,
      warm: `${snapshot}.warm`,
      incremental: sleep(m.sealIncremental),
      full: sleep(m.sealFull),
    });
    await bash(`${sleep(m.cut)}${cut} && ${seal}`);
  }
  for (const n of nodes) await bash(`${sleep(m.migrate)}${migrate(net, n, release)}`);
  for (const n of nodes)
    await bash(`${pull(net, n, release, m)} && ${serve(net, n, release, sleep(m.boot))}`);
  await bash(attest);
  await bash(txtest);
  await bash(gate.accept);
  return (Date.now() - t0) / 1000;
}
