import * as pulumi from "@pulumi/pulumi";
import { checkCommand, ChecksOptions } from "./checks";
import { NetworkSpec } from "./network";
import { IngressGate, NodeHandle, Platform, Server, SnapshotRecord, Step } from "./platform";
import { Transition, transitionOrdinal } from "./plan";
import { SEQUENCES, StageName } from "./stages";

export interface StageContext {
  readonly platform: Platform;
  readonly network: NetworkSpec;
  readonly nodes: readonly NodeHandle[];
  readonly gate: IngressGate;
  readonly transition: Transition;
  readonly checks: ChecksOptions;
  /** Builds node `i`'s server on the target release, held back by `dependsOn` (the `start` stage). */
  readonly startServer: (i: number, dependsOn: pulumi.Resource[]) => Server;
  readonly parent: pulumi.Resource;
  /** What a rollback needs from the flag day it undoes: the snapshots it took, per node. */
  readonly undone?: {
    readonly snapshots: pulumi.Output<SnapshotRecord>;
    /** Whether the undone flag day completed (and so reopened the ingress). */
    readonly completed: boolean;
  };
  /** Operator overrides in force (e.g. `accept-data-loss`). */
  readonly overrides?: readonly string[];
}

/** What each stage became: one step for a network stage, one per node (in node order) for a node stage. */
export type StageSteps = ReadonlyMap<StageName, readonly Step[]>;

/**
 * Turns a sequence of stages (stages.ts) into resources, the same way for every platform. Ordering is the
 * graph's: a network stage waits for every step before it; a node stage waits for the previous stage on every
 * node or only on its own node, as the stage says. Every step carries the transition id as its trigger and the
 * transition's ordinal in its name, so it runs once per transition and a re-run after a failure resumes at the
 * failed step.
 */
export function buildStages(ctx: StageContext): StageSteps {
  const { platform, network, nodes, transition, parent } = ctx;
  const ordinal = transitionOrdinal(transition);
  const stages = SEQUENCES[transition.sequence];
  const done = new Map<StageName, readonly Step[]>();
  let previous: readonly Step[] = [];
  const all = (steps: readonly Step[]) => steps.map((s) => s.resource);

  for (const stage of stages) {
    let steps: Step[];
    if (stage.scope === "network") {
      steps = [
        platform.command(
          `${network.name}-${ordinal}-${stage.name}`,
          { create: networkCommand(stage.name, ctx), triggers: [transition.id] },
          { parent, dependsOn: [...all(previous), ctx.gate.resource] },
        ),
      ];
    } else {
      steps = nodes.map((node, i) => {
        const dependsOn =
          stage.waitFor === "every-node" || previous.length !== nodes.length
            ? all(previous)
            : [previous[i].resource];
        if (stage.name === "start") {
          return { resource: ctx.startServer(i, dependsOn) };
        }
        return platform.nodeStep(
          {
            name: `${network.name}-${ordinal}-${node.spec.name}-${stage.name}`,
            stage,
            node,
            transition,
            network,
            restoreFrom: ctx.undone?.snapshots.apply((r) => r[node.spec.name]?.id ?? ""),
            height: stage.name === "snapshot" ? quiescedHeight(done) : undefined,
          },
          { parent: node.parent, dependsOn },
        );
      });
    }
    done.set(stage.name, steps);
    previous = steps;
  }
  return done;
}

/** The command of a network stage: the gate's switches, or a check from the checks CLI. */
function networkCommand(stage: StageName, ctx: StageContext): pulumi.Input<string> {
  switch (stage) {
    case "ingress-reject":
      return ctx.gate.reject;
    case "ingress-accept":
      return ctx.gate.accept;
    case "rollback-guard": {
      const undone = ctx.undone;
      if (!undone) throw new Error(`flagday: ${ctx.transition.id} has no flag day to undo`);
      const accept = (ctx.overrides ?? []).includes("accept-data-loss") ? " --accept-loss" : "";
      const height = undone.snapshots.apply((r) => {
        const hs = Object.values(r).map((x) => x.height);
        return hs.length && hs.every((h) => h !== undefined) ? String(Math.max(...(hs as number[]))) : "";
      });
      const check = checkCommand(stage, ctx.transition, ctx.nodes, ctx.checks);
      const guard = pulumi.interpolate`${check} --at-most ${height}${accept}`;
      const none = undone.snapshots.apply((r) => Object.keys(r).length === 0);
      // A flag day that failed before any snapshot changed no ledger: there is nothing a restore could drop.
      const untouched = `echo "flagday: ${undone.completed ? "" : "the failed "}flag day took no snapshot, so no ledger was changed"`;
      // A flag day that completed reopened the ingress; one that failed part-way may not have: then blocks past
      // the snapshot are the window's own checks, not client transactions.
      const guarded =
        undone.completed || !ctx.gate.closedSince
          ? guard
          : pulumi.interpolate`if ${ctx.gate.closedSince(ctx.transition.undoes!)}; then ${guard} --ingress-closed; else ${guard}; fi`;
      return pulumi.all([none, guarded]).apply(([n, g]) => (n ? untouched : g));
    }
    case "live":
      // The ingress is open during the live window (re-opened here, so a re-run after a stall opens it again).
      // If the network stalls, close it again: clients must not pile transactions onto a network that cannot
      // commit them while the operators decide.
      return pulumi.interpolate`${ctx.gate.accept} && { ${checkCommand(stage, ctx.transition, ctx.nodes, ctx.checks)} || { echo "flagday: the live window failed: closing the ingress again" >&2; ${ctx.gate.reject}; exit 1; }; }`;
    default:
      return checkCommand(stage, ctx.transition, ctx.nodes, ctx.checks);
  }
}

/** The height the quiesce stage agreed on (it prints `height=<n>`), for the snapshot records. */
function quiescedHeight(done: ReadonlyMap<StageName, readonly Step[]>): pulumi.Output<string> {
  const out = done.get("quiesce")?.[0]?.output ?? pulumi.output("");
  return out.apply((o) => /\bheight=(\d+)/.exec(o)?.[1] ?? "");
}
