/**
 * The Kubernetes platform's own objects and kubectl commands on a real control plane (controlPlane.ts), with
 * flagday-kube-agent (rehearsal/kube-agent) as its node: SIMULATED consensus nodes behind real Deployments, a
 * real Job controller completing the migration, VolumeSnapshots and restores as folder copies. Every test checks
 * what the API server holds and what the simulated node or its ledger shows.
 */
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import type { SimRelease } from "../../components/local/simConfig";
import { ledgerMigrationCommand, networkJson } from "../../components/mobilecoin";
import {
  accessFor,
  deploymentSpec,
  kubectl as kubectlPrefix,
  ledgerClaimSpec,
  ledgerJobSpec,
  nodeSelector,
  preflightCommand,
  sgxPodSettings,
  STAGE_ACCESS,
  stopCommand,
  volumeSnapshotSpec,
} from "../../components/kubernetes/specs";
import { KubeAgent } from "../../rehearsal/kube-agent/agent";
import type { AgentConfig } from "../../rehearsal/kube-agent/plan";
import { freePorts, hex, sim, tmpDir } from "../sim/helpers";
import { buildKube, BUILD_TIMEOUT_MS } from "../../rehearsal/kubernetes/build";
import { ControlPlane, startControlPlane } from "../../rehearsal/kubernetes/controlPlane";

const NS = "consensus";
const NODES = ["node1", "node2"];
const TOKENS = '{"fee_map":{"0":400000000},"governors":{}}';
const V1 = "mobilecoin/node_hw:v1.0.0-local";
const V2 = "mobilecoin/node_hw:v2.0.0-local";
const release = (version: string, c: string, ledgerFormat: number): SimRelease => ({
  version,
  mrenclave: hex(c),
  mrsigner: hex("5"),
  tokensConfigDigest: createHash("sha256").update(TOKENS).digest("hex"),
  blockVersion: 3,
  ledgerFormat,
  distributionStateFile: false,
});
// The platform's SGX settings, as MobileCoin's chart has them.
const SGX_ARGS = {
  sgxResources: { "sgx.intel.com/epc": "512Ki" },
  nodeSelector: { dcap: "true" },
  tolerations: [{ key: "dcap", operator: "Equal" as const, value: "true", effect: "NoSchedule" as const }],
};
const SGX = sgxPodSettings(SGX_ARGS);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function eventually<T>(
  what: string,
  ms: number,
  check: () => Promise<T | undefined | false>,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last = "";
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what} ${last}`);
    await sleep(250);
  }
}

describe(
  "the Kubernetes platform on a real control plane with flagday-kube-agent",
  { timeout: BUILD_TIMEOUT_MS + 600_000 },
  () => {
    let cp: ControlPlane;
    let agent: KubeAgent;
    let dir: string;
    let config: AgentConfig;
    const agentLog: string[] = [];
    let hostIP: string;

    /* eslint-disable @typescript-eslint/no-explicit-any */
    const get = async (...args: string[]): Promise<any> =>
      JSON.parse(await cp.kubectl("-n", NS, "get", ...args, "-o", "json"));
    const apply = (...objects: object[]) => {
      const file = path.join(dir, `apply-${Date.now()}.json`);
      fs.writeFileSync(file, JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }));
      return cp.kubectl("apply", "-f", file);
    };
    const sh = (script: string) => promisify(execFile)("/bin/sh", ["-c", script], { env: cp.env });
    const info = async (node: string): Promise<any> => {
      const r = await fetch(`http://127.0.0.1:${config.nodes[node].admin}/info`, {
        signal: AbortSignal.timeout(2000),
      });
      return r.json();
    };
    const dump = async (ledger: string) => {
      const r = await sim("ledger-dump", "--ledger-db", ledger);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as { format: number; blocks: { index: number; id: string }[] };
    };
    const ledgerOf = async (claim: string) => {
      const pvc = await get("pvc", claim);
      const pv = JSON.parse(await cp.kubectl("get", "pv", pvc.spec.volumeName, "-o", "json"));
      return pv.spec.local.path as string;
    };
    const deployment = (node: string, image: string, claim: string, sgx = SGX) => ({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: {
        name: `${node}-${image.endsWith("v1.0.0-local") ? "v1" : "v2"}-${claim}`,
        namespace: NS,
        labels: nodeSelector(node),
      },
      spec: deploymentSpec({
        node,
        namespace: NS,
        image,
        claim,
        networkConfigMap: `${node}-network`,
        tokensConfigMap: "tokens",
        tokensConfigDigest: config.releases[image].tokensConfigDigest,
        chainId: "local",
        blockVersion: 3,
        logLevel: "info",
        clientHost: `${node}.local.test`,
        msgSignerKeySecret: `${node}-msg-signer-key`,
        resources: { requests: { "sgx.intel.com/epc": "512Ki" }, limits: { "sgx.intel.com/epc": "512Ki" } },
        labels: nodeSelector(node),
        selector: nodeSelector(node),
        sgx,
      }),
    });
    const podsOf = async (node: string) =>
      (
        await get(
          "pods",
          "-l",
          Object.entries(nodeSelector(node))
            .map(([k, v]) => `${k}=${v}`)
            .join(","),
        )
      ).items as any[];
    const running = (node: string) =>
      eventually(`${node}'s pod to be Running and Ready`, 120_000, async () => {
        const [pod] = await podsOf(node);
        return (
          pod?.status?.phase === "Running" &&
          pod.status.conditions?.some((c: any) => c.type === "Ready" && c.status === "True") &&
          pod
        );
      });

    before(async () => {
      await buildKube("control-plane");
      cp = await startControlPlane();
      dir = tmpDir("kube-agent");
      const ports = await freePorts(6);
      config = {
        dir: path.join(dir, "agent"),
        labels: { dcap: "true" },
        taints: [{ key: "dcap", value: "true", effect: "NoSchedule" }],
        resources: { "sgx.intel.com/epc": "128Mi" },
        releases: { [V1]: release("v1.0.0", "a", 1), [V2]: release("v2.0.0", "b", 2) },
        nodes: Object.fromEntries(
          NODES.map((n, i) => [n, { admin: ports[3 * i], client: ports[3 * i + 1], peer: ports[3 * i + 2] }]),
        ),
      };
      agent = new KubeAgent(cp.kubeconfig, config, {
        log: (l) => agentLog.push(`${new Date().toISOString()} ${l}`),
      });
      await agent.start();
      await cp.kubectl("create", "namespace", NS);
    });
    after(async () => {
      await agent?.stop();
      if (process.env.FLAGDAY_TEST_VERBOSE) console.log(agentLog.join("\n"));
      await cp?.stop();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    test("registers a Ready node offering the SGX resource, and the snapshot CRDs and classes", async () => {
      const node = JSON.parse(await cp.kubectl("get", "node", "flagday-sgx-0", "-o", "json"));
      hostIP = node.status.addresses.find((a: any) => a.type === "InternalIP").address;
      assert.doesNotMatch(hostIP, /^127\./);
      assert.equal(node.metadata.labels.dcap, "true");
      assert.deepEqual(node.spec.taints, [{ key: "dcap", value: "true", effect: "NoSchedule" }]);
      assert.equal(node.status.allocatable["sgx.intel.com/epc"], "128Mi");
      assert.equal(node.status.conditions.find((c: any) => c.type === "Ready").status, "True");
      const lease = JSON.parse(
        await cp.kubectl("get", "lease", "-n", "kube-node-lease", "flagday-sgx-0", "-o", "json"),
      );
      assert.equal(lease.spec.holderIdentity, "flagday-sgx-0");
      assert.match(
        await cp.kubectl("get", "crd", "-o", "name"),
        /volumesnapshots\.snapshot\.storage\.k8s\.io/,
      );
      assert.match(await cp.kubectl("get", "volumesnapshotclass", "-o", "name"), /flagday-local/);
      assert.match(await cp.kubectl("get", "storageclass", "-o", "name"), /flagday-local/);
    });

    test("the platform's Deployments run simulated nodes that attest to each other over the mapped network.json", async () => {
      const objects: object[] = [
        {
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: { name: "tokens", namespace: NS },
          data: { "tokens.signed.json": TOKENS },
        },
      ];
      for (const node of NODES) {
        const peers = NODES.filter((n) => n !== node).map((n) => ({
          host: `${n}-peer.${NS}.svc.cluster.local`,
        }));
        objects.push(
          {
            apiVersion: "v1",
            kind: "ConfigMap",
            metadata: { name: `${node}-network`, namespace: NS },
            data: { "network.json": JSON.stringify(networkJson({ threshold: 2, peers })) },
          },
          {
            apiVersion: "v1",
            kind: "Secret",
            metadata: { name: `${node}-msg-signer-key`, namespace: NS },
            stringData: { MC_MSG_SIGNER_KEY: `key-of-${node}` },
          },
          {
            apiVersion: "v1",
            kind: "PersistentVolumeClaim",
            metadata: { name: `${node}-data`, namespace: NS },
            spec: ledgerClaimSpec({ size: "1Gi", storageClassName: "flagday-local" }),
          },
          deployment(node, V1, `${node}-data`),
          // The platform's peer Service (platform.ts): the real EndpointSlice controller fills it from the pod.
          {
            apiVersion: "v1",
            kind: "Service",
            metadata: { name: `${node}-peer`, namespace: NS },
            spec: {
              selector: nodeSelector(node),
              ports: [
                { name: "peer", port: 8443, targetPort: 8443, appProtocol: "grpc" },
                { name: "admin", port: 8000, targetPort: 8000 },
              ],
            },
          },
        );
      }
      await apply(...objects);
      for (const node of NODES) {
        const pod = await running(node);
        assert.equal(pod.spec.nodeName, "flagday-sgx-0");
        // The node's address, as a hostNetwork pod's: EndpointSlices refuse loopback addresses.
        assert.equal(pod.status.podIP, hostIP);
        assert.deepEqual(
          pod.status.containerStatuses.map((c: any) => [c.name, c.ready, Object.keys(c.state)[0]]),
          [
            ["consensus", true, "running"],
            ["admin-gateway", true, "running"],
          ],
        );
        assert.equal(
          pod.status.initContainerStatuses[0].state.terminated.exitCode,
          0,
          "the tokens digest checked out",
        );
        const pvc = await get("pvc", `${node}-data`);
        assert.equal(pvc.status.phase, "Bound");
        assert.ok((await ledgerOf(`${node}-data`)).startsWith(config.dir));
        const slice = await eventually(`${node}-peer's EndpointSlice`, 30_000, async () => {
          const s = await get("endpointslices", "-l", `kubernetes.io/service-name=${node}-peer`);
          return s.items[0]?.endpoints?.length === 1 && s.items[0];
        });
        assert.deepEqual(slice.endpoints[0].addresses, [hostIP]);
        assert.equal(slice.endpoints[0].conditions.ready, true);
        assert.equal(slice.endpoints[0].targetRef.name, pod.metadata.name);
      }
      for (const node of NODES) {
        const i = await eventually(`${node} to attest its peer`, 60_000, async () => {
          const x = await info(node);
          return x.attested_peers.length === 1 && x;
        });
        assert.equal(i.build_info.mrenclave, hex("a"));
        assert.equal(i.config.status.version, "v1.0.0");
        assert.deepEqual(
          i.attested_peers,
          NODES.filter((n) => n !== node),
        );
        assert.equal(
          i.config.config.msg_signer_key_fingerprint,
          createHash("sha256").update(`key-of-${node}`).digest("hex").slice(0, 16),
        );
      }
      // The two make blocks together: a payment sent to node1 commits on both ledgers.
      const paid = await fetch(`http://127.0.0.1:${config.nodes.node1.client}/tx`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ from: "alice", to: "bob", amount: 2 }),
      });
      assert.equal(paid.status, 200);
      for (const node of NODES) {
        await eventually(`${node} to commit the payment`, 60_000, async () => {
          return (await info(node)).config.status.block_height === 2;
        });
      }
    });

    test("the platform's pre-flight passes: kubectl may do every stage's work, and finds the Deployment", async () => {
      const access = accessFor(Object.keys(STAGE_ACCESS));
      const { stdout } = await sh(
        preflightCommand(kubectlPrefix(NS), "node1", nodeSelector("node1"), access),
      );
      assert.ok(access.includes("create volumesnapshots.snapshot.storage.k8s.io"));
      assert.equal(
        stdout.trim(),
        `flagday: pre-flight of node1: ok: deployment.apps/node1-v1-node1-data; ${access.length} permission(s) in place`,
      );
    });

    test("stop: the platform's stop command scales to zero, the simulated node stops and its pod is gone", async () => {
      const ledger = await ledgerOf("node1-data");
      await sh(stopCommand(kubectlPrefix(NS), nodeSelector("node1")));
      assert.deepEqual(await podsOf("node1"), []);
      await assert.rejects(info("node1"), "the admin API no longer answers");
      assert.equal(fs.existsSync(path.join(path.dirname(ledger), "node.pid")), false);
      assert.equal((await dump(ledger)).format, 1);
    });

    let snapshotBlocks: { index: number; id: string }[];
    test("snapshot: a VolumeSnapshot of the stopped node's claim becomes ready with a copy of its ledger", async () => {
      const spec = volumeSnapshotSpec({
        claim: "node1-data",
        volumeSnapshotClassName: "flagday-local",
        height: "1",
        hasStateFile: false,
      });
      await apply({
        apiVersion: "snapshot.storage.k8s.io/v1",
        kind: "VolumeSnapshot",
        metadata: { name: "node1-snapshot", namespace: NS, annotations: spec.annotations },
        spec: spec.spec,
      });
      // What the Pulumi provider awaits (the annotation pulumi.com/waitFor), through kubectl.
      await cp.kubectl(
        "-n",
        NS,
        "wait",
        "volumesnapshot/node1-snapshot",
        "--for=jsonpath={.status.readyToUse}=true",
        "--timeout=60s",
      );
      const snap = await get("volumesnapshot", "node1-snapshot");
      const content = JSON.parse(
        await cp.kubectl(
          "get",
          "volumesnapshotcontent",
          snap.status.boundVolumeSnapshotContentName,
          "-o",
          "json",
        ),
      );
      assert.equal(content.spec.volumeSnapshotRef.uid, snap.metadata.uid);
      assert.equal(snap.status.restoreSize, "1Gi");
      const copy = content.status.snapshotHandle as string;
      snapshotBlocks = (await dump(copy)).blocks;
      assert.equal(snapshotBlocks.length, 2);
      assert.deepEqual(await dump(copy), await dump(await ledgerOf("node1-data")));
    });

    test("migrate: the platform's migration Job runs the new release's migration on the ledger and completes", async () => {
      const spec = ledgerJobSpec({
        container: "migrate",
        image: V2,
        claim: "node1-data",
        commands: [ledgerMigrationCommand()],
        sgx: SGX,
      });
      await apply({
        apiVersion: "batch/v1",
        kind: "Job",
        metadata: { name: "node1-migrate", namespace: NS },
        spec,
      });
      await cp.kubectl("-n", NS, "wait", "job/node1-migrate", "--for=condition=Complete", "--timeout=120s");
      const pods = await get("pods", "-l", "job-name=node1-migrate");
      assert.equal(pods.items[0].status.phase, "Succeeded");
      assert.equal(pods.items[0].status.containerStatuses[0].state.terminated.exitCode, 0);
      const after = await dump(await ledgerOf("node1-data"));
      assert.equal(after.format, 2);
      assert.deepEqual(after.blocks, snapshotBlocks);
    });

    test("a migration that fails fails its Job, with the exit code and the output on the pod", async () => {
      const spec = ledgerJobSpec({
        container: "migrate",
        image: V2,
        claim: "node1-data",
        commands: ['echo "no way" >&2', "exit 3"],
        sgx: SGX,
      });
      await apply({
        apiVersion: "batch/v1",
        kind: "Job",
        metadata: { name: "node1-broken", namespace: NS },
        spec,
      });
      await cp.kubectl("-n", NS, "wait", "job/node1-broken", "--for=condition=Failed", "--timeout=120s");
      const [pod] = (await get("pods", "-l", "job-name=node1-broken")).items;
      assert.equal(pod.status.phase, "Failed");
      assert.equal(pod.status.containerStatuses[0].state.terminated.exitCode, 3);
      assert.match(pod.status.containerStatuses[0].state.terminated.message, /no way/);
    });

    test("restore: a claim from the snapshot gets the copied ledger, and the old release runs on it", async () => {
      await apply(
        {
          apiVersion: "v1",
          kind: "PersistentVolumeClaim",
          metadata: { name: "node1-data-restored", namespace: NS },
          spec: ledgerClaimSpec({
            size: "1Gi",
            storageClassName: "flagday-local",
            fromSnapshot: "node1-snapshot",
          }),
        },
        deployment("node1", V1, "node1-data-restored"),
      );
      await running("node1");
      const ledger = await ledgerOf("node1-data-restored");
      assert.notEqual(ledger, await ledgerOf("node1-data"));
      const i = await eventually("node1 to attest node2 again", 60_000, async () => {
        const x = await info("node1");
        return x.attested_peers.length === 1 && x;
      });
      assert.equal(i.config.config.ledger_path, ledger);
      assert.ok(i.config.status.block_height >= snapshotBlocks.length);
      assert.deepEqual((await dump(ledger)).blocks.slice(0, 2), snapshotBlocks);
      assert.equal(
        (await dump(await ledgerOf("node1-data"))).format,
        2,
        "the migrated claim is kept as it was",
      );
    });

    test("a pod asking for aesmd's socket on a host without it waits, naming the path", async () => {
      const aesmd = sgxPodSettings({ ...SGX_ARGS, sgxQuoteProvider: "aesmd" });
      await apply(deployment("node2", V1, "node1-data", aesmd));
      const [pod] = await eventually("the aesmd pod to report why it waits", 60_000, async () => {
        const pods = (await podsOf("node2")).filter((p) => p.spec.volumes.some((v: any) => v.hostPath));
        return pods[0]?.status?.containerStatuses && pods;
      });
      assert.equal(pod.status.phase, "Pending");
      assert.deepEqual(pod.status.containerStatuses[0].state.waiting, {
        reason: "ContainerCreating",
        message: "hostPath type check failed: /var/run/aesmd is not a directory",
      });
      assert.equal(fs.existsSync(path.join(path.dirname(await ledgerOf("node1-data")), "node.pid")), false);
    });

    test("deleting a VolumeSnapshot deletes its content and its copy", async () => {
      const snap = await get("volumesnapshot", "node1-snapshot");
      const name = snap.status.boundVolumeSnapshotContentName;
      const copy = JSON.parse(await cp.kubectl("get", "volumesnapshotcontent", name, "-o", "json")).status
        .snapshotHandle;
      await cp.kubectl("-n", NS, "delete", "volumesnapshot", "node1-snapshot");
      await eventually(
        "the content to go",
        30_000,
        async () => (await cp.kubectl("get", "volumesnapshotcontent", "-o", "name")).trim() === "",
      );
      assert.equal(fs.existsSync(copy), false);
    });
  },
);
