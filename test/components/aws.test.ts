/**
 * The AWS platform's resource graph under Pulumi mocks: the flag-day rules (checkFlagDayGraph) on every path,
 * and what only AWS has (ENIs, EBS snapshots, the ALB gate, secrets kept out of user data and plain state).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import * as aws from "@pulumi/aws";
import { awsPlatform } from "../../components/aws";
import { NetworkSpec } from "../../components/network";
import { Platform } from "../../components/platform";
import { CapturedResource, mockSnapshotId, revealed, stableJson } from "../graph/harness";
import { assertFlagDayGraph, checkFlagDayGraph } from "../graph/invariants";
import { aws as awsPlatformOf, awsArgs, network, runNetwork, SSH_PRIVATE_KEY, V5, V6 } from "./fixtures";

const SSH_KEY = SSH_PRIVATE_KEY;
const inputsOf = (r: CapturedResource) => revealed(r.inputs) as Record<string, unknown>;

/** initial on V5, then the flag day to V6, then the steady run after it. */
async function flagDay(n: number, makePlatform = awsPlatformOf()) {
  const initial = await runNetwork(makePlatform, network(n, V5));
  const upgrade = await runNetwork(makePlatform, network(n, V6), initial.result.record);
  const steady = await runNetwork(makePlatform, network(n, V6), upgrade.result.record);
  return { initial, upgrade, steady };
}

describe("AWS platform under mocks", async () => {
  const runs = await flagDay(5);
  const g = runs.upgrade.graph;

  test("every path obeys the flag-day rules: initial, flag day, steady", () => {
    assert.equal(runs.initial.result.net.plan.kind, "initial");
    assert.equal(runs.upgrade.result.net.plan.kind, "transition");
    assert.equal(runs.steady.result.net.plan.kind, "steady");
    assertFlagDayGraph(runs.initial.graph, network(5, V5), runs.initial.result.net.plan);
    assertFlagDayGraph(g, network(5, V6), runs.upgrade.result.net.plan);
    assertFlagDayGraph(runs.steady.graph, network(5, V6), runs.steady.result.net.plan);
  });

  test("ENIs and ledger volumes are protected; the ledger is encrypted gp3 of the chart's size", () => {
    const durable = [
      ...g.ofType("aws:ec2/networkInterface:NetworkInterface"),
      ...g.ofType("aws:ebs/volume:Volume"),
    ];
    assert.equal(durable.length, 10);
    for (const r of durable) {
      assert.equal(r.protect, true, `${r.name} must be protected`);
    }
    const ledger = inputsOf(g.named("testnet-node1-ledger"));
    assert.equal(g.named("testnet-node1-ledger").type, "aws:ebs/volume:Volume");
    assert.deepEqual([ledger.type, ledger.encrypted, ledger.size], ["gp3", true, 512]);
    assert.equal(ledger.availabilityZone, "us-west-2a");
    assert.equal(inputsOf(g.named("testnet-node2-ledger")).availabilityZone, "us-west-2b");
  });

  test("ledger and ENI inputs are the same whatever the release (an enclave change never replaces them)", async () => {
    const a = await runNetwork(awsPlatformOf(), network(3, V5));
    const b = await runNetwork(
      awsPlatformOf(),
      network(3, { ...V6, image: "registry.example/node:v6-custom" }),
    );
    for (const name of ["testnet-node2-ledger", "testnet-node2-identity"]) {
      assert.equal(stableJson(a.graph.named(name).inputs), stableJson(b.graph.named(name).inputs), name);
    }
    assert.notEqual(
      stableJson(a.graph.named("testnet-node2-server").inputs),
      stableJson(b.graph.named("testnet-node2-server").inputs),
    );
  });

  test("the server: the release's containers over SSH on a host instance on the node's ENI, both replaced old-first", () => {
    const host = g.named("testnet-node3-server-host");
    assert.equal(host.type, "aws:ec2/instance:Instance");
    assert.equal(host.deleteBeforeReplace, true);
    const h = inputsOf(host);
    const eni = g.named("testnet-node3-identity");
    assert.deepEqual(h.primaryNetworkInterface, { networkInterfaceId: eni.id });
    assert.equal(h.userDataReplaceOnChange, true);
    // Nothing of the release is in the host: an enclave change never boots an instance in the window.
    assert.doesNotMatch(stableJson(h), /node_hw|v6\.0\.0|docker run/);
    assert.equal(
      stableJson(inputsOf(runs.initial.graph.named("testnet-node3-server-host"))),
      stableJson(h),
      "the flag day leaves the host as the first deployment made it",
    );
    // It was the server (`testnet-node3-server`) when the instance ran the release: the alias replaces that one.
    assert.ok(
      host.aliases.some((a) => JSON.stringify(a).includes('"testnet-node3-server"')),
      stableJson(host.aliases),
    );
    const server = g.named("testnet-node3-server");
    assert.equal(server.type, "command:local:Command");
    assert.equal(server.deleteBeforeReplace, true);
    const create = String(inputsOf(server).create);
    assert.match(create, /ssh -i "\$keydir\/id" .* 'ubuntu@10\.\d+\.\d+\.\d+' sh -s/);
    assert.match(create, /docker run -d --name mc-consensus .*\n[\s\S]*'mobilecoin\/node_hw:v6\.0\.0-test'/);
    assert.match(
      create,
      new RegExp(
        `# flagday generation: ${runs.upgrade.result.net.plan.kind === "transition" ? runs.upgrade.result.net.plan.transition.id : "?"}`,
      ),
    );
    assert.match(String(inputsOf(server).delete), /docker stop --time 120 "\$c"/);
    // A new host restarts it: the host's id is among its triggers, beside its own script.
    assert.deepEqual(inputsOf(server).triggers, [create, host.id]);
    const attach = g.named("testnet-node3-server-ledger");
    assert.equal(attach.type, "aws:ec2/volumeAttachment:VolumeAttachment");
    assert.equal(attach.deleteBeforeReplace, true);
    assert.equal(inputsOf(attach).volumeId, g.named("testnet-node3-ledger").id);
    assert.equal(inputsOf(attach).instanceId, host.id);
    assert.ok(server.dependencies.includes(attach.urn), "the release starts once the host has its ledger");
  });

  test("no secret in user data; the SSH key reaches commands only as a Pulumi secret", () => {
    assert.equal(g.ofType("aws:ec2/instance:Instance").length, 5);
    for (const r of g.ofType("aws:ec2/instance:Instance")) {
      const text = stableJson(r.inputs);
      assert.ok(!text.includes("PRIVATE KEY"), `${r.name} user data holds a private key`);
      assert.match(text, /parameter\/flagday\/testnet\/node\d\/msg-signer-key/);
    }
    // Migrations run through remote.Command; the stop and the pre-flight run the system's ssh from the
    // operator's machine (they must tell "no instance" from "unreachable"), the key in their environment.
    const remote = g.ofType("command:remote:Command");
    assert.equal(remote.filter((r) => r.name.endsWith("-migrate")).length, 5, "a migrate per node");
    assert.equal(remote.filter((r) => r.name.endsWith("-pull")).length, 5, "a pull per node (prepare)");
    assert.equal(remote.length, 10, "nothing else runs over remote.Command");
    const overSsh = g.ofType("command:local:Command").filter((r) => /-(stop|preflight|server)$/.test(r.name));
    assert.equal(overSsh.length, 15, "a stop, a pre-flight and a server per node");
    for (const r of overSsh) {
      const env = r.inputs.environment as { secret?: boolean; FLAGDAY_SSH_KEY?: { secret?: boolean } };
      const wrapped = env.secret === true || env.FLAGDAY_SSH_KEY?.secret === true;
      assert.ok(wrapped, `${r.name}: the SSH key must be a secret`);
      assert.equal((revealed(env) as Record<string, string>).FLAGDAY_SSH_KEY, SSH_KEY);
      assert.ok(!stableJson(r.inputs.create).includes("PRIVATE KEY"), `${r.name}: key in the command text`);
    }
    for (const r of remote) {
      const conn = r.inputs.connection as Record<string, unknown>;
      const secretKey =
        conn.privateKey ?? (conn as { secret?: boolean; value?: { privateKey?: unknown } }).value?.privateKey;
      const wrapped = conn.secret === true || (secretKey as { secret?: boolean })?.secret === true;
      assert.ok(wrapped, `${r.name}: the SSH key must be a secret`);
      assert.equal((revealed(conn) as { privateKey: string }).privateKey, SSH_KEY);
    }
  });

  test("stop and migrate: remote commands on the ENI's IP, once per transition, never re-run on drift", () => {
    const t =
      runs.upgrade.result.net.plan.kind === "transition"
        ? runs.upgrade.result.net.plan.transition
        : undefined;
    assert.ok(t);
    const stop = inputsOf(g.named("testnet-u1-node4-stop"));
    const ip = inputsOf(g.named("testnet-gate-node4")).targetId;
    assert.match(String(ip), /^10\.\d+\.\d+\.\d+$/);
    assert.match(
      String(stop.create),
      new RegExp(`'ubuntu@${String(ip).replace(/\./g, "\\.")}' sh -s`),
      "SSH goes to the node's ENI address",
    );
    assert.deepEqual(stop.triggers, [t.id]);
    assert.match(String(stop.update), /^echo .*nothing to do/);
    // Only the containers that exist are stopped, admin gateway first (aws-safety.test.ts runs the script).
    assert.match(
      String(stop.create),
      /for c in mc-consensus-admin mc-consensus; do\n {2}if .* then docker stop --time 120 "\$c"; fi/,
    );
    const migrate = String(inputsOf(g.named("testnet-u1-node4-migrate")).create);
    const lines = migrate.split("\n");
    const format = lines.findIndex((l) =>
      l.includes(
        "docker run --rm -v /ledger:/ledger 'mobilecoin/node_hw:v6.0.0-test' mc-ledger-migration --ledger-db /ledger",
      ),
    );
    const first = lines.findIndex((l) => l.includes(V6.migrations![0]));
    const second = lines.findIndex((l) => l.includes(V6.migrations![1]));
    assert.ok(format >= 0 && format < first && first < second, `migrations out of order:\n${migrate}`);
    assert.match(String(inputsOf(g.named("testnet-u1-node4-migrate")).update), /nothing to do/);
  });

  test("snapshots: cut inside the window by one command per node, found again by its tags, recorded", () => {
    assert.equal(g.ofType("aws:ebs/snapshot:Snapshot").length, 0, "no resource that waits for completion");
    const s = g.named("testnet-u1-node2-snapshot");
    assert.equal(s.type, "command:local:Command");
    const script = String(inputsOf(s).create);
    // Finds this step's own snapshot first (a re-run takes no second one), else creates it, then waits for
    // `pending` (the point in time taken), not for the copy to complete.
    assert.match(script, /describe-snapshots --region us-west-2 .*--owner-ids self/);
    assert.match(script, /'Name=tag:flagday:network,Values=testnet'/);
    assert.match(script, /'Name=tag:flagday:node,Values=node2'/);
    assert.match(script, /'Name=tag:flagday:transition,Values=u1-upgrade-[^']+'/);
    assert.match(script, /create-snapshot --region us-west-2 .*--volume-id [^ ]*testnet-node2-ledger/);
    assert.match(script, /\[ "\$state" = pending \] \|\| \[ "\$state" = completed \]/);
    assert.doesNotMatch(
      script,
      /\{ \[ "\$state" = completed \]; \}/,
      "the cut never waits for the copy alone",
    );
    const spec = JSON.parse(/--tag-specifications '([^']+)'/.exec(script)![1]) as {
      Tags: { Key: string; Value: string }[];
    }[];
    const tags = Object.fromEntries(spec[0].Tags.map((t) => [t.Key, t.Value]));
    assert.equal(tags["flagday:network"], "testnet");
    assert.equal(tags["flagday:node"], "node2");
    assert.match(tags["flagday:from"], /^v5\.2\.3-/);
    assert.match(tags["flagday:to"], /^v6\.0\.0-/);
    assert.match(tags["flagday:transition"], /^u1-upgrade-/);
    assert.equal(tags["flagday:height"], "4242", "the height the quiesce agreed on");
    // v5.2.3 still has ledger-distribution's state file on the ledger volume.
    assert.match(tags["flagday:contents"], /\.distribution-state/);
    const record = runs.upgrade.result.record;
    assert.equal(record.history[0].snapshots.node2.id, mockSnapshotId(s.name), "the history records its id");
  });

  test("the seal waits for completion after the cut and before the ingress reopens; the migration waits only for the cut", () => {
    for (const n of [1, 2, 3, 4, 5]) {
      const snap = g.named(`testnet-u1-node${n}-snapshot`);
      const seal = g.named(`testnet-u1-node${n}-seal`);
      const sealScript = String(inputsOf(seal).create);
      assert.ok(sealScript.includes(`--snapshot-ids ${mockSnapshotId(snap.name)}`), sealScript);
      assert.match(sealScript, /\{ \[ "\$state" = completed \]; \}/);
      assert.match(sealScript, /after 14400s/, "sized for hours: flagday:aws.timeouts.snapshotMinutes (240)");
      assert.ok(g.dependsOn(seal, snap), `node${n}: the seal waits for its cut`);
      assert.ok(g.dependsOn(g.named(`testnet-u1-node${n}-migrate`), snap));
      assert.ok(
        !g.dependsOn(g.named(`testnet-u1-node${n}-migrate`), seal),
        "the copy goes on during the migration",
      );
      assert.ok(g.dependsOn(g.named("testnet-u1-ingress-accept"), seal), `node${n}: sealed before reopening`);
    }
  });

  test("prepare: a warm snapshot per node, tagged so that no rollback ever restores it, before the window", () => {
    const reject = g.named("testnet-u1-ingress-reject");
    for (const n of [1, 2, 3, 4, 5]) {
      const warm = g.named(`testnet-u1-node${n}-warm-snapshot`);
      const script = String(inputsOf(warm).create);
      assert.match(script, /'Name=tag:flagday:warm-for,Values=u1-upgrade-[^']+'/);
      assert.doesNotMatch(
        script,
        /flagday:transition/,
        "the rollback's lookup must never find a warm snapshot",
      );
      assert.match(script, /\{ \[ "\$state" = completed \]; \}/, "awaited to completion, before the window");
      assert.ok(g.dependsOn(reject, warm), `node${n}: warm snapshot before the ingress closes`);
    }
  });

  test("prepare: the image pulled and checked on the host the release then starts on, which the flag day keeps", () => {
    const reject = g.named("testnet-u1-ingress-reject");
    for (const n of [1, 2, 3, 4, 5]) {
      const pull = g.named(`testnet-u1-node${n}-pull`);
      const server = g.named(`testnet-node${n}-server`);
      assert.ok(g.dependsOn(reject, pull), `node${n}: pulled before the ingress closes`);
      assert.ok(!g.dependsOn(pull, reject), `node${n}: the pull waits for nothing of the window`);
      assert.ok(g.dependsOn(server, pull), `node${n}: the release starts after its image is on the host`);
      const ip = String((inputsOf(pull).connection as { host: string }).host);
      assert.match(String(inputsOf(pull).create), /docker pull 'mobilecoin\/node_hw:v6\.0\.0-test'/);
      // The same address the server step runs on: the node's ENI, held by the one host.
      assert.ok(String(inputsOf(server).create).includes(`'ubuntu@${ip}' sh -s`), `node${n}: same host`);
      assert.ok(g.dependsOn(server, g.named(`testnet-u1-node${n}-migrate`)));
      // The host itself is the first deployment's, untouched: nothing boots in the window.
      const host = g.named(`testnet-node${n}-server-host`);
      assert.equal(host.id, runs.initial.graph.named(`testnet-node${n}-server-host`).id);
      assert.equal(stableJson(host.inputs), stableJson(runs.initial.graph.named(host.name).inputs));
    }
  });

  test("a flag day from v6.0.1 (no state file) says the snapshot holds the ledger only", async () => {
    const v601 = { ...V6, version: "v6.0.1", mrenclave: "c3".repeat(32) };
    const v7 = { ...V6, version: "v7.0.0", mrenclave: "d4".repeat(32) };
    const a = await runNetwork(awsPlatformOf(), network(3, v601));
    const b = await runNetwork(awsPlatformOf(), network(3, v7), a.result.record);
    const script = String(inputsOf(b.graph.named("testnet-u1-node1-snapshot")).create);
    assert.match(script, /"Key":"flagday:contents","Value":"[^"]+"/);
    assert.doesNotMatch(script, /distribution-state/);
  });

  test("the gate: an ALB routing each node's client host to that node's client port only; reject/accept add and remove one closing rule", () => {
    for (const n of [1, 2, 3, 4, 5]) {
      const tg = inputsOf(g.named(`testnet-gate-node${n}-clients`));
      assert.equal(tg.port, 3223);
      assert.equal(tg.targetType, "ip");
      const route = inputsOf(g.named(`testnet-gate-node${n}-route`));
      assert.deepEqual(route.conditions, [{ hostHeader: { values: [`node${n}.test.mobilecoin.com`] } }]);
    }
    const attachments = g.ofType("aws:lb/targetGroupAttachment:TargetGroupAttachment");
    assert.equal(attachments.length, 5);
    for (const a of attachments) assert.equal(inputsOf(a).port, 3223);
    const listener = inputsOf(g.named("testnet-gate-listener"));
    assert.equal((listener.defaultActions as { type: string }[])[0].type, "fixed-response");
    for (const r of g.resources.filter((x) => x.name.startsWith("testnet-gate"))) {
      assert.ok(!stableJson(r.inputs).includes("8443"), `${r.name}: peer traffic must not pass the gate`);
    }
    const reject = String(inputsOf(g.named("testnet-u1-ingress-reject")).create);
    const accept = String(inputsOf(g.named("testnet-u1-ingress-accept")).create);
    assert.match(
      reject,
      /aws elbv2 create-rule --region us-west-2 --listener-arn arn:\S+gate-listener --priority 1 /,
    );
    assert.match(reject, /"Type":"fixed-response".*"StatusCode":"503"/);
    assert.match(accept, /aws elbv2 delete-rule --region us-west-2 --rule-arn /);
  });

  test("no-op: the steady run after the flag day registers the same resources with identical inputs", () => {
    const before = new Map(g.resources.map((r) => [r.urn, stableJson(r.inputs)]));
    const after = new Map(runs.steady.graph.resources.map((r) => [r.urn, stableJson(r.inputs)]));
    assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort());
    for (const [urn, inputs] of after) assert.equal(inputs, before.get(urn), urn);
  });

  test("rollback by restore: new volumes from the recorded snapshots become the ledgers; the migrated ones stay", async () => {
    const back = await runNetwork(awsPlatformOf(), network(5, V5), runs.upgrade.result.record, {
      rollback: true,
    });
    const plan = back.result.net.plan;
    assert.equal(plan.kind === "transition" && plan.transition.sequence, "rollback-restore");
    assertFlagDayGraph(back.graph, network(5, V5), plan);
    const restored = back.graph.named("testnet-u2-node2-restore");
    assert.equal(restored.type, "aws:ebs/volume:Volume");
    assert.equal(inputsOf(restored).snapshotId, mockSnapshotId("testnet-u1-node2-snapshot"));
    assert.equal(inputsOf(restored).availabilityZone, "us-west-2b");
    assert.equal(inputsOf(back.graph.named("testnet-node2-server-ledger")).volumeId, restored.id);
    assert.equal(back.graph.named("testnet-node2-ledger").protect, true);
    // The undone flag day's snapshots were read from its history entry, not registered again: the command
    // that cut them has no delete, so they stay in AWS whatever becomes of that flag day's steps.
    assert.equal(inputsOf(runs.upgrade.graph.named("testnet-u1-node2-snapshot")).delete, undefined);
    assert.equal(
      back.graph.resources.some((r) => r.name === "testnet-u1-node2-snapshot"),
      false,
    );
  });

  test("after a rollback by restore, the restored volumes stay the ledgers through the next flag day", async () => {
    const back = await runNetwork(awsPlatformOf(), network(5, V5), runs.upgrade.result.record, {
      rollback: true,
    });
    const restored = back.graph.named("testnet-u2-node2-restore");
    assert.equal(
      back.result.record.restoredBy?.id,
      (back.result.net.plan as { transition: { id: string } }).transition.id,
    );
    const again = await runNetwork(awsPlatformOf(), network(5, V6), back.result.record);
    assertFlagDayGraph(again.graph, network(5, V6), again.result.net.plan);
    // The restore step is registered again unchanged, so the engine keeps the volume...
    assert.equal(
      stableJson(again.graph.named("testnet-u2-node2-restore").inputs),
      stableJson(restored.inputs),
    );
    // ...and it is what the new flag day snapshots and what the new server mounts.
    assert.match(
      String(inputsOf(again.graph.named("testnet-u3-node2-snapshot")).create),
      new RegExp(`create-snapshot .*--volume-id ${restored.id} `),
    );
    assert.equal(inputsOf(again.graph.named("testnet-node2-server-ledger")).volumeId, restored.id);
  });

  test("a rolling change (one node's instance type) replaces only that node's server, gated by health", async () => {
    const spec = network(5, V6);
    const changed: NetworkSpec = {
      ...spec,
      nodes: spec.nodes.map((n) =>
        n.name === "node3" ? { ...n, settings: { instanceType: "m5.4xlarge" } } : n,
      ),
    };
    const roll = await runNetwork(awsPlatformOf(), changed, runs.upgrade.result.record);
    assertFlagDayGraph(roll.graph, changed, roll.result.net.plan);
    const differs = roll.graph.resources
      .filter((r) => stableJson(r.inputs) !== stableJson(runs.steady.graph.byUrn.get(r.urn)?.inputs))
      .map((r) => r.name);
    // A new host for node3, its ledger attached to it, and the release started on it again.
    assert.deepEqual(differs.sort(), [
      "testnet-node3-healthy",
      "testnet-node3-server",
      "testnet-node3-server-host",
      "testnet-node3-server-ledger",
    ]);
    assert.deepEqual(roll.graph.named("testnet-node3-server-host").replaceOnChanges, ["instanceType"]);
  });

  test("without the SSH key nothing deploys: the preview fails with the fix (every start runs over SSH)", async () => {
    const noKey = () => awsPlatform(awsArgs({ sshPrivateKey: undefined }));
    await assert.rejects(
      runNetwork(noKey, network(3, V5)),
      /flagday:sshPrivateKey is not set: run `pulumi config set --secret flagday:sshPrivateKey/,
    );
    const first = await runNetwork(awsPlatformOf(), network(3, V5));
    await assert.rejects(
      runNetwork(noKey, network(3, V6), first.result.record),
      /flagday:sshPrivateKey is not set: run `pulumi config set --secret flagday:sshPrivateKey/,
    );
  });

  test("an unknown node setting fails before anything is registered, naming the setting", async () => {
    const bad = {
      ...network(3, V5),
      nodes: [{ name: "node1", settings: { instanceKind: "big" } }, { name: "node2" }, { name: "node3" }],
    };
    await assert.rejects(
      runNetwork(awsPlatformOf(), bad),
      /nodes\[0\]\.settings\.instanceKind is not an AWS node setting/,
    );
  });

  test("the checker fails a platform that starts servers without waiting for the migrations", async () => {
    const broken = (): Platform => {
      const p = awsPlatform(awsArgs());
      return {
        ...p,
        nodeSteps: {
          ...p.nodeSteps,
          start: (step, opts) => p.nodeSteps.start(step, { ...opts, dependsOn: [] }),
        },
      };
    };
    const initial = await runNetwork(broken, network(3, V5));
    const up = await runNetwork(broken, network(3, V6), initial.result.record);
    const v = checkFlagDayGraph(up.graph, network(3, V6), up.result.net.plan);
    assert.ok(
      v.some((x) =>
        x.startsWith("start after migrate: testnet-node1-server does not wait for testnet-u1-node2-migrate"),
      ),
      v.join("\n"),
    );
  });

  test("the checker fails a ledger that depends on the release, and one that is not protected", async () => {
    const broken = (): Platform => {
      const p = awsPlatform(awsArgs());
      return {
        ...p,
        node: (spec, net, opts) => {
          const h = p.node(spec, net, opts);
          new aws.ebs.Volume(
            `${net.name}-${spec.name}-data`,
            { availabilityZone: "us-west-2a", tags: { enclave: net.release.mrenclave } },
            { parent: opts.parent },
          );
          return h;
        },
      };
    };
    const run = await runNetwork(broken, network(3, V5));
    const v = checkFlagDayGraph(run.graph, network(3, V5), run.result.net.plan);
    assert.ok(
      v.some((x) => x === "durable ledger is protected: testnet-node1-data is not"),
      v.join("\n"),
    );
    assert.ok(
      v.some((x) => x.startsWith("durable ledger inputs owe nothing to the release: testnet-node1-data")),
    );
  });
});
