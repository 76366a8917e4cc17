/**
 * Issue 14, defects 1 and 5: a rollback restores from the snapshots the history recorded, a restored ledger's
 * source never changes afterwards, restored ledgers are protected, the lookup for a flag day that failed
 * part-way finds only flagday's own finished snapshot (or refuses), and restored volumes are initialised.
 */
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { awsPlatform, AwsPlatformArgs } from "../../components/aws";
import { awsArgsProblems } from "../../components/aws/args";
import {
  DEFAULT_RESTORE_INITIALIZATION_RATE_MIBPS,
  snapshotLookupFilters,
  snapshotLookupProblem,
} from "../../components/aws/snapshots";
import { kubernetesPlatform } from "../../components/kubernetes";
import { clusterSnapshotRecord } from "../../components/kubernetes/platform";
import { stageObjectName } from "../../components/kubernetes/specs";
import { recordedSnapshots } from "../../components/orchestrate";
import { Deployed, HistoryEntry, planUpgrade, Transition } from "../../components/plan";
import {
  CaptureOptions,
  CapturedResource,
  captureGraph,
  mockSnapshotId,
  revealed,
  settled,
  stableJson,
} from "../graph/harness";
import { awsArgs, K8S_ARGS, network, runNetwork, V5, V6 } from "./fixtures";

const GET_IDS = "aws:ebs/getSnapshotIds:getSnapshotIds";
const GET_ONE = "aws:ebs/getSnapshot:getSnapshot";
const inputsOf = (r: CapturedResource) => revealed(r.inputs) as Record<string, unknown>;
const aws =
  (extra: Partial<AwsPlatformArgs> = {}) =>
  () =>
    awsPlatform(awsArgs(extra));

/** Every provider call a run makes, by token; `answer` overrides the fake cloud's answers. */
function calls(answer: CaptureOptions["call"] = () => undefined) {
  const seen: { token: string; inputs: Record<string, unknown> }[] = [];
  const options: CaptureOptions = {
    call: (token, inputs) => {
      seen.push({ token, inputs });
      return answer(token, inputs);
    },
  };
  return { options, seen, count: (token: string) => seen.filter((c) => c.token === token).length };
}

/** A lookup that now finds another snapshot (an AWS Backup copy with the same tags, say), with a height. */
const OTHER = "snap-0ffffffffffffffff";
const otherSnapshot: CaptureOptions["call"] = (token) =>
  token === GET_IDS
    ? { ids: [OTHER] }
    : token === GET_ONE
      ? { id: OTHER, state: "completed", tags: { "flagday:height": "4242" } }
      : undefined;

const transitionOf = (d: { result: { net: { plan: unknown } } }) =>
  (d.result.net.plan as { transition: Transition }).transition;

describe("recordedSnapshots: the history decides what a rollback restores", () => {
  const flagDay = (planUpgrade(V6, { release: V5, history: [] }) as { transition: Transition }).transition;
  const rollback: Transition = {
    id: "u2-rollback-x",
    sequence: "rollback-restore",
    from: V6,
    to: V5,
    undoes: flagDay,
  };
  const entry = (id: string, over: Partial<HistoryEntry> = {}): HistoryEntry => ({
    id,
    sequence: "flag-day",
    from: "a",
    to: "b",
    changed: [],
    snapshots: {},
    outcome: "completed",
    ...over,
  });

  test("a completed flag day: the snapshots its entry recorded (nodes without an id left out)", () => {
    const history = [
      entry(flagDay.id, { snapshots: { node1: { id: "snap-1", height: 7 }, node2: { id: "", height: 7 } } }),
    ];
    assert.deepEqual(recordedSnapshots(history, rollback), { node1: { id: "snap-1", height: 7 } });
  });

  test("a finished rollback by restore: the snapshots its own entry says it restored, first", () => {
    const history = [
      entry(flagDay.id, { snapshots: { node1: { id: "snap-1", height: 7 } } }),
      entry(rollback.id, { sequence: "rollback-restore", snapshots: { node1: { id: "snap-r", height: 7 } } }),
    ];
    assert.deepEqual(recordedSnapshots(history, rollback), { node1: { id: "snap-r", height: 7 } });
  });

  test("a flag day that failed part-way and no finished rollback: nothing recorded (the platform looks)", () => {
    assert.equal(recordedSnapshots([], rollback), undefined);
    const aborted = [entry(flagDay.id, { outcome: "aborted", snapshots: { node1: { id: "snap-1" } } })];
    assert.equal(recordedSnapshots(aborted, rollback), undefined);
    assert.equal(recordedSnapshots(aborted, flagDay), undefined, "a flag day undoes nothing");
  });
});

describe("the AWS lookup (a flag day that failed part-way) finds only flagday's own snapshot", () => {
  test("it asks for cut snapshots (pending or completed) tagged with the network, the transition and the node", () => {
    assert.deepEqual(snapshotLookupFilters("testnet", "u1-upgrade-x", "node2"), [
      { name: "status", values: ["pending", "completed"] },
      { name: "tag:flagday:network", values: ["testnet"] },
      { name: "tag:flagday:transition", values: ["u1-upgrade-x"] },
      { name: "tag:flagday:node", values: ["node2"] },
    ]);
  });

  test("two matches are refused, naming both; one or none is an answer", () => {
    assert.equal(snapshotLookupProblem("u1-x", "node2", []), undefined);
    assert.equal(snapshotLookupProblem("u1-x", "node2", ["snap-01"]), undefined);
    assert.match(
      snapshotLookupProblem("u1-x", "node2", ["snap-01", "snap-02"]) ?? "",
      /2 snapshots .* node node2's snapshot of flag day u1-x: snap-01, snap-02\..*Nothing was changed/s,
    );
  });

  test("under mocks: the platform's lookup sends those filters and, finding two, fails naming them", async () => {
    const spec = network(3, V5);
    const failed = (planUpgrade(V6, { release: V5, history: [] }) as { transition: Transition }).transition;
    const c = calls((token) =>
      token === GET_IDS ? { ids: ["snap-01111111111111111", "snap-02222222222222222"] } : undefined,
    );
    const run = await captureGraph(async () => {
      const p = awsPlatform(awsArgs());
      const nodes = spec.nodes.map((n) => p.node(n, spec, {}));
      return settled(p.snapshots(failed, nodes, spec));
    }, c.options);
    assert.match(run.result, /snap-01111111111111111, snap-02222222222222222/);
    const filters = c.seen.find((x) => x.token === GET_IDS)?.inputs.filters;
    assert.deepEqual(filters, snapshotLookupFilters("testnet", failed.id, "node1"));
    assert.deepEqual(c.seen.find((x) => x.token === GET_IDS)?.inputs.owners, ["self"]);
  });
});

describe("a snapshot that was cut but is not complete is never taken as 'never migrated'", () => {
  const failed = (planUpgrade(V6, { release: V5, history: [] }) as { transition: Transition }).transition;

  test("AWS: the lookup finds it pending and fails naming it and the wait; nothing is restored", async () => {
    const spec = network(3, V5);
    const c = calls((token, inputs) =>
      token === GET_IDS
        ? {
            ids: [
              `snap-0${String((inputs.filters as { values: string[] }[])[3].values[0]).slice(-1)}aaaaaaaaaaaaaaa`,
            ],
          }
        : token === GET_ONE
          ? { id: (inputs.snapshotIds as string[])[0], state: "pending", tags: { "flagday:height": "42" } }
          : undefined,
    );
    const run = await captureGraph(async () => {
      const p = awsPlatform(awsArgs());
      const nodes = spec.nodes.map((n) => p.node(n, spec, {}));
      return settled(p.snapshots(failed, nodes, spec));
    }, c.options);
    assert.match(
      String(run.result),
      /the snapshot snap-01a+ of node node1 \(flag day u1-upgrade-[^)]+\) was cut but is not complete yet \(state pending\): its ledger may have been migrated since.*Nothing was changed\. Wait for it \(aws ec2 wait snapshot-completed --region us-west-2 .*--snapshot-ids snap-01a+\)/s,
    );
    for (const n of ["node1", "node2", "node3"])
      assert.match(String(run.result), new RegExp(`of node ${n} `));
  });

  test("Kubernetes: a VolumeSnapshot not readyToUse fails naming it and the kubectl wait", () => {
    const name = (n: string) => stageObjectName(n, "snapshot", failed.id);
    assert.throws(
      () =>
        clusterSnapshotRecord(
          failed,
          ["node1", "node2"],
          {
            [name("node1")]: { readyToUse: true, height: 42 },
            [name("node2")]: { readyToUse: false, height: 42 },
          },
          "kubectl --namespace mc",
        ),
      (e: Error) =>
        e.message.includes(`the snapshot ${name("node2")} of node node2`) &&
        e.message.includes("not readyToUse") &&
        e.message.includes(`kubectl --namespace mc wait volumesnapshot/${name("node2")}`) &&
        !e.message.includes("node1"),
    );
    // Ready ones, and nodes the flag day never snapshotted, are what they were.
    assert.deepEqual(
      clusterSnapshotRecord(failed, ["node1", "node2"], {
        [name("node1")]: { readyToUse: true, height: 42 },
      }),
      { node1: { id: name("node1"), height: 42 } },
    );
  });
});

// The suites below build graphs in before() hooks: suites run one after another, and captureGraph is not
// re-entrant (an async describe body would start while another suite's captures run).
type Run = Awaited<ReturnType<typeof runNetwork>>;

describe("AWS: a rollback of a completed flag day restores what the history recorded, for good", () => {
  let upgrade: Run;
  let back: Run;
  let restored: CapturedResource;
  const backCalls = calls();
  before(async () => {
    const initial = await runNetwork(aws(), network(3, V5));
    upgrade = await runNetwork(aws(), network(3, V6), initial.result.record);
    back = await runNetwork(
      aws(),
      network(3, V5),
      upgrade.result.record,
      { rollback: true },
      backCalls.options,
    );
    restored = back.graph.named("testnet-u2-node2-restore");
  });
  const recorded = () => upgrade.result.record.history[0].snapshots;

  test("the rollback restores the recorded snapshot, with no lookup", () => {
    assert.equal(transitionOf(back).sequence, "rollback-restore");
    assert.equal(backCalls.count(GET_IDS), 0, "a completed flag day's snapshots are never looked up");
    assert.equal(inputsOf(restored).snapshotId, recorded().node2.id);
    assert.equal(back.result.record.history[1].snapshots.node2.id, recorded().node2.id);
  });

  test("the restored volume is protected, kept if dropped, and never replaced for its source", () => {
    assert.equal(restored.protect, true);
    assert.equal(restored.retainOnDelete, true);
    assert.ok(restored.ignoreChanges.includes("snapshotId"), `ignoreChanges: ${restored.ignoreChanges}`);
  });

  for (const [what, release] of [
    ["the steady run after the rollback", V5],
    ["the next flag day", V6],
  ] as const) {
    test(`${what}: a lookup that would now find another snapshot changes nothing (it is never asked)`, async () => {
      const c = calls(otherSnapshot);
      const later = await runNetwork(aws(), network(3, release), back.result.record, {}, c.options);
      assert.equal(c.count(GET_IDS), 0);
      const again = later.graph.named("testnet-u2-node2-restore");
      assert.equal(inputsOf(again).snapshotId, recorded().node2.id);
      assert.equal(stableJson(again.inputs), stableJson(restored.inputs));
      assert.equal(again.protect, true);
    });
  }
});

describe("AWS: a rollback of a flag day that failed part-way looks up once, then keeps what it found", () => {
  let taken: string;
  let abort: Run;
  const abortCalls = calls();
  before(async () => {
    const initial = await runNetwork(aws(), network(3, V5));
    // The flag day ran (its snapshots exist) but never completed: the stack still records the initial run.
    const failed = await runNetwork(aws(), network(3, V6), initial.result.record);
    taken = mockSnapshotId(failed.graph.named("testnet-u1-node2-snapshot").name);
    abort = await runNetwork(aws(), network(3, V5), initial.result.record, { abort: V6 }, abortCalls.options);
  });

  test("the abort finds the flag day's own snapshot, filtered, and records it", () => {
    assert.equal(abortCalls.count(GET_IDS), 3, "one lookup per node");
    for (const c of abortCalls.seen.filter((x) => x.token === GET_IDS)) {
      assert.deepEqual((c.inputs.filters as { name: string }[]).map((f) => f.name).slice(0, 2), [
        "status",
        "tag:flagday:network",
      ]);
    }
    assert.equal(inputsOf(abort.graph.named("testnet-u2-node2-restore")).snapshotId, taken);
    const record: Deployed = abort.result.record;
    assert.deepEqual(
      record.history.map((h) => [h.outcome, h.snapshots.node2?.id]),
      [
        ["aborted", taken],
        ["completed", taken],
      ],
    );
  });

  test("later updates restore from what the rollback recorded, with no lookup", async () => {
    for (const release of [V5, V6]) {
      const c = calls(otherSnapshot);
      const later = await runNetwork(aws(), network(3, release), abort.result.record, {}, c.options);
      assert.equal(c.count(GET_IDS), 0, `${release.version}: no lookup`);
      assert.equal(inputsOf(later.graph.named("testnet-u2-node2-restore")).snapshotId, taken);
    }
  });
});

describe("AWS: restored volumes are initialised from S3 at a set rate (defect 5)", () => {
  let upgrade: Run;
  before(async () => {
    const initial = await runNetwork(aws(), network(3, V5));
    upgrade = await runNetwork(aws(), network(3, V6), initial.result.record);
  });
  const rollback = (extra: Partial<AwsPlatformArgs>) =>
    runNetwork(aws(extra), network(3, V5), upgrade.result.record, { rollback: true });

  test("by default at 300 MiB/s; only the restored volume (the rate needs a snapshot)", async () => {
    const back = await rollback({});
    assert.equal(DEFAULT_RESTORE_INITIALIZATION_RATE_MIBPS, 300);
    assert.equal(inputsOf(back.graph.named("testnet-u2-node1-restore")).volumeInitializationRate, 300);
    assert.equal(inputsOf(back.graph.named("testnet-node1-ledger")).volumeInitializationRate, undefined);
    assert.ok(
      back.graph.named("testnet-u2-node1-restore").ignoreChanges.includes("volumeInitializationRate"),
    );
  });

  test("restoreInitializationRateMiBps sets it; 0 leaves EBS's lazy loading", async () => {
    const slow = await rollback({ restoreInitializationRateMiBps: 150 });
    assert.equal(inputsOf(slow.graph.named("testnet-u2-node1-restore")).volumeInitializationRate, 150);
    const lazy = await rollback({ restoreInitializationRateMiBps: 0 });
    assert.equal(inputsOf(lazy.graph.named("testnet-u2-node1-restore")).volumeInitializationRate, undefined);
  });

  test("the setting is checked against EBS's range (100 to 300 MiB/s, or 0)", () => {
    const raw: Record<string, unknown> = { ...awsArgs() };
    delete raw.sshPrivateKey;
    const problems = (rate: unknown) =>
      awsArgsProblems({ ...raw, restoreInitializationRateMiBps: rate }, "flagday:aws").filter((p) =>
        p.includes("restoreInitializationRateMiBps"),
      );
    for (const ok of [undefined, 0, 100, 300]) assert.deepEqual(problems(ok), [], String(ok));
    for (const bad of [50, 301, 150.5, "300"]) {
      assert.match(problems(bad)[0] ?? "", /from 100 to 300.*or 0/, String(bad));
    }
  });
});

describe("Kubernetes: the restored claim is protected and its source comes from the history", () => {
  const names: string[][] = [];
  const lookup = async (n: readonly string[]) => {
    names.push([...n]);
    return Object.fromEntries(n.map((x) => [x, { readyToUse: true, height: 12 }]));
  };
  const kube = () => kubernetesPlatform({ ...K8S_ARGS, snapshotLookup: lookup });
  let upgrade: Run;
  let back: Run;
  before(async () => {
    const initial = await runNetwork(kube, network(3, V5));
    upgrade = await runNetwork(kube, network(3, V6), initial.result.record);
    names.length = 0;
    back = await runNetwork(kube, network(3, V5), upgrade.result.record, { rollback: true });
  });

  test("the rollback makes no lookup; the restored claim is protected, kept, and unchanged later", async () => {
    assert.deepEqual(names, []);
    const claim = back.graph.named("testnet-u2-node2-restore");
    assert.equal(claim.protect, true);
    assert.equal(claim.retainOnDelete, true);
    const spec = inputsOf(claim).spec as { dataSource?: { name?: string } };
    assert.equal(spec.dataSource?.name, upgrade.result.record.history[0].snapshots.node2.id);
    const later = await runNetwork(kube, network(3, V6), back.result.record);
    assert.deepEqual(names, []);
    assert.equal(stableJson(later.graph.named("testnet-u2-node2-restore").inputs), stableJson(claim.inputs));
  });
});
