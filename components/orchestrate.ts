import * as pulumi from "@pulumi/pulumi";
import { checkCommand, ChecksOptions } from "./checks";
import { NetworkSpec } from "./network";
import { IngressGate, NodeHandle, Platform, Server, Step } from "./platform";
import { HistoryEntry, Transition } from "./plan";
import { SEQUENCES, Stage } from "./stages";

export interface StageContext {
  readonly platform: Platform;
  readonly network: NetworkSpec;
  readonly nodes: readonly NodeHandle[];
  readonly gate: IngressGate;
  readonly transition: Transition;
  readonly checks: ChecksOptions;
  /** Builds node `i`'s server on the target release, held back by `dependsOn` (the `start` stage). */
  readonly startServer: (i: number, dependsOn: pulumi.Resource[]) => Server;
  /** For a rollback by restore: per node, what the undone flag day recorded (snapshot ids). */
  readonly restoreFrom?: HistoryEntry["snapshots"];
  readonly parent: pulumi.Resource;
}

/** What each stage became: one step for a network stage, one per node (in node order) for a node stage. */
export type StageSteps = ReadonlyMap<Stage["name"], readonly Step[]>;

/**
 * Turns a sequence of stages (stages.ts) into resources, the same way for every platform. Ordering is the
 * graph's: a network stage waits for every step before it; a node stage waits for the previous stage on every
 * node or only on its own node, as the stage says. Every step carries the transition id as its trigger, so it
 * runs once per transition and a re-run after a failure resumes at the failed step.
 */
export function buildStages(ctx: StageContext): StageSteps {
  const { platform, network, nodes, transition, parent } = ctx;
  const stages = SEQUENCES[transition.sequence];
  const done = new Map<Stage["name"], readonly Step[]>();
  let previous: readonly Step[] = [];
  const all = (steps: readonly Step[]) => steps.map((s) => s.resource);

  for (const stage of stages) {
    const name = (suffix: string) => `${network.name}-${stage.name}${suffix}`;
    let steps: Step[];
    if (stage.scope === "network") {
      const create = isGate(stage.name)
        ? pulumi.output(stage.name === "ingress-reject" ? ctx.gate.reject : ctx.gate.accept)
        : checkCommand(stage.name, transition, nodes, ctx.checks);
      steps = [
        platform.command(
          name(""),
          { create, triggers: [transition.id] },
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
            stage,
            node,
            transition,
            network,
            restoreFrom: ctx.restoreFrom?.[node.spec.name]?.id,
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

function isGate(name: Stage["name"]): boolean {
  return name === "ingress-reject" || name === "ingress-accept";
}
