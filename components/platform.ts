import * as pulumi from "@pulumi/pulumi";
import { NetworkSpec, NodeSpec } from "./network";
import { EnclaveRelease } from "./release";
import { NodeStage, NodeStageName } from "./stages";
import { Transition } from "./plan";

/**
 * The one contract between the flag-day orchestration and where nodes run (AWS, Kubernetes, the local
 * rehearsal). The orchestration never asks which platform it is on: it asks for a node, for each node stage
 * of stages.ts (`nodeSteps`, one member per stage, `start` included), a gate and a command, and wires them in
 * stage order (orchestrate.ts). Scripts and resource specs are plain functions beside each platform; the
 * platform only wires them into resources.
 */
export interface Platform {
  readonly name: string;
  /** A node's long-lived pieces (network identity, ledger volume): created once, never replaced by an upgrade. */
  node(spec: NodeSpec, network: NetworkSpec, opts: pulumi.ComponentResourceOptions): NodeHandle;
  /** What every node stage does on this platform. A node stage missing here is a compile error. */
  readonly nodeSteps: NodeSteps;
  /** The client-facing ingress gate. Its steady state accepts; the gate stages run its reject/accept commands. */
  ingressGate(
    network: NetworkSpec,
    nodes: readonly NodeHandle[],
    opts: pulumi.ComponentResourceOptions,
  ): IngressGate;
  /** A command on the operator's machine: the checks and the gate switches. */
  command(name: string, args: CommandArgs, opts: pulumi.CustomResourceOptions): Step;
  /**
   * The snapshots a transition's snapshot stage took and that exist, found where the platform keeps them
   * (local records, AWS snapshots by tag, VolumeSnapshots), per node name, each with the height it was taken
   * at. A node missing from the result has none: its snapshot step never finished, so (by the stage order) its
   * ledger was never migrated either. A snapshot that was cut but is not complete yet (the copy still runs, or
   * the seal timed out) fails the lookup naming it (unsealedSnapshotProblem): its node's ledger may have been
   * migrated since the cut. Asked only for a flag day that failed part-way: a completed one's
   * snapshots are read from the history it recorded, and a restored ledger's source never changes afterwards
   * (orchestrate.ts). A lookup that finds more than one candidate for a node must fail naming them.
   */
  snapshots(
    transition: Transition,
    nodes: readonly NodeHandle[],
    network: NetworkSpec,
  ): pulumi.Output<SnapshotRecord>;
}

/** A node stage as a platform performs it, for one node. */
export type NodeStep<A> = (step: A, opts: pulumi.CustomResourceOptions) => Step;

/** Every node stage of stages.ts: `start` runs a release; the others act on a node within a transition. */
export type NodeSteps = { readonly [S in Exclude<NodeStageName, "start">]: NodeStep<NodeStepArgs> } & {
  /**
   * The node's server running `release` with the node's settings (instance, Deployment, process). It is
   * replaced, old one first, whenever the release or a setting changes; `dependsOn` holds it back until the
   * stages before it are done. `generation` changes with every transition (the transition's id), so that
   * every flag day and rollback restarts every node.
   */
  readonly start: (step: StartArgs, opts: pulumi.CustomResourceOptions) => ServerStep;
};

/** A node's server, with what replaces it. */
export interface ServerStep extends Step {
  /**
   * The values whose change replaces the server (its triggers, its name's digest), free of the server itself:
   * they change exactly when its id does. The health check after it is keyed on them, not on the server's id,
   * so the engine does not delete that check ahead of the old server (a dependent of a resource replaced old
   * first is deleted before it), which cost every node two state saves inside the window.
   */
  readonly replacedWhen: pulumi.Input<unknown>[];
}

/** Per node name: the snapshot's id (AWS snapshot id, local path, VolumeSnapshot name) and its block height. */
export type SnapshotRecord = Readonly<Record<string, { readonly id: string; readonly height: number }>>;

/**
 * A SnapshotRecord from what a platform found: every snapshot must carry the height it was taken at, or a
 * rollback guard could not tell which blocks a restore drops. Throws (at preview: lookups resolve then) naming
 * the node, the snapshot and where its height should have been.
 */
/**
 * Why a flag day's snapshot of `node` cannot be restored yet: it was cut (so the node's ledger may have been
 * migrated since) but its copy is not complete (`state`). The operator waits for it (`waitCommand`) and runs
 * `up` again; nothing is restored from an incomplete snapshot, and the node is never taken as unmigrated.
 */
export function unsealedSnapshotProblem(
  transition: Transition,
  node: string,
  id: string,
  state: string,
  waitCommand: string,
): string {
  return (
    `flagday: the snapshot ${id} of node ${node} (flag day ${transition.id}) was cut but is not complete yet ` +
    `(${state}): its ledger may have been migrated since, so it must be restored from that snapshot, and a ` +
    `restore needs it complete. Nothing was changed. Wait for it (${waitCommand}), then run \`pulumi up\` again.`
  );
}

export function snapshotRecord(
  transition: Transition,
  found: Readonly<Record<string, { readonly id: string; readonly height?: number }>>,
  heightLivesIn: string,
): SnapshotRecord {
  const out: Record<string, { id: string; height: number }> = {};
  for (const [node, s] of Object.entries(found)) {
    if (s.height === undefined || !Number.isInteger(s.height) || s.height < 0) {
      throw new Error(
        `flagday: the snapshot ${s.id} of node ${node} (flag day ${transition.id}) records no block height ` +
          `(${heightLivesIn}), so a rollback guard cannot tell which blocks a restore would drop. Nothing was ` +
          `changed. Find the height the quiesce stage printed for that flag day (height=<n>) and record it ` +
          `there, or roll back with the release's reverseMigrations.`,
      );
    }
    out[node] = { id: s.id, height: s.height };
  }
  return out;
}

export interface NodeHandle {
  readonly spec: NodeSpec;
  /** mc-admin-http-gateway's base URL (port 8000) as the operator's machine reaches it. */
  readonly adminUrl: pulumi.Input<string>;
  /** The node's client API base URL (port 3223), bypassing the ingress, for the transaction tests. */
  readonly clientUrl: pulumi.Input<string>;
  /** The component the node's resources hang under in `pulumi preview`. */
  readonly parent: pulumi.Resource;
}

export type Server = pulumi.CustomResource;

export interface StartArgs {
  /** The resource name to use (`<network>-<node>-server`). */
  readonly name: string;
  readonly node: NodeHandle;
  readonly release: EnclaveRelease;
  readonly network: NetworkSpec;
  /** The transition this server starts in, or "initial". */
  readonly generation: string;
  /**
   * In a flag day or rollback, the node's steps of the prepare stages (stages.ts PREPARE: its pre-pull, its warm
   * snapshot), done before the window. A part of the server that runs nothing and is made under a new name (a
   * ConfigMap, a read of where the image was pulled) waits for these instead of `dependsOn`, so it is made
   * before the ingress closes and replaced new-first. Absent on the rolling path.
   */
  readonly prepared?: readonly pulumi.Resource[];
}

export interface NodeStepArgs {
  /** The resource name to use: it carries the transition's ordinal, so each transition's steps are its own. */
  readonly name: string;
  readonly stage: NodeStage;
  readonly node: NodeHandle;
  readonly transition: Transition;
  readonly network: NetworkSpec;
  /**
   * For restore: the snapshot the undone flag day took of this node (AWS snapshot id, local path), or "" when
   * it took none (it failed before this node's snapshot, so the ledger was never changed).
   */
  readonly restoreFrom?: pulumi.Input<string>;
  /** For snapshot: the block height the quiesce stage agreed on, recorded with the snapshot. */
  readonly height?: pulumi.Input<string>;
  /** For seal: this node's snapshot, as the snapshot stage reported it (AWS snapshot id, path, VolumeSnapshot). */
  readonly snapshot?: pulumi.Input<string>;
}

export interface CommandArgs {
  /** Run when the step is created, i.e. once per transition (a change of `triggers` re-creates it). */
  readonly create: pulumi.Input<string>;
  /** Run when the step is deleted. @default nothing */
  readonly delete?: pulumi.Input<string>;
  readonly triggers: readonly pulumi.Input<unknown>[];
  /** Secret values go here, never into the command text. */
  readonly environment?: Readonly<Record<string, pulumi.Input<string>>>;
}

/** A resource a stage became, and what it reports (a snapshot id, a check's output) for the history. */
export interface Step {
  readonly resource: pulumi.Resource;
  readonly output?: pulumi.Output<string>;
}

export interface IngressGate {
  readonly resource: pulumi.Resource;
  /** Shell command that makes the ingress refuse new client connections (peer traffic is untouched). */
  readonly reject: pulumi.Input<string>;
  /**
   * Shell command that makes the ingress accept client connections again, for `transition` (a gate that
   * implements `closedSince` records there that this transition reopened it).
   */
  readonly accept: (transition: Transition) => pulumi.Input<string>;
  /**
   * Shell command that exits 0 if and only if the ingress has served no client since `transition` closed it
   * (it is rejecting now and was never reopened in between). Lets the rollback of a flag day that failed part-way
   * tell the window's own test blocks from client transactions.
   * @default unknown (the rollback guard then assumes clients may have been served)
   */
  readonly closedSince?: (transition: Transition) => pulumi.Input<string>;
}
