// `flagday plan` through the CLI, as an operator runs it on a fresh clone: offline, from the stack file.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, test } from "node:test";
import { flagday } from "../sim/helpers";

const GOLDEN = path.resolve(__dirname, "../golden/runbook-rehearsal.md");
const flagsIn = (help: string) => [...help.matchAll(/^ {2}(?:-\w, )?(--[\w-]+)/gm)].map((m) => m[1]);

describe("flagday plan", () => {
  test("--help lists its flags and exits 0", async () => {
    const r = await flagday("plan", "--help");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Usage: flagday plan \[options\]/m);
    assert.deepEqual(
      flagsIn(r.stdout).sort(),
      ["--stack", "--from", "--to", "--out", "--board", "--request-timeout", "--help"].sort(),
    );
    const top = await flagday("--help");
    assert.match(top.stdout, /^ {2}plan /m);
  });

  test("prints the rehearsal's runbook, the golden file; --out writes it", async (t) => {
    const r = await flagday("plan", "-s", "rehearsal", "--to", "v2.0.0");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, fs.readFileSync(GOLDEN, "utf8"));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "flagday-plan-"));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const out = path.join(dir, "runbook.md");
    const w = await flagday("plan", "--stack", "rehearsal", "--to", "v2.0.0", "--out", out);
    assert.equal(w.code, 0, w.stderr);
    assert.equal(w.stdout, `wrote ${out}\n`);
    assert.equal(fs.readFileSync(out, "utf8"), r.stdout);
  });

  test("usage errors exit 2 and say what to give", async () => {
    const none = await flagday("plan");
    assert.equal(none.code, 2);
    assert.match(none.stderr, /^flagday plan: --stack is required$/m);
    const same = await flagday("plan", "-s", "rehearsal");
    assert.equal(same.code, 2);
    assert.match(same.stderr, /not a flag day\. Give --to <release>/);
    const unknown = await flagday("plan", "-s", "nosuch");
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no stack file stacks\/Pulumi\.nosuch\.yaml/);
    const noBoard = await flagday("plan", "-s", "rehearsal", "--to", "v2.0.0", "--board");
    assert.equal(noBoard.code, 2);
    assert.match(
      noBoard.stderr,
      /stack rehearsal names no coordination board \(flagday:board\): give --board <json>/,
    );
    const badBoard = await flagday("plan", "-s", "rehearsal", "--to", "v2.0.0", "--board", "{nope");
    assert.equal(badBoard.code, 2);
    assert.match(badBoard.stderr, /^flagday plan: --board is not JSON/m);
  });
});
