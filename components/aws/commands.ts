import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { CommandArgs, Step } from "../platform";

/**
 * What a step runs when its inputs change but its trigger (the transition id) does not: nothing. A stop or a
 * migration must run once per flag day, never again because a URL or a key rotated between flag days.
 */
export function noopUpdate(what: string): string {
  return `echo ${shellQuote(`flagday: ${what} already ran for its transition; nothing to do`)}`;
}

export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * `Platform.command` for platforms whose checks and switches run on the operator's machine (AWS, Kubernetes):
 * secrets travel in `environment`, never in the command text that previews and logs show.
 */
export function localCommand(name: string, c: CommandArgs, opts: pulumi.CustomResourceOptions): Step {
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
