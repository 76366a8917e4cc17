/**
 * `flagday plan -s <stack> [--from <release>] [--to <release>] [--out <file>] [--board [json]]`: the runbook for
 * the call (components/runbook.ts), offline unless `--board` asks it to read who has signed. It reads the stack
 * file stacks/Pulumi.<stack>.yaml directly, not the engine, so it works on a fresh clone with no stack state and
 * no cloud account; the file's values go through the same readers the stack program uses (stacks/config.ts), so
 * the plan is derived from the same config.
 *
 * The releases: `--from` defaults to the stack's release (`flagday:release`, else `flagday:network.release`),
 * `--to` defaults to it too, and they must differ: before the flag day give `--to <the new release>`; once the
 * stack file names the new release, give `--from <the release the network runs>`. Both are names in
 * `flagday:releases`. Secrets (`secure:` values) are skipped: the plan needs none.
 */
import { CHECKOUT } from "./checkout";
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { validateNetwork } from "../components/network";
import { consensusChanges, type EnclaveRelease } from "../components/release";
import { describeRejected } from "../components/coordination/board";
import { type RunbookInput, runbookMarkdown, runbookProposal, type Signatures } from "../components/runbook";
import { networkArgsFromConfig, releaseNamed } from "../stacks/config";
import { parseJson } from "./barrier";

/** A problem with the command line or the stack file: the CLI prints it and exits 2. */
export class PlanUsageError extends Error {}

export interface PlanOptions {
  readonly stack: string;
  readonly from?: string;
  readonly to?: string;
  readonly out?: string;
  /**
   * Read who has signed from the coordination board: `true` for the stack file's own flagday:board, or the
   * board as JSON. @default not read: the plan stays offline
   */
  readonly board?: string | true;
}

/** The stack file's `config:` map, as YAML gives it (objects stay objects). */
export function readStackFile(stack: string, root = CHECKOUT): Record<string, unknown> {
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

/**
 * A stack file's `flagday:` config (as readStackFile returns it), read as the program reads it: the engine
 * hands values over as strings, objects as JSON. Secrets are left out.
 */
export function stackConfig(config: Record<string, unknown>): pulumi.Config {
  const values: Record<string, string> = {};
  for (const [k, v] of Object.entries(config)) {
    if (v && typeof v === "object" && "secure" in v) continue;
    values[k] = typeof v === "string" ? v : JSON.stringify(v);
  }
  pulumi.runtime.setAllConfig(values);
  return new pulumi.Config("flagday");
}

/** The runbook for `stack`, from its stack file's config (as readStackFile returns it). */
export function planFromConfig(
  config: Record<string, unknown>,
  o: PlanOptions,
  signatures?: Signatures,
): string {
  return runbookMarkdown({ ...planInput(config, o), ...(signatures ? { signatures } : {}) }) + "\n";
}

/** What the runbook for `stack` is generated from, read from its stack file's config. */
export function planInput(config: Record<string, unknown>, o: PlanOptions): RunbookInput {
  const cfg = stackConfig(config);
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
  return {
    stack: o.stack,
    command,
    platform: cfg.get("platform"),
    network,
    from,
    to,
    window: args.window,
    checks: args.checks,
  };
}

/**
 * Who has signed the runbook's proposal: its agree entries on the coordination board (`boardConfig`, as
 * flagday:board gives it), verified against the operators' keys in the proposal; forged, edited or replayed
 * entries are not counted and come back in words.
 */
export async function readSignatures(input: RunbookInput, boardConfig: unknown): Promise<Signatures> {
  const p = runbookProposal(input);
  if ("why" in p) return { read: false, why: p.why };
  // Loaded only here: the board's backends bring the AWS SDK (an S3 board), which an offline plan never needs.
  const { openBoard, readAgreement } =
    require("../components/coordination/agreement") as typeof import("../components/coordination/agreement");
  let board;
  try {
    board = openBoard(boardConfig, CHECKOUT);
  } catch (e) {
    throw new PlanUsageError(`--board: ${(e as Error).message}`);
  }
  const { status, reading } = await readAgreement(board, p.proposal);
  const agreements = reading.entries.filter((e) => e.kind === "agree");
  return {
    read: true,
    board: board.backend.description,
    status,
    signedAt: Object.fromEntries(agreements.map((e) => [e.operator, e.signedAt])),
    ignored: reading.rejected.map(describeRejected),
  };
}

/** The board `--board` names: its JSON, or (given alone) the stack file's flagday:board. */
function boardOf(o: PlanOptions, config: Record<string, unknown>): unknown {
  if (typeof o.board === "string") return parseJson(o.board, "--board");
  const board = stackConfig(config).getObject("board");
  if (board === undefined) {
    throw new PlanUsageError(
      `stack ${o.stack} names no coordination board (flagday:board): give --board <json>`,
    );
  }
  return board;
}

/** The CLI: prints the runbook, or writes it to `--out`; with `--board`, who has signed. */
export async function plan(o: PlanOptions, log: (text: string) => void): Promise<number> {
  const config = readStackFile(o.stack);
  const input = planInput(config, o);
  const signatures = o.board === undefined ? undefined : await readSignatures(input, boardOf(o, config));
  const text = runbookMarkdown({ ...input, ...(signatures ? { signatures } : {}) }) + "\n";
  if (o.out) {
    fs.writeFileSync(o.out, text);
    log(`wrote ${o.out}`);
  } else {
    process.stdout.write(text);
  }
  return 0;
}
