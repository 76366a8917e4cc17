import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { NetworkSpec, NodeSpec } from "../network";
import {
  CommandArgs,
  IngressGate,
  NodeHandle,
  NodeStepArgs,
  Platform,
  Server,
  SnapshotRecord,
  Step,
} from "../platform";
import { Transition, transitionOrdinal } from "../plan";
import { EnclaveRelease, hasDistributionStateFile, releaseKey } from "../release";
import { LocalCommand } from "./command";
import type { IngressConfig, NodeConfig } from "../../rehearsal/sim/config";

/**
 * The rehearsal platform: every node is a local `consensus-service-sim` process (a SIMULATED consensus-service:
 * same admin API shape, LMDB ledger, peers that refuse a different MRENCLAVE), `/ledger` is a directory per
 * node, snapshots are copies of a stopped node's ledger directory, and the ingress gate is a client-facing
 * local proxy. Nothing here needs a cloud account.
 */
export interface LocalPlatformArgs {
  /** Where nodes, snapshots, logs and the ingress live. @default `.rehearsal/<stack>` in the project */
  readonly rootDir: string;
  /** Ports: ingress at base+1 (control base+2), node i at base+10(i+1): admin +0, client +3, peer +4. */
  readonly basePort: number;
  /**
   * The ledger format each simulated release reads (the simulator's stand-in for LedgerDB's version).
   * @default 1 for every release
   */
  readonly ledgerFormats?: Readonly<Record<string, number>>;
  /**
   * Simulated latency of every node step (stop, snapshot, migrate, restore) and server start, in seconds: a
   * stand-in for EBS snapshots and instance boots, so benchmarks see stages that take time.
   * @default 0
   */
  readonly stepLatencySeconds?: number;
  /**
   * Each node's message-signer key (base64 DER Ed25519 on real nodes), a Pulumi secret: handed to the node's
   * process in MC_MSG_SIGNER_KEY, never written to its config file, the command text, logs or plain state.
   * @default none (the simulator runs without one)
   */
  readonly msgSignerKeys?: pulumi.Input<Record<string, string>>;
  /** The simulator and checks CLIs. @default the ones on PATH */
  readonly simCli?: string;
  readonly checksCli?: string;
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export function localPlatformArgs(
  raw: Partial<LocalPlatformArgs> | undefined,
  projectDir: string,
  stack: string,
) {
  const args = raw ?? {};
  const basePort = args.basePort ?? 24000;
  if (!Number.isInteger(basePort) || basePort < 1024 || basePort > 60000) {
    throw new Error(`flagday:local.basePort must be an integer between 1024 and 60000 (got ${basePort}).`);
  }
  const rootDir = path.resolve(projectDir, args.rootDir ?? path.join(".rehearsal", stack));
  return { ...args, basePort, rootDir } satisfies LocalPlatformArgs;
}

interface LocalNode extends NodeHandle {
  readonly dir: string;
  readonly index: number;
  readonly ports: NodeConfig["ports"];
}

export function localPlatform(args: LocalPlatformArgs): Platform {
  const sim = args.simCli ?? "consensus-service-sim";
  const nodesByName = new Map<string, LocalNode>();
  let networkName = "";
  const portsOf = (i: number) => {
    const base = args.basePort + 10 * (i + 1);
    return { admin: base, client: base + 3, peer: base + 4 };
  };
  const logFile = (name: string) => path.join(args.rootDir, "logs", `${name}.log`);
  /** Written when a step's command succeeded: what the gate reads to know whether it reopened. */
  const marker = (name: string) => path.join(args.rootDir, "marks", `${name}.done`);
  /**
   * Practice failures: a script at `<rootDir>/faults/<step>` (the step's name without the network and the
   * transition ordinal, e.g. `node2-migrate`, `quiesce`, `node2-server`) runs just before that step. If it fails,
   * the step fails as "injected"; if it succeeds (it may pause a node, edit the node's config in
   * $FLAGDAY_NODE_CONFIG), the step runs and meets whatever it did.
   */
  const faultHook = (name: string, env = "") => {
    // Step names are `<network>-[u<n>-]<step>`.
    const key = (name.startsWith(`${networkName}-`) ? name.slice(networkName.length + 1) : name).replace(
      /^u\d+-/,
      "",
    );
    const hook = path.join(args.rootDir, "faults", key);
    return (
      `mkdir -p ${q(path.join(args.rootDir, "logs"))} ${q(path.join(args.rootDir, "marks"))} && ` +
      `{ [ ! -f ${q(hook)} ] || { echo "flagday rehearsal: fault hook ${key}" >&2; ${env}bash ${q(hook)} || ` +
      `{ echo "injected fault: ${key} failed" >&2; exit 1; }; }; } && `
    );
  };
  const command = (name: string, c: CommandArgs, opts: pulumi.CustomResourceOptions): Step => {
    const res = new LocalCommand(
      name,
      {
        create: pulumi.interpolate`${faultHook(name)}${c.create} && touch ${q(marker(name))}`,
        delete: c.delete,
        // Stage steps run once per transition. If their inputs drift outside a flag day (a port, a path) they
        // must not run again: a stop re-run on a live network is an outage.
        update: "echo 'flagday: inputs changed outside a transition; nothing run'",
        triggers: [...c.triggers],
        environment: c.environment,
        logFile: logFile(name),
      },
      opts,
    );
    return { resource: res, output: res.stdout };
  };

  const latency = args.stepLatencySeconds ? `sleep ${args.stepLatencySeconds} && ` : "";
  const simRelease = (release: EnclaveRelease): NodeConfig["release"] => ({
    version: release.version,
    mrenclave: release.mrenclave,
    mrsigner: release.mrsigner,
    tokensConfigDigest: release.tokensConfigDigest,
    blockVersion: release.blockVersion,
    ledgerFormat: args.ledgerFormats?.[release.version] ?? 1,
    distributionStateFile: hasDistributionStateFile(release),
  });

  return {
    name: "local",

    node(spec: NodeSpec, network: NetworkSpec): NodeHandle {
      networkName = network.name;
      const index = network.nodes.findIndex((n) => n.name === spec.name);
      const ports = portsOf(index);
      const node: LocalNode = {
        spec,
        index,
        ports,
        dir: path.join(args.rootDir, spec.name),
        adminUrl: `http://127.0.0.1:${ports.admin}`,
        clientUrl: `http://127.0.0.1:${ports.client}`,
        parent: undefined as unknown as pulumi.Resource, // set by ConsensusNode
      };
      nodesByName.set(spec.name, node);
      return node;
    },

    server(
      handle: NodeHandle,
      release: EnclaveRelease,
      network: NetworkSpec,
      opts,
      generation = "initial",
    ): Server {
      const node = nodesByName.get(handle.spec.name)!;
      const others = network.nodes
        .map((n, i) => ({ n, p: portsOf(i) }))
        .filter(({ n }) => n.name !== node.spec.name);
      const config: NodeConfig = {
        name: node.spec.name,
        dir: node.dir,
        ports: node.ports,
        release: simRelease(release),
        network: {
          broadcast_peers: others.map(({ n, p }) => `mcp://127.0.0.1:${p.peer}?consensus-msg-key=${n.name}`),
          quorum_set: {
            threshold: network.quorumThreshold,
            members: others.map(({ p }) => ({ type: "Node" as const, args: `127.0.0.1:${p.peer}` })),
          },
        },
        logLevel: (node.spec.settings?.logLevel as NodeConfig["logLevel"]) ?? "info",
      };
      const file = path.join(node.dir, "config", `node-${releaseKey(release)}.json`);
      const res = new LocalCommand(
        `${network.name}-${node.spec.name}-server`,
        {
          create: [
            `mkdir -p ${q(path.dirname(file))} ${q(path.join(node.dir, "ledger"))}`,
            `printf '%s' ${q(JSON.stringify(config))} > ${q(file)}`,
            `${faultHook(`${network.name}-${node.spec.name}-server`, `FLAGDAY_NODE_CONFIG=${q(file)} `)}true`,
            `${latency}${sim} start --config ${q(file)}`,
          ].join(" && "),
          delete: `${sim} stop --dir ${q(node.dir)}`,
          ...(args.msgSignerKeys
            ? {
                environment: {
                  MC_MSG_SIGNER_KEY: pulumi.secret(
                    pulumi.output(args.msgSignerKeys).apply((k) => k[node.spec.name] ?? ""),
                  ),
                },
              }
            : {}),
          // A new release, a changed setting or a new transition is a new server: the old process stops first.
          triggers: [JSON.stringify(config.release), JSON.stringify(node.spec.settings ?? {}), generation],
        },
        { ...opts, deleteBeforeReplace: true },
      );
      return res;
    },

    nodeStep(step: NodeStepArgs, opts): Step {
      const node = nodesByName.get(step.node.spec.name)!;
      const { transition, stage } = step;
      const name = step.name;
      const ledger = path.join(node.dir, "ledger");
      const snapshot = path.join(args.rootDir, "snapshots", transition.id, node.spec.name);
      const refuseIfRunning = `if [ -f ${q(path.join(node.dir, "node.pid"))} ] && kill -0 "$(cat ${q(
        path.join(node.dir, "node.pid"),
      )})" 2>/dev/null; then echo "${node.spec.name} is still running: refusing to touch its ledger" >&2; exit 1; fi`;
      const releaseCommands = (cmds: readonly string[] | undefined) =>
        (cmds ?? []).map((c) => `(cd ${q(node.dir)} && LEDGER_DB=${q(ledger)} bash -c ${q(c)})`);
      let create: pulumi.Input<string>;
      switch (stage.name) {
        case "stop":
          create = `${sim} stop --dir ${q(node.dir)}`;
          break;
        case "snapshot":
          // LMDB is not safe to copy while written: only a stopped node's ledger is copied, to a fresh folder,
          // and its record (what rollbacks look for) is written only once the copy is whole.
          create = pulumi.output(step.height ?? "").apply((height) =>
            [
              refuseIfRunning,
              `rm -rf ${q(snapshot)}.partial`,
              `mkdir -p ${q(path.dirname(snapshot))}`,
              `cp -a ${q(ledger)} ${q(snapshot)}.partial`,
              `rm -rf ${q(snapshot)}`,
              `mv ${q(snapshot)}.partial ${q(snapshot)}`,
              `printf '%s' ${q(
                JSON.stringify({
                  id: snapshot,
                  node: node.spec.name,
                  transition: transition.id,
                  from: releaseKey(transition.from),
                  to: releaseKey(transition.to),
                  ...(height ? { height: Number(height) } : {}),
                }),
              )} > ${q(`${snapshot}.json`)}`,
              `echo ${q(snapshot)}`,
            ].join(" && "),
          );
          break;
        case "migrate":
          create = [
            refuseIfRunning,
            `${sim} migrate --ledger-db ${q(ledger)} --to ${args.ledgerFormats?.[transition.to.version] ?? 1}`,
            ...releaseCommands(transition.to.migrations),
          ].join(" && ");
          break;
        case "reverse-migrate":
          create = [refuseIfRunning, ...releaseCommands(transition.from.reverseMigrations)].join(" && ");
          break;
        case "restore": {
          // The ledger being replaced is kept beside it, never deleted.
          const kept = `${ledger}.before-${transition.id}`;
          create = pulumi
            .output(step.restoreFrom ?? "")
            .apply((from) =>
              from
                ? [
                    refuseIfRunning,
                    `test -d ${q(from)} || { echo "snapshot ${from} of ${node.spec.name} is missing" >&2; exit 1; }`,
                    `if [ -d ${q(kept)} ]; then rm -rf ${q(ledger)}; else mv ${q(ledger)} ${q(kept)}; fi`,
                    `cp -a ${q(from)} ${q(ledger)}`,
                    `echo ${q(from)}`,
                  ].join(" && ")
                : `echo "${node.spec.name}: the undone flag day took no snapshot of it, so its ledger was never ` +
                  `migrated: kept as it is"`,
            );
          break;
        }
        default:
          throw new Error(`flagday: the local platform has no node step ${stage.name}`);
      }
      return command(
        name,
        { create: pulumi.interpolate`${latency}${create}`, triggers: [transition.id] },
        opts,
      );
    },

    ingressGate(network: NetworkSpec, nodes: readonly NodeHandle[], opts): IngressGate {
      const dir = path.join(args.rootDir, "ingress");
      const config: IngressConfig = {
        dir,
        listen: args.basePort + 1,
        control: args.basePort + 2,
        upstreams: nodes.map((n) => ({
          name: n.spec.name,
          clientPort: nodesByName.get(n.spec.name)!.ports.client,
        })),
      };
      const file = path.join(dir, "ingress.json");
      const res = new LocalCommand(
        `${network.name}-ingress`,
        {
          create: [
            `mkdir -p ${q(dir)}`,
            `printf '%s' ${q(JSON.stringify(config))} > ${q(file)}`,
            `${sim} ingress start --config ${q(file)}`,
          ].join(" && "),
          delete: `${sim} ingress stop --dir ${q(dir)}`,
          triggers: [JSON.stringify(config)],
        },
        { ...opts, deleteBeforeReplace: true },
      );
      const control = `http://127.0.0.1:${config.control}`;
      const cli = args.checksCli ?? "flagday";
      return {
        resource: res,
        reject: `${cli} ingress reject --control ${control}`,
        accept: `${cli} ingress accept --control ${control}`,
        closedSince: (t) =>
          `[ ! -e ${q(marker(`${network.name}-${transitionOrdinal(t)}-ingress-accept`))} ] && ` +
          `${cli} ingress state --control ${control} | grep -q REJECTED`,
      };
    },

    command,

    snapshots(transition: Transition, nodes: readonly NodeHandle[]): pulumi.Output<SnapshotRecord> {
      const found: Record<string, { id: string; height?: number }> = {};
      for (const n of nodes) {
        const record = path.join(args.rootDir, "snapshots", transition.id, `${n.spec.name}.json`);
        if (!fs.existsSync(record)) continue;
        const r = JSON.parse(fs.readFileSync(record, "utf8")) as { id: string; height?: number };
        found[n.spec.name] = { id: r.id, ...(r.height !== undefined ? { height: r.height } : {}) };
      }
      return pulumi.output(found);
    },
  };
}
