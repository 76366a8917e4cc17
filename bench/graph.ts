/**
 * How long building a flag day's resource graph takes, under Pulumi mocks, on the AWS platform: the program's
 * own cost (validation, planning, wiring every stage), without any cloud. Prints one line per size:
 *   BENCH graph nodes=<n> seconds=<s>
 * Targets: 100 nodes under 5 s, and 100 nodes under 12x the time of 10 (the wiring is close to linear; the
 * barriers between stages add n^2 dependency edges, which must stay cheap).
 */
import { Deployed } from "../components/plan";
import { network, aws, runNetwork, V5, V6 } from "../test/components/fixtures";

async function flagDayGraphSeconds(n: number): Promise<number> {
  const deployed: Deployed = { release: V5, history: [] };
  const start = process.hrtime.bigint();
  const run = await runNetwork(aws(), network(n, V6), deployed);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (run.result.net.plan.kind !== "transition") throw new Error("bench: expected a flag day");
  return seconds;
}

export async function benchGraph(sizes: readonly number[] = [10, 100]): Promise<Record<number, number>> {
  // The SDK records a stack trace for every promise it makes. Run through tsx, Node maps each one through the
  // TypeScript source maps, which was most of the time measured (5.8 s of 100 nodes, against 3.6 s without):
  // a cost of running .ts in-process, not of the program. The figures below are without it.
  const sourceMaps = process.sourceMapsEnabled;
  process.setSourceMapsEnabled(false);
  try {
    return await measureGraph(sizes);
  } finally {
    process.setSourceMapsEnabled(sourceMaps);
  }
}

async function measureGraph(sizes: readonly number[]): Promise<Record<number, number>> {
  // One small run first, so module loading and the JIT's warm-up are not billed to the first size.
  await flagDayGraphSeconds(3);
  const out: Record<number, number> = {};
  for (const n of sizes) {
    out[n] = await flagDayGraphSeconds(n);
    console.log(`BENCH graph nodes=${n} seconds=${out[n].toFixed(3)}`);
  }
  return out;
}
