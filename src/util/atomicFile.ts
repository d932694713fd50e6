/**
 * @module util/atomicFile
 * Crash-safe file replacement: write a temp file in the target's directory, fsync it,
 * rename it over the target, fsync the directory. A crash at any point leaves either the
 * old file or the new one, plus at most a `.tmp-*` file that `sweepTempFiles` removes.
 *
 * Zero runs of at least one block are left as holes (`sparse: true`), so a 64 MiB AAVMF
 * store that is mostly zeros allocates only its data blocks; content is unchanged because
 * holes read back as zeros. 0xFF-filled OVMF stores stay dense by nature.
 *
 * Does not decide *where* files may live: callers (nvram/store, state/) check that.
 */
import { promises as fsp, constants as fsc } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';

export const TEMP_MARKER = '.tmp-';
const BLOCK = 4096;

export interface AtomicWriteOptions {
  /** File mode of the new file (default 0o600). */
  mode?: number;
  /** chown to these ids when given (root only). */
  uid?: number;
  gid?: number;
  /** Leave all-zero 4 KiB blocks as holes (default true). */
  sparse?: boolean;
  /** Test hook: called between named steps, may throw to simulate a crash. */
  onStep?: (step: 'temp-written' | 'temp-synced' | 'renamed') => void;
}

/** Temp names: random per process (a crashed process's leftovers cannot collide), then a counter. */
const TEMP_PREFIX = randomBytes(4).toString('hex');
let tempCounter = 0;
function tempSuffix(): string {
  return `${TEMP_PREFIX}${(tempCounter++).toString(36)}`;
}

function isZeroBlock(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (buf[i] !== 0) return false;
  return true;
}

/** fsync a directory so that a rename inside it is durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, fsc.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Write `data` to `target` atomically (temp, fsync, rename, fsync dir). */
export async function writeFileAtomic(target: string, data: Buffer | string, opts: AtomicWriteOptions = {}): Promise<void> {
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const dir = path.dirname(target);
  const tmp = path.join(dir, `${path.basename(target)}${TEMP_MARKER}${tempSuffix()}`);
  const sparse = opts.sparse ?? true;
  const fh = await fsp.open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, opts.mode ?? 0o600);
  let renamed = false;
  try {
    if (sparse) {
      let off = 0;
      let written = 0;
      while (off < buf.length) {
        const end = Math.min(off + BLOCK, buf.length);
        if (!isZeroBlock(buf, off, end)) {
          // Coalesce consecutive data blocks into one write.
          let runEnd = end;
          while (runEnd < buf.length) {
            const next = Math.min(runEnd + BLOCK, buf.length);
            if (isZeroBlock(buf, runEnd, next)) break;
            runEnd = next;
          }
          await fh.write(buf, off, runEnd - off, off);
          off = written = runEnd;
        } else {
          off = end;
        }
      }
      // Trailing holes: set the length (a store ending in data already has it).
      if (written !== buf.length) await fh.truncate(buf.length);
    } else {
      await fh.write(buf, 0, buf.length, 0);
    }
    await fh.chmod(opts.mode ?? 0o600);
    if (opts.uid !== undefined || opts.gid !== undefined) await fh.chown(opts.uid ?? -1, opts.gid ?? -1);
    opts.onStep?.('temp-written');
    await fh.sync();
    opts.onStep?.('temp-synced');
  } catch (e) {
    await fh.close().catch(() => undefined);
    await fsp.unlink(tmp).catch(() => undefined);
    throw e;
  }
  await fh.close();
  try {
    await fsp.rename(tmp, target);
    renamed = true;
    opts.onStep?.('renamed');
    await fsyncDir(dir);
  } finally {
    if (!renamed) await fsp.unlink(tmp).catch(() => undefined);
  }
}

/** Remove temp files a crash may have left in `dir` (only names this module creates). */
export async function sweepTempFiles(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const n of names) {
    if (n.includes(TEMP_MARKER)) {
      await fsp.unlink(path.join(dir, n)).catch(() => undefined);
      removed.push(n);
    }
  }
  return removed;
}

/** Remove a file and fsync its directory; a missing file is not an error. Returns whether it existed. */
export async function unlinkDurable(target: string): Promise<boolean> {
  try {
    await fsp.unlink(target);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
  await fsyncDir(path.dirname(target));
  return true;
}

/** Bytes actually allocated on disk (st_blocks * 512). */
export async function allocatedBytes(file: string): Promise<number> {
  const st = await fsp.stat(file);
  return st.blocks * 512;
}

/**
 * Prove `dir` takes new files now: create and remove an empty temp file (a name
 * `sweepTempFiles` removes if a crash leaves it). Catches what access(2) cannot: root passes
 * every permission check, but not a read-only mount, a full inode table, or a missing or
 * replaced directory. Rejects with the system error.
 */
export async function probeWritable(dir: string): Promise<void> {
  const probe = path.join(dir, `.probe${TEMP_MARKER}${tempSuffix()}`);
  const fh = await fsp.open(probe, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o600);
  await fh.close();
  await fsp.unlink(probe);
}
