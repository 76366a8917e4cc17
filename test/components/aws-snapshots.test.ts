/**
 * Issue 13: the AWS platform's snapshots as the steps run them, against moto's EC2 on loopback (the exact
 * command texts the platform registers, through the venv's aws CLI):
 * - the warm snapshot (prepare) and the window's cut are found again by their tags, so a re-run after an
 *   interruption takes no second snapshot; two candidates fail the step naming both;
 * - the cut returns the id of a `pending` or `completed` snapshot; the seal waits for `completed`;
 * - the rollback's lookup filters (the ones the platform sends) find the window's snapshot and never the warm
 *   one, which was taken while clients were served.
 * moto completes a snapshot at once, so the wait for `pending` and the seal's timeout are shown with a stand-in
 * aws CLI that reports the state a test gives.
 */
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { sealScript, snapshotScript } from "../../components/aws/scripts";
import { snapshotLookupFilters, warmSnapshotTags, windowSnapshotTags } from "../../components/aws/snapshots";
import { Moto, sh, startMoto, VENV_BIN } from "./moto";

const CLI = { region: "us-west-2", profile: "flagday-test" };
const T = "u1-upgrade-abc";

describe("AWS snapshots against moto's EC2: found again, cut, sealed, never confused", () => {
  let moto: Moto;
  let volume: string;
  before(async () => {
    moto = await startMoto();
    volume = moto.awsJson("ec2", "create-volume", "--availability-zone", "us-west-2a", "--size", "8")
      .VolumeId as string;
  });
  after(() => moto?.stop());

  const run = (script: string) => sh(script, moto.env, [VENV_BIN]);
  const warm = () =>
    snapshotScript({
      cli: CLI,
      volumeId: volume,
      find: warmSnapshotTags("testnet", T, "node1"),
      tags: { "flagday:from": "v5", "flagday:to": "v6" },
      description: "warm",
      waitFor: "completed",
      timeoutSeconds: 60,
    });
  const cut = () =>
    snapshotScript({
      cli: CLI,
      volumeId: volume,
      find: windowSnapshotTags("testnet", T, "node1"),
      tags: { "flagday:height": "42", "flagday:contents": "data.mdb lock.mdb .distribution-state" },
      description: `flagday ${T}: testnet/node1 before v6`,
      waitFor: "cut",
      timeoutSeconds: 60,
    });
  /** What the platform's rollback lookup (aws.ebs.getSnapshotIds with its filters) would find. */
  const lookup = () => {
    const filters = snapshotLookupFilters("testnet", T, "node1").map(
      (f) => `Name=${f.name},Values=${f.values.join(",")}`,
    );
    return (
      moto.awsJson("ec2", "describe-snapshots", "--owner-ids", "self", "--filters", ...filters).Snapshots as {
        SnapshotId: string;
      }[]
    ).map((s) => s.SnapshotId);
  };
  /** Every snapshot this network's steps took (moto's account also holds its AMIs' snapshots). */
  const ours = () =>
    moto.awsJson(
      "ec2",
      "describe-snapshots",
      "--owner-ids",
      "self",
      "--filters",
      "Name=tag:flagday:network,Values=testnet",
    ).Snapshots as unknown[];
  const lastLine = (out: string) => out.trim().split("\n").pop();

  test("warm, then cut, then both again: two snapshots in all, each step's own id both times", () => {
    const w1 = run(warm());
    assert.equal(w1.code, 0, w1.err);
    const warmId = lastLine(w1.out)!;
    assert.match(warmId, /^snap-[0-9a-f]+$/);
    const c1 = run(cut());
    assert.equal(c1.code, 0, c1.err);
    const cutId = lastLine(c1.out)!;
    assert.match(cutId, /^snap-[0-9a-f]+$/);
    assert.notEqual(cutId, warmId);

    const w2 = run(warm());
    const c2 = run(cut());
    assert.equal(lastLine(w2.out), warmId, "a re-run of the warm snapshot reuses it");
    assert.equal(lastLine(c2.out), cutId, "a re-run of the cut reuses it");
    assert.match(c2.err, /already taken by this step: reused/);
    const all = ours();
    assert.equal(all.length, 2, "one warm and one window snapshot");

    // The window's snapshot carries what the rollback needs, spaces and all.
    const snap = moto.awsJson("ec2", "describe-snapshots", "--snapshot-ids", cutId).Snapshots[0] as {
      Tags: { Key: string; Value: string }[];
      VolumeId: string;
    };
    const tags = Object.fromEntries(snap.Tags.map((t) => [t.Key, t.Value]));
    assert.equal(tags["flagday:height"], "42");
    assert.equal(tags["flagday:contents"], "data.mdb lock.mdb .distribution-state");
    assert.equal(tags["flagday:transition"], T);
    assert.equal(snap.VolumeId, volume);

    // The rollback's lookup finds the window's snapshot only: never the warm one.
    assert.deepEqual(lookup(), [cutId]);

    const seal = run(sealScript({ cli: CLI, snapshotId: cutId, timeoutSeconds: 30 }));
    assert.equal(seal.code, 0, seal.err);
    assert.match(seal.out, new RegExp(`${cutId} sealed \\(completed\\)`));
  });

  test("a copy with the same tags (AWS Backup, DLM, by hand): the cut fails naming both, and takes none", () => {
    const [own] = lookup();
    const copy = moto.awsJson(
      "ec2",
      "create-snapshot",
      "--volume-id",
      volume,
      "--tag-specifications",
      JSON.stringify([
        {
          ResourceType: "snapshot",
          Tags: Object.entries(windowSnapshotTags("testnet", T, "node1")).map(([Key, Value]) => ({
            Key,
            Value,
          })),
        },
      ]),
    ).SnapshotId as string;
    const before = ours().length;
    const r = run(cut());
    assert.notEqual(r.code, 0);
    assert.match(r.err, /2 snapshots of this account carry this step's tags/);
    assert.ok(r.err.includes(own) && r.err.includes(copy), r.err);
    assert.match(r.err, /Nothing was changed/);
    const after = ours().length;
    assert.equal(after, before, "no snapshot taken");
  });
});

describe("the cut waits for pending, the seal for completed (a stand-in aws reporting the states)", () => {
  const dirs: string[] = [];
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  /** An `aws` on PATH that lists no snapshot, creates snap-0new, and reports `state` for it. */
  const fakeAws = (state: string) => {
    const dir = mkdtempSync(join(tmpdir(), "flagday-fake-aws-"));
    dirs.push(dir);
    writeFileSync(
      join(dir, "aws"),
      [
        "#!/bin/sh",
        `echo "$*" >> "${dir}/calls"`,
        'case "$*" in',
        '  *"create-snapshot"*) echo snap-0new ;;',
        '  *"--snapshot-ids"*) echo ' + state + " ;;",
        "  *) echo ;;",
        "esac",
      ].join("\n"),
    );
    chmodSync(join(dir, "aws"), 0o755);
    return dir;
  };
  const cutFor = (timeoutSeconds: number) =>
    snapshotScript({
      cli: CLI,
      volumeId: "vol-1",
      find: windowSnapshotTags("testnet", T, "node1"),
      tags: {},
      description: "d",
      waitFor: "cut",
      timeoutSeconds,
    });

  test("pending is cut: the step returns the id while the copy goes on", () => {
    const r = sh(cutFor(5), {}, [fakeAws("pending")]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out.trim(), "snap-0new");
  });

  test("a snapshot in error fails the cut and the seal, naming it", () => {
    const dir = fakeAws("error");
    const c = sh(cutFor(5), {}, [dir]);
    assert.notEqual(c.code, 0);
    assert.match(c.err, /snapshot snap-0new failed \(state error\)/);
    const s = sh(sealScript({ cli: CLI, snapshotId: "snap-0new", timeoutSeconds: 5 }), {}, [dir]);
    assert.notEqual(s.code, 0);
    assert.match(s.err, /snap-0new failed \(state error\)/);
  });

  test("a seal that times out fails, saying a re-run keeps waiting", () => {
    const r = sh(sealScript({ cli: CLI, snapshotId: "snap-0new", timeoutSeconds: 0 }), {}, [
      fakeAws("pending"),
    ]);
    assert.notEqual(r.code, 0);
    assert.match(
      r.err,
      /snapshot snap-0new not completed after 0s \(state pending\): re-run to keep waiting/,
    );
  });
});
