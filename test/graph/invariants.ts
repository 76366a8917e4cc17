/**
 * The flag-day ordering rules as checks on a captured resource graph (harness.ts), the same checks for every
 * platform. They read the graph, not the stage lists: a platform that forgot a `dependsOn`, attached its ledger
 * outside the server or made its ledger depend on the release fails here whatever stages.ts says.
 *
 * What counts as "A waits for B" is `Graph.dependsOn`: B is in A's registered dependencies (explicit `dependsOn`,
 * components expanded to their custom children, which is how Pulumi waits for a component, plus resources A's
 * inputs came from), or B is A's custom parent, or that holds through a chain of such edges.
 *
 * Resources are recognised by their Pulumi names (the convention orchestrate.ts and every platform follow; pass
 * your own `classify` otherwise), with `<net>` the network name, `<node>` a node name and `<u>` the transition's
 * ordinal (`u3`, see transitionOrdinal in plan.ts):
 *   `<net>-<u>-<stage>`                      a network stage step
 *   `<net>-<u>-<node>-<stage>`               a node stage step (stop, snapshot, migrate, restore, …)
 *   `<net>-<node>-server`, `…-server-<part>` the node's server, and pieces of it (its ledger attachment, config)
 *   `<net>-<node>-healthy`                   the rolling path's per-node health check
 *   `<net>-<node>-ledger` / `-data`          the node's durable ledger storage (EBS volume, PVC)
 *   `<net>-<node>-identity` / `-client` / `-peer`   the node's durable network identity (ENI, Services)
 */
import { NetworkSpec } from "../../components/network";
import { Plan, Transition } from "../../components/plan";
import { EnclaveRelease } from "../../components/release";
import { SEQUENCES, StageName } from "../../components/stages";
import { CapturedResource, Graph, stableJson } from "./harness";

export type Role =
  | { readonly kind: "network-step"; readonly stage: StageName; readonly ordinal: string }
  | { readonly kind: "node-step"; readonly node: string; readonly stage: StageName; readonly ordinal: string }
  | { readonly kind: "server"; readonly node: string; readonly part?: string }
  | { readonly kind: "healthy"; readonly node: string }
  | { readonly kind: "ledger" | "identity"; readonly node: string }
  | { readonly kind: "other" };

export type Classifier = (r: CapturedResource) => Role;

const STAGES: readonly StageName[] = [
  ...new Set(Object.values(SEQUENCES).flatMap((s) => s.map((x) => x.name))),
].sort((a, b) => b.length - a.length);
const LEDGER = new Set(["ledger", "data"]);
const IDENTITY = new Set(["identity", "client", "peer"]);

/** Reads a resource's role from its name, by the convention in this file's header. */
export function nameClassifier(network: NetworkSpec): Classifier {
  const nodes = network.nodes.map((n) => n.name).sort((a, b) => b.length - a.length);
  const net = `${network.name}-`;
  const nodeOf = (rest: string) => nodes.find((n) => rest.startsWith(`${n}-`));
  return (r) => {
    if (!r.custom || !r.name.startsWith(net)) return { kind: "other" };
    const rest = r.name.slice(net.length);
    const step = /^([a-z]+\d+)-(.+)$/.exec(rest);
    if (step) {
      const [, ordinal, tail] = step;
      if ((STAGES as readonly string[]).includes(tail))
        return { kind: "network-step", stage: tail as StageName, ordinal };
      const node = nodeOf(tail);
      const stage = node && tail.slice(node.length + 1);
      if (node && (STAGES as readonly string[]).includes(stage!)) {
        return { kind: "node-step", node, stage: stage as StageName, ordinal };
      }
    }
    const node = nodeOf(rest);
    if (!node) return { kind: "other" };
    const what = rest.slice(node.length + 1);
    if (what === "server") return { kind: "server", node };
    if (what.startsWith("server-")) return { kind: "server", node, part: what.slice("server-".length) };
    if (what === "healthy") return { kind: "healthy", node };
    if (LEDGER.has(what)) return { kind: "ledger", node };
    if (IDENTITY.has(what)) return { kind: "identity", node };
    return { kind: "other" };
  };
}

/** `u3` of `u3-upgrade-…`: the part of a transition id that step names carry. */
export function ordinalOf(id: string): string {
  return id.split("-")[0];
}

/** The transition a rollback undoes, if any (its quiesce and snapshot steps are registered again, unchanged). */
function undoneOf(t: Transition | undefined): Transition | undefined {
  const u = t?.undoes as Transition | string | undefined;
  return typeof u === "object" ? u : undefined;
}

/**
 * Every rule a flag-day graph must obey, for the plan it was built from. Returns the violations (empty: the
 * graph is right), each naming the rule and the resources.
 *
 * Transition plans: each stage of the plan's sequence waits for the stage before it as stages.ts says (every
 * node, or the same node), which gives ingress-reject -> quiesce -> every stop -> every snapshot -> each node's
 * migration after its own snapshot -> every server after every migration -> attest after every server (and
 * every part of it) -> txtest -> ingress-accept -> live. Rolling plans (initial, steady): no stage step of any
 * other transition, no server held back by a stage step, and node i's server waits for node i-1's health check.
 * Always: servers are replaced old-first, and so is every part of one but those made ahead (replaced new-first,
 * they wait for nothing in the window and their server waits for them); ledgers and identities are protected
 * and owe nothing to the release.
 */
export function checkFlagDayGraph(
  graph: Graph,
  network: NetworkSpec,
  plan: Plan,
  classify: Classifier = nameClassifier(network),
): string[] {
  const v: string[] = [];
  const roles = graph.resources.map((r) => ({ r, role: classify(r) }));
  const nodeNames = network.nodes.map((n) => n.name);
  const find = <K extends Role["kind"]>(kind: K) =>
    roles.filter((x): x is { r: CapturedResource; role: Extract<Role, { kind: K }> } => x.role.kind === kind);
  const servers = find("server");
  const mainServer = (node: string) => servers.find((s) => s.role.node === node && !s.role.part)?.r;
  const waits = (a: CapturedResource, b: CapturedResource, rule: string) => {
    if (!graph.dependsOn(a, b)) v.push(`${rule}: ${a.name} does not wait for ${b.name}`);
  };

  for (const node of nodeNames) {
    if (!mainServer(node)) v.push(`every node has a server: none for ${node}`);
    for (const kind of ["ledger", "identity"] as const) {
      if (!roles.some((x) => x.role.kind === kind && x.role.node === node)) {
        v.push(`every node has a durable ${kind}: none for ${node}`);
      }
    }
  }
  // A part replaced new-first runs nothing and is made before the window (a Kubernetes server's ConfigMap under a
  // name new with its content, the read of the host that pulled the image): checked below. The server is not.
  const ahead = (x: (typeof servers)[number]) => x.role.part !== undefined && !x.r.deleteBeforeReplace;
  for (const { r, role } of servers) {
    if (!role.part && !r.deleteBeforeReplace)
      v.push(`servers are replaced old-first: ${r.name} lacks deleteBeforeReplace`);
  }
  // A server is replaced old-first (every flag day), and the engine deletes ahead of it whatever takes an input
  // from it: a health check keyed on the server's id would be deleted (two state saves per node) inside the
  // window. (A part of a server, such as the AWS host a flag day leaves alone, may feed it.)
  const serverUrns = new Set(servers.filter((s) => !s.role.part).map((s) => s.r.urn));
  for (const { r } of find("healthy")) {
    for (const [input, urns] of Object.entries(r.propertyDependencies)) {
      for (const urn of urns.filter((u) => serverUrns.has(u))) {
        v.push(
          `a health check takes no input from a server (it would be deleted ahead of it): ${r.name}.${input} comes from ${urn.split("::").pop()}`,
        );
      }
    }
  }

  // Durable pieces: protected, and no input or dependency that a release could change.
  const releases: EnclaveRelease[] = [];
  if (plan.kind !== "initial" && plan.transition) releases.push(plan.transition.from, plan.transition.to);
  releases.push(network.release);
  const releaseMarks = new Set(
    releases.flatMap((rel) => [rel.mrenclave, rel.enclaveSha256, `${rel.version}-`]),
  );
  const releaseBound = new Set(
    roles
      .filter((x) => ["server", "node-step", "network-step", "healthy"].includes(x.role.kind))
      .map((x) => x.r.urn),
  );
  for (const { r, role } of roles) {
    if (role.kind !== "ledger" && role.kind !== "identity") continue;
    if (!r.protect) v.push(`durable ${role.kind} is protected: ${r.name} is not`);
    const text = stableJson(r.inputs);
    for (const mark of releaseMarks) {
      if (text.includes(mark))
        v.push(`durable ${role.kind} inputs owe nothing to the release: ${r.name} has ${mark}`);
    }
    for (const d of r.dependencies) {
      if (releaseBound.has(d)) {
        v.push(`durable ${role.kind} depends on nothing release-bound: ${r.name} depends on ${d}`);
      }
    }
  }

  const networkSteps = find("network-step");
  const nodeSteps = find("node-step");
  // Steps a rollback registers again, unchanged, to read what the undone flag day recorded.
  const current = plan.kind === "initial" ? undefined : plan.transition;
  const undone = undoneOf(current);
  const owner = (x: { role: { ordinal: string; stage: StageName } }): Transition | undefined => {
    if (current && x.role.ordinal === ordinalOf(current.id)) return current;
    if (undone && x.role.ordinal === ordinalOf(undone.id) && ["quiesce", "snapshot"].includes(x.role.stage)) {
      return undone;
    }
    return undefined;
  };
  for (const x of [...networkSteps, ...nodeSteps]) {
    const t = owner(x);
    // A past rollback's restore steps stay registered: on AWS and Kubernetes they are the restored ledgers.
    if (!t && x.role.stage === "restore") continue;
    if (!t) {
      v.push(`an update has no stage step of a transition other than its own: ${x.r.name}`);
    } else if (
      x.r.type.startsWith("command:") &&
      !stableJson(x.r.inputs.triggers ?? null).includes(JSON.stringify(t.id))
    ) {
      v.push(`a command step runs once per transition (triggers hold ${t.id}): ${x.r.name}`);
    }
  }

  if (plan.kind === "transition") {
    const t = plan.transition;
    const ordinal = ordinalOf(t.id);
    const stages = SEQUENCES[t.sequence];
    const stepsOf = (stage: StageName): CapturedResource[][] => {
      const s = stages.find((x) => x.name === stage)!;
      if (s.name === "start")
        return nodeNames.map((n) => servers.filter((x) => x.role.node === n && !ahead(x)).map((x) => x.r));
      if (s.scope === "network") {
        return [
          networkSteps.filter((x) => x.role.stage === stage && x.role.ordinal === ordinal).map((x) => x.r),
        ];
      }
      return nodeNames.map((n) =>
        nodeSteps
          .filter((x) => x.role.stage === stage && x.role.node === n && x.role.ordinal === ordinal)
          .map((x) => x.r),
      );
    };
    // A part made ahead waits for nothing inside the window, and its server waits for it. (A rollback that
    // restores ledgers mounts new claims, made in the window, and the server's name, which such a part shares,
    // names its claim.)
    const reject = stages.some((s) => s.name === "restore") ? [] : stepsOf("ingress-reject").flat();
    for (const x of servers.filter(ahead)) {
      for (const b of reject)
        if (graph.dependsOn(x.r, b))
          v.push(
            `a part of a server made ahead waits for nothing in the window: ${x.r.name} waits for ${b.name}`,
          );
      const server = mainServer(x.role.node);
      if (server) waits(server, x.r, "a server waits for the parts made ahead of it");
    }
    for (const stage of stages) {
      stepsOf(stage.name).forEach((rs, i) => {
        const whose = stage.scope === "network" ? "the network" : nodeNames[i];
        if (rs.length === 0) v.push(`stage ${stage.name} has a step for ${whose}: none found`);
      });
    }
    const isBranch = (s: (typeof stages)[number]) => s.scope === "node" && s.after !== undefined;
    for (let k = 1; k < stages.length; k++) {
      const stage = stages[k];
      // A branch (seal) waits for its own node's `after` stage; the stage after a branch waits for the branch
      // on every node and for the stage before the branch.
      if (stage.scope === "node" && stage.after !== undefined) {
        const from = stepsOf(stage.after);
        stepsOf(stage.name).forEach((rs, i) => {
          for (const a of rs)
            for (const b of from[i]) waits(a, b, `${stage.name} after its own ${stage.after}`);
        });
        continue;
      }
      let j = k - 1;
      while (j > 0 && isBranch(stages[j])) {
        const branch = stepsOf(stages[j].name).flat();
        for (const a of stepsOf(stage.name).flat())
          for (const b of branch) waits(a, b, `${stage.name} after ${stages[j].name}`);
        j--;
      }
      const before = stages[j];
      const prev = stepsOf(before.name);
      const rule = `${stage.name} after ${before.name}`;
      stepsOf(stage.name).forEach((rs, i) => {
        const awaited =
          stage.scope === "node" && stage.waitFor === "same-node" && before.scope === "node"
            ? prev[i]
            : prev.flat();
        // Every part of a server counts: an instance without its ledger attached is not started.
        for (const a of rs) for (const b of awaited) waits(a, b, rule);
      });
    }
  } else {
    const steps = [...networkSteps, ...nodeSteps].map((x) => x.r);
    nodeNames.forEach((node, i) => {
      const server = mainServer(node);
      if (!server) return;
      for (const step of steps) {
        if (graph.dependsOn(server, step))
          v.push(`a rolling server is not held by stage steps: ${server.name} waits for ${step.name}`);
      }
      const healthy = find("healthy").find((h) => h.role.node === node)?.r;
      if (!healthy) v.push(`every node has a health check on the rolling path: none for ${node}`);
      else waits(healthy, server, "a node's health check waits for its server");
      if (i > 0) {
        const prev = find("healthy").find((h) => h.role.node === nodeNames[i - 1])?.r;
        if (prev) waits(server, prev, `rolling: ${node}'s server after ${nodeNames[i - 1]} is healthy`);
      }
    });
  }
  return v;
}

/** `checkFlagDayGraph`, throwing one error listing every violation. */
export function assertFlagDayGraph(
  graph: Graph,
  network: NetworkSpec,
  plan: Plan,
  classify?: Classifier,
): void {
  const v = checkFlagDayGraph(graph, network, plan, classify);
  if (v.length > 0) {
    throw new Error(
      `${v.length} flag-day rule(s) broken:\n  - ${[...new Set(v)].slice(0, 40).join("\n  - ")}`,
    );
  }
}
