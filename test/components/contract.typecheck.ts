/**
 * Compile-time proof that the platform contract is checked by the compiler: `npm test` type-checks this file
 * (tsc --noEmit), and each `@ts-expect-error` below fails the build if the error it expects goes away.
 */
import type { NodeSteps, Platform } from "../../components/platform";

declare const steps: NodeSteps;

// A platform that lacks a node stage (here `restore`) does not compile.
// @ts-expect-error: property 'restore' is missing
export const missingRestore: NodeSteps = {
  start: steps.start,
  stop: steps.stop,
  snapshot: steps.snapshot,
  migrate: steps.migrate,
  "reverse-migrate": steps["reverse-migrate"],
};

// Nor one that lacks `start`: the server is a node stage like any other.
export const missingStart: Platform["nodeSteps"] = {
  // @ts-expect-error: object literal may only specify known properties, and `server` is not a stage
  server: steps.start,
  stop: steps.stop,
  snapshot: steps.snapshot,
  migrate: steps.migrate,
  "reverse-migrate": steps["reverse-migrate"],
  restore: steps.restore,
};
