import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { gateName, stageStepName, stepKey } from "../names";
import { NetworkSpec, NodeSpec } from "../network";
import {
  CommandArgs,
  IngressGate,
  NodeHandle,
  NodeStepArgs,
  Platform,
  snapshotRecord,
  SnapshotRecord,
  Step,
} from "../platform";
import { Transition, transitionOrdinal } from "../plan";
import { releaseKey } from "../release";
import { LocalCommand } from "./command";
import { LatencyConfig, latencyProblems, ModelledSeconds, modelledSeconds } from "./latency";
import {
  faultHookScript,
  imageDir,
  pullScript,
  sealScript,
  warmSnapshotScript,
  ingressCommands,
  ingressPorts,
  ingressStartScript,
  localNodeConfig,
  localPorts,
  migrateScript,
  nodePaths,
  preflightScript,
  restoreScript,
  reverseMigrateScript,
  simRelease,
  snapshotScript,
  startScript,
  stopScript,
} from "./scripts";
import type { IngressConfig } from "./simConfig";
import { shellQuote as q } from "../mobilecoin";

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
   * A MODELLED latency per operation and per ledger size instead of one flat figure (components/local/latency.ts:
   * the figures and their sources), for benchmarks that compare strategies on one model.
   * @default none
   */
  readonly latency?: LatencyConfig;
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
  const latency = latencyProblems(args.latency);
  if (latency.length) throw new Error(`flagday: ${latency.join(" ")} Nothing was changed.`);
  const rootDir = path.resolve(projectDir, args.rootDir ?? path.join(".rehearsal", stack));
  return { ...args, basePort, rootDir } satisfies LocalPlatformArgs;
}

interface LocalNode extends NodeHandle {
  readonly index: number;
  readonly paths: ReturnType<typeof nodePaths>;
}

export function localPlatform(args: LocalPlatformArgs): Platform {
  const sim = args.simCli ?? "consensus-service-sim";
  const cli = args.checksCli ?? "flagday";
  const nodesByName = new Map<string, LocalNode>();
  let networkName = "";
  const logFile = (name: string) => path.join(args.rootDir, "logs", `${name}.log`);
  /** Written when a step's command succeeded: what the gate reads to know whether it reopened. */
  const marker = (name: string) => path.join(args.rootDir, "marks", `${name}.done`);
  const faultHook = (name: string, env = "") =>
    faultHookScript(args.rootDir, stepKey(name, networkName), env);
  // The simulated latency of each operation: the modelled profile's, or one flat figure for every step.
  const modelled = args.latency ? modelledSeconds(args.latency) : undefined;
  const sleep = (op: keyof ModelledSeconds) => {
    const secs = modelled ? modelled[op] : args.stepLatencySeconds;
    return secs ? `sleep ${secs} && ` : "";
  };
  const formatOf = (version: string) => args.ledgerFormats?.[version] ?? 1;
  const localNode = (handle: NodeHandle) => nodesByName.get(handle.spec.name)!;
  const snapshotPath = (transition: Transition, node: string) =>
    path.join(args.rootDir, "snapshots", transition.id, node);

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
  /** A node stage: the simulated latency, then its script, once per transition. */
  const nodeCommand = (
    step: NodeStepArgs,
    script: pulumi.Input<string>,
    opts: pulumi.CustomResourceOptions,
    latency = "",
  ) =>
    command(
      step.name,
      { create: pulumi.interpolate`${latency}${script}`, triggers: [step.transition.id] },
      opts,
    );
  const warmPath = (transition: Transition, node: string) => `${snapshotPath(transition, node)}.warm`;

  return {
    name: "local",

    node(spec: NodeSpec, network: NetworkSpec): NodeHandle {
      networkName = network.name;
      const index = network.nodes.findIndex((n) => n.name === spec.name);
      const ports = localPorts(args.basePort, index);
      const node: LocalNode = {
        spec,
        index,
        paths: nodePaths(args.rootDir, spec.name),
        adminUrl: `http://127.0.0.1:${ports.admin}`,
        clientUrl: `http://127.0.0.1:${ports.client}`,
        parent: undefined as unknown as pulumi.Resource, // set by ConsensusNode
      };
      nodesByName.set(spec.name, node);
      return node;
    },

    nodeSteps: {
      start({ name, node: handle, release, network, generation }, opts) {
        const node = localNode(handle);
        const config = localNodeConfig({
          name: node.spec.name,
          dir: node.paths.dir,
          ports: localPorts(args.basePort, node.index),
          release: simRelease(release, formatOf(release.version)),
          threshold: network.quorumThreshold,
          peers: network.nodes
            .map((n, i) => ({ name: n.name, peerPort: localPorts(args.basePort, i).peer }))
            .filter((p) => p.name !== node.spec.name),
          logLevel: node.spec.settings?.logLevel as string | undefined,
        });
        const configFile = path.join(node.paths.dir, "config", `node-${releaseKey(release)}.json`);
        // A new release, a changed setting or a new transition is a new server: the old process stops first.
        const triggers = [
          JSON.stringify(config.release),
          JSON.stringify(node.spec.settings ?? {}),
          generation,
        ];
        const res = new LocalCommand(
          name,
          {
            create: startScript({
              sim,
              configFile,
              config,
              faultHook: faultHook(name, `FLAGDAY_NODE_CONFIG=${q(configFile)} `),
              // A host without the release's image pulls it first (inside the window, unless prepared).
              latency:
                (modelled
                  ? `{ [ -f ${q(path.join(imageDir(args.rootDir, node.spec.name, release), "libconsensus-enclave.signed.so"))} ] || { ${pullScript({ node: node.spec.name, rootDir: args.rootDir, release, latency: sleep("pull") })}; }; } && `
                  : "") + sleep("boot"),
            }),
            delete: stopScript(sim, node.paths.dir),
            ...(args.msgSignerKeys
              ? {
                  environment: {
                    MC_MSG_SIGNER_KEY: pulumi.secret(
                      pulumi.output(args.msgSignerKeys).apply((k) => k[node.spec.name] ?? ""),
                    ),
                  },
                }
              : {}),
            triggers,
          },
          { ...opts, deleteBeforeReplace: true },
        );
        return { resource: res, replacedWhen: triggers };
      },

      // No simulated latency: the pre-flight stands for a few reads, not for a cloud operation.
      preflight(step, opts) {
        const node = localNode(step.node);
        return command(
          step.name,
          {
            create: preflightScript({
              sim,
              node: node.spec.name,
              dir: node.paths.dir,
              ledger: node.paths.ledger,
            }),
            triggers: [step.transition.id],
          },
          opts,
        );
      },

      "warm-snapshot": (step, opts) =>
        nodeCommand(
          step,
          warmSnapshotScript({
            ledger: localNode(step.node).paths.ledger,
            warm: warmPath(step.transition, step.node.spec.name),
            latency: modelled ? `sleep ${modelled.sealFull} && ` : sleep("cut"),
          }),
          opts,
        ),

      pull: (step, opts) =>
        nodeCommand(
          step,
          pullScript({
            node: step.node.spec.name,
            rootDir: args.rootDir,
            release: step.transition.to,
            latency: sleep("pull"),
          }),
          opts,
        ),

      seal: (step, opts) =>
        nodeCommand(
          step,
          sealScript({
            node: step.node.spec.name,
            snapshot: snapshotPath(step.transition, step.node.spec.name),
            warm: warmPath(step.transition, step.node.spec.name),
            incremental: modelled ? `sleep ${modelled.sealIncremental} && ` : sleep("cut"),
            full: modelled ? `sleep ${modelled.sealFull} && ` : sleep("cut"),
          }),
          opts,
        ),

      stop: (step, opts) =>
        nodeCommand(step, stopScript(sim, localNode(step.node).paths.dir), opts, sleep("stop")),

      snapshot(step, opts) {
        const node = localNode(step.node);
        const { transition } = step;
        const snapshot = snapshotPath(transition, node.spec.name);
        const script = pulumi.output(step.height ?? "").apply((height) =>
          snapshotScript({
            node: node.spec.name,
            ledger: node.paths.ledger,
            pidFile: node.paths.pid,
            snapshot,
            record: {
              id: snapshot,
              node: node.spec.name,
              transition: transition.id,
              from: releaseKey(transition.from),
              to: releaseKey(transition.to),
              ...(height ? { height: Number(height) } : {}),
            },
          }),
        );
        return nodeCommand(step, script, opts, sleep("cut"));
      },

      migrate(step, opts) {
        const node = localNode(step.node);
        return nodeCommand(
          step,
          migrateScript({
            sim,
            node: node.spec.name,
            dir: node.paths.dir,
            ledger: node.paths.ledger,
            pidFile: node.paths.pid,
            toFormat: formatOf(step.transition.to.version),
            migrations: step.transition.to.migrations,
          }),
          opts,
          sleep("migrate"),
        );
      },

      "reverse-migrate"(step, opts) {
        const node = localNode(step.node);
        return nodeCommand(
          step,
          reverseMigrateScript({
            node: node.spec.name,
            dir: node.paths.dir,
            ledger: node.paths.ledger,
            pidFile: node.paths.pid,
            reverseMigrations: step.transition.from.reverseMigrations,
          }),
          opts,
          sleep("migrate"),
        );
      },

      restore(step, opts) {
        const node = localNode(step.node);
        const script = pulumi.output(step.restoreFrom ?? "").apply((from) =>
          restoreScript({
            node: node.spec.name,
            ledger: node.paths.ledger,
            pidFile: node.paths.pid,
            from,
            kept: `${node.paths.ledger}.before-${step.transition.id}`,
          }),
        );
        return nodeCommand(step, script, opts, sleep("attach"));
      },
    },

    ingressGate(network: NetworkSpec, nodes: readonly NodeHandle[], opts): IngressGate {
      // Several operators: each stack's ingress is its operator's own, in front of its own nodes.
      const operator = nodes[0]?.spec.operator;
      const k = operator === undefined ? -1 : (network.operators ?? []).findIndex((o) => o.name === operator);
      const ports = ingressPorts(args.basePort, k < 0 ? undefined : k);
      const config: IngressConfig = {
        dir: path.join(args.rootDir, "ingress"),
        listen: ports.listen,
        control: ports.control,
        upstreams: nodes.map((n) => ({
          name: n.spec.name,
          clientPort: localPorts(args.basePort, localNode(n).index).client,
        })),
      };
      const res = new LocalCommand(
        gateName(network.name),
        {
          create: ingressStartScript(sim, config),
          delete: `${sim} ingress stop --dir ${q(config.dir)}`,
          triggers: [JSON.stringify(config)],
        },
        { ...opts, deleteBeforeReplace: true },
      );
      const gate = ingressCommands(cli, ports.control);
      return {
        resource: res,
        reject: gate.reject,
        accept: () => gate.accept,
        closedSince: (t) =>
          gate.closedSince(marker(stageStepName(network.name, transitionOrdinal(t), "ingress-accept"))),
      };
    },

    command,

    snapshots(transition: Transition, nodes: readonly NodeHandle[]): pulumi.Output<SnapshotRecord> {
      const found: Record<string, { id: string; height?: number }> = {};
      for (const n of nodes) {
        const record = `${snapshotPath(transition, n.spec.name)}.json`;
        if (!fs.existsSync(record)) continue;
        const r = JSON.parse(fs.readFileSync(record, "utf8")) as { id: string; height?: number };
        found[n.spec.name] = { id: r.id, ...(r.height !== undefined ? { height: r.height } : {}) };
      }
      return pulumi.output(
        snapshotRecord(transition, found, `"height" in the snapshot's record file beside it`),
      );
    },
  };
}
