/**
 * The rehearsal's command resource keeps secrets out of its state, yet must still tell a changed environment
 * from an unchanged one: `npm run rehearse -- --keep` re-runs a network whose servers hold secret keys.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import * as os from "node:os";
import * as path from "node:path";
import { localCommandProvider, providerLoader } from "../../components/local/command";

// The module the dynamic provider's process loads `__provider` with (a dependency of @pulumi/pulumi).
const requireFromString: (code: string) => {
  handler: () => typeof localCommandProvider;
} = require("require-from-string");

const inputs = { create: "true", triggers: ["t1"], environment: { MC_MSG_SIGNER_KEY: "c2VjcmV0" } };

test("a re-run with the same secret environment changes nothing, and the state holds no secret", async () => {
  const created = await localCommandProvider.create!(inputs);
  assert.doesNotMatch(JSON.stringify(created.outs), /c2VjcmV0/);
  const same = await localCommandProvider.diff!(created.id, created.outs, inputs);
  assert.equal(same.changes, false);
  const rotated = await localCommandProvider.diff!(created.id, created.outs, {
    ...inputs,
    environment: { MC_MSG_SIGNER_KEY: "b3RoZXI=" },
  });
  assert.equal(rotated.changes, true);
  assert.deepEqual(rotated.replaces, []);
});

test("the state keeps create and update as digests, and a change of either is still an update", async () => {
  const args = { create: "echo made", update: "echo changed", triggers: ["t1"] };
  const created = await localCommandProvider.create(args);
  assert.equal(created.outs.create, undefined);
  assert.equal(created.outs.update, undefined);
  assert.match(created.outs.createDigest, /^[0-9a-f]{64}$/);
  assert.equal(created.outs.stdout, "made");
  assert.equal((await localCommandProvider.diff(created.id, created.outs, args)).changes, false);
  for (const changed of [
    { ...args, create: "echo other" },
    { ...args, update: "echo other" },
  ]) {
    const d = await localCommandProvider.diff(created.id, created.outs, changed);
    assert.equal(d.changes, true, JSON.stringify(changed));
    assert.deepEqual(d.replaces, []);
  }
  const noUpdate = await localCommandProvider.diff(created.id, created.outs, {
    create: args.create,
    triggers: ["t1"],
  });
  assert.equal(noUpdate.changes, true, "dropping `update` is a change");
});

test("a state written before the digests (the text kept whole) compares by its text", async () => {
  const args = { create: "echo made", triggers: ["t1"] };
  const old = {
    ...args,
    environmentDigest: (await localCommandProvider.create(args)).outs.environmentDigest,
  };
  assert.equal((await localCommandProvider.diff("x", old, args)).changes, false);
  assert.equal((await localCommandProvider.diff("x", old, { ...args, create: "echo other" })).changes, true);
});

test("the provider Pulumi keeps in every resource's state is a small loader of this checkout's provider", async () => {
  const here = path.resolve(__dirname, "../../components/local/commandProvider.js");
  const loader = providerLoader(here);
  // Kept twice in every resource's state, which the engine writes whole before and after every step.
  const own = loader.length - path.resolve(__dirname, "../..").length;
  assert.ok(own <= 400, `the loader is ${own} bytes besides the checkout's path`);
  // Loaded as the dynamic provider's process loads it (cmd/dynamic-provider: requireFromString(...).handler()).
  const loaded = requireFromString(loader).handler();
  assert.equal(loaded.create, localCommandProvider.create);

  // The checkout moved: the loader finds the provider above its working directory (the program's folder).
  const moved = providerLoader("/nowhere/components/local/commandProvider.js");
  const cwd = process.cwd();
  try {
    process.chdir(path.resolve(__dirname, "../../stacks"));
    assert.equal(requireFromString(moved).handler().diff, localCommandProvider.diff);
    process.chdir(os.tmpdir());
    assert.throws(
      () => requireFromString(moved).handler(),
      /no local command provider in \/nowhere\/components\/local\/commandProvider\.js, .*: run pulumi in a flagday checkout/,
    );
  } finally {
    process.chdir(cwd);
  }
});
