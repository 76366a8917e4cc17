/**
 * The AWS stack files parse as YAML, and what they hold passes the same validation `pulumi up` runs (network,
 * releases, flagday:aws), with the real networks' shapes: a stack file that would fail at preview fails here.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { awsArgsProblems } from "../../components/aws";
import { NetworkSpec, networkProblems } from "../../components/network";
import { EnclaveRelease } from "../../components/release";

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

describe("AWS stack files", () => {
  for (const [name, nodes, threshold, chainId] of [
    ["testnet", 5, 3, "test"],
    ["mainnet", 10, 7, "main"],
  ] as const) {
    test(`${name}: ${nodes} nodes, ${threshold} of ${nodes}, chain ${chainId}, valid network and AWS settings`, () => {
      const config = stack(name);
      assert.equal(config["flagday:platform"], "aws");
      const network = networkOf(config);
      assert.deepEqual(networkProblems(network), []);
      assert.equal(network.nodes.length, nodes);
      assert.equal(network.quorumThreshold, threshold);
      assert.equal(network.chainId, chainId);
      assert.deepEqual(awsArgsProblems(config["flagday:aws"], "flagday:aws"), []);
      assert.equal((config["flagday:aws"] as { region: string }).region, config["aws:region"]);
      // The SSH key is a secret set with the CLI, never a plain value in the file.
      assert.equal(config["flagday:sshPrivateKey"], undefined);
    });
  }
});
