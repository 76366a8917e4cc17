// Transaction tests after the upgrade (seed document step 4.2): self-payment, cross-payment, fog, non-fog.
// Against the simulator they go through its HTTP client API: the "fog" and "non-fog" checks are payments
// flagged fog / non-fog, the simulator's stand-in for fog's test_client and mobilecoind's test_client.py.
// Against real networks the operator passes `--command name=shell-cmd`; the check passes iff it exits 0.

import { spawn } from "node:child_process";
import { balance, fetchAll, submitPayment, waitCommitted } from "./client";
import type { NodeTarget } from "./info";
import { pollUntil } from "./poll";

export const TX_CHECKS = ["self-payment", "cross-payment", "fog", "non-fog"] as const;
export type TxCheckName = (typeof TX_CHECKS)[number];

export interface TxCheckResult {
  name: string;
  ok: boolean;
  ms: number;
  detail: string;
}

export interface TxTestOptions {
  targets: NodeTarget[];
  only: string[];
  commands: Map<string, string>;
  timeoutMs: number;
  /**
   * The operator's own wallet set (simulator: `w<n>-alice`, ...), so that several operators' tests at the same
   * time do not see each other's payments. @default the shared wallets (alice, bob, ...)
   */
  wallets?: number;
}

/** Run a shell command; resolves with exit code and the tail of its output. */
export function runCommand(cmd: string, timeoutMs: number): Promise<{ code: number; tail: string }> {
  return new Promise((resolve) => {
    const child = spawn("sh", ["-c", cmd], { stdio: ["ignore", "pipe", "pipe"], detached: true });
    let out = "";
    const add = (b: Buffer) => {
      out = (out + b.toString()).slice(-2000);
    };
    child.stdout.on("data", add);
    child.stderr.on("data", add);
    const timer = setTimeout(() => {
      out += `\n(timed out after ${timeoutMs / 1000}s)`;
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        /* gone */
      }
    }, timeoutMs);
    child.on("close", (code, sig) => {
      clearTimeout(timer);
      resolve({ code: code ?? (sig ? 128 : 1), tail: out.trim().split("\n").slice(-3).join(" | ") });
    });
  });
}

/** Every node with a client URL has committed block `index` (i.e. height > index) and reports it. */
async function onAllNodes(
  targets: NodeTarget[],
  index: number,
  timeoutMs: number,
): Promise<string | undefined> {
  const v = await pollUntil(
    async () => {
      const lag = (await fetchAll(targets)).filter((s) => !s.reachable || (s.blockHeight ?? 0) <= index);
      const where = lag.map((s) => `${s.name}(height ${s.blockHeight ?? "?"})`).join(", ");
      return { ok: lag.length === 0, reason: `block ${index} not on ${where}` };
    },
    { timeoutMs, intervalMs: 100 },
  );
  return v.ok ? undefined : v.reason;
}

async function payAndCheck(
  o: TxTestOptions,
  from: string,
  to: string,
  amount: number,
  fog: boolean,
): Promise<string> {
  const clients = o.targets.filter((t) => t.client);
  if (clients.length === 0)
    throw new Error("no client endpoint in targets (simulator only); use --command for real networks");
  const submit = clients[0].client!;
  const verify = clients[clients.length - 1].client!;
  const beforeFrom = await balance(verify, from);
  const beforeTo = await balance(verify, to);
  // A node that has just (re)started catches up before it serves clients, as a real node does: wait for it
  // (within the timeout) instead of failing the test on its first seconds.
  const deadline = Date.now() + o.timeoutMs;
  let sub = await submitPayment(submit, from, to, amount, fog);
  while (!sub.ok && /catchup|behind/.test(sub.error) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 300));
    sub = await submitPayment(submit, from, to, amount, fog);
  }
  if (!sub.ok) throw new Error(`submit to ${clients[0].name} refused (HTTP ${sub.status}): ${sub.error}`);
  const index = await waitCommitted(submit, sub.txId, o.timeoutMs);
  const spread = await onAllNodes(o.targets, index, o.timeoutMs);
  if (spread) throw new Error(spread);
  const afterFrom = await balance(verify, from);
  const afterTo = await balance(verify, to);
  const expFrom = from === to ? beforeFrom : beforeFrom - amount;
  const expTo = from === to ? beforeTo : beforeTo + amount;
  if (afterFrom !== expFrom || afterTo !== expTo) {
    throw new Error(
      `balances on ${clients[clients.length - 1].name}: ${from} ${beforeFrom}->${afterFrom} (expected ${expFrom}), ${to} ${beforeTo}->${afterTo} (expected ${expTo})`,
    );
  }
  return `tx ${sub.txId.slice(0, 12)} in block ${index} on all nodes; ${from === to ? `${from} balance unchanged` : `${from} -${amount}, ${to} +${amount}`}`;
}

async function builtin(name: TxCheckName, o: TxTestOptions): Promise<string> {
  const w = (account: string) => (o.wallets ? `w${o.wallets}-${account}` : account);
  switch (name) {
    case "self-payment":
      return payAndCheck(o, w("alice"), w("alice"), 5, false);
    case "cross-payment":
      return payAndCheck(o, w("bob"), w("carol"), 7, false);
    case "fog": {
      const d = await payAndCheck(o, w("fog0"), w("fog1"), 11, true);
      // test_client also checks a double spend is refused.
      const client = o.targets.find((t) => t.client)!;
      const have = await balance(client.client!, w("fog1"));
      const ds = await submitPayment(client.client!, w("fog1"), w("fog0"), have + 1, true);
      if (ds.ok)
        throw new Error(`double spend of ${have + 1} from ${w("fog1")} (balance ${have}) was accepted`);
      return `${d}; double spend refused`;
    }
    case "non-fog":
      return payAndCheck(o, w("dave"), w("alice"), 13, false);
  }
}

export async function runTxTests(o: TxTestOptions): Promise<TxCheckResult[]> {
  const names = o.only.length ? o.only : [...TX_CHECKS];
  const results: TxCheckResult[] = [];
  for (const name of names) {
    const t0 = Date.now();
    const cmd = o.commands.get(name);
    try {
      let detail: string;
      if (cmd !== undefined) {
        const r = await runCommand(cmd, o.timeoutMs);
        if (r.code !== 0) throw new Error(`command exited ${r.code}: ${r.tail}`);
        detail = `command exited 0${r.tail ? `: ${r.tail}` : ""}`;
      } else if ((TX_CHECKS as readonly string[]).includes(name)) {
        detail = await builtin(name as TxCheckName, o);
      } else {
        throw new Error(`unknown check "${name}" and no --command ${name}=… given`);
      }
      results.push({ name, ok: true, ms: Date.now() - t0, detail });
    } catch (e) {
      results.push({ name, ok: false, ms: Date.now() - t0, detail: (e as Error).message });
    }
  }
  return results;
}
