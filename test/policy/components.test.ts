/**
 * The pack against what flagday's own components register on AWS and Kubernetes, under Pulumi mocks (the real
 * engine cannot run those providers here): a first deployment, a flag day and the steady run after it pass every
 * policy, the ledger policy finds exactly one ledger volume per node, and a flag day stripped of its snapshot
 * steps is refused. Ties the pack's keys (types, tags, labels, step names, component outputs) to the platforms.
 */
import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import type { PolicyResource } from "@pulumi/policy";
import { unknownCheckingProxy } from "@pulumi/policy";
import { MockMonitor } from "@pulumi/pulumi/runtime/mocks";
import * as rpc from "@pulumi/pulumi/runtime/rpc";
import { ledgerVolumesProtected, policies, snapshotBeforeFlagDay } from "../../policy/policies";
import { Graph, revealed } from "../graph/harness";
import { aws, kube, network, runNetwork, V5, V6 } from "../components/fixtures";
import { Deployed } from "../../components/plan";
import { Outcome, runResourcePolicy, runStackPolicy } from "./helpers";

// The graph harness records registrations, not component outputs: keep those as the mock monitor receives them.
const componentOutputs = new Map<string, Record<string, unknown>>();
const proto = MockMonitor.prototype as unknown as {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  registerResourceOutputs(req: any, callback: (err: any, res: any) => void): void;
};
const original = proto.registerResourceOutputs;
proto.registerResourceOutputs = function (req, callback) {
  componentOutputs.set(req.getUrn(), rpc.deserializeProperties(req.getOutputs()));
  return original.call(this, req, callback);
};

/** One program run under mocks: its graph and its components' outputs. */
interface Run {
  readonly graph: Graph;
  readonly outputs: ReadonlyMap<string, Record<string, unknown>>;
  readonly plan: Awaited<ReturnType<typeof runNetwork>>["result"]["net"]["plan"];
}

async function run(...args: Parameters<typeof runNetwork>): Promise<Run & { record: Deployed }> {
  componentOutputs.clear();
  const r = await runNetwork(...args);
  return {
    graph: r.graph,
    outputs: new Map(componentOutputs),
    plan: r.result.net.plan,
    record: r.result.record,
  };
}

/** The stack as AnalyzeStack would see it: custom resources' state (their inputs here), components' outputs. */
function stackOf(graph: Graph, outputs: ReadonlyMap<string, Record<string, unknown>>): PolicyResource[] {
  const byUrn = new Map<string, PolicyResource>();
  const list = graph.resources.map((r) => {
    const props = r.custom ? (revealed(r.inputs) as Record<string, unknown>) : (outputs.get(r.urn) ?? {});
    const res: PolicyResource = {
      type: r.type,
      name: r.name,
      urn: r.urn,
      props: unknownCheckingProxy(props),
      opts: {
        protect: r.protect,
        ignoreChanges: [],
        aliases: [],
        customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
        additionalSecretOutputs: [],
      },
      dependencies: [],
      propertyDependencies: {},
      isType: () => false,
      asType: () => undefined,
    };
    byUrn.set(r.urn, res);
    return res;
  });
  graph.resources.forEach((r, i) => {
    if (r.parent) list[i].parent = byUrn.get(r.parent);
  });
  return list;
}

/** Every policy on a graph: stack policies on the stack, the resource policy on every registration. */
async function check({ graph, outputs }: Run) {
  const stack: Record<string, Outcome> = {};
  const applied: Record<string, string[]> = {};
  const violations: string[] = [];
  for (const p of policies) {
    if ("validateStack" in p) {
      stack[p.name] = await runStackPolicy(p, stackOf(graph, outputs));
      violations.push(...stack[p.name].violations.map((v) => `${p.name}: ${v.message}`));
    } else {
      applied[p.name] = [];
      for (const r of graph.resources) {
        const o = await runResourcePolicy(p, r.type, r.name, revealed(r.inputs) as Record<string, unknown>, {
          protect: r.protect,
        });
        if (o.notApplicable === undefined) applied[p.name].push(r.name);
        violations.push(...o.violations.map((v) => `${p.name}: ${v.message}`));
      }
    }
  }
  return { stack, applied, violations };
}

const PLATFORMS = [
  ["AWS", aws(), (n: string) => `testnet-${n}-ledger`],
  ["Kubernetes", kube(), (n: string) => `testnet-${n}-data`],
] as const;

describe("the pack on the platforms' graphs", async () => {
  // Captures share the SDK's global settings: one after another, before any test runs.
  const runs = [];
  for (const [platform, makePlatform, ledgerName] of PLATFORMS) {
    const initial = await run(makePlatform, network(3, V5));
    const upgrade = await run(makePlatform, network(3, V6), initial.record);
    const steady = await run(makePlatform, network(3, V6), upgrade.record);
    runs.push({ platform, ledgerName, initial, upgrade, steady });
  }

  for (const { platform, ledgerName, initial, upgrade, steady } of runs) {
    describe(platform, () => {
      test("a first deployment, a flag day and the steady run after it pass every policy", async () => {
        for (const [what, r0] of [
          ["initial", initial],
          ["flag day", upgrade],
          ["steady", steady],
        ] as const) {
          const r = await check(r0);
          assert.deepEqual(r.violations, [], what);
          assert.deepEqual(
            r.applied["ledger-volumes-protected"],
            ["node1", "node2", "node3"].map(ledgerName),
            `${what}: the ledger policy finds each node's ledger volume, and only those`,
          );
          for (const name of ["peers-pin-mrenclave", "one-enclave-per-network"]) {
            assert.equal(r.stack[name].notApplicable, undefined, `${what}: ${name} checked the network`);
          }
          assert.equal(
            r.stack["snapshot-before-flag-day"].notApplicable === undefined,
            what !== "initial",
            `${what}: the snapshot policy checks the nodes a flag day upgraded`,
          );
        }
      });

      test("the nodes report what they run, and the same on the steady re-run", () => {
        const outputs = (r: Run) =>
          r.graph.ofType("flagday:index:ConsensusNode").map((n) => r.outputs.get(n.urn));
        assert.equal(upgrade.plan.kind, "transition");
        const id = upgrade.plan.kind === "transition" ? upgrade.plan.transition.id : "";
        assert.deepEqual(
          outputs(upgrade),
          ["node1", "node2", "node3"].map((node) => ({
            network: "testnet",
            node,
            mrenclave: V6.mrenclave,
            version: "v6.0.0",
            generation: id,
          })),
        );
        assert.deepEqual(outputs(steady), outputs(upgrade), "nothing changed, nothing differs");
        assert.deepEqual(
          outputs(initial).map((o) => o?.generation),
          ["initial", "initial", "initial"],
        );
        const net = upgrade.graph.ofType("flagday:index:ConsensusNetwork")[0];
        const out = upgrade.outputs.get(net.urn) ?? {};
        assert.deepEqual([out.network, out.peerAttestation], ["testnet", "mrenclave"]);
      });

      test("a flag day without its snapshot steps is refused, node by node", async () => {
        const stripped = stackOf(upgrade.graph, upgrade.outputs).filter((r) => !r.name.endsWith("-snapshot"));
        assert.ok(stripped.length < upgrade.graph.resources.length, "the flag day had snapshot steps");
        const r = await runStackPolicy(snapshotBeforeFlagDay, stripped);
        assert.equal(r.violations.length, 3);
        for (const [i, v] of r.violations.entries()) {
          assert.match(v.message, new RegExp(`testnet-u1-node${i + 1}-snapshot`));
        }
      });

      test("an unprotected ledger volume among them is refused", async () => {
        const ledger = upgrade.graph.named(ledgerName("node2"));
        const o = await runResourcePolicy(
          ledgerVolumesProtected,
          ledger.type,
          ledger.name,
          revealed(ledger.inputs) as Record<string, unknown>,
          { protect: false },
        );
        assert.equal(o.violations.length, 1);
      });
    });
  }
});
