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
  /** When it started, from the start of the tests. */
  startMs: number;
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

/**
 * The accounts each built-in check pays from, to or reads (before the operator's wallet-set prefix). Checks that
 * share one run one after another, since each asserts exact balances; the others run at the same time.
 */
export const TX_CHECK_ACCOUNTS: Readonly<Record<TxCheckName, readonly string[]>> = {
  "self-payment": ["alice"],
  "cross-payment": ["bob", "carol"],
  fog: ["fog0", "fog1"],
  "non-fog": ["dave", "alice"],
};

/**
 * The order the checks run in: a list of chains that run at the same time, each chain one check after another.
 * Built-in checks that touch a common account share a chain, in the order given; every `--command` check runs in
 * one chain of its own, in the order given (an operator's test clients may share wallets flagday cannot see), and
 * so does a name that is neither.
 */
export function txTestChains(
  names: readonly string[],
  commands: ReadonlyMap<string, string>,
  accountsOf: (name: string) => readonly string[] | undefined = (name) =>
    TX_CHECK_ACCOUNTS[name as TxCheckName],
): string[][] {
  const builtins: { names: string[]; accounts: Set<string> }[] = [];
  const commanded: string[] = [];
  for (const name of names) {
    const accounts = commands.has(name) ? undefined : accountsOf(name);
    if (!accounts) {
      commanded.push(name);
      continue;
    }
    const sharing = builtins.filter((c) => accounts.some((a) => c.accounts.has(a)));
    const into = sharing[0] ?? { names: [], accounts: new Set<string>() };
    if (!sharing.length) builtins.push(into);
    for (const other of sharing.slice(1)) {
      into.names.push(...other.names);
      other.accounts.forEach((a) => into.accounts.add(a));
      builtins.splice(builtins.indexOf(other), 1);
    }
    into.names.push(name);
    into.names.sort((x, y) => names.indexOf(x) - names.indexOf(y));
    accounts.forEach((a) => into.accounts.add(a));
  }
  return [...builtins.map((c) => c.names), ...(commanded.length ? [commanded] : [])];
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

async function runOne(name: string, o: TxTestOptions, t0: number): Promise<TxCheckResult> {
  const start = Date.now();
  const result = (ok: boolean, detail: string) => ({
    name,
    ok,
    startMs: start - t0,
    ms: Date.now() - start,
    detail,
  });
  const cmd = o.commands.get(name);
  try {
    if (cmd !== undefined) {
      const r = await runCommand(cmd, o.timeoutMs);
      if (r.code !== 0) throw new Error(`command exited ${r.code}: ${r.tail}`);
      return result(true, `command exited 0${r.tail ? `: ${r.tail}` : ""}`);
    }
    if ((TX_CHECKS as readonly string[]).includes(name))
      return result(true, await builtin(name as TxCheckName, o));
    throw new Error(`unknown check "${name}" and no --command ${name}=… given`);
  } catch (e) {
    return result(false, (e as Error).message);
  }
}

/** Runs the checks (txTestChains: independent ones at the same time); the results in the order of `only`. */
export async function runTxTests(o: TxTestOptions): Promise<TxCheckResult[]> {
  const names = [...new Set(o.only.length ? o.only : TX_CHECKS)];
  const t0 = Date.now();
  const done = new Map<string, TxCheckResult>();
  await Promise.all(
    txTestChains(names, o.commands).map(async (chain) => {
      for (const name of chain) done.set(name, await runOne(name, o, t0));
    }),
  );
  return names.map((n) => done.get(n)!);
}
