import { execFile } from "node:child_process";
import * as path from "node:path";
import { promisify } from "node:util";
import { ROOT } from "./controlPlane";

/** How long a `before` may wait for scripts/build-kube.sh: a cold build of both takes about 25 minutes. */
export const BUILD_TIMEOUT_MS = 60 * 60_000;

/**
 * Runs scripts/build-kube.sh (seconds when its stamps are up to date; scripts/test.sh runs it before the tests so
 * that a cold build is not spent inside a test). `what`: "control-plane", "provider" or both.
 */
export async function buildKube(what?: "control-plane" | "provider"): Promise<void> {
  try {
    await promisify(execFile)(
      "bash",
      [path.join(ROOT, "scripts", "build-kube.sh"), ...(what ? [what] : [])],
      {
        cwd: ROOT,
        maxBuffer: 64 * 1024 * 1024,
      },
    );
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`scripts/build-kube.sh failed:\n${err.stderr || err.message}`);
  }
}
