/**
 * Issue 14, defects 9 to 12: what only a real account would show about the AWS platform's client ingress, the
 * ledger archive, the settings EC2 checks at apply time and the capacity a replacement needs.
 * - 9: each node has its own client host, routed to that node only, and is attested by it;
 * - 10: every node's network.json lists the other nodes' ledger archives (tx_source_urls), on AWS and Kubernetes;
 * - 11: the ledger volume's zone is the subnet's as EC2 reports it, and ARNs of another region are refused;
 * - 12: instances can target a Capacity Reservation group that holds their place across a replacement.
 * Plain tests of the scripts and checks, and resource graphs under mocks. The gate's commands against moto's
 * server are in preflight.test.ts (defect 8).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  awsArgsProblems,
  AwsPlatformArgs,
  AwsSubnet,
  ledgerZone,
  subnetZoneProblem,
  targetGroupName,
} from "../../components/aws";
import { gateAcceptCommand, gateRejectCommand, GATE_CLOSED_PRIORITY } from "../../components/aws/scripts";
import { networkJson, renderServerScript, UserDataArgs } from "../../components/aws/userData";
import { archiveReadUrl, ledgerArchiveProblems, txSourceUrls } from "../../components/mobilecoin";
import { networkProblems } from "../../components/network";
import { captureGraph, CapturedResource, revealed, settled } from "../graph/harness";
import { aws, awsArgs, BOOT_ARGS, kube, network, runNetwork, serverScriptOf, V5 } from "./fixtures";
import { standIns } from "./stand-ins";
import { spawnSync } from "node:child_process";

const inputsOf = (r: CapturedResource) => revealed(r.inputs) as Record<string, unknown>;
const { bin } = standIns("ingress");

const BOOT: UserDataArgs = { ...BOOT_ARGS, clientHost: "node1.dev.example.com" };

/** The AWS settings as a stack file holds them (no secret), with changes. */
const plainArgs = (extra: Record<string, unknown> = {}) => {
  const { sshPrivateKey: _secret, ...plain } = awsArgs();
  return { ...plain, ...extra };
};

describe("defect 9: each node has its own client host, routed to it only", async () => {
  const run = await runNetwork(aws(), network(3, V5));
  const g = run.graph;

  test("a node's client responder id is its public host on 443, not its private address", () => {
    const script = renderServerScript(BOOT);
    assert.match(script, /--client-responder-id node1\.dev\.example\.com:443( |\\|\n)/);
    assert.doesNotMatch(script, /--client-responder-id 10\.0\.0\.5/);
    // Peers still know the node by its private address: they never pass the gate.
    assert.match(script, /--peer-responder-id 10\.0\.0\.5:8443/);
    for (const n of ["node1", "node2", "node3"]) {
      assert.match(
        serverScriptOf(g, n),
        new RegExp(`--client-responder-id ${n}\\.test\\.mobilecoin\\.com:443`),
      );
    }
  });

  test("one target group per node holding that node only, and one host route per node to it", () => {
    const eniIp = (n: string) => g.named(`testnet-${n}-identity`);
    const groups = g.ofType("aws:lb/targetGroup:TargetGroup");
    const rules = g.ofType("aws:lb/listenerRule:ListenerRule");
    assert.equal(groups.length, 3);
    assert.equal(rules.length, 3);
    const priorities = new Set<number>();
    for (const n of ["node1", "node2", "node3"]) {
      const tg = g.named(`testnet-gate-${n}-clients`);
      const attachment = g.named(`testnet-gate-${n}`);
      const route = g.named(`testnet-gate-${n}-route`);
      // The node's client port, in its own group: the attachment depends on that group and on its own ENI only.
      assert.equal(inputsOf(attachment).port, 3223);
      assert.ok(g.dependsOn(attachment, tg));
      assert.ok(g.dependsOn(attachment, eniIp(n)));
      for (const other of ["node1", "node2", "node3"].filter((x) => x !== n)) {
        assert.ok(!g.dependsOn(attachment, eniIp(other)), `${n}'s group holds ${other}`);
        assert.ok(
          !g.dependsOn(route, g.named(`testnet-gate-${other}-clients`)),
          `${n}'s host reaches ${other}`,
        );
      }
      const r = inputsOf(route);
      assert.deepEqual(r.conditions, [{ hostHeader: { values: [`${n}.test.mobilecoin.com`] } }]);
      const actions = r.actions as { type: string }[];
      assert.equal(actions.length, 1);
      assert.equal(actions[0].type, "forward");
      assert.ok(g.dependsOn(route, tg));
      assert.ok(g.dependsOn(route, g.named("testnet-gate-listener")));
      const p = Number(r.priority);
      assert.ok(p > GATE_CLOSED_PRIORITY, "the gate's closing rule comes before every route");
      priorities.add(p);
    }
    assert.equal(priorities.size, 3, "each route has its own priority");
  });

  test("each target group is named within AWS's 32 characters, distinct per node, new when it must be replaced", () => {
    for (const n of ["node1", "node2", "node3"]) {
      const name = String(inputsOf(g.named(`testnet-gate-${n}-clients`)).name);
      assert.match(name, new RegExp(`^testnet-${n}-[0-9a-f]{6}$`));
    }
    const long = targetGroupName("a-rather-long-network-name", "validator-node-number-12", ["vpc-1", 3223]);
    assert.ok(long.length <= 32 && /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(long), long);
    assert.notEqual(
      long,
      targetGroupName("a-rather-long-network-name", "validator-node-number-13", ["vpc-1", 3223]),
    );
    assert.equal(
      long,
      targetGroupName("a-rather-long-network-name", "validator-node-number-12", ["vpc-1", 3223]),
    );
    assert.notEqual(
      long,
      targetGroupName("a-rather-long-network-name", "validator-node-number-12", ["vpc-2", 3223]),
    );
  });

  test("a host no node has is answered 404 by the listener, which the gate never switches", () => {
    const listener = g.named("testnet-gate-listener");
    assert.deepEqual(inputsOf(listener).defaultActions, [
      {
        type: "fixed-response",
        fixedResponse: { statusCode: "404", contentType: "text/plain", messageBody: "unknown host" },
      },
    ]);
    // The gate adds and removes a rule of its own: no command touches the listener or a route resource.
    for (const command of [
      gateRejectCommand("us-west-2", "arn:l"),
      gateAcceptCommand("us-west-2", "arn:l"),
    ]) {
      assert.doesNotMatch(command, /modify-listener|modify-rule|set-rule-priorities/);
    }
  });

  test("the gate closes every host at once with one rule before all routes, and reopens by removing it", () => {
    const reject = gateRejectCommand({ region: "us-west-2", profile: "ops" }, "arn:l");
    assert.match(
      reject,
      /aws elbv2 create-rule --region us-west-2 --profile ops --listener-arn arn:l --priority 1 --conditions '\[\{"Field":"path-pattern","PathPatternConfig":\{"Values":\["\/\*"\]\}\}\]' --actions '\[\{"Type":"fixed-response"/,
    );
    assert.match(
      gateAcceptCommand("us-west-2", "arn:l"),
      /aws elbv2 delete-rule --region us-west-2 --rule-arn /,
    );
  });

  // The commands, run with a stand-in aws CLI that answers describe-rules as the listener is.
  const runGate = (command: string, rule: string) => {
    const dir = bin({
      aws: `case "$2" in
  describe-rules) printf '%s' "$RULE" ;;
  *) echo "$*" >> "$CALLS"; echo "arn:aws:elasticloadbalancing:us-west-2:1:listener-rule/app/gate/1/2/3" ;;
esac`,
    });
    const calls = `${dir}/calls`;
    const r = spawnSync("/bin/sh", ["-c", command], {
      encoding: "utf8",
      env: { ...process.env, PATH: `${dir}:${process.env.PATH}`, RULE: rule, CALLS: calls },
    });
    const made = spawnSync("cat", [calls], { encoding: "utf8" }).stdout;
    return { code: r.status, err: r.stderr, calls: made };
  };
  const OURS = "arn:rule/ours\tfixed-response\t503";

  test("reject and accept are idempotent, and never take over a priority another rule holds", () => {
    const reject = gateRejectCommand("us-west-2", "arn:l");
    const accept = gateAcceptCommand("us-west-2", "arn:l");
    let r = runGate(reject, "");
    assert.equal(r.code, 0, r.err);
    assert.match(r.calls, /^elbv2 create-rule /);
    r = runGate(reject, OURS);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.calls, "", "closed already: nothing to add");
    r = runGate(accept, OURS);
    assert.equal(r.code, 0, r.err);
    assert.match(r.calls, /^elbv2 delete-rule --region us-west-2 --rule-arn arn:rule\/ours\n$/);
    r = runGate(accept, "");
    assert.equal(r.code, 0, r.err);
    assert.equal(r.calls, "", "open already: nothing to remove");
    for (const command of [reject, accept]) {
      r = runGate(command, "arn:rule/theirs\tforward\tNone");
      assert.equal(r.code, 1);
      assert.match(
        r.err,
        /priority 1 of the gate's listener holds a rule that is not flagday's .*arn:rule\/theirs/,
      );
      assert.equal(r.calls, "");
    }
  });

  test("clientHost is required, with {node}, as an ALB host condition takes it", () => {
    assert.deepEqual(awsArgsProblems(plainArgs(), "flagday:aws"), []);
    for (const bad of [
      undefined,
      "node.dev.example.com",
      "{node}.dev.example.123",
      "{node}:443",
      "https://{node}.x.com",
    ]) {
      const problems = awsArgsProblems(plainArgs({ clientHost: bad }), "flagday:aws");
      assert.equal(problems.length, 1, `${bad}: ${problems.join("\n")}`);
      assert.match(
        problems[0],
        /^flagday:aws\.clientHost must be each node's public client host with \{node\}/,
      );
    }
  });
});

describe("defect 10: every node lists the other nodes' ledger archives as tx_source_urls", () => {
  const ARCHIVE = "s3://flagday-devnet-ledger/{node}?region=us-west-2";

  test("an S3 archive is read over HTTPS from its region; a bucket with dots path-style, as mobilecoin.chain", () => {
    assert.equal(
      archiveReadUrl(ARCHIVE, "node2"),
      "https://flagday-devnet-ledger.s3.us-west-2.amazonaws.com/node2/",
    );
    assert.equal(
      archiveReadUrl("s3://mobilecoin.chain/{node}.test.mobilecoin.com?region=us-west-1", "node1"),
      "https://s3.us-west-1.amazonaws.com/mobilecoin.chain/node1.test.mobilecoin.com/",
    );
    assert.equal(
      archiveReadUrl("https://ledger.example.com/{node}", "node3"),
      "https://ledger.example.com/node3/",
    );
  });

  test("a node lists every other node's archive, never its own; one archive without {node} is listed once", () => {
    assert.deepEqual(txSourceUrls(ARCHIVE, ["node1", "node2", "node3"], "node2"), [
      "https://flagday-devnet-ledger.s3.us-west-2.amazonaws.com/node1/",
      "https://flagday-devnet-ledger.s3.us-west-2.amazonaws.com/node3/",
    ]);
    assert.deepEqual(txSourceUrls("https://mirror.example.com/ledger/", ["node1", "node2"], "node1"), [
      "https://mirror.example.com/ledger/",
    ]);
    assert.deepEqual(txSourceUrls(undefined, ["node1", "node2"], "node1"), []);
    const json = JSON.parse(
      networkJson({ ...BOOT, txSourceUrls: txSourceUrls(ARCHIVE, ["node1", "node2"], "node1") }),
    );
    assert.deepEqual(json.tx_source_urls, [
      "https://flagday-devnet-ledger.s3.us-west-2.amazonaws.com/node2/",
    ]);
  });

  test("what consensus-service cannot fetch from is refused at preview, naming the field", () => {
    assert.deepEqual(ledgerArchiveProblems(ARCHIVE, "a"), []);
    assert.deepEqual(ledgerArchiveProblems("https://ledger.example.com/{node}/", "a"), []);
    assert.deepEqual(ledgerArchiveProblems(undefined, "a"), []);
    const cases: [unknown, RegExp][] = [
      ["s3://flagday-devnet-ledger/{node}", /\?region=/],
      ["s3://flagday-devnet-ledger/ledger?region=us-west-2", /needs \{node\}/],
      ["s3://Bad_Bucket/{node}?region=us-west-2", /not an S3 bucket name/],
      ["http://ledger.example.com/{node}/", /over HTTPS only/],
      ["file:///ledger/{node}", /over HTTPS only/],
      [42, /not a string/],
    ];
    for (const [value, why] of cases) {
      const problems = ledgerArchiveProblems(value, "flagday:network.ledgerArchive");
      assert.equal(problems.length, 1, String(value));
      assert.match(problems[0], /^flagday:network\.ledgerArchive is not a ledger archive: /);
      assert.match(problems[0], why);
    }
    const problems = networkProblems(network(3, V5, { ledgerArchive: "s3://x-ledger/{node}" }));
    assert.equal(problems.length, 1, problems.join("\n"));
    assert.match(problems[0], /^flagday:network\.ledgerArchive is not a ledger archive/);
  });

  test("AWS: each server's network.json names the others' archives", async () => {
    const { graph } = await runNetwork(aws(), network(3, V5, { ledgerArchive: ARCHIVE }));
    for (const [self, others] of [
      ["node1", ["node2", "node3"]],
      ["node3", ["node1", "node2"]],
    ] as const) {
      const script = serverScriptOf(graph, self);
      const json = JSON.parse(/<<'NETWORK_JSON'\n(.*)\nNETWORK_JSON/.exec(script)?.[1] ?? "{}");
      assert.deepEqual(
        json.tx_source_urls,
        others.map((n) => `https://flagday-devnet-ledger.s3.us-west-2.amazonaws.com/${n}/`),
      );
    }
  });

  test("Kubernetes: each node's network ConfigMap names the others' archives", async () => {
    const { graph } = await runNetwork(kube(), network(3, V5, { ledgerArchive: ARCHIVE }));
    const config = inputsOf(graph.named("testnet-node2-server-config")) as { data: Record<string, string> };
    assert.deepEqual(JSON.parse(config.data["network.json"]).tx_source_urls, [
      "https://flagday-devnet-ledger.s3.us-west-2.amazonaws.com/node1/",
      "https://flagday-devnet-ledger.s3.us-west-2.amazonaws.com/node3/",
    ]);
  });
});

describe("defect 11: what EC2 would refuse at apply time is caught at preview", () => {
  test("the ledger volume's zone is the subnet's, as EC2 reports it: no zone needs to be given", async () => {
    const subnets = awsArgs().subnets.map(({ id }) => ({ id }));
    assert.deepEqual(awsArgsProblems(plainArgs({ subnets }), "flagday:aws"), []);
    const { graph } = await runNetwork(aws({ subnets }), network(2, V5));
    assert.equal(inputsOf(graph.named("testnet-node1-ledger")).availabilityZone, "us-west-2a");
    assert.equal(inputsOf(graph.named("testnet-node2-ledger")).availabilityZone, "us-west-2b");
  });

  test("a zone given by hand that is not the subnet's fails the preview (EC2's answer), naming both", async () => {
    const zoneOf = (subnet: AwsSubnet) =>
      captureGraph(() => settled(ledgerZone("us-west-2", subnet, "flagday:aws.subnets[0]")));
    const id = "subnet-0aaaaaaaaaaaaaaa1";
    assert.equal((await zoneOf({ id })).result, "no error");
    assert.equal((await zoneOf({ id, availabilityZone: "us-west-2a" })).result, "no error");
    assert.match(
      (await zoneOf({ id, availabilityZone: "us-west-2c" })).result,
      /^flagday: flagday:aws\.subnets\[0\]\.availabilityZone is us-west-2c, but EC2 says subnet-0aaaaaaaaaaaaaaa1 is in us-west-2a: .*could not attach/,
    );
    assert.match(
      subnetZoneProblem({ id: "subnet-0x" }, undefined, "flagday:aws.subnets[1]") ?? "",
      /EC2 does not report an availability zone for flagday:aws\.subnets\[1\] \(subnet-0x\)/,
    );
    assert.equal(
      subnetZoneProblem({ id: "subnet-0x", availabilityZone: "us-west-2a" }, "us-west-2a", "s"),
      undefined,
    );
  });

  test("a signer-key ARN (or KMS key, certificate, reservation group) in another region is refused, naming both", () => {
    const args = awsArgs();
    const problems = awsArgsProblems(
      plainArgs({
        msgSignerKeyArn: args.msgSignerKeyArn.replace(":us-west-2:", ":us-east-1:"),
        ledgerKmsKeyId: "arn:aws:kms:eu-west-1:123456789012:key/0000",
        ingress: { ...args.ingress, certificateArn: "arn:aws:acm:us-east-2:123456789012:certificate/x" },
      }),
      "flagday:aws",
    );
    assert.equal(problems.length, 3, problems.join("\n"));
    assert.match(
      problems[0],
      /^flagday:aws\.msgSignerKeyArn is in region us-east-1, but flagday:aws\.region is us-west-2/,
    );
    assert.match(
      problems[1],
      /^flagday:aws\.ledgerKmsKeyId is in region eu-west-1, but flagday:aws\.region is us-west-2/,
    );
    assert.match(problems[2], /^flagday:aws\.ingress\.certificateArn is in region us-east-2/);
  });
});

describe("defect 12: a replacement instance can count on reserved capacity", () => {
  const GROUP = "arn:aws:resource-groups:us-west-2:123456789012:group/flagday-devnet-window";

  test("with a Capacity Reservation group every instance targets it; without, none does", async () => {
    const withGroup = await runNetwork(aws({ capacityReservationGroupArn: GROUP }), network(3, V5));
    for (const n of ["node1", "node2", "node3"]) {
      assert.deepEqual(
        inputsOf(withGroup.graph.named(`testnet-${n}-server-host`)).capacityReservationSpecification,
        {
          capacityReservationTarget: { capacityReservationResourceGroupArn: GROUP },
        },
      );
    }
    const without = await runNetwork(aws(), network(3, V5));
    assert.equal(without.graph.ofType("aws:ec2/instance:Instance").length, 3);
    for (const server of without.graph.ofType("aws:ec2/instance:Instance")) {
      assert.equal(inputsOf(server).capacityReservationSpecification, undefined);
    }
  });

  test("the group's ARN is checked: a resource group, in the stack's region", () => {
    assert.deepEqual(awsArgsProblems(plainArgs({ capacityReservationGroupArn: GROUP }), "flagday:aws"), []);
    let problems = awsArgsProblems(
      plainArgs({ capacityReservationGroupArn: "cr-0123456789abcdef0" }),
      "flagday:aws",
    );
    assert.equal(problems.length, 1);
    assert.match(
      problems[0],
      /^flagday:aws\.capacityReservationGroupArn must be the ARN of a Capacity Reservation group/,
    );
    problems = awsArgsProblems(
      plainArgs({ capacityReservationGroupArn: GROUP.replace("us-west-2", "us-east-1") }),
      "flagday:aws",
    );
    assert.equal(problems.length, 1);
    assert.match(
      problems[0],
      /capacityReservationGroupArn is in region us-east-1, but flagday:aws\.region is us-west-2/,
    );
  });
});

// Typed use of the args, so a renamed field breaks the compile rather than the test.
export const _typed: Partial<AwsPlatformArgs> = { clientHost: "{node}.dev.example.com" };
