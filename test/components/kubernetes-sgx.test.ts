/**
 * SGX scheduling on the Kubernetes platform (issue 14): a hardware-mode enclave runs on an SGX node pool, the
 * way MobileCoin's chart-consensus-node puts it there (.internal-ci/helm/consensus-node/values.yaml at v6.0.2):
 * a node selector and a toleration for the SGX nodes, `sgx.intel.com/epc` as request and limit, and the
 * `sgx.intel.com/quote-provider` pod annotation naming the enclave's container for in-process DCAP quotes; or
 * aesmd's host socket. The specs are read as plain functions; the platform's graph under mocks.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  KubernetesPlatformArgs,
  kubernetesArgsProblems,
  kubernetesPlatform,
  kubernetesReleaseProblems,
} from "../../components/kubernetes";
import {
  AESMD_PATH,
  CONSENSUS_CONTAINER,
  deploymentSpec,
  DeploymentInputs,
  ledgerJobSpec,
  QUOTE_PROVIDER_ANNOTATION,
  sgxPodSettings,
} from "../../components/kubernetes/specs";
import { EnclaveRelease } from "../../components/release";
import { captureGraph, CapturedResource, revealed } from "../graph/harness";
import { assertFlagDayGraph } from "../graph/invariants";
import { DEPLOYMENT_INPUTS, FAKE_CLUSTER_SNAPSHOTS, K8S_ARGS, network, runNetwork, V5, V6 } from "./fixtures";

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const inputsOf = (r: CapturedResource) => revealed(r.inputs) as Json;

/** MobileCoin's chart values for SGX scheduling (node.nodeSelector, node.tolerations, node.resources). */
const CHART = {
  sgxResources: { "sgx.intel.com/epc": "512Ki" },
  nodeSelector: { dcap: "true" },
  tolerations: [{ key: "dcap", operator: "Equal", value: "true", effect: "NoSchedule" }],
} as const satisfies Partial<KubernetesPlatformArgs>;

const HW5: EnclaveRelease = { ...V5, sgxMode: "hardware" };
const HW6: EnclaveRelease = { ...V6, sgxMode: "hardware" };

const BASE: DeploymentInputs = {
  ...DEPLOYMENT_INPUTS,
  resources: { requests: { ...CHART.sgxResources }, limits: { ...CHART.sgxResources } },
};

const consensusOf = (spec: Json) =>
  spec.template.spec.containers.find((c: { name: string }) => c.name === CONSENSUS_CONTAINER);

describe("SGX pod settings: the chart's, with defaults", () => {
  test("nothing set: nothing rendered, and the pod spec is what it was before SGX scheduling", () => {
    assert.deepEqual(sgxPodSettings({}), {});
    const plain = { ...BASE, resources: { requests: {}, limits: {} } };
    assert.deepEqual(deploymentSpec({ ...plain, sgx: sgxPodSettings({}) }), deploymentSpec(plain));
    const pod = deploymentSpec(plain).template;
    assert.ok(!("annotations" in pod.metadata));
    assert.ok(!("nodeSelector" in pod.spec) && !("tolerations" in pod.spec));
  });
  test("SGX resources alone mean in-process quotes (MobileCoin's node_hw since v6); aesmd defaults its socket", () => {
    assert.deepEqual(sgxPodSettings({ sgxResources: CHART.sgxResources }), { quoteProvider: "in-process" });
    assert.deepEqual(sgxPodSettings({ sgxResources: CHART.sgxResources, sgxQuoteProvider: "aesmd" }), {
      quoteProvider: "aesmd",
      aesmdSocket: AESMD_PATH,
    });
    assert.equal(
      sgxPodSettings({
        sgxResources: CHART.sgxResources,
        sgxQuoteProvider: "aesmd",
        aesmdSocket: "/run/aesmd",
      }).aesmdSocket,
      "/run/aesmd",
    );
    // Placement without SGX resources is placement only: no quoting on a pod that has no enclave device.
    assert.deepEqual(sgxPodSettings({ nodeSelector: CHART.nodeSelector }), {
      nodeSelector: { dcap: "true" },
    });
  });
});

describe("deploymentSpec on an SGX node pool", () => {
  const spec = deploymentSpec({ ...BASE, sgx: sgxPodSettings(CHART) });
  const pod = spec.template.spec as Json;
  const consensus = consensusOf(spec);

  test("the node selector and toleration put the pod on the SGX nodes", () => {
    assert.deepEqual(pod.nodeSelector, { dcap: "true" });
    assert.deepEqual(pod.tolerations, [
      { key: "dcap", operator: "Equal", value: "true", effect: "NoSchedule" },
    ]);
  });
  test("sgx.intel.com/epc is the consensus container's request and limit; no other container asks for SGX", () => {
    assert.equal(consensus.resources.requests["sgx.intel.com/epc"], "512Ki");
    assert.equal(consensus.resources.limits["sgx.intel.com/epc"], "512Ki");
    const others = [...pod.initContainers, ...pod.containers].filter((c: Json) => c !== consensus);
    assert.ok(others.length >= 2);
    for (const c of others) assert.ok(!JSON.stringify(c).includes("sgx"), c.name);
  });
  test("in-process DCAP: the pod annotation names the consensus container, as the chart names its `node`", () => {
    assert.deepEqual(spec.template.metadata.annotations, { [QUOTE_PROVIDER_ANNOTATION]: "consensus" });
    assert.equal(consensus.name, "consensus");
    assert.ok(!JSON.stringify(spec).includes("aesm"), "no aesmd socket with in-process quotes");
  });
  test("no SGX_MODE or IAS_MODE at run time: both are build settings of the enclave", () => {
    for (const quoteProvider of ["in-process", "aesmd"] as const) {
      const s = deploymentSpec({
        ...BASE,
        sgx: sgxPodSettings({ ...CHART, sgxQuoteProvider: quoteProvider }),
      });
      assert.doesNotMatch(JSON.stringify(s), /SGX_MODE|IAS_MODE/);
    }
  });
  test("aesmd: its host socket directory at /var/run/aesmd and SGX_AESM_ADDR=1, on the consensus container only", () => {
    const s = deploymentSpec({
      ...BASE,
      sgx: sgxPodSettings({ ...CHART, sgxQuoteProvider: "aesmd", aesmdSocket: "/var/run/aesmd" }),
    });
    const c = consensusOf(s);
    const vol = (s.template.spec.volumes as Json[]).find((v) => v.hostPath);
    // The Intel webhook's own volume name: it then adds no second socket volume.
    assert.deepEqual(vol, { name: "aesmd-socket", hostPath: { path: "/var/run/aesmd", type: "Directory" } });
    assert.deepEqual(
      (c.volumeMounts as Json[]).find((m) => m.name === "aesmd-socket"),
      { name: "aesmd-socket", mountPath: "/var/run/aesmd" },
    );
    assert.deepEqual(
      (c.env as Json[]).find((e) => e.name === "SGX_AESM_ADDR"),
      { name: "SGX_AESM_ADDR", value: "1" },
    );
    assert.ok(!("annotations" in s.template.metadata), "the pod mounts the socket itself, webhook or not");
    const admin = (s.template.spec.containers as Json[]).find((x) => x.name === "admin-gateway");
    assert.ok(!JSON.stringify(admin).includes("aesm"));
  });
  test("migration Jobs run on the same nodes (where the ledger attaches), with no SGX resources", () => {
    const job = ledgerJobSpec({
      container: "migrate",
      image: BASE.image,
      claim: "node1-data",
      commands: ["mc-ledger-migration --ledger-db /ledger"],
      sgx: sgxPodSettings(CHART),
    });
    assert.deepEqual(job.template.spec.nodeSelector, { dcap: "true" });
    assert.deepEqual(job.template.spec.tolerations, CHART.tolerations);
    assert.ok(!JSON.stringify(job.template.spec.containers).includes("sgx"));
    const plain = ledgerJobSpec({ container: "migrate", image: BASE.image, claim: "c", commands: ["true"] });
    assert.ok(!("nodeSelector" in plain.template.spec) && !("tolerations" in plain.template.spec));
  });
});

describe("flagday:kubernetes SGX settings are checked at preview", () => {
  const problems = (extra: Json) => kubernetesArgsProblems({ ...K8S_ARGS, ...extra }, "flagday:kubernetes");
  const one = (extra: Json, ...patterns: RegExp[]) => {
    const p = problems(extra);
    assert.equal(p.length, 1, p.join("\n"));
    for (const re of patterns) assert.match(p[0], re);
  };

  test("the chart's settings pass, in both quoting modes", () => {
    assert.deepEqual(problems(CHART), []);
    assert.deepEqual(problems({ ...CHART, sgxQuoteProvider: "in-process" }), []);
    assert.deepEqual(problems({ ...CHART, sgxQuoteProvider: "aesmd", aesmdSocket: "/var/run/aesmd" }), []);
    // AKS's own device plugin resource, and a key with a prefix.
    assert.deepEqual(
      problems({
        sgxResources: { "kubernetes.azure.com/sgx_epc_mem_in_MiB": "10" },
        nodeSelector: { "kubernetes.azure.com/agentpool": "sgxpool" },
        tolerations: [{ key: "sgx", operator: "Exists" }],
      }),
      [],
    );
  });
  test("an unquoted YAML true in a node selector or toleration is named (Kubernetes takes strings only)", () => {
    one({ nodeSelector: { dcap: true } }, /flagday:kubernetes\.nodeSelector\.dcap/, /in quotes, like "true"/);
    one(
      { tolerations: [{ key: "dcap", operator: "Equal", value: true, effect: "NoSchedule" }] },
      /flagday:kubernetes\.tolerations\[0\]\.value/,
    );
  });
  test("each toleration field is checked against core/v1", () => {
    one({ tolerations: [{ key: "dcap", value: "true", effect: "NoSchedul" }] }, /\.effect must be one of/);
    one({ tolerations: [{ key: "dcap", operator: "Exists", value: "true" }] }, /value must be removed/);
    one(
      { tolerations: [{ key: "dcap", operator: "In", value: "true" }] },
      /operator must be Equal or Exists/,
    );
    one({ tolerations: [{ value: "true" }] }, /key is required with operator Equal/);
    one(
      { tolerations: [{ key: "dcap", value: "true", effect: "NoSchedule", tolerationSeconds: 30 }] },
      /tolerationSeconds only applies to effect NoExecute/,
    );
    one(
      { tolerations: [{ key: "dcap", value: "true", efect: "NoSchedule" }] },
      /efect is not a toleration field/,
    );
    one({ tolerations: [] }, /tolerations must list/);
  });
  test("SGX resources are extended resource names with quantities in quotes", () => {
    one(
      { sgxResources: { "sgx.intel.com/epc": 512 } },
      /\["sgx\.intel\.com\/epc"\] must be a quantity in quotes/,
    );
    one({ sgxResources: { epc: "512Ki" } }, /not an extended resource name/);
    one({ sgxResources: {} }, /sgxResources must map/);
  });
  test("quoting settings that would do nothing, or the wrong thing, are named", () => {
    one({ sgxQuoteProvider: "in-process" }, /sgxQuoteProvider has no effect without sgxResources/);
    one({ ...CHART, sgxQuoteProvider: "ias" }, /sgxQuoteProvider must be in-process .* or aesmd/);
    one(
      { ...CHART, aesmdSocket: "/var/run/aesmd" },
      /aesmdSocket is only mounted with sgxQuoteProvider: aesmd/,
    );
    one(
      { ...CHART, sgxQuoteProvider: "aesmd", aesmdSocket: "var/run/aesmd" },
      /host directory of aesmd's socket/,
    );
  });
});

describe("a hardware-mode enclave on Kubernetes needs an SGX resource", () => {
  test("refused with the field, why and the fix; software mode, or a pod that requests SGX, passes", () => {
    for (const release of [HW6, { ...V6, sgxMode: undefined }]) {
      const p = kubernetesReleaseProblems(network(3, release), {});
      assert.equal(p.length, 1, p.join("\n"));
      assert.match(p[0], /^flagday:network\.release \(v6\.0\.0\) is a hardware-mode SGX enclave/);
      assert.match(p[0], /flagday:kubernetes\.sgxResources requests no SGX resource/);
      assert.match(p[0], /"sgx\.intel\.com\/epc": "512Ki"/);
      assert.match(p[0], /sgxMode: software/);
    }
    assert.deepEqual(kubernetesReleaseProblems(network(3, V6), {}), []);
    assert.deepEqual(kubernetesReleaseProblems(network(3, HW6), CHART), []);
    assert.deepEqual(
      kubernetesReleaseProblems(network(3, HW6), {
        sgxResources: { "kubernetes.azure.com/sgx_epc_mem_in_MiB": "10" },
      }),
      [],
    );
  });
});

describe("Kubernetes platform on an SGX node pool, under mocks", async () => {
  const sgxKube =
    (extra: Partial<KubernetesPlatformArgs> = {}) =>
    () =>
      kubernetesPlatform({ ...K8S_ARGS, ...CHART, ...extra, snapshotLookup: FAKE_CLUSTER_SNAPSHOTS });
  const initial = await runNetwork(sgxKube(), network(5, HW5));
  const upgrade = await runNetwork(sgxKube(), network(5, HW6), initial.result.record);
  // Captures run one at a time (the SDK's settings are global): this one too, before any test starts.
  let refusal: Error | undefined;
  const refused = await captureGraph(() => {
    try {
      const spec = network(3, HW6);
      kubernetesPlatform({ ...K8S_ARGS, snapshotLookup: FAKE_CLUSTER_SNAPSHOTS }).node(
        spec.nodes[0],
        spec,
        {},
      );
    } catch (e) {
      refusal = e as Error;
    }
    return 0;
  });
  const same = await runNetwork(sgxKube(), network(5, HW6), upgrade.result.record);
  const moved = await runNetwork(
    sgxKube({ nodeSelector: { dcap: "true", pool: "dc8" } }),
    network(5, HW6),
    upgrade.result.record,
  );

  test("a hardware-mode release with no SGX resource is refused before any resource registers", () => {
    assert.ok(refusal, "node() must throw");
    assert.match(
      refusal.message,
      /cannot run on the Kubernetes platform as described \(nothing was changed\)/,
    );
    assert.match(refusal.message, /hardware-mode SGX enclave/);
    assert.deepEqual(
      refused.graph.resources.map((r) => r.name),
      [],
    );
  });

  test("a hardware-mode flag day obeys the flag-day rules", () => {
    assertFlagDayGraph(initial.graph, network(5, HW5), initial.result.net.plan);
    assertFlagDayGraph(upgrade.graph, network(5, HW6), upgrade.result.net.plan);
  });
  test("every server runs on the SGX nodes with its EPC and the quote-provider annotation", () => {
    const servers = upgrade.graph.ofType("kubernetes:apps/v1:Deployment");
    assert.equal(servers.length, 5);
    for (const dep of servers) {
      const tpl = inputsOf(dep).spec.template;
      assert.deepEqual(tpl.spec.nodeSelector, { dcap: "true" }, dep.name);
      assert.deepEqual(tpl.spec.tolerations, CHART.tolerations, dep.name);
      assert.equal(tpl.metadata.annotations[QUOTE_PROVIDER_ANNOTATION], "consensus");
      const c = consensusOf(inputsOf(dep).spec);
      assert.equal(c.resources.requests["sgx.intel.com/epc"], "512Ki");
      assert.equal(c.resources.limits["sgx.intel.com/epc"], "512Ki");
    }
  });
  test("the migration and pre-pull Jobs are placed on the same nodes", () => {
    const jobs = upgrade.graph.ofType("kubernetes:batch/v1:Job");
    assert.equal(jobs.filter((j) => j.name.endsWith("-migrate")).length, 5);
    assert.equal(jobs.filter((j) => j.name.endsWith("-pull")).length, 5);
    assert.equal(jobs.length, 10);
    for (const job of jobs) {
      const pod = inputsOf(job).spec.template.spec;
      assert.deepEqual(pod.nodeSelector, { dcap: "true" }, job.name);
      assert.deepEqual(pod.tolerations, CHART.tolerations, job.name);
    }
  });
  test("changing the placement is a new Deployment (new id), so the rolling path's health check sees it", () => {
    const nameIn = (r: typeof moved, node: string) =>
      inputsOf(r.graph.named(`testnet-${node}-server`)).metadata.name;
    assert.equal(moved.result.net.plan.kind, "steady", "not a flag day: node by node");
    for (const node of ["node1", "node5"]) {
      assert.equal(nameIn(same, node), nameIn(upgrade, node), "the same settings keep the name");
      assert.notEqual(nameIn(moved, node), nameIn(upgrade, node));
    }
  });
});
