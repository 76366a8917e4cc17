import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as path from "node:path";
import { EngineEvent } from "@pulumi/pulumi/automation";
import { engineStack, ENGINE_VERSION, steps } from "./engine";

test("the real engine: up, no-op preview, trigger replace, destroy", { timeout: 240_000 }, async () => {
  const { stack, cleanup } = await engineStack(path.join(__dirname, "smoke"), "smoke");
  try {
    assert.equal(stack.workspace.pulumiVersion, ENGINE_VERSION);

    const upEvents: EngineEvent[] = [];
    const up = await stack.up({ onEvent: (e) => upEvents.push(e) });
    assert.equal(up.summary.result, "succeeded");
    assert.deepEqual(
      steps(upEvents)
        .filter((s) => s.name === "hello")
        .map((s) => s.op),
      ["create"],
    );
    assert.match(up.outputs.stdout.value, /hello from the engine, trigger one/);

    const previewEvents: EngineEvent[] = [];
    const preview = await stack.preview({ onEvent: (e) => previewEvents.push(e) });
    assert.deepEqual(
      steps(previewEvents)
        .map((s) => s.op)
        .filter((op) => op !== "same"),
      [],
      "a preview with nothing changed must plan no step",
    );
    assert.equal(preview.changeSummary.create ?? 0, 0);

    await stack.setConfig("trigger", { value: "two" });
    const replaceEvents: EngineEvent[] = [];
    const replaced = await stack.up({ onEvent: (e) => replaceEvents.push(e) });
    const ops = steps(replaceEvents)
      .filter((s) => s.name === "hello")
      .map((s) => s.op);
    assert.deepEqual(ops, ["create-replacement", "replace", "delete-replaced"]);
    assert.match(replaced.outputs.stdout.value, /trigger two/);

    const destroyEvents: EngineEvent[] = [];
    await stack.destroy({ onEvent: (e) => destroyEvents.push(e) });
    assert.deepEqual(
      steps(destroyEvents)
        .filter((s) => s.name === "hello")
        .map((s) => s.op),
      ["delete"],
    );
  } finally {
    await stack.workspace.removeStack("smoke").catch(() => undefined);
    cleanup();
  }
});
