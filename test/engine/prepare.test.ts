/**
 * Prepare and seal through the real engine (issue 13): `flagday:prepare` runs the coming flag day's warm
 * snapshots and pulls with the network serving clients and changes nothing else; a failed prepare changes
 * nothing; the flag day then reuses what prepare made (no warm-snapshot or pull step runs again); the window's
 * snapshots are only cut, and the ingress reopens only after every one is sealed; a seal that fails leaves the
 * ingress closed and a re-run resumes.
 */
import { after, before, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { EngineEvent } from "@pulumi/pulumi/automation";
import { stageOfStep } from "../../components/names";
import {
  bringUp,
  flagDay,
  gateState,
  layout,
  openWindow,
  probeIngress,
  resourceSteps,
  sendTraffic,
  stepNameOf,
} from "../../rehearsal/run";
import { ledgerDump, testNetwork, TestNetwork } from "./rehearsal-harness";

const NODES = ["node1", "node2", "node3"];
const V1 = "8224f1e6433d814d03de7a7d8fab7969d9b44e2cec09bd0a071e51e8dca6bd4c";
let net: TestNetwork;
let faults: string;

before(async () => {
  net = await testNetwork("prepare");
  faults = path.join(net.rootDir, "faults");
});
after(async () => {
  await net?.cleanup();
});

async function enclaves(): Promise<string[]> {
  const { nodes } = await layout(net.stack);
  return Promise.all(
    nodes.map(
      async (n) =>
        ((await (await fetch(`${n.admin}/info`)).json()) as { build_info: { mrenclave: string } }).build_info
          .mrenclave,
    ),
  );
}

const created = (events: readonly EngineEvent[], network: string) =>
  resourceSteps(events)
    .filter((s) => s.op === "create" || s.op === "create-replacement")
    .map((s) => ({ name: s.name, stage: stageOfStep(s.name, network) }));

test(
  "prepare runs the warm snapshots and pulls with clients served; a failed one changes nothing",
  { timeout: 300_000 },
  async () => {
    await bringUp(net.stack, "v1.0.0", net.log);
    await sendTraffic(net.stack, 3, net.log);
    const before = NODES.map((n) => ledgerDump(net.rootDir, n));
    const { network, ingress } = await layout(net.stack);

    // A wrong image on node2 (the pull fails): nothing else happens, no window needed, clients served.
    await net.stack.setConfig("flagday:release", { value: "v2.0.0" });
    await net.stack.setConfig("flagday:prepare", { value: "true" });
    fs.mkdirSync(faults, { recursive: true });
    fs.writeFileSync(path.join(faults, "node2-pull"), `echo "manifest unknown: v2.0.0-local" >&2; exit 1\n`);
    await assert.rejects(net.stack.up({ onEvent: undefined }), /node2-pull|injected fault/);
    assert.equal(await gateState(ingress.control), "accept");
    assert.equal(await probeIngress(ingress.listen), "served");
    assert.deepEqual(await enclaves(), [V1, V1, V1]);
    NODES.forEach((n, i) => assert.deepEqual(ledgerDump(net.rootDir, n), before[i], `${n} untouched`));

    // Fixed: prepare completes, still without a window, the network still serving on v1.
    fs.rmSync(path.join(faults, "node2-pull"));
    const events: EngineEvent[] = [];
    const up = await net.stack.up({ onEvent: (e) => events.push(e) });
    assert.equal(up.summary.result, "succeeded");
    const ran = created(events, network);
    // Only prepare stages ran (what the failed run had done, the warm snapshots first, was kept).
    assert.ok(ran.length > 0);
    for (const s of ran)
      assert.ok(s.stage === "pull" || s.stage === "warm-snapshot", `prepare ran ${s.name}`);
    assert.ok(
      ran.some((s) => s.name === `${network}-u1-node2-pull`),
      "node2's pull ran again",
    );
    assert.equal(await gateState(ingress.control), "accept");
    assert.deepEqual(await enclaves(), [V1, V1, V1]);
    const record = (await net.stack.outputs()).flagday.value as {
      release: { version: string };
      history: unknown[];
    };
    assert.equal(record.release.version, "v1.0.0", "the deployed record is unchanged");
    assert.equal(record.history.length, 0);
    // On disk: a warm snapshot of every ledger and the image on the host.
    const snapshots = path.join(net.rootDir, "snapshots");
    const warm = fs.readdirSync(snapshots).flatMap((t) => fs.readdirSync(path.join(snapshots, t)));
    for (const n of NODES)
      assert.ok(warm.includes(`${n}.warm`), `${n} has a warm snapshot (${warm.join(", ")})`);
    for (const n of NODES) {
      assert.ok(
        fs.existsSync(path.join(net.rootDir, n, "images", "v2.0.0", "libconsensus-enclave.signed.so")),
        n,
      );
    }
    // Run again: nothing left to prepare.
    const again = await net.stack.preview();
    assert.equal(again.changeSummary?.create ?? 0, 0, "a second prepare has nothing to do");
    await net.stack.removeConfig("flagday:prepare");
  },
);

test(
  "the flag day reuses what prepare made, and reopens only once every snapshot is sealed; a failed seal resumes",
  { timeout: 420_000 },
  async () => {
    const before = NODES.map((n) => ledgerDump(net.rootDir, n));
    // node3's seal fails once (as a seal that timed out would): the ingress stays closed.
    fs.writeFileSync(
      path.join(faults, "node3-seal"),
      `echo "snapshot not ready after the timeout" >&2; exit 1\n`,
    );
    await openWindow(net.stack, net.log);
    const { ingress, network } = await layout(net.stack);
    const failed = await flagDay(net.stack, "v2.0.0", net.log).then(
      () => undefined,
      (e: Error) => e.message,
    );
    assert.match(failed ?? "", /node3-seal/);
    assert.equal(await gateState(ingress.control), "reject", "no reopening without every snapshot sealed");

    fs.rmSync(path.join(faults, "node3-seal"));
    // Sealing takes a while now: the reopening must still wait for it.
    fs.writeFileSync(path.join(faults, "node1-seal"), `sleep 3\n`);
    const report = await flagDay(net.stack, "v2.0.0", net.log);
    fs.rmSync(path.join(faults, "node1-seal"));
    const ran = report.steps
      .filter((s) => s.op === "create" || s.op === "create-replacement")
      .map((s) => stageOfStep(s.name, network));
    assert.ok(
      !ran.includes("warm-snapshot") && !ran.includes("pull"),
      `prepare's steps reused: ${ran.join(", ")}`,
    );
    assert.ok(ran.includes("seal") && ran.includes("ingress-accept"));
    // Every seal ended before the ingress-accept step started (engine events as they reached the driver).
    const at = (stage: string, kind: "pre" | "out") =>
      report.timed
        .filter(({ event }) => {
          const m = kind === "pre" ? event.resourcePreEvent?.metadata : event.resOutputsEvent?.metadata;
          return m && m.op !== "same" && stageOfStep(stepNameOf(m.urn), network) === stage;
        })
        .map(({ at }) => at);
    const sealed = Math.max(...at("seal", "out"));
    const reopened = Math.min(...at("ingress-accept", "pre"));
    assert.ok(
      sealed <= reopened,
      `ingress-accept started ${reopened - sealed} ms before the last seal ended`,
    );
    NODES.forEach((n, i) => {
      const after = ledgerDump(net.rootDir, n);
      assert.equal(after.format, 2);
      assert.deepEqual(
        after.blocks.slice(0, before[i].blocks.length),
        before[i].blocks,
        `${n}: every block kept`,
      );
    });
    assert.equal(await gateState(ingress.control), "accept");
  },
);
