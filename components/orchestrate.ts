import * as pulumi from "@pulumi/pulumi";
import { checkCommands, ChecksOptions, healthyCommand, parseHeight } from "./checks";
import { healthyName, serverName, stageStepName } from "./names";
import { NetworkSpec } from "./network";
import {
  IngressGate,
  NodeHandle,
  Platform,
  ServerStep,
  snapshotRecord,
  SnapshotRecord,
  Step,
} from "./platform";
import { reportBarrierWait, reportProgress } from "./progress";
import { openBoard } from "./coordination/agreement";
import { Deployed, HistoryEntry, Plan, Transition, transitionOrdinal } from "./plan";
import {
  BarrierStage,
  NetworkStageName,
  PREPARE,
  RESTORE,
  SEQUENCES,
  Stage,
  StageName,
  stagesOf,
} from "./stages";
import { BarrierContext, barrierCommand } from "./coordination/barrier";
import { type Json, sha256Hex } from "./coordination/canonical";

export interface StageContext {
  readonly platform: Platform;
  readonly network: NetworkSpec;
  readonly nodes: readonly NodeHandle[];
  readonly gate: IngressGate;
  /** What this update does (plan.ts). */
  readonly plan: Plan;
  /** What the last successful update recorded. @default first deployment */
  readonly deployed?: Deployed;
  readonly checks: ChecksOptions;
  readonly parent: pulumi.Resource;
  /**
   * A network with several operators: this stack's operator, its nodes only (`nodes`), and the barriers it
   * posts to and waits at on the board. @default one operator: no barriers
   */
  readonly coordination?: StageCoordination;
  /**
   * Register only these stages of the transition (no servers, no health checks): `flagday:prepare` registers
   * the prepare stages of the coming flag day beside the deployed network's steady graph.
   */
  readonly only?: readonly Stage[];
}

/** The barriers' context, and the operator's private key for the steps' environment (a secret). */
export interface StageCoordination extends Omit<BarrierContext, "flagDayId" | "sequence"> {
  /** The flag day's id (the sha256 of the proposal every operator signed) for this update's transition. */
  readonly flagDayId: string;
  readonly operatorKey?: pulumi.Input<string>;
}

/** What each stage became: one step for a network stage, one per node (in node order) for a node stage. */
export type StageSteps = ReadonlyMap<StageName, readonly Step[]>;

export interface BuiltStages {
  readonly stages: StageSteps;
  /** Each node's server (the `start` stage), in node order. */
  readonly servers: readonly Step[];
  /** Each node's health check after its server changed, in node order. */
  readonly healthy: readonly Step[];
  /** The snapshots this update's history entry records: the ones it took, or the ones a rollback restored. */
  readonly snapshots: pulumi.Output<HistoryEntry["snapshots"]>;
  /** Resolves once every step of the update is done. */
  readonly done: pulumi.Output<unknown>;
}

/**
 * The whole update as resources, the same way on every platform. A flag day or rollback follows its sequence
 * (stages.ts): a network stage waits for every step before it; a node stage waits for the previous stage on
 * every node or only on its own node, as the stage says; then each node's health is checked. Every step carries
 * the transition id as its trigger and the transition's ordinal in its name, so it runs once per transition and
 * a re-run after a failure resumes at the failed step. Anything else (first deployment, a setting that is not a
 * consensus field) rolls: each node's server is replaced after the previous node is healthy again.
 */
export function buildStages(ctx: StageContext): BuiltStages {
  const { plan, network, nodes, platform } = ctx;
  const transition = plan.kind === "initial" ? undefined : plan.transition;
  const generation = transition?.id ?? "initial";
  const servers: ServerStep[] = [];
  const healthy: Step[] = [];
  const start = (i: number, dependsOn: pulumi.Resource[], prepared?: pulumi.Resource[]): ServerStep => {
    const node = nodes[i];
    return (servers[i] = platform.nodeSteps.start(
      {
        name: serverName(network.name, node.spec.name),
        node,
        release: network.release,
        network,
        generation,
        ...(prepared ? { prepared } : {}),
      },
      { parent: node.parent, dependsOn },
    ));
  };
  const checkHealthy = (i: number, after: readonly Step[]) => {
    const node = nodes[i];
    const server = servers[i];
    healthy[i] = platform.command(
      healthyName(network.name, node.spec.name),
      {
        create: healthyCommand(node, network.release.mrenclave, ctx.checks),
        // Re-run whenever the server is replaced; not keyed on its id (see ServerStep.replacedWhen). A digest:
        // what replaces a server can be its whole script, which the state would otherwise hold twice more.
        triggers: [pulumi.output(server.replacedWhen).apply((w) => sha256Hex(JSON.stringify(w)))],
      },
      { parent: node.parent, dependsOn: [server.resource, ...after.map((s) => s.resource)] },
    );
  };

  // The ledgers a past rollback restored (new volumes on AWS and Kubernetes) stay the nodes' ledgers: keep
  // their restore steps, unchanged, unless this update registers that rollback's stages itself.
  const restoredBy = ctx.deployed?.restoredBy;
  if (restoredBy && restoredBy.id !== transition?.id && !ctx.only) keepRestoredLedgers(ctx, restoredBy);

  // Not a flag day (first deployment, a setting that is not a consensus field, or nothing): nodes roll, one
  // at a time, each after the previous one is healthy again, with the ingress open.
  const rolling = plan.kind !== "transition";
  const roll = (i: number): Step => {
    const server = start(i, i > 0 ? [healthy[i - 1].resource] : []);
    checkHealthy(i, []);
    return server;
  };
  const t = plan.kind === "initial" ? undefined : plan.transition;
  if (!t) {
    nodes.forEach((_, i) => roll(i));
    return {
      stages: new Map(),
      servers,
      healthy,
      snapshots: pulumi.output<HistoryEntry["snapshots"]>({}),
      done: pulumi.all(healthy.map(stepDone)),
    };
  }

  // A transition's steps, or (steady) the last transition's, registered again unchanged so nothing re-runs.
  const ordinal = transitionOrdinal(t);
  // A rollback restores the snapshots the flag day it undoes took: the ones the history recorded, or (that flag
  // day failed part-way, so nothing recorded them) the ones the platform finds (undoneSnapshots).
  const undone = undoneSnapshots(ctx, t);
  const stages = new Map<StageName, readonly Step[]>();
  let previous: readonly Step[] = [];
  /** Branch stages (`after`) not yet joined: the next network, barrier or every-node stage waits for them. */
  let branches: Step[] = [];
  const all = (steps: readonly Step[]) => steps.map((s) => s.resource);

  const progress: Parameters<typeof reportProgress>[0][number][] = [];
  for (const stage of ctx.only ?? stagesOf(t.sequence, ctx.coordination !== undefined)) {
    // A completed transition is registered again as it ran: a stage it did not run (a flagday upgrade since
    // added it) must not run now. Records from before `stages` was kept lack the transient stages.
    if (plan.kind === "steady" && !ranIn(t, stage)) continue;
    let steps: Step[];
    if (stage.scope === "operators") {
      const c = ctx.coordination as StageCoordination;
      const payload = barrierPayload(stage, stages, nodes);
      steps = [
        platform.command(
          stageStepName(network.name, ordinal, stage.name),
          {
            create: payload.apply((p) =>
              barrierCommand(
                ctx.checks.cli ?? "flagday",
                { ...c, sequence: t.sequence },
                stage.name,
                p,
                stage.agreeOn,
              ),
            ),
            triggers: [t.id],
            ...(c.operatorKey ? { environment: { FLAGDAY_OPERATOR_KEY: pulumi.secret(c.operatorKey) } } : {}),
          },
          { parent: ctx.parent, dependsOn: [...all(previous), ...all(branches)] },
        ),
      ];
    } else if (stage.scope === "network") {
      const command = NETWORK_STAGES[stage.name]({ ...ctx, transition: t, undone, stages });
      steps = [
        platform.command(
          stageStepName(network.name, ordinal, stage.name),
          { create: command, triggers: [t.id] },
          { parent: ctx.parent, dependsOn: [...all(previous), ...all(branches), ctx.gate.resource] },
        ),
      ];
    } else {
      const branchFrom = stage.after ? stages.get(stage.after) : undefined;
      if (stage.after && branchFrom?.length !== nodes.length) {
        throw new Error(
          `flagday: stage ${stage.name} branches from ${stage.after}, which this sequence lacks`,
        );
      }
      steps = nodes.map((node, i) => {
        const dependsOn = branchFrom
          ? [branchFrom[i].resource]
          : stage.waitFor === "every-node" || previous.length !== nodes.length
            ? [...all(previous), ...all(branches)]
            : [previous[i].resource, ...all(branches)];
        if (stage.name === "start") {
          if (rolling) return roll(i);
          return start(
            i,
            dependsOn,
            PREPARE.flatMap((p) => stages.get(p.name)?.[i]?.resource ?? []),
          );
        }
        return platform.nodeSteps[stage.name](
          {
            name: stageStepName(network.name, ordinal, stage.name, node.spec.name),
            stage,
            node,
            transition: t,
            network,
            restoreFrom: undone?.apply((r) => r[node.spec.name]?.id ?? ""),
            height: stage.name === "snapshot" ? quiescedHeight(stages) : undefined,
            snapshot: stage.name === "seal" ? stages.get("snapshot")?.[i]?.output : undefined,
          },
          { parent: node.parent, dependsOn },
        );
      });
    }
    stages.set(stage.name, steps);
    progress.push({
      stage,
      steps,
      ...(stage.scope === "node" ? { nodes: nodes.map((n) => n.spec.name) } : {}),
    });
    if (stage.scope === "node" && stage.after) {
      branches.push(...steps);
    } else {
      previous = steps;
      branches = [];
    }
  }
  // Where the transition is, in `pulumi up`'s own output (a steady update re-registers steps that do not run).
  if (plan.kind === "transition") {
    reportProgress(progress, ctx.parent);
    if (ctx.coordination) reportBarrierWaits(progress, ctx.coordination, network.name, t, ctx.parent);
  }
  // In a flag day the stages check the whole network first (attest names a node on the wrong enclave); the
  // per-node checks then confirm each node at the end.
  if (!rolling && !ctx.only) nodes.forEach((_, i) => checkHealthy(i, previous));
  return {
    stages,
    servers,
    healthy,
    snapshots: undone && t.sequence === "rollback-restore" ? undone : snapshotsOf(stages, nodes),
    done: pulumi.all([...previous, ...branches, ...healthy].map(stepDone)),
  };
}

/**
 * What this operator reports at a barrier: the height and block hash its quiesce agreed on (all-quiesced), its
 * snapshots with their heights (all-snapshotted), and otherwise the nodes it reached the barrier with.
 */
function barrierPayload(
  stage: BarrierStage,
  stages: StageSteps,
  nodes: readonly NodeHandle[],
): pulumi.Output<Json> {
  const names = nodes.map((n) => n.spec.name);
  if (stage.agreeOn === "height") {
    const out = stages.get("quiesce")?.[0]?.output ?? pulumi.output("");
    return out.apply((o) => ({
      nodes: names,
      height: parseHeight(o) ?? null,
      blockHash: /\bhash=([0-9a-f]+)/.exec(o)?.[1] ?? null,
    }));
  }
  if (stages.has("snapshot") || stages.has("restore")) {
    return snapshotsOf(stages, nodes).apply((snapshots) => ({
      nodes: names,
      heights: Object.fromEntries(Object.entries(snapshots).map(([n, s]) => [n, s.height ?? null])),
    }));
  }
  return pulumi.output({ nodes: names });
}

/** Whether a completed transition ran `stage` (its record's `stages`, or every non-transient stage). */
function ranIn(t: Transition, stage: Stage): boolean {
  if (t.stages) return t.stages.includes(stage.name);
  return !(stage.scope === "node" && stage.transient);
}

/** The stage names a transition registers, recorded with it when it completes (Transition.stages). */
export function stageNamesOf(t: Transition, coordinated: boolean): string[] {
  return stagesOf(t.sequence, coordinated).map((s) => s.name);
}

interface NetworkStageContext extends StageContext {
  readonly transition: Transition;
  /** For a rollback: the snapshots the undone flag day took, per node. */
  readonly undone?: pulumi.Output<SnapshotRecord>;
  /** The stages registered so far. */
  readonly stages: StageSteps;
}

/** What each network stage runs: the gate's switches, or a check from the checks CLI. */
const NETWORK_STAGES: {
  readonly [S in NetworkStageName]: (ctx: NetworkStageContext) => pulumi.Input<string>;
} = {
  "ingress-reject": (ctx) => ctx.gate.reject,
  "ingress-accept": (ctx) => ctx.gate.accept(ctx.transition),
  quiesce: (ctx) => checkCommands(ctx.nodes, ctx.checks).quiesce(),
  attest: (ctx) => checkCommands(ctx.nodes, ctx.checks).attest(ctx.transition.to.mrenclave),
  // Several operators test at the same time: each with its own wallets (the built-in, simulated tests).
  txtest: (ctx) => checkCommands(ctx.nodes, ctx.checks).txtest(walletSet(ctx.coordination)),
  // The ingress is open during the live window (re-opened here, so a re-run after a stall opens it again).
  // If the network stalls, close it again: clients must not pile transactions onto a network that cannot
  // commit them while the operators decide.
  live: (ctx) =>
    pulumi.interpolate`${ctx.gate.accept(ctx.transition)} && { ${checkCommands(ctx.nodes, ctx.checks).live()} || { echo "flagday: the live window failed: closing the ingress again" >&2; ${ctx.gate.reject}; exit 1; }; }`,
  "rollback-guard": (ctx) => {
    const t = ctx.transition;
    if (!ctx.undone || !t.undoes) throw new Error(`flagday: ${t.id} has no flag day to undo`);
    const undoes = t.undoes;
    const completed = (ctx.deployed?.history ?? []).some(
      (h) => h.id === undoes.id && h.outcome === "completed",
    );
    const heights = checkCommands(ctx.nodes, ctx.checks).heights();
    const closedSince = ctx.gate.closedSince?.(undoes);
    return pulumi.all([ctx.undone, heights, closedSince ?? ""]).apply(([snapshots, check, closed]) =>
      rollbackGuardCommand({
        snapshots,
        check,
        acceptLoss: (t.overrides ?? []).includes("accept-data-loss"),
        completed,
        closedSince: closedSince === undefined ? undefined : closed,
      }),
    );
  },
};

/** This operator's wallet set for the built-in transaction tests: its place in the operator list, from 1. */
function walletSet(c: StageCoordination | undefined): number | undefined {
  const k = c ? c.operators.findIndex((o) => o.name === c.operator) : -1;
  return k < 0 ? undefined : k + 1;
}

/**
 * The rollback guard's command: fail when any node is above the snapshots' height, unless the loss is
 * accepted. A flag day that failed before any snapshot changed no ledger, so there is nothing to guard.
 */
export function rollbackGuardCommand(a: {
  readonly snapshots: SnapshotRecord;
  /** The checks CLI's `heights` command for every node. */
  readonly check: string;
  readonly acceptLoss: boolean;
  /** Whether the undone flag day completed (and so reopened the ingress). */
  readonly completed: boolean;
  /** The gate's "closed since the undone flag day" test, when it has one. */
  readonly closedSince?: string;
}): string {
  const heights = Object.values(a.snapshots).map((s) => s.height);
  if (heights.length === 0) {
    return `echo "flagday: ${a.completed ? "" : "the failed "}flag day took no snapshot, so no ledger was changed"`;
  }
  const guard = `${a.check} --at-most ${Math.max(...heights)}${a.acceptLoss ? " --accept-loss" : ""}`;
  // A flag day that completed reopened the ingress; one that failed part-way may not have: then blocks past
  // the snapshot are the window's own checks, not client transactions.
  return a.completed || a.closedSince === undefined
    ? guard
    : `if ${a.closedSince}; then ${guard} --ingress-closed; else ${guard}; fi`;
}

/**
 * The snapshots a transition restores or guards with, per node, or undefined when its sequence uses none
 * (a flag day, a rollback by reverse migrations). A snapshot once restored must never be looked up again: a
 * lookup by tags can find an AWS Backup or DLM copy, a newer snapshot, or none (deleted), and so change a live
 * ledger's source. So the history decides (recordedSnapshots); only a flag day that failed part-way, which no
 * history recorded, is looked up where the platform keeps its snapshots, and the rollback then records what it
 * found.
 */
function undoneSnapshots(ctx: StageContext, t: Transition): pulumi.Output<SnapshotRecord> | undefined {
  const undoes = t.undoes;
  if (!undoes || !SEQUENCES[t.sequence].some((s) => s.name === "restore" || s.name === "rollback-guard")) {
    return undefined;
  }
  const recorded = recordedSnapshots(ctx.deployed?.history ?? [], t);
  if (!recorded) return ctx.platform.snapshots(undoes, ctx.nodes, ctx.network);
  return pulumi.output(
    snapshotRecord(undoes, recorded, "snapshots.<node>.height in the stack output flagday.history"),
  );
}

/**
 * The snapshots the history recorded for a rollback `t` to restore, per node with an id, or undefined when it
 * recorded none (the undone flag day failed part-way and `t` has not completed). A rollback by restore that
 * completed recorded in its own entry the snapshots it restored (which, for a flag day that failed part-way,
 * were found by a lookup then): they are the restored ledgers' sources for good. Otherwise the undone flag
 * day's entry, if it completed, holds the snapshots its snapshot stage took.
 */
export function recordedSnapshots(
  history: readonly HistoryEntry[],
  t: Transition,
): HistoryEntry["snapshots"] | undefined {
  const undoes = t.undoes;
  if (!undoes) return undefined;
  const own = t.sequence === "rollback-restore" ? history.find((h) => h.id === t.id) : undefined;
  const entry = own ?? history.find((h) => h.id === undoes.id && h.outcome === "completed");
  if (!entry) return undefined;
  return Object.fromEntries(Object.entries(entry.snapshots).filter(([, s]) => s.id));
}

/**
 * Registers a past rollback's restore steps again, unchanged: the engine keeps them as they are. Each restores
 * from the snapshot the history says it restored from, never from a new lookup.
 */
function keepRestoredLedgers(ctx: StageContext, restoredBy: Transition): void {
  const { platform, network, nodes } = ctx;
  const recorded = recordedSnapshots(ctx.deployed?.history ?? [], restoredBy);
  if (!recorded) {
    throw new Error(
      `flagday: the stack output flagday says the rollback ${restoredBy.id} restored the ledgers, but its ` +
        `history records no snapshots for it or for the flag day it undid (${restoredBy.undoes?.id ?? "none"}), ` +
        `so the snapshot each restored ledger came from is unknown, and looking it up again could replace a ` +
        `live ledger with another snapshot. Nothing was changed. Each restored volume names its snapshot (the ` +
        `tag flagday:restored-from on AWS, the claim's dataSource on Kubernetes): record them as that ` +
        `rollback's snapshots.<node>.id in flagday.history.`,
    );
  }
  const ordinal = transitionOrdinal(restoredBy);
  for (const node of nodes) {
    platform.nodeSteps.restore(
      {
        name: stageStepName(network.name, ordinal, "restore", node.spec.name),
        stage: RESTORE,
        node,
        transition: restoredBy,
        network,
        restoreFrom: recorded[node.spec.name]?.id ?? "",
      },
      { parent: node.parent },
    );
  }
}

/** The height the quiesce stage agreed on (it prints `height=<n>`), for the snapshot records. */
function quiescedHeight(stages: StageSteps): pulumi.Output<string> {
  const out = stages.get("quiesce")?.[0]?.output ?? pulumi.output("");
  return out.apply((o) => String(parseHeight(o) ?? ""));
}

/**
 * At each barrier of the update, whom this stack waits for, in `pulumi up`'s own output (reportBarrierWait),
 * read from the board the barrier steps use. A board that cannot be opened adds nothing: the barrier steps
 * themselves fail naming it.
 */
function reportBarrierWaits(
  progress: Parameters<typeof reportProgress>[0],
  c: StageCoordination,
  network: string,
  t: Transition,
  parent: pulumi.Resource,
): void {
  let board: ReturnType<typeof openBoard>;
  try {
    board = openBoard(c.board, process.cwd());
  } catch {
    return;
  }
  progress.forEach(({ stage, steps }, i) => {
    if (stage.scope !== "operators" || i === 0) return;
    reportBarrierWait({
      board,
      spec: {
        network,
        flagDayId: c.flagDayId,
        sequence: t.sequence,
        stage: stage.name,
        operators: c.operators,
        ...(stage.agreeOn ? { agreeOn: stage.agreeOn } : {}),
      },
      prefix: `stage ${i + 1} of ${progress.length}`,
      arrived: pulumi.all(progress[i - 1].steps.map(stepDone)),
      passed: stepDone(steps[0]),
      parent,
      stopAfterMs: c.timeoutSeconds * 1000 + 60_000,
    });
  });
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
