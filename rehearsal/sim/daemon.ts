// Daemonizing helpers for consensus-service-sim (nodes and the ingress proxy): start a detached child running
// the foreground `run` subcommand, wait for readiness, stop by SIGTERM and wait for the exit.

import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { isAlive, livePid, READY_FD_ENV, sleep } from "./util";

/** The program a daemon runs: the bin that started this one (it sets FLAGDAY_SIM_BIN; run from a bundle,
 * __dirname is the bundle's), else the checkout's. */
export const SIM_BIN =
  process.env.FLAGDAY_SIM_BIN ?? path.resolve(__dirname, "../../bin/consensus-service-sim.js");

export function tail(file: string, lines = 20): string {
  try {
    return fs.readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

export interface StartOptions {
  label: string;
  runArgs: string[];
  pidFile: string;
  logFile: string;
  ready: () => Promise<boolean>;
  timeoutMs?: number;
}

/** Returns a process exit code and prints what happened. */
export async function startDaemon(o: StartOptions): Promise<number> {
  const running = livePid(o.pidFile);
  if (running !== undefined) {
    console.error(`${o.label}: already running (pid ${running}); stop it first`);
    return 2;
  }
  fs.mkdirSync(path.dirname(o.logFile), { recursive: true });
  const fd = fs.openSync(o.logFile, "a");
  // fd 3: a pipe the child writes one line to once it listens (util.ts signalReady), or closes by exiting.
  const child = spawn(process.execPath, [SIM_BIN, ...o.runArgs], {
    detached: true,
    stdio: ["ignore", fd, fd, "pipe"],
    env: { ...process.env, [READY_FD_ENV]: "3" },
  });
  fs.closeSync(fd);
  let exited: number | null | undefined;
  let wake: () => void = () => undefined;
  child.once("exit", (code, sig) => {
    exited = code ?? (sig ? 128 : 1);
    wake();
  });
  // Until the child says it listens (or exits), readiness is checked only now and then: polling every 50 ms
  // while the child loads spends CPU that ten nodes starting at once on a small machine need for loading.
  let signalled = false;
  const pipe = child.stdio[3];
  const onSignal = () => {
    signalled = true;
    wake();
  };
  pipe?.once("data", onSignal);
  pipe?.once("end", onSignal);
  pipe?.on("error", onSignal);
  if (child.pid === undefined) {
    console.error(`${o.label}: failed to spawn`);
    return 1;
  }
  fs.writeFileSync(o.pidFile, String(child.pid));
  const deadline = Date.now() + (o.timeoutMs ?? 20_000);
  while (Date.now() < deadline) {
    if (exited !== undefined) {
      console.error(
        `${o.label}: exited with code ${exited} during start. Log tail (${o.logFile}):\n${tail(o.logFile)}`,
      );
      return 1;
    }
    if (await o.ready().catch(() => false)) {
      pipe?.destroy();
      child.unref();
      console.log(`${o.label}: started (pid ${child.pid}), log ${o.logFile}`);
      return 0;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, signalled ? 50 : 500);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    wake = () => undefined;
  }
  pipe?.destroy();
  console.error(
    `${o.label}: not ready after ${o.timeoutMs ?? 20_000} ms; killing. Log tail:\n${tail(o.logFile)}`,
  );
  child.kill("SIGKILL");
  return 1;
}

/** SIGTERM and wait for exit. Idempotent: already stopped is success. */
export async function stopDaemon(label: string, pidFile: string, timeoutMs = 20_000): Promise<number> {
  const pid = livePid(pidFile);
  if (pid === undefined) {
    console.log(`${label}: already stopped`);
    fs.rmSync(pidFile, { force: true });
    return 0;
  }
  process.kill(pid, "SIGTERM");
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) {
      fs.rmSync(pidFile, { force: true });
      console.log(`${label}: stopped (pid ${pid})`);
      return 0;
    }
    await sleep(25);
  }
  console.error(`${label}: pid ${pid} still running ${timeoutMs} ms after SIGTERM`);
  return 1;
}
