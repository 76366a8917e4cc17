/** Releases and node statuses shared by the unit tests (plain data: no engine, no mocks). */
import type { NodeStatus } from "../../checks/info";
import type { Deployed, HistoryEntry, Transition } from "../../components/plan";
import type { EnclaveRelease } from "../../components/release";

export const hex = (c: string) => c.repeat(64).slice(0, 64);

export const V1: EnclaveRelease = {
  version: "v5.2.3",
  mrenclave: hex("a1"),
  mrsigner: hex("5f"),
  enclaveUri: "https://enclave-distribution.test.mobilecoin.com/pool/v5/libconsensus-enclave.signed.so",
  enclaveSha256: hex("e5"),
  tokensConfigDigest: hex("70"),
  blockVersion: 3,
  image: "mobilecoin/node_hw:v5.2.3-test",
};

export const V2: EnclaveRelease = {
  ...V1,
  version: "v6.0.0",
  mrenclave: hex("b2"),
  enclaveUri: "https://enclave-distribution.test.mobilecoin.com/pool/v6/libconsensus-enclave.signed.so",
  enclaveSha256: hex("e6"),
  blockVersion: 4,
  image: "mobilecoin/node_hw:v6.0.0-test",
  migrations: ["mc-util-migrate --ledger /ledger --step 1"],
};

/** V2 that can be undone by reverse migrations instead of a snapshot restore. */
export const V2R: EnclaveRelease = {
  ...V2,
  reverseMigrations: ["mc-util-migrate --ledger /ledger --reverse 1"],
};

export const V3: EnclaveRelease = {
  ...V2,
  version: "v6.0.1",
  mrenclave: hex("c3"),
  enclaveSha256: hex("e7"),
  image: "mobilecoin/node_hw:v6.0.1-test",
};

export const ID = /^u(\d+)-(upgrade|rollback)-(v\d+\.\d+\.\d+)-to-(v\d+\.\d+\.\d+)-([0-9a-f]{8})$/;

/** A history entry as a completed (or aborted) transition leaves it; only the fields the code reads matter. */
export function entry(
  t: Pick<Transition, "id" | "sequence">,
  over: Partial<HistoryEntry> = {},
): HistoryEntry {
  return {
    id: t.id,
    sequence: t.sequence,
    from: "x",
    to: "y",
    changed: [],
    snapshots: {},
    outcome: "completed",
    ...over,
  };
}

/** `count` unrelated completed history entries, to move the ordinal. */
export function pastEntries(count: number): HistoryEntry[] {
  return Array.from({ length: count }, (_, i) =>
    entry({ id: `u${i + 1}-upgrade-old-${i}`, sequence: "flag-day" }),
  );
}

export function deployedOn(
  release: EnclaveRelease,
  history: HistoryEntry[] = [],
  last?: Transition,
): Deployed {
  return { release, history, ...(last ? { lastTransition: last } : {}) };
}

export function node(name: string, over: Partial<NodeStatus> = {}): NodeStatus {
  return {
    name,
    reachable: true,
    blockHeight: 10,
    syncStatus: "synced",
    blocksBehind: 0,
    latestBlockHash: "h10",
    broadcastPeerCount: 2,
    pendingValues: 0,
    simulated: true,
    mrenclave: hex("a1"),
    ...over,
  };
}

export const down = (name: string, error?: string): NodeStatus => ({
  name,
  reachable: false,
  simulated: false,
  ...(error ? { error } : {}),
});
