import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { inspect } from "node:util";
import { describe, test } from "node:test";
import { flagDayId } from "../../components/coordination/proposal";
import {
  generateOperatorKey,
  keyId,
  privateKeyFrom,
  publicKeyFrom,
  publicKeyString,
  readPrivateKeyFile,
  signMessage,
  signProposalId,
  verifyMessage,
  verifyProposalId,
} from "../../components/coordination/signing";
import { ALICE, BOB, PROPOSAL } from "./fixtures";

const ID = flagDayId(PROPOSAL);

describe("operator keys", () => {
  test("a generated key: PKCS#8 PEM private half, base64 SPKI DER public half", () => {
    const k = generateOperatorKey();
    assert.match(k.privateKeyPem, /^-----BEGIN PRIVATE KEY-----\n/);
    assert.match(k.publicKey, /^MCowBQYDK2VwAyEA[A-Za-z0-9+/]{43}=$/);
    assert.equal(publicKeyString(privateKeyFrom(k.privateKeyPem)), k.publicKey);
  });

  test("a private key reads the same from PEM, base64 PKCS#8 DER (a secret's value) and a key file", (t) => {
    const k = generateOperatorKey();
    const der = privateKeyFrom(k.privateKeyPem).export({ type: "pkcs8", format: "der" }).toString("base64");
    const dir = mkdtempSync(path.join(tmpdir(), "flagday-key-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(path.join(dir, "op.pem"), k.privateKeyPem, { mode: 0o600 });
    writeFileSync(path.join(dir, "op.b64"), `${der}\n`, { mode: 0o600 });
    for (const key of [
      privateKeyFrom(`\n${k.privateKeyPem}\n`),
      privateKeyFrom(der),
      readPrivateKeyFile(path.join(dir, "op.pem")),
      readPrivateKeyFile(path.join(dir, "op.b64")),
    ]) {
      assert.equal(publicKeyString(key), k.publicKey);
    }
  });

  test("a public key reads the same from base64 SPKI DER and PEM; keyId is a stable 16-hex fingerprint", () => {
    const pem = publicKeyFrom(ALICE.publicKey).export({ type: "spki", format: "pem" }) as string;
    assert.equal(publicKeyString(publicKeyFrom(pem)), ALICE.publicKey);
    assert.match(keyId(ALICE.publicKey), /^[0-9a-f]{16}$/);
    assert.equal(keyId(ALICE.publicKey), keyId(ALICE.privateKey));
    assert.equal(keyId(pem), keyId(ALICE.publicKey));
    assert.notEqual(keyId(ALICE.publicKey), keyId(BOB.publicKey));
  });

  test("keys made with openssl as the Operator type documents are read the same", (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), "flagday-openssl-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, "key.pem");
    execFileSync("openssl", ["genpkey", "-algorithm", "ed25519", "-out", file]);
    const pub = execFileSync("openssl", ["pkey", "-in", file, "-pubout", "-outform", "DER"]).toString(
      "base64",
    );
    assert.equal(publicKeyString(readPrivateKeyFile(file)), pub);
  });

  test("non-Ed25519 keys and garbage are refused; no message repeats the key text", () => {
    const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 });
    assert.throws(
      () =>
        privateKeyFrom(
          rsa.privateKey.export({ type: "pkcs8", format: "pem" }) as string,
          "flagday:operatorKey",
        ),
      /^Error: flagday:operatorKey is a rsa key: operators sign with Ed25519 keys\.$/,
    );
    assert.throws(
      () => publicKeyFrom(rsa.publicKey.export({ type: "spki", format: "pem" }) as string),
      /is a rsa key/,
    );
    const k = generateOperatorKey();
    assert.throws(
      () => publicKeyFrom(k.privateKeyPem, "flagday:network.operators[0].publicKey"),
      /^Error: flagday:network\.operators\[0\]\.publicKey is a private key: give only the public key/,
    );
    const mangled = k.privateKeyPem.replace(/\n[A-Za-z0-9+/]{8}/, "\n!!!!!!!!");
    const der = privateKeyFrom(k.privateKeyPem).export({ type: "pkcs8", format: "der" }).toString("base64");
    for (const text of [mangled, der.slice(0, 20) + "*" + der.slice(21), der.slice(0, 30), ""]) {
      let message = "";
      try {
        privateKeyFrom(text, "flagday:operatorKey");
      } catch (e) {
        message = (e as Error).message;
      }
      assert.match(message, /^flagday:operatorKey is not an Ed25519 private key/);
      for (const piece of [der.slice(16, 40), text.slice(30, 60)].filter((p) => p.length > 8)) {
        assert.ok(!message.includes(piece), "the error repeats key material");
      }
    }
    assert.throws(
      () => readPrivateKeyFile("/nonexistent/flagday.pem"),
      /cannot read the operator key file .*ENOENT/,
    );
  });

  test("a private key object prints and serialises without its material", () => {
    const der = ALICE.privateKey.export({ type: "pkcs8", format: "der" });
    const seed = Buffer.from(ALICE.privateKey.export({ format: "jwk" }).d as string, "base64url");
    const forms = [
      der.toString("base64"),
      seed.toString("base64"),
      seed.toString("base64url"),
      seed.toString("hex"),
    ];
    for (const shown of [
      inspect(ALICE.privateKey),
      JSON.stringify(ALICE.privateKey),
      String(ALICE.privateKey),
    ]) {
      for (const form of forms) assert.ok(!shown.includes(form.slice(0, 40)), shown);
    }
  });
});

describe("signatures", () => {
  test("sign and verify a proposal id; another key, another id or a changed signature fail", () => {
    const sig = signProposalId(ID, ALICE.privateKey);
    assert.equal(Buffer.from(sig, "base64").length, 64);
    assert.equal(verifyProposalId(ID, sig, publicKeyFrom(ALICE.publicKey)), true);
    assert.equal(verifyProposalId(ID, sig, publicKeyFrom(BOB.publicKey)), false);
    assert.equal(
      verifyProposalId(ID.replace(/^./, ID[0] === "0" ? "1" : "0"), sig, publicKeyFrom(ALICE.publicKey)),
      false,
    );
    const flipped = Buffer.from(sig, "base64");
    flipped[10] ^= 1;
    assert.equal(verifyProposalId(ID, flipped.toString("base64"), publicKeyFrom(ALICE.publicKey)), false);
  });

  test("signatures are domain-separated: a proposal signature is no entry signature", () => {
    const sig = signMessage("proposal", "same text", ALICE.privateKey);
    const pub = publicKeyFrom(ALICE.publicKey);
    assert.equal(verifyMessage("proposal", "same text", sig, pub), true);
    assert.equal(verifyMessage("entry", "same text", sig, pub), false);
  });

  test("verification never throws on malformed signatures", () => {
    const pub = publicKeyFrom(ALICE.publicKey);
    for (const sig of ["", "***", "AAAA", "A".repeat(200), "%%%%"]) {
      assert.equal(verifyMessage("entry", "x", sig, pub), false);
    }
  });

  test("signing needs the private key", () => {
    assert.throws(() => signMessage("entry", "x", publicKeyFrom(ALICE.publicKey)), /needs the private key/);
  });
});
