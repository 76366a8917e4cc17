import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { noopUpdate } from "./mobilecoin";
import { CommandArgs, Step } from "./platform";

/**
 * `Platform.command` for platforms whose checks and switches run on the operator's machine (AWS, Kubernetes):
 * @pulumi/command's local.Command. Secrets travel in `environment`, never in the command text that previews and
 * logs show; a change of inputs without a new trigger runs nothing.
 */
export function operatorCommand(name: string, c: CommandArgs, opts: pulumi.CustomResourceOptions): Step {
  const cmd = new command.local.Command(
    name,
    {
      create: c.create,
      update: noopUpdate(name),
      ...(c.delete !== undefined ? { delete: c.delete } : {}),
      triggers: [...c.triggers],
      ...(c.environment ? { environment: { ...c.environment } } : {}),
    },
    opts,
  );
  return { resource: cmd, output: cmd.stdout };
}
