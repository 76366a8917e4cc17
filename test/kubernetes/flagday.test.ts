/**
 * A whole flag day on the Kubernetes platform through the real engine and the real provider, against a real
 * control plane with flagday-kube-agent as its SGX node (rehearsal/kubernetes/network.ts): bring-up, the flag
 * day in order with every pre-window block kept, a no-op re-run, the rollback guard and the rollback by restore
 * (new claims from the VolumeSnapshots). Every test checks what the API server holds as well as the ledgers.
 */
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import { preferHostAffinity } from "../../components/kubernetes/specs";
import { stageOfStep } from "../../components/names";
import { FLAG_DAY, stagesOf } from "../../components/stages";
import { bringUp, ClientGate, flagDay, FlagDayReport, probeIngress, sendTraffic } from "../../rehearsal/run";
import { freeBase, ScratchNetwork, scratchNetwork } from "../../rehearsal/scratch";
import { BUILD_TIMEOUT_MS } from "../../rehearsal/kubernetes/build";
import { committedRehearsal, KubeRehearsal, startKubeRehearsal } from "../../rehearsal/kubernetes/network";
import { ROOT } from "../../rehearsal/kubernetes/controlPlane";
import { sim, tmpDir } from "../sim/helpers";

/* eslint-disable @typescript-eslint/no-explicit-any */
const NODES = ["node1", "node2", "node3"];
const { network, releases, ledgerFormats } = committedRehearsal(ROOT);

/**
 * Each test's bound: about five times its usual length (up to 45 s alone, 50 s beside the fault matrix). A hang
 * fails its test in minutes and prints where it was, instead of holding the whole run until CI's limit.
 */
const TEST_TIMEOUT_MS = 240_000;

describe("a flag day on the Kubernetes platform, through the engine, on a real control plane", () => {
  let kube: KubeRehearsal;
  let net: ScratchNetwork;
  let gate: ClientGate;
  let flag: FlagDayReport;
  const lines: string[] = [];
  const log = (l: string) => {
    lines.push(l);
    if (process.env.FLAGDAY_TEST_VERBOSE) console.log(l);
  };
  const get = async (...args: string[]): Promise<any> =>
    JSON.parse(await kube.controlPlane.kubectl("-n", kube.namespace, "get", ...args, "-o", "json"));
  const ledgerOf = async (claim: string) => {
    const pvc = await get("pvc", claim);
    const pv = JSON.parse(await kube.controlPlane.kubectl("get", "pv", pvc.spec.volumeName, "-o", "json"));
    return pv.spec.local.path as string;
  };
  /** Each node's claim: the one its Deployment mounts now. */
  const claimOf = async (node: string) => {
    const deps = (await get("deployments", "-l", `app.kubernetes.io/instance=${node}`)).items;
    assert.equal(deps.length, 1, `${node} has one Deployment`);
    return deps[0].spec.template.spec.volumes.find((v: any) => v.name === "ledger").persistentVolumeClaim
      .claimName as string;
  };
  const dump = async (node: string) => {
    const r = await sim("ledger-dump", "--ledger-db", await ledgerOf(await claimOf(node)));
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as { format: number; blocks: { index: number; id: string }[] };
  };
  const reopenedMarks = async () =>
    (await get("configmaps")).items.filter((c: any) => /-reopened-/.test(c.metadata.name)).length;
  const ingressClass = async () => (await get("ingress", `${network.name}-client`)).spec.ingressClassName;
  /** What the first failed or timed-out test prints: the engine's last steps, the control plane's and the agent's logs. */
  let diagnosed = false;
  const diagnose = (name: string) => {
    if (process.env.FLAGDAY_TEST_VERBOSE) return;
    // The first failure is the one to read: those after it mostly follow from it.
    if (diagnosed)
      return console.log(`--- ${name}: failed or timed out (the first failure's logs are above)`);
    diagnosed = true;
    const agentLog = kube ? `${kube.agentConfig.dir}/agent.log` : "";
    const agentTail = fs.existsSync(agentLog)
      ? fs.readFileSync(agentLog, "utf8").split("\n").slice(-40).join("\n")
      : "(no agent log)";
    console.log(
      [
        `--- ${name}: failed or timed out; the last progress lines ---`,
        ...lines.slice(-60),
        `--- the agent's log (${agentLog}) ---`,
        agentTail,
        kube?.controlPlane.logs(20) ?? "(no control plane)",
      ].join("\n"),
    );
  };
  /** Waits for a part of the teardown for at most a minute; says so when it failed or is still running. */
  const bounded = async (what: string, p: Promise<unknown> | undefined) => {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      p?.catch((e: Error) => console.log(`teardown: ${what} failed: ${e.message}`)),
      new Promise<void>((r) => {
        timer = setTimeout(() => r(console.log(`teardown: ${what} still runs after 60 s; going on`)), 60_000);
      }),
    ]);
    clearTimeout(timer);
  };
  /** A test bounded by TEST_TIMEOUT_MS that prints the diagnostics when it fails or runs out of time. */
  const step = (name: string, fn: () => Promise<void> | void) =>
    test(name, { timeout: TEST_TIMEOUT_MS }, async (t) => {
      // The signal aborts when the test ends, and on a timeout while it still runs.
      let ended = false;
      t.signal.addEventListener("abort", () => ended || diagnose(name));
      try {
        await fn();
      } catch (e) {
        diagnose(name);
        throw e;
      } finally {
        ended = true;
      }
    });

  before(
    async () => {
      const basePort = await freeBase(NODES.length);
      kube = await startKubeRehearsal({
        dir: tmpDir("kube-flagday"),
        basePort,
        network,
        releases,
        ledgerFormats,
        log,
      });
      net = await scratchNetwork(`test-kube-flagday-${process.pid}`, {
        basePort,
        config: { "flagday:checks.timeoutSeconds": "120" },
        env: kube.env,
      });
      for (const [k, v] of Object.entries(kube.stackConfig)) await net.stack.setConfig(k, { value: v });
      gate = {
        probe: () => probeIngress(kube.ingressPort, 1500, kube.clientHost("node1")),
        closed: async () => (await ingressClass()) !== "nginx",
      };
    },
    // scripts/test.sh builds the control plane first; run alone on a cold machine, this builds it.
    { timeout: BUILD_TIMEOUT_MS + TEST_TIMEOUT_MS },
  );
  after(
    async () => {
      if (process.env.FLAGDAY_TEST_VERBOSE) console.log(kube?.controlPlane.logs(20));
      // The cluster first: its agent's loop and processes are what would keep this file from ending. After a
      // timeout an update may still run, so each part is bounded and one that fails or hangs does not stop
      // the others.
      await bounded("stopping the cluster", kube?.stop());
      await bounded("removing the stack", net?.stack.workspace.removeStack(net.name, { force: true }));
      await bounded("removing the scratch network", net?.cleanup());
      // When the rehearsal did not start, its folder stays: the agent's log there was named in the output.
      if (kube) fs.rmSync(kube.agentConfig.dir, { recursive: true, force: true });
    },
    { timeout: TEST_TIMEOUT_MS },
  );

  step(
    "bring-up: a Deployment, claim and Services per node, the client Ingress open, nodes in consensus",
    async () => {
      const res = await bringUp(net.stack, "v1.0.0", log);
      assert.equal(res.summary.result, "succeeded");
      for (const node of NODES) {
        const [dep] = (await get("deployments", "-l", `app.kubernetes.io/instance=${node}`)).items;
        assert.equal(dep.metadata.annotations["flagday/mrenclave"], releases["v1.0.0"].mrenclave);
        assert.equal(dep.spec.strategy.type, "Recreate");
        assert.equal(dep.status.readyReplicas, 1);
        assert.equal((await get("pvc", `${node}-data`)).status.phase, "Bound");
      }
      assert.equal(await ingressClass(), "nginx");
      assert.equal(await gate.probe(), "served", "a client reaches node1 through the ingress");
      await sendTraffic(net.stack, 4, log);
    },
  );

  step("the flag day: every stage in order, the nodes on v2.0.0, every pre-window block kept", async () => {
    const before = await Promise.all(NODES.map(dump));
    flag = await flagDay(net.stack, "v2.0.0", log, { gate });
    assert.equal(flag.sequence, "flag-day");
    const order = flag.stages.map((s) => s.stage);
    const expected = stagesOf("flag-day", false)
      .map((s) => s.name)
      .filter((s) => order.includes(s));
    assert.deepEqual(order, expected, "stages ran in the sequence's order");
    for (const s of FLAG_DAY.filter((x) => x.scope !== "operators")) {
      assert.ok(order.includes(s.name), `stage ${s.name} ran`);
    }
    assert.ok(flag.clientProbes.during.length > 0, "clients knocked during the window");
    assert.ok(
      flag.clientProbes.during.every((p) => p === "refused"),
      "every client refused in the window",
    );
    assert.equal(flag.clientProbes.after, "served");
    assert.equal(await ingressClass(), "nginx");
    for (const [i, node] of NODES.entries()) {
      const after = await dump(node);
      assert.equal(after.format, 2, `${node}: migrated to format 2`);
      assert.deepEqual(
        after.blocks.slice(0, before[i].blocks.length),
        before[i].blocks,
        `${node}: blocks kept`,
      );
      const [dep] = (await get("deployments", "-l", `app.kubernetes.io/instance=${node}`)).items;
      assert.equal(dep.metadata.annotations["flagday/mrenclave"], releases["v2.0.0"].mrenclave);
    }
    const all = (await get("volumesnapshots")).items;
    const warm = all.filter((s: any) => /-warm-snapshot-/.test(s.metadata.name));
    const snaps = all.filter((s: any) => /-snapshot-/.test(s.metadata.name) && !warm.includes(s));
    assert.equal(warm.length, NODES.length, "one warm snapshot per node, before the window");
    assert.equal(snaps.length, NODES.length, "one window snapshot per node");
    for (const s of snaps) {
      assert.equal(s.status.readyToUse, true, `${s.metadata.name} sealed`);
      assert.match(s.metadata.annotations["flagday/height"], /^\d+$/);
      assert.match(s.spec.source.persistentVolumeClaimName, /^node\d-data$/);
    }
    const jobs = (await get("jobs")).items.filter((j: any) => /-migrate-/.test(j.metadata.name));
    assert.equal(jobs.length, NODES.length);
    assert.equal(await reopenedMarks(), 1, "the flag day recorded that it reopened the ingress");
    for (const j of jobs) assert.equal(j.status.succeeded, 1, `${j.metadata.name} succeeded`);
  });

  step(
    "in the window each node's server is its Deployment alone; its ConfigMap and host read came before",
    () => {
      const at = (stage: string) => flag.steps.findIndex((s) => s.name.endsWith(`-${stage}`));
      const [reject, accept] = [at("ingress-reject"), at("ingress-accept")];
      assert.ok(reject >= 0 && accept > reject, "the window's bounds are in the engine's steps");
      for (const node of NODES) {
        const server = `${network.name}-${node}-server`;
        const ran = (part: string, from: number, to: number) =>
          flag.steps
            .slice(from, to)
            .filter((s) => s.name === `${server}${part}` && s.op !== "same")
            .map((s) => s.op);
        // The old Deployment out, the new one in: nothing else of the server inside the window.
        assert.deepEqual(
          ran("", reject, accept),
          ["delete-replaced", "replace", "create-replacement"],
          `${node}: its Deployment replaced old-first in the window`,
        );
        for (const part of ["-config", "-image-host"]) {
          assert.deepEqual(
            ran(part, reject, accept),
            [],
            `${node}: nothing of ${server}${part} in the window`,
          );
          const before = ran(part, 0, reject);
          assert.ok(
            before.includes("create") || before.includes("create-replacement"),
            `${node}: ${server}${part} made before the window (${before.join(", ")})`,
          );
        }
        // The old ConfigMap goes once the update is done, after the live window.
        assert.deepEqual(ran("-config", accept, flag.steps.length), ["delete-replaced"]);
      }
    },
  );

  step("each new Deployment prefers the host its pre-pull Job ran on, and its pod runs there", async () => {
    const pulls = (await get("jobs")).items.filter((j: any) => /^node\d-pull-/.test(j.metadata.name));
    assert.equal(pulls.length, NODES.length, "one pre-pull Job per node");
    for (const node of NODES) {
      const job = pulls.find((j: any) => j.metadata.name.startsWith(`${node}-pull-`));
      const [pulled] = (await get("pods", "-l", `job-name=${job.metadata.name}`)).items;
      assert.ok(pulled?.spec.nodeName, `${node}: the pre-pull's pod was bound to a Node`);
      const [dep] = (await get("deployments", "-l", `app.kubernetes.io/instance=${node}`)).items;
      assert.deepEqual(
        dep.spec.template.spec.affinity,
        preferHostAffinity(pulled.spec.nodeName),
        `${node}: the Deployment prefers ${pulled.spec.nodeName}`,
      );
      const pods = (await get("pods", "-l", `app.kubernetes.io/instance=${node}`)).items;
      assert.deepEqual(
        pods.map((p: any) => p.spec.nodeName),
        [pulled.spec.nodeName],
        `${node}: its pod runs where the image was pulled`,
      );
    }
  });

  step("a re-run changes nothing: no step runs, no object's generation moves", async () => {
    const gens = async () =>
      (await get("deployments")).items.map((d: any) => `${d.metadata.name}@${d.metadata.generation}`).sort();
    const beforeGens = await gens();
    const res = await net.stack.up({ onOutput: undefined });
    // The stack reads its own record (a stack reference): a read, not a change.
    const changed = Object.entries(res.summary.resourceChanges ?? {}).filter(
      ([op]) => op !== "same" && op !== "read",
    );
    assert.deepEqual(changed, [], "nothing created, updated or replaced");
    assert.deepEqual(await gens(), beforeGens);
  });

  step(
    "the rollback: refused by the guard while blocks would be lost, then restores every node's snapshot",
    async () => {
      await sendTraffic(net.stack, 2, log);
      const onV2 = await Promise.all(NODES.map(dump));
      const refused = await flagDay(net.stack, "v1.0.0", log, { gate }).then(
        () => undefined,
        (e: Error) => e.message,
      );
      assert.match(refused ?? "no error", /FAIL heights/, "the guard refused the loss of the blocks since");
      assert.equal(await ingressClass(), "nginx", "refused before anything changed: the ingress still open");
      await net.stack.setConfig("flagday:acceptDataLoss", { value: "true" });
      const back = await flagDay(net.stack, "v1.0.0", log, { gate });
      assert.equal(back.sequence, "rollback-restore");
      const restored = back.steps.filter((s) => stageOfStep(s.name, back.network) === "restore");
      assert.ok(restored.length >= NODES.length, "every node restored");
      const snaps = new Map<string, any>(
        (await get("volumesnapshots")).items.map((s: any) => [s.metadata.name, s]),
      );
      for (const [i, node] of NODES.entries()) {
        const claim = await get("pvc", await claimOf(node));
        assert.notEqual(claim.metadata.name, `${node}-data`, `${node} runs on a restored claim`);
        const source = snaps.get(claim.spec.dataSource.name);
        assert.equal(claim.spec.dataSource.kind, "VolumeSnapshot");
        assert.equal(source.spec.source.persistentVolumeClaimName, `${node}-data`);
        const ledger = await dump(node);
        assert.equal(ledger.format, 1, `${node}: the pre-migration format`);
        // The ledger as it was at the snapshot, then whatever the rollback's own live window committed since.
        const height = Number(source.metadata.annotations["flagday/height"]);
        assert.ok(height > 0 && height < onV2[i].blocks.length);
        assert.deepEqual(
          ledger.blocks.slice(0, height),
          onV2[i].blocks.slice(0, height),
          `${node}: every block up to the snapshot`,
        );
        const [dep] = (await get("deployments", "-l", `app.kubernetes.io/instance=${node}`)).items;
        assert.equal(dep.metadata.annotations["flagday/mrenclave"], releases["v1.0.0"].mrenclave);
      }
      assert.equal(await ingressClass(), "nginx");
      assert.equal(back.clientProbes.after, "served");
      void flag;
    },
  );

  step(
    "a migration Job fails on node2: the window holds (ingress closed, nobody on v2); the abort, which also updates the closed Ingress, restores every node",
    async () => {
      await net.stack.removeConfig("flagday:acceptDataLoss");
      const rel = JSON.parse((await net.stack.getConfig("flagday:releases")).value);
      rel["v2.0.0"].migrations = [
        '[ ! -e "$LEDGER_DB/../fail-migration" ] || { echo "flagday test: this migration fails" >&2; exit 3; }',
      ];
      await net.stack.setConfig("flagday:releases", { value: JSON.stringify(rel) });
      const volume2 = (await ledgerOf(await claimOf("node2"))).replace(/\/ledger$/, "");
      fs.writeFileSync(`${volume2}/fail-migration`, "");
      const before = await Promise.all(NODES.map(dump));
      const failed = await flagDay(net.stack, "v2.0.0", log, { gate }).then(
        () => undefined,
        (e: Error) => e.message,
      );
      assert.match(failed ?? "no error", /migrate/, "the update failed at the migration");
      assert.equal(await ingressClass(), "flagday-closed", "the ingress stays closed");
      assert.equal(await gate.probe(), "refused");
      assert.equal(await reopenedMarks(), 2, "the failed flag day never reopened the ingress (no new mark)");
      const jobs = (await get("jobs")).items.filter((j: any) => /^node2-migrate-/.test(j.metadata.name));
      assert.ok(
        jobs.some((j: any) => j.status.failed >= 1),
        "node2's migration Job failed",
      );
      for (const node of NODES) {
        const deps = (await get("deployments", "-l", `app.kubernetes.io/instance=${node}`)).items;
        assert.ok(
          deps.every(
            (d: any) => d.metadata.annotations["flagday/mrenclave"] !== releases["v2.0.0"].mrenclave,
          ),
          `${node}: no v2.0.0 Deployment (no mixed enclaves)`,
        );
      }
      // The abort, with a change to the Ingress (TLS) on the way: the stack applies it to the closed Ingress
      // without a server-side-apply conflict over the class the gate switch owns, and does not reopen it.
      fs.rmSync(`${volume2}/fail-migration`);
      await net.stack.setConfig("flagday:release", { value: "v1.0.0" });
      await net.stack.setConfig("flagday:abort", { value: "v2.0.0" });
      const k = JSON.parse((await net.stack.getConfig("flagday:kubernetes")).value);
      await net.stack.setConfig("flagday:kubernetes", {
        value: JSON.stringify({ ...k, tlsSecretName: "client-tls" }),
      });
      const aborted = await net.stack.up({ onOutput: undefined });
      assert.equal(aborted.summary.result, "succeeded");
      const ing = await get("ingress", `${network.name}-client`, "--show-managed-fields");
      assert.equal(ing.spec.tls?.[0]?.secretName, "client-tls", "the Ingress update was applied");
      assert.equal(ing.spec.ingressClassName, "nginx", "the abort reopened the ingress");
      const classOwners = ing.metadata.managedFields
        .filter((m: any) => JSON.stringify(m.fieldsV1 ?? {}).includes('"f:ingressClassName"'))
        .map((m: any) => m.manager);
      assert.deepEqual(classOwners, ["kubectl-patch"], "only the gate switches own the class");
      for (const [i, node] of NODES.entries()) {
        const after = await dump(node);
        assert.equal(after.format, 1, `${node}: back on format 1`);
        assert.deepEqual(
          after.blocks.slice(0, before[i].blocks.length),
          before[i].blocks,
          `${node}: every pre-upgrade block`,
        );
        const [dep] = (await get("deployments", "-l", `app.kubernetes.io/instance=${node}`)).items;
        assert.equal(dep.metadata.annotations["flagday/mrenclave"], releases["v1.0.0"].mrenclave);
        assert.equal(dep.status.readyReplicas, 1);
      }
      const record = (await net.stack.outputs()).flagday.value as {
        history: { sequence: string; outcome: string }[];
      };
      assert.deepEqual(
        record.history.slice(-2).map((h) => `${h.sequence}:${h.outcome}`),
        ["flag-day:aborted", "rollback-restore:completed"],
      );
    },
  );
});
