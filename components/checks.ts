import * as pulumi from "@pulumi/pulumi";
import { shellQuote as q, WAIT_FOR_QUIET_SECONDS } from "./mobilecoin";
import { NodeHandle } from "./platform";

/** How the network stages check the network. Every check is the `flagday` CLI, also run by hand on the call. */
export interface ChecksOptions {
  /** Quiesce: how long heights must stay equal and unchanged. @default 40 (WAIT_FOR_QUIET_SECONDS) */
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
  /**
   * With several operators: how long a cross-operator barrier waits for every operator before it fails naming
   * the missing ones. @default 3600
   */
  readonly barrierTimeoutSeconds?: number;
  /** The checks CLI to run. @default "flagday" (this package's bin) */
  readonly cli?: string;
}

/** The `--admin`/`--client` flags naming every node, as the checks CLI takes them. */
export function targetFlags(nodes: readonly NodeHandle[]): pulumi.Output<string> {
  return pulumi
    .all(nodes.map((n) => pulumi.all([n.adminUrl, n.clientUrl])))
    .apply((urls) =>
      nodes
        .map((n, i) => `--admin ${n.spec.name}=${urls[i][0]} --client ${n.spec.name}=${urls[i][1]}`)
        .join(" "),
    );
}

/**
 * The checks the network stages run, as commands of the checks CLI (checks/cli.ts). Plain functions of the
 * options and the nodes' addresses, so the text a stage runs is tested without the engine.
 */
export function checkCommands(nodes: readonly NodeHandle[], opts: ChecksOptions) {
  const cli = opts.cli ?? "flagday";
  const timeout = opts.timeoutSeconds ?? 600;
  const targets = targetFlags(nodes);
  const traffic = opts.generateTraffic ?? false;
  return {
    /** No new transactions, equal heights for the quiet period; prints `height=<n>`. */
    quiesce: () =>
      pulumi.interpolate`${cli} quiesce --quiet-period ${opts.quietPeriodSeconds ?? WAIT_FOR_QUIET_SECONDS} --timeout ${timeout} ${targets}`,
    /** Every node on `mrenclave`, and a new block. */
    attest: (mrenclave: string) =>
      pulumi.interpolate`${cli} attest --mrenclave ${mrenclave} --timeout ${timeout}${traffic ? " --submit-tx" : ""} ${targets}`,
    /** `wallets`: the operator's own wallet set for the built-in (simulated) checks, with several operators. */
    txtest: (wallets?: number) => {
      const own = Object.entries(opts.txTests ?? {})
        .map(([name, cmd]) => ` --command ${q(`${name}=${cmd}`)}`)
        .join("");
      const set = wallets !== undefined && !opts.txTests ? ` --wallets ${wallets}` : "";
      return pulumi.interpolate`${cli} txtest --timeout ${timeout}${set}${own} ${targets}`;
    },
    /** Every node's height; with `--at-most` it fails when a node is above it. */
    heights: () => pulumi.interpolate`${cli} heights ${targets}`,
    live: () =>
      pulumi.interpolate`${cli} live --period ${opts.livePeriodSeconds ?? 1800}${traffic ? " --traffic" : ""} ${targets}`,
  };
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

/** The quiesce check prints `height=<n>` once all nodes agree; the snapshot records carry it. */
export function parseHeight(out: string): number | undefined {
  const m = /\bheight=(\d+)/.exec(out);
  return m ? Number(m[1]) : undefined;
}
