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

/** The provider's code (plain JavaScript, loaded by the provider's process). */
const PROVIDER_MODULE = path.join(__dirname, "commandProvider.js");

/** The provider itself, for tests that call it without the engine. */
export const localCommandProvider: Required<pulumi.dynamic.ResourceProvider> = require(PROVIDER_MODULE);

/**
 * What the dynamic provider's process loads for every LocalCommand (the resource's `__provider` property): a module
 * whose `handler()` returns the provider. `pulumi.dynamic.Resource` would serialize the provider's closures into
 * it (2.6 kB, even as four one-line methods that load commandProvider.js), and it is kept twice in every
 * resource's state (inputs and outputs), which the engine writes whole before and after every step, one save at a
 * time, while the window's steps wait: every byte here is about 200 bytes of every save of a 10-node network. This
 * module is the same contract in under 0.4 kB: it loads the provider from the checkout that made the resource, or,
 * if that checkout moved, from the one pulumi runs in (the provider's working directory is the program's folder,
 * inside it). Its text only changes with the checkout's path (or with this function), and a changed `__provider`
 * alone changes nothing (the SDK's dynamic provider diffs the command's own inputs only).
 */
export const providerLoader = (module: string): string => {
  const suffix = "/components/local/commandProvider.js";
  if (!module.endsWith(suffix))
    throw new Error(`flagday: the local command provider ${module} is not at *${suffix}`);
  const root = module.slice(0, -suffix.length);
  return (
    `"use strict";exports.handler=()=>{const p=require("path"),s=${JSON.stringify(suffix)},t=[${JSON.stringify(root)}+s];` +
    `for(let d=process.cwd();d!==p.dirname(d);d=p.dirname(d))t.push(d+s);` +
    `for(const f of t)try{return require(f)}catch(e){if(e.code!=="MODULE_NOT_FOUND")throw e}` +
    `throw Error("flagday: no local command provider in "+t.join(", ")+": run pulumi in a flagday checkout")};`
  );
};
const PROVIDER_LOADER = providerLoader(PROVIDER_MODULE);

/**
 * A Pulumi dynamic resource (type `pulumi-nodejs:dynamic/flagday:LocalCommand`, as `pulumi.dynamic.Resource`
 * names it, so existing stacks keep their resources), with its provider given as PROVIDER_LOADER.
 */
export class LocalCommand extends pulumi.CustomResource {
  declare readonly stdout: pulumi.Output<string>;
  declare readonly stderr: pulumi.Output<string>;

  constructor(name: string, args: LocalCommandArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      "pulumi-nodejs:dynamic/flagday:LocalCommand",
      name,
      { ...args, __provider: PROVIDER_LOADER, stdout: undefined, stderr: undefined },
      opts,
    );
  }
}
