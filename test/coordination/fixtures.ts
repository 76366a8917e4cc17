/** A three-operator testnet and its flag day, shared by the coordination tests (plain data and fresh keys). */
import type { KeyObject } from "node:crypto";
import { ProposalInput, flagDayProposal } from "../../components/coordination/proposal";
import { generateOperatorKey, privateKeyFrom } from "../../components/coordination/signing";
import { V1, V2 } from "../unit/fixtures";

export interface TestOperator {
  readonly name: string;
  readonly publicKey: string;
  readonly privateKey: KeyObject;
}

function operator(name: string): TestOperator {
  const k = generateOperatorKey();
  return { name, publicKey: k.publicKey, privateKey: privateKeyFrom(k.privateKeyPem) };
}

/** Three node operators and a coordinator who holds a key but runs no node. */
export const ALICE = operator("alice");
export const BOB = operator("bob");
export const CAROL = operator("carol");
export const COORD = operator("coordinator");
/** Someone whose key is not in the network's operator list. */
export const MALLORY = operator("mallory");

export const OPERATORS = [ALICE, BOB, CAROL, COORD];

export function input(over: Partial<ProposalInput> = {}): ProposalInput {
  return {
    network: {
      name: "testnet",
      chainId: "test",
      quorumThreshold: 3,
      nodes: ["node1", "node2", "node3", "node4", "node5"].map((name) => ({ name })),
    },
    operators: {
      operators: OPERATORS.map(({ name, publicKey }) => ({ name, publicKey })),
      nodeOperators: { node1: "alice", node2: "alice", node3: "bob", node4: "carol", node5: "carol" },
    },
    from: V1,
    to: V2,
    window: { start: "2026-12-01T14:00", end: "2026-12-01T18:00", timeZone: "UTC" },
    checks: {
      livePeriodSeconds: 600,
      txTests: { "self-payment": "./test_client.py --self", "cross-payment": "./test_client.py --cross" },
    },
    ...over,
  };
}

export const PROPOSAL = flagDayProposal(input());
