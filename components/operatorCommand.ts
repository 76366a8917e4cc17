import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { LocalCommand } from "./local/command";
import { noopUpdate } from "./mobilecoin";
import { CommandArgs, Step } from "./platform";

/**
 * What runs a platform's commands (its stage steps, checks and gate switches) on the operator's machine:
 * - `pulumi-command`: @pulumi/command's `local.Command`, the Pulumi ecosystem's own (its plugin is installed by
 *   `pulumi up` from Pulumi's plugin download site, or by `pulumi plugin install`).
 * - `flagday`: flagday's own `LocalCommand` (components/local/command.ts), a dynamic provider served by the
 *   Node.js SDK itself: no plugin to install, for operator machines that cannot fetch or build that plugin (an
 *   air-gapped laptop, or this project's own tests, whose engine is built from Go modules without it). Same
 *   semantics: create once, re-run on a new trigger, secrets only in the environment.
 */
export type CommandProvider = "pulumi-command" | "flagday";
export const COMMAND_PROVIDERS: readonly CommandProvider[] = ["pulumi-command", "flagday"];

/**
 * `Platform.command` for platforms whose checks and switches run on the operator's machine (AWS, Kubernetes).
 * Secrets travel in `environment`, never in the command text that previews and logs show; a change of inputs
 * without a new trigger runs nothing.
 */
export function operatorCommandWith(provider: CommandProvider = "pulumi-command") {
  return (name: string, c: CommandArgs, opts: pulumi.CustomResourceOptions): Step => {
    const args = {
      create: c.create,
      update: noopUpdate(name),
      ...(c.delete !== undefined ? { delete: c.delete } : {}),
      triggers: [...c.triggers],
      ...(c.environment ? { environment: { ...c.environment } } : {}),
    };
    const cmd =
      provider === "flagday"
        ? new LocalCommand(name, args, opts)
        : new command.local.Command(name, args, opts);
    return { resource: cmd, output: cmd.stdout };
  };
}

/** `Platform.command` through @pulumi/command (the default provider). */
export const operatorCommand = operatorCommandWith("pulumi-command");
