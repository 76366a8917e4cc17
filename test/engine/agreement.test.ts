/**
 * The operators' agreement through the real engine (issue 10, first slice): a rehearsal network whose nodes
 * belong to two operators starts a flag day only once both signed the same proposal on the board. One stack
 * drives every node here; operator stacks that manage only their own nodes come with the barriers.
 */
import { after, before, test } from "node:test";
import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { CoordinationBoard, agreeEntry } from "../../components/coordination/board";
import { DirectoryBoardBackend } from "../../components/coordination/boardDir";
import { flagDayProposal, networkOperators } from "../../components/coordination/proposal";
import { generateOperatorKey, privateKeyFrom } from "../../components/coordination/signing";
import type { NetworkSpec } from "../../components/network";
import type { EnclaveRelease } from "../../components/release";
import { bringUp, openWindow, ROOT } from "../../rehearsal/run";
import { ledgerDump, testNetwork, TestNetwork } from "./rehearsal-harness";

const run = promisify(execFile);
let net: TestNetwork;
const ALICE = generateOperatorKey();
const BOB = generateOperatorKey();
let board: string;
let keyFile: string;
let env: Record<string, string>;

before(async () => {
  net = await testNetwork("agreement");
  board = path.join(path.dirname(net.rootDir), "board");
  keyFile = path.join(path.dirname(net.rootDir), "alice.pem");
  fs.writeFileSync(keyFile, ALICE.privateKeyPem, { mode: 0o600 });
  const network = JSON.parse((await net.stack.getConfig("flagday:network")).value);
  network.operators = [
    { name: "alice", publicKey: ALICE.publicKey },
    { name: "bob", publicKey: BOB.publicKey },
  ];
  network.nodes = network.nodes.map((n: { name: string }, i: number) => ({
    ...n,
    operator: i < 2 ? "alice" : "bob",
  }));
  await net.stack.setConfig("flagday:network", { value: JSON.stringify(network) });
  await net.stack.setConfig("flagday:board", { value: JSON.stringify({ directory: board }) });
  await net.stack.setConfig("flagday:operator", { value: "alice" });
  env = { ...process.env, ...(net.stack.workspace.envVars ?? {}) } as Record<string, string>;
});
after(async () => {
  await net?.cleanup();
});

/** The proposal as bob's own stack would derive it, from the same description (or an edited one). */
async function proposalOfStack(edit: (to: EnclaveRelease) => EnclaveRelease = (r) => r) {
  const all = await net.stack.getAllConfig();
  const releases = JSON.parse(all["flagday:releases"].value) as Record<string, EnclaveRelease>;
  const network = JSON.parse(all["flagday:network"].value) as NetworkSpec & { release: string };
  const spec = { ...network, release: releases["v2.0.0"] };
  return flagDayProposal({
    network: spec,
    operators: networkOperators(spec)!,
    from: releases["v1.0.0"],
    to: edit(releases["v2.0.0"]),
    window: JSON.parse(all["flagday:window"].value),
    checks: JSON.parse(all["flagday:checks"].value),
  });
}

async function bobSigns(edit?: (to: EnclaveRelease) => EnclaveRelease) {
  await new CoordinationBoard(new DirectoryBoardBackend(board)).put(
    agreeEntry(await proposalOfStack(edit), "bob", privateKeyFrom(BOB.privateKeyPem)),
  );
}

test(
  "a network with operators comes up without any agreement (no flag day)",
  { timeout: 180_000 },
  async () => {
    const up = await bringUp(net.stack, "v1.0.0", net.log);
    assert.equal(up.summary.result, "succeeded");
  },
);

test("the flag day waits until every operator signed the same proposal", { timeout: 600_000 }, async () => {
  await net.stack.setConfig("flagday:release", { value: "v2.0.0" });
  await openWindow(net.stack, net.log);
  const before = ledgerDump(net.rootDir, "node1");

  // Nobody signed: the preview says so, the up refuses before any change.
  const preview = await net.stack.preview();
  assert.match(preview.stdout, /0 of 2 operators signed flag day/);
  await assert.rejects(net.stack.up(), (e: Error) => {
    assert.match(
      e.message,
      /not every operator has signed this flag day, so it cannot start\. Nothing was changed/,
    );
    assert.match(e.message, /operator alice has not signed/);
    assert.match(e.message, /operator bob has not signed/);
    return true;
  });

  // alice signs with the CLI; bob signs a proposal with another MRENCLAVE.
  const cli = path.join(ROOT, "bin", "flagday.js");
  const node = path.join(ROOT, "node_modules", ".bin", "node");
  const signed = await run(node, [cli, "agree", "-s", net.name, "--key-file", keyFile], { env, cwd: ROOT });
  assert.match(signed.stdout, /enclave upgrade \(flag day\)/);
  assert.match(signed.stdout, /signed and posted: rehearsal\/alice\//);
  assert.match(signed.stdout, /1 of 2 operators signed flag day [0-9a-f]{12}: alice\./);
  assert.doesNotMatch(signed.stdout + signed.stderr, /PRIVATE KEY/);
  await bobSigns((r) => ({ ...r, mrenclave: "f".repeat(64) }));
  await assert.rejects(net.stack.up(), (e: Error) => {
    assert.match(
      e.message,
      /operator bob signed a different proposal \([0-9a-f]{12}\): to\.mrenclave differ/,
    );
    return true;
  });
  assert.deepEqual(
    ledgerDump(net.rootDir, "node1"),
    before,
    "nothing changed while the agreement was missing",
  );

  // A forged agreement (bob's name, a key not in the network) is ignored and reported.
  const forged = generateOperatorKey();
  const proposal = await proposalOfStack();
  const fake = agreeEntry(proposal, "bob", privateKeyFrom(forged.privateKeyPem));
  await new DirectoryBoardBackend(board).create(
    `rehearsal/bob/${fake.flagDayId}/agree`,
    JSON.stringify(fake),
  );
  const again = await net.stack.preview();
  assert.match(again.stdout, /ignored board entry rehearsal\/bob\/[0-9a-f]+\/agree/);
  assert.match(again.stdout, /1 of 2 operators signed/);

  // bob signs the agreed proposal (his earlier, different one stays on the board, write-once): it starts.
  fs.rmSync(path.join(board, "rehearsal", "bob", fake.flagDayId), { recursive: true, force: true });
  await bobSigns();
  const up = await net.stack.up();
  assert.equal(up.summary.result, "succeeded");
  const after = ledgerDump(net.rootDir, "node1");
  assert.equal(after.format, 2);
  assert.deepEqual(after.blocks.slice(0, before.blocks.length), before.blocks, "every pre-window block kept");
});
