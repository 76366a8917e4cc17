import * as pulumi from "@pulumi/pulumi";
import {
  ConsensusNetwork,
  Deployed,
  EnclaveRelease,
  MaintenanceWindow,
  NetworkSpec,
  Platform,
} from "../components";
import { localPlatform, localPlatformArgs } from "../components/local/platform";
import { awsPlatformArgs } from "../components/aws/args";
import { awsPlatform } from "../components/aws/platform";
import { kubernetesPlatform } from "../components/kubernetes/platform";
import { kubernetesPlatformArgs } from "../components/kubernetes/args";

/**
 * The flagday program behind every stack (stacks/Pulumi.<stack>.yaml). It reads the network from config, what
 * the last successful `pulumi up` recorded from the stack's own `flagday` output, and lets ConsensusNetwork
 * decide: first deployment, nothing to do, a rolling change, a flag day or a rollback.
 */
export = async () => {
  const config = new pulumi.Config("flagday");
  const network = networkFromConfig(config);
  const deployed = await readRecord(
    `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`,
  );
  const platform = platformFromConfig(config);
  const overrides = config.getBoolean("acceptDataLoss") ? ["accept-data-loss"] : [];
  const abort = config.get("abort");
  const testnetStack = config.get("testnetStack");
  const net = new ConsensusNetwork(network.name, {
    network,
    platform,
    deployed,
    rollback: config.getBoolean("rollback"),
    abort: abort === undefined ? undefined : releaseNamed(config, abort, "flagday:abort"),
    overrides,
    checks: config.getObject("checks"),
    window: config.getObject<MaintenanceWindow>("window"),
    windowOverride: config.get("windowOverride"),
    testnet: testnetStack ? { stack: testnetStack, record: await readRecord(testnetStack) } : undefined,
    testnetOverride: config.get("testnetOverride"),
  });
  // The record is the only output, and it changes only when a transition completes: a re-run with nothing
  // changed shows no difference at all.
  return { flagday: net.record };
};

/**
 * `flagday:network` with its `release` either inline or the name of an entry in `flagday:releases`, and
 * `flagday:release` (a name) overriding it: the catalogue lets a stack file hold both sides of a flag day.
 */
function networkFromConfig(config: pulumi.Config): NetworkSpec {
  const raw = config.requireObject<Omit<NetworkSpec, "release"> & { release: EnclaveRelease | string }>(
    "network",
  );
  const chosen = config.get("release") ?? raw.release;
  const where = config.get("release") !== undefined ? "flagday:release" : "flagday:network.release";
  return { ...raw, release: typeof chosen === "string" ? releaseNamed(config, chosen, where) : chosen };
}

/** A release from the stack's catalogue `flagday:releases`, by name. */
function releaseNamed(config: pulumi.Config, name: string, where: string): EnclaveRelease {
  const releases = config.getObject<Record<string, EnclaveRelease>>("releases") ?? {};
  const release = releases[name];
  if (!release) {
    const known = Object.keys(releases);
    throw new Error(
      `flagday: ${where} names the release "${name}", which is not in flagday:releases` +
        (known.length ? ` (known: ${known.join(", ")}).` : ": add it there, or give the release inline."),
    );
  }
  return release;
}

function platformFromConfig(config: pulumi.Config): Platform {
  const name = config.get("platform") ?? "local";
  switch (name) {
    case "local":
      return localPlatform({
        ...localPlatformArgs(config.getObject("local"), pulumi.getRootDirectory(), pulumi.getStack()),
        msgSignerKeys: config.getSecretObject<Record<string, string>>("msgSignerKeys"),
      });
    case "aws":
      return awsPlatform({
        ...awsPlatformArgs(config.requireObject("aws"), "flagday:aws"),
        // Only a flag day needs it (stop and migrate run over SSH); the platform says so if it is missing.
        sshPrivateKey: config.getSecret("sshPrivateKey"),
      });
    case "kubernetes":
      return kubernetesPlatform(
        kubernetesPlatformArgs(config.requireObject("kubernetes"), "flagday:kubernetes"),
      );
    default:
      throw new Error(`flagday:platform must be one of local, aws, kubernetes (got "${name}").`);
  }
}

/**
 * A stack's `flagday` output from its last successful update, read through a stack reference: this stack's own
 * (what is deployed) or the testnet stack's (what has completed there).
 */
async function readRecord(stack: string): Promise<Deployed | undefined> {
  const ref = new pulumi.StackReference(stack);
  const out = await ref.getOutputDetails("flagday");
  return (out.value ?? out.secretValue) as Deployed | undefined;
}
