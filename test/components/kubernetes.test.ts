/**
 * The Kubernetes platform's resource graph under Pulumi mocks: the same flag-day rules as every platform, and
 * what only Kubernetes has (PVCs, Recreate Deployments, migration Jobs, CSI VolumeSnapshots, the Ingress gate).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { awsPlatform, CLIENT_PORT } from "../../components/aws";
import { CLIENT_PATHS, kubernetesIngressGate } from "../../components/kubernetes";
import { CapturedResource, revealed, stableJson } from "../graph/harness";
import { assertFlagDayGraph } from "../graph/invariants";
import { awsArgs, K8S_ARGS, kube, network, runNetwork, V5, V6 } from "./fixtures";

const inputsOf = (r: CapturedResource) => revealed(r.inputs) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe("Kubernetes platform under mocks", async () => {
  const initial = await runNetwork(kube(), network(5, V5));
  const upgrade = await runNetwork(kube(), network(5, V6), initial.result.record);
  const steady = await runNetwork(kube(), network(5, V6), upgrade.result.record);
  const g = upgrade.graph;

  test("every path obeys the flag-day rules: initial, flag day, steady, rollback", async () => {
    assertFlagDayGraph(initial.graph, network(5, V5), initial.result.net.plan);
    assertFlagDayGraph(g, network(5, V6), upgrade.result.net.plan);
    assertFlagDayGraph(steady.graph, network(5, V6), steady.result.net.plan);
    const back = await runNetwork(kube(), network(5, V5), upgrade.result.record, { rollback: true });
    assertFlagDayGraph(back.graph, network(5, V5), back.result.net.plan);
    const restored = inputsOf(back.graph.named("testnet-u2-node1-restore"));
    assert.deepEqual(restored.spec.dataSource, {
      apiGroup: "snapshot.storage.k8s.io",
      kind: "VolumeSnapshot",
      name: inputsOf(g.named("testnet-u1-node1-snapshot")).metadata.name,
    });
    const dep = inputsOf(back.graph.named("testnet-node1-server"));
    const ledger = dep.spec.template.spec.volumes.find((v: { name: string }) => v.name === "ledger");
    assert.equal(ledger.persistentVolumeClaim.claimName, restored.metadata.name);
  });

  test("per node: a protected 512Gi PVC <node>-data and separate client (3223) and peer (8443) Services", () => {
    const pvc = g.named("testnet-node2-data");
    assert.equal(pvc.type, "kubernetes:core/v1:PersistentVolumeClaim");
    assert.equal(pvc.protect, true);
    assert.equal(inputsOf(pvc).metadata.name, "node2-data");
    assert.equal(inputsOf(pvc).spec.resources.requests.storage, "512Gi");
    const client = inputsOf(g.named("testnet-node2-client"));
    const peer = inputsOf(g.named("testnet-node2-peer"));
    assert.deepEqual(
      client.spec.ports.map((p: { port: number }) => p.port),
      [3223],
    );
    assert.deepEqual(
      peer.spec.ports.map((p: { port: number }) => p.port),
      [8443, 8000],
    );
  });

  test("the server: a Deployment, one replica, Recreate, image <version>-<chainId>, replaced old-first", () => {
    const dep = g.named("testnet-node4-server");
    assert.equal(dep.type, "kubernetes:apps/v1:Deployment");
    assert.equal(dep.deleteBeforeReplace, true);
    const i = inputsOf(dep);
    assert.equal(i.spec.replicas, 1);
    assert.equal(i.spec.strategy.type, "Recreate");
    assert.equal(i.metadata.annotations["pulumi.com/deletionPropagationPolicy"], "foreground");
    const c = i.spec.template.spec.containers[0];
    assert.equal(c.image, "mobilecoin/node_hw:v6.0.0-test");
    assert.ok(c.args.includes("--ledger-path=/ledger"));
    assert.deepEqual(
      c.env.find((e: { name: string }) => e.name === "MC_MSG_SIGNER_KEY").valueFrom.secretKeyRef,
      { name: "node4-msg-signer-key", key: "MC_MSG_SIGNER_KEY" },
    );
    // A new release is a new Deployment name, so the id the health check keys on changes.
    assert.notEqual(i.metadata.name, inputsOf(initial.graph.named("testnet-node4-server")).metadata.name);
  });

  test("stop scales to zero and waits; migrate is a Job on the PVC; snapshot a retained VolumeSnapshot", () => {
    const stop = inputsOf(g.named("testnet-u1-node3-stop"));
    assert.match(
      stop.create,
      /kubectl --context 'testnet-cluster' -n 'mc-testnet' scale deployment -l '.*instance=node3' --replicas=0/,
    );
    assert.match(stop.create, /wait --for=delete pod -l '.*instance=node3' --timeout=600s/);
    assert.match(stop.update, /nothing to do/);
    const job = g.named("testnet-u1-node3-migrate");
    assert.equal(job.type, "kubernetes:batch/v1:Job");
    const pod = inputsOf(job).spec.template.spec;
    assert.equal(pod.volumes[0].persistentVolumeClaim.claimName, "node3-data");
    assert.equal(pod.containers[0].image, "mobilecoin/node_hw:v6.0.0-test");
    assert.match(
      pod.containers[0].command[2],
      /mc-ledger-migration --ledger-db \/ledger\nmc-util-migrate .* 1\nmc-util-migrate .* 2$/,
    );
    const snap = g.named("testnet-u1-node3-snapshot");
    assert.equal(snap.type, "kubernetes:snapshot.storage.k8s.io/v1:VolumeSnapshot");
    assert.equal(snap.retainOnDelete, true);
    const s = inputsOf(snap);
    assert.equal(s.spec.source.persistentVolumeClaimName, "node3-data");
    assert.equal(s.spec.volumeSnapshotClassName, "csi-snapclass");
    assert.match(s.metadata.annotations["flagday/transition"], /^u1-upgrade-/);
    // Inside the window the snapshot is awaited until cut only; its seal waits for readyToUse before the
    // ingress reopens.
    assert.equal(s.metadata.annotations["pulumi.com/waitFor"], "jsonpath={.status.creationTime}");
    const seal = inputsOf(g.named("testnet-u1-node3-seal"));
    assert.match(
      String(seal.create),
      /wait volumesnapshot\/'node3-snapshot-[0-9a-f]+' --for=jsonpath='\{\.status\.readyToUse\}'=true --timeout=14400s/,
    );
  });

  test("the gate: the client Ingress routes the four client APIs to the client Services; reject/accept switch its class", () => {
    const ing = inputsOf(g.named("testnet-gate-ingress"));
    assert.equal(ing.spec.ingressClassName, "nginx");
    const rule = ing.spec.rules.find((r: { host: string }) => r.host === "node2.test.mobilecoin.com");
    assert.deepEqual(
      rule.http.paths.map((p: { path: string }) => p.path),
      [...CLIENT_PATHS],
    );
    for (const p of rule.http.paths)
      assert.deepEqual(p.backend.service, { name: "node2-client", port: { number: 3223 } });
    assert.ok(!stableJson(ing).includes("ConsensusPeerAPI") && !stableJson(ing).includes("8443"));
    const reject = inputsOf(g.named("testnet-u1-ingress-reject")).create;
    const accept = inputsOf(g.named("testnet-u1-ingress-accept")).create;
    assert.equal(
      reject,
      `kubectl --context 'testnet-cluster' -n 'mc-testnet' patch ingress 'testnet-client' --type=merge -p '{"spec":{"ingressClassName":"flagday-closed"}}'`,
    );
    assert.match(accept, /"ingressClassName":"nginx"/);
    // The transition's accept records that it reopened the ingress, for the rollback guard of a failed flag day.
    assert.match(accept, /create configmap 'testnet-reopened-[0-9a-f]+' --from-literal=transition='u1-/);
    // Only the switches set the class once the Ingress exists; Pulumi neither waits for a load balancer on it
    // nor on the Services (a node's readiness is its Deployment's).
    assert.deepEqual(g.named("testnet-gate-ingress").ignoreChanges, ["spec.ingressClassName"]);
    assert.equal(ing.metadata.annotations["pulumi.com/skipAwait"], "true");
    for (const svc of ["node1-client", "node1-peer"]) {
      assert.equal(
        inputsOf(g.named(`testnet-${svc}`)).metadata.annotations["pulumi.com/skipAwait"],
        "true",
        svc,
      );
    }
  });

  test("per-node adminUrl / clientUrl override the platform's templates; commandProvider: flagday runs LocalCommand", async () => {
    const net = network(3, V6);
    const nodes = net.nodes.map((n, i) =>
      i === 0
        ? { ...n, settings: { adminUrl: "http://127.0.0.1:18000", clientUrl: "http://127.0.0.1:13223" } }
        : n,
    );
    const up = await runNetwork(
      kube({ commandProvider: "flagday" }),
      { ...net, nodes },
      (await runNetwork(kube(), network(3, V5))).result.record,
    );
    const status = inputsOf(up.graph.named("testnet-u1-quiesce")).create as string;
    assert.match(status, /--admin node1=http:\/\/127\.0\.0\.1:18000/);
    assert.match(status, /--admin node2=http:\/\/node2-peer\.mc-testnet\.svc\.cluster\.local:8000/);
    assert.equal(up.graph.named("testnet-u1-quiesce").type, "pulumi-nodejs:dynamic/flagday:LocalCommand");
    assert.equal(g.named("testnet-u1-quiesce").type, "command:local:Command");
  });

  test("no-op: the steady run after the flag day registers the same resources with identical inputs", () => {
    const before = new Map(g.resources.map((r) => [r.urn, stableJson(r.inputs)]));
    assert.deepEqual(steady.graph.resources.map((r) => r.urn).sort(), [...before.keys()].sort());
    for (const r of steady.graph.resources) assert.equal(stableJson(r.inputs), before.get(r.urn), r.name);
  });

  test("an AWS network can use the Kubernetes gate: Services and EndpointSlices point at the ENI addresses", async () => {
    const mixed = () => ({ ...awsPlatform(awsArgs()), ingressGate: kubernetesIngressGate(K8S_ARGS) });
    const first = await runNetwork(mixed, network(3, V5));
    const up = await runNetwork(mixed, network(3, V6), first.result.record);
    assertFlagDayGraph(up.graph, network(3, V6), up.result.net.plan);
    const slice = inputsOf(up.graph.named("testnet-gate-node2-endpoints"));
    assert.equal(slice.addressType, "IPv4");
    assert.match(slice.endpoints[0].addresses[0], /^10\.\d+\.\d+\.\d+$/);
    assert.equal(slice.ports[0].port, CLIENT_PORT);
    const ing = inputsOf(up.graph.named("testnet-gate-ingress"));
    assert.equal(ing.spec.rules[1].http.paths[0].backend.service.name, "testnet-node2-client-ext");
    assert.match(inputsOf(up.graph.named("testnet-u1-ingress-reject")).create, /patch ingress/);
    assert.equal(up.graph.ofType("aws:lb/listener:Listener").length, 0);
  });
});
