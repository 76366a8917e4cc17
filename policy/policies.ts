/**
 * The flagday policy pack's policies, as plain objects so tests can call them directly (index.ts builds the pack,
 * which starts serving the engine as soon as it is constructed).
 *
 * They check what a flag day must never get wrong, from what the stack holds, whatever program built it:
 *
 *   peers-pin-mrenclave        no network lets peers attest by MRSIGNER (the seed runbook's warning)
 *   one-enclave-per-network    every consensus node of a network runs the same MRENCLAVE
 *   ledger-volumes-protected   ledger volumes are protected and nothing of the release reaches their inputs
 *   snapshot-before-flag-day   every node whose server a flag day replaced has that flag day's snapshot step
 *
 * What they read (registered by components/consensusNetwork.ts and the platforms):
 *   flagday:index:ConsensusNetwork outputs  network, peerAttestation ("mrenclave" | "mrsigner")
 *   flagday:index:ConsensusNode outputs     network, node, mrenclave, version, generation (the transition id its
 *                                           server runs under, e.g. u3-upgrade-v1.0.0-to-v2.0.0-3f9a1c2e, or
 *                                           "initial")
 *   snapshot steps                          named `<network>-<ordinal>-<node>-snapshot` (components/orchestrate.ts)
 *   ledger volumes                          aws:ebs/volume:Volume tagged `flagday:mount: /ledger` (the AWS platform)
 *                                           or `flagday:role: ledger`; kubernetes:core/v1:PersistentVolumeClaim
 *                                           labelled `app.kubernetes.io/name: consensus-node` (the Kubernetes
 *                                           platform, after MobileCoin's chart) or `flagday/role: ledger`
 */
import type {
  PolicyResource,
  ReportViolation,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";
import { UnknownValueError } from "@pulumi/policy";
import { stageStepName } from "../components/names";
import { transitionOrdinal } from "../components/plan";

export const NETWORK_TYPE = "flagday:index:ConsensusNetwork";
export const NODE_TYPE = "flagday:index:ConsensusNode";
export const EBS_VOLUME_TYPE = "aws:ebs/volume:Volume";
export const PVC_TYPE = "kubernetes:core/v1:PersistentVolumeClaim";
const RUNBOOK = "the runbook Upgrading the Enclave (../shared/seeds/upgrading-the-enclave.md)";

/**
 * A value the engine may not know yet (during a preview, outputs of resources still to be created): undefined
 * instead of the SDK's UnknownValueError, so a policy checks what is known and never fails a preview for what is
 * not.
 */
function known<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch (e) {
    if (e instanceof UnknownValueError) return undefined;
    throw e;
  }
}

const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
const obj = (v: unknown): Record<string, unknown> | undefined =>
  v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;

/** What a ConsensusNode registered, with the network it belongs to. */
interface NodeFacts {
  readonly resource: PolicyResource;
  readonly network: string;
  readonly node: string;
  readonly mrenclave?: string;
  readonly version?: string;
  readonly generation?: string;
}

function networkNameOf(r: PolicyResource | undefined): string | undefined {
  return r && (known(() => str(r.props.network)) ?? r.name);
}

function nodeFacts(resources: readonly PolicyResource[]): NodeFacts[] {
  return resources
    .filter((r) => r.type === NODE_TYPE)
    .map((r) => {
      const parent = r.parent?.type === NETWORK_TYPE ? r.parent : undefined;
      return {
        resource: r,
        network: known(() => str(r.props.network)) ?? networkNameOf(parent) ?? "(no network)",
        node: known(() => str(r.props.node)) ?? r.name,
        mrenclave: known(() => str(r.props.mrenclave)),
        version: known(() => str(r.props.version)),
        generation: known(() => str(r.props.generation)),
      };
    });
}

function groupBy<T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const t of items) m.set(key(t), [...(m.get(key(t)) ?? []), t]);
  return m;
}

// ---------------------------------------------------------------------------------------------------------------
// 1. Peers pin MRENCLAVE.

export const peersPinMrenclave: StackValidationPolicy = {
  name: "peers-pin-mrenclave",
  description:
    "Consensus peers must verify each other by exact MRENCLAVE, never by MRSIGNER (with product id and security " +
    "version). " +
    RUNBOOK +
    " warns that MRSIGNER-only checks would let key holders be forced to sign a malicious enclave that any " +
    "existing member could attach to the network, leaking all inbound user traffic.",
  enforcementLevel: "mandatory",
  validateStack: (args: StackValidationArgs, report: ReportViolation) => {
    const networks = args.resources.filter((r) => r.type === NETWORK_TYPE);
    if (networks.length === 0) args.notApplicable("the stack has no flagday:index:ConsensusNetwork");
    for (const r of networks) {
      const raw = known(() => r.props.peerAttestation);
      // The component registers the mode; another program may register the whole setting.
      const mode = str(raw) ?? known(() => str(obj(raw)?.mode));
      if (mode === undefined || mode === "mrenclave") continue;
      report(
        `ConsensusNetwork "${networkNameOf(r)}" (${r.urn}) lets peers attest by ${JSON.stringify(mode)} instead ` +
          `of pinning MRENCLAVE. Checking MRSIGNER (with product id and SVN) between peers would let a key ` +
          `holder be forced to sign a malicious enclave that any existing member could attach to the network, ` +
          `leaking all inbound user traffic (${RUNBOOK}). Fix: remove peerAttestation from the network ` +
          `(flagday:network in the stack config) or set peerAttestation.mode to "mrenclave"; clients, not ` +
          `peers, check MRSIGNER.`,
        r.urn,
      );
    }
  },
};

// ---------------------------------------------------------------------------------------------------------------
// 2. All nodes of a network on one release.

export const oneEnclavePerNetwork: StackValidationPolicy = {
  name: "one-enclave-per-network",
  description:
    "Every consensus node of a network must run the same enclave (MRENCLAVE): peers refuse any peer whose " +
    "MRENCLAVE differs, so a network on two enclaves splits and stops making blocks. A new enclave reaches " +
    "all nodes together, in one flag day.",
  enforcementLevel: "mandatory",
  validateStack: (args: StackValidationArgs, report: ReportViolation) => {
    const nodes = nodeFacts(args.resources).filter((n) => n.mrenclave !== undefined);
    if (nodes.length === 0) args.notApplicable("no flagday:index:ConsensusNode reports its MRENCLAVE");
    for (const [network, members] of groupBy(nodes, (n) => n.network)) {
      const byEnclave = groupBy(members, (n) => n.mrenclave as string);
      if (byEnclave.size < 2) continue;
      const where =
        args.resources.find((r) => r.type === NETWORK_TYPE && networkNameOf(r) === network) ??
        members[0].resource;
      const list = [...byEnclave.entries()]
        .map(
          ([mrenclave, ns]) =>
            `${mrenclave}${ns[0].version ? ` (${ns[0].version})` : ""} on ` +
            ns.map((n) => `${n.node} [${n.resource.urn}]`).join(", "),
        )
        .join("; ");
      report(
        `Network "${network}" runs ${byEnclave.size} different enclaves: ${list}. Peers only attest to nodes ` +
          `with the identical MRENCLAVE, so these nodes cannot reach consensus together. Fix: put every node ` +
          `on the same release (set flagday:release and remove per-node releases from flagday:network.nodes) ` +
          `and move all nodes to a new enclave together, in one flag day.`,
        where.urn,
      );
    }
  },
};

// ---------------------------------------------------------------------------------------------------------------
// 3. Ledger volumes protected and independent of the release.

/** Tag keys (AWS) and label/annotation keys (Kubernetes) that carry a release, a transition or a generation. */
const RELEASE_KEYS =
  /^flagday[:/](release|mrenclave|mrsigner|version|image|generation|transition|from|to|restored-from)$/;
const HEX64 = /(^|[^0-9a-fA-F])[0-9a-fA-F]{64}([^0-9a-fA-F]|$)/;
const RELEASE_TAG = /(^|[^0-9A-Za-z.])v\d+\.\d+\.\d+/;

/** What kind of ledger volume a resource is, or undefined when it is not one. */
export function ledgerVolumeKind(type: string, props: Record<string, unknown>): string | undefined {
  if (type === EBS_VOLUME_TYPE) {
    const tags = known(() => obj(props.tags));
    const mount = tags && known(() => tags["flagday:mount"]);
    const role = tags && known(() => tags["flagday:role"]);
    if (mount === "/ledger" || role === "ledger") return "EBS ledger volume";
  }
  if (type === PVC_TYPE) {
    const labels = known(() => obj(obj(props.metadata)?.labels));
    const app = labels && known(() => labels["app.kubernetes.io/name"]);
    const role = labels && known(() => labels["flagday/role"]);
    if (app === "consensus-node" || role === "ledger") return "ledger PersistentVolumeClaim";
  }
  return undefined;
}

/** Every input path whose key or value carries a release (MRENCLAVE or another 64-hex measurement, a vX.Y.Z). */
export function releaseDependentInputs(props: Record<string, unknown>): string[] {
  const found: string[] = [];
  const walk = (v: unknown, path: string, depth: number) => {
    if (depth > 12) return;
    if (typeof v === "string") {
      if (HEX64.test(v) || RELEASE_TAG.test(v)) found.push(`${path} = ${JSON.stringify(v)}`);
      return;
    }
    if (Array.isArray(v)) {
      v.forEach((_, i) => {
        const x = known(() => v[i]);
        if (x !== undefined) walk(x, `${path}[${i}]`, depth + 1);
      });
      return;
    }
    const o = obj(v);
    if (!o) return;
    for (const k of Object.keys(o)) {
      const p = /^[A-Za-z_][A-Za-z0-9_]*$/.test(k)
        ? `${path}${path ? "." : ""}${k}`
        : `${path}[${JSON.stringify(k)}]`;
      const x = known(() => o[k]);
      if (RELEASE_KEYS.test(k)) {
        found.push(x === undefined ? p : `${p} = ${JSON.stringify(x)}`);
        continue;
      }
      if (x !== undefined) walk(x, p, depth + 1);
    }
  };
  walk(props, "", 0);
  return found;
}

export const ledgerVolumesProtected: ResourceValidationPolicy = {
  name: "ledger-volumes-protected",
  description:
    "A node's ledger volume (an EBS volume tagged flagday:mount=/ledger or flagday:role=ledger, a Kubernetes " +
    "PersistentVolumeClaim labelled app.kubernetes.io/name=consensus-node or flagday/role=ledger) holds the " +
    "chain every flag day carries across: it must be protected, and none of its inputs may depend on the " +
    "enclave release (no MRENCLAVE, version, transition or generation), so that an enclave change can never " +
    "update or replace it.",
  enforcementLevel: "mandatory",
  validateResource: (args: ResourceValidationArgs, report: ReportViolation) => {
    const kind = ledgerVolumeKind(args.type, args.props);
    if (!kind) args.notApplicable("not a ledger volume");
    if (!args.opts.protect) {
      report(
        `${kind} "${args.name}" (${args.urn}) is not protected: a mistaken replacement or destroy would delete ` +
          `the node's ledger. Fix: register it with the resource option protect: true (the flagday platforms ` +
          `do).`,
      );
    }
    const dependent = releaseDependentInputs(args.props);
    if (dependent.length > 0) {
      report(
        `${kind} "${args.name}" (${args.urn}) has inputs that depend on the enclave release: ` +
          `${dependent.join("; ")}. A flag day changes them, so the engine would update or replace the ledger ` +
          `together with the enclave. Fix: keep the release out of the volume's inputs (tag the node's server ` +
          `with it instead); the ledger must carry over from one release to the next unchanged.`,
      );
    }
  },
};

// ---------------------------------------------------------------------------------------------------------------
// 4. Every server a flag day replaces has that flag day's snapshot.

/** `u3-upgrade-v1.0.0-to-v2.0.0-3f9a1c2e`: a flag day's transition id (components/plan.ts transitionId). */
const FLAG_DAY_ID = /^(u\d+)-upgrade-v\d+\.\d+\.\d+-to-v\d+\.\d+\.\d+-[0-9a-f]+$/;

/** The transition a snapshot step records, where the platform keeps it (command triggers, tags, annotations). */
function snapshotTransition(r: PolicyResource): string | undefined {
  const p = r.props;
  const triggers = known(() => p.triggers);
  const fromTriggers = Array.isArray(triggers) ? known(() => str(triggers[0])) : undefined;
  const fromTags = known(() => str(obj(p.tags)?.["flagday:transition"]));
  const fromAnnotations = known(() => str(obj(obj(p.metadata)?.annotations)?.["flagday/transition"]));
  return (
    fromTags ?? fromAnnotations ?? (fromTriggers && FLAG_DAY_ID.test(fromTriggers) ? fromTriggers : undefined)
  );
}

export const snapshotBeforeFlagDay: StackValidationPolicy = {
  name: "snapshot-before-flag-day",
  description:
    "Every node whose server runs under a flag day (transition u<n>-upgrade-...) must have that flag day's " +
    "snapshot step (<network>-u<n>-<node>-snapshot) in the stack: the ledger is snapshotted after the node " +
    "stops and before it is migrated, and the snapshot is the only way back if the new enclave fails.",
  enforcementLevel: "mandatory",
  validateStack: (args: StackValidationArgs, report: ReportViolation) => {
    const upgraded = nodeFacts(args.resources).filter((n) => n.generation && FLAG_DAY_ID.test(n.generation));
    if (upgraded.length === 0) args.notApplicable("no node's server runs under a flag day");
    const byName = groupBy(args.resources, (r) => r.name);
    for (const n of upgraded) {
      const transition = n.generation as string;
      const step = stageStepName(n.network, transitionOrdinal({ id: transition }), "snapshot", n.node);
      const found = byName.get(step) ?? [];
      if (found.length === 0) {
        report(
          `ConsensusNode "${n.node}" (${n.resource.urn}) runs its server under the flag day ${transition}, but ` +
            `the stack has no snapshot step "${step}" for it: its ledger was not snapshotted before the new ` +
            `enclave migrated it, so there is no way back. Fix: perform the flag day through ConsensusNetwork, ` +
            `which snapshots every node after it stops and before it migrates (or register that snapshot step ` +
            `for this node and transition).`,
          n.resource.urn,
        );
        continue;
      }
      const recorded = found.map(snapshotTransition).filter((t) => t !== undefined);
      if (recorded.length > 0 && !recorded.includes(transition)) {
        report(
          `ConsensusNode "${n.node}" (${n.resource.urn}) runs its server under the flag day ${transition}, but ` +
            `its snapshot step "${step}" (${found[0].urn}) belongs to ${recorded.join(", ")}: no snapshot of ` +
            `this node was taken for this flag day. Fix: perform the flag day through ConsensusNetwork, which ` +
            `registers one snapshot step per node and transition.`,
          n.resource.urn,
        );
      }
    }
  },
};

/** The pack's policies, in the order the README lists them. */
export const policies = [
  peersPinMrenclave,
  oneEnclavePerNetwork,
  ledgerVolumesProtected,
  snapshotBeforeFlagDay,
];
