// components/sourcePositions.ts: the SDK's per-resource stack trace cut to its first frame, once.
import assert from "node:assert/strict";
import { test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { keepSourcePositionsOnly } from "../../components/sourcePositions";

type Frame = { uri: string; line: number; column: number } | undefined;
const sdk = pulumi.Resource as unknown as { stackTrace: (skip: number) => Frame[] };

function nested(depth: number): Frame[] {
  return depth === 0 ? sdk.stackTrace(0) : nested(depth - 1);
}

test("the stack trace the SDK records keeps its first frame only, and a second call changes nothing", () => {
  const before = nested(3);
  assert.ok(before.length > 3, `the SDK records ${before.length} frames`);
  assert.equal(keepSourcePositionsOnly(), true);
  const after = nested(3);
  assert.equal(after.length, 1);
  assert.equal(after[0]?.uri, before[0]?.uri, "the same first frame: the source position");
  assert.equal(keepSourcePositionsOnly(), true);
  assert.equal(nested(3).length, 1, "not cut twice (still the first frame, not none)");
});
