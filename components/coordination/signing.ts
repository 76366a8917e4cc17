import {
  KeyObject,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign as cryptoSign,
  verify as cryptoVerify,
} from "node:crypto";
import { readFileSync } from "node:fs";
import { sha256Hex } from "./canonical";

/**
 * Operators' Ed25519 keys. A public key is written as base64 of its SubjectPublicKeyInfo DER (one line that
 * always starts `MCowBQYDK2VwAyEA`, fit for a stack file); a PEM `PUBLIC KEY` block is accepted too and turned
 * into that form. A private key is a PEM `PRIVATE KEY` block (PKCS#8, what `openssl genpkey -algorithm ed25519`
 * writes) or base64 of its PKCS#8 DER (the form of MobileCoin's `--msg-signer-key`), read from a key file or
 * from a Pulumi secret's value. Private keys only ever live in KeyObjects, which print as
 * `PrivateKeyObject { asymmetricKeyType: 'ed25519' }`; no error message here repeats the text it was given.
 */

/** What signatures sign: domain-separated, so a signature on one kind of thing never passes for another. */
export const SIGNATURE_DOMAINS = {
  proposal: "flagday-proposal-v1\n",
  entry: "flagday-board-entry-v1\n",
} as const;
export type SignatureDomain = keyof typeof SIGNATURE_DOMAINS;

export interface GeneratedOperatorKey {
  /** PKCS#8 PEM: keep it in a key file (mode 0600) or a Pulumi secret. */
  readonly privateKeyPem: string;
  /** base64 SPKI DER: goes into the network's operator list. */
  readonly publicKey: string;
}

/** A new Ed25519 key pair for an operator. */
export function generateOperatorKey(): GeneratedOperatorKey {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return {
    privateKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    publicKey: publicKeyString(publicKey),
  };
}

/**
 * An Ed25519 private key from a PEM block or base64 PKCS#8 DER (e.g. a Pulumi secret's value). `source` names
 * where it came from in error messages (`flagday:operatorKey`, a file path); the key text never appears.
 */
export function privateKeyFrom(text: string, source = "the operator key"): KeyObject {
  return parseKey(text, source, "private");
}

/** An Ed25519 private key from a file holding a PEM block or base64 PKCS#8 DER. */
export function readPrivateKeyFile(path: string): KeyObject {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new Error(`cannot read the operator key file ${path}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  return privateKeyFrom(text, `the key file ${path}`);
}

/** An Ed25519 public key from base64 SPKI DER or a PEM block. `source` names it in errors. */
export function publicKeyFrom(text: string, source = "the public key"): KeyObject {
  return parseKey(text, source, "public");
}

/** How each kind of key may be written, for error messages. */
const KEY_FORMS = {
  private: `a PEM "PRIVATE KEY" block (openssl genpkey -algorithm ed25519) or base64 of its PKCS#8 DER`,
  public: `base64 of its SubjectPublicKeyInfo DER (it starts "MCowBQYDK2VwAyEA") or a PEM "PUBLIC KEY" block`,
} as const;

function parseKey(text: string, source: string, kind: "private" | "public"): KeyObject {
  const trimmed = text.trim();
  if (kind === "public" && /^-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(trimmed)) {
    throw new Error(`${source} is a private key: give only the public key, and keep the private key secret.`);
  }
  let key: KeyObject;
  try {
    const pem = trimmed.startsWith("-----BEGIN");
    const der = pem ? undefined : strictBase64(trimmed);
    if (kind === "private") {
      key = der ? createPrivateKey({ key: der, format: "der", type: "pkcs8" }) : createPrivateKey(trimmed);
    } else {
      key = der ? createPublicKey({ key: der, format: "der", type: "spki" }) : createPublicKey(trimmed);
    }
  } catch {
    throw new Error(`${source} is not an Ed25519 ${kind} key: give ${KEY_FORMS[kind]}.`);
  }
  return requireEd25519(key, source);
}

/** The canonical text of a public key (or of a private key's public half): base64 SPKI DER. */
export function publicKeyString(key: KeyObject): string {
  const pub = key.type === "private" ? createPublicKey(key) : key;
  return pub.export({ type: "spki", format: "der" }).toString("base64");
}

/** A short fingerprint of a public key for messages and entries: the first 16 hex of sha256(SPKI DER). */
export function keyId(key: KeyObject | string): string {
  const k = typeof key === "string" ? publicKeyFrom(key) : key;
  const pub = k.type === "private" ? createPublicKey(k) : k;
  return sha256Hex(pub.export({ type: "spki", format: "der" })).slice(0, 16);
}

/** Signs `message` in a domain; returns the base64 Ed25519 signature. */
export function signMessage(domain: SignatureDomain, message: string, privateKey: KeyObject): string {
  requireEd25519(privateKey, "the signing key");
  if (privateKey.type !== "private") {
    throw new Error("the signing key is a public key: signing needs the private key.");
  }
  return cryptoSign(null, domainBytes(domain, message), privateKey).toString("base64");
}

/** Whether `signature` (base64) is `publicKey`'s signature of `message` in `domain`. Never throws on bad input. */
export function verifyMessage(
  domain: SignatureDomain,
  message: string,
  signature: string,
  publicKey: KeyObject,
): boolean {
  let sig: Buffer;
  try {
    sig = strictBase64(signature);
  } catch {
    return false;
  }
  if (sig.length !== 64 || publicKey.asymmetricKeyType !== "ed25519") return false;
  try {
    return cryptoVerify(null, domainBytes(domain, message), publicKey, sig);
  } catch {
    return false;
  }
}

/** An operator's signature on a flag-day proposal's id (the sha256 hex of its canonical form). */
export function signProposalId(flagDayId: string, privateKey: KeyObject): string {
  return signMessage("proposal", flagDayId, privateKey);
}

export function verifyProposalId(flagDayId: string, signature: string, publicKey: KeyObject): boolean {
  return verifyMessage("proposal", flagDayId, signature, publicKey);
}

function domainBytes(domain: SignatureDomain, message: string): Buffer {
  return Buffer.from(SIGNATURE_DOMAINS[domain] + message, "utf8");
}

function requireEd25519(key: KeyObject, source: string): KeyObject {
  if (key.asymmetricKeyType !== "ed25519") {
    throw new Error(
      `${source} is a ${key.asymmetricKeyType ?? "symmetric"} key: operators sign with Ed25519 keys.`,
    );
  }
  return key;
}

/** base64 (standard or url-safe, padding optional) that decodes to exactly what it says: no stray characters. */
function strictBase64(text: string): Buffer {
  const compact = text.replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(compact) || compact.length === 0) throw new Error("not base64");
  return Buffer.from(compact.replace(/-/g, "+").replace(/_/g, "/"), "base64");
}
