/**
 * What the local platform's steps run, as plain functions of plain values: the platform (platform.ts) only
 * wires them into LocalCommand resources. Every path here is under the rehearsal's root directory.
 */
import * as path from "node:path";
import { networkJson, shellQuote as q } from "../mobilecoin";
import { EnclaveRelease, hasDistributionStateFile } from "../release";
import type { IngressConfig, NodeConfig } from "./simConfig";

/** Ports: ingress at base+1 (control base+2), node i at base+10(i+1): admin +0, client +3, peer +4. */
export function localPorts(basePort: number, index: number): NodeConfig["ports"] {
  const base = basePort + 10 * (index + 1);
  return { admin: base, client: base + 3, peer: base + 4 };
}

/**
 * The client-facing ingress and its control port: base+1 and base+2, or, for the k-th operator (0-based) of a
 * network with several operators (each its own ingress), base+10(k+1)+1 and +2, ports no node uses.
 */
export function ingressPorts(basePort: number, operatorIndex?: number): { listen: number; control: number } {
  const base = operatorIndex === undefined ? basePort : basePort + 10 * (operatorIndex + 1);
  return { listen: base + 1, control: base + 2 };
}

/** Where a node's files live under the rehearsal's root. */
export function nodePaths(rootDir: string, node: string) {
  const dir = path.join(rootDir, node);
  return { dir, ledger: path.join(dir, "ledger"), pid: path.join(dir, "node.pid") };
}

/** A node's simulated release: the consensus fields, plus the ledger format it reads. */
export function simRelease(release: EnclaveRelease, ledgerFormat: number): NodeConfig["release"] {
  return {
    version: release.version,
    mrenclave: release.mrenclave,
    mrsigner: release.mrsigner,
    tokensConfigDigest: release.tokensConfigDigest,
    blockVersion: release.blockVersion,
    ledgerFormat,
    distributionStateFile: hasDistributionStateFile(release),
  };
}

/** A simulated node's config: its ports, release and network.json (the others, as real nodes list them). */
export function localNodeConfig(a: {
  readonly name: string;
  readonly dir: string;
  readonly ports: NodeConfig["ports"];
  readonly release: NodeConfig["release"];
  readonly threshold: number;
  readonly peers: readonly { readonly name: string; readonly peerPort: number }[];
  readonly logLevel?: string;
}): NodeConfig {
  return {
    name: a.name,
    dir: a.dir,
    ports: a.ports,
    release: a.release,
    // The simulator identifies a peer by its node name where real nodes carry the message-signer public key.
    network: networkJson({
      threshold: a.threshold,
      peers: a.peers.map((p) => ({ host: "127.0.0.1", port: p.peerPort, msgPublicKey: p.name })),
    }),
    logLevel: (a.logLevel as NodeConfig["logLevel"]) ?? "info",
  };
}

/**
 * Practice failures: a script at `<rootDir>/faults/<key>` (the step's name without the network and the
 * transition ordinal, e.g. `node2-migrate`, `quiesce`, `node2-server`) runs just before that step. If it fails,
 * the step fails as "injected"; if it succeeds (it may pause a node, edit the node's config in
 * $FLAGDAY_NODE_CONFIG), the step runs and meets whatever it did. Ends with `&& ` to prefix a command.
 */
export function faultHookScript(rootDir: string, key: string, env = ""): string {
  const hook = path.join(rootDir, "faults", key);
  return (
    `mkdir -p ${q(path.join(rootDir, "logs"))} ${q(path.join(rootDir, "marks"))} && ` +
    `{ [ ! -f ${q(hook)} ] || { echo "flagday rehearsal: fault hook ${key}" >&2; ${env}bash ${q(hook)} || ` +
    `{ echo "injected fault: ${key} failed" >&2; exit 1; }; }; } && `
  );
}

/** Refuses to go on while the node's process runs: LMDB is not safe to copy or migrate while written. */
export function refuseIfRunning(node: string, pidFile: string): string {
  return (
    `if [ -f ${q(pidFile)} ] && kill -0 "$(cat ${q(pidFile)})" 2>/dev/null; then ` +
    `echo "${node} is still running: refusing to touch its ledger" >&2; exit 1; fi`
  );
}

/** Writes the node's config and starts its process on it (the `start` stage). */
export function startScript(a: {
  readonly sim: string;
  readonly configFile: string;
  readonly config: NodeConfig;
  readonly faultHook: string;
  readonly latency: string;
}): string {
  return [
    `mkdir -p ${q(path.dirname(a.configFile))} ${q(path.join(a.config.dir, "ledger"))}`,
    `printf '%s' ${q(JSON.stringify(a.config))} > ${q(a.configFile)}`,
    `${a.faultHook}true`,
    `${a.latency}${a.sim} start --config ${q(a.configFile)}`,
  ].join(" && ");
}

export const stopScript = (sim: string, dir: string) => `${sim} stop --dir ${q(dir)}`;

/**
 * The pre-flight of a simulated node: its folder and ledger are there and writable, and the simulator runs
 * (the stop, snapshot and migrate steps after it use both). Read-only; prints what it found.
 */
export function preflightScript(a: {
  readonly sim: string;
  readonly node: string;
  readonly dir: string;
  readonly ledger: string;
}): string {
  const fail = (why: string) => `{ echo ${q(`flagday: pre-flight of ${a.node}: ${why}`)} >&2; exit 1; }`;
  return [
    `[ -d ${q(a.dir)} ] || ${fail(`its folder ${a.dir} is missing`)}`,
    `[ -d ${q(a.ledger)} ] && [ -w ${q(a.ledger)} ] || ${fail(`its ledger ${a.ledger} is missing or not writable`)}`,
    `${a.sim} --help >/dev/null || ${fail(`the simulator (${a.sim}) does not run`)}`,
    `echo ${q(`flagday: pre-flight of ${a.node} ok: ${a.dir}, its ledger and the simulator are there`)}`,
  ].join(" && ");
}

/**
 * Copies a stopped node's ledger to a fresh folder, and writes its record (what rollbacks look for) only once
 * the copy is whole. Prints the snapshot's path.
 */
export function snapshotScript(a: {
  readonly node: string;
  readonly ledger: string;
  readonly pidFile: string;
  readonly snapshot: string;
  readonly record: Readonly<Record<string, unknown>>;
}): string {
  const s = a.snapshot;
  return [
    refuseIfRunning(a.node, a.pidFile),
    `rm -rf ${q(s)}.partial`,
    `mkdir -p ${q(path.dirname(s))}`,
    `cp -a ${q(a.ledger)} ${q(s)}.partial`,
    `rm -rf ${q(s)}`,
    `mv ${q(s)}.partial ${q(s)}`,
    `printf '%s' ${q(JSON.stringify(a.record))} > ${q(`${s}.json`)}`,
    `echo ${q(s)}`,
  ].join(" && ");
}

/** The release's own migration commands, run in the node's folder with LEDGER_DB set. */
function releaseCommands(dir: string, ledger: string, cmds: readonly string[] | undefined): string[] {
  return (cmds ?? []).map((c) => `(cd ${q(dir)} && LEDGER_DB=${q(ledger)} bash -c ${q(c)})`);
}

/** The simulator's format migration (its `mc-ledger-migration`), then the release's own, in order. */
export function migrateScript(a: {
  readonly sim: string;
  readonly node: string;
  readonly dir: string;
  readonly ledger: string;
  readonly pidFile: string;
  readonly toFormat: number;
  readonly migrations?: readonly string[];
}): string {
  return [
    refuseIfRunning(a.node, a.pidFile),
    `${a.sim} migrate --ledger-db ${q(a.ledger)} --to ${a.toFormat}`,
    ...releaseCommands(a.dir, a.ledger, a.migrations),
  ].join(" && ");
}

export function reverseMigrateScript(a: {
  readonly node: string;
  readonly dir: string;
  readonly ledger: string;
  readonly pidFile: string;
  readonly reverseMigrations?: readonly string[];
}): string {
  return [refuseIfRunning(a.node, a.pidFile), ...releaseCommands(a.dir, a.ledger, a.reverseMigrations)].join(
    " && ",
  );
}

/**
 * Puts the snapshot back as the node's ledger; the ledger it replaces is kept beside it (`kept`), never
 * deleted. A node the undone flag day never snapshotted was never migrated: it is kept as it is.
 */
export function restoreScript(a: {
  readonly node: string;
  readonly ledger: string;
  readonly pidFile: string;
  readonly from: string;
  readonly kept: string;
}): string {
  if (!a.from) {
    return (
      `echo "${a.node}: the undone flag day took no snapshot of it, so its ledger was never ` +
      `migrated: kept as it is"`
    );
  }
  return [
    refuseIfRunning(a.node, a.pidFile),
    `test -d ${q(a.from)} || { echo "snapshot ${a.from} of ${a.node} is missing" >&2; exit 1; }`,
    `if [ -d ${q(a.kept)} ]; then rm -rf ${q(a.ledger)}; else mv ${q(a.ledger)} ${q(a.kept)}; fi`,
    `cp -a ${q(a.from)} ${q(a.ledger)}`,
    `echo ${q(a.from)}`,
  ].join(" && ");
}

/** Starts the client-facing proxy on its config. */
export function ingressStartScript(sim: string, config: IngressConfig): string {
  const file = path.join(config.dir, "ingress.json");
  return [
    `mkdir -p ${q(config.dir)}`,
    `printf '%s' ${q(JSON.stringify(config))} > ${q(file)}`,
    `${sim} ingress start --config ${q(file)}`,
  ].join(" && ");
}

/** The gate's switches and its "closed since" test, through the proxy's control port. */
export function ingressCommands(cli: string, controlPort: number) {
  const control = `http://127.0.0.1:${controlPort}`;
  return {
    reject: `${cli} ingress reject --control ${control}`,
    accept: `${cli} ingress accept --control ${control}`,
    /** Exits 0 iff the gate rejects now and the step that reopens it (marked by `acceptMarker`) never ran. */
    closedSince: (acceptMarker: string) =>
      `[ ! -e ${q(acceptMarker)} ] && ${cli} ingress state --control ${control} | grep -q REJECTED`,
  };
}

/**
 * The simulated enclave artifact a release's image carries (the rehearsal's stand-in for
 * libconsensus-enclave.signed.so): its sha256 is what `enclaveSha256` of a simulated release states.
 */
export function simulatedEnclave(release: Pick<EnclaveRelease, "version" | "mrenclave">): string {
  return `simulated libconsensus-enclave.signed.so ${release.version} ${release.mrenclave}\n`;
}

/** Where a simulated node's host keeps a pulled image: each node is a host of its own, one folder per release. */
export const imageDir = (rootDir: string, node: string, release: Pick<EnclaveRelease, "version">) =>
  path.join(rootDir, node, "images", release.version);

/**
 * Pulls the release's simulated image onto the host (writes its enclave artifact) and checks the artifact's
 * sha256 against the release's `enclaveSha256`: a wrong image fails here, before the window.
 */
export function pullScript(a: {
  readonly node: string;
  readonly rootDir: string;
  readonly release: EnclaveRelease;
  readonly latency: string;
}): string {
  const dir = imageDir(a.rootDir, a.node, a.release);
  const file = path.join(dir, "libconsensus-enclave.signed.so");
  return [
    `mkdir -p ${q(dir)}`,
    `${a.latency}printf '%s' ${q(simulatedEnclave(a.release))} > ${q(`${file}.partial`)}`,
    `{ echo ${q(`${a.release.enclaveSha256}  ${file}.partial`)} | sha256sum -c --status || { echo ${q(
      `flagday: pull on ${a.node}: the enclave in ${a.release.version}'s image does not have the release's ` +
        `enclaveSha256 ${a.release.enclaveSha256}: wrong image or wrong release entry; nothing was changed`,
    )} >&2; rm -f ${q(`${file}.partial`)}; exit 1; }; }`,
    `mv ${q(`${file}.partial`)} ${q(file)}`,
    `echo ${q(`${a.node}: ${a.release.version} pulled, enclave sha256 ${a.release.enclaveSha256} checked`)}`,
  ].join(" && ");
}

/**
 * A warm snapshot: a copy of the running node's ledger (crash-consistent, as an EBS or CSI snapshot of an
 * attached volume is), the base that makes the window's snapshot incremental. Never restored from.
 */
export function warmSnapshotScript(a: {
  readonly ledger: string;
  readonly warm: string;
  readonly latency: string;
}): string {
  return [
    `rm -rf ${q(`${a.warm}.partial`)}`,
    `mkdir -p ${q(path.dirname(a.warm))}`,
    `${a.latency}cp -a ${q(a.ledger)} ${q(`${a.warm}.partial`)}`,
    `rm -rf ${q(a.warm)}`,
    `mv ${q(`${a.warm}.partial`)} ${q(a.warm)}`,
    `echo ${q(a.warm)}`,
  ].join(" && ");
}

/**
 * Seals the window's snapshot: waits (the modelled copy of its changed blocks) until it is complete. With a
 * warm snapshot beside it only the incremental part is copied; without one, the whole ledger. Marks it
 * sealed; a snapshot that was never cut fails it.
 */
export function sealScript(a: {
  readonly node: string;
  readonly snapshot: string;
  readonly warm: string;
  readonly incremental: string;
  readonly full: string;
}): string {
  return [
    `[ -f ${q(`${a.snapshot}.json`)} ] || { echo ${q(`flagday: seal of ${a.node}: no snapshot was cut at ${a.snapshot}`)} >&2; exit 1; }`,
    `if [ -d ${q(a.warm)} ]; then ${a.incremental}true; else ${a.full}true; fi`,
    `touch ${q(`${a.snapshot}.sealed`)}`,
    `echo ${q(`${a.node}: snapshot ${a.snapshot} sealed`)}`,
  ].join(" && ");
}
