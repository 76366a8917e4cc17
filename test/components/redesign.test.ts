/**
 * The shape issue 9 asked for, held by tests: MobileCoin's facts in one module, step scripts and specs as plain
 * functions, the step-name convention built and parsed in one place, snapshot records that carry real heights,
 * and imports that point from the application to the library, never back.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import {
  gateAcceptCommand,
  gateRejectCommand,
  migrateScript,
  stopScript,
} from "../../components/aws/scripts";
import { clusterSnapshotRecord } from "../../components/kubernetes";
import { createHash } from "node:crypto";
import {
  deploymentSpec,
  ledgerClaimSpec,
  parseSnapshotList,
  stopCommand,
  volumeSnapshotSpec,
} from "../../components/kubernetes/specs";
import { localNodeConfig, restoreScript, snapshotScript } from "../../components/local/scripts";
import { consensusServiceArgs, networkJson, nodeImage, shellQuote } from "../../components/mobilecoin";
import { parseStepName, stageStepName, stageOfStep, stepKey, serverName } from "../../components/names";
import { snapshotRecord } from "../../components/platform";
import { planUpgrade, Transition } from "../../components/plan";
import { RESTORE, STAGE_NAMES } from "../../components/stages";
import { awsPlatform } from "../../components/aws";
import { captureGraph, revealed } from "../graph/harness";
import { awsArgs, kube, network, runNetwork, V5, V6 } from "./fixtures";

const ROOT = path.resolve(__dirname, "../..");

const flagDay = (): Transition => {
  const plan = planUpgrade(V6, { release: V5, history: [] });
  assert.equal(plan.kind, "transition");
  return (plan as { transition: Transition }).transition;
};

describe("network.json: one meaning of the quorum threshold", () => {
  test("a network-wide k of n becomes k - 1 over the n - 1 others on each node (mainnet 7 of 10)", () => {
    const peers = Array.from({ length: 9 }, (_, i) => ({ host: `node${i + 2}.prod`, msgPublicKey: `k${i}` }));
    const json = networkJson({ threshold: 7, peers });
    assert.equal(json.quorum_set.threshold, 6);
    assert.equal(json.quorum_set.members.length, 9);
    assert.ok(json.quorum_set.members.every((m) => m.args.endsWith(":8443")));
    assert.ok(
      json.broadcast_peers.every((u) => u.startsWith("insecure-mcp://") && u.includes("consensus-msg-key=")),
    );
  });
  test("the local platform writes the same network.json its simulated nodes read", () => {
    const cfg = localNodeConfig({
      name: "node1",
      dir: "/tmp/x/node1",
      ports: { admin: 1, client: 2, peer: 3 },
      release: {} as never,
      threshold: 2,
      peers: [
        { name: "node2", peerPort: 24024 },
        { name: "node3", peerPort: 24034 },
      ],
    });
    assert.deepEqual(
      cfg.network,
      networkJson({
        threshold: 2,
        peers: [
          { host: "127.0.0.1", port: 24024, msgPublicKey: "node2" },
          { host: "127.0.0.1", port: 24034, msgPublicKey: "node3" },
        ],
      }),
    );
    assert.equal(cfg.network.quorum_set.threshold, 1);
  });
});

describe("MobileCoin facts and scripts, plainly", () => {
  test("one image name for every platform", () => {
    assert.equal(nodeImage(V6, "test"), "mobilecoin/node_hw:v6.0.0-test");
    assert.equal(nodeImage({ ...V6, image: "x/y:z" }, "test"), "x/y:z");
    assert.equal(nodeImage(V6, "main", "reg/node_sw"), "reg/node_sw:v6.0.0-main");
  });
  test("one consensus-service command line: both platforms render the same flags", () => {
    const flags = consensusServiceArgs({ peerResponderId: "a:8443", clientResponderId: "b:443" }).map(
      ([f]) => f,
    );
    const dep = deploymentSpec({
      node: "node1",
      namespace: "ns",
      image: "i",
      claim: "node1-data",
      networkConfigMap: "n",
      tokensConfigMap: "t",
      tokensConfigDigest: "d",
      chainId: "test",
      blockVersion: 4,
      logLevel: "info",
      clientHost: "node1.test",
      msgSignerKeySecret: "node1-key",
      resources: { requests: {}, limits: {} },
      labels: {},
      selector: {},
    });
    const args = dep.template.spec.containers[0].args;
    assert.deepEqual(
      args.slice(1).map((a) => a.split("=")[0]),
      flags,
    );
    assert.equal(dep.strategy.type, "Recreate");
    assert.equal(dep.template.spec.volumes[0].persistentVolumeClaim?.claimName, "node1-data");
  });
  test("shell quoting survives a quote", () => {
    assert.equal(shellQuote("it's"), `'it'\\''s'`);
  });
  test("AWS scripts: stop flushes, migrate runs the format migration then the release's own, the gate adds and removes its rule", () => {
    assert.match(stopScript(), /\nsync$/);
    const m = migrateScript("img:1", ["step one"], "e5".repeat(32)).split("\n");
    // The image prepare pulled and checked is used as it is; only a host without it pulls it, and checks it.
    assert.equal(m[1], "if ! docker image inspect 'img:1' >/dev/null 2>&1; then");
    assert.ok(m.includes("docker pull 'img:1' >&2") && m.some((l) => l.includes("e5".repeat(32))));
    assert.deepEqual(m.slice(-2), [
      "docker run --rm -v /ledger:/ledger 'img:1' mc-ledger-migration --ledger-db /ledger",
      "docker run --rm -v /ledger:/ledger 'img:1' /bin/sh -c 'step one'",
    ]);
    assert.match(
      gateRejectCommand("eu-west-1", "arn:l"),
      /aws elbv2 create-rule --region eu-west-1 --listener-arn arn:l --priority 1 /,
    );
    assert.match(
      gateAcceptCommand("eu-west-1", "arn:l"),
      /aws elbv2 delete-rule --region eu-west-1 --rule-arn /,
    );
  });
  test("Kubernetes specs: stop waits for the pod, snapshots carry their height, restores name their source", () => {
    assert.match(
      stopCommand("kubectl -n 'ns'", { a: "b" }),
      /scale deployment -l 'a=b' --replicas=0 && .*wait --for=delete pod/,
    );
    const snap = volumeSnapshotSpec({
      claim: "c",
      volumeSnapshotClassName: "k",
      height: "41",
      hasStateFile: true,
    });
    assert.equal(snap.annotations["flagday/height"], "41");
    assert.match(snap.annotations["flagday/contents"], /\.distribution-state/);
    assert.deepEqual(ledgerClaimSpec({ fromSnapshot: "s1" }).dataSource, {
      apiGroup: "snapshot.storage.k8s.io",
      kind: "VolumeSnapshot",
      name: "s1",
    });
  });
  test("local scripts: a snapshot refuses a running node and writes its record last; a restore keeps the old ledger", () => {
    const s = snapshotScript({
      node: "n1",
      ledger: "/r/n1/ledger",
      pidFile: "/r/n1/node.pid",
      snapshot: "/r/s/n1",
      record: { height: 3 },
    });
    assert.match(s, /^if \[ -f '\/r\/n1\/node.pid' \]/);
    assert.ok(s.indexOf("mv '/r/s/n1.partial'") < s.indexOf(`'{"height":3}'`));
    const r = restoreScript({ node: "n1", ledger: "/l", pidFile: "/p", from: "/s", kept: "/l.before" });
    assert.match(r, /mv '\/l' '\/l.before'/);
    assert.match(
      restoreScript({ node: "n1", ledger: "/l", pidFile: "/p", from: "", kept: "/k" }),
      /kept as it is/,
    );
  });
});

describe("the step-name convention, built and parsed in one place", () => {
  test("every stage's step name parses back to its parts", () => {
    for (const stage of STAGE_NAMES) {
      for (const node of [undefined, "node2", "node-with-dashes"]) {
        const name = stageStepName("rehearsal-net", "u12", stage, node);
        assert.deepEqual(parseStepName(name, "rehearsal-net"), {
          network: "rehearsal-net",
          ordinal: "u12",
          ...(node ? { node } : {}),
          step: stage,
        });
      }
    }
    assert.equal(stageOfStep(serverName("rehearsal", "node3"), "rehearsal"), "start");
    assert.equal(stepKey("rehearsal-u2-node2-migrate", "rehearsal"), "node2-migrate");
    assert.equal(stepKey("rehearsal-u2-quiesce", "rehearsal"), "quiesce");
    assert.equal(parseStepName("other-u2-quiesce", "rehearsal"), undefined);
  });
});

describe("snapshot records hold real heights", () => {
  test("a snapshot without a height is an error that names the node and why, never an empty flag", () => {
    assert.throws(
      () =>
        snapshotRecord(
          flagDay(),
          { node1: { id: "a", height: 5 }, node2: { id: "b" } },
          "the tag flagday:height",
        ),
      /snapshot b of node node2 .*records no block height \(the tag flagday:height\).*Nothing was changed/s,
    );
    assert.deepEqual(snapshotRecord(flagDay(), { node1: { id: "a", height: 5 } }, "x"), {
      node1: { id: "a", height: 5 },
    });
  });

  test("Kubernetes: the ready VolumeSnapshots count, each with its height; one not ready yet fails naming it", () => {
    const t = flagDay();
    const name = (n: string) =>
      `${n}-snapshot-${createHash("sha256").update(t.id).digest("hex").slice(0, 8)}`;
    const found = clusterSnapshotRecord(t, ["node1", "node2", "node3"], {
      [name("node1")]: { readyToUse: true, height: 30 },
    });
    assert.deepEqual(found, { node1: { id: name("node1"), height: 30 } }, "node3 was never snapshotted");
    // Cut but not ready: its node's ledger may be migrated since the cut, so it is never taken as "none".
    assert.throws(
      () =>
        clusterSnapshotRecord(t, ["node1", "node2", "node3"], {
          [name("node1")]: { readyToUse: true, height: 30 },
          [name("node2")]: { readyToUse: false, height: 30 },
        }),
      new RegExp(`snapshot ${name("node2")} of node node2 .*was cut but is not complete yet`, "s"),
    );
    assert.throws(
      () => clusterSnapshotRecord(t, ["node3"], { [name("node3")]: { readyToUse: true } }),
      /node node3 .*flagday\/height/s,
    );
  });

  test("kubectl's VolumeSnapshot list is read for readiness and the height annotation", () => {
    const list = JSON.stringify({
      items: [
        { metadata: { name: "a", annotations: { "flagday/height": "17" } }, status: { readyToUse: true } },
        { metadata: { name: "b", annotations: {} }, status: {} },
      ],
    });
    assert.deepEqual(parseSnapshotList(list), {
      a: { readyToUse: true, height: 17 },
      b: { readyToUse: false },
    });
  });

  test("Kubernetes rollback: the guard carries the snapshots' height (it was built with an empty --at-most)", async () => {
    const initial = await runNetwork(kube(), network(3, V5));
    const upgrade = await runNetwork(kube(), network(3, V6), initial.result.record);
    const back = await runNetwork(kube(), network(3, V5), upgrade.result.record, { rollback: true });
    const guard = revealed(back.graph.named("testnet-u2-rollback-guard").inputs) as { create: string };
    // The height the completed flag day recorded in its history (the quiesce stage's), not a new lookup's.
    const height = upgrade.result.record.history[0].snapshots.node1.height;
    assert.equal(height, 4242);
    assert.match(guard.create, new RegExp(`heights .* --at-most ${height}(\\s|$)`));
    assert.doesNotMatch(guard.create, /--at-most\s*($|--|;)/);
  });
});

describe("imports point from the application to the library", () => {
  const files = (dir: string): string[] =>
    fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
      const p = path.join(dir, e.name);
      return e.isDirectory() ? files(p) : p.endsWith(".ts") ? [p] : [];
    });
  const importsOf = (f: string) =>
    [...fs.readFileSync(f, "utf8").matchAll(/from\s+"([^"]+)"/g)].map((m) =>
      path.resolve(path.dirname(f), m[1]),
    );
  test("no file under components/ imports from rehearsal/ or test/; kubernetes imports nothing from aws", () => {
    const bad: string[] = [];
    for (const f of files(path.join(ROOT, "components"))) {
      for (const target of importsOf(f).map((t) => path.relative(ROOT, t))) {
        if (/^(rehearsal|test|bench)\//.test(target)) bad.push(`${path.relative(ROOT, f)} -> ${target}`);
        if (f.includes(`${path.sep}kubernetes${path.sep}`) && target.startsWith("components/aws")) {
          bad.push(`${path.relative(ROOT, f)} -> ${target}`);
        }
      }
    }
    assert.deepEqual(bad, []);
  });
  test("nothing in bench/ imports from test/", () => {
    const bad = files(path.join(ROOT, "bench")).flatMap((f) =>
      importsOf(f)
        .map((t) => path.relative(ROOT, t))
        .filter((t) => t.startsWith("test/"))
        .map((t) => `${path.relative(ROOT, f)} -> ${t}`),
    );
    assert.deepEqual(bad, []);
  });
});

describe("errors say what they mean", () => {
  test("an AWS restore without a snapshot names the undone flag day, not [object Object]", async () => {
    const undone = flagDay();
    const rollback: Transition = {
      ...undone,
      id: "u2-rollback-x",
      sequence: "rollback-restore",
      undoes: undone,
    };
    const spec = network(3, V5);
    await assert.rejects(
      captureGraph(() => {
        const p = awsPlatform(awsArgs());
        const node = p.node(spec.nodes[0], spec, {});
        p.nodeSteps.restore(
          { name: "testnet-u2-node1-restore", stage: RESTORE, node, transition: rollback, network: spec },
          {},
        );
      }),
      (e: Error) => {
        assert.match(e.message, new RegExp(`the flag day ${undone.id} recorded no snapshot`));
        assert.doesNotMatch(e.message, /\[object Object\]/);
        return true;
      },
    );
  });
});
