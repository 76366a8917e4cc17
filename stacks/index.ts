import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { ConsensusNetwork, Deployed, keepSourcePositionsOnly, Platform } from "../components";
import { networkArgsFromConfig } from "./config";
import { localPlatform, localPlatformArgs } from "../components/local/platform";
import { ConsensusNetworkArgs, planNetwork } from "../components/consensusNetwork";
import {
  abortedProposal,
  openBoard,
  proposalFor,
  readAbort,
  readAgreement,
} from "../components/coordination/agreement";
import { flagDayId, shortId } from "../components/coordination/proposal";
import type { Coordination } from "../components/consensusNetwork";
import { AgreementStatus, describeAgreement, describeRejected } from "../components/coordination/board";
import { awsPlatformArgs } from "../components/aws/args";
import { awsPlatform } from "../components/aws/platform";
import { kubernetesPlatform } from "../components/kubernetes/platform";
import { kubernetesPlatformArgs } from "../components/kubernetes/args";

// Every resource's state keeps its source position, not the whole stack it was constructed in: smaller saves.
keepSourcePositionsOnly();

/**
 * The flagday program behind every stack (stacks/Pulumi.<stack>.yaml). It reads the network from config, what
 * the last successful `pulumi up` recorded from the stack's own `flagday` output, and lets ConsensusNetwork
 * decide: first deployment, nothing to do, a rolling change, a flag day or a rollback.
 */
export = async () => {
  const config = new pulumi.Config("flagday");
  const deployed = await readRecord(
    `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`,
  );
  const testnetStack = config.get("testnetStack");
  const args: ConsensusNetworkArgs = {
    ...networkArgsFromConfig(config),
    platform: platformFromConfig(config),
    deployed,
    testnet: testnetStack ? { stack: testnetStack, record: await readRecord(testnetStack) } : undefined,
  };
  const net = new ConsensusNetwork(args.network.name, {
    ...args,
    coordination: coordinationFromConfig(config),
    agreement: await readOperatorsAgreement(config, args),
  });
  // The record is the only output, and it changes only when a transition completes: a re-run with nothing
  // changed shows no difference at all.
  return { flagday: net.record };
};

/**
 * A network with several operators (`flagday:network.operators`): who signed this update's proposal on the
 * coordination board (`flagday:board`). Shown in every preview; `up` refuses a flag day until all signed.
 */
async function readOperatorsAgreement(
  config: pulumi.Config,
  args: ConsensusNetworkArgs,
): Promise<AgreementStatus | undefined> {
  if (!args.network.operators?.length) return undefined;
  const operator = config.get("operator");
  const names = args.network.operators.map((o) => o.name);
  if (operator !== undefined && !names.includes(operator)) {
    throw new Error(
      `flagday:operator is "${operator}", which is not one of flagday:network.operators (${names.join(", ")}): ` +
        `set it to this stack's operator.`,
    );
  }
  const { network, plan } = planNetwork(args);
  const proposal = proposalFor(network, plan, args.window, args.checks);
  if (!proposal) return undefined;
  const board = openBoard(config.getObject("board"), pulumi.getRootDirectory());
  // An abort (flagday:abort, undoing a flag day that failed part-way) needs no new signatures once an operator
  // posted a signed abort of that flag day: the abort is the operators' decision, and it must not wait.
  const completed = (id: string) =>
    (args.deployed?.history ?? []).some((h) => h.id === id && h.outcome === "completed");
  const aborted = abortedProposal(network, plan, args.window, args.checks, completed);
  const abort = aborted && (await readAbort(board, aborted));
  if (abort) {
    pulumi.log.info(
      `flagday: operator ${abort.operator} aborted flag day ${shortId(flagDayId(aborted!))} at ${abort.at} ` +
        `(${abort.reason}): this rollback restores this operator's nodes without new signatures.`,
    );
    return undefined;
  }
  const { status, reading } = await readAgreement(board, proposal);
  for (const r of reading.rejected) pulumi.log.warn(`flagday: ${describeRejected(r)}`);
  pulumi.log.info(`flagday: ${describeAgreement(status)}`);
  return status;
}

/**
 * `flagday:operator`, `flagday:board` and the operator's key (`flagday:operatorKey`, a secret, or
 * `flagday:operatorKeyFile`): which operator this stack is, for a network with several operators.
 */
function coordinationFromConfig(config: pulumi.Config): Coordination | undefined {
  const operator = config.get("operator");
  if (operator === undefined) return undefined;
  const board = config.getObject<{ directory?: string }>("board");
  const keyFile = config.get("operatorKeyFile");
  return {
    operator,
    // The barrier steps run the checks CLI from anywhere: a directory board is made absolute here.
    board:
      typeof board?.directory === "string"
        ? { ...board, directory: path.resolve(pulumi.getRootDirectory(), board.directory) }
        : board,
    operatorKey: config.getSecret("operatorKey"),
    ...(keyFile ? { operatorKeyFile: path.resolve(pulumi.getRootDirectory(), keyFile) } : {}),
    barrierTimeoutSeconds: config.getObject<{ barrierTimeoutSeconds?: number }>("checks")
      ?.barrierTimeoutSeconds,
  };
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
