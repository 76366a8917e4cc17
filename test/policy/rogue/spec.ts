/** The hand-built network of the rogue program (index.ts), apart so tests can read it without running it. */
import { NetworkSpec } from "../../../components/network";
import { EnclaveRelease } from "../../../components/release";

const hex = (c: string) => c.repeat(64).slice(0, 64);
export const V1: EnclaveRelease = {
  version: "v1.0.0",
  mrenclave: hex("a1"),
  mrsigner: hex("5f"),
  enclaveUri: "file:///simulated/v1",
  enclaveSha256: hex("e1"),
  tokensConfigDigest: hex("70"),
  blockVersion: 3,
};
export const V2: EnclaveRelease = {
  ...V1,
  version: "v2.0.0",
  mrenclave: hex("b2"),
  enclaveSha256: hex("e2"),
};

export const network: NetworkSpec = {
  name: "rogue",
  chainId: "local",
  release: V1,
  quorumThreshold: 2,
  peerAttestation: { mode: "mrsigner", productId: 1, minimumSvn: 1 },
  nodes: [{ name: "node1" }, { name: "node2" }, { name: "node3", release: V2 }],
};

/** What node3's server claims to run under: a flag day of which the stack holds no snapshot. */
export const FLAG_DAY_GENERATION = "u2-upgrade-v1.0.0-to-v2.0.0-0badc0de";
