/**
 * @module replica/directory
 * `ReplicaStore` on a directory, meant for a filesystem every compute host mounts (NFS,
 * CephFS). Objects are files written atomically (temp file, fsync, rename, fsync dir:
 * util/atomicFile), so a reader sees a whole object or none. A claim is a file created with
 * link(2) from a complete temp file: link fails with EEXIST when the name exists, atomically
 * on a local filesystem and on NFSv3+ (the O_EXCL rule), so at most one claimant wins. New
 * directories (the root, an instance's, a claim's) are fsynced in their parent. Temp files a
 * killed writer left are swept at start-up once they are old enough (`sweepStaleTemps`).
 *
 * A full, read-only or failing filesystem (ENOSPC, EDQUOT, EROFS, EIO) is a `StorageError`
 * (507) naming the file; anything else the directory refuses (missing, not a directory, no
 * permission) is `ReplicaUnavailable` (503). Either way nothing already stored changes.
 */
import { promises as fsp, constants as fsc } from 'node:fs';
import * as path from 'node:path';
import { createFileExclusive, fsyncDir, mkdirDurable, probeWritable, unlinkDurable, writeFileAtomic, TEMP_MARKER } from '../util/atomicFile';
import { StorageError } from '../errors';
import { checkKey, checkOwner, type ClaimEntry, type ProbeResult, type ReplicaStore } from './types';
import { ReplicaUnavailable } from './errors';

/** A temp file older than this was left by a writer that died (a store's write takes seconds at most). */
export const STALE_TEMP_MS = 10 * 60 * 1000;

/** Suffix of claim files, so that `list` (objects) and `claims` see disjoint names. */
const CLAIM_SUFFIX = '.claim';

/** The errnos that say the filesystem itself cannot take the write (not a wrong path). */
const STORAGE_ERRNOS = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EIO']);

function unavailable(what: string, e: unknown): ReplicaUnavailable | StorageError {
  if (e instanceof StorageError) {
    if (STORAGE_ERRNOS.has(e.errno)) return e;
    return new ReplicaUnavailable(`${what}: ${e.errno}`, { cause: e });
  }
  return new ReplicaUnavailable(`${what}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
}

export class DirectoryReplicaStore implements ReplicaStore {
  readonly kind = 'directory' as const;
  readonly root: string;
  constructor(root: string) {
    this.root = path.resolve(root);
  }

  describe(): string {
    return `directory ${this.root}`;
  }

  private file(key: string): string {
    return path.join(this.root, ...checkKey(key).split('/'));
  }

  async init(): Promise<void> {
    try {
      await mkdirDurable(this.root, 0o700);
      await fsp.access(this.root, fsc.W_OK);
    } catch (e) {
      throw unavailable(`cannot use ${this.root}`, e);
    }
    await this.sweepStaleTemps();
  }

  /**
   * Remove the temp files (objects and claims) a writer killed mid-write left behind, anywhere
   * under the root. Only those older than `olderThanMs`: every host that shares the directory
   * writes its temp files here, and one still being written by a live host is seconds old.
   * Best effort (a file another host removed first is not an error). Returns the keys removed.
   */
  async sweepStaleTemps(olderThanMs = STALE_TEMP_MS, now = Date.now()): Promise<string[]> {
    const removed: string[] = [];
    const visit = async (dir: string, rel: string): Promise<void> => {
      const entries = await fsp.readdir(dir, { withFileTypes: true }).catch(() => []);
      for (const d of entries) {
        const full = path.join(dir, d.name);
        const k = rel ? `${rel}/${d.name}` : d.name;
        if (d.isDirectory()) await visit(full, k);
        else if (d.name.includes(TEMP_MARKER)) {
          const st = await fsp.stat(full).catch(() => null);
          if (
            st &&
            now - st.mtimeMs > olderThanMs &&
            (await fsp.unlink(full).then(
              () => true,
              () => false,
            ))
          )
            removed.push(k);
        }
      }
    };
    await visit(this.root, '');
    return removed;
  }

  async probe(): Promise<ProbeResult> {
    const st = await fsp.stat(this.root).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return null;
      throw unavailable(`cannot use ${this.root}`, e);
    });
    if (!st) return { exists: false, detail: `${this.root} does not exist` };
    if (!st.isDirectory()) throw new ReplicaUnavailable(`${this.root} is not a directory`);
    try {
      await probeWritable(this.root);
    } catch (e) {
      throw unavailable(`cannot create a file in ${this.root}`, e);
    }
    return { exists: true, detail: `${this.root} is writable` };
  }

  async put(key: string, body: Buffer): Promise<void> {
    const f = this.file(key);
    try {
      await inFolder(f, () => writeFileAtomic(f, body, { mode: 0o600 }));
    } catch (e) {
      throw unavailable(`cannot write ${key}`, e);
    }
  }

  async get(key: string): Promise<Buffer | null> {
    try {
      return await fsp.readFile(this.file(key));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw unavailable(`cannot read ${key}`, e);
    }
  }

  /** Relative keys of the files under `prefix` (a directory path, or a name prefix within one). */
  private async walk(prefix: string): Promise<string[]> {
    const slash = prefix.lastIndexOf('/');
    const dirKey = slash >= 0 ? prefix.slice(0, slash) : '';
    const start = dirKey ? this.file(dirKey) : this.root;
    const out: string[] = [];
    const visit = async (dir: string, rel: string): Promise<void> => {
      let entries;
      try {
        entries = await fsp.readdir(dir, { withFileTypes: true });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw unavailable(`cannot list ${rel || '/'}`, e);
      }
      for (const d of entries) {
        if (d.name.includes(TEMP_MARKER)) continue;
        const k = rel ? `${rel}/${d.name}` : d.name;
        if (d.isDirectory()) await visit(path.join(dir, d.name), k);
        else if (d.isFile() && k.startsWith(prefix)) out.push(k);
      }
    };
    await visit(start, dirKey);
    return out.sort();
  }

  async list(prefix: string): Promise<string[]> {
    return (await this.walk(prefix)).filter((k) => !k.endsWith(CLAIM_SUFFIX));
  }

  /**
   * Remove the object, then the folders it leaves empty up to the store's root (an instance's
   * `gen/` and `claim/` folders and its own, once its last object is gone). `rmdir` removes
   * only an empty folder, atomically: a folder another host has just put something in stays,
   * and a writer whose new folder is removed before its file lands makes it again (`inFolder`).
   */
  async delete(key: string): Promise<void> {
    const f = this.file(key);
    try {
      await unlinkDurable(f);
    } catch (e) {
      throw unavailable(`cannot delete ${key}`, e);
    }
    await this.removeEmptyFolders(path.dirname(f));
  }

  private async removeEmptyFolders(dir: string): Promise<void> {
    for (let d = dir; d !== this.root && d.startsWith(this.root + path.sep); d = path.dirname(d)) {
      try {
        await fsp.rmdir(d);
      } catch {
        return; // not empty (or already gone): what is above it is not empty either
      }
      await fsyncDir(path.dirname(d)).catch(() => undefined);
    }
  }

  async claim(key: string, owner: string): Promise<boolean> {
    const target = this.file(key) + CLAIM_SUFFIX;
    try {
      return await inFolder(target, () => createFileExclusive(target, checkOwner(owner), { mode: 0o600, sparse: false }));
    } catch (e) {
      throw unavailable(`cannot claim ${key}`, e);
    }
  }

  async claims(prefix: string): Promise<ClaimEntry[]> {
    const files = (await this.walk(prefix)).filter((k) => k.endsWith(CLAIM_SUFFIX));
    const out: ClaimEntry[] = [];
    for (const f of files) {
      const owner = await this.get(f);
      if (owner !== null) out.push({ key: f.slice(0, -CLAIM_SUFFIX.length), owners: [owner.toString('utf8')] });
    }
    return out;
  }

  async dropClaim(key: string): Promise<void> {
    await this.delete(key + CLAIM_SUFFIX);
  }
}

/**
 * Make `file`'s folder and run `write` in it; when the folder was removed between the two (a
 * `delete` on another host removed it as empty), make it again and write again, at most twice.
 */
async function inFolder<T>(file: string, write: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    await mkdirDurable(path.dirname(file), 0o700);
    try {
      return await write();
    } catch (e) {
      if (!(e instanceof StorageError && e.errno === 'ENOENT' && attempt < 2)) throw e;
    }
  }
}
