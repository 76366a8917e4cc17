import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { EngineEvent } from "@pulumi/pulumi/automation";
import { engineStack, ROOT, steps } from "../engine/engine";
import { ControlPlane, startControlPlane } from "../../rehearsal/kubernetes/controlPlane";
import { buildKube, BUILD_TIMEOUT_MS } from "../../rehearsal/kubernetes/build";

const STACK = "kube-smoke";

describe("the real engine and the Pulumi Kubernetes provider on a local control plane", () => {
  let cp: ControlPlane;

  before(
    async () => {
      await buildKube();
      cp = await startControlPlane();
    },
    { timeout: BUILD_TIMEOUT_MS + 120_000 },
  );
  after(async () => {
    await cp?.stop();
  });

  test(
    "up creates a namespace and a config map, a change replaces it, destroy deletes them",
    {
      timeout: 480_000,
    },
    async () => {
      // The plugin is found on PATH (.engine/bin, first on every stack's PATH): no plugin install, no download.
      assert.ok(fs.existsSync(path.join(ROOT, ".engine", "bin", "pulumi-resource-kubernetes")));
      const configMap = async () =>
        JSON.parse(
          await cp.kubectl("get", "configmap/greeting", "-n", "smoke", "-o", "json", "--show-managed-fields"),
        );
      const { stack, cleanup } = await engineStack(path.join(__dirname, "smoke"), STACK);
      try {
        await stack.setAllConfig({
          kubeconfig: { value: cp.kubeconfig },
          context: { value: cp.context },
          namespace: { value: "smoke" },
          hello: { value: "world" },
        });
        const upEvents: EngineEvent[] = [];
        const up = await stack.up({ onEvent: (e) => upEvents.push(e) });
        assert.equal(up.summary.result, "succeeded");
        assert.deepEqual(
          steps(upEvents)
            .filter((s) => s.type.startsWith("kubernetes:"))
            .map((s) => `${s.op} ${s.type} ${s.name}`)
            .sort(),
          ["create kubernetes:core/v1:ConfigMap greeting", "create kubernetes:core/v1:Namespace smoke"],
        );
        assert.equal(up.outputs.namespace.value, "smoke");
        // One warning is known and expected: the plugin comes from PATH (the engine warns of every plugin that is
        // not bundled with it). The SDK is pinned to the release the plugin is (4.25.0), so no version warning:
        // any other warning or error fails the test.
        const known = [/^using pulumi-resource-kubernetes from \$PATH at /];
        const unexpected = upEvents
          .filter((e) => e.diagnosticEvent && /warning|error/.test(e.diagnosticEvent.severity))
          .map((e) => e.diagnosticEvent!.message.trim())
          .filter((m) => !known.some((k) => k.test(m)));
        assert.deepEqual(unexpected, []);
        const cm = await configMap();
        assert.deepEqual(cm.data, { hello: "world" });
        // Server-side apply (the provider's default): the provider's field manager owns the fields it set.
        const managers = cm.metadata.managedFields.map((f: { manager: string }) => f.manager);
        assert.ok(
          managers.some((m: string) => m.startsWith("pulumi-kubernetes")),
          JSON.stringify(managers),
        );

        // New data: the provider replaces a ConfigMap rather than changing it (so that what mounts it rolls).
        await stack.setConfig("hello", { value: "again" });
        const changeEvents: EngineEvent[] = [];
        await stack.up({ onEvent: (e) => changeEvents.push(e) });
        const ops = steps(changeEvents)
          .filter((s) => s.name === "greeting")
          .map((s) => s.op);
        // Delete first: the ConfigMap's name is fixed, so the replacement cannot exist beside it.
        assert.deepEqual(ops, ["delete-replaced", "replace", "create-replacement"]);
        const cm2 = await configMap();
        assert.deepEqual(cm2.data, { hello: "again" });
        assert.notEqual(cm2.metadata.uid, cm.metadata.uid);

        const destroyed = await stack.destroy();
        assert.equal(destroyed.summary.result, "succeeded");
        // The provider waits for the namespace to be gone: the namespace controller has emptied and removed it.
        assert.equal(
          (await cp.kubectl("get", "namespace", "smoke", "--ignore-not-found", "-o", "name")).trim(),
          "",
        );
      } finally {
        await stack.workspace.removeStack(STACK, { force: true }).catch(() => undefined);
        fs.rmSync(path.join(__dirname, "smoke", `Pulumi.${STACK}.yaml`), { force: true });
        cleanup();
      }
    },
  );
});
