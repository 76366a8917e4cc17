/** Releases, networks and programs the component tests share. */
import type { DeploymentInputs } from "../../components/kubernetes/specs";
import { generateKeyPairSync } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { awsPlatform, AwsPlatformArgs, UserDataArgs } from "../../components/aws";
import { kubernetesPlatform, KubernetesPlatformArgs } from "../../components/kubernetes";
import { ConsensusNetwork, ConsensusNetworkArgs } from "../../components/consensusNetwork";
import { NetworkSpec, NodeSpec } from "../../components/network";
import { Deployed } from "../../components/plan";
import { Platform } from "../../components/platform";
import { EnclaveRelease } from "../../components/release";
import { captureGraph, Capture, CaptureOptions, Graph, revealed } from "../graph/harness";

export const hex = (c: string) => c.repeat(64).slice(0, 64);

/**
 * Software-mode builds (sgxMode), so that every platform's graph, AWS included, can be built from the same
 * releases: the AWS platform refuses hardware mode (EC2 has no SGX). aws-safety.test.ts covers hardware mode.
 */
export const V5: EnclaveRelease = {
  version: "v5.2.3",
  mrenclave: hex("a1"),
  mrsigner: hex("5f"),
  enclaveUri: "https://enclave-distribution.test.mobilecoin.com/pool/abc/5f/libconsensus-enclave.signed.so",
  enclaveSha256: hex("e5"),
  tokensConfigDigest: hex("70"),
  blockVersion: 3,
  sgxMode: "software",
};

export const V6: EnclaveRelease = {
  ...V5,
  version: "v6.0.0",
  mrenclave: hex("b2"),
  enclaveSha256: hex("e6"),
  blockVersion: 4,
  migrations: ["mc-util-migrate --ledger /ledger --step 1", "mc-util-migrate --ledger /ledger --step 2"],
};

export function network(
  n: number,
  release: EnclaveRelease = V5,
  extra: Partial<NetworkSpec> = {},
): NetworkSpec {
  const nodes: NodeSpec[] = Array.from({ length: n }, (_, i) => ({ name: `node${i + 1}` }));
  return {
    name: "testnet",
    chainId: "test",
    release,
    quorumThreshold: Math.floor(n / 2) + 1,
    nodes,
    ...extra,
  };
}

/**
 * The flag-day SSH key of the AWS fixtures: a real Ed25519 key (PKCS#8 PEM), made for this test run only, so
 * that the platform can derive the public half user data installs.
 */
export const SSH_PRIVATE_KEY = generateKeyPairSync("ed25519")
  .privateKey.export({ type: "pkcs8", format: "pem" })
  .toString();

export function awsArgs(extra: Partial<AwsPlatformArgs> = {}): AwsPlatformArgs {
  return {
    region: "us-west-2",
    vpcId: "vpc-0123456789abcdef0",
    subnets: [
      { id: "subnet-0aaaaaaaaaaaaaaa1", availabilityZone: "us-west-2a" },
      { id: "subnet-0bbbbbbbbbbbbbbb2", availabilityZone: "us-west-2b" },
    ],
    securityGroupIds: ["sg-0123456789abcdef0"],
    ami: "ami-0123456789abcdef0",
    iamInstanceProfile: "flagday-consensus-node",
    msgSignerKeyArn: "arn:aws:ssm:us-west-2:123456789012:parameter/flagday/testnet/{node}/msg-signer-key",
    tokensConfigUri: "s3://flagday-testnet-config/tokens.signed.json",
    clientHost: "{node}.test.mobilecoin.com",
    sshPrivateKey: pulumi.secret(SSH_PRIVATE_KEY),
    ingress: {
      subnetIds: ["subnet-0ccccccccccccccc3", "subnet-0ddddddddddddddd4"],
      securityGroupIds: ["sg-0fedcba9876543210"],
      certificateArn: "arn:aws:acm:us-west-2:123456789012:certificate/0000-mock",
    },
    ...extra,
  };
}

/** One node's boot script arguments: node1 of a three-node network, its peers by their private addresses. */
export const BOOT_ARGS: UserDataArgs = {
  region: "us-west-2",
  chainId: "test",
  blockVersion: 4,
  image: "mobilecoin/node_hw:v6.0.0-test",
  logLevel: "info",
  ip: "10.0.0.5",
  clientHost: "node1.test.mobilecoin.com",
  peers: [
    { name: "node2", ip: "10.0.0.6" },
    { name: "node3", ip: "10.0.0.7" },
  ],
  threshold: 2,
  ledgerVolumeId: "vol-0123456789abcdef0",
  msgSignerKeyArn: "arn:aws:ssm:us-west-2:123456789012:parameter/flagday/testnet/node1/msg-signer-key",
  tokensConfigUri: "s3://bucket/tokens.signed.json",
  tokensConfigDigest: hex("70"),
  enclaveSha256: hex("e6"),
  generation: "initial",
};

export interface RunResult {
  readonly net: ConsensusNetwork;
  readonly record: Deployed;
}

/** Runs a ConsensusNetwork program under mocks; the platform is built inside, as a stack program would. */
export async function runNetwork(
  makePlatform: () => Platform,
  spec: NetworkSpec,
  deployed?: Deployed,
  extra: Partial<ConsensusNetworkArgs> = {},
  /** How the mocks answer (e.g. `call`, to see or override provider lookups). */
  options: CaptureOptions = {},
): Promise<Capture<RunResult>> {
  let net: ConsensusNetwork | undefined;
  const capture = await captureGraph(() => {
    net = new ConsensusNetwork("flagday", {
      network: spec,
      platform: makePlatform(),
      deployed,
      // The maintenance-window gate is core's and tested there; these tests are about the graph.
      windowOverride: "resource-graph test under mocks",
      ...extra,
    });
    return net.record;
  }, options);
  return { graph: capture.graph, result: { net: net!, record: capture.result as unknown as Deployed } };
}

export const aws =
  (extra: Partial<AwsPlatformArgs> = {}) =>
  () =>
    awsPlatform(awsArgs(extra));

export const K8S_ARGS: KubernetesPlatformArgs = {
  namespace: "mc-testnet",
  clientHost: "{node}.test.mobilecoin.com",
  volumeSnapshotClassName: "csi-snapclass",
  msgSignerKeySecret: "{node}-msg-signer-key",
  tokensConfigMap: "tokens-config",
  context: "testnet-cluster",
};

/** What the cluster would say of the flag day's VolumeSnapshots: every one ready, at height 12. */
export const FAKE_CLUSTER_SNAPSHOTS = async (names: readonly string[]) =>
  Object.fromEntries(names.map((n) => [n, { readyToUse: true, height: 12 }]));

export const kube =
  (extra: Partial<KubernetesPlatformArgs> = {}) =>
  () =>
    kubernetesPlatform({ ...K8S_ARGS, ...extra, snapshotLookup: FAKE_CLUSTER_SNAPSHOTS });

/** A node's Deployment inputs as the Kubernetes platform passes them (no SGX), for deploymentSpec's own tests. */
export const DEPLOYMENT_INPUTS: DeploymentInputs = {
  node: "node1",
  namespace: "mc-testnet",
  image: "mobilecoin/node_hw:v6.0.2-test",
  claim: "node1-data",
  networkConfigMap: "node1-network",
  tokensConfigMap: "tokens-config",
  tokensConfigDigest: "d4".repeat(32),
  chainId: "test",
  blockVersion: 4,
  logLevel: "info",
  clientHost: "node1.test.mobilecoin.com",
  msgSignerKeySecret: "node1-msg-signer-key",
  resources: { requests: {}, limits: {} },
  labels: { app: "consensus-node" },
  selector: { app: "consensus-node" },
};

/** A node's host user data (its instance, `<network>-<node>-server-host`) as the graph registered it. */
export const hostUserDataOf = (g: Graph, node: string, network = "testnet"): string =>
  String((revealed(g.named(`${network}-${node}-server-host`).inputs) as { userData?: unknown }).userData);

/** A node's server script: the start step's command (`<network>-<node>-server`), which runs the release over SSH. */
export const serverScriptOf = (g: Graph, node: string, network = "testnet"): string =>
  String((revealed(g.named(`${network}-${node}-server`).inputs) as { create?: unknown }).create);
