// `flagday <command> --help` lists every flag of that command; usage errors still exit 2. Runs the CLI as a
// subprocess, as the stages do; no nodes needed.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { flagday } from "../sim/helpers";

const TARGETS = ["--nodes", "--admin", "--client"];
const COMMON = ["--request-timeout", "--help"];
const POLL = ["--interval"];
/** Where `board` and `progress` read the coordination board. */
const COORDINATION = ["--stack", "--board", "--operator-key", "--flag-day"];

/** Every subcommand and its flags, as the stages, the tests and the README call them. */
const FLAGS: Record<string, string[]> = {
  status: [...TARGETS, "--json"],
  quiesce: [...TARGETS, ...POLL, "--quiet-period", "--timeout"],
  attest: [...TARGETS, ...POLL, "--mrenclave", "--timeout", "--submit-tx", "--allow-unreported-mrenclave"],
  txtest: [...TARGETS, "--only", "--command", "--timeout", "--wallets"],
  live: [...TARGETS, ...POLL, "--period", "--traffic", "--stall"],
  healthy: [...TARGETS, ...POLL, "--mrenclave", "--timeout", "--allow-unreported-mrenclave"],
  heights: [...TARGETS, "--at-most", "--accept-loss", "--ingress-closed"],
  ingress: ["--control"],
  barrier: [
    "--stage",
    "--network",
    "--flag-day",
    "--sequence",
    "--operator",
    "--operator-key",
    "--board",
    "--payload",
    "--agree-on",
    "--timeout",
    "--interval",
    "--key-file",
  ],
  abort: ["--stack", "--reason", "--key-file"],
  board: ["--events", ...COORDINATION, "--text", "--once", "--port", "--admin"],
  progress: ["--events", ...COORDINATION],
};

/** The flags an option list in a help text names (at the option column, not in wrapped descriptions). */
const flagsIn = (help: string) => [...help.matchAll(/^ {2}(?:-\w, )?(--[\w-]+)/gm)].map((m) => m[1]);

describe("flagday --help", () => {
  test("the top-level help lists every subcommand and exits 0", async () => {
    const r = await flagday("--help");
    assert.equal(r.code, 0, r.stderr);
    for (const c of Object.keys(FLAGS)) assert.match(r.stdout, new RegExp(`^  ${c} `, "m"));
  });

  for (const [cmd, flags] of Object.entries(FLAGS)) {
    test(`${cmd} --help lists exactly its flags and exits 0`, async () => {
      const r = await flagday(cmd, "--help");
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^Usage: flagday ${cmd} \\[options\\]`, "m"));
      assert.deepEqual(flagsIn(r.stdout).sort(), [...flags, ...COMMON].sort());
      assert.equal(r.stderr, "");
    });
  }

  test("ingress --help names its action and the choices", async () => {
    const r = await flagday("ingress", "-h");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Usage: flagday ingress \[options\] <action>/m);
    assert.match(r.stdout.replace(/\s+/g, " "), /choices: "reject", "accept", "state"/);
  });

  test("usage errors exit 2 and say what is wrong", async () => {
    const unknown = await flagday("status", "--admin", "n=http://127.0.0.1:1", "--bogus");
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown option '--bogus'/);
    const missing = await flagday("quiesce", "--admin", "n=http://127.0.0.1:1", "--timeout", "1");
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^flagday quiesce: --quiet-period is required$/m);
    const pair = await flagday("heights", "--admin", "node1");
    assert.equal(pair.code, 2);
    assert.match(pair.stderr, /^flagday heights: --admin expects name=value, got "node1"$/m);
    const action = await flagday("ingress", "open", "--control", "http://127.0.0.1:1");
    assert.equal(action.code, 2);
    assert.match(action.stderr, /reject, accept, state/);
    const none = await flagday();
    assert.equal(none.code, 2);
    assert.match(none.stdout, /^Usage: flagday /m);
    const other = await flagday("frobnicate");
    assert.equal(other.code, 2);
    assert.match(other.stderr, /unknown command 'frobnicate'/);
  });
});
