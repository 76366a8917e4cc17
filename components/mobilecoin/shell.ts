/** A POSIX shell single-quoted word: the one way any script here quotes a value it did not write itself. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * What a step runs when its inputs change but its trigger (the transition id) does not: nothing. A stop or a
 * migration must run once per flag day, never again because a URL or a key rotated between flag days.
 */
export function noopUpdate(what: string): string {
  return `echo ${shellQuote(`flagday: ${what} already ran for its transition; nothing to do`)}`;
}
