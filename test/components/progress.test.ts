/**
 * Where a flag day is, in `pulumi up`'s own output: as each stage step completes, the stack program logs
 * `stage n of m, <stage>: k of N node(s) done` on the network's component (an info message the engine shows in
 * that row and under Diagnostics). Under mocks the runtime prints info messages to the console, so the test
 * reads them there.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { stageDoneLine, stageLine } from "../../components/progress";
import { stagesOf } from "../../components/stages";
import { kube, network, runNetwork, V5, V6 } from "./fixtures";

/** The info messages `run` logs through the runtime (printed as `info: [runtime] …` under mocks). */
async function infoLines(run: () => Promise<unknown>): Promise<string[]> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...args: unknown[]) => {
    const text = args.map(String).join(" ");
    const m = /^info: \[runtime\] (.*)$/s.exec(text);
    if (m) lines.push(m[1]);
    else log(...args);
  };
  try {
    await run();
  } finally {
    console.log = log;
  }
  return lines;
}

test("the wording: a stage begins, a node stage counts nodes, a network stage is done", () => {
  assert.equal(
    stageLine(5, 14, "stop", "stop all nodes", 42),
    "-- stage 5 of 14, stop: stop all nodes (42.0 s in)",
  );
  assert.equal(
    stageDoneLine("stop", 42.25, { done: 3, of: 10, last: "node7" }),
    "   stop: 3 of 10 node(s) done, node7 last (42.3 s in)",
  );
  assert.equal(stageDoneLine("quiesce", 12), "   quiesce: done (12.0 s in)");
});

test("a flag day logs every stage as n of m, each node stage counting up to every node; a steady update logs none", async () => {
  const initial = await runNetwork(kube(), network(3, V5));
  let upgrade: Awaited<ReturnType<typeof runNetwork>> | undefined;
  const lines = await infoLines(async () => {
    upgrade = await runNetwork(kube(), network(3, V6), initial.result.record);
  });
  const sequence = stagesOf("flag-day", false);
  const progress = lines.filter((l) => /^stage \d+ of \d+, /.test(l));
  for (const [i, stage] of sequence.entries()) {
    const mine = progress.filter((l) =>
      l.startsWith(`stage ${i + 1} of ${sequence.length}, ${stage.name}: `),
    );
    if (stage.scope === "node") {
      assert.equal(mine.length, 3, `${stage.name}: one line per node\n${progress.join("\n")}`);
      const counts = mine.map((l) => Number(/: (\d) of 3 node\(s\) done, node\d last/.exec(l)?.[1]));
      assert.deepEqual(counts, [1, 2, 3], `${stage.name}: ${mine.join(" | ")}`);
    } else {
      assert.deepEqual(
        mine.map((l) => l.replace(/ \(\d+\.\d s in\)$/, "")),
        [`stage ${i + 1} of ${sequence.length}, ${stage.name}: done`],
      );
    }
  }
  assert.equal(
    progress.length,
    sequence.reduce((k, s) => k + (s.scope === "node" ? 3 : 1), 0),
  );

  const steady = await infoLines(async () => {
    await runNetwork(kube(), network(3, V6), upgrade!.result.record);
  });
  assert.deepEqual(
    steady.filter((l) => /^stage \d+ of/.test(l)),
    [],
    "nothing runs, nothing is reported",
  );
});
