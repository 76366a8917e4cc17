/**
 * What the AWS platform's steps run on a node over SSH and on the operator's machine, as plain functions of
 * plain values: platform.ts only wires them into resources.
 */
import { ENCLAVE_IN_IMAGE, LEDGER_PATH, ledgerMigrationCommand, shellQuote as q } from "../mobilecoin";

/** The consensus container's name: the flag-day stop step stops exactly this (and its admin gateway). */
export const CONTAINER = "mc-consensus";

/**
 * LMDB is only safe to copy when nothing writes it: stop the containers and flush before the snapshot.
 *
 * Stopping what is not running succeeds: a node whose user data failed before `docker run` (the digest check,
 * the key read, the pull) has no container, and a failed start must not block the way back. So only the
 * containers that exist are stopped (admin gateway first: it lives in the consensus container's network),
 * then none of them may still run. Both lists come from docker itself, so a daemon that does not answer fails
 * the step: no answer is no proof that nothing runs. Plain POSIX sh (the SSH login shell may be dash).
 */
export function stopScript(): string {
  const names = [`${CONTAINER}-admin`, CONTAINER];
  return [
    "set -eu",
    `existing=$(docker ps -a --format '{{.Names}}')`,
    `for c in ${names.join(" ")}; do`,
    `  if printf '%s\\n' "$existing" | grep -qx "$c"; then docker stop --time 120 "$c"; fi`,
    `done`,
    `running=$(docker ps --format '{{.Names}}')`,
    `for c in ${names.join(" ")}; do`,
    `  if printf '%s\\n' "$running" | grep -qx "$c"; then`,
    `    echo "flagday: $c still runs after docker stop: its ledger is not safe to snapshot" >&2; exit 1`,
    `  fi`,
    `done`,
    "sync",
  ].join("\n");
}

/** A command in the release's image with the ledger volume mounted. */
const inImage = (image: string, cmd: string) =>
  `docker run --rm -v ${LEDGER_PATH}:${LEDGER_PATH} ${q(image)} ${cmd}`;

/**
 * The format migration, then the release's own migrations (they ship in its image), in order. The image is the
 * one the prepare stage pulled and checked on this host; a host without it pulls it and checks its enclave
 * (`enclaveSha256`) first. A tag that moved since prepare is never pulled again over the checked image.
 */
export function migrateScript(image: string, migrations: readonly string[], enclaveSha256: string): string {
  return [
    "set -eu",
    `if ! docker image inspect ${q(image)} >/dev/null 2>&1; then`,
    pullAndCheckScript(image, enclaveSha256),
    "fi",
    inImage(image, ledgerMigrationCommand()),
    ...migrations.map((m) => inImage(image, `/bin/sh -c ${q(m)}`)),
  ].join("\n");
}

/** The release being undone knows how to go back: its image runs its reverse migrations. */
export function reverseMigrateScript(image: string, reverseMigrations: readonly string[] = []): string {
  return ["set -eu", ...reverseMigrations.map((m) => inImage(image, `/bin/sh -c ${q(m)}`))].join("\n");
}

/** What the gate's closing rule answers every client request while the gate rejects: a fixed 503. */
export const CLOSED_ACTIONS = [
  {
    Type: "fixed-response",
    FixedResponseConfig: {
      StatusCode: "503",
      ContentType: "text/plain",
      MessageBody: "consensus upgrade in progress",
    },
  },
];

/**
 * Where the operator's `aws` commands act: the stack's region and profile, never whatever the operator's shell
 * defaults to. (For tests only, the AWS CLI's own AWS_ENDPOINT_URL in the environment points every command at
 * a local server; nothing in the commands knows of it.)
 */
export interface AwsCliTarget {
  readonly region: string;
  /** A profile of the operator's AWS config. @default the CLI's default credentials chain */
  readonly profile?: string;
}

const word = (s: string) => (/^[\w.@+:/=-]+$/.test(s) ? s : q(s));

/** `--region <r>[ --profile <p>]`: every `aws` command the platform runs carries these. */
export function awsCliFlags(t: AwsCliTarget | string): string {
  const target = typeof t === "string" ? { region: t } : t;
  return `--region ${word(target.region)}${target.profile ? ` --profile ${word(target.profile)}` : ""}`;
}

/**
 * The listener rule priority of the gate's closing rule: ALB evaluates rules from the lowest priority up, so
 * while it exists it answers every request before any node's host route (GATE_ROUTE_PRIORITY + i) is looked at.
 */
export const GATE_CLOSED_PRIORITY = 1;
/** Node i's host route on the gate's listener has priority GATE_ROUTE_PRIORITY + i. */
export const GATE_ROUTE_PRIORITY = 100;

/** Every request, whatever its host: the closing rule's condition. */
const EVERY_REQUEST = [{ Field: "path-pattern", PathPatternConfig: { Values: ["/*"] } }];

/**
 * The rule at GATE_CLOSED_PRIORITY as `<arn>\t<action type>\t<status>` in $found (empty without one), then
 * `closed` (flagday's 503 rule), `open` (none) or a failure naming the rule that holds the priority.
 */
function gateStateScript(flags: string, listenerArn: string): string[] {
  const query = `Rules[?Priority=='${GATE_CLOSED_PRIORITY}'].[RuleArn,Actions[0].Type,Actions[0].FixedResponseConfig.StatusCode]`;
  return [
    `found=$(aws elbv2 describe-rules ${flags} --listener-arn ${word(listenerArn)} --query ${q(query)} --output text) || {`,
    `  echo ${q(`flagday: the gate cannot read the rules of its listener ${listenerArn} (above): the ingress is unchanged`)} >&2; exit 1; }`,
    `case "$found" in`,
    `  "") state=open ;;`,
    `  *[[:space:]]fixed-response[[:space:]]${CLOSED_ACTIONS[0].FixedResponseConfig.StatusCode}) state=closed ;;`,
    `  *) echo "flagday: priority ${GATE_CLOSED_PRIORITY} of the gate's listener holds a rule that is not flagday's closing rule ($found): the gate keeps that priority for itself. Move that rule to another priority." >&2; exit 1 ;;`,
    `esac`,
  ];
}

/**
 * One switch of the gate, as one compound command (so it can stand inside another: the live stage's fallback):
 * when the gate is in state `from`, run `change` (failing with `failure`), else nothing; then say `done`.
 */
function gateSwitch(
  target: AwsCliTarget | string,
  listenerArn: string,
  a: {
    readonly from: "open" | "closed";
    readonly change: string;
    readonly failure: string;
    readonly done: string;
  },
): string {
  return [
    "{",
    ...gateStateScript(awsCliFlags(target), listenerArn),
    `if [ "$state" = ${a.from} ]; then`,
    `  ${a.change} || {`,
    `    echo ${q(`flagday: ${a.failure}`)} >&2; exit 1; }`,
    `fi`,
    `echo ${q(`flagday: ${a.done}`)}`,
    "}",
  ].join("\n");
}

/**
 * The gate's reject: one rule at GATE_CLOSED_PRIORITY answering every request with a fixed 503, which closes
 * every node's host route at once (peers never pass the load balancer). Nothing Pulumi manages changes, so a
 * `pulumi refresh` or `up` while it rejects reopens nothing. Idempotent: a rule already there is kept.
 */
export function gateRejectCommand(target: AwsCliTarget | string, listenerArn: string): string {
  return gateSwitch(target, listenerArn, {
    from: "open",
    change:
      `aws elbv2 create-rule ${awsCliFlags(target)} --listener-arn ${word(listenerArn)} ` +
      `--priority ${GATE_CLOSED_PRIORITY} --conditions ${q(JSON.stringify(EVERY_REQUEST))} ` +
      `--actions ${q(JSON.stringify(CLOSED_ACTIONS))} --query 'Rules[0].RuleArn' --output text`,
    failure: `the gate could not add its closing rule to ${listenerArn} (above): clients are still let in`,
    done: "the ingress rejects every client host (fixed 503); peers are untouched",
  });
}

/** The gate's accept: the closing rule removed, so each client host routes to its own node again. Idempotent. */
export function gateAcceptCommand(target: AwsCliTarget | string, listenerArn: string): string {
  return gateSwitch(target, listenerArn, {
    from: "closed",
    change: `aws elbv2 delete-rule ${awsCliFlags(target)} --rule-arn "$(printf '%s' "$found" | cut -f1)"`,
    failure: `the gate could not remove its closing rule from ${listenerArn} (above): clients are still rejected`,
    done: "the ingress accepts clients: each client host routes to its own node",
  });
}

/**
 * The aws CLI acts on the account the stack's resources are in: fails naming both accounts otherwise (the
 * gate would switch another account's listener, or none). Prints the account and the caller.
 */
export function callerIdentityCheck(target: AwsCliTarget, expectedAccount: string): string {
  const flags = awsCliFlags(target);
  const fix =
    `Give flagday:aws.profile (or aws:profile) a profile of account ${expectedAccount}, or fix that profile's ` +
    `credentials. Nothing was changed.`;
  return [
    `identity=$(aws sts get-caller-identity ${flags} --query '[Account, Arn]' --output text) || {`,
    `  echo ${q(`flagday: the aws CLI cannot call AWS as the stack does (aws ... ${flags}): see above. ${fix}`)} >&2; exit 1; }`,
    `account=$(printf '%s' "$identity" | cut -f1)`,
    `if [ "$account" != ${q(expectedAccount)} ]; then`,
    `  echo "flagday: the aws CLI (${flags}) acts on account $account, but this stack's resources are in account ${expectedAccount}. ${fix}" >&2; exit 1`,
    `fi`,
    `echo "flagday: the aws CLI acts on account $account as $(printf '%s' "$identity" | cut -f2) (${flags})"`,
  ].join("\n");
}

/**
 * Put first in every script that runs on a node over SSH: `docker` as the SSH user may run it. Directly for
 * root or a member of the docker group (user data puts the SSH user there), otherwise through `sudo -n`, which
 * fails at once instead of asking for a password. The pre-flight runs `docker info` through the same choice.
 */
export function dockerPrivilegePrelude(): string {
  return [
    "# flagday: docker directly as root or a member of the docker group, else through sudo -n (never a prompt).",
    `if [ "$(id -u)" != 0 ] && ! id -nG | tr ' ' '\\n' | grep -qx docker; then docker() { sudo -n docker "$@"; }; fi`,
  ].join("\n");
}

/** A script as it runs on a node: with docker's privileges settled first. */
export const onNode = (script: string): string => `${dockerPrivilegePrelude()}\n${script}`;

/**
 * The pre-flight on the node itself, over SSH: docker answers for the SSH user (directly or through sudo -n, as
 * the stop and the migrations will run it) and, when the sequence migrates on the node, the ledger is mounted
 * (a migration on an unmounted /ledger would write to the root disk). Read-only.
 */
export function nodePreflightScript(a: { readonly node: string; readonly ledgerMounted: boolean }): string {
  return [
    "set -eu",
    `if ! version=$(docker info --format '{{.ServerVersion}}' 2>&1); then`,
    `  echo "flagday: pre-flight of ${a.node}: docker does not answer for $(id -un) on $(hostname), directly or with sudo -n: $version" >&2; exit 1`,
    "fi",
    ...(a.ledgerMounted
      ? [
          `mountpoint -q ${LEDGER_PATH} || {`,
          `  echo "flagday: pre-flight of ${a.node}: ${LEDGER_PATH} is not mounted on $(hostname): the migration would not see the ledger" >&2; exit 1; }`,
        ]
      : []),
    `echo "flagday: pre-flight of ${a.node} ok: $(id -un)@$(hostname), docker $version${a.ledgerMounted ? `, ${LEDGER_PATH} mounted` : ""}"`,
  ].join("\n");
}

/** The environment variable the SSH steps read the private key from (a Pulumi secret, never in the text). */
export const SSH_KEY_ENV = "FLAGDAY_SSH_KEY";

/**
 * SSH options of the steps run from the operator's machine. Host keys are not checked, as @pulumi/command's
 * remote.Command does not check them: every replacement instance on the node's ENI has a new one, and nothing
 * publishes it before it boots. BatchMode: never a prompt.
 */
export const SSH_OPTIONS = [
  "IdentitiesOnly=yes",
  "BatchMode=yes",
  "ConnectTimeout=15",
  "ConnectionAttempts=3",
  "StrictHostKeyChecking=no",
  "UserKnownHostsFile=/dev/null",
  "LogLevel=ERROR",
] as const;

export interface SshStepArgs {
  readonly node: string;
  /** The node's address (its ENI's private IP) and the SSH user. */
  readonly host: string;
  readonly user: string;
  /** The node's ENI: when SSH cannot connect, EC2 says whether an instance holds it. */
  readonly eniId: string;
  readonly cli: AwsCliTarget;
  /** Run on the node with `sh -s` (put `onNode` around what uses docker). */
  readonly remote: string;
  /**
   * What it means when SSH cannot connect and no instance runs on the node (none holds the ENI, or it is
   * stopped or terminated): `{ ok }` succeeds printing it (nothing runs there), `{ fail }` fails with it.
   */
  readonly noInstance: { readonly ok: string } | { readonly fail: string };
  /**
   * How long to keep trying while SSH cannot connect and EC2 says the node's instance is pending or running
   * (it is booting: the start step after a new host). @default 0 (no retry)
   */
  readonly connectWaitSeconds?: number;
}

/**
 * A step on a node, run from the operator's machine with the system's `ssh`: the key comes from the
 * environment (SSH_KEY_ENV, a Pulumi secret) into a file only the operator's user can read, removed on exit,
 * and never appears in the command text, a command line or the logs. Exit codes: the remote script's; when SSH
 * itself cannot connect (ssh exits 255), EC2 decides: no instance holds the node's ENI, or it is stopped or
 * terminated, means nothing runs there (`noInstance`); an instance that runs and cannot be reached fails.
 */
export function sshStepScript(a: SshStepArgs): string {
  const flags = awsCliFlags(a.cli);
  const target = `${a.user}@${a.host}`;
  const noInstance =
    "ok" in a.noInstance
      ? `echo ${q(`flagday: ${a.node}: ${a.noInstance.ok}`)}" ($why)"; exit 0`
      : `echo ${q(`flagday: ${a.node}: ${a.noInstance.fail}`)}" ($why)" >&2; exit 1`;
  const ssh = [
    "rc=0",
    `ssh -i "$keydir/id" ${SSH_OPTIONS.map((o) => `-o ${o}`).join(" ")} ${q(target)} sh -s <<'FLAGDAY_ON_NODE' || rc=$?`,
    a.remote,
    "FLAGDAY_ON_NODE",
  ];
  // Which instance holds the node's ENI, and its state: $instance and $state (none without one).
  const ec2State = [
    `instance=$(aws ec2 describe-network-interfaces ${flags} --network-interface-ids ${word(a.eniId)} --query 'NetworkInterfaces[0].Attachment.InstanceId' --output text) || {`,
    `  echo ${q(`flagday: ${a.node}: SSH cannot connect and EC2 could not say whether an instance holds ${a.eniId} (above): failing, as something may still run there`)} >&2; exit 1; }`,
    `state=none`,
    `if [ -n "$instance" ] && [ "$instance" != None ]; then`,
    `  state=$(aws ec2 describe-instances ${flags} --instance-ids "$instance" --query 'Reservations[0].Instances[0].State.Name' --output text) || {`,
    `    echo "flagday: ${a.node}: SSH cannot connect and EC2 could not say what state $instance is in (above): failing" >&2; exit 1; }`,
    "fi",
  ];
  const wait = a.connectWaitSeconds ?? 0;
  // A booting instance: SSH is tried again until it answers, the instance stops booting, or the time is up.
  const attempts =
    wait > 0
      ? [
          `deadline=$(( $(date +%s) + ${wait} ))`,
          "while :; do",
          ...ssh,
          `  if [ "$rc" -ne 255 ] || [ "$(date +%s)" -ge "$deadline" ]; then break; fi`,
          ...ec2State.map((l) => `  ${l}`),
          `  case "$state" in pending|running) ;; *) break ;; esac`,
          `  echo "flagday: ${a.node}: $instance is $state and SSH to ${target} does not answer yet: trying again" >&2`,
          "  sleep 10",
          "done",
        ]
      : ssh;
  return [
    "set -u",
    `if [ -z "\${${SSH_KEY_ENV}:-}" ]; then`,
    `  echo ${q(`flagday: ${a.node}: no SSH key in ${SSH_KEY_ENV} (flagday:sshPrivateKey)`)} >&2; exit 1`,
    "fi",
    `keydir=$(mktemp -d) || exit 1`,
    `trap 'rm -rf "$keydir"' EXIT`,
    `(umask 077 && printf '%s\\n' "$${SSH_KEY_ENV}" > "$keydir/id") || exit 1`,
    ...attempts,
    `if [ "$rc" -ne 255 ]; then exit "$rc"; fi`,
    `# ssh could not connect: does an instance hold the node's ENI, and does it run?`,
    `echo ${q(`flagday: ${a.node}: SSH to ${target} cannot connect; asking EC2 whether an instance holds ${a.eniId}`)} >&2`,
    ...ec2State,
    `case "$state" in`,
    `  none) why="no instance holds ${a.eniId}"; ${noInstance} ;;`,
    `  stopped|terminated) why="its instance $instance is $state"; ${noInstance} ;;`,
    "esac",
    `echo "flagday: ${a.node}: instance $instance ($state) holds ${a.eniId}, but SSH to ${target} fails (exit 255, above). Check that flagday:sshPrivateKey is the key user data installs for ${a.user} (instances launched before flagday wrote authorized_keys have none: replace them outside a flag day first), and that port 22 is open from this machine." >&2`,
    "exit 1",
  ].join("\n");
}

/**
 * The target image pulled and the sha256 of the enclave it carries checked against the release's
 * `enclaveSha256`: lines for a script under `set -e` (the pull step's, and the start step's when the image is
 * not on the host).
 */
export function pullAndCheckScript(image: string, enclaveSha256: string): string {
  return [
    `docker pull ${q(image)} >&2`,
    `got="$(docker run --rm --entrypoint sha256sum ${q(image)} ${q(ENCLAVE_IN_IMAGE)} | cut -d' ' -f1)"`,
    `[ "$got" = ${q(enclaveSha256)} ] || { echo "flagday: the enclave in ${image} has sha256 $got, not the release's ${enclaveSha256}: wrong image or wrong release entry; nothing was changed" >&2; exit 1; }`,
  ].join("\n");
}

/**
 * Prepare, on the node's instance: pull the target image and check the sha256 of the enclave it carries, so
 * that a wrong image fails before the window. The start step runs the release on this same instance (an
 * enclave change swaps the containers in place), so the window neither boots nor pulls.
 */
export function pullScript(image: string, enclaveSha256: string): string {
  return [
    "set -eu",
    pullAndCheckScript(image, enclaveSha256),
    `echo ${q(`${image}: pulled, enclave sha256 ${enclaveSha256} checked`)}`,
  ].join("\n");
}

/**
 * The start step's delete: the node's containers removed (stopped first), so that its replacement (a new
 * release, a new setting) never runs beside them. Nothing there is fine. POSIX sh.
 */
export function removeContainersScript(): string {
  return [
    "set -eu",
    `for c in ${CONTAINER}-admin ${CONTAINER}; do`,
    `  if docker ps -a --format '{{.Names}}' | grep -qx "$c"; then docker stop --time 120 "$c" >/dev/null; docker rm "$c" >/dev/null; fi`,
    "done",
    `echo "flagday: the node's containers are removed from $(hostname)"`,
  ].join("\n");
}

/** EC2 `describe-snapshots` filters, as `--filters` words: the snapshots that carry every tag given. */
function tagFilters(tags: Readonly<Record<string, string>>): string {
  return Object.entries(tags)
    .map(([k, v]) => word(`Name=tag:${k},Values=${v}`))
    .join(" ");
}

/**
 * How long the cut may take: until EC2 lists the new snapshot as `pending` (its point in time taken). Seconds
 * in practice; the minutes here only cover the API's eventual consistency and throttling.
 */
export const CUT_TIMEOUT_SECONDS = 600;

/**
 * One EBS snapshot of a node's ledger volume, found or made: the snapshot of this account that carries every
 * `find` tag (pending or completed) is reused, so a re-run after an interruption never takes a second one; two
 * or more fail the step naming them (flagday will not guess which is its own). Otherwise one is created with
 * `tags` (which include the `find` tags). Then it waits:
 * - `cut` (the window's snapshot): until the snapshot is `pending` or `completed`. AWS: the snapshot "includes
 *   only the data that was written to the volume at the time the snapshot was requested", and writes may resume
 *   "once the snapshot enters the pending state" (EBS user guide, Create Amazon EBS snapshots). The copy to S3
 *   goes on while the migration runs; the seal step waits for it before the ingress reopens.
 * - `completed` (the warm snapshot, before the window, and the seal): until the copy is complete.
 * Prints the snapshot id as its last line; what it did goes to stderr.
 */
export function snapshotScript(a: {
  readonly cli: AwsCliTarget;
  readonly volumeId: string;
  readonly find: Readonly<Record<string, string>>;
  readonly tags: Readonly<Record<string, string>>;
  readonly description: string;
  readonly waitFor: "cut" | "completed";
  readonly timeoutSeconds: number;
}): string {
  const flags = awsCliFlags(a.cli);
  // JSON, not the CLI's shorthand: a tag value may hold spaces and commas (flagday:contents does).
  const tagSpec = JSON.stringify([
    {
      ResourceType: "snapshot",
      Tags: Object.entries({ ...a.tags, ...a.find }).map(([Key, Value]) => ({ Key, Value })),
    },
  ]);
  const described = Object.entries(a.find)
    .map(([k, v]) => `${k}=${v}`)
    .join(" ");
  return [
    `ids="$(aws ec2 describe-snapshots ${flags} --owner-ids self --filters ${word("Name=status,Values=pending,completed")} ${tagFilters(a.find)} --query 'Snapshots[].SnapshotId' --output text)" || exit 1`,
    "set -- $ids",
    `if [ "$#" -gt 1 ]; then echo "flagday: $# snapshots of this account carry this step's tags (${described}): $ids. ` +
      `One is the step's own, the others copies (AWS Backup, DLM, by hand), and flagday will not guess. Nothing ` +
      `was changed. Remove the flagday tags from the copies, then run pulumi up again." >&2; exit 1; fi`,
    `if [ "$#" -eq 1 ]; then id="$1"; echo "flagday: snapshot $id of ${a.volumeId} already taken by this step: reused" >&2`,
    `else id="$(aws ec2 create-snapshot ${flags} --volume-id ${word(a.volumeId)} --description ${q(a.description)} ` +
      `--tag-specifications ${q(tagSpec)} --query SnapshotId --output text)" || exit 1; fi`,
    a.waitFor === "cut"
      ? waitSnapshot(flags, '"$id"', ["pending", "completed"], a.timeoutSeconds, 2)
      : waitSnapshot(flags, '"$id"', ["completed"], a.timeoutSeconds, 15),
    `echo "$id"`,
  ].join("\n");
}

/**
 * Waits until a snapshot is in one of `states`, failing on `error` or after `timeoutSeconds` (a re-run waits
 * again). An id EC2 does not list yet (eventual consistency) is waited for too.
 */
function waitSnapshot(
  flags: string,
  id: string,
  states: readonly string[],
  timeoutSeconds: number,
  everySeconds: number,
): string {
  const reached = states.map((s) => `[ "$state" = ${s} ]`).join(" || ");
  return [
    `deadline=$(( $(date +%s) + ${timeoutSeconds} ))`,
    `until state="$(aws ec2 describe-snapshots ${flags} --snapshot-ids ${id} --query 'Snapshots[0].State' --output text 2>/dev/null)" && { ${reached}; }; do`,
    `  [ "$state" != error ] || { echo "flagday: snapshot ${id} failed (state error)" >&2; exit 1; }`,
    `  [ "$(date +%s)" -lt "$deadline" ] || { echo "flagday: snapshot ${id} not ${states.join(" or ")} after ${timeoutSeconds}s (state \${state:-unknown}): re-run to keep waiting" >&2; exit 1; }`,
    `  sleep ${everySeconds}`,
    `done`,
  ].join("\n");
}

/**
 * Seal: the window's snapshot (cut inside the window) is completed, before the ingress reopens: never serve
 * clients without a complete way back. With the warm snapshot before the window, only the blocks changed since
 * are copied. Fails after `timeoutSeconds` (flagday:aws.timeouts.snapshotMinutes) with the ingress closed; a
 * re-run waits again.
 */
export function sealScript(a: {
  readonly cli: AwsCliTarget;
  readonly snapshotId: string;
  readonly timeoutSeconds: number;
}): string {
  return [
    waitSnapshot(awsCliFlags(a.cli), word(a.snapshotId), ["completed"], a.timeoutSeconds, 15),
    `echo ${q(`${a.snapshotId} sealed (completed)`)}`,
  ].join("\n");
}
