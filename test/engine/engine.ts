import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { EngineEvent, LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import { fileBackendUrl } from "../../rehearsal/run";

/** The repository root and the engine toolchain that `npm run engine` builds. */
export const ROOT = path.resolve(__dirname, "..", "..");
export const ENGINE_VERSION = "3.259.0";

/**
 * A stack of a project directory, run by the real engine (.engine/bin/pulumi and the Node.js language host)
 * against a throwaway local file backend, offline. Returns the stack and a cleanup function.
 */
export async function engineStack(
  workDir: string,
  stackName: string,
  extraEnv: Record<string, string> = {},
): Promise<{ stack: Stack; stateDir: string; cleanup: () => void }> {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "flagday-engine-"));
  const env: Record<string, string> = {
    PATH: `${path.join(ROOT, ".engine", "bin")}:${path.join(ROOT, "bin")}:${path.join(ROOT, "node_modules", ".bin")}:${process.env.PATH}`,
    PULUMI_HOME: path.join(stateDir, "home"),
    PULUMI_BACKEND_URL: fileBackendUrl(path.join(stateDir, "state")),
    PULUMI_CONFIG_PASSPHRASE: "flagday-test-only",
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_NODEJS_TRANSPILE_ONLY: "true",
    PULUMI_PARALLEL: "64",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    ...extraEnv,
  };
  fs.mkdirSync(env.PULUMI_HOME, { recursive: true });
  fs.mkdirSync(path.join(stateDir, "state"), { recursive: true });
  const pulumiCommand = await PulumiCommand.get({ root: path.join(ROOT, ".engine"), version: undefined });
  const ws = await LocalWorkspace.create({
    workDir,
    envVars: env,
    pulumiCommand,
    pulumiHome: env.PULUMI_HOME,
  });
  const stack = await Stack.createOrSelect(stackName, ws);
  return { stack, stateDir, cleanup: () => fs.rmSync(stateDir, { recursive: true, force: true }) };
}

/** The engine's resource steps in event order: `op urn-name` for every resourcePreEvent. */
export function steps(events: EngineEvent[]): { op: string; type: string; name: string }[] {
  return events
    .filter((e) => e.resourcePreEvent)
    .map((e) => {
      const m = e.resourcePreEvent!.metadata;
      return { op: m.op, type: m.type, name: m.urn.split("::").pop() ?? m.urn };
    });
}
