/**
 * The rehearsal's command resource keeps secrets out of its state, yet must still tell a changed environment
 * from an unchanged one: `npm run rehearse -- --keep` re-runs a network whose servers hold secret keys.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { localCommandProvider } from "../../components/local/command";

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
