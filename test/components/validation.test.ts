/**
 * Plain tests (no mocks) of the decisions made before any resource exists: release and network validation,
 * the upgrade plan, the platforms' config validation and the AWS boot script.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  awsArgsProblems,
  awsPlatformArgs,
  networkJson,
  renderServerScript,
  renderUserData,
} from "../../components/aws";
import { kubernetesArgsProblems, kubeName } from "../../components/kubernetes";
import { NetworkSpec, networkProblems, validateNetwork } from "../../components/network";
import { Deployed, planUpgrade } from "../../components/plan";
import { needsFlagDay, releaseProblems } from "../../components/release";
import { awsArgs, BOOT_ARGS, hex, network, V5, V6 } from "./fixtures";

const one = (problems: string[], ...needles: (string | RegExp)[]) => {
  const hit = problems.find((p) => needles.every((n) => (typeof n === "string" ? p.includes(n) : n.test(p))));
  assert.ok(hit, `no problem matching ${needles.join(" & ")} in:\n${problems.join("\n")}`);
  return hit;
};

describe("release validation names the field and the fix", () => {
  test("a good release has no problems", () => {
    assert.deepEqual(releaseProblems(V6, "flagday:release"), []);
  });
  test("malformed MRENCLAVE and MRSIGNER", () => {
    const problems = releaseProblems(
      { ...V6, mrenclave: "ABC", mrsigner: hex("a").slice(0, 63) },
      "flagday:release",
    );
    one(problems, "flagday:release.mrenclave", "64 lowercase hex", "release notes");
    one(problems, "flagday:release.mrsigner", "64 lowercase hex");
    assert.equal(problems.length, 2);
  });
  test("uppercase hex is refused (measurements are compared as text)", () => {
    one(releaseProblems({ ...V6, mrenclave: hex("AB") }, "r"), "r.mrenclave");
  });
});

describe("network validation names the field and the fix", () => {
  test("a good network validates", () => {
    assert.deepEqual(networkProblems(network(5, V6)), []);
    assert.equal(validateNetwork(network(5, V6)).nodes.length, 5);
  });
  test("peer attestation by MRSIGNER with product id and SVN cites the seed's warning", () => {
    const p = one(
      networkProblems({ ...network(5), peerAttestation: { mode: "mrsigner", productId: 1, minimumSvn: 9 } }),
      "flagday:network.peerAttestation.mode",
    );
    assert.match(p, /malicious enclave/);
    assert.match(p, /leak all inbound user traffic/);
    assert.match(p, /mode: mrenclave/);
  });
  test("nodes on different releases", () => {
    const net = network(3, V6);
    const p = one(
      networkProblems({ ...net, nodes: [net.nodes[0], { name: "node2", release: V5 }, net.nodes[2]] }),
      "flagday:network.nodes[1]",
      "different release",
    );
    assert.match(p, /mrenclave/);
    assert.match(p, /Remove the node's release or change it together/);
  });
  test("duplicate node names", () => {
    one(
      networkProblems({ ...network(3), nodes: [{ name: "a" }, { name: "b" }, { name: "a" }] }),
      "flagday:network.nodes[2].name",
      "duplicates nodes[0]",
    );
  });
  test("threshold above the node count, and one that is not a majority", () => {
    one(
      networkProblems({ ...network(5), quorumThreshold: 6 }),
      "quorumThreshold is 6",
      "Lower it to at most 5",
    );
    one(networkProblems({ ...network(4), quorumThreshold: 2 }), "not a majority", "at least 3");
    assert.deepEqual(networkProblems({ ...network(4), quorumThreshold: 3 }), []);
  });
  test("an empty node list", () => {
    one(networkProblems({ ...network(3), nodes: [] }), "flagday:network.nodes is empty");
  });
  test("validateNetwork lists every problem in one error and says nothing changed", () => {
    const bad: Partial<NetworkSpec> = {
      ...network(3),
      quorumThreshold: 9,
      nodes: [{ name: "x" }, { name: "x" }],
    };
    assert.throws(
      () => validateNetwork(bad),
      (e: Error) => {
        assert.match(e.message, /nothing was changed/);
        assert.match(e.message, /duplicates/);
        assert.match(e.message, /quorumThreshold is 9/);
        return true;
      },
    );
  });
});

describe("planUpgrade", () => {
  const deployed = (release = V5, extra: Partial<Deployed> = {}): Deployed => ({
    release,
    history: [],
    ...extra,
  });
  test("first deployment is initial", () => {
    assert.deepEqual(planUpgrade(V5, undefined), { kind: "initial" });
  });
  test("a consensus field change is a flag day from the deployed release", () => {
    const plan = planUpgrade(V6, deployed());
    assert.equal(plan.kind, "transition");
    if (plan.kind !== "transition") return;
    assert.equal(plan.transition.sequence, "flag-day");
    assert.equal(plan.transition.from, V5);
    assert.equal(plan.transition.to, V6);
    assert.match(plan.transition.id, /^u1-upgrade-v5\.2\.3-to-v6\.0\.0-[0-9a-f]{8}$/);
  });
  test("only non-consensus fields changed: steady, no flag day", () => {
    const target = { ...V5, migrations: ["x"], image: "registry/node:custom" };
    assert.equal(needsFlagDay(V5, target), false);
    assert.deepEqual(planUpgrade(target, deployed()), { kind: "steady", transition: undefined });
  });
  test("the transition id is stable for the same upgrade (a re-run resumes)", () => {
    const a = planUpgrade(V6, deployed());
    const b = planUpgrade({ ...V6 }, deployed());
    assert.deepEqual(a, b);
  });
  test("setting the release back after a flag day is a rollback of it", () => {
    const up = planUpgrade(V6, deployed());
    assert.equal(up.kind, "transition");
    if (up.kind !== "transition") return;
    const after: Deployed = { release: V6, lastTransition: up.transition, history: [] };
    const back = planUpgrade(V5, after, { rollback: true });
    assert.equal(back.kind, "transition");
    if (back.kind !== "transition") return;
    assert.equal(back.transition.sequence, "rollback-restore");
    assert.ok(back.transition.undoes);
  });
  test("rollback without an upgrade to undo is refused with the fix", () => {
    assert.throws(() => planUpgrade(V5, undefined, { rollback: true }), /never been upgraded/);
    assert.throws(() => planUpgrade(V6, deployed(), { rollback: true }), /remove flagday:rollback/);
  });
});

describe("AWS settings (flagday:aws)", () => {
  const { sshPrivateKey: _secret, ...plain } = awsArgs();
  test("valid settings pass and come back typed", () => {
    assert.deepEqual(awsArgsProblems(plain, "flagday:aws"), []);
    assert.equal(awsPlatformArgs(plain, "flagday:aws").region, "us-west-2");
  });
  test("each bad field is named with its fix", () => {
    const problems = awsArgsProblems(
      {
        ...plain,
        region: "Oregon",
        subnets: [{ id: "subnet-1", availabilityZone: "us-west-2" }],
        msgSignerKeyArn: "arn:aws:ssm:us-west-2:123456789012:parameter/flagday/key",
        ingress: { ...plain.ingress, subnetIds: ["subnet-0ccccccccccccccc3"] },
        sshPrivateKey: "-----BEGIN",
      },
      "flagday:aws",
    );
    one(problems, "flagday:aws.region", "like us-west-2");
    one(problems, "flagday:aws.subnets[0].id");
    one(problems, "flagday:aws.subnets[0].availabilityZone", "ledger volume");
    one(problems, "flagday:aws.msgSignerKeyArn", "{node}", "never put the key itself in config");
    one(problems, "flagday:aws.ingress.subnetIds", "at least two");
    one(problems, "flagday:aws.sshPrivateKey", "--secret flagday:sshPrivateKey");
    assert.equal(problems.length, 6, problems.join("\n"));
  });
  test("missing settings", () => {
    assert.throws(() => awsPlatformArgs(undefined, "flagday:aws"), /flagday:aws is missing/);
  });
});

describe("Kubernetes settings (flagday:kubernetes)", () => {
  const good = {
    namespace: "mc-testnet",
    clientHost: "{node}.test.mobilecoin.com",
    volumeSnapshotClassName: "csi-snapclass",
    msgSignerKeySecret: "{node}-msg-signer-key",
    tokensConfigMap: "tokens-config",
  };
  test("valid settings pass; bad ones name the field", () => {
    assert.deepEqual(kubernetesArgsProblems(good, "flagday:kubernetes"), []);
    const problems = kubernetesArgsProblems(
      { ...good, clientHost: "node.example.com", ingressClassName: "nginx", closedIngressClassName: "nginx" },
      "flagday:kubernetes",
    );
    one(problems, "flagday:kubernetes.clientHost", "{node}");
    one(problems, "closedIngressClassName must differ");
  });
  test("object names are cut to 63 characters and stay distinct", () => {
    const a = kubeName(`${"n".repeat(60)}-migrate-aaaa`);
    const b = kubeName(`${"n".repeat(60)}-migrate-bbbb`);
    assert.ok(a.length <= 63 && b.length <= 63);
    assert.notEqual(a, b);
    assert.equal(kubeName("node1-data"), "node1-data");
  });
});

describe("AWS boot script and server script", () => {
  const args = {
    ...BOOT_ARGS,
    peers: [
      { name: "node2", ip: "10.0.0.6", msgPublicKey: "MCowBQYDK2VwAyEA+/x=" },
      { name: "node3", ip: "10.0.0.7" },
    ],
    generation: "u1-upgrade-v5.2.3-to-v6.0.0-39e3f319",
  };
  const script = renderUserData(args);
  const server = renderServerScript(args);
  test("the host's boot script holds nothing of the release: an enclave change never replaces the instance", () => {
    assert.doesNotMatch(script, /node_hw|docker run|docker pull|39e3f319|MC_CHAIN_ID/);
    const other: typeof args = { ...args, image: "other:v7", generation: "u2-other" };
    assert.equal(script, renderUserData(other));
  });
  test("the server script runs the release's container with the three ports, three volumes and the consensus settings", () => {
    for (const s of [
      "-p 3223:3223",
      "-p 8443:8443",
      "-p 8000:8000",
      "/config:ro",
      "/var/lib/mobilecoin/sealed:/sealed",
      "-v /ledger:/ledger",
      "--ledger-path /ledger",
      "MC_CHAIN_ID='test'",
      "MC_BLOCK_VERSION=4",
      "'mobilecoin/node_hw:v6.0.0-test'",
    ]) {
      assert.ok(server.includes(s), `server script lacks ${s}`);
    }
  });
  test("reads the signer key at boot from its ARN and never formats a volume that has a filesystem", () => {
    assert.match(script, /aws ssm get-parameter --with-decryption --name "\$KEY_ARN"/);
    // Only blkid -p's "nothing found" (2) may lead to a format, never any failure of blkid (aws-safety.test.ts).
    assert.match(
      script,
      /probe=0; blkid -p \S+ >\/dev\/null \|\| probe=\$\?\ncase "\$probe" in\n  0\) ;;\n  2\)/,
    );
    assert.doesNotMatch(script, /blkid \S+ >\/dev\/null \|\| mkfs/);
    assert.match(script, /nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0/);
  });
  test("network.json: the other nodes, threshold less the node itself, URL-safe keys", () => {
    const json = JSON.parse(networkJson(args));
    assert.deepEqual(json.quorum_set.members, [
      { type: "Node", args: "10.0.0.6:8443" },
      { type: "Node", args: "10.0.0.7:8443" },
    ]);
    assert.equal(json.quorum_set.threshold, 1);
    assert.equal(
      json.broadcast_peers[0],
      "insecure-mcp://10.0.0.6:8443/?consensus-msg-key=MCowBQYDK2VwAyEA%2B%2Fx%3D",
    );
    assert.equal(json.broadcast_peers[1], "insecure-mcp://10.0.0.7:8443/");
  });
});
