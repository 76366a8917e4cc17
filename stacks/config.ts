import * as pulumi from "@pulumi/pulumi";
import type { ConsensusNetworkArgs } from "../components/consensusNetwork";
import type { MaintenanceWindow } from "../components/gates";
import type { NetworkSpec } from "../components/network";
import type { EnclaveRelease } from "../components/release";

/** The stack's `flagday:` config, as the program and `flagday agree` read it. */
export function flagdayConfig(): pulumi.Config {
  const config = new pulumi.Config("flagday");
  return config;
}

/**
 * What a stack's config says about its network and this update, as ConsensusNetwork takes it (all but the
 * platform and the records read from stacks): shared by the program (stacks/index.ts) and `flagday agree`,
 * so both derive the same plan and the same proposal.
 */
export function networkArgsFromConfig(
  config: pulumi.Config,
): Omit<ConsensusNetworkArgs, "platform" | "deployed" | "testnet"> {
  const abort = config.get("abort");
  return {
    network: networkFromConfig(config),
    rollback: config.getBoolean("rollback"),
    abort: abort === undefined ? undefined : releaseNamed(config, abort, "flagday:abort"),
    overrides: config.getBoolean("acceptDataLoss") ? ["accept-data-loss"] : [],
    checks: config.getObject("checks"),
    window: config.getObject<MaintenanceWindow>("window"),
    windowOverride: config.get("windowOverride"),
    testnetOverride: config.get("testnetOverride"),
    prepare: config.getBoolean("prepare"),
  };
}

/**
 * `flagday:network` with its `release` either inline or the name of an entry in `flagday:releases`, and
 * `flagday:release` (a name) overriding it: the catalogue lets a stack file hold both sides of a flag day.
 */
export function networkFromConfig(config: pulumi.Config): NetworkSpec {
  const raw = config.requireObject<Omit<NetworkSpec, "release"> & { release: EnclaveRelease | string }>(
    "network",
  );
  const chosen = config.get("release") ?? raw.release;
  const where = config.get("release") !== undefined ? "flagday:release" : "flagday:network.release";
  return { ...raw, release: typeof chosen === "string" ? releaseNamed(config, chosen, where) : chosen };
}

/** A release from the stack's catalogue `flagday:releases`, by name. */
export function releaseNamed(config: pulumi.Config, name: string, where: string): EnclaveRelease {
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
