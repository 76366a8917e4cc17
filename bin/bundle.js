// A TypeScript entry point of this checkout, run as a JavaScript bundle (esbuild, packages left to node_modules)
// cached in .engine/, rebuilt whenever a source file's digest differs from the one the bundle was built from.
// The simulator and the checks CLI start dozens of times in a flag day, so their start-up is part of what a
// window takes: a bundle costs about half the CPU of compiling the TypeScript through tsx at every start. If
// the bundle cannot be built (no esbuild, a read-only checkout), it runs the TypeScript through tsx as before.
"use strict";
const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");

const ROOT = path.resolve(__dirname, "..");

/** The digest of the bundle's source files, as named relative to the checkout. */
function digestOf(inputs) {
  const h = crypto.createHash("sha256");
  for (const f of inputs)
    h.update(f)
      .update("\0")
      .update(fs.readFileSync(path.join(ROOT, f)))
      .update("\0");
  return h.digest("hex");
}

/** Whether the bundle was built from the sources as they are now. */
function fresh(bundle) {
  try {
    const { inputs, digest } = JSON.parse(fs.readFileSync(`${bundle}.inputs.json`, "utf8"));
    return digest === digestOf(inputs);
  } catch {
    return false;
  }
}

/** Builds the bundle beside its final place, then renames: a concurrent start reads a whole file or none. */
function build(entry, bundle) {
  const esbuild = require("esbuild");
  const tmp = `${bundle}.${process.pid}.tmp`;
  fs.mkdirSync(path.dirname(bundle), { recursive: true });
  const r = esbuild.buildSync({
    entryPoints: [entry],
    bundle: true,
    packages: "external",
    platform: "node",
    format: "cjs",
    target: "node20",
    outfile: tmp,
    absWorkingDir: ROOT,
    metafile: true,
    logLevel: "silent",
  });
  const inputs = Object.keys(r.metafile.inputs).sort();
  fs.renameSync(tmp, bundle);
  const record = `${bundle}.inputs.json`;
  fs.writeFileSync(`${record}.${process.pid}.tmp`, JSON.stringify({ inputs, digest: digestOf(inputs) }));
  fs.renameSync(`${record}.${process.pid}.tmp`, record);
}

/**
 * Loads `entry` (a path relative to the checkout) from its bundle `bundle` (relative to the checkout too),
 * building it first when a source changed; through tsx when it cannot be built. Bundled code's `__dirname` is
 * the bundle's folder: code that needs the checkout reads FLAGDAY_CHECKOUT (set here) first.
 */
function loadBundled(entry, bundle) {
  process.env.FLAGDAY_CHECKOUT = ROOT;
  const source = path.join(ROOT, entry);
  const built = path.join(ROOT, bundle);
  try {
    if (!fresh(built)) build(source, built);
    return require(built);
  } catch {
    require("tsx/cjs");
    return require(source);
  }
}

module.exports = { loadBundled };
