import * as pulumi from "@pulumi/pulumi";
import { ChecksOptions, healthyCommand } from "./checks";
import { NetworkSpec, NodeSpec, validateNetwork } from "./network";
import { buildStages, StageSteps } from "./orchestrate";
import { Deployed, HistoryEntry, planUpgrade, Plan, historyEntry, transitionOrdinal } from "./plan";
import { SEQUENCES } from "./stages";
import { NodeHandle, Platform, Server, SnapshotRecord, Step } from "./platform";
import { EnclaveRelease } from "./release";
import { MaintenanceWindow, testnetRefusal, windowRefusal } from "./gates";

export interface ConsensusNetworkArgs {
  /** The network as the stack config describes it (validated here, before anything is registered). */
  readonly network: NetworkSpec;
  /** Where the nodes run. */
  readonly platform: Platform;
  /** What the last successful `pulumi up` recorded (the stack's own `flagday` output). @default first deployment */
  readonly deployed?: Deployed;
  /** Undo the last flag day (also implied by setting the release back). @default false */
  readonly rollback?: boolean;
  /** Undo a flag day to this release that failed part-way; the target must be the deployed release. */
  readonly abort?: EnclaveRelease;
  /** Overrides the operator stated (window, testnet-first, data loss), recorded in the history. */
  readonly overrides?: readonly string[];
  readonly checks?: ChecksOptions;
  /** The agreed maintenance window: a flag day `pulumi up` outside it fails before anything changes. */
  readonly window?: MaintenanceWindow;
  /** The reason to start a flag day outside the window (recorded in the history). */
  readonly windowOverride?: string;
  /**
   * Testnet first: the testnet stack's name and its `flagday` output. A flag day to a release that has not
   * completed there is refused. @default no check (use it on mainnet)
   */
  readonly testnet?: { readonly stack: string; readonly record?: Deployed };
  /** The reason to skip the testnet-first check (recorded in the history). */
  readonly testnetOverride?: string;
  /** For tests: the clock and whether this is a preview. @default now, and what the engine says */
  readonly now?: Date;
  readonly dryRun?: boolean;
}

/** One consensus node: its long-lived pieces and its server on a release. */
export class ConsensusNode extends pulumi.ComponentResource {
  readonly handle: NodeHandle;
  private serverResource?: Server;

  constructor(
    readonly spec: NodeSpec,
    private readonly args: { platform: Platform; network: NetworkSpec },
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super("flagday:index:ConsensusNode", `${args.network.name}-${spec.name}`, {}, opts);
    const handle = args.platform.node(spec, args.network, { parent: this });
    this.handle = { ...handle, parent: this };
  }

  /** Registers the node's server on `release`; a change of release or settings replaces it (old one first). */
  runRelease(release: EnclaveRelease, dependsOn: pulumi.Resource[], generation: string): Server {
    if (this.serverResource) throw new Error(`flagday: node ${this.spec.name} already has a server`);
    this.serverResource = this.args.platform.server(
      this.handle,
      release,
      this.args.network,
      { parent: this, dependsOn },
      generation,
    );
    // What the node runs, for the policy pack (policy/). Registered here, synchronously inside the network's
    // constructor, before the SDK's automatic empty registration; every value is stable while nothing changes.
    this.registerOutputs({
      network: this.args.network.name,
      node: this.spec.name,
      mrenclave: release.mrenclave,
      version: release.version,
      generation,
    });
    return this.serverResource;
  }
}

/**
 * A MobileCoin consensus network whose enclave release is code. Changing the release's consensus fields makes
 * one `pulumi up` perform the whole flag day (stages.ts); changing anything else replaces nodes one at a time
 * with the ingress open; changing nothing changes nothing.
 */
export class ConsensusNetwork extends pulumi.ComponentResource {
  readonly plan: Plan;
  readonly nodes: readonly ConsensusNode[];
  readonly stages?: StageSteps;
  /** The record the next `pulumi up` reads back: export it as the stack output `flagday`. */
  readonly record!: pulumi.Output<Deployed>;

  constructor(name: string, args: ConsensusNetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    // Validation runs before anything is registered: bad input fails the preview and changes nothing.
    const network = validateNetwork(args.network);
    const overrides = [
      ...(args.overrides ?? []),
      ...(args.windowOverride ? [`outside-window: ${args.windowOverride}`] : []),
      ...(args.testnetOverride ? [`testnet-skipped: ${args.testnetOverride}`] : []),
    ];
    const plan = planUpgrade(network.release, args.deployed, {
      rollback: args.rollback,
      abort: args.abort,
      overrides,
    });
    const dryRun = args.dryRun ?? pulumi.runtime.isDryRun();
    const refusal =
      windowRefusal(plan, args.window, args.now ?? new Date(), { dryRun, override: args.windowOverride }) ??
      (args.testnet &&
        testnetRefusal(plan, network.release, args.testnet.record, args.testnet.stack, args.testnetOverride));
    if (refusal) throw new Error(refusal);
    super("flagday:index:ConsensusNetwork", name, {}, opts);
    this.plan = plan;
    const checks = args.checks ?? {};
    const platform = args.platform;

    this.nodes = network.nodes.map(
      (spec) => new ConsensusNode(spec, { platform, network }, { parent: this }),
    );
    const handles = this.nodes.map((n) => n.handle);
    const gate = platform.ingressGate(network, handles, { parent: this });

    // A node starts in the `start` stage of a transition, held back by the stages before it. Otherwise (first
    // deployment, or a change that is not a flag day) nodes roll: each server waits for the previous node to be
    // healthy again, so they are replaced one at a time with the network up and the ingress open.
    const rolling = plan.kind !== "transition";
    const transition = plan.kind === "initial" ? undefined : plan.transition;
    const generation = transition?.id ?? "initial";
    const servers: Server[] = [];
    const healthy: Step[] = [];
    const startNode = (i: number, stageDeps: pulumi.Resource[]): Server => {
      const node = this.nodes[i];
      const deps = rolling ? (i > 0 ? [healthy[i - 1].resource] : []) : stageDeps;
      const server = (servers[i] = node.runRelease(network.release, deps, generation));
      if (rolling) checkHealthy(i, []);
      return server;
    };
    // Each node is checked after its server changes. In a flag day the stages check the whole network first
    // (attest names a node on the wrong enclave); the per-node checks then confirm each node at the end.
    const checkHealthy = (i: number, after: pulumi.Resource[]) => {
      const node = this.nodes[i];
      healthy[i] = platform.command(
        `${network.name}-${node.spec.name}-healthy`,
        { create: healthyCommand(node.handle, network.release.mrenclave, checks), triggers: [servers[i].id] },
        { parent: node, dependsOn: [servers[i], ...after] },
      );
    };

    // The ledgers a past rollback restored (new volumes on AWS and Kubernetes) stay the nodes' ledgers: keep
    // their restore steps, unchanged, unless this update registers that rollback's stages itself.
    const restoredBy = args.deployed?.restoredBy;
    if (restoredBy && restoredBy.id !== transition?.id) {
      keepRestoredLedgers(platform, network, handles, restoredBy);
    }

    let completed: pulumi.Output<unknown>;
    if (transition) {
      const context = {
        platform,
        network,
        nodes: handles,
        gate,
        checks,
        startServer: startNode,
        parent: this,
      };
      // A rollback finds the snapshots the flag day it undoes took where the platform keeps them: whatever
      // point that flag day reached, each node either has its pre-upgrade snapshot or was never migrated.
      const undone = transition.undoes ? platform.snapshots(transition.undoes, handles) : undefined;
      const stages = buildStages({
        ...context,
        transition,
        overrides: transition.overrides,
        undone: undone && {
          snapshots: undone,
          completed: (args.deployed?.history ?? []).some(
            (h) => h.id === transition.undoes?.id && h.outcome === "completed",
          ),
        },
      });
      this.stages = stages;
      const last = [...stages.values()].at(-1) ?? [];
      if (!rolling)
        this.nodes.forEach((_, i) =>
          checkHealthy(
            i,
            last.map((st) => st.resource),
          ),
        );
      completed = pulumi.all([...last, ...healthy].map(stepDone));
      this.record = pulumi
        .all([
          completed,
          undone && transition.sequence === "rollback-restore" ? undone : snapshotsOf(stages, handles),
        ])
        .apply(([, snapshots]) => recordAfter(network.release, args.deployed, plan, snapshots, args.window));
    } else {
      this.nodes.forEach((_, i) => startNode(i, []));
      completed = pulumi.all(healthy.map(stepDone));
      this.record = completed.apply(() => recordAfter(network.release, args.deployed, plan, {}));
    }
    this.registerOutputs({
      record: this.record,
      // For the policy pack (policy/): stable while nothing changes.
      network: network.name,
      peerAttestation: network.peerAttestation?.mode ?? "mrenclave",
    });
  }
}

/** Registers a past rollback's restore steps again, unchanged: the engine keeps them as they are. */
function keepRestoredLedgers(
  platform: Platform,
  network: NetworkSpec,
  nodes: readonly NodeHandle[],
  restoredBy: NonNullable<Deployed["restoredBy"]>,
): void {
  const restore = SEQUENCES["rollback-restore"].find((s) => s.name === "restore")!;
  const snapshots = restoredBy.undoes
    ? platform.snapshots(restoredBy.undoes, nodes)
    : pulumi.output<SnapshotRecord>({});
  const ordinal = transitionOrdinal(restoredBy);
  for (const node of nodes) {
    platform.nodeStep(
      {
        name: `${network.name}-${ordinal}-${node.spec.name}-restore`,
        stage: restore,
        node,
        transition: restoredBy,
        network,
        restoreFrom: snapshots.apply((r) => r[node.spec.name]?.id ?? ""),
      },
      { parent: node.parent },
    );
  }
}

function stepDone(step: Step): pulumi.Output<unknown> {
  return step.output ?? step.resource.urn;
}

function snapshotsOf(
  stages: StageSteps,
  nodes: readonly NodeHandle[],
): pulumi.Output<HistoryEntry["snapshots"]> {
  const snaps = stages.get("snapshot") ?? stages.get("restore");
  if (!snaps) return pulumi.output<HistoryEntry["snapshots"]>({});
  const quiesce = stages.get("quiesce")?.[0]?.output ?? pulumi.output("");
  return pulumi
    .all([pulumi.all(snaps.map((s) => s.output ?? pulumi.output(""))), quiesce])
    .apply(([ids, q]) => {
      const height = parseHeight(q);
      return Object.fromEntries(
        nodes.map((n, i) => [n.spec.name, { id: ids[i], ...(height !== undefined ? { height } : {}) }]),
      );
    });
}

/** The quiesce check prints `height=<n>` once all nodes agree. */
export function parseHeight(out: string): number | undefined {
  const m = /\bheight=(\d+)/.exec(out);
  return m ? Number(m[1]) : undefined;
}

/** The deployed record after this update completes. */
export function recordAfter(
  release: EnclaveRelease,
  deployed: Deployed | undefined,
  plan: Plan,
  snapshots: HistoryEntry["snapshots"],
  window?: MaintenanceWindow,
): Deployed {
  const restoredBy = deployed?.restoredBy ? { restoredBy: deployed.restoredBy } : {};
  if (plan.kind !== "transition") {
    return {
      release,
      history: deployed?.history ?? [],
      ...(deployed?.lastTransition ? { lastTransition: deployed.lastTransition } : {}),
      ...restoredBy,
    };
  }
  const t = plan.transition;
  const history = [...(deployed?.history ?? [])];
  // A rollback of a flag day that failed part-way: that flag day was never recorded, so record it as aborted.
  if (t.undoes && !history.some((h) => h.id === t.undoes?.id)) {
    history.push({ ...historyEntry(t.undoes, snapshots), outcome: "aborted" });
  }
  const w = window && {
    start: `${window.start} ${window.timeZone}`,
    end: `${window.end} ${window.timeZone}`,
  };
  history.push(historyEntry(t, snapshots, w));
  return {
    release,
    lastTransition: t,
    history,
    ...(t.sequence === "rollback-restore" ? { restoredBy: t } : restoredBy),
  };
}
