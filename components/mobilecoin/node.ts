import type { EnclaveRelease } from "../release";

/** consensus-service's client gRPC port (clients, the ingress). */
export const CLIENT_PORT = 3223;
/** consensus-service's peer gRPC port (other nodes; never behind the client gate). */
export const PEER_PORT = 8443;
/** mc-admin-http-gateway's HTTP port: `GET /info`, `GET /metrics`. */
export const ADMIN_PORT = 8000;
/** consensus-service's admin gRPC, on loopback only; the HTTP gateway is its one client. */
export const ADMIN_GRPC_URI = "insecure-mca://127.0.0.1:8001/";

/** The ledger volume's mount point (`--ledger-path`); LedgerDB is LMDB at `<ledger>/data.mdb`. */
export const LEDGER_PATH = "/ledger";
export const LEDGER_DB_FILE = `${LEDGER_PATH}/data.mdb`;
/** ledger-distribution's state file, on the ledger volume for releases up to v6.0.0. */
export const DISTRIBUTION_STATE_FILE = `${LEDGER_PATH}/.distribution-state`;

/**
 * Where the node image carries the enclave: consensus-service loads libconsensus-enclave.signed.so from its own
 * folder (MOBILECOIN.md), and the image installs its binaries in /usr/bin (inferred from Dockerfile.node_hw,
 * not read from an image: check it with `docker run --rm --entrypoint ls <image> /usr/bin` before relying on
 * the pull stage's sha256 check).
 */
export const ENCLAVE_IN_IMAGE = "/usr/bin/libconsensus-enclave.signed.so";

/**
 * The quiet period of `mc-consensus-tool wait-for-quiet --period 40` (MOBILECOIN.md), seconds the heights must stay
 * unchanged: the quiesce check's default quiet period, and the one a modelled flag day waits (bench/profile.ts).
 */
export const WAIT_FOR_QUIET_SECONDS = 40;

/** The node image's default repository (MobileCoin's hardware-mode build). */
export const DEFAULT_IMAGE_REPOSITORY = "mobilecoin/node_hw";

/** The image a release runs: the release's own if it names one, else `<repository>:<version>-<chainId>`. */
export function nodeImage(release: EnclaveRelease, chainId: string, repository?: string): string {
  return release.image ?? `${repository ?? DEFAULT_IMAGE_REPOSITORY}:${release.version}-${chainId}`;
}

/** The forward format migration every release's entrypoint runs; a no-op while the format is unchanged. */
export function ledgerMigrationCommand(ledger = LEDGER_PATH): string {
  return `mc-ledger-migration --ledger-db ${ledger}`;
}

/** What the snapshot of a stopped node's ledger volume holds, for its tags and annotations. */
export function snapshotContents(hasStateFile: boolean): string {
  return hasStateFile
    ? `ledger-db ${LEDGER_DB_FILE} + ledger-distribution state ${DISTRIBUTION_STATE_FILE}`
    : `ledger-db ${LEDGER_DB_FILE}`;
}

export interface ConsensusServiceArgs {
  /** `host:port` other nodes know this node by (its peer address). */
  readonly peerResponderId: string;
  /** `host:port` clients attest this node by. */
  readonly clientResponderId: string;
  /** Where network.json and tokens.signed.json are mounted. @default "/config" */
  readonly configDir?: string;
  /** @default "/sealed/block-signing-key" */
  readonly sealedBlockSigningKey?: string;
}

/**
 * consensus-service's command line, as flag/value pairs: each platform renders them its own way (`--f v` in a
 * shell script, `--f=v` as container args), never with a different set.
 */
export function consensusServiceArgs(a: ConsensusServiceArgs): readonly (readonly [string, string])[] {
  const config = a.configDir ?? "/config";
  return [
    ["--ledger-path", LEDGER_PATH],
    ["--peer-responder-id", a.peerResponderId],
    ["--client-responder-id", a.clientResponderId],
    ["--network", `${config}/network.json`],
    ["--tokens", `${config}/tokens.signed.json`],
    ["--sealed-block-signing-key", a.sealedBlockSigningKey ?? "/sealed/block-signing-key"],
    ["--peer-listen-uri", `insecure-mcp://0.0.0.0:${PEER_PORT}/`],
    ["--client-listen-uri", `insecure-mc://0.0.0.0:${CLIENT_PORT}/`],
    ["--admin-listen-uri", ADMIN_GRPC_URI],
  ];
}

/** mc-admin-http-gateway's command line: it serves `/info` on ADMIN_PORT from the admin gRPC on loopback. */
export function adminGatewayArgs(): readonly (readonly [string, string])[] {
  return [
    ["--listen-host", "0.0.0.0"],
    ["--listen-port", String(ADMIN_PORT)],
    ["--admin-uri", ADMIN_GRPC_URI],
  ];
}
