/** A POSIX shell single-quoted word: the one way any script here quotes a value it did not write itself. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * What a step runs when its inputs change but its trigger (the transition id) does not: nothing. A stop or a
 * migration must run once per flag day, never again because a URL or a key rotated between flag days.
 * @pulumi/command records an update's stdout as the step's, so the no-op prints what the step printed before
 * (the provider gives it as PULUMI_COMMAND_STDOUT): a snapshot id or the quiesced height stays recorded through
 * a flagday upgrade that changed a step's text mid flag day. Its own message goes to stderr.
 */
export function noopUpdate(what: string): string {
  return (
    `echo ${shellQuote(`flagday: ${what} already ran for its transition; nothing to do`)} >&2; ` +
    `printf '%s' "\${PULUMI_COMMAND_STDOUT:-}"`
  );
}
