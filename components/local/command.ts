import * as pulumi from "@pulumi/pulumi";

/**
 * A shell command as a resource, with the semantics of @pulumi/command's `local.Command`: `create` runs when the
 * resource is created, a change of `triggers` replaces it (so `create` runs again), `delete` runs on delete, and
 * a change of any other input runs `update` (when given) instead of re-running `create`, and then keeps what
 * `create` printed as the step's output. A failing command fails the step with its exit code and the tail of
 * its output.
 *
 * Why not @pulumi/command itself: the engine here is built from Go modules, and the command provider's Go module
 * (github.com/pulumi/pulumi-command/provider) is not served by the module proxy this project can reach, so its
 * plugin cannot be built. This is a Pulumi dynamic provider, served by the Node.js SDK in the language host's
 * own process tree: no plugin to install. The AWS and Kubernetes platforms use @pulumi/command as usual.
 */
export interface LocalCommandArgs {
  readonly create: pulumi.Input<string>;
  readonly update?: pulumi.Input<string>;
  readonly delete?: pulumi.Input<string>;
  readonly triggers?: pulumi.Input<readonly pulumi.Input<unknown>[]>;
  /** Extra environment; values may be secrets (they are never copied into outputs). */
  readonly environment?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** Working directory. @default the program's directory */
  readonly dir?: pulumi.Input<string>;
  /** Appends the command's output to this file as it runs, so operators can follow a long step. */
  readonly logFile?: pulumi.Input<string>;
}

interface Inputs {
  create: string;
  update?: string;
  delete?: string;
  triggers?: unknown[];
  environment?: Record<string, string>;
  dir?: string;
  logFile?: string;
}

// Everything the provider uses is required inside its methods: Pulumi serializes these functions into the
// dynamic provider's process, and builtin modules are the only safe captures.
export const localCommandProvider: pulumi.dynamic.ResourceProvider = {
  async diff(_id: string, olds: Inputs, news: Inputs): Promise<pulumi.dynamic.DiffResult> {
    const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
    const replaces = same(olds.triggers, news.triggers) ? [] : ["triggers"];
    const fields = ["create", "update", "delete", "dir", "logFile"] as const;
    const changed: string[] = fields.filter((f) => !same(olds[f], news[f]));
    // The environment may hold secrets, so the state keeps only its digest: compare digests.
    const oldDigest =
      (olds as { environmentDigest?: string }).environmentDigest ?? environmentDigest(undefined);
    if (oldDigest !== environmentDigest(news.environment)) {
      changed.push("environment");
    }
    return {
      changes: replaces.length > 0 || changed.length > 0,
      replaces,
      deleteBeforeReplace: false,
    };
  },

  async create(inputs: Inputs): Promise<pulumi.dynamic.CreateResult> {
    const run = await runShell(inputs.create, inputs);
    return { id: require("crypto").randomBytes(8).toString("hex"), outs: outputsOf(inputs, run) };
  },

  async update(
    _id: string,
    olds: Inputs & { stdout?: string; stderr?: string },
    news: Inputs,
  ): Promise<pulumi.dynamic.UpdateResult> {
    if (news.update === undefined) return { outs: outputsOf(news, await runShell(news.create, news)) };
    // With an explicit `update`, the step's record stays what `create` printed (a snapshot id, a height).
    await runShell(news.update, news);
    return { outs: outputsOf(news, { stdout: olds.stdout ?? "", stderr: olds.stderr ?? "" }) };
  },

  async delete(_id: string, olds: Inputs): Promise<void> {
    if (olds.delete) await runShell(olds.delete, olds);
  },
};

function outputsOf(inputs: Inputs, run: { stdout: string; stderr: string }) {
  const { environment, ...rest } = inputs;
  return {
    ...rest,
    environmentDigest: environmentDigest(environment),
    stdout: run.stdout,
    stderr: run.stderr,
  };
}

/** A digest of the environment, kept instead of its (possibly secret) values, to notice a change. */
function environmentDigest(environment: Record<string, string> | undefined): string {
  const entries = Object.entries(environment ?? {}).sort(([a], [b]) => a.localeCompare(b));
  return require("crypto").createHash("sha256").update(JSON.stringify(entries)).digest("hex");
}

function runShell(command: string, inputs: Inputs): Promise<{ stdout: string; stderr: string }> {
  const { spawn } = require("child_process");
  const fs = require("fs");
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-c", command], {
      cwd: inputs.dir || process.cwd(),
      env: { ...process.env, ...(inputs.environment ?? {}) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    const log = inputs.logFile ? fs.createWriteStream(inputs.logFile, { flags: "a" }) : undefined;
    child.stdout.on("data", (d: Buffer) => {
      stdout += d;
      log?.write(d);
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d;
      log?.write(d);
    });
    child.on("error", (e: Error) => reject(e));
    child.on("close", (code: number | null, signal: string | null) => {
      log?.end();
      if (code === 0) return resolve({ stdout: stdout.trim(), stderr: stderr.trim() });
      const tail = (stderr.trim() || stdout.trim()).split("\n").slice(-15).join("\n");
      reject(
        new Error(`command failed (${signal ? `signal ${signal}` : `exit ${code}`}): ${command}\n${tail}`),
      );
    });
  });
}

export class LocalCommand extends pulumi.dynamic.Resource {
  declare readonly stdout: pulumi.Output<string>;
  declare readonly stderr: pulumi.Output<string>;

  constructor(name: string, args: LocalCommandArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      localCommandProvider,
      name,
      { ...args, stdout: undefined, stderr: undefined },
      opts,
      "flagday",
      "LocalCommand",
    );
  }
}
