/**
 * `flagday plan -s <stack> [--from <release>] [--to <release>] [--out <file>]`: the runbook for the call
 * (components/runbook.ts), offline. It reads the stack file stacks/Pulumi.<stack>.yaml directly, not the
 * engine, so it works on a fresh clone with no stack state and no cloud account; the file's values go through
 * the same readers the stack program uses (stacks/config.ts), so the plan is derived from the same config.
 *
 * The releases: `--from` defaults to the stack's release (`flagday:release`, else `flagday:network.release`),
 * `--to` defaults to it too, and they must differ: before the flag day give `--to <the new release>`; once the
 * stack file names the new release, give `--from <the release the network runs>`. Both are names in
 * `flagday:releases`. Secrets (`secure:` values) are skipped: the plan needs none.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { validateNetwork } from "../components/network";
import { consensusChanges, type EnclaveRelease } from "../components/release";
import { runbookMarkdown } from "../components/runbook";
import { networkArgsFromConfig, releaseNamed } from "../stacks/config";

const ROOT = path.resolve(__dirname, "..");

/** A problem with the command line or the stack file: the CLI prints it and exits 2. */
export class PlanUsageError extends Error {}

export interface PlanOptions {
  readonly stack: string;
  readonly from?: string;
  readonly to?: string;
  readonly out?: string;
}

/** The stack file's `config:` map, as YAML gives it (objects stay objects). */
export function readStackFile(stack: string, root = ROOT): Record<string, unknown> {
  const file = path.join(root, "stacks", `Pulumi.${stack}.yaml`);
  if (!fs.existsSync(file)) {
    const known = fs
      .readdirSync(path.join(root, "stacks"))
      .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
      .filter((s): s is string => s !== undefined)
      .sort();
    throw new PlanUsageError(`no stack file ${path.relative(root, file)} (stacks: ${known.join(", ")})`);
  }
  // js-yaml ships no types; load() is all this needs.
  const yaml = require("js-yaml") as { load(text: string): unknown };
  const doc = yaml.load(fs.readFileSync(file, "utf8")) as { config?: Record<string, unknown> } | null;
  return { ...(doc?.config ?? {}) };
}

/** The runbook for `stack`, from its stack file's config (as readStackFile returns it). */
export function planFromConfig(config: Record<string, unknown>, o: PlanOptions): string {
  // Config values as the engine hands them to the program: strings, objects as JSON. Secrets are left out.
  const values: Record<string, string> = {};
  for (const [k, v] of Object.entries(config)) {
    if (v && typeof v === "object" && "secure" in v) continue;
    values[k] = typeof v === "string" ? v : JSON.stringify(v);
  }
  pulumi.runtime.setAllConfig(values);
  const cfg = new pulumi.Config("flagday");
  let args;
  try {
    args = networkArgsFromConfig(cfg);
  } catch (e) {
    throw new PlanUsageError(`stack ${o.stack}: ${(e as Error).message}`);
  }
  const network = validateNetwork(args.network);
  const pick = (name: string | undefined, flag: string) => {
    if (name === undefined) return network.release;
    try {
      return releaseNamed(cfg, name, flag);
    } catch (e) {
      throw new PlanUsageError((e as Error).message.replace(/^flagday: /, ""));
    }
  };
  const from = pick(o.from, "--from");
  const to = pick(o.to, "--to");
  if (consensusChanges(from, to).length === 0) {
    const others = Object.entries(cfg.getObject<Record<string, EnclaveRelease>>("releases") ?? {})
      .filter(([, r]) => consensusChanges(from, r).length > 0)
      .map(([name]) => name)
      .sort();
    throw new PlanUsageError(
      `from ${from.version} to ${to.version} changes no consensus field: not a flag day. Give --to <release> ` +
        `(before the flag day) or --from <release> (once the stack names the new one)` +
        (others.length ? `, from flagday:releases: ${others.join(", ")}.` : "."),
    );
  }
  const command = [
    "flagday plan",
    `-s ${o.stack}`,
    ...(o.from ? [`--from ${o.from}`] : []),
    ...(o.to ? [`--to ${o.to}`] : []),
  ].join(" ");
  return (
    runbookMarkdown({
      stack: o.stack,
      command,
      platform: cfg.get("platform"),
      network,
      from,
      to,
      window: args.window,
      checks: args.checks,
    }) + "\n"
  );
}

/** The CLI: prints the runbook, or writes it to `--out`. */
export function plan(o: PlanOptions, log: (text: string) => void): number {
  const text = planFromConfig(readStackFile(o.stack), o);
  if (o.out) {
    fs.writeFileSync(o.out, text);
    log(`wrote ${o.out}`);
  } else {
    process.stdout.write(text);
  }
  return 0;
}
