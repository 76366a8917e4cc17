import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, test } from "node:test";
import {
  Ledger,
  LedgerError,
  makeBlock,
  migrateLedger,
  rawKeys,
  SEED_ACCOUNTS,
  txId,
  type Tx,
} from "../../rehearsal/sim/ledger";
import { sim, tmpDir } from "./helpers";

const root = tmpDir("ledger");
after(() => fs.rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => path.join(root, `l${n++}`, "ledger");

function pay(from: string, to: string, amount: number, nonce = String(Math.random())): Tx {
  const t = { kind: "payment" as const, from, to, amount, fog: false, nonce };
  return { id: txId(t), ...t };
}

async function ledgerWithBlocks(format: number, blocks: number): Promise<{ dir: string; ids: string[] }> {
  const dir = fresh();
  const l = await Ledger.open(dir, { format, create: true });
  for (let i = 0; i < blocks; i++)
    l.append(makeBlock(l.tip, 1_700_000_000_000 + i, [pay("alice", "bob", i + 1, `n${i}`)]));
  const ids = l.blocks(0, 1000).map((b) => b.id);
  await l.close();
  return { dir, ids };
}

test("create, append, reopen: hash chain verified and balances replayed", async () => {
  const { dir, ids } = await ledgerWithBlocks(1, 3);
  assert.ok(fs.existsSync(path.join(dir, "data.mdb")), "LMDB data.mdb in the ledger dir");
  const l = await Ledger.open(dir, { format: 1 });
  try {
    assert.equal(l.height, 4);
    assert.deepEqual(
      l.blocks(0, 10).map((b) => b.id),
      ids,
    );
    for (let i = 1; i < 4; i++) assert.equal(l.block(i)!.parent_id, l.block(i - 1)!.id);
    assert.equal(l.balance("alice"), SEED_ACCOUNTS.alice - 6);
    assert.equal(l.balance("bob"), SEED_ACCOUNTS.bob + 6);
    // Appending a block that does not chain onto the tip is refused.
    const stale = makeBlock(l.block(1), Date.now(), [pay("alice", "bob", 1)]);
    assert.throws(() => l.append(stale), /parent id|index/);
    // A double spend inside a block is refused.
    const ds = makeBlock(l.tip, Date.now(), [pay("carol", "dave", SEED_ACCOUNTS.carol + 1)]);
    assert.throws(() => l.append(ds), /double spend/);
  } finally {
    await l.close();
  }
});

test("two fresh ledgers share the same origin block", async () => {
  const a = await ledgerWithBlocks(1, 0);
  const b = await ledgerWithBlocks(2, 0);
  assert.equal(a.ids[0], b.ids[0]);
});

test("opening a ledger of another format is refused; the node does not start on it", async () => {
  const { dir } = await ledgerWithBlocks(1, 1);
  await assert.rejects(Ledger.open(dir, { format: 2 }), (e: unknown) => {
    assert.ok(e instanceof LedgerError);
    assert.equal(e.code, "FORMAT_MISMATCH");
    assert.match(e.message, /format version 1, but this release reads format 2/);
    return true;
  });
});

test("migration 1 -> 2 rewrites the on-disk layout and preserves every block id", async () => {
  const { dir, ids } = await ledgerWithBlocks(1, 4);
  const before = await rawKeys(dir);
  assert.ok(before.includes("blocks/0000000000000004"));
  const r = await sim("migrate", "--ledger-db", dir, "--to", "2");
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /migrated ledger format 1 -> 2 \(5 blocks\)/);
  const afterKeys = await rawKeys(dir);
  assert.ok(!afterKeys.some((k) => k.startsWith("blocks/")), "format-1 keys removed");
  assert.ok(afterKeys.includes("b2/hdr/0000000000000004") && afterKeys.includes(`b2/id/${ids[4]}`));
  const dumped = JSON.parse((await sim("ledger-dump", "--ledger-db", dir)).stdout);
  assert.equal(dumped.format, 2);
  assert.deepEqual(
    dumped.blocks.map((b: { id: string }) => b.id),
    ids,
  );
  const l = await Ledger.open(dir, { format: 2 });
  assert.equal(l.balance("bob"), SEED_ACCOUNTS.bob + 10);
  await l.close();
});

test("migrating a current ledger is a no-op that says so", async () => {
  const { dir } = await ledgerWithBlocks(2, 2);
  const stat = fs.statSync(path.join(dir, "data.mdb")).mtimeMs;
  const r = await sim("migrate", "--ledger-db", dir);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /already at format 2, nothing to do/);
  assert.equal(fs.statSync(path.join(dir, "data.mdb")).mtimeMs, stat);
  const direct = await migrateLedger(dir, 2);
  assert.equal(direct.migrated, false);
});

test("unknown versions are refused: unknown target, unknown stored format, downgrade", async () => {
  const { dir } = await ledgerWithBlocks(1, 1);
  const unknownTarget = await sim("migrate", "--ledger-db", dir, "--to", "9");
  assert.notEqual(unknownTarget.code, 0);
  assert.match(unknownTarget.stderr, /unknown target ledger format 9/);

  const future = fresh();
  const { open } = await import("lmdb");
  fs.mkdirSync(future, { recursive: true });
  const db = open({ path: future, encoding: "json" });
  await db.put("meta/format", 7);
  await db.close();
  const r = await sim("migrate", "--ledger-db", future);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /unknown ledger format version 7/);
  await assert.rejects(Ledger.open(future, { format: 1 }), /unknown ledger format version 7/);

  const { dir: two } = await ledgerWithBlocks(2, 1);
  const down = await sim("migrate", "--ledger-db", two, "--to", "1");
  assert.notEqual(down.code, 0);
  assert.match(down.stderr, /forward only/);
});

test("migrate refuses a ledger in use by a running node (pid file)", async () => {
  const { dir } = await ledgerWithBlocks(1, 0);
  // Point the node's pid file at a live process whose command line names consensus-service-sim.
  const { spawn } = await import("node:child_process");
  const child = spawn(process.execPath, ["-e", "setTimeout(()=>{}, 20000)", "consensus-service-sim"], {
    stdio: "ignore",
  });
  try {
    fs.writeFileSync(path.join(path.dirname(dir), "node.pid"), String(child.pid));
    const r = await sim("migrate", "--ledger-db", dir);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /in use by a running node \(pid \d+\)/);
  } finally {
    child.kill("SIGKILL");
  }
  await new Promise((r) => child.once("exit", r));
  const r2 = await sim("migrate", "--ledger-db", dir);
  assert.equal(r2.code, 0, r2.stderr);
});
