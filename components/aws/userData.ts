/**
 * The boot script of a consensus node's instance, as a plain function of plain values so it is tested without
 * mocks. It holds no secret: the message-signer key is read from SSM or Secrets Manager at boot into a tmpfs
 * file that never leaves the instance.
 */
import {
  ADMIN_PORT,
  adminGatewayArgs,
  CLIENT_PORT,
  consensusServiceArgs,
  LEDGER_PATH,
  networkJson as mobilecoinNetworkJson,
  PEER_PORT,
  shellQuote as q,
} from "../mobilecoin";
import { CONTAINER } from "./scripts";

export { ADMIN_PORT, CLIENT_PORT, LEDGER_PATH, PEER_PORT } from "../mobilecoin";

export interface Peer {
  readonly name: string;
  readonly ip: string;
  /** The peer's message-signer public key, if the operators published it (`settings.msgPublicKey`). */
  readonly msgPublicKey?: string;
}

export interface UserDataArgs {
  readonly region: string;
  readonly chainId: string;
  readonly blockVersion: number;
  readonly image: string;
  readonly logLevel: string;
  /** This node's private IP (its ENI's: stable across replacements). */
  readonly ip: string;
  /** The other nodes. */
  readonly peers: readonly Peer[];
  /** Quorum threshold counting the node itself. */
  readonly threshold: number;
  /** The EBS volume attached as the ledger: the script waits for it and never formats one with data. */
  readonly ledgerVolumeId: string;
  readonly msgSignerKeyArn: string;
  readonly tokensConfigUri: string;
  readonly tokensConfigDigest: string;
  /** The transition this server starts in: part of the script so that every transition replaces the instance. */
  readonly generation: string;
}

/** network.json (components/mobilecoin) for the node's peers, by their ENIs' private addresses. */
export function networkJson(a: Pick<UserDataArgs, "peers" | "threshold">): string {
  return JSON.stringify(
    mobilecoinNetworkJson({
      threshold: a.threshold,
      peers: a.peers.map((p) => ({ host: p.ip, msgPublicKey: p.msgPublicKey })),
    }),
  );
}

/** Flag/value pairs as shell words, one pair per continued line. */
const shellArgs = (pairs: readonly (readonly [string, string])[], indent: string) =>
  pairs.map(([f, v]) => `${f} ${/^[\w./:@=-]+$/.test(v) ? v : q(v)}`).join(` \\\n${indent}`);

export function renderUserData(a: UserDataArgs): string {
  // Nitro instances show an EBS volume as an NVMe device whose serial is the volume id without the dash.
  const device = `/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${a.ledgerVolumeId.replace("-", "")}`;
  return `#!/bin/bash
set -euo pipefail
# flagday generation: ${a.generation}
export AWS_DEFAULT_REGION=${q(a.region)}

# The ledger volume is attached after the instance starts: wait for it.
until [ -e ${device} ]; do sleep 2; done
# Format only a volume with no filesystem (a new node); an existing ledger is never touched.
blkid ${device} >/dev/null || mkfs.ext4 -L ledger ${device}
mkdir -p ${LEDGER_PATH} && mount ${device} ${LEDGER_PATH}

mkdir -p /etc/mobilecoin/config /var/lib/mobilecoin/sealed /run/flagday
aws s3 cp ${q(a.tokensConfigUri)} /etc/mobilecoin/config/tokens.signed.json
echo ${q(`${a.tokensConfigDigest}  /etc/mobilecoin/config/tokens.signed.json`)} | sha256sum -c -
cat > /etc/mobilecoin/config/network.json <<'NETWORK_JSON'
${networkJson(a)}
NETWORK_JSON

# The signer key lives in tmpfs only, read with the instance profile; it is not in this script.
mount -t tmpfs -o size=1m,mode=0700 tmpfs /run/flagday
KEY_ARN=${q(a.msgSignerKeyArn)}
case "$KEY_ARN" in
  arn:*:ssm:*) aws ssm get-parameter --with-decryption --name "$KEY_ARN" --query Parameter.Value --output text ;;
  *) aws secretsmanager get-secret-value --secret-id "$KEY_ARN" --query SecretString --output text ;;
esac > /run/flagday/msg-signer-key
chmod 0400 /run/flagday/msg-signer-key

docker pull ${q(a.image)}
# unless-stopped: a node the flag day stopped stays stopped across a reboot until its new instance replaces it.
MC_MSG_SIGNER_KEY="$(cat /run/flagday/msg-signer-key)" docker run -d --name ${CONTAINER} --restart unless-stopped \\
  --device /dev/sgx_enclave --device /dev/sgx_provision -v /var/run/aesmd:/var/run/aesmd \\
  -p ${CLIENT_PORT}:${CLIENT_PORT} -p ${PEER_PORT}:${PEER_PORT} -p ${ADMIN_PORT}:${ADMIN_PORT} \\
  -v /etc/mobilecoin/config:/config:ro -v /var/lib/mobilecoin/sealed:/sealed -v ${LEDGER_PATH}:${LEDGER_PATH} \\
  -e MC_CHAIN_ID=${q(a.chainId)} -e MC_BLOCK_VERSION=${a.blockVersion} -e RUST_LOG=${q(a.logLevel)} \\
  -e MC_MSG_SIGNER_KEY \\
  ${q(a.image)} \\
  consensus-service ${shellArgs(
    consensusServiceArgs({
      peerResponderId: `${a.ip}:${PEER_PORT}`,
      clientResponderId: `${a.ip}:${CLIENT_PORT}`,
    }),
    "    ",
  )}
# The admin gateway shares the consensus container's network, where admin gRPC listens on loopback.
docker run -d --name ${CONTAINER}-admin --restart unless-stopped --network container:${CONTAINER} ${q(a.image)} \\
  mc-admin-http-gateway ${shellArgs(adminGatewayArgs(), "    ")}
`;
}
