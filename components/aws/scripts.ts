/**
 * What the AWS platform's steps run on a node over SSH and on the operator's machine, as plain functions of
 * plain values: platform.ts only wires them into resources.
 */
import { LEDGER_PATH, ledgerMigrationCommand, shellQuote as q } from "../mobilecoin";

/** The consensus container's name: the flag-day stop step stops exactly this (and its admin gateway). */
export const CONTAINER = "mc-consensus";

/** LMDB is only safe to copy when nothing writes it: stop the container and flush before the snapshot. */
export function stopScript(): string {
  return [
    "set -eu",
    `docker stop --time 120 ${CONTAINER}-admin ${CONTAINER}`,
    `test "$(docker inspect -f '{{.State.Running}}' ${CONTAINER})" = false`,
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
