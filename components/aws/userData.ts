/**
 * What runs on a consensus node's instance, as plain functions of plain values so it is tested without mocks:
 * - the host's user data (renderUserData): the SSH access, the ledger mounted, the signer key unit and docker
 *   held back until both. Nothing of the release is in it, so an enclave change never replaces the instance:
 *   boot stays out of the flag day's window.
 * - the server script (renderServerScript), run over SSH by the start step: the node's config and the release's
 *   containers, on the running host, with the image the prepare stage pulled there (an in-place swap).
 * Neither holds a secret: the message-signer key is read from SSM or Secrets Manager, at every boot, into a
 * tmpfs file that never leaves the instance and that the container sees as a read-only file.
 *
 * User data runs once per instance; what must hold after a reboot or a stop/start is systemd's job: fstab
 * mounts the ledger, a oneshot unit reads the key again, and docker (which restarts the containers, policy
 * unless-stopped) starts only after both.
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
import type { SgxMode } from "../release";
import { CONTAINER, pullAndCheckScript } from "./scripts";

export { ADMIN_PORT, CLIENT_PORT, LEDGER_PATH, PEER_PORT } from "../mobilecoin";

/** Another node as this node's network.json names it. */
export type Peer = {
  readonly name: string;
  /** The peer's message-signer public key, if the operators published it (`settings.msgPublicKey`). */
  readonly msgPublicKey?: string;
} & (
  | {
      /** A node of this stack: its ENI's private address. */
      readonly ip: string;
    }
  | {
      /** Another operator's node, which has no ENI here: its `peerHost` (flagday:network.nodes[i].peerHost). */
      readonly host: string;
    }
);

/** The host's user data: what does not change with the release. */
export interface HostArgs {
  readonly region: string;
  /** The EBS volume attached as the ledger: the script waits for it and never formats one with data. */
  readonly ledgerVolumeId: string;
  /**
   * Whether flagday created the ledger volume empty (the node's own volume, no snapshot behind it), the only
   * kind user data may format, and only if it reads as blank (formatIfBlankScript). A volume restored from a
   * snapshot is never formatted. @default false (never format)
   */
  readonly ledgerCreatedEmpty?: boolean;
  readonly msgSignerKeyArn: string;
  /** The login the flag-day steps SSH in as. @default "ubuntu" */
  readonly sshUser?: string;
  /**
   * The public half of the flag-day SSH key (`<type> <base64>`, sshKey.ts derives it from flagday:sshPrivateKey),
   * installed in sshUser's authorized_keys. A public key is not a secret. @default none (no flag day can run)
   */
  readonly sshAuthorizedKey?: string;
}

/** The server script: the release and the node's consensus settings. */
export interface ServerArgs {
  /** For the aws CLI on the host (the tokens config). */
  readonly region: string;
  /** The node's name, for the script's messages. @default "the node" */
  readonly node?: string;
  readonly chainId: string;
  readonly blockVersion: number;
  readonly image: string;
  readonly logLevel: string;
  /** This node's private IP (its ENI's: stable across replacements): its peer responder id's host. */
  readonly ip: string;
  /**
   * The host other operators reach this node's peer port on (flagday:network.nodes[i].peerHost): when stated,
   * it is the node's peer responder id instead of the private IP, as every other node's network.json names it.
   */
  readonly peerHost?: string;
  /**
   * This node's public client host (flagday:aws.clientHost with the node's name), which the gate routes to this
   * node only: its client responder id is `<clientHost>:443`, the name clients attest it by.
   */
  readonly clientHost: string;
  /** The other nodes: this stack's by their ENIs' addresses, other operators' by their peer hosts. */
  readonly peers: readonly Peer[];
  /** Quorum threshold counting the node itself. */
  readonly threshold: number;
  /** Where the node fetches blocks it missed: the other nodes' ledger archives (txSourceUrls). @default [] */
  readonly txSourceUrls?: readonly string[];
  /**
   * The release's enclave build (EnclaveRelease.sgxMode): hardware mode passes the host's SGX devices and
   * aesmd socket to the container; software mode needs neither (and EC2 has none). @default "hardware"
   */
  readonly sgxMode?: SgxMode;
  /** The release's enclave sha256: checked when the script has to pull the image itself (prepare did not). */
  readonly enclaveSha256: string;
  readonly tokensConfigUri: string;
  readonly tokensConfigDigest: string;
  /** The transition this server starts in: part of the script so that every transition restarts the node. */
  readonly generation: string;
  /** Where the node's config is written (user data makes it the SSH user's). @default CONFIG_DIR */
  readonly configDir?: string;
}

/** Everything a node's instance runs: its host's user data and its server script. */
export type UserDataArgs = HostArgs & ServerArgs;

/**
 * network.json (components/mobilecoin) for the node's peers: this stack's by their ENIs' private addresses,
 * other operators' by their peer hosts.
 */
export function networkJson(a: Pick<ServerArgs, "peers" | "threshold" | "txSourceUrls">): string {
  return JSON.stringify(
    mobilecoinNetworkJson({
      threshold: a.threshold,
      peers: a.peers.map((p) => ({ host: "host" in p ? p.host : p.ip, msgPublicKey: p.msgPublicKey })),
      txSourceUrls: a.txSourceUrls,
    }),
  );
}

/** Flag/value pairs as shell words, one pair per continued line. */
const shellArgs = (pairs: readonly (readonly [string, string])[], indent: string) =>
  pairs.map(([f, v]) => `${f} ${/^[\w./:@=-]+$/.test(v) ? v : q(v)}`).join(` \\\n${indent}`);

/** Nitro instances show an EBS volume as an NVMe device whose serial is the volume id without the dash. */
export const ebsDevice = (volumeId: string) =>
  `/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${volumeId.replace("-", "")}`;

/** Where the instance keeps the signer key (tmpfs) and where the container sees it (read-only). */
export const SIGNER_KEY_FILE = "/run/flagday/msg-signer-key";
export const SIGNER_KEY_IN_CONTAINER = "/run/secrets/msg-signer-key";
const SIGNER_KEY_UNIT = "flagday-msg-signer-key.service";
const SIGNER_KEY_FETCH = "/usr/local/sbin/flagday-msg-signer-key";

/**
 * Formats the ledger volume only when it is provably blank; anything else stops user data with the device and
 * the volume named, before a container could start on it. Three things must agree:
 * - flagday created the volume empty (`createdEmpty`): a volume restored from a snapshot is never formatted;
 * - `blkid -p`, a low-level probe of the device itself (not blkid's cache), finds no signature: exit 2. Exit 0
 *   is a filesystem (mounted as it is); any other exit (8 ambivalent, 4 usage, 1) stops;
 * - the first MiB reads back, and reads as zeros, as a volume created without a snapshot does. blkid -p also
 *   exits 2 when it cannot open or read the device (util-linux misc-utils/blkid.c, lowprobe_device), so its
 *   exit code alone cannot tell "nothing there" from "nothing readable"; only bytes actually read can. Every
 *   ledger flagday formatted has an ext4 superblock at 1 KiB, so a used ledger never passes.
 */
export function formatIfBlankScript(a: {
  readonly device: string;
  readonly volumeId: string;
  readonly createdEmpty: boolean;
}): string {
  const dev = q(a.device);
  const tail = `: not formatting the ledger volume ${a.volumeId} (${a.device}). Inspect it (blkid -p, dmesg, the volume in EC2) before anything writes to it.`;
  const stop = (why: string) => `echo ${q(`flagday: ${why}${tail}`)} >&2; exit 1`;
  const blank = a.createdEmpty
    ? [
        `    if ! cmp -s -n 1048576 ${dev} /dev/zero; then`,
        `      ${stop("blkid -p finds no filesystem, but the first MiB is not blank or cannot be read")}`,
        `    fi`,
        `    mkfs.ext4 -L ledger ${dev} ;;`,
      ]
    : [`    ${stop("blkid -p finds no filesystem on a volume restored from a snapshot")} ;;`];
  return [
    `# Format only a volume flagday created empty (${a.createdEmpty ? "this one is" : "this one was restored from a snapshot"}), and only when blkid -p finds nothing and it reads as zeros.`,
    `probe=0; blkid -p ${dev} >/dev/null || probe=$?`,
    `case "$probe" in`,
    `  0) ;;`,
    `  2)`,
    ...blank,
    `  *) echo ${q("flagday: blkid -p failed (exit ")}"$probe"${q(`)${tail}`)} >&2; exit 1 ;;`,
    `esac`,
  ].join("\n");
}

/**
 * The ledger mounted at every boot, and docker, which restarts the consensus containers at boot, started only
 * with the ledger mounted and the signer key read. fstab names the volume by its EBS id (the one flagday
 * attached, whatever device name the kernel gives it) with `nofail`: a missing volume does not hold up boot, so
 * the instance stays reachable. docker's drop-in `RequiresMountsFor=/ledger` (Requires + After ledger.mount)
 * keeps docker, and so every container, down until the mount succeeds; the node then stays down rather than
 * start on an empty /ledger on the root disk. The mount point itself is immutable, so nothing writes under
 * it while nothing is mounted there.
 */
export function persistentLedgerMountScript(device: string): string {
  return `systemctl cat docker.service >/dev/null || { echo ${q(
    "flagday: this AMI runs docker other than as the systemd unit docker.service, so docker (which restarts the containers) cannot be held back until the ledger is mounted",
  )} >&2; exit 1; }
mkdir -p ${LEDGER_PATH}
mountpoint -q ${LEDGER_PATH} || chattr +i ${LEDGER_PATH}
sed -i '\\|[[:space:]]${LEDGER_PATH}[[:space:]]|d' /etc/fstab
echo ${q(`${device} ${LEDGER_PATH} ext4 defaults,nofail 0 2`)} >> /etc/fstab
mkdir -p /etc/systemd/system/docker.service.d
cat > /etc/systemd/system/docker.service.d/flagday.conf <<'DOCKER_UNIT'
# flagday: the consensus containers restart with docker; docker starts only with the ledger mounted and the
# message-signer key read (the container bind-mounts it).
[Unit]
RequiresMountsFor=${LEDGER_PATH}
Requires=${SIGNER_KEY_UNIT}
After=${SIGNER_KEY_UNIT}
DOCKER_UNIT
systemctl daemon-reload
mountpoint -q ${LEDGER_PATH} || mount ${LEDGER_PATH}
mountpoint -q ${LEDGER_PATH}`;
}

/**
 * A oneshot unit that reads the node's message-signer key into tmpfs at every boot (tmpfs is empty after a
 * reboot), before docker starts, with the instance profile. The unit and its script hold the key's ARN only.
 */
export function signerKeyUnitScript(a: Pick<HostArgs, "region" | "msgSignerKeyArn">): string {
  const dir = SIGNER_KEY_FILE.slice(0, SIGNER_KEY_FILE.lastIndexOf("/"));
  return `cat > ${SIGNER_KEY_FETCH} <<'FETCH'
#!/bin/bash
set -euo pipefail
export AWS_DEFAULT_REGION=${q(a.region)}
mkdir -p ${dir}
mountpoint -q ${dir} || mount -t tmpfs -o size=1m,mode=0700 tmpfs ${dir}
umask 077
KEY_ARN=${q(a.msgSignerKeyArn)}
case "$KEY_ARN" in
  arn:*:ssm:*) aws ssm get-parameter --with-decryption --name "$KEY_ARN" --query Parameter.Value --output text ;;
  *) aws secretsmanager get-secret-value --secret-id "$KEY_ARN" --query SecretString --output text ;;
esac > ${SIGNER_KEY_FILE}.new
chmod 0400 ${SIGNER_KEY_FILE}.new
mv -f ${SIGNER_KEY_FILE}.new ${SIGNER_KEY_FILE}
FETCH
chmod 0755 ${SIGNER_KEY_FETCH}
cat > /etc/systemd/system/${SIGNER_KEY_UNIT} <<'KEY_UNIT'
[Unit]
Description=flagday: read the consensus message-signer key into tmpfs
Wants=network-online.target
After=network-online.target
Before=docker.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=${SIGNER_KEY_FETCH}
KEY_UNIT`;
}

/**
 * The container's command: a shell that reads the bind-mounted key file into consensus-service's environment
 * (MC_MSG_SIGNER_KEY, which it reads when `--msg-signer-key` is not given) and execs it with its arguments.
 * The key is then in neither the container's config (`docker inspect`, /var/lib/docker/containers/…/config.v2.json),
 * nor any argv (`ps`, /proc/<pid>/cmdline is world-readable): only in the process's own environment, readable
 * by its user and root, as any secret a process holds. A missing or unreadable file stops the container
 * (restart policy retries) instead of starting the service without its key.
 */
export function signerKeyWrapper(keyFile = SIGNER_KEY_IN_CONTAINER): string {
  return `MC_MSG_SIGNER_KEY="$(cat ${keyFile})" && export MC_MSG_SIGNER_KEY && exec consensus-service "$@"`;
}

/**
 * The flag-day steps' access, written first so that it holds even if a later part of user data fails (a stop
 * must then still reach the node): the SSH key's public half in the SSH user's authorized_keys (once, however
 * often this runs), and the user in the docker group, so the steps run docker without sudo. The user is
 * created if the AMI has none of that name.
 */
export function sshAccessScript(user: string, authorizedKey: string): string {
  const u = q(user);
  const key = q(authorizedKey.trim());
  return [
    `id -u ${u} >/dev/null 2>&1 || useradd --create-home --shell /bin/bash ${u}`,
    `home=$(getent passwd ${u} | cut -d: -f6)`,
    `install -d -m 0700 -o ${u} -g "$(id -gn ${u})" "$home/.ssh"`,
    `touch "$home/.ssh/authorized_keys"`,
    `grep -qxF ${key} "$home/.ssh/authorized_keys" || echo ${key} >> "$home/.ssh/authorized_keys"`,
    `chown ${u}:"$(id -gn ${u})" "$home/.ssh/authorized_keys"`,
    `chmod 0600 "$home/.ssh/authorized_keys"`,
    `if getent group docker >/dev/null; then usermod -aG docker ${u}; fi`,
  ].join("\n");
}

/** What the container needs from the host for the enclave's build mode. */
export function sgxDockerArgs(mode: SgxMode = "hardware"): string[] {
  return mode === "hardware"
    ? ["--device /dev/sgx_enclave", "--device /dev/sgx_provision", "-v /var/run/aesmd:/var/run/aesmd"]
    : [];
}

/** Where the server script writes the node's config; user data gives it to the SSH user. */
export const CONFIG_DIR = "/etc/mobilecoin/config";

/**
 * The host's user data: nothing of the release, so an enclave change never replaces the instance (the start
 * step swaps the containers on it, renderServerScript). It is replaced only when the host itself changes (AMI,
 * instance type, SSH key, a restored ledger volume), outside a flag day's window or in a rollback's.
 */
export function renderUserData(a: HostArgs): string {
  const device = ebsDevice(a.ledgerVolumeId);
  const user = q(a.sshUser ?? "ubuntu");
  return `#!/bin/bash
set -euo pipefail
export AWS_DEFAULT_REGION=${q(a.region)}
${
  a.sshAuthorizedKey
    ? `\n# The flag-day steps' SSH key (public half; the private half is the stack secret flagday:sshPrivateKey).\n${sshAccessScript(a.sshUser ?? "ubuntu", a.sshAuthorizedKey)}\n`
    : ""
}
# The ledger volume is attached after the instance starts: wait for it.
until [ -e ${device} ]; do sleep 2; done
${formatIfBlankScript({ device, volumeId: a.ledgerVolumeId, createdEmpty: a.ledgerCreatedEmpty ?? false })}

# The signer key lives in tmpfs only, read with the instance profile at every boot; it is not in this script.
${signerKeyUnitScript(a)}

# The ledger is mounted at every boot, and docker starts only once it is and the key is read.
${persistentLedgerMountScript(device)}
systemctl start ${SIGNER_KEY_UNIT}

# The start step (over SSH, as ${a.sshUser ?? "ubuntu"}) writes the node's config here and runs the release's containers.
id -u ${user} >/dev/null 2>&1 || useradd --create-home --shell /bin/bash ${user}
install -d -m 0755 -o ${user} -g "$(id -gn ${user})" ${CONFIG_DIR}
mkdir -p /var/lib/mobilecoin/sealed
`;
}

/**
 * The start step's script on the node's running host (over SSH, as the SSH user; put `onNode` around it): waits
 * for the host's user data, writes the node's config (tokens config checked against the release's digest,
 * network.json), and runs the release's containers in place of the old ones, which the stop stage stopped. The
 * image is the one the prepare stage pulled and checked there; only a host without it pulls now, and checks the
 * enclave's sha256 as prepare does. POSIX sh (the SSH login shell may be dash).
 */
export function renderServerScript(a: ServerArgs): string {
  const sgx = sgxDockerArgs(a.sgxMode);
  const node = a.node ?? "the node";
  const config = a.configDir ?? CONFIG_DIR;
  const tokens = `${config}/tokens.signed.json`;
  return `set -eu
# flagday generation: ${a.generation}
# The host's user data (ledger mounted, signer key read, config folder) finished.
booted=0
if command -v cloud-init >/dev/null 2>&1; then cloud-init status --wait >/dev/null 2>&1 || booted=$?; fi
if [ "$booted" = 1 ]; then
  echo "flagday: ${node}: the user data of $(hostname) failed (see /var/log/cloud-init-output.log there): nothing was started" >&2; exit 1
fi
mountpoint -q ${LEDGER_PATH} || { echo "flagday: ${node}: ${LEDGER_PATH} is not mounted on $(hostname): not starting a node on the root disk" >&2; exit 1; }
[ -w ${config} ] || { echo "flagday: ${node}: ${config} on $(hostname) is not writable for $(id -un): its user data predates this flagday; replace its instance outside a flag day" >&2; exit 1; }

export AWS_DEFAULT_REGION=${q(a.region)}
aws s3 cp --only-show-errors ${q(a.tokensConfigUri)} ${tokens}.new
echo ${q(`${a.tokensConfigDigest}  ${tokens}.new`)} | sha256sum -c - >/dev/null
mv -f ${tokens}.new ${tokens}
cat > ${config}/network.json <<'NETWORK_JSON'
${networkJson(a)}
NETWORK_JSON

# The image the prepare stage pulled and checked on this host; pulled and checked now only if it is not here.
if ! docker image inspect ${q(a.image)} >/dev/null 2>&1; then
${pullAndCheckScript(a.image, a.enclaveSha256)}
fi
# The old release's containers (stopped by the stop stage, or by this step's own delete) make way.
for c in ${CONTAINER}-admin ${CONTAINER}; do
  if docker ps -a --format '{{.Names}}' | grep -qx "$c"; then docker rm -f "$c" >/dev/null; fi
done
# unless-stopped: a node the flag day stopped stays stopped across a reboot until its new containers replace it.
# The key reaches consensus-service from a read-only file, never through docker's environment (signerKeyWrapper).
docker run -d --name ${CONTAINER} --restart unless-stopped \\
${sgx.length > 0 ? `  ${sgx.join(" ")} \\\n` : ""}  -p ${CLIENT_PORT}:${CLIENT_PORT} -p ${PEER_PORT}:${PEER_PORT} -p ${ADMIN_PORT}:${ADMIN_PORT} \\
  -v ${config}:/config:ro -v /var/lib/mobilecoin/sealed:/sealed -v ${LEDGER_PATH}:${LEDGER_PATH} \\
  --mount type=bind,source=${SIGNER_KEY_FILE},target=${SIGNER_KEY_IN_CONTAINER},readonly \\
  -e MC_CHAIN_ID=${q(a.chainId)} -e MC_BLOCK_VERSION=${a.blockVersion} -e RUST_LOG=${q(a.logLevel)} \\
  ${q(a.image)} \\
  /bin/sh -c ${q(signerKeyWrapper())} consensus-service \\
    ${shellArgs(
      consensusServiceArgs({
        peerResponderId: `${a.peerHost ?? a.ip}:${PEER_PORT}`,
        clientResponderId: `${a.clientHost}:443`,
      }),
      "    ",
    )}
# The admin gateway shares the consensus container's network, where admin gRPC listens on loopback.
docker run -d --name ${CONTAINER}-admin --restart unless-stopped --network container:${CONTAINER} ${q(a.image)} \\
  mc-admin-http-gateway ${shellArgs(adminGatewayArgs(), "    ")}
echo ${q(`flagday: ${node}: ${a.image} started (${a.generation})`)}
`;
}
