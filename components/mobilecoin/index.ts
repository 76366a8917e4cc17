/**
 * MobileCoin's facts, in one place: what a real consensus node listens on, where it keeps its ledger, how its
 * image is named, how it is started and how its network.json reads (../shared/MOBILECOIN.md). Every platform
 * and the simulator's config contract import these; no platform repeats one.
 */
export * from "./node";
export * from "./ledgerArchive";
export * from "./networkJson";
export * from "./shell";
