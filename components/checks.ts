import * as pulumi from "@pulumi/pulumi";
import { NodeHandle } from "./platform";
import { Transition } from "./plan";
import { StageName } from "./stages";

/** How the network stages check the network. Every check is the `flagday` CLI, also run by hand on the call. */
export interface ChecksOptions {
  /** Quiesce: how long heights must stay equal and unchanged. @default 40 (mc-consensus-tool wait-for-quiet) */
  readonly quietPeriodSeconds?: number;
  /** How long any one check may wait before it fails the stage. @default 600 */
  readonly timeoutSeconds?: number;
  /** The live window after ingress reopens. @default 1800 */
  readonly livePeriodSeconds?: number;
  /**
   * Whether the checks may submit their own payments (attest's new block, live traffic). The rehearsal's
   * simulated nodes accept them; on a real network leave it off and supply `txTests`.
   * @default false
   */
  readonly generateTraffic?: boolean;
  /**
   * The operators' own transaction tests by name (self-payment, cross-payment, fog, non-fog): shell commands
   * that exit 0 on success, e.g. mobilecoind's test_client.py or fog's test_client.
   * @default the checks CLI's built-in tests (simulator only)
   */
  readonly txTests?: Readonly<Record<string, string>>;
  /** The checks CLI to run. @default "flagday" (this package's bin) */
  readonly cli?: string;
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The command a network stage runs, from the checks CLI. */
export function checkCommand(
  stage: StageName,
  transition: Transition,
  nodes: readonly NodeHandle[],
  opts: ChecksOptions,
): pulumi.Output<string> {
  const cli = opts.cli ?? "flagday";
  const timeout = opts.timeoutSeconds ?? 600;
  const targets = pulumi
    .all(nodes.map((n) => pulumi.all([n.adminUrl, n.clientUrl])))
    .apply((urls) =>
      nodes
        .map((n, i) => `--admin ${n.spec.name}=${urls[i][0]} --client ${n.spec.name}=${urls[i][1]}`)
        .join(" "),
    );
  const traffic = opts.generateTraffic ?? false;
  switch (stage) {
    case "quiesce":
      return pulumi.interpolate`${cli} quiesce --quiet-period ${opts.quietPeriodSeconds ?? 40} --timeout ${timeout} ${targets}`;
    case "attest":
      return pulumi.interpolate`${cli} attest --mrenclave ${transition.to.mrenclave} --timeout ${timeout}${traffic ? " --submit-tx" : ""} ${targets}`;
    case "txtest": {
      const own = Object.entries(opts.txTests ?? {})
        .map(([name, cmd]) => ` --command ${q(`${name}=${cmd}`)}`)
        .join("");
      return pulumi.interpolate`${cli} txtest --timeout ${timeout}${own} ${targets}`;
    }
    case "rollback-guard":
      return pulumi.interpolate`${cli} heights ${targets}`;
    case "live":
      return pulumi.interpolate`${cli} live --period ${opts.livePeriodSeconds ?? 1800}${traffic ? " --traffic" : ""} ${targets}`;
    default:
      throw new Error(`flagday: stage ${stage} is not a check`);
  }
}

/** The command the rolling path runs after replacing a node's server: that node is back and synced. */
export function healthyCommand(
  node: NodeHandle,
  mrenclave: string,
  opts: ChecksOptions,
): pulumi.Output<string> {
  const cli = opts.cli ?? "flagday";
  return pulumi.interpolate`${cli} healthy --mrenclave ${mrenclave} --timeout ${opts.timeoutSeconds ?? 600} --admin ${node.spec.name}=${node.adminUrl}`;
}
