import { randomBytes } from "node:crypto";
import { Dirent, promises as fs } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import * as path from "node:path";
import { BoardBackend, EntryExistsError, checkKey } from "./board";

/**
 * A board in a local directory, for the rehearsal (every operator stack on one machine) or a shared file
 * system. Each key is a file below `root`. Write-once: the entry is written in full to a hidden temporary file
 * beside its final name, made read-only, and then hard-linked to that name; link(2) refuses an existing name
 * atomically, so of two writers exactly one wins and no reader ever sees a half-written entry.
 */
export class DirectoryBoardBackend implements BoardBackend {
  readonly description: string;

  constructor(readonly root: string) {
    this.root = path.resolve(root);
    this.description = `directory ${this.root}`;
  }

  async create(key: string, body: string): Promise<void> {
    const file = this.file(key);
    await fs.mkdir(path.dirname(file), { recursive: true });
    const tmp = path.join(
      path.dirname(file),
      `.${path.basename(file)}.${process.pid}-${randomBytes(6).toString("hex")}`,
    );
    const handle = await fs.open(tmp, "wx", 0o444);
    try {
      await handle.writeFile(body, "utf8");
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await fs.link(tmp, file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EEXIST") throw new EntryExistsError(key, this.description);
      throw e;
    } finally {
      await fs.rm(tmp, { force: true });
    }
  }

  async list(prefix: string): Promise<string[]> {
    // Walk only below the deepest directory the prefix names; hidden files are writes in progress.
    const slash = prefix.lastIndexOf("/");
    const base = slash < 0 ? "" : prefix.slice(0, slash);
    if (base) checkKey(base);
    const keys: string[] = [];
    const walk = async (rel: string): Promise<void> => {
      let names: Dirent[];
      try {
        names = await fs.readdir(path.join(this.root, rel), { withFileTypes: true });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
        throw e;
      }
      for (const d of names) {
        if (d.name.startsWith(".")) continue;
        const key = rel ? `${rel}/${d.name}` : d.name;
        if (d.isDirectory()) {
          if (prefix.startsWith(`${key}/`) || key.startsWith(prefix) || `${key}/`.startsWith(prefix)) {
            await walk(key);
          }
        } else if (d.isFile() && key.startsWith(prefix)) {
          keys.push(key);
        }
      }
    };
    await walk(base);
    return keys.sort();
  }

  async read(key: string, maxBytes: number): Promise<string | undefined> {
    const file = this.file(key);
    let handle: FileHandle;
    try {
      handle = await fs.open(file, "r");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
    try {
      const { size } = await handle.stat();
      if (size > maxBytes) throw new Error(`${size} bytes, more than the ${maxBytes} an entry may have`);
      return await handle.readFile("utf8");
    } finally {
      await handle.close();
    }
  }

  private file(key: string): string {
    checkKey(key);
    return path.join(this.root, ...key.split("/"));
  }
}
