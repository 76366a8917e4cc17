// @ts-check
// What a LocalCommand step does (components/local/command.ts), in plain JavaScript: the dynamic provider's
// process (Pulumi's pulumi-resource-pulumi-nodejs) loads this file itself, without TypeScript, so that the
// provider Pulumi serializes into every LocalCommand's state is only a few lines that load it (see command.ts).
"use strict";
const crypto = require("node:crypto");
const fs = require("node:fs");
const { spawn } = require("node:child_process");

/**
 * @typedef {{ create: string; update?: string; delete?: string; triggers?: unknown[];
 *   environment?: Record<string, string>; dir?: string; logFile?: string;
 *   environmentDigest?: string; createDigest?: string; updateDigest?: string;
 *   stdout?: string; stderr?: string }} Inputs
 */

/** A digest of a command's text; undefined for no command. */
function textDigest(/** @type {string | undefined} */ text) {
  return text === undefined ? undefined : crypto.createHash("sha256").update(text).digest("hex");
}

/** A digest of the environment, kept instead of its (possibly secret) values, to notice a change. */
function environmentDigest(/** @type {Record<string, string> | undefined} */ environment) {
  const entries = Object.entries(environment ?? {}).sort(([a], [b]) => a.localeCompare(b));
  return crypto.createHash("sha256").update(JSON.stringify(entries)).digest("hex");
}

/**
 * The state keeps `create` and `update` as digests: they are in the resource's inputs already, and the engine
 * writes the whole state before and after every step, so every byte kept twice slows every step of the window.
 * `delete` stays whole: it is what runs when the program no longer declares the resource.
 */
function outputsOf(/** @type {Inputs} */ inputs, /** @type {{ stdout: string; stderr: string }} */ run) {
  const { environment, create, update, ...rest } = inputs;
  return {
    ...rest,
    createDigest: textDigest(create),
    ...(update === undefined ? {} : { updateDigest: textDigest(update) }),
    environmentDigest: environmentDigest(environment),
    stdout: run.stdout,
    stderr: run.stderr,
  };
}

/**
 * Runs the command in bash, appending its output to `logFile`; a failing command rejects with its exit code and
 * the tail of its output.
 * @returns {Promise<{ stdout: string; stderr: string }>}
 */
function runShell(/** @type {string} */ command, /** @type {Inputs} */ inputs) {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-c", command], {
      cwd: inputs.dir || process.cwd(),
      env: { ...process.env, ...(inputs.environment ?? {}) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    const log = inputs.logFile ? fs.createWriteStream(inputs.logFile, { flags: "a" }) : undefined;
    child.stdout.on("data", (d) => {
      stdout += d;
      log?.write(d);
    });
    child.stderr.on("data", (d) => {
      stderr += d;
      log?.write(d);
    });
    child.on("error", (e) => reject(e));
    child.on("close", (code, signal) => {
      log?.end();
      if (code === 0) return resolve({ stdout: stdout.trim(), stderr: stderr.trim() });
      const tail = (stderr.trim() || stdout.trim()).split("\n").slice(-15).join("\n");
      reject(
        new Error(`command failed (${signal ? `signal ${signal}` : `exit ${code}`}): ${command}\n${tail}`),
      );
    });
  });
}

/** A change of `triggers` replaces; a change of any other input updates. */
exports.diff = async (/** @type {string} */ _id, /** @type {Inputs} */ olds, /** @type {Inputs} */ news) => {
  const same = (/** @type {unknown} */ a, /** @type {unknown} */ b) =>
    JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
  const replaces = same(olds.triggers, news.triggers) ? [] : ["triggers"];
  const fields = /** @type {const} */ (["delete", "dir", "logFile"]);
  const changed = fields.filter((f) => !same(olds[f], news[f]));
  // `create` and `update` as digests (a state written before they were digests holds their text).
  if ((olds.createDigest ?? textDigest(olds.create)) !== textDigest(news.create)) changed.push("create");
  if ((olds.updateDigest ?? textDigest(olds.update)) !== textDigest(news.update)) changed.push("update");
  // The environment may hold secrets, so the state keeps only its digest: compare digests.
  const oldDigest = olds.environmentDigest ?? environmentDigest(undefined);
  if (oldDigest !== environmentDigest(news.environment)) changed.push("environment");
  return { changes: replaces.length > 0 || changed.length > 0, replaces, deleteBeforeReplace: false };
};

exports.create = async (/** @type {Inputs} */ inputs) => {
  const run = await runShell(inputs.create, inputs);
  return { id: crypto.randomBytes(8).toString("hex"), outs: outputsOf(inputs, run) };
};

exports.update = async (
  /** @type {string} */ _id,
  /** @type {Inputs} */ olds,
  /** @type {Inputs} */ news,
) => {
  if (news.update === undefined) return { outs: outputsOf(news, await runShell(news.create, news)) };
  // With an explicit `update`, the step's record stays what `create` printed (a snapshot id, a height).
  await runShell(news.update, news);
  return { outs: outputsOf(news, { stdout: olds.stdout ?? "", stderr: olds.stderr ?? "" }) };
};

exports.delete = async (/** @type {string} */ _id, /** @type {Inputs} */ olds) => {
  if (olds.delete) await runShell(olds.delete, olds);
};
