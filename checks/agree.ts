/**
 * `flagday agree -s <stack>`: runbook step 1 for one operator. Derives the flag-day proposal from the stack's
 * config and its deployed record exactly as the stack program does (stacks/config.ts, planNetwork), prints it
 * in words, signs its id with the operator's key and posts the signature to the coordination board. The key
 * is `flagday:operatorKey` (a Pulumi secret) or `--key-file`; it never reaches the output.
 */
import { CHECKOUT } from "./checkout";
import * as path from "node:path";
import { KeyObject } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import { planNetwork } from "../components/consensusNetwork";
import { abortedProposal, openBoard, proposalFor, readAgreement } from "../components/coordination/agreement";
import {
  agreeEntry,
  describeAgreement,
  describeRejected,
  EntryExistsError,
} from "../components/coordination/board";
import { describeProposal, FlagDayProposal, flagDayId } from "../components/coordination/proposal";
import { postAbort } from "./barrier";
import {
  privateKeyFrom,
  publicKeyFrom,
  publicKeyString,
  readPrivateKeyFile,
} from "../components/coordination/signing";
import type { Deployed } from "../components/plan";
import { networkArgsFromConfig } from "../stacks/config";

export interface AgreeOptions {
  readonly stack: string;
  readonly keyFile?: string;
  /** Only print the proposal and who signed; sign nothing. */
  readonly dryRun?: boolean;
}

/** The stack, through the engine this project builds (.engine/bin), with the caller's Pulumi environment. */
async function selectStack(name: string): Promise<Stack> {
  const pulumiCommand = await PulumiCommand.get({ root: path.join(CHECKOUT, ".engine") });
  const envVars = Object.fromEntries(
    Object.entries(process.env).filter(
      ([k, v]) => v !== undefined && (k.startsWith("PULUMI_") || k === "PATH"),
    ),
  ) as Record<string, string>;
  const ws = await LocalWorkspace.create({
    workDir: CHECKOUT,
    envVars,
    pulumiCommand,
    pulumiHome: envVars.PULUMI_HOME,
  });
  return Stack.select(name, ws);
}

/** A stack's config, deployed record and flag-day proposal, derived by the program's own code. */
async function loadStack(stackName: string) {
  const stack = await selectStack(stackName);
  const all = await stack.getAllConfig();
  // The stack's config as the program sees it, so the proposal is derived by the very same code.
  pulumi.runtime.setAllConfig(Object.fromEntries(Object.entries(all).map(([k, v]) => [k, v.value])));
  const config = new pulumi.Config("flagday");
  const deployed = (await stack.outputs()).flagday?.value as Deployed | undefined;
  const args = networkArgsFromConfig(config);
  const { network, plan } = planNetwork({ ...args, deployed, platform: undefined as never });
  return { config, deployed, args, network, plan };
}

export async function agree(o: AgreeOptions, log: (line: string) => void): Promise<number> {
  const { config, args, network, plan } = await loadStack(o.stack);
  if (!network.operators?.length) {
    log(
      `flagday agree: stack ${o.stack}'s network lists no operators (flagday:network.operators): nothing to sign.`,
    );
    return 2;
  }
  const proposal = proposalFor(network, plan, args.window, args.checks);
  if (!proposal) {
    log(
      `flagday agree: stack ${o.stack} has no flag day or rollback to agree on: its release is the deployed one.`,
    );
    return 2;
  }
  const operator = stackOperator(config, Object.keys(proposal.operators), "agree", log);
  if (!operator) return 2;
  log(describeProposal(proposal));
  const board = openBoard(config.getObject("board"), CHECKOUT, operator);
  if (!o.dryRun) {
    const key = operatorKey(config, o.keyFile);
    if (!isOperatorsKey(proposal, operator, key, log)) return 1;
    try {
      const at = await board.put(agreeEntry(proposal, operator, key));
      log(`signed and posted: ${at}`);
    } catch (e) {
      if (!(e instanceof EntryExistsError)) throw e;
      log(`operator ${operator} had already signed this flag day.`);
    }
  }
  const { status, reading } = await readAgreement(board, proposal);
  for (const r of reading.rejected) log(describeRejected(r));
  log(describeAgreement(status));
  return 0;
}

/**
 * `flagday abort -s <stack> --reason <text>`: posts a signed abort of the stack's flag day. The flag day is the
 * one the stack's release describes, or, once the operator set flagday:abort, the failed one it undoes.
 */
export async function abort(
  o: { readonly stack: string; readonly keyFile?: string; readonly reason: string },
  log: (line: string) => void,
): Promise<number> {
  const { config, args, network, plan, deployed } = await loadStack(o.stack);
  const completed = (id: string) =>
    (deployed?.history ?? []).some((h) => h.id === id && h.outcome === "completed");
  const proposal =
    abortedProposal(network, plan, args.window, args.checks, completed) ??
    proposalFor(network, plan, args.window, args.checks);
  if (!network.operators?.length || !proposal) {
    log(
      `flagday abort: stack ${o.stack} has no flag day of several operators in progress to abort ` +
        `(no flagday:network.operators, or its release is the deployed one). A single operator aborts with ` +
        `flagday:abort alone.`,
    );
    return 2;
  }
  const operator = stackOperator(config, Object.keys(proposal.operators), "abort", log);
  if (!operator) return 2;
  const key = operatorKey(config, o.keyFile);
  if (!isOperatorsKey(proposal, operator, key, log)) return 1;
  return postAbort(
    {
      network: network.name,
      flagDayId: flagDayId(proposal),
      operator,
      reason: o.reason,
      board: config.getObject("board"),
    },
    key,
    log,
  );
}

function stackOperator(
  config: pulumi.Config,
  operators: readonly string[],
  command: string,
  log: (line: string) => void,
): string | undefined {
  const operator = config.get("operator");
  if (operator && operators.includes(operator)) return operator;
  log(
    `flagday ${command}: flagday:operator must name this stack's operator, one of ` +
      `${operators.join(", ")} (got ${operator === undefined ? "nothing" : `"${operator}"`}).`,
  );
  return undefined;
}

function isOperatorsKey(
  proposal: FlagDayProposal,
  operator: string,
  key: KeyObject,
  log: (line: string) => void,
): boolean {
  if (publicKeyString(publicKeyFrom(proposal.operators[operator].publicKey)) === publicKeyString(key)) {
    return true;
  }
  log(
    `flagday: the key given is not operator ${operator}'s: its public half differs from ` +
      `flagday:network.operators' key for ${operator}. Nothing was posted.`,
  );
  return false;
}

/** The operator's private key: `--key-file`, else the secret `flagday:operatorKey`. */
function operatorKey(config: pulumi.Config, keyFile: string | undefined): KeyObject {
  if (keyFile) return readPrivateKeyFile(keyFile);
  const text = config.get("operatorKey");
  if (!text) {
    throw new Error(
      "flagday agree needs the operator's Ed25519 private key: `--key-file <pem>`, or " +
        "`npm run pulumi -- config set --secret flagday:operatorKey -s <stack> < key.pem`.",
    );
  }
  return privateKeyFrom(text, "flagday:operatorKey");
}
