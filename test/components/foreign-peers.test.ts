/**
 * Other operators' nodes as peers. A stack of one operator of a network with several creates only its own nodes,
 * yet every node's network.json lists every other node: its own by the platform's addresses, another operator's
 * by the `peerHost` the network description states. Plain tests of the validation, and the AWS and Kubernetes
 * graphs under mocks.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { awsNodeSettingsProblems } from "../../components/aws";
import { kubernetesNodeSettingsProblems } from "../../components/kubernetes";
import { generateOperatorKey } from "../../components/coordination/signing";
import {
  NetworkSpec,
  networkProblems,
  NodeSpec,
  peerHostProblem,
  peerHostProblems,
} from "../../components/network";
import { Platform } from "../../components/platform";
import { Capture, CapturedResource, revealed } from "../graph/harness";
import { aws, kube, runNetwork, RunResult, serverScriptOf, V5 } from "./fixtures";

const inputsOf = (r: CapturedResource) => revealed(r.inputs) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Bob's message-signer public key, as the operators publish it (base64 DER Ed25519). */
const BOB_MSG_KEY = generateOperatorKey().publicKey;
const BOB_PEER = `insecure-mcp://peer3.bob.example.com:8443/?consensus-msg-key=${encodeURIComponent(BOB_MSG_KEY)}`;

/** node1 and node2 run by alice, node3 by bob (`node3` overrides bob's node). */
function twoOperators(node3: Partial<NodeSpec> = {}): NetworkSpec {
  return {
    name: "testnet",
    chainId: "test",
    release: V5,
    quorumThreshold: 2,
    operators: [
      { name: "alice", publicKey: generateOperatorKey().publicKey },
      { name: "bob", publicKey: generateOperatorKey().publicKey },
    ],
    nodes: [
      { name: "node1", operator: "alice" },
      { name: "node2", operator: "alice" },
      {
        name: "node3",
        operator: "bob",
        peerHost: "peer3.bob.example.com",
        settings: { msgPublicKey: BOB_MSG_KEY },
        ...node3,
      },
    ],
  };
}

/** Alice's stack of the network on `platform`: its first deployment. */
const aliceStack = (platform: () => Platform, net: NetworkSpec): Promise<Capture<RunResult>> =>
  runNetwork(platform, net, undefined, {
    coordination: { operator: "alice", board: { directory: "/tmp/x" } },
  });

/** The nodes a graph's resources are for, by the node names in their resource names. */
const nodesIn = (resources: readonly CapturedResource[]) =>
  [...new Set(resources.flatMap((r) => r.name.match(/node\d/g) ?? []))].sort();

describe("peerHost: validation names the key and the fix", () => {
  test("a DNS name or an IPv4 address is a peer host", () => {
    assert.deepEqual(networkProblems(twoOperators()), []);
    assert.deepEqual(networkProblems(twoOperators({ peerHost: "203.0.113.7" })), []);
    assert.equal(peerHostProblem("Peer3.Bob-1.example.com", "k"), undefined);
  });

  test("a scheme, a port or a path is refused, with the host it probably meant", () => {
    for (const [given, meant] of [
      ["https://peer3.bob.example.com", "peer3.bob.example.com"],
      ["insecure-mcp://peer3.bob.example.com:8443/", "peer3.bob.example.com"],
      ["peer3.bob.example.com:8443", "peer3.bob.example.com"],
      ["peer3.bob.example.com/consensus", "peer3.bob.example.com"],
      ["203.0.113.7:443", "203.0.113.7"],
    ]) {
      const problems = networkProblems(twoOperators({ peerHost: given }));
      assert.equal(problems.length, 1, `${given}: ${problems.join("\n")}`);
      assert.match(problems[0], /^flagday:network\.nodes\[2\]\.peerHost must be the host name or IP address/);
      assert.match(problems[0], /no scheme, port or path/);
      assert.ok(problems[0].includes(`Use "${meant}".`), `${given}: ${problems[0]}`);
    }
  });

  test("an empty value, a space, an IPv6 address and a non-string are refused", () => {
    for (const bad of ["", "peer 3.example.com", "-peer3.example.com", "peer3..example.com", 8443]) {
      const p = peerHostProblem(bad, "flagday:network.nodes[2].peerHost");
      assert.ok(p?.startsWith("flagday:network.nodes[2].peerHost must be"), `${String(bad)}: ${p}`);
    }
    assert.match(peerHostProblem("2001:db8::7", "k") ?? "", /^k is the IPv6 address .* give a DNS name/);
  });

  test("a stack needs the peer host of every other operator's node, and of none of its own", () => {
    const net = twoOperators({ peerHost: undefined });
    assert.deepEqual(peerHostProblems(net, undefined), [], "one operator: its stack runs every node");
    const [p, ...more] = peerHostProblems(net, "alice");
    assert.deepEqual(more, []);
    assert.match(p, /^flagday:network\.nodes\[2\]\.peerHost is missing: node node3 belongs to operator bob/);
    assert.match(p, /cannot know/);
    assert.match(p, /peerHost: /);
    // Bob's stack needs alice's, which state none here; his own node3 needs none.
    assert.deepEqual(
      peerHostProblems(net, "bob").map((x) => x.split(" ")[0]),
      ["flagday:network.nodes[0].peerHost", "flagday:network.nodes[1].peerHost"],
    );
  });

  test("another operator's node settings are its own platform's; only its msgPublicKey is checked", () => {
    // Bob runs node3 on AWS, with AWS settings; alice's Kubernetes stack does not judge them.
    const net = twoOperators({ settings: { instanceType: "m5.2xlarge", msgPublicKey: BOB_MSG_KEY } });
    assert.deepEqual(kubernetesNodeSettingsProblems(net, undefined, "alice"), []);
    const emptyKey = twoOperators({ settings: { cpu: "4", msgPublicKey: "" } });
    const [p, ...more] = awsNodeSettingsProblems(emptyKey, undefined, "alice");
    assert.deepEqual(more, [], "cpu is bob's Kubernetes setting");
    assert.match(p, /^flagday:network\.nodes\[2\]\.settings\.msgPublicKey must be a non-empty string/);
    // Alice's own nodes are checked as before, and without an operator every node is.
    const own: NetworkSpec = {
      ...net,
      nodes: net.nodes.map((n, i) => (i === 0 ? { ...n, settings: { cpu: "4" } } : n)),
    };
    assert.match(awsNodeSettingsProblems(own, undefined, "alice").join("\n"), /nodes\[0\]\.settings\.cpu/);
    assert.match(kubernetesNodeSettingsProblems(net).join("\n"), /nodes\[2\]\.settings\.instanceType/);
  });
});

/** A node's network.json on AWS: the heredoc in its server script (the start step, over SSH). */
function awsNetworkJson(g: Capture<RunResult>["graph"], node: string) {
  const script = serverScriptOf(g, node);
  const m = /<<'NETWORK_JSON'\n(.*)\nNETWORK_JSON/s.exec(script);
  assert.ok(m, "the server script writes network.json");
  return JSON.parse(m[1]);
}

/** A node's network.json on Kubernetes: its ConfigMap. */
const kubeNetworkJson = (g: Capture<RunResult>["graph"], node: string) =>
  JSON.parse(inputsOf(g.named(`testnet-${node}-server-config`)).data["network.json"]);

// Captures share the SDK's global settings: one suite runs them one after another.
describe("alice's stack under mocks", async () => {
  const onAws = await aliceStack(aws(), twoOperators());
  const onKube = await aliceStack(kube(), twoOperators());

  describe("AWS: bob's node3 is a peer by its peerHost", () => {
    const g = onAws.graph;

    test("only alice's nodes get resources", () => {
      assert.deepEqual(nodesIn(g.resources), ["node1", "node2"]);
      assert.equal(g.ofType("aws:ec2/networkInterface:NetworkInterface").length, 2);
      assert.equal(g.ofType("aws:ec2/instance:Instance").length, 2);
    });

    test("node1's network.json: node2 by its ENI's address, node3 by bob's peer host with its key", () => {
      const node2Ip = String(inputsOf(g.named("testnet-gate-node2")).targetId);
      assert.match(node2Ip, /^10\.\d+\.\d+\.\d+$/);
      const json = awsNetworkJson(g, "node1");
      assert.deepEqual(
        [...json.broadcast_peers].sort(),
        [`insecure-mcp://${node2Ip}:8443/`, BOB_PEER].sort(),
      );
      assert.deepEqual(
        json.quorum_set.members.map((m: { args: string }) => m.args).sort(),
        [`${node2Ip}:8443`, "peer3.bob.example.com:8443"].sort(),
      );
      assert.equal(json.quorum_set.threshold, 1);
    });
  });

  describe("Kubernetes: bob's node3 is a peer by its peerHost", () => {
    const g = onKube.graph;

    test("only alice's nodes get resources", () => {
      assert.deepEqual(nodesIn(g.resources), ["node1", "node2"]);
      assert.equal(g.ofType("kubernetes:apps/v1:Deployment").length, 2);
      const ing = inputsOf(g.named("testnet-gate-ingress"));
      assert.deepEqual(
        ing.spec.rules.map((r: { host: string }) => r.host),
        ["node1.test.mobilecoin.com", "node2.test.mobilecoin.com"],
      );
    });

    test("node1's network.json: node2 by its peer Service, node3 by bob's peer host with its key", () => {
      const json = kubeNetworkJson(g, "node1");
      assert.deepEqual(json.broadcast_peers, [
        "insecure-mcp://node2-peer.mc-testnet.svc.cluster.local:8443/",
        BOB_PEER,
      ]);
      assert.deepEqual(
        json.quorum_set.members.map((m: { args: string }) => m.args),
        ["node2-peer.mc-testnet.svc.cluster.local:8443", "peer3.bob.example.com:8443"],
      );
    });

    test("bob's node settings for his own platform do not stop alice's stack", async () => {
      const net = twoOperators({ settings: { instanceType: "m5.2xlarge", msgPublicKey: BOB_MSG_KEY } });
      const { graph } = await aliceStack(kube(), net);
      assert.deepEqual(kubeNetworkJson(graph, "node2").broadcast_peers, [
        "insecure-mcp://node1-peer.mc-testnet.svc.cluster.local:8443/",
        BOB_PEER,
      ]);
    });
  });

  describe("an own node's peerHost is its name everywhere: its responder id and its own operator's network.json", () => {
    const withHost = (net: NetworkSpec): NetworkSpec => ({
      ...net,
      nodes: net.nodes.map((n) => (n.name === "node1" ? { ...n, peerHost: "peer1.alice.example.com" } : n)),
    });
    test("AWS", async () => {
      const { graph } = await aliceStack(aws(), withHost(twoOperators()));
      assert.match(serverScriptOf(graph, "node1"), /--peer-responder-id peer1\.alice\.example\.com:8443/);
      assert.ok(
        awsNetworkJson(graph, "node2").quorum_set.members.some(
          (m: { args: string }) => m.args === "peer1.alice.example.com:8443",
        ),
      );
    });
    test("Kubernetes", async () => {
      const { graph } = await aliceStack(kube(), withHost(twoOperators()));
      const dep = inputsOf(graph.named("testnet-node1-server"));
      const args = dep.spec.template.spec.containers[0].args as string[];
      assert.ok(args.includes("--peer-responder-id=peer1.alice.example.com:8443"), args.join(" "));
      assert.deepEqual(
        kubeNetworkJson(graph, "node2").quorum_set.members.map((m: { args: string }) => m.args),
        ["peer1.alice.example.com:8443", "peer3.bob.example.com:8443"],
      );
    });
  });

  describe("a missing peerHost of another operator's node fails the preview, naming the key", () => {
    for (const [name, platform] of [
      ["AWS", aws()],
      ["Kubernetes", kube()],
    ] as const) {
      test(name, async () => {
        await assert.rejects(aliceStack(platform, twoOperators({ peerHost: undefined })), (e: Error) => {
          assert.match(e.message, /nothing was changed/);
          assert.match(
            e.message,
            /flagday:network\.nodes\[2\]\.peerHost is missing: node node3 belongs to operator bob/,
          );
          assert.match(e.message, /whose peer address this stack cannot know/);
          return true;
        });
      });
    }
  });
});
