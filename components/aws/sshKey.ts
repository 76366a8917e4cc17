/**
 * The public half of the flag-day SSH key, derived from the private key the stack holds as a secret
 * (`flagday:sshPrivateKey`), so that user data can install it in the SSH user's authorized_keys. A public key
 * is not a secret: it goes into user data as plain text.
 *
 * Two formats are read:
 * - OpenSSH's own (`-----BEGIN OPENSSH PRIVATE KEY-----`, ssh-keygen's default): the file carries the public
 *   key unencrypted beside the private section (PROTOCOL.key in OpenSSH's sources), so any key type is read,
 *   even a key with a passphrase;
 * - PEM as OpenSSL writes it: PKCS#1 (`RSA PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`) and PKCS#8 (`PRIVATE KEY`) for
 *   RSA, ECDSA (P-256, P-384, P-521) and Ed25519, read with node:crypto. An encrypted PEM cannot be read without
 *   its passphrase: give the public key as `flagday:aws.sshPublicKey` then.
 */
import { createPrivateKey, createPublicKey, JsonWebKey } from "node:crypto";

/** Why a private key could not give its public half, with the way out. */
export class SshKeyError extends Error {}

const OPENSSH_MAGIC = "openssh-key-v1\0";

/** The `<type> <base64>` authorized_keys line (no comment) of a private key in OpenSSH or PEM format. */
export function openSshPublicKey(privateKey: string): string {
  const text = privateKey.replace(/\r\n/g, "\n").trim();
  if (text.startsWith("-----BEGIN OPENSSH PRIVATE KEY-----")) return fromOpenSsh(text);
  if (/^-----BEGIN (RSA |EC |ENCRYPTED )?PRIVATE KEY-----/.test(text)) return fromPem(text);
  throw new SshKeyError(
    "flagday:sshPrivateKey is neither an OpenSSH private key (-----BEGIN OPENSSH PRIVATE KEY-----) nor a PEM " +
      "one (RSA, EC or PKCS#8 PRIVATE KEY), so its public half cannot be derived",
  );
}

/** Whether two authorized_keys lines name the same key (type and key; the comment does not count). */
export function sameSshKey(a: string, b: string): boolean {
  const key = (s: string) => s.trim().split(/\s+/).slice(0, 2).join(" ");
  return key(a) === key(b);
}

/** A line that authorized_keys accepts as a key: `<type> <base64>[ comment]`, one line. */
export const SSH_PUBLIC_KEY =
  /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,2}( [^\n]*)?$/;

function fromOpenSsh(text: string): string {
  const body = text.replace(/-----(BEGIN|END) OPENSSH PRIVATE KEY-----/g, "").replace(/\s+/g, "");
  const buf = Buffer.from(body, "base64");
  if (buf.subarray(0, OPENSSH_MAGIC.length).toString("latin1") !== OPENSSH_MAGIC) {
    throw new SshKeyError("flagday:sshPrivateKey is not a valid OpenSSH private key (bad magic)");
  }
  let at = OPENSSH_MAGIC.length;
  const string = (): Buffer => {
    if (at + 4 > buf.length)
      throw new SshKeyError("flagday:sshPrivateKey is a truncated OpenSSH private key");
    const len = buf.readUInt32BE(at);
    if (at + 4 + len > buf.length) {
      throw new SshKeyError("flagday:sshPrivateKey is a truncated OpenSSH private key");
    }
    const s = buf.subarray(at + 4, at + 4 + len);
    at += 4 + len;
    return s;
  };
  string(); // cipher name
  string(); // kdf name
  string(); // kdf options
  if (at + 4 > buf.length) throw new SshKeyError("flagday:sshPrivateKey is a truncated OpenSSH private key");
  const keys = buf.readUInt32BE(at);
  at += 4;
  if (keys !== 1) {
    throw new SshKeyError(`flagday:sshPrivateKey holds ${keys} keys; give exactly one`);
  }
  const blob = string();
  if (blob.length < 4) throw new SshKeyError("flagday:sshPrivateKey has an empty public key");
  const type = blob.subarray(4, 4 + blob.readUInt32BE(0)).toString("latin1");
  return `${type} ${blob.toString("base64")}`;
}

/** SSH wire encodings (RFC 4251 section 5). */
const sshString = (b: Buffer) => {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
};
const mpint = (b: Buffer) => {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  const v = b.subarray(i);
  return sshString(v[0] & 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v);
};
const b64url = (s: string | undefined) => Buffer.from(s ?? "", "base64url");

function fromPem(text: string): string {
  let jwk: JsonWebKey;
  try {
    jwk = createPublicKey(createPrivateKey(text)).export({ format: "jwk" });
  } catch (e) {
    throw new SshKeyError(
      `flagday:sshPrivateKey could not be read as a PEM private key (${(e as Error).message}); an ` +
        `encrypted key needs its public half given as flagday:aws.sshPublicKey`,
    );
  }
  const line = (type: string, ...parts: Buffer[]) =>
    `${type} ${Buffer.concat([sshString(Buffer.from(type)), ...parts]).toString("base64")}`;
  if (jwk.kty === "OKP" && jwk.crv === "Ed25519") return line("ssh-ed25519", sshString(b64url(jwk.x)));
  if (jwk.kty === "RSA") return line("ssh-rsa", mpint(b64url(jwk.e)), mpint(b64url(jwk.n)));
  const curves: Record<string, string> = { "P-256": "nistp256", "P-384": "nistp384", "P-521": "nistp521" };
  if (jwk.kty === "EC" && jwk.crv && curves[jwk.crv]) {
    const curve = curves[jwk.crv];
    const point = Buffer.concat([Buffer.from([4]), b64url(jwk.x), b64url(jwk.y)]);
    return line(`ecdsa-sha2-${curve}`, sshString(Buffer.from(curve)), sshString(point));
  }
  throw new SshKeyError(
    `flagday:sshPrivateKey is a ${jwk.kty}${jwk.crv ? ` ${jwk.crv}` : ""} key, which SSH does not use; ` +
      `use an Ed25519, RSA or ECDSA (P-256/384/521) key`,
  );
}

/**
 * The authorized_keys line user data installs: derived from the private key, or the given `sshPublicKey` when
 * the private key cannot be read (an encrypted PEM). Both given: they must be the same key. Throws, naming the
 * fix, when the nodes would refuse the flag-day steps. @returns undefined when neither is given
 */
export function authorizedKeyLine(
  privateKey: string | undefined,
  publicKey: string | undefined,
  user: string,
): string | undefined {
  if (privateKey === undefined || privateKey === "") return publicKey;
  let derived: string;
  try {
    derived = openSshPublicKey(privateKey);
  } catch (e) {
    if (e instanceof SshKeyError && publicKey) return publicKey;
    throw new Error(
      `${(e as Error).message}. Set flagday:aws.sshPublicKey to its public half (ssh-keygen -y -f key), which ` +
        `user data installs for ${user}. Nothing was changed.`,
    );
  }
  if (publicKey && !sameSshKey(publicKey, derived)) {
    const show = (k: string) => `${k.split(/\s+/).slice(0, 2).join(" ").slice(0, 40)}…`;
    throw new Error(
      `flagday: flagday:aws.sshPublicKey (${show(publicKey)}) is not the public half of flagday:sshPrivateKey ` +
        `(${show(derived)}): the nodes would refuse the flag-day steps. Remove sshPublicKey (it is derived) or ` +
        `fix it. Nothing was changed.`,
    );
  }
  return derived;
}
