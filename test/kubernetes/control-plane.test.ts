import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import {
  ControlPlane,
  CONTEXT,
  KUBE_VERSION,
  startControlPlane,
} from "../../rehearsal/kubernetes/controlPlane";
import { buildKube, BUILD_TIMEOUT_MS } from "../../rehearsal/kubernetes/build";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns true, or fails with `what` after `ms`. */
async function eventually(what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(250);
  }
}

function deployment(name: string, namespace: string): string {
  return JSON.stringify({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: "main", image: "registry.k8s.io/pause:3.10" }] },
      },
    },
  });
}

function pvc(name: string, namespace: string): string {
  return JSON.stringify({
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: { name, namespace },
    spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
  });
}

describe("a local Kubernetes control plane", { timeout: BUILD_TIMEOUT_MS + 300_000 }, () => {
  let cp: ControlPlane;

  before(
    async () => {
      await buildKube("control-plane");
      const t0 = Date.now();
      cp = await startControlPlane();
      console.log(`[kube] control plane up at ${cp.server} in ${Date.now() - t0} ms`);
    },
    { timeout: BUILD_TIMEOUT_MS + 120_000 },
  );
  after(async () => {
    await cp?.stop();
    if (cp) assert.equal(fs.existsSync(cp.dir), false, "stop() removes the control plane's directory");
  });

  test("answers as Kubernetes v1.36 with RBAC, and the admin may do anything", async () => {
    const version = JSON.parse(await cp.kubectl("version", "-o", "json"));
    assert.equal(version.serverVersion.gitVersion, KUBE_VERSION);
    assert.equal(version.clientVersion.gitVersion, KUBE_VERSION);
    assert.equal((await cp.kubectl("config", "current-context")).trim(), CONTEXT);
    assert.equal((await cp.kubectl("auth", "can-i", "*", "*", "--all-namespaces")).trim(), "yes");
    assert.equal((await cp.kubectl("auth", "can-i", "create", "deployments", "-n", "default")).trim(), "yes");
    // RBAC is on: a service account may not do what no role grants it.
    const asSa = await cp
      .kubectl("auth", "can-i", "delete", "nodes", "--as=system:serviceaccount:default:default")
      .catch((e: Error) => e.message);
    assert.match(asSa, /no/);
    const ns = await cp.kubectl("get", "namespaces", "-o", "name");
    for (const n of ["default", "kube-system", "kube-public"])
      assert.match(ns, new RegExp(`namespace/${n}\\b`));
  });

  test("workloads: the controllers make replica sets and pods (which stay Pending: no nodes)", async () => {
    await cp.kubectl("create", "namespace", "workloads");
    fs.writeFileSync(`${cp.dir}/web.json`, deployment("web", "workloads"));
    fs.writeFileSync(`${cp.dir}/data.json`, pvc("data", "workloads"));
    await cp.kubectl("apply", "-f", `${cp.dir}/web.json`, "-f", `${cp.dir}/data.json`);
    await eventually("the deployment's pod", 30_000, async () => {
      const pods = JSON.parse(
        await cp.kubectl("get", "pods", "-n", "workloads", "-l", "app=web", "-o", "json"),
      );
      return pods.items.length === 1;
    });
    const pods = JSON.parse(await cp.kubectl("get", "pods", "-n", "workloads", "-o", "json"));
    assert.equal(pods.items[0].status.phase, "Pending");
    const claim = JSON.parse(await cp.kubectl("get", "pvc", "data", "-n", "workloads", "-o", "json"));
    assert.equal(claim.status.phase, "Pending");
    assert.ok(claim.metadata.finalizers.includes("kubernetes.io/pvc-protection"));

    // A foreground delete (what the Pulumi provider does) waits for the garbage collector to delete the
    // dependents first.
    await cp.kubectl(
      "delete",
      "deployment",
      "web",
      "-n",
      "workloads",
      "--cascade=foreground",
      "--timeout=60s",
    );
    assert.equal(
      (await cp.kubectl("get", "deployments,replicasets", "-n", "workloads", "-o", "name")).trim(),
      "",
    );
  });

  test("deleting a namespace deletes what is in it (namespace controller and garbage collector)", async () => {
    await cp.kubectl("create", "namespace", "doomed");
    fs.writeFileSync(`${cp.dir}/doomed.json`, deployment("app", "doomed"));
    fs.writeFileSync(`${cp.dir}/doomed-pvc.json`, pvc("data", "doomed"));
    await cp.kubectl("apply", "-f", `${cp.dir}/doomed.json`, "-f", `${cp.dir}/doomed-pvc.json`);
    await eventually("the replica set", 30_000, async () =>
      (await cp.kubectl("get", "replicasets", "-n", "doomed", "-o", "name")).includes("replicaset.apps/app-"),
    );
    const t0 = Date.now();
    await cp.kubectl("delete", "namespace", "doomed", "--wait=false");
    await eventually("the namespace to be gone", 120_000, async () => {
      const out = await cp.kubectl("get", "namespace", "doomed", "--ignore-not-found", "-o", "name");
      return out.trim() === "";
    });
    console.log(
      `[kube] namespace deleted with its deployment, replica set, pod and claim in ${Date.now() - t0} ms`,
    );
    const left = await cp.kubectl("get", "deployments,replicasets,pods,pvc", "-n", "doomed", "-o", "name");
    assert.equal(left.trim(), "");
  });
});
