/**
 * A real S3-compatible server on loopback, for the board's S3 tests and the state-backend bench: moto's server,
 * installed into .venv/ by scripts/setup-s3-server.sh (run here too if it has not been, so a test file run on its
 * own works). The server listens on a port the OS picks and is stopped by whoever started it; it never skips.
 */
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import * as path from "node:path";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";

const ROOT = path.resolve(__dirname, "..");
const MOTO = path.join(ROOT, ".venv", "bin", "moto_server");

export interface S3Server {
  readonly endpoint: string;
  /** A client for this server (path-style, test credentials, no retries hiding a refusal). */
  client(): S3Client;
  createBucket(name: string): Promise<void>;
  stop(): Promise<void>;
}

export async function startS3Server(): Promise<S3Server> {
  if (!existsSync(MOTO)) {
    execFileSync("bash", [path.join(ROOT, "scripts", "setup-s3-server.sh")], {
      stdio: ["ignore", "inherit", "inherit"],
    });
  }
  const child = spawn(MOTO, ["-H", "127.0.0.1", "-p", "0"], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, PYTHONUNBUFFERED: "1" },
  });
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  let output = "";
  let settled = false;
  const endpoint = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error("moto's server did not start within 30 s")), 30_000);
    const fail = (e: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(new Error(`${e.message}; its output:\n${output}`));
    };
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const m = /Running on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (m && !settled) {
        settled = true;
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("error", fail);
    child.once("exit", (code, signal) =>
      fail(new Error(`moto's server exited (${code ?? signal}) before it listened`)),
    );
  });
  await waitReady(endpoint, child);
  const client = () =>
    new S3Client({
      endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: "flagday-test", secretAccessKey: "flagday-test" },
      maxAttempts: 1,
    });
  return {
    endpoint,
    client,
    async createBucket(name) {
      const c = client();
      await c.send(new CreateBucketCommand({ Bucket: name }));
      c.destroy();
    },
    async stop() {
      process.removeListener("exit", killOnExit);
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once("exit", () => r()));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The server prints its address before it serves: wait for its own API to answer. */
async function waitReady(endpoint: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const res = await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(2_000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null) throw new Error("moto's server exited while starting");
    if (Date.now() > deadline) throw new Error(`moto's server at ${endpoint} did not answer within 30 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
