// I/O for the checks: poll admin endpoints, talk to the simulator's client API. Every request has a timeout.

import { type NodeStatus, type NodeTarget, parseInfo, parseMetrics } from "./info";
import { pollUntil } from "./poll";

export let requestTimeoutMs = 3000;
export function setRequestTimeout(ms: number): void {
  requestTimeoutMs = ms;
}

const trim = (u: string) => u.replace(/\/+$/, "");

export async function httpJson(url: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, {
    method: body === undefined ? "GET" : "POST",
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(requestTimeoutMs),
  });
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) };
  } catch {
    return { status: res.status, body: text };
  }
}

function errMsg(e: unknown): string {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  if (err.name === "TimeoutError") return `timeout after ${requestTimeoutMs} ms`;
  return err.cause?.code ?? err.cause?.message ?? err.message;
}

/** /info (+ /metrics) of one node. Never throws: unreachable nodes come back with reachable=false. */
export async function fetchStatus(t: NodeTarget): Promise<NodeStatus> {
  let st: NodeStatus;
  try {
    const r = await httpJson(`${trim(t.admin)}/info`);
    if (r.status !== 200) throw new Error(`/info HTTP ${r.status}`);
    st = parseInfo(t.name, r.body);
  } catch (e) {
    return { name: t.name, reachable: false, error: errMsg(e), simulated: false };
  }
  try {
    const res = await fetch(`${trim(t.admin)}/metrics`, { signal: AbortSignal.timeout(requestTimeoutMs) });
    if (res.ok) Object.assign(st, parseMetrics(await res.text()));
  } catch {
    /* metrics optional here; verdicts that need them say so */
  }
  return st;
}

export function fetchAll(targets: NodeTarget[]): Promise<NodeStatus[]> {
  return Promise.all(targets.map(fetchStatus));
}

// ---- simulator client API (HTTP JSON stand-in for the gRPC client API; real networks use --command)

export interface TxStatus {
  tx_id: string;
  status: "pending" | "committed" | "rejected";
  block_index: number | null;
  reason?: string;
}

export async function submitPayment(client: string, from: string, to: string, amount: number, fog: boolean) {
  const r = await httpJson(`${trim(client)}/tx`, { from, to, amount, fog });
  const b = r.body as { tx_id?: string; error?: string };
  if (r.status !== 200 || !b.tx_id)
    return { ok: false as const, status: r.status, error: b.error ?? String(r.body) };
  return { ok: true as const, txId: b.tx_id };
}

export async function txStatus(client: string, id: string): Promise<TxStatus | undefined> {
  const r = await httpJson(`${trim(client)}/tx/${id}`);
  return r.status === 200 ? (r.body as TxStatus) : undefined;
}

export async function balance(client: string, account: string): Promise<number> {
  const r = await httpJson(`${trim(client)}/balance/${encodeURIComponent(account)}`);
  if (r.status !== 200) throw new Error(`balance ${account}: HTTP ${r.status}`);
  return (r.body as { balance: number }).balance;
}

/** Wait until a tx is committed (returns block index) or rejected/timeout (throws with reason). */
export async function waitCommitted(client: string, id: string, timeoutMs: number): Promise<number> {
  let last: TxStatus | undefined;
  const v = await pollUntil(
    async () => {
      // A request that fails is retried like a pending tx; a rejected tx stays rejected.
      last = await txStatus(client, id).catch(() => last);
      return { ok: last?.status === "committed", fatal: last?.status === "rejected" };
    },
    { timeoutMs, intervalMs: 100 },
  );
  if (last?.status === "rejected") throw new Error(`tx ${id.slice(0, 12)} rejected: ${last.reason}`);
  if (!v.ok)
    throw new Error(
      `tx ${id.slice(0, 12)} not committed after ${timeoutMs / 1000}s (${last?.status ?? "unknown"})`,
    );
  return last!.block_index as number;
}
