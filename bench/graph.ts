/**
 * How long building a flag day's resource graph takes, under Pulumi mocks, on the AWS platform: the program's
 * own cost (validation, planning, wiring every stage), without any cloud. Prints one line per size:
 *   BENCH graph nodes=<n> seconds=<s>
 * Targets: 100 nodes under 5 s, and 100 nodes under 12x the time of 10 (the wiring is close to linear; the
 * barriers between stages add n^2 dependency edges, which must stay cheap).
 */
import { generateKeyPairSync } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import * as settings from "@pulumi/pulumi/runtime/settings";
import { AwsPlatformArgs, awsPlatform } from "../components/aws";
import { ConsensusNetwork } from "../components/consensusNetwork";
import { NetworkSpec } from "../components/network";
import { EnclaveRelease } from "../components/release";

/**
 * A release with made-up measurements of the right shape: `fill` is the MRENCLAVE's hex byte. A software-mode
 * build, which the AWS platform accepts (EC2 has no SGX).
 */
function release(version: string, fill: string, extra: Partial<EnclaveRelease> = {}): EnclaveRelease {
  const hex = (byte: string) => byte.repeat(32);
  return {
    version,
    mrenclave: hex(fill),
    mrsigner: hex("5f"),
    enclaveUri: `https://enclave-distribution.test.mobilecoin.com/pool/${version}/libconsensus-enclave.signed.so`,
    enclaveSha256: hex(`e${fill[1]}`),
    tokensConfigDigest: hex("70"),
    blockVersion: 3,
    sgxMode: "software",
    ...extra,
  };
}

const FROM = release("v5.2.3", "a1");
/** A flag day with migrations, so every stage has its steps. */
const TO = release("v6.0.0", "b2", {
  blockVersion: 4,
  migrations: ["mc-util-migrate --step 1", "mc-util-migrate --step 2"],
});

/** Placeholder AWS resources: nothing is called, the provider is mocked. */
const id = (prefix: string, n: number) => `${prefix}-0${String(n).padStart(16, "0")}`;
const AWS: AwsPlatformArgs = {
  region: "us-west-2",
  vpcId: id("vpc", 1),
  subnets: ["a", "b", "c"].map((zone, i) => ({
    id: id("subnet", i + 1),
    availabilityZone: `us-west-2${zone}`,
  })),
  securityGroupIds: [id("sg", 1)],
  ami: id("ami", 1),
  iamInstanceProfile: "flagday-bench-node",
  msgSignerKeyArn: "arn:aws:ssm:us-west-2:123456789012:parameter/flagday/bench/{node}/msg-signer-key",
  tokensConfigUri: "s3://flagday-bench/tokens.signed.json",
  clientHost: "{node}.bench.example.com",
  // A real key: the platform derives the public half user data installs. The account is given, as the mocks
  // answer no sts:GetCallerIdentity.
  sshPrivateKey: pulumi.secret(
    generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
  ),
  accountId: "123456789012",
  ingress: {
    subnetIds: [id("subnet", 4), id("subnet", 5)],
    securityGroupIds: [id("sg", 2)],
    certificateArn: "arn:aws:acm:us-west-2:123456789012:certificate/bench",
  },
};

/** What the mocked cloud answers beyond the inputs: the outputs the program reads back. */
function mockOutputs(type: string, name: string): Record<string, unknown> {
  if (type === "aws:ec2/networkInterface:NetworkInterface") return { privateIp: "10.0.0.10" };
  if (type.startsWith("aws:lb/"))
    return { arn: `arn:aws:elasticloadbalancing:mock:${name}`, dnsName: "mock" };
  // The quiesce check reports the common height; the record reads it from the step's output.
  if (type.startsWith("command:"))
    return { stdout: name.endsWith("-quiesce") ? "height=4242" : "", stderr: "" };
  return {};
}

/** Builds the flag day FROM -> TO on `n` nodes under mocks, until the SDK has sent every registration. */
async function flagDayGraphSeconds(n: number): Promise<number> {
  await pulumi.runtime.setMocks(
    {
      newResource: (a) => ({ id: `${a.name}-id`, state: { ...a.inputs, ...mockOutputs(a.type, a.name) } }),
      // EC2's answer for a subnet: its zone, as the placeholders above state it.
      call: (a) =>
        a.token === "aws:ec2/getSubnet:getSubnet"
          ? { ...a.inputs, availabilityZone: AWS.subnets.find((s) => s.id === a.inputs.id)?.availabilityZone }
          : a.inputs,
    },
    "flagday",
    "bench",
    false,
  );
  const network: NetworkSpec = {
    name: "bench",
    chainId: "test",
    release: TO,
    quorumThreshold: Math.floor(n / 2) + 1,
    nodes: Array.from({ length: n }, (_, i) => ({ name: `node${i + 1}` })),
  };
  const start = process.hrtime.bigint();
  const net = new ConsensusNetwork("flagday", {
    network,
    platform: awsPlatform(AWS),
    deployed: { release: FROM, history: [] },
    windowOverride: "graph benchmark under mocks",
  });
  await new Promise((resolve) => net.record.apply(resolve));
  // waitForRPCs is internal to the SDK (not in its typings) but exported at run time: it is what
  // `pulumi.runtime.disconnect` awaits before a program exits.
  await (settings as unknown as { waitForRPCs: () => Promise<void> }).waitForRPCs();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (net.plan.kind !== "transition") throw new Error("bench: expected a flag day");
  return seconds;
}

export async function benchGraph(sizes: readonly number[] = [10, 100]): Promise<Record<number, number>> {
  // The SDK records a stack trace for every promise it makes. Run through tsx, Node maps each one through the
  // TypeScript source maps, which was most of the time measured (5.8 s of 100 nodes, against 3.6 s without):
  // a cost of running .ts in-process, not of the program. The figures below are without it.
  const sourceMaps = process.sourceMapsEnabled;
  process.setSourceMapsEnabled(false);
  try {
    return await measureGraph(sizes);
  } finally {
    process.setSourceMapsEnabled(sourceMaps);
  }
}

async function measureGraph(sizes: readonly number[]): Promise<Record<number, number>> {
  // One small run first, so module loading and the JIT's warm-up are not billed to the first size.
  await flagDayGraphSeconds(3);
  const out: Record<number, number> = {};
  for (const n of sizes) {
    out[n] = await flagDayGraphSeconds(n);
    console.log(`BENCH graph nodes=${n} seconds=${out[n].toFixed(3)}`);
  }
  return out;
}
