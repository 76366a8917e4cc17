/**
 * flagday-kube-agent's decisions, without a control plane: what it runs for the platform's containers, how a
 * consensus pod becomes a simulated node's config (peers mapped to their sim ports), and the status documents.
 */
import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { ledgerMigrationCommand, networkJson } from "../../components/mobilecoin";
import { deploymentSpec, ledgerJobSpec, nodeSelector } from "../../components/kubernetes/specs";
import { validateNodeConfig } from "../../components/local/simConfig";
import {
  AgentConfig,
  bytes,
  containerPlan,
  hostPath,
  nodeOfHost,
  podPhase,
  PodRun,
  podStatus,
  rewriteMounts,
  simNetwork,
  simNodeConfig,
} from "../../rehearsal/kube-agent/plan";
import { hex, RELEASE_A, RELEASE_B } from "../sim/helpers";
import { ingressRoutes } from "../../rehearsal/kube-agent/ingress";

const V1 = "mobilecoin/node_hw:v1.0.0-local";
const CONFIG: AgentConfig = {
  dir: "/agent",
  releases: { [V1]: RELEASE_A, "mobilecoin/node_hw:v2.0.0-local": RELEASE_B },
  nodes: {
    node1: { admin: 25010, client: 25013, peer: 25014 },
    node2: { admin: 25020, client: 25023, peer: 25024 },
    node3: { admin: 25030, client: 25033, peer: 25034, peerHost: "node3.example.com" },
  },
};
const inputs: Parameters<typeof deploymentSpec>[0] = {
  node: "node1",
  namespace: "consensus",
  image: V1,
  claim: "node1-data",
  networkConfigMap: "node1-network",
  tokensConfigMap: "tokens",
  tokensConfigDigest: hex("7"),
  chainId: "local",
  blockVersion: 4,
  logLevel: "debug",
  clientHost: "node1.local.test",
  msgSignerKeySecret: "node1-msg-signer-key",
  resources: { requests: {}, limits: {} },
  labels: nodeSelector("node1"),
  selector: nodeSelector("node1"),
};
const podSpec = deploymentSpec(inputs).template;
const pod = { metadata: { name: "node1-abc", uid: "u1", ...podSpec.metadata }, spec: podSpec.spec };
const volumes = { ledger: "/agent/volumes/pv1/ledger", network: "/agent/pods/u1/volumes/network" };

describe("what the agent runs for the platform's containers", () => {
  test("consensus-service is a simulated node, the gateway its admin API, a Job's script a host shell", () => {
    const [consensus, gateway] = podSpec.spec.containers.map((c) => containerPlan(c, CONFIG.releases));
    assert.equal(consensus.kind, "sim");
    assert.equal(consensus.kind === "sim" && consensus.args["--ledger-path"], "/ledger");
    assert.equal(consensus.kind === "sim" && consensus.args["--network"], "/config/network.json");
    assert.equal(gateway.kind, "gateway");
    const job = ledgerJobSpec({
      container: "migrate",
      image: V1,
      claim: "c",
      commands: [ledgerMigrationCommand()],
    });
    const shell = containerPlan(job.template.spec.containers[0], CONFIG.releases);
    assert.equal(shell.kind === "shell" && shell.script, "set -eu\nmc-ledger-migration --ledger-db /ledger");
  });

  test("an image outside the releases, or a command it does not model, is refused with the reason", () => {
    const unknown = containerPlan({ name: "x", image: "busybox", command: ["true"] }, CONFIG.releases);
    assert.deepEqual(unknown, {
      name: "x",
      image: "busybox",
      kind: "unsupported",
      why: "image busybox is not in the agent's releases",
    });
    const odd = containerPlan({ name: "x", image: V1, args: ["ledger-distribution"] }, CONFIG.releases);
    assert.match(odd.kind === "unsupported" ? odd.why : "", /not \["ledger-distribution"\]/);
  });

  test("container paths become the host folders of their mounts, subPath files included", () => {
    const mounts = podSpec.spec.containers[0].volumeMounts!;
    assert.equal(hostPath("/ledger", mounts, volumes), "/agent/volumes/pv1/ledger");
    assert.equal(
      hostPath("/config/network.json", mounts, volumes),
      "/agent/pods/u1/volumes/network/network.json",
    );
    assert.equal(hostPath("/sealed/key", mounts, volumes), undefined, "not materialized");
    assert.equal(
      rewriteMounts(
        "mc-ledger-migration --ledger-db /ledger && ls /ledger/data.mdb '/ledger' /ledgerx",
        mounts,
        volumes,
      ),
      "mc-ledger-migration --ledger-db /agent/volumes/pv1/ledger && ls /agent/volumes/pv1/ledger/data.mdb " +
        "'/agent/volumes/pv1/ledger' /ledgerx",
    );
  });
});

describe("a consensus pod as a simulated node", () => {
  const network = networkJson({
    threshold: 3,
    peers: [
      { host: "node2-peer.consensus.svc.cluster.local", msgPublicKey: "a2V5Mg==" },
      { host: "node3.example.com" },
      { host: "node9.elsewhere.net" },
    ],
  });

  test("peers the agent knows become their sim peer ports, named by node; others stay (unreachable)", () => {
    assert.equal(nodeOfHost("node2-peer.consensus.svc.cluster.local", CONFIG.nodes), "node2");
    assert.equal(nodeOfHost("node3.example.com", CONFIG.nodes), "node3");
    assert.deepEqual(simNetwork(network, CONFIG.nodes), {
      broadcast_peers: [
        "insecure-mcp://127.0.0.1:25024/?consensus-msg-key=node2",
        "insecure-mcp://127.0.0.1:25034/?consensus-msg-key=node3",
        "insecure-mcp://node9.elsewhere.net:8443/",
      ],
      quorum_set: {
        threshold: 2,
        members: [
          { type: "Node", args: "127.0.0.1:25024" },
          { type: "Node", args: "127.0.0.1:25034" },
          { type: "Node", args: "node9.elsewhere.net:8443" },
        ],
      },
      tx_source_urls: [],
    });
  });

  test("the node, ports and release come from the agent; block version, tokens and log level from the pod", () => {
    const plan = containerPlan(podSpec.spec.containers[0], CONFIG.releases);
    assert.equal(plan.kind, "sim");
    const cfg = simNodeConfig({
      pod,
      plan: plan as Extract<typeof plan, { kind: "sim" }>,
      config: CONFIG,
      env: { MC_BLOCK_VERSION: "4", RUST_LOG: "debug" },
      ledger: volumes.ledger,
      network,
      tokensDigest: hex("c"),
    });
    assert.deepEqual(validateNodeConfig(cfg), cfg, "the simulator accepts it");
    assert.equal(cfg.name, "node1");
    assert.equal(cfg.dir, "/agent/volumes/pv1");
    assert.deepEqual(cfg.ports, { admin: 25010, client: 25013, peer: 25014 });
    assert.deepEqual(cfg.release, { ...RELEASE_A, blockVersion: 4, tokensConfigDigest: hex("c") });
    assert.equal(cfg.logLevel, "debug");
  });

  test("a pod of a node the agent has no ports for is refused by name", () => {
    const spec = deploymentSpec({ ...inputs, node: "node7", labels: nodeSelector("node7") }).template;
    const plan = containerPlan(spec.spec.containers[0], CONFIG.releases) as never;
    const other = { metadata: { name: "node7-abc", uid: "u7", ...spec.metadata }, spec: spec.spec };
    assert.throws(
      () => simNodeConfig({ pod: other, plan, config: CONFIG, env: {}, ledger: volumes.ledger, network }),
      /no ports for \(label app.kubernetes.io\/instance node7; known: node1, node2, node3\)/,
    );
  });
});

describe("status documents", () => {
  const run = (over: Partial<PodRun>): PodRun => ({
    startTime: "2026-01-01T00:00:00Z",
    phase: "Pending",
    init: [],
    containers: [],
    ...over,
  });
  const done = (exitCode: number) => ({
    name: "migrate",
    image: V1,
    ready: false,
    restartCount: 0,
    state: { terminated: { exitCode, reason: "x", finishedAt: "2026-01-01T00:00:01Z" } },
  });

  test("a Job's pod succeeds or fails with its container; an Always pod is Running once started", () => {
    assert.equal(podPhase(run({ containers: [done(0)] }), "Never"), "Succeeded");
    assert.equal(podPhase(run({ containers: [done(3)] }), "Never"), "Failed");
    assert.equal(podPhase(run({ containers: [done(3)] }), "OnFailure"), "Running");
    assert.equal(podPhase(run({ init: [done(1)], containers: [] }), "Never"), "Failed");
    const waiting = { ...done(0), state: { waiting: { reason: "ContainerCreating" } } };
    assert.equal(podPhase(run({ containers: [waiting] }), "Always"), "Pending");
  });

  test("a running, ready pod: its IP, and every condition true", () => {
    const c = { ...done(0), ready: true, state: { running: { startedAt: "2026-01-01T00:00:02Z" } } };
    const s = podStatus("u1", run({ phase: "Running", containers: [c], readySince: "t" }), "192.0.2.2");
    assert.equal(s.podIP, "192.0.2.2");
    assert.deepEqual(
      s.conditions.map((x) => [x.type, x.status]),
      [
        ["PodScheduled", "True"],
        ["Initialized", "True"],
        ["ContainersReady", "True"],
        ["Ready", "True"],
      ],
    );
    assert.equal(s.containerStatuses[0].started, true);
    const pending = podStatus("u1", run({}), "192.0.2.2");
    assert.equal(pending.podIP, undefined);
  });

  test("storage quantities in bytes", () => {
    assert.equal(bytes("512Gi"), 512 * 2 ** 30);
    assert.equal(bytes("1G"), 1e9);
    assert.equal(bytes("1024"), 1024);
    assert.throws(() => bytes("lots"), /not a storage quantity/);
  });
});

describe("the simulated ingress controller's routes", () => {
  const nodes = { node1: { admin: 1, client: 31003, peer: 4 }, node2: { admin: 5, client: 32003, peer: 8 } };
  const ingress = (cls: string) => ({
    metadata: { name: "net-client", namespace: "mc" },
    spec: {
      ingressClassName: cls,
      rules: ["node1", "node2"].map((n) => ({
        host: `${n}.example.com`,
        http: { paths: [{ backend: { service: { name: `${n}-client`, port: { number: 3223 } } } }] },
      })),
    },
  });
  const services = ["node1", "node2"].map((n) => ({
    metadata: { name: `${n}-client`, namespace: "mc" },
    spec: { selector: { "app.kubernetes.io/instance": n } },
  }));
  const pod = (n: string, ready: boolean, extra: Record<string, unknown> = {}) => ({
    metadata: { name: `${n}-pod`, namespace: "mc", labels: { "app.kubernetes.io/instance": n }, ...extra },
    status: { conditions: [{ type: "Ready", status: ready ? "True" : "False" }] },
  });

  test("each host of a served Ingress goes to its Service's Ready pod's simulated client port", () => {
    assert.deepEqual(
      ingressRoutes("nginx", [ingress("nginx")], services, [pod("node1", true), pod("node2", true)], nodes),
      { "node1.example.com": 31003, "node2.example.com": 32003 },
    );
  });

  test("a closed class serves nothing; a node without a Ready pod (stopped, or being deleted) is not routed", () => {
    assert.deepEqual(
      ingressRoutes("nginx", [ingress("flagday-closed")], services, [pod("node1", true)], nodes),
      {},
    );
    assert.deepEqual(
      ingressRoutes(
        "nginx",
        [ingress("nginx")],
        services,
        [pod("node1", false), pod("node2", true, { deletionTimestamp: "2026-12-04T00:00:00Z" })],
        nodes,
      ),
      {},
    );
  });
});
