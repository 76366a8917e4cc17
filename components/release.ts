/**
 * An enclave release: what the operators agree on before a flag day. Peers attest to each other by MRENCLAVE
 * and by a digest of the consensus settings (tokens config, block version), so two releases that differ in any
 * of these fields cannot run side by side: moving between them is a flag day. Everything else about a node
 * (instance type, AMI patch, log level) is not part of the release and rolls out node by node.
 */
export interface EnclaveRelease {
  /** The release tag, `vX.Y.Z` (images and charts are tagged `<tag>-<chain_id>`). */
  readonly version: string;
  /** MRENCLAVE of libconsensus-enclave.signed.so, 64 hex characters, from the release notes. */
  readonly mrenclave: string;
  /** MRSIGNER of the enclave signing key, 64 hex characters. */
  readonly mrsigner: string;
  /** Where the signed enclave artifact comes from, e.g. the release's `mainnet-signed.so-<tag>.tar.gz`. */
  readonly enclaveUri: string;
  /** sha256 of the enclave artifact, 64 hex characters; checked before it is used. */
  readonly enclaveSha256: string;
  /** sha256 of tokens.signed.json (fee map and governors): part of the peer responder id. */
  readonly tokensConfigDigest: string;
  /** MC_BLOCK_VERSION: part of the peer responder id. */
  readonly blockVersion: number;
  /**
   * Forward-DB migration commands this release ships, run in order on each stopped node after
   * `mc-ledger-migration --ledger-db /ledger`.
   * @default []
   */
  readonly migrations?: readonly string[];
  /**
   * Reverse migrations back to the previous release, run on the current ledger instead of restoring a
   * snapshot when a rollback must keep blocks made after the upgrade.
   * @default [] (rollback restores the snapshot)
   */
  readonly reverseMigrations?: readonly string[];
  /**
   * Whether ledger-distribution keeps `/ledger/.distribution-state` in this release. It exists up to v6.0.0
   * and was removed in v6.0.1 (ledger-distribution finds its start in S3).
   * @default derived from `version`
   */
  readonly distributionStateFile?: boolean;
  /** Container image (or AMI-baked tag) of the consensus node for this release, e.g. `mobilecoin/node_hw:v6.0.0-main`. */
  readonly image?: string;
  /**
   * How the enclave was built. Testnet and mainnet enclaves are `hardware` (SGX_MODE=HW) builds and need an
   * Intel SGX host; a `software` (SGX_MODE=SW) build runs anywhere but only suits a development network: it
   * cannot attest to hardware-mode peers. Not a consensus field: a build in the other mode has its own
   * MRENCLAVE, so changing it is a flag day through `mrenclave` anyway.
   * @default "hardware"
   */
  readonly sgxMode?: SgxMode;
}

export type SgxMode = "hardware" | "software";
export const SGX_MODES: readonly SgxMode[] = ["hardware", "software"];

/** The release's enclave build mode: hardware unless it says otherwise. */
export function sgxModeOf(release: Pick<EnclaveRelease, "sgxMode">): SgxMode {
  return release.sgxMode ?? "hardware";
}

/** The fields whose change makes an upgrade a flag day. */
export const CONSENSUS_FIELDS = [
  "version",
  "mrenclave",
  "mrsigner",
  "enclaveUri",
  "enclaveSha256",
  "tokensConfigDigest",
  "blockVersion",
] as const satisfies readonly (keyof EnclaveRelease)[];

const HEX64 = /^[0-9a-f]{64}$/;
const VERSION = /^v(\d+)\.(\d+)\.(\d+)$/;

/** Whether moving from `from` to `to` needs a flag day (all nodes together) rather than a rolling update. */
export function needsFlagDay(from: EnclaveRelease, to: EnclaveRelease): boolean {
  return CONSENSUS_FIELDS.some((f) => from[f] !== to[f]);
}

/** The consensus fields that differ, for messages and the upgrade history. */
export function consensusChanges(from: EnclaveRelease, to: EnclaveRelease): string[] {
  return CONSENSUS_FIELDS.filter((f) => from[f] !== to[f]);
}

/** Whether the release still has ledger-distribution's state file (removed in v6.0.1). */
export function hasDistributionStateFile(release: EnclaveRelease): boolean {
  if (release.distributionStateFile !== undefined) return release.distributionStateFile;
  const m = VERSION.exec(release.version);
  if (!m) return true;
  const [major, minor, patch] = m.slice(1).map(Number);
  return major < 6 || (major === 6 && minor === 0 && patch === 0);
}

/** A short, stable id for a release's consensus identity: used in triggers, names and tags. */
export function releaseKey(release: EnclaveRelease): string {
  return `${release.version}-${release.mrenclave.slice(0, 8)}`;
}

/**
 * Checks a release and returns every problem, each naming the field and the fix. `where` prefixes the field
 * path (e.g. `flagday:release`), so messages point at the operator's stack config.
 */
export function releaseProblems(release: Partial<EnclaveRelease> | undefined, where: string): string[] {
  if (!release || typeof release !== "object") {
    return [`${where} is missing: set it to the enclave release the operators agreed on (see README.md).`];
  }
  const problems: string[] = [];
  const hex = (field: "mrenclave" | "mrsigner" | "enclaveSha256" | "tokensConfigDigest", what: string) => {
    const v = release[field];
    if (typeof v !== "string" || !HEX64.test(v)) {
      problems.push(
        `${where}.${field} must be the ${what}: 64 lowercase hex characters (got ${describe(v)}). ` +
          `Copy it from the release notes or the measurements archive.`,
      );
    }
  };
  if (typeof release.version !== "string" || !VERSION.test(release.version)) {
    problems.push(`${where}.version must be a release tag like v6.0.0 (got ${describe(release.version)}).`);
  }
  hex("mrenclave", "consensus enclave's MRENCLAVE");
  hex("mrsigner", "enclave signer's MRSIGNER");
  hex("enclaveSha256", "sha256 of the enclave artifact");
  hex("tokensConfigDigest", "sha256 of tokens.signed.json");
  if (typeof release.enclaveUri !== "string" || release.enclaveUri.length === 0) {
    problems.push(`${where}.enclaveUri is required: the URI of the signed enclave artifact.`);
  }
  if (!Number.isInteger(release.blockVersion) || (release.blockVersion as number) < 0) {
    problems.push(
      `${where}.blockVersion must be a non-negative integer (MC_BLOCK_VERSION), got ${describe(release.blockVersion)}.`,
    );
  }
  if (release.sgxMode !== undefined && !SGX_MODES.includes(release.sgxMode)) {
    problems.push(
      `${where}.sgxMode must be hardware or software (got ${describe(release.sgxMode)}): hardware for an ` +
        `enclave built with SGX_MODE=HW (testnet, mainnet), software for a development build (SGX_MODE=SW).`,
    );
  }
  for (const field of ["migrations", "reverseMigrations"] as const) {
    const list = release[field];
    if (
      list !== undefined &&
      (!Array.isArray(list) || list.some((c) => typeof c !== "string" || !c.trim()))
    ) {
      problems.push(`${where}.${field} must be a list of non-empty shell commands.`);
    }
  }
  return problems;
}

export function describe(v: unknown): string {
  if (v === undefined) return "nothing";
  const s = JSON.stringify(v);
  return s.length > 80 ? s.slice(0, 77) + "..." : s;
}
