import { describe, test } from "node:test";
import * as assert from "node:assert/strict";
import {
  EBS_VOLUME_TYPE,
  ledgerVolumesProtected,
  NETWORK_TYPE,
  NODE_TYPE,
  oneEnclavePerNetwork,
  peersPinMrenclave,
  policies,
  PVC_TYPE,
  snapshotBeforeFlagDay,
} from "../../policy/policies";
import { runResourcePolicy, runStackPolicy, StackEntry, UNKNOWN, urnOf } from "./helpers";

const V1 = {
  version: "v1.0.0",
  mrenclave: "8224f1e6433d814d03de7a7d8fab7969d9b44e2cec09bd0a071e51e8dca6bd4c",
};
const V2 = {
  version: "v2.0.0",
  mrenclave: "326b1a950e55d1cba47e5e4c7c8d9b8ddfae4a10a3d822382c137d9bf3930548",
};
const FLAG_DAY = "u2-upgrade-v1.0.0-to-v2.0.0-3f9a1c2e";
const EARLIER = "u1-upgrade-v0.9.0-to-v1.0.0-0badc0de";
const DYNAMIC = "pulumi-nodejs:dynamic/flagday:LocalCommand"; // the local platform's LocalCommand

const networkEntry = (name: string, props: Record<string, unknown> = {}): StackEntry => ({
  type: NETWORK_TYPE,
  name,
  props: { network: name, peerAttestation: "mrenclave", record: UNKNOWN, ...props },
});

/** A network's ConsensusNodes as the component registers them. */
function nodes(
  network: string,
  releases: readonly { version: string; mrenclave: string }[],
  generation = "initial",
): StackEntry[] {
  return releases.map((r, i) => ({
    type: NODE_TYPE,
    name: `${network}-node${i + 1}`,
    parent: network,
    props: { network, node: `node${i + 1}`, mrenclave: r.mrenclave, version: r.version, generation },
  }));
}

/** The local platform's snapshot step for a node and transition. */
const localSnapshot = (network: string, node: string, transition: string): StackEntry => ({
  type: DYNAMIC,
  name: `${network}-${transition.split("-")[0]}-${node}-snapshot`,
  parent: `${network}-${node}`,
  props: { triggers: [transition], create: "cp -a ...", stdout: `/snapshots/${transition}/${node}` },
});

/** Every violation names the resource it is about and says how to fix it. */
function assertActionable(messages: readonly string[], resource: string) {
  assert.ok(messages.length > 0, "a violation was reported");
  for (const m of messages) {
    assert.ok(m.includes(resource), `names ${resource}: ${m}`);
    assert.match(m, /Fix: /, `says how to fix it: ${m}`);
  }
}

describe("the pack", () => {
  test("has the four mandatory policies, each described for an operator", () => {
    assert.deepEqual(
      policies.map((p) => p.name),
      [
        "peers-pin-mrenclave",
        "one-enclave-per-network",
        "ledger-volumes-protected",
        "snapshot-before-flag-day",
      ],
    );
    for (const p of policies) {
      assert.equal(p.enforcementLevel, "mandatory", p.name);
      assert.ok(p.description.length > 80, `${p.name} says what it enforces and why`);
    }
  });
});

describe("peers-pin-mrenclave", () => {
  test("passes a network whose peers pin MRENCLAVE", async () => {
    const r = await runStackPolicy(peersPinMrenclave, [
      networkEntry("testnet"),
      ...nodes("testnet", [V1, V1]),
    ]);
    assert.deepEqual(r, { violations: [] });
  });

  test("refuses mrsigner, citing the runbook's warning, on the network resource", async () => {
    const r = await runStackPolicy(peersPinMrenclave, [
      networkEntry("testnet"),
      networkEntry("mainnet", { peerAttestation: "mrsigner" }),
    ]);
    assert.equal(r.violations.length, 1);
    const [v] = r.violations;
    assert.equal(v.urn, urnOf(NETWORK_TYPE, "mainnet"));
    assertActionable([v.message], urnOf(NETWORK_TYPE, "mainnet"));
    assert.match(v.message, /"mainnet"/);
    assert.match(v.message, /malicious enclave/);
    assert.match(v.message, /upgrading-the-enclave\.md/);
    assert.match(v.message, /peerAttestation\.mode to "mrenclave"/);
  });

  test("reads the whole setting too, as another program may register it", async () => {
    const r = await runStackPolicy(peersPinMrenclave, [
      networkEntry("other", { peerAttestation: { mode: "mrsigner", productId: 1, minimumSvn: 10 } }),
    ]);
    assert.equal(r.violations.length, 1);
  });

  test("does not fail a preview on a value not known yet", async () => {
    const r = await runStackPolicy(peersPinMrenclave, [
      networkEntry("testnet", { peerAttestation: UNKNOWN }),
    ]);
    assert.deepEqual(r, { violations: [] });
  });

  test("does not apply to a stack without a network", async () => {
    const r = await runStackPolicy(peersPinMrenclave, [{ type: DYNAMIC, name: "x" }]);
    assert.ok(r.notApplicable !== undefined);
  });
});

describe("one-enclave-per-network", () => {
  test("passes nodes on one MRENCLAVE, and networks on different releases from each other", async () => {
    const r = await runStackPolicy(oneEnclavePerNetwork, [
      networkEntry("testnet"),
      ...nodes("testnet", [V2, V2, V2]),
      networkEntry("mainnet"),
      ...nodes("mainnet", [V1, V1, V1]),
    ]);
    assert.deepEqual(r, { violations: [] });
  });

  test("refuses a network with a node on another enclave, naming each node and enclave", async () => {
    const r = await runStackPolicy(oneEnclavePerNetwork, [
      networkEntry("testnet"),
      ...nodes("testnet", [V1, V1, V2]),
    ]);
    assert.equal(r.violations.length, 1);
    const [v] = r.violations;
    assert.equal(v.urn, urnOf(NETWORK_TYPE, "testnet"), "reported on the network");
    assertActionable([v.message], "testnet");
    assert.ok(v.message.includes(urnOf(NODE_TYPE, "testnet-node3")), "names the odd node's resource");
    assert.ok(v.message.includes(V1.mrenclave) && v.message.includes(V2.mrenclave), v.message);
    assert.match(v.message, /node1 .*node2/);
    assert.match(v.message, /v2\.0\.0\) on node3/);
  });

  test("groups nodes without a network output by their parent, and reports on a node without a network", async () => {
    const orphans: StackEntry[] = [
      { type: NODE_TYPE, name: "a", props: { mrenclave: V1.mrenclave } },
      { type: NODE_TYPE, name: "b", props: { mrenclave: V2.mrenclave } },
    ];
    const r = await runStackPolicy(oneEnclavePerNetwork, orphans);
    assert.equal(r.violations.length, 1);
    assert.equal(r.violations[0].urn, urnOf(NODE_TYPE, "a"));

    const parented = await runStackPolicy(oneEnclavePerNetwork, [
      { type: NETWORK_TYPE, name: "n1" },
      { type: NETWORK_TYPE, name: "n2" },
      { type: NODE_TYPE, name: "a", parent: "n1", props: { mrenclave: V1.mrenclave } },
      { type: NODE_TYPE, name: "b", parent: "n2", props: { mrenclave: V2.mrenclave } },
    ]);
    assert.deepEqual(parented, { violations: [] }, "two networks, one enclave each");
  });

  test("skips an MRENCLAVE not known yet, and does not apply without nodes", async () => {
    const r = await runStackPolicy(oneEnclavePerNetwork, [
      networkEntry("testnet"),
      ...nodes("testnet", [V1, V1]),
      {
        type: NODE_TYPE,
        name: "testnet-node3",
        parent: "testnet",
        props: { network: "testnet", mrenclave: UNKNOWN },
      },
    ]);
    assert.deepEqual(r, { violations: [] });
    assert.ok((await runStackPolicy(oneEnclavePerNetwork, [networkEntry("testnet")])).notApplicable);
  });
});

describe("ledger-volumes-protected", () => {
  // As components/aws/platform.ts registers a node's ledger volume.
  const awsLedger = (tags: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => ({
    region: "us-west-2",
    availabilityZone: "us-west-2a",
    size: 512,
    type: "gp3",
    encrypted: true,
    tags: {
      "flagday:network": "testnet",
      "flagday:node": "node1",
      Name: "testnet-node1-ledger",
      "flagday:mount": "/ledger",
      ...tags,
    },
    ...extra,
  });
  // As components/kubernetes/platform.ts registers a node's data claim.
  const kubeClaim = (annotations?: Record<string, string>) => ({
    metadata: {
      name: "node1-data",
      namespace: "mc-testnet",
      labels: {
        "app.kubernetes.io/name": "consensus-node",
        "app.kubernetes.io/instance": "node1",
        "app.kubernetes.io/part-of": "testnet",
      },
      ...(annotations ? { annotations } : {}),
    },
    spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "512Gi" } } },
  });

  test("passes protected ledger volumes whose inputs know nothing of the release", async () => {
    const aws = await runResourcePolicy(
      ledgerVolumesProtected,
      EBS_VOLUME_TYPE,
      "testnet-node1-ledger",
      awsLedger(),
      {
        protect: true,
      },
    );
    assert.deepEqual(aws, { violations: [] });
    const kube = await runResourcePolicy(
      ledgerVolumesProtected,
      PVC_TYPE,
      "testnet-node1-data",
      kubeClaim(),
      {
        protect: true,
      },
    );
    assert.deepEqual(kube, { violations: [] });
    const tagged = await runResourcePolicy(
      ledgerVolumesProtected,
      EBS_VOLUME_TYPE,
      "other-ledger",
      { size: 100, tags: { "flagday:role": "ledger" } },
      { protect: true },
    );
    assert.deepEqual(tagged, { violations: [] }, "the documented role tag works for other programs");
  });

  test("refuses an unprotected ledger volume (EBS and Kubernetes)", async () => {
    for (const [type, name, props] of [
      [EBS_VOLUME_TYPE, "testnet-node1-ledger", awsLedger()],
      [PVC_TYPE, "testnet-node1-data", kubeClaim()],
    ] as const) {
      const r = await runResourcePolicy(ledgerVolumesProtected, type, name, props, { protect: false });
      assert.equal(r.violations.length, 1, name);
      assertActionable(
        r.violations.map((v) => v.message),
        name,
      );
      assert.match(r.violations[0].message, /not protected.*protect: true/s);
    }
  });

  test("refuses inputs that carry the release: a version tag, the MRENCLAVE, a transition", async () => {
    const cases: [string, Record<string, unknown>, RegExp][] = [
      [
        "release tag",
        awsLedger({ "flagday:release": "v2.0.0-326b1a95" }),
        /tags\["flagday:release"\] = "v2\.0\.0-326b1a95"/,
      ],
      ["MRENCLAVE in a tag", awsLedger({ enclave: V2.mrenclave }), /tags\.enclave = "326b1a95/],
      [
        "version in the Name",
        awsLedger({ Name: "testnet-node1-ledger-v2.0.0" }),
        /tags\.Name = "testnet-node1-ledger-v2\.0\.0"/,
      ],
      ["transition tag", awsLedger({ "flagday:transition": FLAG_DAY }), /tags\["flagday:transition"\]/],
    ];
    for (const [what, props, expected] of cases) {
      const r = await runResourcePolicy(
        ledgerVolumesProtected,
        EBS_VOLUME_TYPE,
        "testnet-node1-ledger",
        props,
        {
          protect: true,
        },
      );
      assert.equal(r.violations.length, 1, what);
      assertActionable(
        r.violations.map((v) => v.message),
        "testnet-node1-ledger",
      );
      assert.match(r.violations[0].message, expected, what);
      assert.match(r.violations[0].message, /depend on the enclave release/);
    }
    const kube = await runResourcePolicy(
      ledgerVolumesProtected,
      PVC_TYPE,
      "testnet-node1-data",
      kubeClaim({ "flagday/mrenclave": V1.mrenclave }),
      { protect: true },
    );
    assert.equal(kube.violations.length, 1);
    assert.match(kube.violations[0].message, /metadata\.annotations\["flagday\/mrenclave"\]/);
  });

  test("reports both problems of an unprotected, release-tagged volume", async () => {
    const r = await runResourcePolicy(
      ledgerVolumesProtected,
      EBS_VOLUME_TYPE,
      "testnet-node1-ledger",
      awsLedger({ "flagday:release": "v1.0.0-8224f1e6" }),
    );
    assert.equal(r.violations.length, 2);
  });

  test("skips values not known during a preview, but not a release key whose value is unknown", async () => {
    const unknownKms = await runResourcePolicy(
      ledgerVolumesProtected,
      EBS_VOLUME_TYPE,
      "testnet-node1-ledger",
      awsLedger({}, { kmsKeyId: UNKNOWN, availabilityZone: UNKNOWN }),
      { protect: true },
    );
    assert.deepEqual(unknownKms, { violations: [] });
    const unknownRelease = await runResourcePolicy(
      ledgerVolumesProtected,
      EBS_VOLUME_TYPE,
      "testnet-node1-ledger",
      awsLedger({ "flagday:release": UNKNOWN }),
      { protect: true },
    );
    assert.equal(unknownRelease.violations.length, 1);
  });

  test("does not apply to other volumes, nor to a rollback's restored volume (a transition step)", async () => {
    const scratch = await runResourcePolicy(ledgerVolumesProtected, EBS_VOLUME_TYPE, "scratch", {
      size: 10,
      tags: { Name: "scratch-v2.0.0" },
    });
    assert.ok(scratch.notApplicable !== undefined && scratch.violations.length === 0);
    // components/aws/platform.ts, restore step: a new volume from the snapshot, retained on delete.
    const restored = await runResourcePolicy(
      ledgerVolumesProtected,
      EBS_VOLUME_TYPE,
      "testnet-u3-node1-restore",
      {
        snapshotId: "snap-0123456789abcdef0",
        tags: {
          "flagday:network": "testnet",
          "flagday:node": "node1",
          "flagday:transition": "u3-rollback-v2.0.0-to-v1.0.0-0badc0de",
          Name: "testnet-node1-ledger",
          "flagday:restored-from": "snap-0123456789abcdef0",
        },
      },
    );
    assert.ok(restored.notApplicable !== undefined);
    const pod = await runResourcePolicy(ledgerVolumesProtected, "kubernetes:core/v1:Pod", "p", kubeClaim());
    assert.ok(pod.notApplicable !== undefined);
  });
});

describe("snapshot-before-flag-day", () => {
  const flagDayStack = (network: string, names: string[], transition = FLAG_DAY): StackEntry[] => [
    networkEntry(network),
    ...nodes(
      network,
      names.map(() => V2),
      transition,
    ),
    ...names.map((_, i) => localSnapshot(network, `node${i + 1}`, transition)),
  ];

  test("passes when every node a flag day upgraded has that flag day's snapshot step", async () => {
    const r = await runStackPolicy(snapshotBeforeFlagDay, flagDayStack("rehearsal", ["a", "b", "c"]));
    assert.deepEqual(r, { violations: [] });
  });

  test("refuses a node without a snapshot step, naming it, the step it lacks and the fix", async () => {
    const stack = flagDayStack("rehearsal", ["a", "b", "c"]).filter(
      (e) => e.name !== "rehearsal-u2-node2-snapshot",
    );
    const r = await runStackPolicy(snapshotBeforeFlagDay, stack);
    assert.equal(r.violations.length, 1);
    const [v] = r.violations;
    assert.equal(v.urn, urnOf(NODE_TYPE, "rehearsal-node2"));
    assertActionable([v.message], urnOf(NODE_TYPE, "rehearsal-node2"));
    assert.match(v.message, /"node2"/);
    assert.match(v.message, /"rehearsal-u2-node2-snapshot"/);
    assert.ok(v.message.includes(FLAG_DAY));
  });

  test("refuses a snapshot step of the same name recorded for another transition", async () => {
    const stack = flagDayStack("rehearsal", ["a"]).map((e) =>
      e.name === "rehearsal-u2-node1-snapshot" ? { ...e, props: { triggers: [EARLIER] } } : e,
    );
    const r = await runStackPolicy(snapshotBeforeFlagDay, stack);
    assert.equal(r.violations.length, 1);
    assert.match(r.violations[0].message, /belongs to u1-upgrade/);
    assertActionable(
      r.violations.map((v) => v.message),
      "rehearsal-node1",
    );
  });

  test("reads the transition where AWS and Kubernetes snapshots record it", async () => {
    const aws: StackEntry = {
      type: "aws:ebs/snapshot:Snapshot",
      name: "testnet-u2-node1-snapshot",
      props: { volumeId: "vol-1", tags: { "flagday:transition": FLAG_DAY } },
    };
    const kube: StackEntry = {
      type: "kubernetes:snapshot.storage.k8s.io/v1:VolumeSnapshot",
      name: "testnet-u2-node2-snapshot",
      props: { metadata: { annotations: { "flagday/transition": EARLIER } } },
    };
    const r = await runStackPolicy(snapshotBeforeFlagDay, [
      networkEntry("testnet"),
      ...nodes("testnet", [V2, V2], FLAG_DAY),
      aws,
      kube,
    ]);
    assert.equal(r.violations.length, 1, "node2's VolumeSnapshot belongs to another transition");
    assert.equal(r.violations[0].urn, urnOf(NODE_TYPE, "testnet-node2"));
  });

  test("accepts a step whose outputs are not known yet (a preview creates it)", async () => {
    const stack = flagDayStack("rehearsal", ["a"]).map((e) =>
      e.name === "rehearsal-u2-node1-snapshot" ? { ...e, props: { triggers: UNKNOWN, stdout: UNKNOWN } } : e,
    );
    assert.deepEqual(await runStackPolicy(snapshotBeforeFlagDay, stack), { violations: [] });
  });

  test("checks only flag days: not a first deployment, not a rollback", async () => {
    const initial = await runStackPolicy(snapshotBeforeFlagDay, [networkEntry("t"), ...nodes("t", [V1, V1])]);
    assert.ok(initial.notApplicable !== undefined && initial.violations.length === 0);
    const rollback = await runStackPolicy(snapshotBeforeFlagDay, [
      networkEntry("t"),
      ...nodes("t", [V1], "u3-rollback-v2.0.0-to-v1.0.0-0badc0de"),
    ]);
    assert.ok(rollback.notApplicable !== undefined && rollback.violations.length === 0);
  });
});
