/**
 * @module state/jsonDir
 * A directory of JSON documents, one file per key, each written atomically (temp, fsync,
 * rename, fsync dir) so it survives a crash or restart. Shared by instance records,
 * migration journals and the embedded backend's domains; callers choose and validate keys.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic, unlinkDurable, sweepTempFiles } from '../util/atomicFile';

export class JsonDir<T> {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = path.resolve(dir);
  }

  /** Create the directory (0700) and remove temp files a crash left. */
  async init(): Promise<void> {
    await fsp.mkdir(this.dir, { recursive: true, mode: 0o700 });
    await sweepTempFiles(this.dir);
  }

  private file(key: string): string {
    return path.join(this.dir, `${key}.json`);
  }

  async read(key: string): Promise<T | null> {
    try {
      return JSON.parse(await fsp.readFile(this.file(key), 'utf8')) as T;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  }

  async write(key: string, doc: T): Promise<void> {
    await writeFileAtomic(this.file(key), JSON.stringify(doc, null, 2) + '\n', { mode: 0o600, sparse: false });
  }

  /** Remove a document; a missing one is fine. */
  async remove(key: string): Promise<void> {
    await unlinkDurable(this.file(key));
  }

  /** Keys present, sorted. */
  async keys(): Promise<string[]> {
    const names = await fsp.readdir(this.dir).catch(() => [] as string[]);
    return names.filter((n) => n.endsWith('.json')).map((n) => n.slice(0, -5)).sort();
  }
}
