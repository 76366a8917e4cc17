/**
 * The live board's page in headless Chromium for a flag day of three operators, without a network: two
 * operators' event logs (written here) and a directory coordination board with a forged arrival. The page shows
 * a lane per operator and node, alice's barrier cell says whom it waits for, the forged entry is listed as a
 * warning, and the page logs no console error.
 */
import { after, before, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Browser } from "playwright-core";
import { boardState, startBoard } from "../../checks/board";
import { agreeEntry, CoordinationBoard, entryKey, signEntry } from "../../components/coordination/board";
import { DirectoryBoardBackend } from "../../components/coordination/boardDir";
import { flagDayId, flagDayProposal, networkOperators } from "../../components/coordination/proposal";
import { ALICE, BOB, CAROL, MALLORY, input } from "../coordination/fixtures";
import { consoleErrors, launchChromium } from "./chromium";

const OPS = [ALICE, BOB, CAROL].map(({ name, publicKey }) => ({ name, publicKey }));
const NODES = { node1: "alice", node2: "alice", node3: "bob", node4: "carol", node5: "carol" };
const PROPOSAL = flagDayProposal(input({ operators: { operators: OPS, nodeOperators: NODES } }));

let browser: Browser;
let dir: string;
before(async () => {
  browser = await launchChromium();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "flagday-board-ops-"));
});
after(async () => {
  await browser?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test("the page of three operators: lanes per operator and node, whom a barrier waits for, a forged entry", async () => {
  const board = new CoordinationBoard(new DirectoryBoardBackend(path.join(dir, "board")));
  const arrival = (op: typeof ALICE, key = op.privateKey) =>
    signEntry(
      {
        network: "testnet",
        operator: op.name,
        kind: "progress",
        flagDayId: flagDayId(PROPOSAL),
        stage: "all-ready",
        payload: {},
      },
      key,
    );
  for (const op of [ALICE, BOB, CAROL]) await board.put(agreeEntry(PROPOSAL, op.name, op.privateKey));
  await board.put(arrival(ALICE));
  const forged = arrival(BOB, MALLORY.privateKey);
  await board.backend.create(entryKey(forged), JSON.stringify(forged));
  const now = Date.now() / 1000;
  const urn = (n: string) => `urn:pulumi:s::flagday::flagday:index:LocalCommand::testnet-u1-${n}`;
  const log = (operator: string, steps: [string, "resourcePreEvent" | "resOutputsEvent"][]) => {
    const file = path.join(dir, `${operator}.jsonl`);
    const events = [
      { timestamp: now - 20, preludeEvent: { config: { "flagday:operator": operator } } },
      ...steps.map(([n, kind]) => ({
        timestamp: now - 10,
        [kind]: { metadata: { op: "create", urn: urn(n) } },
      })),
    ];
    fs.writeFileSync(file, events.map((e) => JSON.stringify(e)).join("\n") + "\n");
    return file;
  };
  const files = [
    log("alice", [
      ["node1-preflight", "resourcePreEvent"],
      ["node1-preflight", "resOutputsEvent"],
      ["all-ready", "resourcePreEvent"],
    ]),
    log("bob", [["node3-preflight", "resourcePreEvent"]]),
  ];
  const server = await startBoard(
    boardState(files, {}, { board, operators: networkOperators({ operators: OPS, nodes: [] })! }),
  );
  const page = await browser.newPage({ viewport: { width: 1500, height: 500 } });
  const errors = consoleErrors(page);
  try {
    await page.goto(server.url);
    const waiting = await page.waitForSelector('td.waiting[data-lane="alice"][data-stage="all-ready"]');
    assert.match((await waiting.textContent()) ?? "", /^waiting for bob, carol \d+ s$/);
    assert.equal(await page.textContent('td[data-lane="alice/node1"][data-stage="preflight"]'), "done");
    assert.match(
      (await page.textContent('td[data-lane="bob/node3"][data-stage="preflight"]')) ?? "",
      /^running/,
    );
    assert.equal(await page.locator('td.done[data-lane="bob"][data-stage="all-ready"]').count(), 0);
    const lanes = await page.locator("#board tr th:first-child").allTextContents();
    assert.deepEqual(
      lanes.slice(1),
      ["alice", "alice/node1", "alice/node2", "bob", "bob/node3", "carol", "carol/node4", "carol/node5"],
      "carol's nodes too, with no log of hers: the nodes come from the proposal the operators signed",
    );
    assert.match((await page.textContent("#title")) ?? "", /^flag day on testnet \([0-9a-f]{12}\)$/);
    assert.match(
      (await page.textContent("#warnings")) ?? "",
      /WARNING ignored board entry testnet\/bob\/.*forged/,
    );
    assert.deepEqual(errors, [], "no console errors");
  } finally {
    await page.close();
    await server.close();
  }
});
