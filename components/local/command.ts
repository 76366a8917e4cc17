import * as path from "node:path";
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

/** The provider's code (plain JavaScript, loaded by the provider's process). */
const PROVIDER_MODULE = path.join(__dirname, "commandProvider.js");

/**
 * Pulumi serializes a dynamic provider into every resource's state (`__provider`, in its inputs and again in
 * its outputs), and the engine rewrites the whole state file after each step. Serialized whole (4.9 kB), this
 * provider made up about two thirds of a 10-node network's state (1.6 MB after a flag day), and every step of the
 * window waited for those checkpoints. So what is serialized is four one-line methods that load its code from
 * the checkout (commandProvider.js). Builtin modules and this path are the only captures. A resource made before
 * the checkout moved finds the module in the checkout the provider runs in (its working directory is the
 * program's folder, stacks/, inside the checkout).
 */
export const localCommandProvider: pulumi.dynamic.ResourceProvider = {
  diff: (id: string, olds: Inputs, news: Inputs) => providerModule().diff(id, olds, news),
  create: (inputs: Inputs) => providerModule().create(inputs),
  update: (id: string, olds: Inputs, news: Inputs) => providerModule().update(id, olds, news),
  delete: (id: string, olds: Inputs) => providerModule().delete(id, olds),
};

function providerModule(): Required<pulumi.dynamic.ResourceProvider> {
  try {
    return require(PROVIDER_MODULE);
  } catch (e) {
    if ((e as { code?: string }).code !== "MODULE_NOT_FOUND") throw e;
    const path = require("path");
    for (let dir = process.cwd(); ; dir = path.dirname(dir)) {
      try {
        return require(path.join(dir, "components", "local", "commandProvider.js"));
      } catch (again) {
        if ((again as { code?: string }).code !== "MODULE_NOT_FOUND") throw again;
        if (dir === path.dirname(dir)) {
          throw new Error(
            `flagday: the local command provider's code is not at ${PROVIDER_MODULE} (the checkout that made ` +
              `this resource moved or is gone), nor in components/local/commandProvider.js above ` +
              `${process.cwd()}: run pulumi from a flagday checkout's stacks/ folder.`,
          );
        }
      }
    }
  }
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
