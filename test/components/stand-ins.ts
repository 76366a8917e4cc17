/** Scratch folders and executable stand-ins (docker, ssh, kubectl…) for the tests that run shell scripts. */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";

/**
 * `tmp()` makes a scratch folder, `bin(scripts)` a folder of executable bash stand-ins (name -> body) to put
 * first on PATH; every folder is removed after the test file.
 */
export function standIns(prefix: string) {
  const dirs: string[] = [];
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  const tmp = () => {
    const d = mkdtempSync(join(tmpdir(), `flagday-${prefix}-`));
    dirs.push(d);
    return d;
  };
  const bin = (scripts: Record<string, string>): string => {
    const dir = tmp();
    for (const [name, body] of Object.entries(scripts)) {
      writeFileSync(join(dir, name), `#!/bin/bash\n${body}\n`);
      chmodSync(join(dir, name), 0o755);
    }
    return dir;
  };
  return { tmp, bin };
}
