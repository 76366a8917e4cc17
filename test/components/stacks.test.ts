/**
 * The stack files parse as YAML, and what they hold passes the same validation `pulumi up` runs (network,
 * releases, flagday:kubernetes or flagday:aws), with the real networks' shapes: a stack file that would fail at
 * preview fails here. Testnet and mainnet run hardware-mode enclaves, so they are on the Kubernetes platform with
 * SGX scheduling (EC2 has no SGX); the AWS platform's example is the software-mode development network.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { awsArgsProblems, awsReleaseProblems } from "../../components/aws";
import { ownNodes } from "../../components/consensusNetwork";
import {
  KubernetesPlatformArgs,
  kubernetesArgsProblems,
  kubernetesNodeSettingsProblems,
  kubernetesReleaseProblems,
} from "../../components/kubernetes";
import { NetworkSpec, networkProblems, peerHostProblems } from "../../components/network";
import { EnclaveRelease, sgxModeOf } from "../../components/release";

// js-yaml comes with @pulumi/pulumi (which parses these files with it); it ships no typings.
const yaml = require("js-yaml") as { load(text: string): unknown };

type StackConfig = Record<string, unknown>;

function stack(name: string): StackConfig {
  const text = readFileSync(join(__dirname, "..", "..", "stacks", `Pulumi.${name}.yaml`), "utf8");
  return (yaml.load(text) as { config: StackConfig }).config;
}

/** flagday:network with its release resolved from flagday:releases, as stacks/index.ts does. */
function networkOf(config: StackConfig): NetworkSpec {
  const raw = config["flagday:network"] as Omit<NetworkSpec, "release"> & {
    release: string | EnclaveRelease;
  };
  const releases = config["flagday:releases"] as Record<string, EnclaveRelease>;
  const release = typeof raw.release === "string" ? releases[raw.release] : raw.release;
  return { ...raw, release };
}

describe("testnet and mainnet: Kubernetes on SGX nodes", () => {
  for (const [name, nodes, threshold, chainId] of [
    ["testnet", 5, 3, "test"],
    ["mainnet", 10, 7, "main"],
  ] as const) {
    test(`${name}: ${nodes} nodes, ${threshold} of ${nodes}, chain ${chainId}, valid network and Kubernetes settings`, () => {
      const config = stack(name);
      assert.equal(config["flagday:platform"], "kubernetes");
      const network = networkOf(config);
      assert.deepEqual(networkProblems(network), []);
      assert.equal(network.nodes.length, nodes);
      assert.equal(network.quorumThreshold, threshold);
      assert.equal(network.chainId, chainId);
      const kube = config["flagday:kubernetes"] as KubernetesPlatformArgs;
      assert.deepEqual(kubernetesArgsProblems(kube, "flagday:kubernetes"), []);
      // The provider and the kubectl steps act on the same cluster.
      assert.equal(kube.context, config["kubernetes:context"]);
      // No AWS settings left behind to mislead: the enclave cannot run on EC2.
      assert.equal(config["flagday:aws"], undefined);
      // Nothing on Kubernetes uses SSH; no secret key is ever a plain value in the file.
      assert.equal(config["flagday:sshPrivateKey"], undefined);
    });

    test(`${name}: a hardware-mode release, scheduled onto SGX nodes as MobileCoin's chart does`, () => {
      const config = stack(name);
      const network = networkOf(config);
      const kube = config["flagday:kubernetes"] as KubernetesPlatformArgs;
      assert.equal(network.release.sgxMode, "hardware", "stated, not left to the default");
      assert.deepEqual(kubernetesReleaseProblems(network, kube), []);
      assert.deepEqual(kube.sgxResources, { "sgx.intel.com/epc": "512Ki" });
      assert.deepEqual(kube.nodeSelector, { dcap: "true" });
      assert.deepEqual(kube.tolerations, [
        { key: "dcap", operator: "Equal", value: "true", effect: "NoSchedule" },
      ]);
      assert.equal(kube.sgxQuoteProvider, "in-process");
      assert.equal(kube.imageRepository, "mobilecoin/node_hw");
    });

    test(`${name}: several operators; this copy names its operator, the board, and every other node's peer host`, () => {
      const config = stack(name);
      const network = networkOf(config);
      const names = (network.operators ?? []).map((o) => o.name);
      assert.ok(names.length >= 2, "the real network has several operators");
      // A network with operators needs flagday:operator (ConsensusNetwork refuses it otherwise), one with nodes.
      const operator = config["flagday:operator"] as string;
      assert.ok(names.includes(operator), `flagday:operator ${operator} is one of ${names.join(", ")}`);
      assert.ok(ownNodes(network, { operator }).length > 0);
      assert.deepEqual(peerHostProblems(network, operator), []);
      assert.deepEqual(kubernetesNodeSettingsProblems(network, undefined, operator), []);
      const board = config["flagday:board"] as { s3?: { bucket?: string; region?: string } };
      assert.ok(board.s3?.bucket && board.s3.region, "a real network's board is an S3 bucket");
      // The operator's signing key is a secret set with the CLI, never a plain value in the file.
      assert.equal(config["flagday:operatorKey"], undefined);
    });
  }
});

describe("devnet: the AWS platform's example, in software mode", () => {
  test("devnet: 3 nodes, 2 of 3, chain dev, valid network and AWS settings", () => {
    const config = stack("devnet");
    assert.equal(config["flagday:platform"], "aws");
    const network = networkOf(config);
    assert.deepEqual(networkProblems(network), []);
    assert.equal(network.nodes.length, 3);
    assert.equal(network.quorumThreshold, 2);
    assert.equal(network.chainId, "dev");
    assert.deepEqual(awsArgsProblems(config["flagday:aws"], "flagday:aws"), []);
    assert.equal((config["flagday:aws"] as { region: string }).region, config["aws:region"]);
    // The SSH key is a secret set with the CLI, never a plain value in the file.
    assert.equal(config["flagday:sshPrivateKey"], undefined);
  });

  test("devnet: a software-mode release the AWS platform runs, from an image that is not MobileCoin's node_hw", () => {
    const config = stack("devnet");
    const network = networkOf(config);
    assert.equal(sgxModeOf(network.release), "software");
    assert.deepEqual(awsReleaseProblems(network), []);
    const releases = Object.values(config["flagday:releases"] as Record<string, EnclaveRelease>);
    assert.ok(
      releases.every((r) => sgxModeOf(r) === "software"),
      "every release in the catalogue",
    );
    const image = (config["flagday:aws"] as { imageRepository?: string }).imageRepository;
    assert.ok(image && !/node_hw/.test(image), `a software-mode build's image, not ${image}`);
    // Every AWS piece a flag day uses is configured: the ledger volumes, the instances and the ALB gate.
    const aws = config["flagday:aws"] as Record<string, unknown>;
    for (const key of ["ledgerSizeGiB", "ami", "instanceType", "ingress"])
      assert.ok(aws[key] !== undefined, key);
  });
});
