import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  consensusChanges,
  hasDistributionStateFile,
  needsFlagDay,
  releaseKey,
  releaseProblems,
  type EnclaveRelease,
} from "../../components/release";
import { hex, V1, V2, V2R } from "./fixtures";

const at = (version: string, over: Partial<EnclaveRelease> = {}): EnclaveRelease => ({
  ...V1,
  version,
  ...over,
});

describe("needsFlagDay / consensusChanges", () => {
  test("identical releases: no flag day, no changes", () => {
    assert.equal(needsFlagDay(V1, { ...V1 }), false);
    assert.deepEqual(consensusChanges(V1, { ...V1 }), []);
  });

  test("non-consensus fields (image, migrations, distribution state) never need a flag day", () => {
    const other = {
      ...V1,
      image: "x:y",
      migrations: ["m"],
      reverseMigrations: ["r"],
      distributionStateFile: false,
    };
    assert.equal(needsFlagDay(V1, other), false);
    assert.deepEqual(consensusChanges(V1, other), []);
    assert.equal(needsFlagDay(V2, V2R), false);
  });

  test("each consensus field alone needs a flag day and is named", () => {
    const cases: [keyof EnclaveRelease, unknown][] = [
      ["version", "v5.2.4"],
      ["mrenclave", hex("0a")],
      ["mrsigner", hex("0b")],
      ["enclaveUri", "https://other.test/enclave.so"],
      ["enclaveSha256", hex("0c")],
      ["tokensConfigDigest", hex("0d")],
      ["blockVersion", 4],
    ];
    for (const [field, value] of cases) {
      const to = { ...V1, [field]: value } as EnclaveRelease;
      assert.equal(needsFlagDay(V1, to), true, field);
      assert.deepEqual(consensusChanges(V1, to), [field]);
    }
  });

  test("changes are listed in the fixed field order, both directions", () => {
    const expected = ["version", "mrenclave", "enclaveUri", "enclaveSha256", "blockVersion"];
    assert.deepEqual(consensusChanges(V1, V2), expected);
    assert.deepEqual(consensusChanges(V2, V1), expected);
  });

  test("releaseKey is the version and the first 8 characters of MRENCLAVE", () => {
    assert.equal(releaseKey(V2), "v6.0.0-b2b2b2b2");
  });
});

describe("hasDistributionStateFile", () => {
  test("derived from the version: up to v6.0.0 yes, from v6.0.1 no", () => {
    const expected: [string, boolean][] = [
      ["v5.0.0", true],
      ["v5.2.3", true],
      ["v5.99.99", true],
      ["v4.1.0", true],
      ["v6.0.0", true],
      ["v6.0.1", false],
      ["v6.0.10", false],
      ["v6.1.0", false],
      ["v7.0.0", false],
      ["v10.0.0", false],
    ];
    for (const [version, has] of expected) assert.equal(hasDistributionStateFile(at(version)), has, version);
  });

  test("an explicit setting wins either way", () => {
    assert.equal(hasDistributionStateFile(at("v5.2.3", { distributionStateFile: false })), false);
    assert.equal(hasDistributionStateFile(at("v7.0.0", { distributionStateFile: true })), true);
  });

  test("a version that is not a release tag keeps the file (the safe default)", () => {
    assert.equal(hasDistributionStateFile(at("main")), true);
  });
});

describe("releaseProblems", () => {
  test("a valid release has none", () => {
    assert.deepEqual(releaseProblems(V1, "flagday:release"), []);
    assert.deepEqual(releaseProblems(V2R, "flagday:release"), []);
    assert.deepEqual(releaseProblems({ ...V1, blockVersion: 0, migrations: [] }, "flagday:release"), []);
  });

  test("missing release", () => {
    const msg =
      "flagday:release is missing: set it to the enclave release the operators agreed on (see README.md).";
    assert.deepEqual(releaseProblems(undefined, "flagday:release"), [msg]);
    assert.deepEqual(releaseProblems("v6.0.0" as unknown as EnclaveRelease, "flagday:release"), [msg]);
  });

  test("an empty object lists every required field, in order, prefixed with where", () => {
    assert.deepEqual(releaseProblems({}, "flagday:abort"), [
      "flagday:abort.version must be a release tag like v6.0.0 (got nothing).",
      "flagday:abort.mrenclave must be the consensus enclave's MRENCLAVE: 64 lowercase hex characters (got nothing). Copy it from the release notes or the measurements archive.",
      "flagday:abort.mrsigner must be the enclave signer's MRSIGNER: 64 lowercase hex characters (got nothing). Copy it from the release notes or the measurements archive.",
      "flagday:abort.enclaveSha256 must be the sha256 of the enclave artifact: 64 lowercase hex characters (got nothing). Copy it from the release notes or the measurements archive.",
      "flagday:abort.tokensConfigDigest must be the sha256 of tokens.signed.json: 64 lowercase hex characters (got nothing). Copy it from the release notes or the measurements archive.",
      "flagday:abort.enclaveUri is required: the URI of the signed enclave artifact.",
      "flagday:abort.blockVersion must be a non-negative integer (MC_BLOCK_VERSION), got nothing.",
    ]);
  });

  test("each bad field is named with the value it had", () => {
    const p = (over: Record<string, unknown>) =>
      releaseProblems({ ...V1, ...over } as EnclaveRelease, "flagday:release");
    assert.deepEqual(p({ version: "6.0.0" }), [
      'flagday:release.version must be a release tag like v6.0.0 (got "6.0.0").',
    ]);
    assert.deepEqual(p({ version: "v6.0" }), [
      'flagday:release.version must be a release tag like v6.0.0 (got "v6.0").',
    ]);
    assert.deepEqual(p({ mrenclave: hex("A1") }), [
      `flagday:release.mrenclave must be the consensus enclave's MRENCLAVE: 64 lowercase hex characters (got "${hex("A1")}"). Copy it from the release notes or the measurements archive.`,
    ]);
    assert.match(p({ mrsigner: "ab" })[0], /^flagday:release\.mrsigner .* \(got "ab"\)\./);
    assert.match(p({ enclaveSha256: hex("e5") + "0" })[0], /^flagday:release\.enclaveSha256 /);
    assert.match(p({ tokensConfigDigest: 7 })[0], /^flagday:release\.tokensConfigDigest .* \(got 7\)\./);
    assert.deepEqual(p({ enclaveUri: "" }), [
      "flagday:release.enclaveUri is required: the URI of the signed enclave artifact.",
    ]);
    assert.deepEqual(p({ blockVersion: -1 }), [
      "flagday:release.blockVersion must be a non-negative integer (MC_BLOCK_VERSION), got -1.",
    ]);
    assert.deepEqual(p({ blockVersion: 3.5 }), [
      "flagday:release.blockVersion must be a non-negative integer (MC_BLOCK_VERSION), got 3.5.",
    ]);
    assert.deepEqual(p({ blockVersion: "3" }), [
      'flagday:release.blockVersion must be a non-negative integer (MC_BLOCK_VERSION), got "3".',
    ]);
  });

  test("migrations must be lists of non-empty commands", () => {
    const p = (over: Record<string, unknown>) =>
      releaseProblems({ ...V1, ...over } as EnclaveRelease, "flagday:release");
    assert.deepEqual(p({ migrations: "mc-util-migrate" }), [
      "flagday:release.migrations must be a list of non-empty shell commands.",
    ]);
    assert.deepEqual(p({ reverseMigrations: ["ok", "  "] }), [
      "flagday:release.reverseMigrations must be a list of non-empty shell commands.",
    ]);
    assert.deepEqual(p({ migrations: [1] }), [
      "flagday:release.migrations must be a list of non-empty shell commands.",
    ]);
  });

  test("a long bad value is shortened to 80 characters", () => {
    const long = "x".repeat(200);
    const [msg] = releaseProblems({ ...V1, mrenclave: long }, "flagday:release");
    assert.ok(msg.includes(`(got "${"x".repeat(76)}...)`), msg);
  });
});
