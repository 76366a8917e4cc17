/**
 * The runbook for the call (`flagday plan`, issue 11): a deterministic Markdown document generated from the
 * same stage data the components run (stages.ts), the network description and the change, so that it cannot
 * drift from what `up` does. Plain functions, no Pulumi: checks/plan.ts reads the stack file and calls them.
 *
 * Every stage is described in STAGE_TEXT, a record keyed by StageName: a new stage does not compile until it
 * says what it runs, what it checks and what to do when it fails (the README's fault table, per stage).
 */
import { DateTime } from "luxon";
import type { ChecksOptions } from "./checks";
import { type MaintenanceWindow, windowBounds } from "./gates";
import type { NetworkSpec } from "./network";
import { consensusChanges, type EnclaveRelease } from "./release";
import { WAIT_FOR_QUIET_SECONDS } from "./mobilecoin";
import type { AgreementStatus } from "./coordination/board";
import {
  DEFAULT_LIVE_PERIOD_SECONDS,
  type FlagDayProposal,
  flagDayId,
  flagDayProposal,
  networkOperators,
  shortId,
} from "./coordination/proposal";
import { keyId } from "./coordination/signing";
import { stagesOf, type SequenceName, type Stage, type StageName } from "./stages";

/** What one stage runs, what it checks, and what the operator does when it fails. */
export interface StageText {
  readonly runs: string;
  readonly checks: string;
  readonly ifItFails: string;
  /** Set on the stages after which the call decides whether to go on: the question it answers. */
  readonly goNoGo?: string;
}

const BARRIER_RUNS =
  "`flagday barrier`: posts this operator's signed arrival to the coordination board and waits until every " +
  "operator's is there (verified; a forged or edited entry is ignored and reported); an abort fails it at once";

const BARRIER_INTERRUPTED =
  "the re-run finds this operator's own signed arrival on the board (write-once) and resumes the wait; the other " +
  "operators see no difference";

/**
 * Why re-running `up` is safe when the machine running it died during the stage (after `pulumi cancel`; see
 * the runbook's section on it). Every stage says so: a stage without it does not compile.
 */
export const IF_INTERRUPTED: Record<StageName, string> = {
  "rollback-guard": "read-only: the re-run reads the heights again",
  "warm-snapshot":
    "clients are still served; the re-run finds the warm snapshot the dead update took and waits for it (on " +
    "Kubernetes the VolumeSnapshot of the same name, on AWS the snapshot tagged flagday:warm-for the transition)",
  pull: "the re-run pulls and checks the image again",
  preflight: "read-only: the re-run checks again, before anything closes",
  "ingress-reject": "the switch is idempotent: the re-run rejects again; clients stay refused in between",
  quiesce: "read-only, with the ingress closed: the re-run reads the heights again",
  stop: "stopping a stopped node does nothing: the re-run stops the ones still running",
  snapshot:
    "the nodes are stopped, so the re-run snapshots the same ledgers (on AWS it finds the snapshot the dead " +
    "update cut, by its tags, and takes no second one); only the re-run's snapshot is recorded " +
    "(tried: SIGKILL during the snapshots, `pulumi cancel`, `up` completes with every block kept)",
  migrate:
    "mc-ledger-migration is a no-op on a ledger already in the new format, so the re-run finishes what the dead " +
    "one began; a release's own migrations must be idempotent too (try it on testnet), and the window's " +
    "snapshot is the way back if not",
  restore: "the re-run makes the same named claim or volume from the recorded snapshot again, or adopts it",
  "reverse-migrate":
    "the release's reverse migrations must be idempotent (as the forward ones); the snapshot taken just before " +
    "is the way back if not",
  start:
    "the old server is gone or going first (delete before replace): the re-run starts the new one; old and new " +
    "never run together",
  seal: "a wait: the re-run waits for the snapshot to be sealed again",
  attest: "a check: the re-run checks again",
  txtest: "a check: the re-run sends new test payments",
  "ingress-accept": "the switch is idempotent: the re-run opens the ingress again",
  live: "the re-run opens the ingress again and watches the live period from its start",
  "all-ready": BARRIER_INTERRUPTED,
  "all-rejecting": BARRIER_INTERRUPTED,
  "all-quiesced": BARRIER_INTERRUPTED,
  "all-snapshotted": BARRIER_INTERRUPTED,
  "all-restored": BARRIER_INTERRUPTED,
  "all-proven": BARRIER_INTERRUPTED,
  "all-live": BARRIER_INTERRUPTED,
};

/** What the runbook and the README say about an operator's machine dying mid-update. */
export const INTERRUPTED_UPDATE =
  "If the machine running `pulumi up` dies (or the update is killed) mid flag day, the network stays where the " +
  "update left it (after the reject: ingress closed), and the stack stays locked: the next `up` says " +
  "`error: the stack is currently locked by 1 lock(s)`. Make sure the dead update is really gone (no other " +
  "machine runs this stack), then `pulumi cancel` (it removes the lock) and `pulumi up`. The engine warns " +
  "`Attempting to deploy or update resources with N pending operations from previous deployment`, forgets " +
  "the steps that were in flight and runs them again; the steps the dead update finished are not repeated. Each " +
  "stage below says why running it again is safe.";

/** Every stage, described once; the README's stage and fault tables, per stage. */
export const STAGE_TEXT: Record<StageName, StageText> = {
  "rollback-guard": {
    runs: "`flagday heights --at-most <snapshot height>` on the operator's machine: reads every node's height",
    checks:
      "no node has blocks beyond the snapshots' height (restoring would drop confirmed transactions); it changes nothing",
    ifItFails:
      "Nothing changed. It names the heights: use a release with `reverseMigrations` (run on the current ledgers, " +
      "nothing is lost), or set `flagday:acceptDataLoss: true` (recorded in the history), then `up`.",
    goNoGo: "Do the snapshots hold every confirmed block (or has the loss been accepted)?",
  },
  "warm-snapshot": {
    runs:
      "before the window, with clients served: an EBS snapshot / CSI VolumeSnapshot / copy of each live ledger " +
      "volume, awaited until complete (`flagday:prepare: true` runs it hours ahead)",
    checks:
      "the warm snapshot completed: the window's snapshot of the same volume then copies only what changed",
    ifItFails:
      "Nothing changed for clients: the network serves them, every node on the old enclave. Fix what it names " +
      "(snapshot quota, permissions), `up` again; a snapshot still in progress is waited for again.",
  },
  pull: {
    runs:
      "before the window: the target image pulled on each node's host (AWS: the node's instance; Kubernetes: a " +
      "Job on the host running the node's pod; local: the simulated image) and the enclave's sha256 compared",
    checks: "the enclave in the image is the one the release's `enclaveSha256` names",
    ifItFails:
      "Nothing changed for clients. A wrong sha256 is a wrong image or a wrong release entry: stop, compare with " +
      "the release notes on the call. A registry error: fix it, `up` again.",
    goNoGo: "Every ledger warm-snapshotted and every host holds the right enclave: open the window?",
  },
  preflight: {
    runs:
      "AWS: the aws CLI on the stack's account, SSH with the flag-day key, docker, `/ledger` mounted; Kubernetes: " +
      "`kubectl auth can-i` for every verb the sequence uses, and the node's Deployment; local: the node's folder, " +
      "ledger and the simulator",
    checks: "every node can be reached and acted on the way the stages after it will act on it (read-only)",
    ifItFails:
      "Nothing changed: ingress open, all nodes on the old enclave. Fix what it names, `up`. Nothing to abort.",
    goNoGo: "Every node's access is in place: turn clients away now?",
  },
  "ingress-reject": {
    runs: "the platform's gate: an ALB rule answering every host with 503, the Kubernetes client Ingress taken out of service, the local proxy refusing",
    checks: "the gate reports that it rejects new client connections",
    ifItFails:
      "Not in the fault matrix. No node was touched: fix the gate, `up`; or set `flagday:abort`, `up`.",
  },
  quiesce: {
    runs: "`flagday quiesce`: polls every node's admin API",
    checks:
      "all nodes synced at equal heights, nothing pending, no height change for the quiet period; prints `height=<n>`, the snapshots' height",
    ifItFails:
      "Ingress closed, all nodes on the old enclave, nothing stopped. Fix the node (unreachable or behind), `up`; " +
      "or set `flagday:abort`, `up` (no snapshot yet: ledgers untouched).",
    goNoGo: "Every node at the same height with nothing pending: stop the nodes?",
  },
  stop: {
    runs: "stop the consensus service (SSH, `kubectl scale`, the simulator)",
    checks: "the node's service is stopped",
    ifItFails:
      "Ingress closed, some nodes stopped, all on the old enclave. Fix the node, `up`; or set `flagday:abort`, `up`.",
  },
  snapshot: {
    runs: "EBS snapshot / VolumeSnapshot / copy of the stopped node's `/ledger`, tagged with network, node, from, to, height",
    checks:
      "the snapshot is cut (its point in time taken: the CSI `creationTime`, EBS `pending`); the seal waits for " +
      "the copy later; its id is recorded in the stack output `flagday.history`",
    ifItFails:
      "Ingress closed, all stopped, no migration anywhere the snapshot failed. Fix, `up`; or set `flagday:abort`, `up`.",
    goNoGo: "Every ledger snapshotted: change the ledgers?",
  },
  migrate: {
    runs: "`mc-ledger-migration --ledger-db /ledger`, then the release's ordered `migrations`",
    checks: "each migration exits 0",
    ifItFails:
      "Ingress closed, all stopped, some ledgers migrated. Fix, `up`; or set `flagday:abort`, `up`: migrated ledgers are restored.",
  },
  restore: {
    runs: "the node's ledger restored from the snapshot the flag day recorded (on AWS and Kubernetes as a new volume or claim)",
    checks: "the restore completed from exactly the recorded snapshot id",
    ifItFails:
      "Not in the fault matrix. Ingress closed, nodes stopped; the migrated ledgers are kept, protected. Fix, `up` " +
      "again (completed steps are not repeated).",
  },
  "reverse-migrate": {
    runs: "the release's `reverseMigrations`, on the ledger just snapshotted",
    checks: "each reverse migration exits 0",
    ifItFails:
      "Not in the fault matrix. Ingress closed, all stopped, the snapshot holds the ledger as it was. Fix, `up` again.",
  },
  start: {
    runs: "the target release's containers on the node's running instance (AWS) / Deployment / process",
    checks: "the node answers, synced, on the expected MRENCLAVE (`flagday healthy`)",
    ifItFails:
      "Not in the fault matrix. Ingress closed. A node that came up wrong is replaced with " +
      "`npm run pulumi -- up --replace <its server's URN>`; or set `flagday:abort`, `up`.",
  },
  attest: {
    runs: "`flagday attest --mrenclave <target>`",
    checks: "every node on the expected MRENCLAVE, attested to its peers, and a new block made",
    ifItFails:
      "Ingress closed, new nodes refuse the odd one out. Fix its image, `up --replace <node's server URN>`; or set " +
      "`flagday:abort`, `up`.",
  },
  txtest: {
    runs: "`flagday txtest`: the stack's own transaction test commands (built in on the simulator)",
    checks: "self-payment, cross-payment, fog, non-fog: each command exits 0",
    ifItFails:
      "Ingress closed, new enclave running. Fix, `up`; or set `flagday:abort`, `up` (test blocks dropped).",
    goNoGo: "The new enclave attests and passes every transaction test: let clients back in?",
  },
  seal: {
    runs:
      "from each node's cut on, beside start, attest and txtest: wait until its snapshot is complete (CSI " +
      "`readyToUse`, EBS `completed`; local: the modelled copy), up to the snapshot timeout",
    checks: "every window snapshot is sealed: the ingress never reopens without a complete way back",
    ifItFails:
      "Ingress closed, the new enclave running and tested. A timeout: `up` again keeps waiting (the snapshot " +
      "goes on copying); a failed snapshot: set `flagday:abort` only if the network must go back, else take one.",
  },
  "ingress-accept": {
    runs: "the platform's gate again, accepting",
    checks: "the gate reports that it accepts client connections",
    ifItFails:
      "Not in the fault matrix. The new enclave runs and is tested, clients are still turned away: fix the gate, `up`.",
  },
  "all-ready": {
    runs: BARRIER_RUNS,
    checks: "every operator's nodes passed their pre-flight",
    ifItFails:
      "Nothing changed anywhere: every ingress open, every node on the old enclave. It names the operators " +
      "missing and their last barrier: they fix their pre-flight and `up`; everyone re-runs `up` (the wait resumes).",
    goNoGo: "Every operator is ready: turn clients away everywhere?",
  },
  "all-rejecting": {
    runs: BARRIER_RUNS,
    checks: "every operator's ingress rejects clients, so no new transactions reach any node",
    ifItFails:
      "Some ingresses closed, no node stopped. The missing operators close theirs and `up`; everyone re-runs `up`; " +
      "or anyone posts `flagday abort -s <stack> --reason <why>` and each operator sets `flagday:abort`, `up`.",
  },
  "all-quiesced": {
    runs: BARRIER_RUNS + ", its report the height and block hash its own quiesce agreed on",
    checks:
      "every operator reported, from its own nodes' admin ports, one height and one block hash across the whole " +
      "network (computed from the signed reports, never from another operator's admin port)",
    ifItFails:
      "Ingresses closed, no node stopped anywhere. Different heights: the network was not quiet everywhere; " +
      "post `flagday abort` and start over. Missing operators: they fix their quiesce, everyone re-runs `up`.",
    goNoGo: "The whole network is at one height: stop every node?",
  },
  "all-snapshotted": {
    runs: BARRIER_RUNS + ", its report every node's snapshot height",
    checks: "every node of every operator stopped, snapshotted and migrated",
    ifItFails:
      "Every ingress closed, nodes stopped, no new enclave started anywhere. The operator named fixes its stop, " +
      "snapshot or migration and `up`; everyone re-runs `up`. Or `flagday abort`, and each sets `flagday:abort`, `up`.",
    goNoGo: "Every ledger of every operator snapshotted: start the new enclave?",
  },
  "all-restored": {
    runs: BARRIER_RUNS,
    checks: "every node of every operator stopped and restored from its snapshot",
    ifItFails:
      "Every ingress closed, nodes stopped, no enclave started. The operator named fixes its restore and `up`; " +
      "everyone re-runs `up`.",
  },
  "all-proven": {
    runs: BARRIER_RUNS,
    checks: "every operator's nodes attest on the target enclave and passed the agreed transaction tests",
    ifItFails:
      "Every ingress closed, the new enclave running. The operator named fixes its node and `up`; everyone re-runs " +
      "`up`. Or `flagday abort`, and each operator sets `flagday:abort`, `up` (test blocks dropped).",
    goNoGo: "The whole network attests and passed every test: let clients back in everywhere?",
  },
  "all-live": {
    runs: BARRIER_RUNS,
    checks: "every operator's live window passed: the network kept making blocks for everyone",
    ifItFails:
      "Clients are served where the live window passed. The operator named investigates its nodes; the call " +
      "decides between waiting and a rollback (itself a proposal every operator signs).",
  },
  live: {
    runs: "`flagday live --period <live period>`",
    checks: "heights keep advancing for the live period; a stall fails it and closes the ingress again",
    ifItFails:
      "Ingress closed again by the live stage. Fix, `up`; or set `flagday:abort` plus `flagday:acceptDataLoss` " +
      "(clients were served): the guard names the blocks first.",
    goNoGo: "Blocks kept coming for the whole live period: close the call?",
  },
};

/** What the runbook is generated from. */
export interface RunbookInput {
  /** The stack the runbook is for, and how it was asked for (printed so the reader can regenerate it). */
  readonly stack: string;
  readonly command: string;
  readonly platform?: string;
  readonly network: NetworkSpec;
  readonly from: EnclaveRelease;
  readonly to: EnclaveRelease;
  readonly window?: MaintenanceWindow;
  readonly checks?: ChecksOptions;
  /** Who has signed, as read from the coordination board (`flagday plan --board`). @default not read (offline) */
  readonly signatures?: Signatures;
}

/** Who has signed the runbook's proposal, from the board's verified agree entries; or why it was not read. */
export type Signatures =
  | { readonly read: false; readonly why: string }
  | {
      readonly read: true;
      /** The board, in words (`directory /srv/board`). */
      readonly board: string;
      readonly status: AgreementStatus;
      /** When each operator who signed this proposal signed it (ISO 8601, as signed). */
      readonly signedAt: Readonly<Record<string, string>>;
      /** Entries of this flag day that failed verification (never counted), in words. */
      readonly ignored: readonly string[];
    };

const SEQUENCE_TITLE: Record<SequenceName, string> = {
  "flag-day": "the flag day",
  "rollback-restore": "rollback by restoring the snapshots",
  "rollback-reverse": "rollback with the release's reverse migrations",
};
const SEQUENCE_HOW: Record<SequenceName, string> = {
  "flag-day": "`up` with the target release as `flagday:release`.",
  "rollback-restore":
    "after a completed flag day: set `flagday:release` back to the previous release (or also `flagday:rollback: true`) " +
    "and `up`; after a flag day that failed part-way: `flagday:release` back and `flagday:abort` to the release that failed.",
  "rollback-reverse":
    "a rollback when the release has `reverseMigrations`: the current ledgers are migrated back, keeping the blocks made since.",
};

/** Where a stage runs and what it waits for, in words. */
function scopeWords(s: Stage, first: boolean, nodes: number): string {
  if (s.scope === "network") return "once, on the operator's machine, after every stage before it";
  if (s.scope === "node" && s.after) {
    return `on each of the ${nodes} nodes, as soon as its own ${s.after} is done, beside the stages before it; the stage after it waits for it`;
  }
  if (s.scope === "operators") {
    return "once per operator, after every stage before it; waits for every operator (cross-operator barrier)";
  }
  if (first) return `on each of the ${nodes} nodes, first`;
  return s.waitFor === "every-node"
    ? `on each of the ${nodes} nodes, after the stage before it finished on every node (barrier)`
    : `on each of the ${nodes} nodes, after the stage before it finished on the same node`;
}

const fence = (s: string) => s.replace(/\|/g, "\\|");

/** The stack's settings a stage's checks use, or undefined. */
function settingsOf(name: StageName, c: ChecksOptions | undefined, to: EnclaveRelease): string | undefined {
  const timeout = `timeout ${c?.timeoutSeconds ?? 600} s`;
  switch (name) {
    case "quiesce":
      return `quiet period ${c?.quietPeriodSeconds ?? WAIT_FOR_QUIET_SECONDS} s, ${timeout}`;
    case "attest":
    case "start":
      return `MRENCLAVE ${to.mrenclave}, ${timeout}`;
    case "txtest":
      return c?.txTests ? `tests: ${Object.keys(c.txTests).sort().join(", ")}` : "the built-in tests";
    case "live":
      return `live period ${c?.livePeriodSeconds ?? DEFAULT_LIVE_PERIOD_SECONDS} s${
        c?.generateTraffic ? ", with generated traffic" : ""
      }`;
    default:
      return undefined;
  }
}

/** The window's rows: UTC, the window's own zone, and each operator's zone, each zone once. */
function windowLines(input: RunbookInput): string[] {
  const w = input.window;
  if (!w) {
    return [
      "No window is set (`flagday:window`): `up` refuses a flag day without one, unless " +
        "`flagday:windowOverride` gives the reason. Agree it on the call and set it, then regenerate this runbook.",
    ];
  }
  const b = windowBounds(w);
  const zones: [string, string][] = [
    ["UTC", "UTC"],
    [w.timeZone, "the window's zone"],
  ];
  for (const op of input.network.operators ?? []) {
    const tz = (op as { timeZone?: string }).timeZone;
    if (tz) zones.push([tz, `operator ${op.name}`]);
  }
  const seen = new Map<string, string[]>();
  for (const [z, who] of zones) seen.set(z, [...(seen.get(z) ?? []), who]);
  const fmt = (t: DateTime, z: string) => t.setZone(z).toFormat("yyyy-MM-dd HH:mm ZZZZ");
  return [
    `| zone | for | start | end |`,
    `| --- | --- | --- | --- |`,
    ...[...seen].map(([z, who]) => `| ${z} | ${who.join(", ")} | ${fmt(b.start, z)} | ${fmt(b.end, z)} |`),
  ];
}

/** The proposal the operators sign for this runbook's flag day, or why there is none. */
export function runbookProposal(input: RunbookInput): { proposal: FlagDayProposal } | { why: string } {
  const ops = networkOperators(input.network);
  if (!ops) {
    return {
      why: "No operators are listed (`flagday:network.operators`): one operator runs every node, nothing to sign.",
    };
  }
  if (!input.window)
    return { why: "No proposal id yet: the proposal includes the window, which is not set." };
  try {
    const proposal = flagDayProposal({
      network: input.network,
      operators: ops,
      from: input.from,
      to: input.to,
      window: input.window,
      checks: input.checks,
    });
    return { proposal };
  } catch (e) {
    return { why: `No proposal id: ${(e as Error).message.replace(/\n\s*/g, " ")}` };
  }
}

/** The proposal's id when the network has operators and a window, else why there is none. */
function proposalIdLine(input: RunbookInput): string {
  const p = runbookProposal(input);
  if ("why" in p) return p.why;
  return `Proposal id \`${flagDayId(p.proposal)}\`: every operator signs it with \`flagday agree -s <stack>\`.`;
}

/** An operator's signature in the operators' table, as the board says it. */
function signatureOf(s: Extract<Signatures, { read: true }>, operator: string): string {
  const at = s.signedAt[operator];
  if (at) return `signed at ${at}`;
  const d = s.status.different.find((x) => x.operator === operator);
  if (d) return `signed a different proposal (${shortId(d.flagDayId)}: ${d.differences.join(", ")} differ)`;
  return "not signed";
}

/** The lines under the operators' table: where the signatures come from, or how to read them. */
function signatureLines(s: Signatures | undefined): string[] {
  if (!s)
    return [
      "Who has signed is on the coordination board, not in this file: `flagday agree -s <stack> --dry-run`.",
    ];
  if (!s.read) return [`Signatures not read: ${s.why}`];
  const { signed, missing } = s.status;
  return [
    `Signatures as the coordination board (${s.board}) held them when this was generated: ` +
      `${signed.length} of ${signed.length + missing.length} operators signed flag day ${shortId(s.status.flagDayId)}. ` +
      "Only entries that verify against the operators' keys above count.",
    ...(s.ignored.length
      ? [
          "",
          "Ignored board entries (failed verification, not counted):",
          "",
          ...s.ignored.map((l) => `- ${l}`),
        ]
      : []),
  ];
}

/** A Mermaid flowchart of a sequence: one box per stage, node stages marked "per node"; go/no-go points bold. */
export function stageGraph(sequence: SequenceName, nodes: number, coordinated = false): string {
  const stages = stagesOf(sequence, coordinated);
  const lines = ["flowchart TD"];
  stages.forEach((s, i) => {
    const label =
      s.scope === "node" ? `${i + 1}. ${s.name}<br/>per node, ${nodes} nodes` : `${i + 1}. ${s.name}`;
    lines.push(
      s.scope === "node"
        ? `  s${i}["${label}"]`
        : s.scope === "operators"
          ? `  s${i}{{"${label}<br/>every operator"}}`
          : `  s${i}(["${label}"])`,
    );
  });
  // A branch (`after`, e.g. seal) starts from its own node's earlier stage and joins the stage after it; the
  // chain goes on from the stage before the branch.
  const isBranch = (i: number) => {
    const s = stages[i];
    return s.scope === "node" && s.after !== undefined;
  };
  stages.forEach((s, i) => {
    if (i === 0) return;
    if (s.scope === "node" && s.after !== undefined) {
      const from = stages.findIndex((x) => x.name === s.after);
      lines.push(`  s${from} -->|"each node after its own"| s${i}`);
      return;
    }
    let p = i - 1;
    if (isBranch(p)) {
      lines.push(`  s${p} -->|"all ${nodes} nodes"| s${i}`);
      p -= 1;
    }
    const prev = stages[p];
    const edge =
      s.scope === "node" && s.waitFor === "same-node"
        ? "each node after its own"
        : prev.scope === "node"
          ? `all ${nodes} nodes`
          : undefined;
    lines.push(edge ? `  s${p} -->|"${edge}"| s${i}` : `  s${p} --> s${i}`);
  });
  const go = stages.map((s, i) => (STAGE_TEXT[s.name].goNoGo ? `s${i}` : "")).filter(Boolean);
  if (go.length) {
    lines.push("  classDef gonogo stroke-width:3px");
    lines.push(`  class ${go.join(",")} gonogo`);
  }
  return lines.join("\n");
}

/** The runbook, as Markdown. The same input always gives the same text (no clock, no machine state). */
export function runbookMarkdown(input: RunbookInput): string {
  const { network, from, to, checks } = input;
  const n = network.nodes.length;
  const changed = consensusChanges(from, to);
  const release = (r: EnclaveRelease) => [
    r.version,
    r.mrenclave,
    r.mrsigner,
    r.enclaveUri,
    r.enclaveSha256,
    r.tokensConfigDigest,
    String(r.blockVersion),
  ];
  const fields = [
    "version",
    "MRENCLAVE",
    "MRSIGNER",
    "enclave",
    "enclave sha256",
    "tokens config",
    "block version",
  ];
  const f = release(from);
  const t = release(to);
  const tests = checks?.txTests
    ? Object.entries(checks.txTests)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([name, cmd]) => `- ${name}: \`${cmd}\``)
    : ["- the checks CLI's built-in tests (simulated networks only)"];
  const ops = network.operators ?? [];
  const signed = input.signatures?.read ? input.signatures : undefined;
  // With several operators the sequences carry the cross-operator barriers.
  const sequence = (seq: SequenceName) => stagesOf(seq, ops.length > 0);
  const out: string[] = [
    `# Flag-day runbook: ${network.name} (stack ${input.stack})`,
    "",
    `Generated by \`${input.command}\` from the stack file and the stage data the components run ` +
      "(components/stages.ts). Do not edit it: change the stack file and regenerate.",
    "",
    "## The proposal",
    "",
    `- Network ${network.name} (chain id ${network.chainId})${input.platform ? `, platform ${input.platform}` : ""}: ` +
      `enclave upgrade (flag day), ${from.version} -> ${to.version}.`,
    `- Quorum: ${network.quorumThreshold} of ${n} nodes.`,
    `- Consensus fields that change: ${changed.length ? changed.join(", ") : "none"}.`,
    `- ${proposalIdLine(input)}`,
    "",
    `| field | from ${from.version} | to ${to.version} |`,
    "| --- | --- | --- |",
    ...fields.map((name, i) => `| ${name} | ${fence(f[i])} | ${fence(t[i])} |`),
    "",
    "### Window",
    "",
    ...windowLines(input),
    "",
    "### Live period and tests",
    "",
    `Live period after the ingress reopens: ${checks?.livePeriodSeconds ?? DEFAULT_LIVE_PERIOD_SECONDS} s.`,
    "",
    "Transaction tests:",
    "",
    ...tests,
    "",
    "## Nodes and operators",
    "",
    ...(ops.length
      ? [
          `| operator | key id | time zone | nodes |${signed ? " signature |" : ""}`,
          `| --- | --- | --- | --- |${signed ? " --- |" : ""}`,
          ...ops.map((op) => {
            const nodes = network.nodes.filter((x) => x.operator === op.name).map((x) => x.name);
            const tz = (op as { timeZone?: string }).timeZone ?? "-";
            const signature = signed ? ` ${fence(signatureOf(signed, op.name))} |` : "";
            return `| ${op.name} | ${keyId(op.publicKey)} | ${tz} | ${nodes.length ? nodes.join(", ") : "none (coordinator)"} |${signature}`;
          }),
          "",
          ...signatureLines(input.signatures),
        ]
      : [`One operator runs all ${n} nodes: ${network.nodes.map((x) => x.name).join(", ")}.`]),
    "",
    `## The stages of ${SEQUENCE_TITLE["flag-day"]}`,
    "",
    "Each stage is a step `pulumi preview` shows. A failed stage stops the update naming it (and the node at " +
      "fault); re-running `up` resumes at the failed step, completed steps are not repeated.",
    "",
    INTERRUPTED_UPDATE,
    "",
  ];
  sequence("flag-day").forEach((s, i) => {
    const text = STAGE_TEXT[s.name];
    const settings = settingsOf(s.name, checks, to);
    out.push(
      `### ${i + 1}. \`${s.name}\``,
      "",
      `- Runbook step: ${s.runbook}.`,
      `- Where: ${scopeWords(s, i === 0, n)}.`,
      `- Runs: ${text.runs}.`,
      `- Checks: ${text.checks}.`,
      ...(settings ? [`- This stack's settings: ${settings}.`] : []),
      `- If it fails: ${text.ifItFails}`,
      `- If the machine running \`up\` dies here: ${IF_INTERRUPTED[s.name]}.`,
      ...(text.goNoGo ? [`- **Go/no-go:** ${text.goNoGo}`] : []),
      "",
    );
  });
  out.push(
    "## Go/no-go points",
    "",
    "`up` does not pause at them: they are where the call confirms what just passed before the next stage " +
      "changes more, and where stopping costs least if it did not.",
    "",
  );
  sequence("flag-day").forEach((s, i) => {
    const q = STAGE_TEXT[s.name].goNoGo;
    if (q) out.push(`- After stage ${i + 1} (\`${s.name}\`): ${q}`);
  });
  out.push(
    "",
    "## Stage graph",
    "",
    "One box per stage; a node stage runs on every node. An edge from a node stage waits for every node, except " +
      "where it says each node after its own. Go/no-go points have a thick border.",
    "",
    "```mermaid",
    stageGraph("flag-day", n, ops.length > 0),
    "```",
    "",
    "## Ways back",
    "",
  );
  for (const seq of ["rollback-restore", "rollback-reverse"] as const) {
    out.push(`### Sequence \`${seq}\`: ${SEQUENCE_TITLE[seq]}`, "", `How: ${SEQUENCE_HOW[seq]}`, "");
    sequence(seq).forEach((s, i) => {
      const where = s.scope === "node" ? "per node" : s.scope === "operators" ? "every operator" : "network";
      out.push(`${i + 1}. \`${s.name}\` (${where}): ${s.runbook}.`);
    });
    out.push("");
  }
  return out.join("\n");
}
