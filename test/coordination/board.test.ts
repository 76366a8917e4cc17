/**
 * The coordination board's rules on both backends: a local directory, and a real S3-compatible server (moto,
 * started on loopback by this file) through the AWS SDK. The same suite runs on each.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import {
  BoardBackend,
  BoardEntry,
  CoordinationBoard,
  EntryContent,
  EntryExistsError,
  MAX_ENTRY_BYTES,
  agreeEntry,
  agreementStatus,
  describeAgreement,
  describeRejected,
  entryKey,
  signEntry,
} from "../../components/coordination/board";
import { DirectoryBoardBackend } from "../../components/coordination/boardDir";
import { S3BoardBackend, boardBucketPolicy } from "../../components/coordination/boardS3";
import { flagDayId, flagDayProposal } from "../../components/coordination/proposal";
import { hex } from "../unit/fixtures";
import { ALICE, BOB, CAROL, COORD, MALLORY, PROPOSAL, TestOperator, input } from "./fixtures";
import { S3Server, startS3Server } from "../../rehearsal/s3server";

const ID = flagDayId(PROPOSAL);
const OTHER = flagDayProposal(input({ to: { ...input().to, mrenclave: hex("dd") } }));
const OTHER_ID = flagDayId(OTHER);

function progress(
  op: TestOperator,
  stage: string,
  over: Partial<EntryContent> = {},
  key = op.privateKey,
): BoardEntry {
  return signEntry(
    {
      network: "testnet",
      operator: op.name,
      kind: "progress",
      flagDayId: ID,
      stage,
      payload: { height: 10 },
      ...over,
    },
    key,
  );
}

/** Stores text at a key as an attacker with write access to the bucket or directory would: no checks. */
async function plant(backend: BoardBackend, key: string, entry: unknown): Promise<void> {
  await backend.create(key, typeof entry === "string" ? entry : JSON.stringify(entry));
}

let server: S3Server | undefined;
let buckets = 0;
/** A scratch folder for a directory board, removed after the test file. */
const boardDirs: string[] = [];
const boardDir = () => {
  const dir = mkdtempSync(path.join(tmpdir(), "flagday-board-"));
  boardDirs.push(dir);
  return dir;
};

const BACKENDS: { name: string; make: () => Promise<BoardBackend> }[] = [
  {
    name: "directory",
    make: async () => new DirectoryBoardBackend(boardDir()),
  },
  {
    name: "S3 (moto server on loopback, AWS SDK v3)",
    make: async () => {
      const bucket = `flagday-board-${++buckets}`;
      await server!.createBucket(bucket);
      return new S3BoardBackend({ bucket, client: server!.client(), prefix: "boards" });
    },
  },
];

before(async () => {
  server = await startS3Server();
});

after(async () => {
  await server?.stop();
  boardDirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
});

for (const { name, make } of BACKENDS) {
  describe(`board on ${name}`, () => {
    test("signed entries of every operator are read back verified, at keys derived from their content", async () => {
      const board = new CoordinationBoard(await make());
      for (const op of [ALICE, BOB, CAROL, COORD]) {
        assert.equal(
          await board.put(agreeEntry(PROPOSAL, op.name, op.privateKey)),
          `testnet/${op.name}/${ID}/agree`,
        );
      }
      assert.equal(await board.put(progress(ALICE, "stop")), `testnet/alice/${ID}/progress-stop`);
      assert.deepEqual(await board.list("testnet/alice/"), [
        `testnet/alice/${ID}/agree`,
        `testnet/alice/${ID}/progress-stop`,
      ]);
      const reading = await board.readFlagDay(PROPOSAL);
      assert.deepEqual(reading.rejected, []);
      assert.equal(reading.entries.length, 5);
      assert.deepEqual(reading.entries.find((e) => e.kind === "progress")?.payload, { height: 10 });
      const status = agreementStatus(PROPOSAL, reading);
      assert.equal(status.complete, true);
      assert.deepEqual(status.signed, ["alice", "bob", "carol", "coordinator"]);
      assert.equal(
        describeAgreement(status),
        `4 of 4 operators signed flag day ${ID.slice(0, 12)}: alice, bob, carol, coordinator.`,
      );
    });

    test("write-once: a second put to the same key is refused and the first entry stays", async () => {
      const backend = await make();
      const board = new CoordinationBoard(backend);
      const key = await board.put(progress(ALICE, "snapshot", { payload: { height: 10 } }));
      await assert.rejects(
        board.put(progress(ALICE, "snapshot", { payload: { height: 11 } })),
        (e: Error) => {
          assert.ok(e instanceof EntryExistsError);
          assert.match(e.message, new RegExp(`already has an entry at ${key}: board entries are write-once`));
          return true;
        },
      );
      await assert.rejects(backend.create(key, "{}"), EntryExistsError);
      const { entries } = await board.readFlagDay(PROPOSAL);
      assert.deepEqual(
        entries.map((e) => e.payload),
        [{ height: 10 }],
      );
    });

    test("of concurrent writers to one key exactly one wins, and its text is what is stored", async () => {
      const backend = await make();
      const key = `testnet/alice/${ID}/progress-start`;
      const results = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) => backend.create(key, JSON.stringify({ writer: i }))),
      );
      const won = results.flatMap((r, i) => (r.status === "fulfilled" ? [i] : []));
      assert.equal(won.length, 1, JSON.stringify(results));
      for (const r of results) {
        if (r.status === "rejected") assert.ok(r.reason instanceof EntryExistsError, String(r.reason));
      }
      assert.equal(await backend.read(key, MAX_ENTRY_BYTES), JSON.stringify({ writer: won[0] }));
    });

    test("forged, edited, replayed and unsigned entries are ignored and reported with the reason", async () => {
      const backend = await make();
      const board = new CoordinationBoard(backend);
      await board.put(agreeEntry(PROPOSAL, "alice", ALICE.privateKey));
      await board.put(progress(ALICE, "stop"));
      const k = (operator: string, kind: string) => `testnet/${operator}/${ID}/${kind}`;

      const { signature: _s, ...unsigned } = progress(ALICE, "quiesce");
      await plant(backend, k("alice", "progress-quiesce"), unsigned);
      await plant(backend, k("mallory", "agree"), agreeEntry(PROPOSAL, "mallory", MALLORY.privateKey));
      await plant(backend, k("alice", "progress-attest"), progress(ALICE, "attest", {}, MALLORY.privateKey));
      await plant(backend, k("carol", "agree"), agreeEntry(PROPOSAL, "carol", BOB.privateKey));
      await plant(backend, k("alice", "progress-snapshot"), {
        ...progress(ALICE, "snapshot"),
        payload: { height: 9 },
      });
      await plant(
        backend,
        k("alice", "progress-migrate"),
        progress(ALICE, "migrate", { flagDayId: OTHER_ID }),
      );
      await plant(backend, k("alice", "progress-start"), progress(ALICE, "start", { network: "mainnet" }));
      await plant(backend, k("carol", "progress-stop"), progress(BOB, "stop"));
      await plant(
        backend,
        k("bob", "agree"),
        signEntry(
          {
            network: "testnet",
            operator: "bob",
            kind: "agree",
            flagDayId: ID,
            payload: { proposal: OTHER as never },
          },
          BOB.privateKey,
        ),
      );
      await plant(backend, k("coordinator", "abort"), "abort! (not JSON)");
      await plant(backend, k("coordinator", "progress-live"), { ...progress(COORD, "live"), extra: 1 });

      const reading = await board.readFlagDay(PROPOSAL);
      const reasons = Object.fromEntries(reading.rejected.map((r) => [r.key, r.reason]));
      const expected: Record<string, RegExp> = {
        [k("alice", "progress-quiesce")]:
          /^unsigned: the entry names operator alice but carries no signature$/,
        [k("mallory", "agree")]:
          /^forged: operator mallory is not in the network's operator list \(alice, bob, carol, coordinator\)$/,
        [k("alice", "progress-attest")]:
          /^forged: signed by a key that is not in the network's operator list \(key "[0-9a-f]{16}"\), not by operator alice's key$/,
        [k("carol", "agree")]: /^forged: signed with operator bob's key but names operator carol$/,
        [k("alice", "progress-snapshot")]:
          /^edited: the content no longer matches operator alice's signature on it$/,
        [k("alice", "progress-migrate")]: new RegExp(
          `^replayed or moved: stored at .* but its signed content belongs at testnet/alice/${OTHER_ID}/progress-migrate$`,
        ),
        [k("alice", "progress-start")]: /^replayed: a mainnet entry on the testnet board$/,
        [k("carol", "progress-stop")]: new RegExp(
          `^replayed or moved: .* belongs at testnet/bob/${ID}/progress-stop$`,
        ),
        [k("bob", "agree")]: /^invalid agreement: its proposal does not hash to the flag-day id it signs$/,
        [k("coordinator", "abort")]: /^not a board entry: the stored text is not JSON$/,
        [k("coordinator", "progress-live")]: /^not a board entry: unexpected field\(s\) extra$/,
      };
      assert.deepEqual(Object.keys(reasons).sort(), Object.keys(expected).sort());
      for (const [key, re] of Object.entries(expected)) assert.match(reasons[key], re, key);
      assert.match(describeRejected(reading.rejected[0]), /^ignored board entry testnet\/\S+: /);

      // Never obeyed: only alice's two genuine entries count, and nobody but alice has agreed.
      assert.deepEqual(
        reading.entries.map((e) => entryKey(e)),
        [k("alice", "agree"), k("alice", "progress-stop")],
      );
      const status = agreementStatus(PROPOSAL, reading);
      assert.deepEqual(status.signed, ["alice"]);
      assert.deepEqual(status.missing, ["bob", "carol", "coordinator"]);
      assert.equal(status.complete, false);
    });

    test("an operator who signed a different proposal is named, with the fields that differ", async () => {
      const board = new CoordinationBoard(await make());
      await board.put(agreeEntry(PROPOSAL, "alice", ALICE.privateKey));
      await board.put(agreeEntry(OTHER, "bob", BOB.privateKey));
      await board.put(agreeEntry(PROPOSAL, "coordinator", COORD.privateKey));
      const status = agreementStatus(PROPOSAL, await board.readFlagDay(PROPOSAL));
      assert.deepEqual(status.missing, ["bob", "carol"]);
      assert.deepEqual(
        status.different.map((d) => [d.operator, d.flagDayId, d.differences]),
        [["bob", OTHER_ID, ["to.mrenclave"]]],
      );
      assert.equal(
        describeAgreement(status),
        [
          `2 of 4 operators signed flag day ${ID.slice(0, 12)}: alice, coordinator.`,
          `operator bob signed a different proposal (${OTHER_ID.slice(0, 12)}): to.mrenclave differ.`,
          `operator carol has not signed.`,
        ].join("\n"),
      );
    });

    test("rejects that concern other flag days stay out of this flag day's report", async () => {
      const backend = await make();
      const board = new CoordinationBoard(backend);
      await plant(
        backend,
        `testnet/alice/${OTHER_ID}/progress-stop`,
        progress(ALICE, "stop", { flagDayId: OTHER_ID }, MALLORY.privateKey),
      );
      assert.deepEqual((await board.readFlagDay(PROPOSAL)).rejected, []);
      const all = await board.read({ network: "testnet", operators: PROPOSAL.operators });
      assert.equal(all.rejected.length, 1);
      assert.equal(all.rejected[0].flagDayId, OTHER_ID);
    });

    test("a board opened for one operator writes only under that operator's prefix", async () => {
      const board = new CoordinationBoard(await make(), { operator: "alice" });
      await board.put(progress(ALICE, "stop"));
      await assert.rejects(
        board.put(progress(BOB, "stop")),
        /this board writes for operator alice only \(under testnet\/alice\/\), not for bob/,
      );
      await assert.rejects(
        board.put({ ...progress(ALICE, "start"), signature: "" }),
        /refusing to post a malformed board entry: it is not signed/,
      );
    });

    test("an entry larger than the limit is reported, never parsed", async () => {
      const backend = await make();
      const key = `testnet/alice/${ID}/progress-huge`;
      await plant(backend, key, { ...progress(ALICE, "huge"), payload: "x".repeat(MAX_ENTRY_BYTES) });
      const { rejected } = await new CoordinationBoard(backend).readFlagDay(PROPOSAL);
      assert.equal(rejected.length, 1);
      assert.match(rejected[0].reason, /^unreadable: \d+ bytes, more than the 262144 an entry may have$/);
    });

    test("keys that could escape the board are refused before the backend uses them", async () => {
      const backend = await make();
      for (const key of ["testnet/../x", "/abs", "testnet//x", "testnet/.hidden"]) {
        await assert.rejects(backend.create(key, "{}"), /is not a board key/);
      }
    });
  });
}

describe("board on a directory: files", () => {
  test("entries are read-only files, no temporary file stays, and writes in progress are not listed", async () => {
    const root = boardDir();
    const backend = new DirectoryBoardBackend(root);
    const key = await new CoordinationBoard(backend).put(progress(ALICE, "stop"));
    const dir = path.join(root, "testnet", "alice", ID);
    assert.deepEqual(readdirSync(dir), ["progress-stop"]);
    assert.equal(statSync(path.join(root, key)).mode & 0o777, 0o444);
    assert.deepEqual(await backend.list("testnet/"), [key]);
    assert.deepEqual(await backend.list("testnet/al"), [key]);
    assert.deepEqual(await backend.list("testnet/bob/"), []);
    assert.deepEqual(await backend.list("other/"), []);
  });
});

describe("board on S3: the server and the bucket policy", () => {
  test("moto honours If-None-Match: * on PutObject: the second conditional put fails with 412 PreconditionFailed", async () => {
    await server!.createBucket("flagday-evidence");
    const s3: S3Client = server!.client();
    const put = (body: string, conditional: boolean) =>
      s3.send(
        new PutObjectCommand({
          Bucket: "flagday-evidence",
          Key: "k",
          Body: body,
          ...(conditional ? { IfNoneMatch: "*" } : {}),
        }),
      );
    const get = async () =>
      (
        await s3.send(new GetObjectCommand({ Bucket: "flagday-evidence", Key: "k" }))
      ).Body!.transformToString();
    await put("first", true);
    await assert.rejects(put("second", true), (e: Error & { $metadata?: { httpStatusCode?: number } }) => {
      assert.equal(e.name, "PreconditionFailed");
      assert.equal(e.$metadata?.httpStatusCode, 412);
      return true;
    });
    assert.equal(await get(), "first");
    // Without the condition the same server overwrites: the header is what makes the board write-once.
    await put("third", false);
    assert.equal(await get(), "third");
    s3.destroy();
  });

  test("two boards in one bucket under different prefixes do not see each other", async () => {
    await server!.createBucket("flagday-shared");
    const a = new CoordinationBoard(
      new S3BoardBackend({ bucket: "flagday-shared", prefix: "a/", client: server!.client() }),
    );
    const b = new CoordinationBoard(
      new S3BoardBackend({ bucket: "flagday-shared", prefix: "b", client: server!.client() }),
    );
    await a.put(progress(ALICE, "stop"));
    await b.put(progress(ALICE, "stop"));
    assert.equal((await a.readFlagDay(PROPOSAL)).entries.length, 1);
    assert.deepEqual(await b.list("testnet/"), [`testnet/alice/${ID}/progress-stop`]);
  });

  test("the bucket policy lets each operator create objects only under its prefix, only conditionally", () => {
    const policy = boardBucketPolicy({
      bucket: "mc-flagday",
      prefix: "boards",
      network: "mainnet",
      writers: [
        { operator: "alice", principal: "arn:aws:iam::111111111111:role/flagday" },
        { operator: "bob", principal: "arn:aws:iam::222222222222:root" },
      ],
    }) as {
      Statement: {
        Sid: string;
        Action: string[];
        Resource: string;
        Condition?: unknown;
        Principal: unknown;
      }[];
    };
    const writes = policy.Statement.filter((s) => s.Action.includes("s3:PutObject"));
    assert.deepEqual(
      writes.map((s) => [s.Principal, s.Resource, s.Condition]),
      [
        [
          { AWS: "arn:aws:iam::111111111111:role/flagday" },
          "arn:aws:s3:::mc-flagday/boards/mainnet/alice/*",
          { Null: { "s3:if-none-match": "false" } },
        ],
        [
          { AWS: "arn:aws:iam::222222222222:root" },
          "arn:aws:s3:::mc-flagday/boards/mainnet/bob/*",
          { Null: { "s3:if-none-match": "false" } },
        ],
      ],
    );
    assert.ok(!JSON.stringify(policy).includes("s3:DeleteObject"));
  });
});
