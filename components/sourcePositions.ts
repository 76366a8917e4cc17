import * as pulumi from "@pulumi/pulumi";

const CUT = Symbol.for("flagday.sourcePositionsOnly");

/**
 * The Node.js SDK sends the whole JavaScript stack of every resource's construction with its registration, and the
 * engine keeps it in the stack's state (`stackTrace`: about 0.65 kB a resource here, 13 % of a 10-node network's
 * state). The engine writes the whole state before and after every step, one save at a time, while the window's
 * steps wait for it, so every byte of it is paid inside the window about 130 times on 10 nodes. Measured on the
 * Kubernetes profile, 5 GiB, `time_scale=200` (bench/profile.ts), the window over its critical path: 1.140-1.160
 * in four runs with the whole traces, 1.120 and 1.145 with the first frame kept, 1.131 and 1.133 with none; a
 * stage's ten steps start closer together (the stop stage's within 35-37 ms, against 67-112 ms).
 *
 * This keeps only the first frame: the resource's source position (the line that constructs it), which is what
 * Pulumi's messages name. `Resource.stackTrace` is the SDK's private static (@pulumi/pulumi 3.259.0, pinned); if a
 * later SDK has none, nothing is changed and the program runs as before. The engine test of the rehearsal checks
 * the state it leaves.
 *
 * Returns whether the SDK's stack traces are now cut to the source position.
 */
export function keepSourcePositionsOnly(): boolean {
  const sdk = pulumi.Resource as unknown as {
    stackTrace?: (skip: number) => unknown[];
    [CUT]?: true;
  };
  if (sdk[CUT]) return true;
  const full = sdk.stackTrace;
  if (typeof full !== "function") return false;
  sdk.stackTrace = (skip: number) => full.call(sdk, skip).slice(0, 1);
  sdk[CUT] = true;
  return true;
}
