import * as pulumi from "@pulumi/pulumi";
import { ChecksOptions } from "./checks";
import { NetworkSpec, NodeSpec, validateNetwork } from "./network";
import { buildStages, stageNamesOf, StageSteps } from "./orchestrate";
import { Deployed, HistoryEntry, planUpgrade, Plan, historyEntry } from "./plan";
import { PREPARE } from "./stages";
import { NodeHandle, Platform } from "./platform";
import { EnclaveRelease } from "./release";
import { MaintenanceWindow, testnetRefusal, windowRefusal } from "./gates";
import { agreementRefusal, proposalFor } from "./coordination/agreement";
import type { AgreementStatus } from "./coordination/board";
import { flagDayId } from "./coordination/proposal";
import { sha256Hex } from "./coordination/canonical";
import type { StageCoordination } from "./orchestrate";

export { parseHeight } from "./checks";

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
  /**
   * For a network with several operators: who signed this update's proposal on the coordination board
   * (coordination/agreement.ts). A flag day or rollback `up` is refused until every operator signed it.
   * @default no agreement needed (one operator)
   */
  readonly agreement?: AgreementStatus;
  /**
   * A network with several operators (`network.operators`): which one this stack is. The stack then manages
   * only that operator's nodes (the others are its nodes' peers) and a flag day passes the cross-operator
   * barriers on the coordination board. Required when the network lists operators.
   */
  readonly coordination?: Coordination;
  /**
   * Prepare the coming flag day only (`flagday:prepare: true`): run its prepare stages (warm snapshots, image
   * pulls) with the network serving clients, hours ahead if wished, and change nothing else. The flag day's
   * `up` later finds those steps done and reuses them. No window, agreement or testnet run is needed for it.
   * @default false
   */
  readonly prepare?: boolean;
  /** For tests: the clock and whether this is a preview. @default now, and what the engine says */
  readonly now?: Date;
  readonly dryRun?: boolean;
}

/** One operator's stack of a network with several operators. */
export interface Coordination {
  /** This stack's operator (`flagday:operator`), one of `network.operators`. */
  readonly operator: string;
  /** The coordination board (`flagday:board`), a directory made absolute. */
  readonly board: unknown;
  /** The operator's Ed25519 private key (PEM), a secret (`flagday:operatorKey`): it signs the barrier posts. */
  readonly operatorKey?: pulumi.Input<string>;
  /** Or a key file on the operator's machine (`flagday:operatorKeyFile`). */
  readonly operatorKeyFile?: string;
  /** How long a barrier waits for the other operators. @default 3600 */
  readonly barrierTimeoutSeconds?: number;
}

/** This stack's nodes: every node, or (several operators) the nodes of the stack's operator. */
export function ownNodes(network: NetworkSpec, coordination?: Pick<Coordination, "operator">): NodeSpec[] {
  return network.nodes.filter((n) => !coordination || n.operator === coordination.operator);
}

/**
 * Why this stack's coordination settings cannot work, or undefined: checked at preview, before anything is
 * registered, each naming the key and the fix.
 */
export function coordinationProblems(
  network: NetworkSpec,
  plan: Plan,
  c: Coordination | undefined,
): string | undefined {
  const names = (network.operators ?? []).map((o) => o.name);
  if (!names.length) {
    return c
      ? `flagday:operator is "${c.operator}" but flagday:network.operators lists no operators: remove ` +
          `flagday:operator, or list every operator with its public key.`
      : undefined;
  }
  if (!c) {
    return (
      `flagday:network lists operators (${names.join(", ")}), so each runs its own stack for its own nodes: ` +
      `set flagday:operator to this stack's operator, and flagday:board to the operators' coordination board.`
    );
  }
  if (!names.includes(c.operator)) {
    return (
      `flagday:operator is "${c.operator}", which is not one of flagday:network.operators ` +
      `(${names.join(", ")}): set it to this stack's operator.`
    );
  }
  if (ownNodes(network, c).length === 0) {
    return (
      `flagday:operator ${c.operator} runs no node of flagday:network.nodes: an operator without nodes (the ` +
      `coordinator) signs with \`flagday agree\` and may post \`flagday abort\`, but has no stack to update.`
    );
  }
  if (plan.kind === "transition" && c.operatorKey === undefined && !c.operatorKeyFile) {
    return (
      `a flag day of several operators posts this operator's signed progress at every barrier: set the secret ` +
      `flagday:operatorKey (\`npm run pulumi -- config set --secret flagday:operatorKey -s <stack> < key.pem\`) ` +
      `or flagday:operatorKeyFile to operator ${c.operator}'s Ed25519 private key. Nothing was changed.`
    );
  }
  return undefined;
}

/**
 * One consensus node: its long-lived pieces (from the platform), and what it runs, registered as its outputs
 * for the policy pack (policy/). Its server is the `start` stage's step, built by `buildStages`.
 */
export class ConsensusNode extends pulumi.ComponentResource {
  readonly handle: NodeHandle;

  constructor(
    readonly spec: NodeSpec,
    args: {
      platform: Platform;
      network: NetworkSpec;
      /** The release this update leaves the node on. */
      release: EnclaveRelease;
      /** The transition the node's server starts in, or "initial". */
      generation: string;
    },
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super("flagday:index:ConsensusNode", `${args.network.name}-${spec.name}`, {}, opts);
    const handle = args.platform.node(spec, args.network, { parent: this });
    this.handle = { ...handle, parent: this };
    // Registered here, synchronously, before the SDK's automatic empty registration; every value is stable
    // while nothing changes.
    this.registerOutputs({
      network: args.network.name,
      node: spec.name,
      mrenclave: args.release.mrenclave,
      version: args.release.version,
      generation: args.generation,
    });
  }
}

/**
 * A MobileCoin consensus network whose enclave release is code. Changing the release's consensus fields makes
 * one `pulumi up` perform the whole flag day (stages.ts); changing anything else replaces nodes one at a time
 * with the ingress open; changing nothing changes nothing. The constructor validates, plans and hands the
 * graph to `buildStages`.
 */
export class ConsensusNetwork extends pulumi.ComponentResource {
  readonly plan: Plan;
  readonly nodes: readonly ConsensusNode[];
  readonly stages?: StageSteps;
  /** The record the next `pulumi up` reads back: export it as the stack output `flagday`. */
  readonly record: pulumi.Output<Deployed>;

  constructor(name: string, args: ConsensusNetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    // Validation runs before anything is registered: bad input fails the preview and changes nothing.
    const { network, plan } = planNetwork(args);
    const dryRun = args.dryRun ?? pulumi.runtime.isDryRun();
    const testnet =
      args.testnet &&
      testnetRefusal(plan, network.release, args.testnet.record, args.testnet.stack, args.testnetOverride);
    // Like the window and the agreement, testnet first holds back `up` only: a preview still lists the flag
    // day's stages, and says why `up` would refuse it.
    if (testnet && dryRun) pulumi.log.warn(`${testnet} Until then \`pulumi up\` refuses this flag day.`);
    const preparing = args.prepare === true;
    if (preparing) {
      const why = prepareProblem(plan);
      if (why) throw new Error(why);
    }
    const refusal = preparing
      ? undefined
      : (windowRefusal(plan, args.window, args.now ?? new Date(), {
          dryRun,
          override: args.windowOverride,
        }) ??
        (dryRun ? undefined : testnet) ??
        agreementRefusal(plan, args.agreement, { dryRun }));
    if (refusal) throw new Error(refusal);
    const problem = coordinationProblems(network, plan, args.coordination);
    if (problem) throw new Error(`flagday: ${problem}`);
    super("flagday:index:ConsensusNetwork", name, {}, opts);
    // Preparing: the deployed network stays exactly as it is (its steady graph), and the coming flag day's
    // prepare stages are registered beside it under that flag day's names, so its `up` finds them done.
    const deployed = args.deployed as Deployed;
    const graphPlan: Plan = preparing ? { kind: "steady", transition: deployed.lastTransition } : plan;
    const graphNetwork: NetworkSpec = preparing ? { ...network, release: deployed.release } : network;
    this.plan = graphPlan;

    const { platform } = args;
    const generation = graphPlan.kind === "initial" ? "initial" : (graphPlan.transition?.id ?? "initial");
    this.nodes = ownNodes(network, args.coordination).map(
      (spec) =>
        new ConsensusNode(
          spec,
          { platform, network: graphNetwork, release: graphNetwork.release, generation },
          { parent: this },
        ),
    );
    const nodes = this.nodes.map((n) => n.handle);
    const ctx = {
      platform,
      network: graphNetwork,
      nodes,
      gate: platform.ingressGate(graphNetwork, nodes, { parent: this }),
      plan: graphPlan,
      deployed: args.deployed,
      checks: args.checks ?? {},
      parent: this,
      coordination: stageCoordination(graphNetwork, graphPlan, args),
    };
    const built = buildStages(ctx);
    if (preparing) {
      this.stages = buildStages({ ...ctx, network, plan, coordination: undefined, only: PREPARE }).stages;
    } else if (plan.kind === "transition") {
      this.stages = built.stages;
    }
    const coordinated = args.coordination !== undefined;
    this.record = pulumi
      .all([built.done, built.snapshots])
      .apply(([, snapshots]) =>
        recordAfter(graphNetwork.release, args.deployed, graphPlan, snapshots, args.window, coordinated),
      );
    this.registerOutputs({
      record: this.record,
      // For the policy pack (policy/): stable while nothing changes.
      network: network.name,
      peerAttestation: network.peerAttestation?.mode ?? "mrenclave",
    });
  }
}

/** Why `flagday:prepare` cannot prepare this update, or undefined: only a coming flag day is prepared. */
export function prepareProblem(plan: Plan): string | undefined {
  if (plan.kind === "transition" && plan.transition.sequence === "flag-day") return undefined;
  const what =
    plan.kind === "transition"
      ? `a rollback (${plan.transition.sequence}), which has no prepare stages`
      : plan.kind === "initial"
        ? "a first deployment"
        : "no flag day: the release is the deployed one";
  return (
    `flagday:prepare is set, but this update is ${what}. Set flagday:release to the agreed release to prepare ` +
    `its flag day, or remove flagday:prepare. Nothing was changed.`
  );
}

/** The barriers' context for this update's transition, or undefined (one operator, or no transition). */
function stageCoordination(
  network: NetworkSpec,
  plan: Plan,
  args: ConsensusNetworkArgs,
): StageCoordination | undefined {
  const c = args.coordination;
  const t = plan.kind === "initial" ? undefined : plan.transition;
  if (!c || !t) return undefined;
  // The proposal every operator signed for this transition: its id names the barriers' entries on the board.
  // Once the transition completed (steady), its barrier steps are only registered again, unchanged in effect:
  // if the window was since removed the proposal cannot be derived, and a changed command text runs nothing.
  let id: string;
  try {
    const proposal = proposalFor(network, { kind: "transition", transition: t }, args.window, args.checks);
    if (!proposal) return undefined;
    id = flagDayId(proposal);
  } catch (e) {
    if (plan.kind !== "steady") throw e;
    id = sha256Hex(`completed ${t.id}`);
  }
  return {
    network: network.name,
    flagDayId: id,
    operator: c.operator,
    operators: network.operators ?? [],
    board: c.board,
    timeoutSeconds: c.barrierTimeoutSeconds ?? 3600,
    ...(c.operatorKey !== undefined ? { operatorKey: c.operatorKey } : {}),
    ...(c.operatorKeyFile ? { keyFile: c.operatorKeyFile } : {}),
  };
}

/**
 * The network, validated, and what this update does (plan.ts), as ConsensusNetwork decides it: a stack program
 * that must know the plan first (to read the operators' agreement) calls this with the same arguments.
 */
export function planNetwork(args: ConsensusNetworkArgs): { network: NetworkSpec; plan: Plan } {
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
  return { network, plan };
}

/** The deployed record after this update completes. */
export function recordAfter(
  release: EnclaveRelease,
  deployed: Deployed | undefined,
  plan: Plan,
  snapshots: HistoryEntry["snapshots"],
  window?: MaintenanceWindow,
  coordinated = false,
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
    // With the stages it ran, so that steady updates register exactly these again.
    lastTransition: { ...t, stages: stageNamesOf(t, coordinated) },
    history,
    ...(t.sequence === "rollback-restore" ? { restoredBy: t } : restoredBy),
  };
}
