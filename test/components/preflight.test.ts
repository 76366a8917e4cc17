/**
 * The pre-flight stage and the AWS access it checks (issue 14, defects 3, 4 and 8):
 * - every sequence that stops nodes checks every node before the ingress closes, on every platform;
 * - AWS: the public half of flagday:sshPrivateKey reaches authorized_keys through user data, docker runs for the
 *   SSH user (docker group, else sudo -n), and the pre-flight proves SSH, docker, the ledger mount and the aws
 *   CLI's account before ingress-reject;
 * - AWS: a stop on a node that no running instance holds succeeds, one that runs and cannot be reached fails;
 * - AWS: the gate's listener ignores its default actions in the resource, and every aws command carries the
 *   stack's region and profile.
 * The commands are the ones the platforms register (read from the resource graph under mocks) and are run:
 * against moto's server on loopback for AWS (the venv's aws CLI, AWS_ENDPOINT_URL in the environment only), and
 * with stand-ins for ssh, docker and kubectl on PATH. Nothing leaves the machine: ssh is always a stand-in.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { awsArgsProblems, awsPlatform, AwsPlatformArgs } from "../../components/aws";
import { CLOSED_ACTIONS, dockerPrivilegePrelude, sshStepScript } from "../../components/aws/scripts";
import { authorizedKeyLine, openSshPublicKey } from "../../components/aws/sshKey";
import { renderUserData, sshAccessScript } from "../../components/aws/userData";
import { ConsensusNetwork } from "../../components/consensusNetwork";
import { accessFor, preflightCommand } from "../../components/kubernetes/specs";
import { preflightScript } from "../../components/local/scripts";
import { parseStepName } from "../../components/names";
import {
  FLAG_DAY,
  PREPARE,
  NODE_STAGE_NAMES,
  ROLLBACK_RESTORE,
  ROLLBACK_REVERSE,
  SEQUENCES,
} from "../../components/stages";
import { captureGraph, CapturedResource, Graph, MOCK_ACCOUNT, revealed } from "../graph/harness";
import { Moto, sh, startMoto, VENV_BIN } from "./moto";
import { assertFlagDayGraph } from "../graph/invariants";
import {
  aws,
  awsArgs,
  BOOT_ARGS,
  hostUserDataOf,
  kube,
  network,
  runNetwork,
  SSH_PRIVATE_KEY,
  V5,
  V6,
} from "./fixtures";
import { standIns } from "./stand-ins";

const inputsOf = (r: CapturedResource) => revealed(r.inputs) as Record<string, unknown>;

const { tmp, bin } = standIns("preflight");
/** A flag day (V5 -> V6) on two AWS nodes under mocks, with the platform's settings and mock outputs given. */
async function awsFlagDay(
  extra: Partial<AwsPlatformArgs> = {},
  outputs?: (type: string, name: string) => Record<string, unknown>,
): Promise<Graph> {
  const { graph } = await captureGraph(
    () =>
      new ConsensusNetwork("flagday", {
        network: network(2, V6),
        platform: awsPlatform(awsArgs(extra)),
        deployed: { release: V5, history: [] },
        windowOverride: "pre-flight test under mocks",
      }).record,
    { outputs },
  );
  return graph;
}

describe("the pre-flight stage comes first in every sequence that stops nodes", () => {
  test("preflight is a node stage, before ingress-reject wherever nodes are stopped", () => {
    assert.ok((NODE_STAGE_NAMES as readonly string[]).includes("preflight"));
    for (const [name, stages] of Object.entries(SEQUENCES)) {
      const names = stages.map((s) => s.name);
      if (!names.includes("stop")) continue;
      const pre = names.indexOf("preflight");
      assert.ok(pre >= 0, `${name} has a preflight stage`);
      assert.ok(pre < names.indexOf("ingress-reject"), `${name}: preflight before ingress-reject`);
      assert.equal(stages[pre].scope, "node");
      assert.equal(stages[pre].waitFor, "every-node");
    }
    // A flag day starts with its prepare stages (warm snapshots, pulls: nothing clients notice), then the
    // pre-flight, before anything that turns clients away.
    assert.deepEqual(
      FLAG_DAY.slice(0, 3).map((s) => s.name),
      [...PREPARE.map((s) => s.name), "preflight"],
    );
    assert.equal(ROLLBACK_REVERSE[0].name, "preflight");
    // The rollback guard only reads the ledgers: it stays first, and a refusal there checks no node.
    assert.deepEqual(
      ROLLBACK_RESTORE.slice(0, 3).map((s) => s.name),
      ["rollback-guard", "preflight", "ingress-reject"],
    );
  });

  test("its steps are named like every node stage (fault hooks use node2-preflight)", () => {
    assert.deepEqual(parseStepName("testnet-u3-node2-preflight", "testnet"), {
      network: "testnet",
      ordinal: "u3",
      node: "node2",
      step: "preflight",
    });
  });

  for (const [platform, make] of [
    ["AWS", aws()],
    ["Kubernetes", kube()],
  ] as const) {
    test(`${platform}: one pre-flight per node, and the ingress closes only after every one`, async () => {
      const initial = await runNetwork(make, network(3, V5));
      const up = await runNetwork(make, network(3, V6), initial.result.record);
      assertFlagDayGraph(up.graph, network(3, V6), up.result.net.plan);
      const reject = up.graph.named("testnet-u1-ingress-reject");
      for (const n of ["node1", "node2", "node3"]) {
        const pre = up.graph.named(`testnet-u1-${n}-preflight`);
        assert.ok(up.graph.dependsOn(reject, pre), `ingress-reject waits for ${n}'s pre-flight`);
        assert.ok(!up.graph.dependsOn(pre, reject), `${n}'s pre-flight does not wait for the gate`);
      }
      const back = await runNetwork(make, network(3, V5), up.result.record, { rollback: true });
      assertFlagDayGraph(back.graph, network(3, V5), back.result.net.plan);
      const guard = back.graph.named("testnet-u2-rollback-guard");
      const pre = back.graph.named("testnet-u2-node1-preflight");
      assert.ok(back.graph.dependsOn(pre, guard), "a rollback's pre-flight comes after its guard");
      assert.ok(back.graph.dependsOn(back.graph.named("testnet-u2-ingress-reject"), pre));
    });
  }
});

describe("SSH keys: the public half of flagday:sshPrivateKey", () => {
  const dir = tmp();
  const keygen = (file: string, ...args: string[]) =>
    execFileSync("ssh-keygen", ["-q", "-N", "", "-C", "flagday-test", "-f", join(dir, file), ...args]);
  const sshKeygenPublic = (file: string) =>
    execFileSync("ssh-keygen", ["-y", "-f", join(dir, file)], { encoding: "utf8" })
      .trim()
      .split(" ")
      .slice(0, 2)
      .join(" ");
  const writePem = (file: string, pem: string) => {
    writeFileSync(join(dir, file), pem, { mode: 0o600 });
    return pem;
  };
  const cases: [string, () => string, string][] = [];
  for (const [t, extra] of [
    ["ed25519", []],
    ["rsa", ["-b", "2048"]],
    ["ecdsa", ["-b", "384"]],
  ] as const) {
    cases.push([
      `OpenSSH ${t} (ssh-keygen's default)`,
      () => (keygen(`o-${t}`, "-t", t, ...extra), readFileSync(join(dir, `o-${t}`), "utf8")),
      `o-${t}`,
    ]);
  }
  const pem = (file: string, type: "ed25519" | "rsa" | "ec", format: "pkcs8" | "pkcs1" | "sec1") => {
    const { privateKey } =
      type === "rsa"
        ? generateKeyPairSync("rsa", { modulusLength: 2048 })
        : type === "ec"
          ? generateKeyPairSync("ec", { namedCurve: "P-256" })
          : generateKeyPairSync("ed25519");
    return writePem(file, privateKey.export({ type: format, format: "pem" }).toString());
  };
  cases.push(["PKCS#8 RSA", () => pem("p8-rsa", "rsa", "pkcs8"), "p8-rsa"]);
  cases.push(["PKCS#1 RSA", () => pem("p1-rsa", "rsa", "pkcs1"), "p1-rsa"]);
  cases.push(["SEC1 P-256", () => pem("sec1-ec", "ec", "sec1"), "sec1-ec"]);
  cases.push(["PKCS#8 P-256", () => pem("p8-ec", "ec", "pkcs8"), "p8-ec"]);
  for (const [what, make, file] of cases) {
    test(`${what}: the same public key as ssh-keygen -y`, () => {
      const priv = make();
      assert.equal(openSshPublicKey(priv), sshKeygenPublic(file));
    });
  }
  test("PKCS#8 Ed25519 (which this ssh-keygen cannot read): the key's 32 bytes in SSH's wire format", () => {
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    const raw = publicKey.export({ type: "spki", format: "der" }).subarray(-32);
    const wire = Buffer.concat([
      Buffer.from([0, 0, 0, 11]),
      Buffer.from("ssh-ed25519"),
      Buffer.from([0, 0, 0, 32]),
      raw,
    ]);
    const pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    assert.equal(openSshPublicKey(pem), `ssh-ed25519 ${wire.toString("base64")}`);
  });
  test("an OpenSSH key with a passphrase: its public half is readable without it", () => {
    execFileSync("ssh-keygen", ["-q", "-N", "secret words", "-t", "ed25519", "-f", join(dir, "enc")]);
    const pub = readFileSync(join(dir, "enc.pub"), "utf8").split(" ").slice(0, 2).join(" ");
    assert.equal(openSshPublicKey(readFileSync(join(dir, "enc"), "utf8")), pub);
  });
  test("garbage, or an encrypted PEM key, is refused naming flagday:aws.sshPublicKey", () => {
    assert.throws(() => openSshPublicKey("bench key"), /neither an OpenSSH private key .* nor a PEM/);
    const { privateKey } = generateKeyPairSync("ed25519");
    const encrypted = privateKey
      .export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase: "pw" })
      .toString();
    assert.throws(() => openSshPublicKey(encrypted), /flagday:aws\.sshPublicKey/);
  });
});

describe("defect 4: user data installs the SSH key and lets the SSH user run docker", () => {
  const derived = openSshPublicKey(SSH_PRIVATE_KEY);
  const userDataOf = (g: Graph, node = "node1") => hostUserDataOf(g, node);

  test("the platform derives the public half and user data installs it, in plain text", async () => {
    const { graph } = await runNetwork(aws(), network(2, V5));
    const ud = userDataOf(graph);
    assert.ok(ud.includes(`'${derived}'`), "the derived public key is in user data");
    assert.ok(!ud.includes("PRIVATE KEY"), "no private key in user data");
    const raw = graph.named("testnet-node1-server-host").inputs.userData as { secret?: boolean };
    assert.notEqual(raw?.secret, true, "user data is not a secret: a public key is not one");
    // Installed before user data waits for the ledger, so a node whose ledger never attaches is still reached.
    assert.ok(ud.indexOf("authorized_keys") < ud.indexOf("until [ -e"), "authorized_keys first");
    assert.match(ud, /usermod -aG docker 'ubuntu'/);
  });

  test("sshPublicKey: used when the private key cannot be read, refused when it is not the key's", async () => {
    const other = openSshPublicKey(
      generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    );
    const encrypted = generateKeyPairSync("ed25519")
      .privateKey.export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase: "pw" })
      .toString();
    // What the platform installs (authorizedKeyLine; it fails the preview when it throws).
    assert.throws(
      () => authorizedKeyLine(SSH_PRIVATE_KEY, other, "ubuntu"),
      /sshPublicKey .* is not the public half of flagday:sshPrivateKey/,
    );
    assert.equal(authorizedKeyLine(SSH_PRIVATE_KEY, `${derived} ops@flagday`, "ubuntu"), derived);
    assert.throws(
      () => authorizedKeyLine(encrypted, undefined, "ubuntu"),
      /Set flagday:aws\.sshPublicKey to its public half .* installs for ubuntu/,
    );
    assert.equal(authorizedKeyLine(encrypted, other, "ubuntu"), other);
    assert.equal(authorizedKeyLine(undefined, undefined, "ubuntu"), undefined);
    // The platform installs what it says.
    const given = await runNetwork(aws({ sshPrivateKey: encrypted, sshPublicKey: other }), network(2, V5));
    assert.ok(userDataOf(given.graph).includes(`'${other}'`));
    // Without a key (the platform then refuses to deploy: every start runs over SSH) user data installs none.
    assert.doesNotMatch(renderUserData({ ...BOOT_ARGS, sshAuthorizedKey: undefined }), /authorized_keys/);
  });

  test("sshPublicKey, profile and accountId are checked with the other settings", () => {
    const { sshPrivateKey: _secret, ...plain } = awsArgs();
    const problems = awsArgsProblems(
      { ...plain, sshPublicKey: "AAAA ssh-ed25519", profile: "a b", accountId: "12345" },
      "flagday:aws",
    );
    assert.ok(problems.some((p) => p.startsWith("flagday:aws.sshPublicKey must be one OpenSSH public key")));
    assert.ok(problems.some((p) => p.startsWith("flagday:aws.profile must name a profile")));
    assert.ok(problems.some((p) => p.startsWith("flagday:aws.accountId must be the 12-digit")));
    assert.deepEqual(
      awsArgsProblems(
        { ...plain, sshPublicKey: derived, profile: "ops", accountId: MOCK_ACCOUNT },
        "flagday:aws",
      ),
      [],
    );
  });

  test("the authorized_keys script: the key once however often it runs, the user in the docker group", () => {
    const home = tmp();
    const calls = join(home, "calls");
    const path = bin({
      id: `case "$1" in -u) exit 0 ;; -gn) echo ubuntu ;; *) exit 1 ;; esac`,
      getent: `case "$1" in passwd) echo "ubuntu:x:1000:1000::${home}:/bin/bash" ;; group) [ "$2" = docker ] && echo "docker:x:999:" ;; esac`,
      install: `echo "install $*" >> ${calls}; mkdir -p "\${@: -1}"`,
      chown: `echo "chown $*" >> ${calls}`,
      usermod: `echo "usermod $*" >> ${calls}`,
      useradd: `echo "useradd $*" >> ${calls}`,
    });
    const script = sshAccessScript("ubuntu", `${derived} flagday`);
    for (let i = 0; i < 2; i++) {
      const r = sh(script, {}, [path]);
      assert.equal(r.code, 0, r.err);
    }
    const keys = readFileSync(join(home, ".ssh", "authorized_keys"), "utf8");
    assert.equal(keys, `${derived} flagday\n`, "one line, however often user data runs");
    assert.equal(statSync(join(home, ".ssh", "authorized_keys")).mode & 0o777, 0o600);
    const log = readFileSync(calls, "utf8");
    assert.match(log, /install -d -m 0700 -o ubuntu -g ubuntu .*\.ssh/);
    assert.match(log, /usermod -aG docker ubuntu/);
    assert.doesNotMatch(log, /useradd/, "the AMI's user is kept");
  });
});

/** An ALB listener rule as describe-rules returns it. */
interface AlbAction {
  readonly Type: string;
  readonly TargetGroupArn?: string;
  readonly FixedResponseConfig?: { readonly StatusCode?: string };
}
interface AlbRule {
  readonly Priority: string;
  readonly Conditions: readonly {
    readonly Field: string;
    readonly Values?: readonly string[];
    readonly HostHeaderConfig?: { readonly Values?: readonly string[] };
    readonly PathPatternConfig?: { readonly Values?: readonly string[] };
  }[];
  readonly Actions: readonly AlbAction[];
  readonly IsDefault?: boolean;
}
/** What the listener does with a request, as ALB decides: the first rule by priority whose conditions all match. */
function effectiveAction(rules: readonly AlbRule[], host: string, path: string): AlbAction | undefined {
  const glob = (p: string, flags = "") =>
    new RegExp(
      `^${p
        .replace(/[.+^${}()|[\]\\]/g, "\\$&")
        .replace(/\*/g, ".*")
        .replace(/\?/g, ".")}$`,
      flags,
    );
  const matches = (c: AlbRule["Conditions"][number]) => {
    if (c.Field === "host-header") {
      return (c.HostHeaderConfig?.Values ?? c.Values ?? []).some((v) => glob(v, "i").test(host));
    }
    if (c.Field === "path-pattern") {
      return (c.PathPatternConfig?.Values ?? c.Values ?? []).some((v) => glob(v).test(path));
    }
    return false;
  };
  const order = (r: AlbRule) => (r.IsDefault || r.Priority === "default" ? Infinity : Number(r.Priority));
  const rule = [...rules].sort((a, b) => order(a) - order(b)).find((r) => r.Conditions.every(matches));
  return rule?.Actions[0];
}

describe("the AWS commands against moto's server, through the exact command text", async () => {
  let moto: Moto;
  before(async () => {
    moto = await startMoto();
  });
  after(() => moto?.stop());
  const awsJson = (...args: string[]) => moto.awsJson(...args);
  const PROFILE = { profile: "flagday-test" };

  /** A VPC with two subnets: what the ENIs and the load balancer need (one for the whole file). */
  let theVpc: { id: string; subnets: string[] } | undefined;
  const vpc = () => (theVpc ??= makeVpc());
  const makeVpc = () => {
    const id = awsJson("ec2", "create-vpc", "--cidr-block", "10.20.0.0/16").Vpc.VpcId as string;
    const subnet = (cidr: string, zone: string) =>
      awsJson("ec2", "create-subnet", "--vpc-id", id, "--cidr-block", cidr, "--availability-zone", zone)
        .Subnet.SubnetId as string;
    return { id, subnets: [subnet("10.20.1.0/24", "us-west-2a"), subnet("10.20.2.0/24", "us-west-2b")] };
  };

  test("defect 8: the gate's reject and accept, as registered, close and reopen the listener with the stack's profile", async () => {
    const v = vpc();
    const sg = awsJson(
      "ec2",
      "create-security-group",
      "--group-name",
      "gate",
      "--description",
      "gate",
      "--vpc-id",
      v.id,
    ).GroupId as string;
    const lb = awsJson(
      "elbv2",
      "create-load-balancer",
      "--name",
      "flagday-gate",
      "--type",
      "application",
      "--subnets",
      ...v.subnets,
      "--security-groups",
      sg,
    ).LoadBalancers[0].LoadBalancerArn as string;
    const tg = awsJson(
      "elbv2",
      "create-target-group",
      "--name",
      "clients",
      "--protocol",
      "HTTP",
      "--port",
      "3223",
      "--vpc-id",
      v.id,
      "--target-type",
      "ip",
    ).TargetGroups[0].TargetGroupArn as string;
    const listener = awsJson(
      "elbv2",
      "create-listener",
      "--load-balancer-arn",
      lb,
      "--protocol",
      "HTTP",
      "--port",
      "80",
      "--default-actions",
      `Type=forward,TargetGroupArn=${tg}`,
    ).Listeners[0].ListenerArn as string;
    // A client host routed to its node, as a node's route on the gate's listener is.
    awsJson(
      "elbv2",
      "create-rule",
      "--listener-arn",
      listener,
      "--priority",
      "100",
      "--conditions",
      "Field=host-header,Values=node1.test.example",
      "--actions",
      `Type=forward,TargetGroupArn=${tg}`,
    );
    // The platform's own commands, with moto's ARNs as the mocked listener's and target groups'.
    const g = await awsFlagDay(PROFILE, (type) =>
      type === "aws:lb/listener:Listener"
        ? { arn: listener }
        : type === "aws:lb/targetGroup:TargetGroup"
          ? { arn: tg }
          : {},
    );
    const reject = String(inputsOf(g.named("testnet-u1-ingress-reject")).create);
    const accept = String(inputsOf(g.named("testnet-u1-ingress-accept")).create);
    assert.match(reject, /--region us-west-2 --profile flagday-test /);
    assert.match(accept, /--region us-west-2 --profile flagday-test /);
    const defaults = () =>
      awsJson("elbv2", "describe-listeners", "--listener-arns", listener).Listeners[0].DefaultActions;
    const rules = () => awsJson("elbv2", "describe-rules", "--listener-arn", listener).Rules as AlbRule[];
    const client = (host: string) =>
      effectiveAction(rules(), host, "/consensus_client.ConsensusClientAPI/Propose");
    const before = { defaults: defaults(), node1: client("node1.test.example") };
    assert.equal(before.node1?.Type, "forward");

    let r = sh(reject, moto.env);
    assert.equal(r.code, 0, r.err);
    for (const host of ["node1.test.example", "other.test.example"]) {
      const closed = client(host);
      assert.equal(closed?.Type, "fixed-response", `${host} is answered by the gate`);
      assert.equal(closed?.FixedResponseConfig?.StatusCode, CLOSED_ACTIONS[0].FixedResponseConfig.StatusCode);
    }
    // A `pulumi refresh` or `up` while rejecting must not reopen: either the gate leaves every Pulumi-managed
    // field of the listener as it was, or the listener resource ignores its default actions.
    const listenerRes = g.named("testnet-gate-listener");
    assert.ok(
      JSON.stringify(defaults()) === JSON.stringify(before.defaults) ||
        listenerRes.ignoreChanges.includes("defaultActions"),
      "the gate changed what the listener resource manages",
    );
    r = sh(reject, moto.env);
    assert.equal(r.code, 0, `rejecting again is harmless: ${r.err}`);
    r = sh(accept, moto.env);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(client("node1.test.example"), before.node1, "node1's clients reach it again");
    // The profile is what gives the CLI its credentials here: the same command without it finds none.
    const noProfile = sh(reject.split(" --profile flagday-test").join(""), moto.env);
    assert.notEqual(noProfile.code, 0);
    assert.match(noProfile.err, /credentials/i);
  });

  /** ssh as a stand-in: records how it was called and the key it was given; runs the script locally or fails. */
  function sshStandIn(state: string) {
    return bin({
      ssh: `
printf '%s\\n' "$@" > "${state}/ssh-args"
while [ $# -gt 0 ]; do case "$1" in -i) key="$2"; shift 2 ;; -o) shift 2 ;; *) break ;; esac; done
cp "$key" "${state}/key-seen"; stat -c %a "$key" > "${state}/key-mode"; echo "$key" > "${state}/key-path"
if [ "\${SSH_EXIT:-0}" = 255 ]; then cat >/dev/null; echo "ssh: connect to host \${1#*@} port 22: Connection timed out" >&2; exit 255; fi
shift
exec "$@"`,
      docker: `
[ -n "\${DOCKER_DOWN:-}" ] && { echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock" >&2; exit 1; }
case "$1" in
  info) echo 27.1.1 ;;
  ps) : ;;
  *) echo "docker $*" >> "${state}/docker-calls" ;;
esac`,
      mountpoint: `[ -n "\${LEDGER_MOUNTED:-}" ]`,
      sync: "true",
    });
  }

  /** An ENI in moto, optionally held by an instance in `state` (one of each kind for the whole file). */
  const enis = new Map<string, { id: string; instance?: string }>();
  function eni(v: { subnets: string[] }, holder?: "running" | "stopped") {
    const known = enis.get(holder ?? "none");
    if (known) return known;
    const made = makeEni(v, holder);
    enis.set(holder ?? "none", made);
    return made;
  }
  function makeEni(v: { subnets: string[] }, holder?: "running" | "stopped") {
    const id = awsJson("ec2", "create-network-interface", "--subnet-id", v.subnets[0]).NetworkInterface
      .NetworkInterfaceId as string;
    if (!holder) return { id };
    const ami = awsJson(
      "ec2",
      "describe-images",
      "--owners",
      "amazon",
      "--query",
      "Images[0].ImageId",
    ) as string;
    const instance = awsJson(
      "ec2",
      "run-instances",
      "--image-id",
      ami,
      "--count",
      "1",
      "--instance-type",
      "t3.micro",
      "--subnet-id",
      v.subnets[0],
    ).Instances[0].InstanceId as string;
    awsJson(
      "ec2",
      "attach-network-interface",
      "--network-interface-id",
      id,
      "--instance-id",
      instance,
      "--device-index",
      "1",
    );
    if (holder === "stopped") awsJson("ec2", "stop-instances", "--instance-ids", instance);
    return { id, instance };
  }

  /** The stop and pre-flight commands the platform registered for node1, on moto's ENI. */
  const built = new Map<string, Promise<Graph>>();
  async function steps(extra: Partial<AwsPlatformArgs>, eniId: string, rollback = false) {
    const key = `${JSON.stringify(extra)}|${rollback}`;
    if (!built.has(key)) built.set(key, stepsGraph(extra, rollback));
    const run = { graph: await built.get(key)! };
    const u = rollback ? "u2" : "u1";
    const mockEni = run.graph.named("testnet-node1-identity").id;
    const text = (step: string) => {
      const r = run.graph.named(`testnet-${u}-node1-${step}`);
      const env = revealed(r.inputs.environment) as Record<string, string>;
      return { script: String(inputsOf(r).create).split(mockEni).join(eniId), env };
    };
    return { preflight: text("preflight"), stop: text("stop") };
  }
  async function stepsGraph(extra: Partial<AwsPlatformArgs>, rollback: boolean): Promise<Graph> {
    const initial = await runNetwork(aws(extra), network(2, V5));
    const up = await runNetwork(aws(extra), network(2, V6), initial.result.record);
    const run = rollback
      ? await runNetwork(aws(extra), network(2, V5), up.result.record, { rollback: true })
      : up;
    return run.graph;
  }

  function runStep(
    step: { script: string; env: Record<string, string> },
    extraEnv: Record<string, string> = {},
  ) {
    const state = tmp();
    const r = sh(step.script, { ...moto.env, ...step.env, ...extraEnv }, [VENV_BIN, sshStandIn(state)]);
    const read = (f: string) =>
      existsSync(join(state, f)) ? readFileSync(join(state, f), "utf8") : undefined;
    return { ...r, state, read };
  }

  test("pre-flight: the aws CLI's account, SSH with the key from the environment, docker, the ledger mount", async () => {
    const v = vpc();
    const { preflight } = await steps(PROFILE, eni(v, "running").id);
    assert.match(preflight.script, /aws sts get-caller-identity --region us-west-2 --profile flagday-test /);
    assert.ok(
      !preflight.script.includes(SSH_PRIVATE_KEY.split("\n")[1]),
      "the key is not in the command text",
    );
    const r = runStep(preflight, { LEDGER_MOUNTED: "1" });
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`acts on account ${MOCK_ACCOUNT}`));
    assert.match(r.out, /pre-flight of node1 ok: .*docker 27\.1\.1, \/ledger mounted/);
    // The key reached ssh as a file only its owner reads, never as an argument, and is gone afterwards.
    // The whole key, ending in a newline (OpenSSH refuses a key file without one; a blank line after is fine).
    assert.equal(r.read("key-seen")?.trim(), SSH_PRIVATE_KEY.trim());
    assert.match(r.read("key-seen")!, /-----\n+$/);
    assert.equal(r.read("key-mode")?.trim(), "600");
    assert.ok(!r.read("ssh-args")!.includes("PRIVATE KEY"));
    assert.ok(!existsSync(r.read("key-path")!.trim()), "the key file is removed");
    assert.match(r.read("ssh-args")!, /^BatchMode=yes$/m);
  });

  test("pre-flight fails, before any SSH, when the aws CLI acts on another account or cannot act", async () => {
    const v = vpc();
    const id = eni(v, "running").id;
    const other = await steps({ ...PROFILE, accountId: "210987654321" }, id);
    let r = runStep(other.preflight, { LEDGER_MOUNTED: "1" });
    assert.notEqual(r.code, 0);
    assert.match(
      r.err,
      new RegExp(`acts on account ${MOCK_ACCOUNT}, but this stack's resources are in account 210987654321`),
    );
    assert.equal(r.read("ssh-args"), undefined, "no node was touched");
    const missing = await steps({ profile: "nobody" }, id);
    r = runStep(missing.preflight, { LEDGER_MOUNTED: "1" });
    assert.notEqual(r.code, 0);
    assert.match(r.err, /could not be found/);
    assert.match(
      r.err,
      /cannot call AWS as the stack does \(aws \.\.\. --region us-west-2 --profile nobody\)/,
    );
  });

  test("pre-flight fails on the node: docker not answering, or the ledger not mounted before a migration", async () => {
    const v = vpc();
    const { preflight } = await steps(PROFILE, eni(v, "running").id);
    let r = runStep(preflight, { LEDGER_MOUNTED: "1", DOCKER_DOWN: "1" });
    assert.notEqual(r.code, 0);
    assert.match(r.err, /docker does not answer for .*Cannot connect to the Docker daemon/);
    r = runStep(preflight, {});
    assert.notEqual(r.code, 0);
    assert.match(r.err, /\/ledger is not mounted/);
    // A restore does not migrate on the node: its pre-flight does not ask for the mount.
    const back = await steps(PROFILE, eni(v, "running").id, true);
    r = runStep(back.preflight, {});
    assert.equal(r.code, 0, r.err);
  });

  test("no running instance on the node: a flag day's pre-flight fails, a restore's passes", async () => {
    const v = vpc();
    const none = eni(v).id;
    const flag = await steps(PROFILE, none);
    let r = runStep(flag.preflight, { SSH_EXIT: "255" });
    assert.notEqual(r.code, 0);
    assert.match(r.err, /the migration runs on the node's instance, and none runs.*\(no instance holds eni-/);
    const back = await steps(PROFILE, none, true);
    r = runStep(back.preflight, { SSH_EXIT: "255" });
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /nothing runs there: the stop counts it as stopped/);
  });

  test("defect 3: a stop on a node that no running instance holds succeeds; one that runs and cannot be reached fails", async () => {
    const v = vpc();
    const unattached = eni(v);
    let { stop } = await steps(PROFILE, unattached.id);
    let r = runStep(stop, { SSH_EXIT: "255" });
    assert.equal(r.code, 0, r.err);
    assert.match(
      r.out,
      new RegExp(
        `node1: nothing runs there, so it counts as stopped \\(no instance holds ${unattached.id}\\)`,
      ),
    );

    const stopped = eni(v, "stopped");
    ({ stop } = await steps(PROFILE, stopped.id));
    r = runStep(stop, { SSH_EXIT: "255" });
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`its instance ${stopped.instance} is stopped`));

    const running = eni(v, "running");
    ({ stop } = await steps(PROFILE, running.id));
    r = runStep(stop, { SSH_EXIT: "255" });
    assert.notEqual(r.code, 0);
    assert.match(
      r.err,
      new RegExp(
        `instance ${running.instance} \\(running\\) holds ${running.id}, but SSH to ubuntu@\\S+ fails`,
      ),
    );

    // Reached: the stop script runs on the node (nothing to stop there) and its exit code is the step's.
    r = runStep(stop, {});
    assert.equal(r.code, 0, r.err);
  });

  test("an SSH step without its key fails before connecting", () => {
    const script = sshStepScript({
      node: "node1",
      host: "10.20.1.5",
      user: "ubuntu",
      eniId: "eni-0123456789abcdef0",
      cli: { region: "us-west-2" },
      remote: "true",
      noInstance: { ok: "stopped" },
    });
    const state = tmp();
    const r = sh(script, {}, [sshStandIn(state)]);
    assert.notEqual(r.code, 0);
    assert.match(r.err, /no SSH key in FLAGDAY_SSH_KEY/);
    assert.equal(existsSync(join(state, "ssh-args")), false);
  });
});

describe("docker for the SSH user: directly in the docker group, else sudo -n", () => {
  const script = (id: string) => {
    const state = tmp();
    const path = bin({
      id: id,
      sudo: `echo "sudo $*" >> ${state}/calls; [ "$1" = -n ] && shift; exec "$@"`,
      docker: `echo "docker $*" >> ${state}/calls`,
    });
    return { path, calls: () => readFileSync(join(state, "calls"), "utf8") };
  };
  test("a user outside the docker group goes through sudo -n", () => {
    const s = script(`case "$1" in -u) echo 1000 ;; -nG) echo "ubuntu adm" ;; esac`);
    const r = sh(`${dockerPrivilegePrelude()}\ndocker ps`, {}, [s.path]);
    assert.equal(r.code, 0, r.err);
    assert.equal(s.calls(), "sudo -n docker ps\ndocker ps\n");
  });
  test("a member of the docker group runs docker directly", () => {
    const s = script(`case "$1" in -u) echo 1000 ;; -nG) echo "ubuntu adm docker" ;; esac`);
    const r = sh(`${dockerPrivilegePrelude()}\ndocker ps`, {}, [s.path]);
    assert.equal(r.code, 0, r.err);
    assert.equal(s.calls(), "docker ps\n");
  });
  test("the migrate step on the node settles docker's privileges first", async () => {
    const initial = await runNetwork(aws(), network(2, V5));
    const up = await runNetwork(aws(), network(2, V6), initial.result.record);
    const migrate = String(inputsOf(up.graph.named("testnet-u1-node1-migrate")).create);
    assert.ok(migrate.startsWith(dockerPrivilegePrelude()), migrate.slice(0, 200));
  });
});

describe("Kubernetes pre-flight: kubectl auth can-i for what the stages do, and the node's Deployment", () => {
  const kubectlStandIn = (deny: readonly string[], deployments: string) => {
    const state = tmp();
    const path = bin({
      kubectl: `
echo "kubectl $*" >> ${state}/calls
args="$*"
case "$args" in
  *"auth can-i --quiet "*) what="\${args#*auth can-i --quiet }"
    for d in ${deny.map((d) => `'${d}'`).join(" ")}; do [ "$what" = "$d" ] && exit 1; done; exit 0 ;;
  *"get deployment"*) printf '%s' ${JSON.stringify(deployments)} ;;
esac`,
    });
    return { path, calls: () => readFileSync(join(state, "calls"), "utf8") };
  };

  test("registered per node with the platform's context and namespace, and the sequence's permissions", async () => {
    const initial = await runNetwork(kube(), network(3, V5));
    const up = await runNetwork(kube(), network(3, V6), initial.result.record);
    const cmd = String(inputsOf(up.graph.named("testnet-u1-node2-preflight")).create);
    assert.match(cmd, /kubectl --context 'testnet-cluster' -n 'mc-testnet' auth can-i --quiet \$a/);
    for (const a of [
      "patch deployments --subresource=scale",
      "patch ingresses.networking.k8s.io",
      "create jobs.batch",
      "create volumesnapshots.snapshot.storage.k8s.io",
    ]) {
      assert.ok(cmd.includes(`'${a}'`), `flag day asks for ${a}`);
    }
    const back = await runNetwork(kube(), network(3, V5), up.result.record, { rollback: true });
    const restore = String(inputsOf(back.graph.named("testnet-u2-node2-preflight")).create);
    assert.ok(restore.includes("'create persistentvolumeclaims'"));
    assert.ok(!restore.includes("'create jobs.batch'"), "a restore runs no Job");
  });

  const cmd = preflightCommand(
    "kubectl --context 'c' -n 'ns'",
    "node2",
    { "app.kubernetes.io/instance": "node2" },
    accessFor(FLAG_DAY.map((s) => s.name)),
  );
  test("everything allowed and the Deployment there: passes", () => {
    const k = kubectlStandIn([], "deployment.apps/node2-abc123");
    const r = sh(cmd, {}, [k.path]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /pre-flight of node2: ok: deployment\.apps\/node2-abc123/);
    assert.match(k.calls(), /get deployment -l app\.kubernetes\.io\/instance=node2 -o name/);
  });
  test("a denied permission fails naming every denial", () => {
    const k = kubectlStandIn(
      ["patch ingresses.networking.k8s.io", "create jobs.batch"],
      "deployment.apps/node2-abc",
    );
    const r = sh(cmd, {}, [k.path]);
    assert.notEqual(r.code, 0);
    // In stage order: the prepare stage's pre-pull Job comes before the gate.
    assert.match(r.err, /may not: create jobs\.batch; patch ingresses\.networking\.k8s\.io/);
  });
  test("no Deployment where kubectl looks (wrong context or namespace): fails", () => {
    const k = kubectlStandIn([], "");
    const r = sh(cmd, {}, [k.path]);
    assert.notEqual(r.code, 0);
    assert.match(
      r.err,
      /no Deployment labelled app\.kubernetes\.io\/instance=node2 .*wrong context or namespace/,
    );
  });
});

describe("local pre-flight: the node's folder, its ledger and the simulator", () => {
  test("there: passes; a missing ledger or simulator fails naming it", () => {
    const dir = tmp();
    mkdirSync(join(dir, "ledger"));
    const sim = join(bin({ sim: "exit 0" }), "sim");
    let r = sh(preflightScript({ sim, node: "node1", dir, ledger: join(dir, "ledger") }), {});
    assert.equal(r.code, 0, r.err);
    r = sh(preflightScript({ sim, node: "node1", dir, ledger: join(dir, "nope") }), {});
    assert.notEqual(r.code, 0);
    assert.match(r.err, /pre-flight of node1: its ledger .*nope is missing/);
    r = sh(
      preflightScript({ sim: join(dir, "no-sim"), node: "node1", dir, ledger: join(dir, "ledger") }),
      {},
    );
    assert.notEqual(r.code, 0);
    assert.match(r.err, /the simulator .* does not run/);
  });
});
