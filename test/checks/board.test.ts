// `flagday board` and `flagday progress` through the CLI, as an operator runs them beside `pulumi up`: event logs
// written here in the engine's JSON form, a directory coordination board with entries signed by keys made here.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import type { BoardEvent } from "../../checks/board";
import { agreeEntry, CoordinationBoard, signEntry } from "../../components/coordination/board";
import { DirectoryBoardBackend } from "../../components/coordination/boardDir";
import { flagDayId, flagDayProposal } from "../../components/coordination/proposal";
import { ALICE, BOB, CAROL, input } from "../coordination/fixtures";
import { flagday } from "../sim/helpers";

const OPERATORS = [ALICE, BOB, CAROL];
const PROPOSAL = flagDayProposal(
  input({
    operators: {
      operators: OPERATORS.map(({ name, publicKey }) => ({ name, publicKey })),
      nodeOperators: { node1: "alice", node2: "alice", node3: "bob", node4: "carol", node5: "carol" },
    },
  }),
);
const keys = OPERATORS.flatMap((o) => ["--operator-key", `${o.name}=${o.publicKey}`]);
const step = (kind: "resourcePreEvent" | "resOutputsEvent", name: string, timestamp: number): BoardEvent => ({
  timestamp,
  [kind]: { metadata: { op: "create", urn: `urn:pulumi:s::flagday::flagday:index:LocalCommand::${name}` } },
});

let dir: string;
let boardJson: string;
const log = (name: string, events: BoardEvent[]) => {
  const file = path.join(dir, `${name}.jsonl`);
  fs.writeFileSync(file, events.map((e) => JSON.stringify(e)).join("\n") + "\n");
  return file;
};

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "flagday-board-cli-"));
  boardJson = JSON.stringify({ directory: path.join(dir, "board") });
  const board = new CoordinationBoard(new DirectoryBoardBackend(path.join(dir, "board")));
  for (const op of OPERATORS) await board.put(agreeEntry(PROPOSAL, op.name, op.privateKey));
  await board.put(
    signEntry(
      {
        network: "testnet",
        operator: "alice",
        kind: "progress",
        flagDayId: flagDayId(PROPOSAL),
        stage: "all-ready",
        payload: {},
      },
      ALICE.privateKey,
    ),
  );
});
after(() => dir && fs.rmSync(dir, { recursive: true, force: true }));

describe("flagday board and flagday progress", () => {
  test("board --text --once: two operators' logs and the board, the barrier says whom it waits for", async () => {
    const now = Date.now() / 1000;
    const alice = log("alice", [
      { timestamp: now, preludeEvent: { config: { "flagday:operator": "alice" } } },
      step("resourcePreEvent", "testnet-u1-node1-preflight", now),
      step("resOutputsEvent", "testnet-u1-node1-preflight", now),
      step("resourcePreEvent", "testnet-u1-all-ready", now),
    ]);
    const bob = log("bob", [
      { timestamp: now, preludeEvent: { config: { "flagday:operator": "bob" } } },
      step("resourcePreEvent", "testnet-u1-node3-preflight", now),
    ]);
    const r = await flagday(
      "board",
      "--events",
      alice,
      "--events",
      bob,
      "--board",
      boardJson,
      ...keys,
      "--text",
      "--once",
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^flag day on testnet \([0-9a-f]{12}\): ingress unknown/m);
    assert.match(r.stdout, /^alice\/node1 +done/m);
    assert.match(r.stdout, /^bob\/node3 +run \d+s/m);
    assert.match(r.stdout, /^carol\/node5/m);
    assert.match(r.stdout, /^WAITING alice all-ready: waiting for bob, carol$/m);
  });

  test("progress --events: the stages as the update runs them, and the update's end", async () => {
    const file = log("progress", [
      step("resourcePreEvent", "rehearsal-u1-node1-warm-snapshot", 100),
      step("resOutputsEvent", "rehearsal-u1-node1-warm-snapshot", 103),
      { timestamp: 104, summaryEvent: { isPreview: false, result: "succeeded", durationSeconds: 4 } },
    ]);
    const r = await flagday("progress", "--events", file);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split("\n"), [
      r.stdout.split("\n")[0],
      "   warm-snapshot: 1 of 1 node(s) done, node1 last (3.0 s in)",
      "-- the update ended: succeeded (4 s)",
    ]);
    assert.match(r.stdout, /^-- stage 1 of \d+, warm-snapshot: /);
  });

  test("usage errors exit 2 and say what to give", async () => {
    const none = await flagday("board");
    assert.equal(none.code, 2);
    assert.match(none.stderr, /^flagday board: --events <file> is required/m);
    const nokeys = await flagday("board", "--board", boardJson, "--text", "--once");
    assert.equal(nokeys.code, 2);
    assert.match(
      nokeys.stderr,
      /--board needs the operators' public keys .*--operator-key name=<public key>/,
    );
    const bad = await flagday("progress", "--events", "x.jsonl", "--board", "{nope", ...keys);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^flagday progress: --board is not JSON/m);
    const single = await flagday("progress", "-s", "rehearsal", "--events", "x.jsonl");
    assert.equal(single.code, 2);
    assert.match(single.stderr, /stack rehearsal lists no operators .*Give only --events <file>/);
  });
});
