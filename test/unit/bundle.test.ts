// bin/bundle.js: the simulator's and the checks CLI's TypeScript run as a bundle cached in .engine/, rebuilt when
// a source changes, through tsx when it cannot be built. Tried on a copy of bin/bundle.js in a scratch checkout
// (its node_modules a link to this one's), and on the real checks CLI run from outside the checkout.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";

const ROOT = path.resolve(__dirname, "../..");
const run = promisify(execFile);

/** A scratch checkout: bin/bundle.js, a two-file TypeScript entry, node_modules linked. */
function scratch(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "flagday-bundle-"));
  fs.mkdirSync(path.join(dir, "bin"));
  fs.mkdirSync(path.join(dir, "src"));
  fs.copyFileSync(path.join(ROOT, "bin", "bundle.js"), path.join(dir, "bin", "bundle.js"));
  fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"));
  fs.writeFileSync(path.join(dir, "src", "word.ts"), `export const word: string = "first";\n`);
  fs.writeFileSync(
    path.join(dir, "src", "entry.ts"),
    `import { word } from "./word";\nexport const answer = (): string => \`\${word} \${process.env.FLAGDAY_CHECKOUT}\`;\n`,
  );
  // What a bin script does: load the entry from its bundle, print what it answers and where it came from.
  fs.writeFileSync(
    path.join(dir, "bin", "main.js"),
    `const m = require("./bundle").loadBundled("src/entry.ts", ".engine/x/entry.cjs");\n` +
      `const tsx = Object.keys(require.cache).some((k) => k.includes("/tsx/"));\n` +
      `console.log(JSON.stringify({ answer: m.answer(), tsx }));\n`,
  );
  return dir;
}

async function main(dir: string): Promise<{ answer: string; tsx: boolean }> {
  const { stdout } = await run(process.execPath, [path.join(dir, "bin", "main.js")], { cwd: os.tmpdir() });
  return JSON.parse(stdout) as { answer: string; tsx: boolean };
}

test("the entry runs from a bundle built once, reused while its sources are unchanged, rebuilt when one changes", async (t) => {
  const dir = scratch();
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const bundle = path.join(dir, ".engine", "x", "entry.cjs");

  assert.deepEqual(await main(dir), { answer: `first ${dir}`, tsx: false });
  const inputs = JSON.parse(fs.readFileSync(`${bundle}.inputs.json`, "utf8")) as { inputs: string[] };
  assert.deepEqual(inputs.inputs, ["src/entry.ts", "src/word.ts"]);
  const built = fs.statSync(bundle);

  assert.deepEqual(await main(dir), { answer: `first ${dir}`, tsx: false });
  assert.equal(fs.statSync(bundle).ino, built.ino, "an unchanged source must not rebuild the bundle");

  // A change to a file the entry imports, not to the entry itself.
  fs.writeFileSync(path.join(dir, "src", "word.ts"), `export const word: string = "second";\n`);
  assert.deepEqual(await main(dir), { answer: `second ${dir}`, tsx: false });
  assert.notEqual(fs.statSync(bundle).ino, built.ino);
  assert.deepEqual(
    fs.readdirSync(path.dirname(bundle)).filter((f) => f.endsWith(".tmp")),
    [],
    "no temporary file is left",
  );
});

test("where the bundle cannot be built, the entry runs through tsx", async (t) => {
  const dir = scratch();
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  // .engine is a file: no folder can be made for the bundle.
  fs.writeFileSync(path.join(dir, ".engine"), "");
  assert.deepEqual(await main(dir), { answer: `first ${dir}`, tsx: true });
});

test("the checks CLI, run from its bundle outside the checkout, still finds the checkout's stacks", async () => {
  const { stdout } = await run(
    process.execPath,
    [path.join(ROOT, "bin", "flagday.js"), "plan", "-s", "rehearsal", "--to", "v2.0.0"],
    { cwd: os.tmpdir() },
  );
  assert.match(stdout, /^# Flag-day runbook: rehearsal \(stack rehearsal\)$/m);
  assert.ok(
    fs.existsSync(path.join(ROOT, ".engine", "checks", "flagday.cjs")),
    "the CLI ran from its bundle",
  );
});
