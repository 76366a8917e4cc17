/**
 * What the AWS platform's steps run on a node over SSH and on the operator's machine, as plain functions of
 * plain values: platform.ts only wires them into resources.
 */
import { LEDGER_PATH, ledgerMigrationCommand, shellQuote as q } from "../mobilecoin";

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

/** The format migration, then the release's own migrations (they ship in its image), in order. */
export function migrateScript(image: string, migrations: readonly string[] = []): string {
  return [
    "set -eu",
    `docker pull ${q(image)}`,
    inImage(image, ledgerMigrationCommand()),
    ...migrations.map((m) => inImage(image, `/bin/sh -c ${q(m)}`)),
  ].join("\n");
}

/** The release being undone knows how to go back: its image runs its reverse migrations. */
export function reverseMigrateScript(image: string, reverseMigrations: readonly string[] = []): string {
  return ["set -eu", ...reverseMigrations.map((m) => inImage(image, `/bin/sh -c ${q(m)}`))].join("\n");
}

/** The ALB listener's default actions while the gate rejects: a fixed 503 for every client request. */
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

/** The gate's switch: set the listener's default actions. */
export function modifyListenerCommand(region: string, listenerArn: string, actions: unknown): string {
  return (
    `aws elbv2 modify-listener --region ${region} --listener-arn ${listenerArn} ` +
    `--default-actions ${q(JSON.stringify(actions))}`
  );
}
