import assert from "node:assert/strict";
import { createPublicKey } from "node:crypto";
import { describe, test } from "node:test";
import { canonicalJson, sha256Hex } from "../../components/coordination/canonical";
import {
  ProposalInput,
  canonicalProposal,
  describeProposal,
  flagDayId,
  flagDayProposal,
  proposalDifferences,
} from "../../components/coordination/proposal";
import { publicKeyFrom } from "../../components/coordination/signing";
import { CONSENSUS_FIELDS, EnclaveRelease } from "../../components/release";
import { hex } from "../unit/fixtures";
import { ALICE, BOB, MALLORY, PROPOSAL, input } from "./fixtures";

const ID = flagDayId(PROPOSAL);

/** The same data with every object's keys in reverse order, arrays untouched. */
function reverseKeys<T>(v: T): T {
  if (Array.isArray(v)) return v.map(reverseKeys) as T;
  if (v && typeof v === "object") {
    return Object.fromEntries(
      Object.keys(v)
        .reverse()
        .map((k) => [k, reverseKeys((v as Record<string, unknown>)[k])]),
    ) as T;
  }
  return v;
}

/** A value of the same type that differs from `v`. */
function other(v: unknown): unknown {
  if (typeof v === "number") return v + 1;
  if (typeof v === "string") return /^[0-9a-f]{64}$/.test(v) ? hex(v[0] === "d" ? "e" : "d") : `${v}-x`;
  throw new Error(`no other value for ${typeof v}`);
}

describe("canonical JSON", () => {
  test("sorted keys at every depth, no whitespace, arrays in their order, undefined members left out", () => {
    assert.equal(
      canonicalJson({ b: 1, a: [{ d: "x y", c: null }, 2], e: undefined, c: { z: true, y: false } }),
      '{"a":[{"c":null,"d":"x y"},2],"b":1,"c":{"y":false,"z":true}}',
    );
    assert.equal(canonicalJson({ é: 1, e: 2, E: 3 }), '{"E":3,"e":2,"é":1}');
  });

  test("refuses what JSON cannot carry, naming where", () => {
    assert.throws(() => canonicalJson({ a: [1, Number.NaN] }), /\$\.a\[1\] is NaN/);
    assert.throws(() => canonicalJson({ a: [undefined] }), /\$\.a\[0\] is a undefined/);
    assert.throws(() => canonicalJson({ f: () => 1 }), /\$\.f is a function/);
  });

  test("the proposal's canonical form is its JSON with sorted keys and no whitespace outside strings", () => {
    const text = canonicalProposal(PROPOSAL);
    assert.equal(text, canonicalJson(JSON.parse(text)));
    assert.equal(text, canonicalJson(reverseKeys(PROPOSAL)));
    assert.deepEqual(JSON.parse(text), PROPOSAL);
    assert.doesNotMatch(text.replace(/"(?:[^"\\]|\\.)*"/g, '""'), /\s/);
    assert.ok(text.startsWith('{"format":1,"from":{"blockVersion":3,"enclaveSha256":'), text.slice(0, 80));
  });

  test("the id is the sha256 hex of the canonical form", () => {
    assert.match(ID, /^[0-9a-f]{64}$/);
    assert.equal(ID, sha256Hex(canonicalProposal(PROPOSAL)));
  });
});

describe("flagDayProposal", () => {
  test("carries the network, both releases' consensus fields, window, checks, operators and quorum", () => {
    assert.deepEqual(PROPOSAL.network, { name: "testnet", chainId: "test" });
    assert.equal(PROPOSAL.sequence, "flag-day");
    assert.deepEqual(Object.keys(PROPOSAL.from).sort(), [...CONSENSUS_FIELDS].sort());
    assert.deepEqual(Object.keys(PROPOSAL.to).sort(), [...CONSENSUS_FIELDS].sort());
    assert.equal(PROPOSAL.to.mrenclave, hex("b2"));
    assert.deepEqual(PROPOSAL.window, {
      start: "2026-12-01T14:00:00Z",
      end: "2026-12-01T18:00:00Z",
      timeZone: "UTC",
    });
    assert.equal(PROPOSAL.livePeriodSeconds, 600);
    assert.deepEqual(PROPOSAL.txTests, {
      "self-payment": "./test_client.py --self",
      "cross-payment": "./test_client.py --cross",
    });
    assert.deepEqual(PROPOSAL.operators.alice, { publicKey: ALICE.publicKey, nodes: ["node1", "node2"] });
    assert.deepEqual(PROPOSAL.operators.carol.nodes, ["node4", "node5"]);
    assert.deepEqual(PROPOSAL.operators.coordinator.nodes, []);
    assert.deepEqual(PROPOSAL.quorum, { threshold: 3, nodes: 5 });
  });

  test("defaults: the checks' live period (1800 s) and built-in transaction tests", () => {
    const p = flagDayProposal(input({ checks: undefined }));
    assert.equal(p.livePeriodSeconds, 1800);
    assert.equal(p.txTests, "built-in");
    assert.equal(flagDayId(flagDayProposal(input({ checks: { livePeriodSeconds: 1800 } }))), flagDayId(p));
  });

  test("the id is stable under key order, list order, key encoding and equivalent window times", () => {
    const base = input();
    const shuffled: ProposalInput = {
      ...reverseKeys(base),
      network: { ...reverseKeys(base.network), nodes: [...base.network.nodes].reverse() },
      operators: {
        operators: [...base.operators.operators].reverse().map((o) => ({
          publicKey:
            o.name === "bob" // a PEM block is the same key
              ? (publicKeyFrom(o.publicKey).export({ type: "spki", format: "pem" }) as string)
              : o.publicKey,
          name: o.name,
        })),
        nodeOperators: reverseKeys(base.operators.nodeOperators),
      },
      window: { timeZone: "UTC", end: "2026-12-01T18:00:00", start: "2026-12-01T14:00:00.000" },
    };
    assert.equal(flagDayId(flagDayProposal(shuffled)), ID);
    // The same instants written in another zone are another agreement only in the zone the call uses.
    const zurich = flagDayProposal(
      input({ window: { start: "2026-12-01T15:00", end: "2026-12-01T19:00", timeZone: "Europe/Zurich" } }),
    );
    assert.equal(zurich.window.start, PROPOSAL.window.start);
    assert.deepEqual(proposalDifferences(PROPOSAL, zurich), ["window.timeZone"]);
  });

  test("every consensus field of either release changes the id, and the difference names it", () => {
    for (const side of ["from", "to"] as const) {
      for (const field of CONSENSUS_FIELDS) {
        const release: EnclaveRelease = { ...input()[side], [field]: other(input()[side][field]) };
        const p = flagDayProposal(input({ [side]: release }));
        assert.notEqual(flagDayId(p), ID, `${side}.${field}`);
        assert.deepEqual(proposalDifferences(PROPOSAL, p), [`${side}.${field}`]);
      }
    }
  });

  test("fields outside the consensus identity (image, migrations, sgxMode) do not change the id", () => {
    const to: EnclaveRelease = { ...input().to, image: "x:y", migrations: [], sgxMode: "software" };
    assert.equal(flagDayId(flagDayProposal(input({ to }))), ID);
  });

  test("every other part of the agreement changes the id and is named", () => {
    const base = input();
    const cases: [string, Partial<ProposalInput>, string[]][] = [
      ["network name", { network: { ...base.network, name: "mainnet" } }, ["network.name"]],
      ["chain id", { network: { ...base.network, chainId: "main" } }, ["network.chainId"]],
      ["quorum", { network: { ...base.network, quorumThreshold: 4 } }, ["quorum.threshold"]],
      ["sequence", { sequence: "rollback-restore" }, ["sequence"]],
      ["window start", { window: { ...base.window, start: "2026-12-01T13:00" } }, ["window.start"]],
      ["window end", { window: { ...base.window, end: "2026-12-01T19:00" } }, ["window.end"]],
      ["live period", { checks: { ...base.checks, livePeriodSeconds: 900 } }, ["livePeriodSeconds"]],
      [
        "a test's command",
        { checks: { ...base.checks, txTests: { ...base.checks!.txTests, "self-payment": "other" } } },
        ["txTests.self-payment"],
      ],
      [
        "one more test",
        { checks: { ...base.checks, txTests: { ...base.checks!.txTests, fog: "./fog" } } },
        ["txTests.fog"],
      ],
      ["built-in tests", { checks: { livePeriodSeconds: 600 } }, ["txTests"]],
      [
        "an operator's key",
        {
          operators: {
            ...base.operators,
            operators: base.operators.operators.map((o) =>
              o.name === "bob" ? { ...o, publicKey: MALLORY.publicKey } : o,
            ),
          },
        },
        ["operators.bob.publicKey"],
      ],
      [
        "a node moved to another operator",
        {
          operators: { ...base.operators, nodeOperators: { ...base.operators.nodeOperators, node2: "bob" } },
        },
        ["operators.alice.nodes", "operators.bob.nodes"],
      ],
      [
        "one node fewer",
        {
          network: { ...base.network, nodes: base.network.nodes.slice(0, 4) },
          operators: {
            ...base.operators,
            nodeOperators: Object.fromEntries(
              Object.entries(base.operators.nodeOperators).filter(([n]) => n !== "node5"),
            ),
          },
        },
        ["operators.carol.nodes", "quorum.nodes"],
      ],
    ];
    for (const [what, over, paths] of cases) {
      const p = flagDayProposal(input(over));
      assert.notEqual(flagDayId(p), ID, what);
      assert.deepEqual(proposalDifferences(PROPOSAL, p), paths, what);
    }
  });

  test("refuses an input that cannot be agreed on, listing every problem with its field", () => {
    const base = input();
    const err = (() => {
      try {
        flagDayProposal(
          input({
            operators: {
              operators: [
                ...base.operators.operators,
                { name: "alice", publicKey: BOB.publicKey },
                { name: "Dave", publicKey: "x" },
                { name: "erin", publicKey: "not a key" },
              ],
              nodeOperators: { node1: "alice", node2: "zed", node3: "bob", node4: "carol", node9: "carol" },
            },
            window: { start: "2026-12-01T14:00", end: "2026-12-01T12:00", timeZone: "UTC" },
            checks: { livePeriodSeconds: -1 },
          }),
        );
      } catch (e) {
        return (e as Error).message;
      }
      return "no error";
    })();
    for (const expected of [
      /operators\[4\]\.name "alice" is listed twice/,
      /operators\[4\]\.publicKey is also operator bob's key/,
      /operators\[5\]\.name must be lowercase/,
      /operators\[6\]\.publicKey is not an Ed25519 public key/,
      /flagday:network\.nodes\[1\]\.operator is "zed", which is not in flagday:network\.operators/,
      /flagday:network\.nodes\[4\]\.operator is missing: every node names its operator/,
      /flagday:window\.end .* must be after/,
      /livePeriodSeconds must be a whole number/,
    ]) {
      assert.match(err, expected);
    }
    assert.throws(
      () => flagDayProposal(input({ window: undefined as never })),
      /timeZone must be an IANA time zone/,
    );
  });
});

describe("proposalDifferences", () => {
  test("nothing for the same proposal; sorted paths otherwise; a missing operator as a whole", () => {
    assert.deepEqual(proposalDifferences(PROPOSAL, flagDayProposal(input())), []);
    const p = flagDayProposal(
      input({
        to: { ...input().to, mrenclave: hex("dd"), blockVersion: 5 },
        operators: {
          operators: input().operators.operators.filter((o) => o.name !== "coordinator"),
          nodeOperators: input().operators.nodeOperators,
        },
      }),
    );
    assert.deepEqual(proposalDifferences(PROPOSAL, p), [
      "operators.coordinator",
      "to.blockVersion",
      "to.mrenclave",
    ]);
  });
});

describe("describeProposal", () => {
  test("states everything the operator signs, in words", () => {
    const text = describeProposal(PROPOSAL);
    for (const s of [
      `Flag-day proposal ${ID}`,
      "Network testnet (chain id test): enclave upgrade (flag day), v5.2.3 -> v6.0.0.",
      "Consensus fields that change: version, mrenclave, enclaveUri, enclaveSha256, blockVersion.",
      `MRENCLAVE      ${hex("a1")}`,
      `MRENCLAVE      ${hex("b2")}`,
      `tokens config  ${hex("70")}`,
      "block version  4",
      "Window: 2026-12-01 14:00 UTC to 2026-12-01 18:00 UTC",
      "Live period after the ingress reopens: 600 s.",
      "  cross-payment: ./test_client.py --cross",
      "  self-payment: ./test_client.py --self",
      "Quorum: 3 of 5 nodes.",
      "Operators (4), every one of whom must sign this id:",
      ": node1, node2",
      "coordinator (key ",
      "no nodes (coordinator)",
    ]) {
      assert.ok(text.includes(s), `missing ${JSON.stringify(s)} in:\n${text}`);
    }
    assert.ok(
      !text.includes(createPublicKey(ALICE.privateKey).export({ type: "spki", format: "pem" }) as string),
    );
  });
});
