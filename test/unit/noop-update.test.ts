/**
 * A step's no-op update (its inputs changed, its transition did not) keeps what the step recorded: @pulumi/command
 * records the update's stdout, and gives the previous one as PULUMI_COMMAND_STDOUT.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { noopUpdate } from "../../components/mobilecoin";

const run = (env: Record<string, string>) =>
  spawnSync("/bin/sh", ["-c", noopUpdate("node2 snapshot")], {
    encoding: "utf8",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
  });

test("the no-op prints the step's previous stdout (a snapshot id, a height) and says why on stderr", () => {
  const r = run({ PULUMI_COMMAND_STDOUT: "height=4242\nhash=ab" });
  assert.equal(r.status, 0);
  assert.equal(r.stdout, "height=4242\nhash=ab");
  assert.match(r.stderr, /node2 snapshot already ran for its transition; nothing to do/);
});

test("without a previous stdout it prints nothing (and still succeeds)", () => {
  const r = run({});
  assert.equal(r.status, 0);
  assert.equal(r.stdout, "");
});
