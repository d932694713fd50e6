/**
 * @module util/atomicFile
 * The one writer of every file the sidecar keeps (variable stores, state documents, replica
 * objects and claims, the offline CLI's edits): all or nothing. A new file is written to a
 * temp file in the target's directory, every byte (a `write` that takes fewer bytes than
 * asked, as on a nearly full filesystem, is continued, never trusted), fsynced, optionally
 * read back and compared with what was meant, then renamed over the target, and the directory
 * fsynced. A crash at any point leaves either the old file or the new one, plus at most a
 * `.tmp-*` file that `sweepTempFiles` removes.
 *
 * Any failure at any step (ENOSPC, EDQUOT, EIO, EROFS or another) leaves the old file as it
 * was, removes the temp file (best effort: a failed clean-up never hides the first error) and
 * rejects with a `StorageError` (errors.ts) naming the target, the step and the errno. Only a
 * failed directory fsync after the rename is reported with the new file in place
 * (step `sync-dir`).
 *
 * Zero runs of at least one block are left as holes (`sparse: true`), so a 64 MiB AAVMF
 * store that is mostly zeros allocates only its data blocks; content is unchanged because
 * holes read back as zeros. 0xFF-filled OVMF stores stay dense by nature. Verification reads
 * back the data runs (holes read as zeros by definition) and checks the size.
 *
 * Directories the sidecar creates go through `mkdirDurable` (each new directory fsynced in
 * its parent), removals through `unlinkDurable`, renames of whole files through
 * `renameDurable`. Does not decide *where* files may live: callers (nvram/store, state/) check that.
 */
import { promises as fsp, constants as fsc } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { storageError } from '../errors';

export const TEMP_MARKER = '.tmp-';
const BLOCK = 4096;
/** Read-back chunk: a whole OVMF store in one read; a larger dense store in pieces of this size. */
const VERIFY_CHUNK = 4 * 1024 * 1024;

export type WriteStep = 'temp-written' | 'temp-synced' | 'verified' | 'renamed';

/**
 * A file's content given as its size and the byte ranges that are not zero (in order, not
 * overlapping, inside the size): every other byte is zero and is left as a hole. A 64 MiB
 * AAVMF store received from a peer arrives so (peer/transfer) and is written without ever
 * being held whole.
 */
export interface SparseImage {
  size: number;
  segments: Segment[];
}

/** Bytes `data` at `offset`. */
export interface Segment {
  offset: number;
  data: Buffer;
}

/** The segments of a sparse image are in order, inside its size and do not overlap. */
export function checkSparseImage(image: SparseImage): void {
  let end = 0;
  for (const s of image.segments) {
    if (!Number.isInteger(s.offset) || s.offset < end || s.offset + s.data.length > image.size) {
      throw new RangeError(`segment at ${s.offset} (${s.data.length} bytes) is out of order or beyond ${image.size} bytes`);
    }
    end = s.offset + s.data.length;
  }
}

/** The part of a `FileHandle` the writer uses (a test may wrap it). */
export type TempHandle = Pick<FileHandle, 'write' | 'read' | 'truncate' | 'chmod' | 'chown' | 'sync' | 'stat' | 'close'>;

export interface AtomicWriteOptions {
  /** File mode of the new file (default 0o600). */
  mode?: number;
  /** chown to these ids when given (root only). */
  uid?: number;
  gid?: number;
  /** Leave all-zero 4 KiB blocks as holes (default true). */
  sparse?: boolean;
  /**
   * Read the temp file back after the fsync and compare it with the bytes meant (size and
   * content) before it replaces the old file (default false; see docs/durability.md for
   * where it is on and what it costs).
   */
  verify?: boolean;
  /** Test hook: called between named steps, may throw to simulate a crash. */
  onStep?: (step: WriteStep) => void;
  /** Test hook: wrap the temp file's handle (a short-writing handle, a failing fsync). */
  wrapHandle?: (fh: FileHandle) => TempHandle;
}

/** Temp names: random per process (a crashed process's leftovers cannot collide), then a counter. */
const TEMP_PREFIX = randomBytes(4).toString('hex');
let tempCounter = 0;
function tempSuffix(): string {
  return `${TEMP_PREFIX}${(tempCounter++).toString(36)}`;
}

/** One block of zeros, compared against (a native memcmp: a byte loop in JS costs ~10× more on a 64 MiB store). */
const ZERO_BLOCK = Buffer.alloc(BLOCK);

function isZeroBlock(buf: Buffer, start: number, end: number): boolean {
  return ZERO_BLOCK.compare(buf, start, end, 0, end - start) === 0;
}

/**
 * Zeros compared a window at a time before block by block: a 64 MiB AAVMF store is almost all
 * zeros, and one native compare per 4 KiB block (16,384 calls) cost 110 ms of its migration
 * where 64 window compares cost a few.
 */
const ZERO_WINDOW = Buffer.alloc(256 * BLOCK);

/** The byte ranges to write: all of `buf`, or (sparse) its runs of blocks that are not all zero. */
export function dataRuns(buf: Buffer, sparse = true): [number, number][] {
  if (!sparse) return buf.length ? [[0, buf.length]] : [];
  const runs: [number, number][] = [];
  let off = 0;
  while (off < buf.length) {
    const windowEnd = Math.min(off + ZERO_WINDOW.length, buf.length);
    if (ZERO_WINDOW.compare(buf, off, windowEnd, 0, windowEnd - off) === 0) {
      off = windowEnd;
      continue;
    }
    const end = Math.min(off + BLOCK, buf.length);
    if (isZeroBlock(buf, off, end)) {
      off = end;
      continue;
    }
    // Coalesce consecutive data blocks into one run.
    let runEnd = end;
    while (runEnd < buf.length) {
      const next = Math.min(runEnd + BLOCK, buf.length);
      if (isZeroBlock(buf, runEnd, next)) break;
      runEnd = next;
    }
    runs.push([off, runEnd]);
    off = runEnd;
  }
  return runs;
}

/** What `writeTemp` writes for a whole buffer: its data runs (sparse) or all of it. */
function imageOf(buf: Buffer, sparse: boolean): SparseImage {
  return { size: buf.length, segments: dataRuns(buf, sparse).map(([start, end]) => ({ offset: start, data: buf.subarray(start, end) })) };
}

/** A failure of our own making (no errno from the system), as a system error would be. */
function errnoError(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}

/**
 * Write `buf[start, end)` at the same file offsets, continuing after short writes. A write
 * that takes nothing without an error is taken as a full filesystem (write(2) answers
 * ENOSPC then, but a FUSE or network filesystem may not).
 */
async function writeAll(fh: TempHandle, seg: Segment): Promise<void> {
  const { offset, data } = seg;
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, offset + done);
    if (!(bytesWritten > 0)) throw errnoError('ENOSPC', `write took 0 of ${data.length - done} bytes at offset ${offset + done}`);
    done += bytesWritten;
  }
}

/** The scratch buffer `verifyTemp` reuses (null while one verification holds it). */
let scratch: Buffer | null = null;

/**
 * Read back what `writeTemp` wrote: every segment byte for byte, in as few reads as the chunk
 * size allows, and the size (one byte more is asked at the end of the file: it must not come;
 * a file ending in a hole is measured with fstat).
 */
async function verifyTemp(fh: TempHandle, image: SparseImage): Promise<void> {
  const last = image.segments[image.segments.length - 1];
  const endsInData = last !== undefined && last.offset + last.data.length === image.size;
  if (!endsInData) {
    const size = (await fh.stat()).size;
    if (size !== image.size) throw errnoError('EIO', `read back ${size} bytes, wrote ${image.size}`);
  }
  const need = Math.min(VERIFY_CHUNK, image.size) + 1;
  // One scratch buffer, reused while no other verification holds it: a fresh half-megabyte
  // per write costs more (allocation, page faults, GC) than reading and comparing it.
  const spare = scratch && scratch.length >= need ? scratch : null;
  if (spare) scratch = null;
  const chunk = spare ?? Buffer.allocUnsafe(need);
  try {
    for (const seg of image.segments) await compareSegment(fh, seg, image.size, chunk);
  } finally {
    if (!scratch || chunk.length > scratch.length) scratch = chunk;
  }
}

async function compareSegment(fh: TempHandle, seg: Segment, size: number, chunk: Buffer): Promise<void> {
  const { offset, data } = seg;
  for (let at = 0; at < data.length;) {
    const want = Math.min(VERIFY_CHUNK, data.length - at);
    const off = offset + at;
    const atEof = off + want === size;
    const { bytesRead } = await fh.read(chunk, 0, want + (atEof ? 1 : 0), off);
    if (bytesRead <= 0) throw errnoError('EIO', `read back ended at offset ${off} of ${size}`);
    const got = Math.min(bytesRead, want);
    if (chunk.compare(data, at, at + got, 0, got) !== 0) throw errnoError('EIO', `read back differs from the bytes written in [${off}, ${off + got})`);
    if (atEof && bytesRead > want) throw errnoError('EIO', `read back more than the ${size} bytes written`);
    at += got;
  }
}

/**
 * Temp files whose removal failed: a read-only filesystem refuses the unlink as it refused
 * the write. They are removed before this process's next write, once the filesystem takes
 * writes again (a restart's `sweepTempFiles` finds any this process could not).
 */
const pendingRemovals = new Set<string>();

/** Remove a file without letting a failure of the clean-up replace the error being reported. */
async function removeQuietly(file: string): Promise<void> {
  await fsp.unlink(file).then(
    () => pendingRemovals.delete(file),
    (e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? pendingRemovals.delete(file) : pendingRemovals.add(file)),
  );
}

/** Retry the removals that failed (see `pendingRemovals`); the paths still left. */
export async function retryPendingRemovals(): Promise<string[]> {
  for (const f of [...pendingRemovals]) await removeQuietly(f);
  return [...pendingRemovals];
}

/**
 * Write `buf` to a new temp file beside `target`, fsynced (and verified when asked), and
 * return its path. On any failure the temp file is gone and a `StorageError` about `target`
 * is thrown.
 */
async function writeTemp(target: string, image: SparseImage, opts: AtomicWriteOptions): Promise<string> {
  if (pendingRemovals.size) await retryPendingRemovals();
  const tmp = path.join(path.dirname(target), `${path.basename(target)}${TEMP_MARKER}${tempSuffix()}`);
  let raw: FileHandle;
  try {
    raw = await fsp.open(tmp, fsc.O_RDWR | fsc.O_CREAT | fsc.O_EXCL, opts.mode ?? 0o600);
  } catch (e) {
    throw storageError(target, 'open', e);
  }
  const fh: TempHandle = opts.wrapHandle ? opts.wrapHandle(raw) : raw;
  let step = 'write';
  try {
    for (const seg of image.segments) await writeAll(fh, seg);
    // Trailing holes (or an empty file): set the length (a store ending in data already has it).
    const last = image.segments[image.segments.length - 1];
    const written = last ? last.offset + last.data.length : 0;
    if (written !== image.size) await fh.truncate(image.size);
    await fh.chmod(opts.mode ?? 0o600);
    if (opts.uid !== undefined || opts.gid !== undefined) await fh.chown(opts.uid ?? -1, opts.gid ?? -1);
    opts.onStep?.('temp-written');
    step = 'sync';
    await fh.sync();
    opts.onStep?.('temp-synced');
    if (opts.verify) {
      step = 'verify';
      await verifyTemp(fh, image);
      opts.onStep?.('verified');
    }
    step = 'write';
    await fh.close();
  } catch (e) {
    await fh.close().catch(() => undefined);
    await removeQuietly(tmp);
    throw storageError(target, step, e);
  }
  return tmp;
}

/** The image of what a caller hands the writer (a sparse image is checked, not trusted). */
function toImage(data: Buffer | string | SparseImage, opts: AtomicWriteOptions): SparseImage {
  if (typeof data === 'string') return imageOf(Buffer.from(data, 'utf8'), opts.sparse ?? true);
  if (Buffer.isBuffer(data)) return imageOf(data, opts.sparse ?? true);
  checkSparseImage(data);
  return data;
}

/** fsync a directory so that a rename, link or new entry inside it is durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, fsc.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Write `data` to `target` all or nothing (temp, every byte, fsync, [verify], rename, fsync
 * dir). Rejects with a `StorageError`; the old file is then as it was.
 */
export async function writeFileAtomic(target: string, data: Buffer | string | SparseImage, opts: AtomicWriteOptions = {}): Promise<void> {
  const tmp = await writeTemp(target, toImage(data, opts), opts);
  try {
    await fsp.rename(tmp, target);
    opts.onStep?.('renamed');
  } catch (e) {
    await removeQuietly(tmp);
    throw storageError(target, 'rename', e);
  }
  try {
    await fsyncDir(path.dirname(target));
  } catch (e) {
    throw storageError(target, 'sync-dir', e);
  }
}

/**
 * Create `target` with `data` only if no file of that name exists (link(2) of a complete,
 * fsynced temp file: atomic on a local filesystem and on NFSv3+). Resolves false when the
 * name was taken; rejects with a `StorageError` otherwise.
 */
export async function createFileExclusive(target: string, data: Buffer | string, opts: AtomicWriteOptions = {}): Promise<boolean> {
  const tmp = await writeTemp(target, toImage(data, opts), opts);
  try {
    try {
      await fsp.link(tmp, target);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw storageError(target, 'link', e);
    }
    try {
      await fsyncDir(path.dirname(target));
    } catch (e) {
      throw storageError(target, 'sync-dir', e);
    }
    return true;
  } finally {
    await removeQuietly(tmp);
  }
}

/** Rename a whole file (same filesystem) and fsync the directories involved. */
export async function renameDurable(from: string, to: string): Promise<void> {
  try {
    await fsp.rename(from, to);
  } catch (e) {
    throw storageError(to, 'rename', e);
  }
  try {
    await fsyncDir(path.dirname(to));
    if (path.dirname(from) !== path.dirname(to)) await fsyncDir(path.dirname(from));
  } catch (e) {
    throw storageError(to, 'sync-dir', e);
  }
}

/**
 * `mkdir -p` whose new directories survive a crash: each one created is fsynced in its parent
 * (the deepest first, up to the parent of the first one created). An existing directory is fine.
 */
export async function mkdirDurable(dir: string, mode: number): Promise<void> {
  const full = path.resolve(dir);
  let first: string | undefined;
  try {
    first = await fsp.mkdir(full, { recursive: true, mode });
  } catch (e) {
    throw storageError(full, 'mkdir', e);
  }
  if (first === undefined) return;
  const top = path.dirname(path.resolve(first));
  try {
    for (let d = full; ; d = path.dirname(d)) {
      await fsyncDir(path.dirname(d));
      if (path.dirname(d) === top || path.dirname(d) === d) break;
    }
  } catch (e) {
    throw storageError(full, 'sync-dir', e);
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

/**
 * Remove a file and fsync its directory; a missing file is not an error. Returns whether it existed.
 * A directory removed between the two (another removal found it empty and took it away, as the
 * replica directory store's concurrent deletes do) took the file's entry with it: the nearest
 * directory that still exists is synced instead. `onStep('unlinked')` is awaited between the
 * two (a test seam, as `writeFileAtomic`'s).
 */
export async function unlinkDurable(target: string, opts: { onStep?: (step: 'unlinked') => unknown } = {}): Promise<boolean> {
  try {
    await fsp.unlink(target);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw storageError(target, 'unlink', e);
  }
  await opts.onStep?.('unlinked');
  try {
    await fsyncNearestDir(path.dirname(target));
  } catch (e) {
    throw storageError(target, 'sync-dir', e);
  }
  return true;
}

/** fsync `dir`, or when it is gone, the nearest of its parents that exists. */
async function fsyncNearestDir(dir: string): Promise<void> {
  for (let d = dir; ; d = path.dirname(d)) {
    try {
      await fsyncDir(d);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || path.dirname(d) === d) throw e;
    }
  }
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
