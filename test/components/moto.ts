/**
 * moto's server (an AWS API stand-in from PyPI, in .venv by scripts/setup-s3-server.sh) on a free loopback
 * port, and the venv's aws CLI with a test profile: the AWS platform's command texts run against it as they
 * would against an account. Shared by the tests that run those commands.
 */
import assert from "node:assert/strict";
import { ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const VENV_BIN = join(resolve(__dirname, "..", ".."), ".venv", "bin");

/** The environment without the operator's own AWS settings: only what a test gives counts. */
export function cleanEnv(): Record<string, string> {
  const env = { ...process.env } as Record<string, string>;
  for (const k of Object.keys(env)) if (/^AWS_/.test(k)) delete env[k];
  return env;
}
/** Runs a command text as @pulumi/command's local.Command does: /bin/sh -c. */
export function sh(script: string, env: Record<string, string>, path: readonly string[] = []) {
  const base = cleanEnv();
  const r = spawnSync("/bin/sh", ["-c", script], {
    encoding: "utf8",
    env: { ...base, ...env, PATH: [...path, env.PATH ?? base.PATH].join(":") },
    timeout: 60_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** moto's server on a free loopback port, and an aws CLI configuration whose only credentials are a profile. */
export interface Moto {
  readonly url: string;
  readonly env: Record<string, string>;
  /** Stops the server and removes the aws CLI configuration folder. */
  readonly stop: () => void;
  /** The venv's aws CLI with the test profile, for setting up what the commands act on (parsed JSON). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the CLI's JSON, read by each test as it needs
  awsJson(...args: string[]): any;
}
async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => res(port));
    });
  });
}
export async function startMoto(): Promise<Moto> {
  for (const tool of ["moto_server", "aws"]) {
    assert.ok(
      existsSync(join(VENV_BIN, tool)),
      `${join(VENV_BIN, tool)} is missing: run \`bash scripts/setup-s3-server.sh\` (npm test does)`,
    );
  }
  const port = await freePort();
  const child: ChildProcess = spawn(join(VENV_BIN, "moto_server"), ["-H", "127.0.0.1", "-p", String(port)], {
    stdio: ["ignore", "ignore", "pipe"],
    env: cleanEnv(),
  });
  let stderr = "";
  child.stderr?.on("data", (d) => (stderr += d));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/moto-api/`, { signal: AbortSignal.timeout(1000) })).ok) break;
    } catch {
      /* not up yet */
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill();
      throw new Error(`moto_server did not start on ${url}: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const conf = mkdtempSync(join(tmpdir(), "flagday-moto-"));
  writeFileSync(join(conf, "config"), "[profile flagday-test]\nregion = us-west-2\n");
  writeFileSync(
    join(conf, "credentials"),
    "[flagday-test]\naws_access_key_id = testing\naws_secret_access_key = testing\n",
  );
  // AWS_ENDPOINT_URL is the aws CLI's own setting: the commands under test are unchanged.
  const env = {
    AWS_ENDPOINT_URL: url,
    AWS_CONFIG_FILE: join(conf, "config"),
    AWS_SHARED_CREDENTIALS_FILE: join(conf, "credentials"),
    AWS_EC2_METADATA_DISABLED: "true",
  };
  return {
    url,
    env,
    stop: () => {
      child.kill();
      rmSync(conf, { recursive: true, force: true });
    },
    awsJson: (...args: string[]) =>
      JSON.parse(
        execFileSync(
          join(VENV_BIN, "aws"),
          [...args, "--region", "us-west-2", "--profile", "flagday-test", "--output", "json"],
          { encoding: "utf8", maxBuffer: 64 * 1024 * 1024, env: { ...cleanEnv(), ...env } },
        ) || "{}",
      ),
  };
}
