/**
 * Issue 13 on Kubernetes: the new server prefers the host its flag day's pre-pull ran on, so the image is pulled
 * before the window. The pieces as plain functions (the preference, the command that reads the host, run
 * against a kubectl stand-in), then the platform's graph under mocks: who reads the host, what waits for what,
 * and what a steady update, a rollback and the name digest make of it.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import type { CustomResourceOptions, Resource } from "@pulumi/pulumi";
import { KubernetesPlatformArgs } from "../../components/kubernetes";
import type { StartArgs } from "../../components/platform";
import {
  deploymentSpec,
  DeploymentInputs,
  imageHostCommand,
  preferHostAffinity,
  STAGE_ACCESS,
} from "../../components/kubernetes/specs";
import { CapturedResource, revealed } from "../graph/harness";
import { assertFlagDayGraph, checkFlagDayGraph } from "../graph/invariants";
import { DEPLOYMENT_INPUTS, kube, network, runNetwork, V5, V6 } from "./fixtures";
import { standIns } from "./stand-ins";

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const inputsOf = (r: CapturedResource) => revealed(r.inputs) as Json;
const { tmp, bin } = standIns("image-host");

const PREFERS = (host: string) => ({
  nodeAffinity: {
    preferredDuringSchedulingIgnoredDuringExecution: [
      {
        weight: 100,
        preference: { matchFields: [{ key: "metadata.name", operator: "In", values: [host] }] },
      },
    ],
  },
});

describe("preferHostAffinity: the Node that pulled the image, preferred, never required", () => {
  test("a Node's name: preferred by name (metadata.name, what spec.nodeName holds), weight 100", () => {
    assert.deepEqual(preferHostAffinity("ip-10-0-3-17.ec2.internal"), PREFERS("ip-10-0-3-17.ec2.internal"));
    assert.deepEqual(preferHostAffinity("sgx-2\n"), PREFERS("sgx-2"), "kubectl's output, trimmed");
    const a = preferHostAffinity("sgx-2")!;
    assert.ok(!("requiredDuringSchedulingIgnoredDuringExecution" in a.nodeAffinity), "never required");
  });
  test("nothing, or text that is no Node's name (a no-op update's message): no preference at all", () => {
    for (const text of [
      undefined,
      "",
      "  \n",
      "flagday: x already ran; nothing to do",
      "SGX-2",
      "-a",
      "a_b",
    ]) {
      assert.equal(preferHostAffinity(text), undefined, JSON.stringify(text));
    }
    assert.equal(preferHostAffinity(`${"a".repeat(254)}`), undefined, "longer than 253");
  });
});

describe("deploymentSpec with a preferred host", () => {
  const BASE: DeploymentInputs = {
    ...DEPLOYMENT_INPUTS,
    sgx: {
      nodeSelector: { dcap: "true" },
      tolerations: [{ key: "dcap", operator: "Equal", value: "true", effect: "NoSchedule" }],
    },
  };
  test("the affinity joins the SGX placement; the node selector and tolerations are as they were", () => {
    const plain = deploymentSpec(BASE).template.spec;
    const placed = deploymentSpec({ ...BASE, affinity: preferHostAffinity("sgx-2")! }).template.spec;
    assert.ok(!("affinity" in plain));
    assert.deepEqual(placed.affinity, PREFERS("sgx-2"));
    const { affinity, ...rest } = placed;
    void affinity;
    assert.deepEqual(rest, plain);
  });
});

describe("imageHostCommand: the host the pre-pull Job ran on, read when the server starts", () => {
  const T = "u3-upgrade-v5.2.3-to-v6.0.0-3f9a1c2e";
  const cmd = imageHostCommand({
    kubectl: "kubectl --context 'c' -n 'ns'",
    node: "node2",
    job: "node2-pull-1a2b3c4d",
    selector: { "app.kubernetes.io/instance": "node2" },
    transitionId: T,
  });
  /** kubectl as the API would answer: `deps` is the jsonpath's "<generation> <preferred host>" lines. */
  const run = (o: { deps?: string; hosts?: string; fail?: "deployment" | "pods" }) => {
    const state = tmp();
    const path = bin({
      kubectl: `
echo "kubectl $*" >> ${state}/calls
case "$*" in
  *"get deployment"*) [ "${o.fail ?? ""}" = deployment ] && { echo "the server is currently unable" >&2; exit 1; }
    printf '%b' ${JSON.stringify(o.deps ?? "")} ;;
  *"get pods"*) [ "${o.fail ?? ""}" = pods ] && exit 1
    printf '%s' ${JSON.stringify(o.hosts ?? "")} ;;
esac`,
    });
    const r = spawnSync("/bin/sh", ["-c", cmd], {
      encoding: "utf8",
      env: { PATH: `${path}:/usr/bin:/bin` },
    });
    let calls = "";
    try {
      calls = readFileSync(join(state, "calls"), "utf8");
    } catch {
      /* never called */
    }
    return { code: r.status, out: r.stdout, err: r.stderr, calls };
  };

  test("before the new Deployment: prints the Node of the Job's succeeded pod, alone", () => {
    const r = run({ deps: "u2-upgrade-old sgx-1\n", hosts: "sgx-2" });
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, "sgx-2\n");
    assert.match(r.calls, /get deployment -l app\.kubernetes\.io\/instance=node2 -o jsonpath=/);
    assert.match(
      r.calls,
      /get pods -l job-name=node2-pull-1a2b3c4d --field-selector=status\.phase=Succeeded -o jsonpath=\{\.items\[\*\]\.spec\.nodeName\}/,
    );
    assert.deepEqual(preferHostAffinity(r.out), PREFERS("sgx-2"));
  });
  test("several pods (a pod replaced before it ran): the first succeeded one", () => {
    assert.equal(run({ deps: "", hosts: "sgx-2 sgx-4" }).out, "sgx-2\n");
  });
  test("the Deployment already runs this transition: the host it prefers, or nothing; the pods are not read", () => {
    const again = run({ deps: `u2-upgrade-old sgx-1\n${T} sgx-5\n`, hosts: "sgx-9" });
    assert.equal(again.out, "sgx-5\n");
    assert.ok(!again.calls.includes("get pods"));
    // A flag day an earlier flagday ran, whose Deployment was made with no preference: it stays without one.
    const late = run({ deps: `${T} \n`, hosts: "sgx-9" });
    assert.equal(late.code, 0, late.err);
    assert.equal(preferHostAffinity(late.out), undefined);
  });
  test("nothing to read never fails the start: a warning naming the node and the Job, and no preference", () => {
    for (const o of [{ hosts: "" }, { fail: "pods" as const }, { fail: "deployment" as const }]) {
      const r = run(o);
      assert.equal(r.code, 0, JSON.stringify(o));
      assert.equal(r.out, "", JSON.stringify(o));
      assert.match(r.err, /flagday: node2: .*; its new pod prefers no host/);
    }
    assert.match(run({ hosts: "" }).err, /pre-pull Job node2-pull-1a2b3c4d has no succeeded pod/);
  });
  test("the start's permissions include reading the Deployments and the pods", () => {
    for (const a of ["list deployments", "list pods"]) assert.ok(STAGE_ACCESS.start.includes(a), a);
  });
});

describe("the platform under mocks: the flag day's new server prefers its pre-pull's host", async () => {
  const host = (node: string) => `sgx-host-${node.slice(-1)}`;
  /** The API's answer: each node's pre-pull ran on its own host. */
  const cluster = {
    outputs: (_type: string, name: string) => {
      const m = /^testnet-(node\d+)-server-image-host$/.exec(name);
      return m ? { stdout: host(m[1]) } : {};
    },
  };
  const PLACEMENT = {
    nodeSelector: { dcap: "true" },
    tolerations: [{ key: "dcap", operator: "Equal", value: "true", effect: "NoSchedule" }],
  } as const satisfies Partial<KubernetesPlatformArgs>;
  const platform = kube(PLACEMENT);
  const initial = await runNetwork(platform, network(3, V5), undefined, {}, cluster);
  const upgrade = await runNetwork(platform, network(3, V6), initial.result.record, {}, cluster);
  const steady = await runNetwork(platform, network(3, V6), upgrade.result.record, {}, cluster);
  const back = await runNetwork(platform, network(3, V5), upgrade.result.record, { rollback: true }, cluster);
  const g = upgrade.graph;
  const plan = upgrade.result.net.plan;
  const transitionId = plan.kind === "transition" ? plan.transition.id : "not a flag day";
  const podOf = (graph: typeof g, node: string) =>
    inputsOf(graph.named(`testnet-${node}-server`)).spec.template.spec;

  test("every path still obeys the flag-day rules", () => {
    assertFlagDayGraph(upgrade.graph, network(3, V6), upgrade.result.net.plan);
    assertFlagDayGraph(steady.graph, network(3, V6), steady.result.net.plan);
    assertFlagDayGraph(back.graph, network(3, V5), back.result.net.plan);
  });

  test("each new Deployment prefers the host its node's pre-pull ran on, read from that Job's pods", () => {
    for (const node of ["node1", "node2", "node3"]) {
      assert.deepEqual(podOf(g, node).affinity, PREFERS(host(node)), node);
      const read = g.named(`testnet-${node}-server-image-host`);
      const job = inputsOf(g.named(`testnet-u1-${node}-pull`)).metadata.name;
      assert.match(String(inputsOf(read).create), new RegExp(`'job-name=${job}' `));
      assert.equal(inputsOf(read).triggers[0], transitionId, "read once per flag day");
    }
  });

  test("the host is read after the pre-pull Job, before the window: the Deployment waits for the read", () => {
    for (const node of ["node1", "node2", "node3"]) {
      const read = g.named(`testnet-${node}-server-image-host`);
      const server = g.named(`testnet-${node}-server`);
      assert.ok(g.dependsOn(read, g.named(`testnet-u1-${node}-pull`)), `${node}: after its pull Job`);
      // Two kubectl reads that need nothing stopped: with the prepare stages, while clients are served.
      assert.ok(!g.dependsOn(read, g.named("testnet-u1-ingress-reject")), `${node}: not in the window`);
      assert.ok(
        !g.dependsOn(read, g.named(`testnet-u1-${node}-migrate`)),
        `${node}: not after the migration`,
      );
      assert.ok(g.dependsOn(server, read), `${node}: the Deployment waits for the host`);
      assert.ok(
        g.dependsOn(server, g.named(`testnet-u1-${node}-migrate`)),
        `${node}: the Deployment in the window`,
      );
      assert.ok(g.dependsOn(g.named("testnet-u1-attest"), read));
      assert.notEqual(read.deleteBeforeReplace, true, "replaced new-first: its delete runs nothing");
      assert.equal(server.deleteBeforeReplace, true, "the server itself, old-first");
    }
  });

  test("the server's ConfigMap is made before the window under a new name, so the old pod's stays as it was", () => {
    const configName = (graph: typeof g, node: string) =>
      inputsOf(graph.named(`testnet-${node}-server-config`)).metadata.name as string;
    for (const node of ["node1", "node2", "node3"]) {
      const config = g.named(`testnet-${node}-server-config`);
      assert.ok(!g.dependsOn(config, g.named("testnet-u1-ingress-reject")), `${node}: not in the window`);
      assert.ok(g.dependsOn(g.named(`testnet-${node}-server`), config), `${node}: the Deployment mounts it`);
      assert.notEqual(config.deleteBeforeReplace, true, `${node}: replaced new-first`);
      assert.notEqual(
        configName(g, node),
        configName(initial.graph, node),
        `${node}: a new name this flag day`,
      );
      assert.equal(configName(steady.graph, node), configName(g, node), `${node}: the same name when steady`);
    }
  });

  test("the checker fails a platform whose parts made ahead wait for the window", async () => {
    const late = () => {
      const p = platform();
      return {
        ...p,
        nodeSteps: {
          ...p.nodeSteps,
          start: (step: StartArgs, opts: CustomResourceOptions) =>
            p.nodeSteps.start({ ...step, prepared: opts.dependsOn as Resource[] }, opts),
        },
      };
    };
    const up = await runNetwork(late, network(3, V6), initial.result.record, {}, cluster);
    const v = checkFlagDayGraph(up.graph, network(3, V6), up.result.net.plan);
    for (const part of ["config", "image-host"])
      assert.ok(
        v.some((x) =>
          x.startsWith(
            `a part of a server made ahead waits for nothing in the window: testnet-node1-server-${part} waits for testnet-u1-ingress-reject`,
          ),
        ),
        v.join("\n"),
      );
  });

  test("the host is outside the name's digest; the SGX placement is untouched", async () => {
    const elsewhere = await runNetwork(
      platform,
      network(3, V6),
      initial.result.record,
      {},
      {
        outputs: (_t, name) => (name.endsWith("-server-image-host") ? { stdout: "another-host" } : {}),
      },
    );
    const nameIn = (graph: typeof g) => inputsOf(graph.named("testnet-node2-server")).metadata.name;
    assert.equal(nameIn(elsewhere.graph), nameIn(g));
    assert.deepEqual(podOf(elsewhere.graph, "node2").affinity, PREFERS("another-host"));
    assert.deepEqual(podOf(g, "node2").nodeSelector, PLACEMENT.nodeSelector);
    assert.deepEqual(podOf(g, "node2").tolerations, PLACEMENT.tolerations);
    const { affinity, ...pod } = podOf(g, "node2");
    void affinity;
    const { affinity: other, ...podElsewhere } = podOf(elsewhere.graph, "node2");
    void other;
    assert.deepEqual(pod, podElsewhere);
  });

  test("a read that names no Node (nothing, a warning, a no-op's message): no `affinity` in the pod at all", async () => {
    for (const stdout of ["", "flagday: testnet-node2-server-image-host already ran for its transition"]) {
      const none = await runNetwork(
        platform,
        network(3, V6),
        initial.result.record,
        {},
        {
          outputs: (_t, name) => (name.endsWith("-server-image-host") ? { stdout } : {}),
        },
      );
      const pod = podOf(none.graph, "node2");
      assert.ok(!("affinity" in pod), JSON.stringify(stdout));
      assert.deepEqual(pod.nodeSelector, PLACEMENT.nodeSelector);
    }
  });

  test("steady: the read is registered again unchanged, so the Deployment keeps its preference", () => {
    for (const node of ["node1", "node2", "node3"]) {
      const name = `testnet-${node}-server-image-host`;
      assert.deepEqual(steady.graph.named(name).inputs, g.named(name).inputs, name);
      assert.deepEqual(podOf(steady.graph, node), podOf(g, node), node);
    }
  });

  test("no pre-pull, no read, no preference: the first deployment and a rollback", () => {
    for (const graph of [initial.graph, back.graph]) {
      assert.equal(graph.resources.filter((r) => r.name.endsWith("-image-host")).length, 0);
      for (const node of ["node1", "node2", "node3"]) assert.ok(!("affinity" in podOf(graph, node)));
    }
  });
});
