/**
 * @module nvram/store
 * Per-instance UEFI variable stores on disk. The sidecar creates them itself (not libvirt),
 * before the guest starts (libvirt never has to), as an atomic, sparse copy of the selected template. Every
 * path goes through `nvramPathFor`/`assertInside`, so nothing outside `[nvram] nvram_dir`
 * is ever created or deleted here. Stashes and staged copies for migrations live in the
 * same directory under reserved names (`.stash-*`, `.staged-*`), so renames stay atomic.
 *
 * Does not know about domains or libvirt; the driver decides when to create, keep or drop.
 */
import { promises as fsp, constants as fsc, statSync, type Stats } from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import {
  writeFileAtomic,
  unlinkDurable,
  sweepTempFiles,
  allocatedBytes,
  mkdirDurable,
  renameDurable,
  dataRuns,
  type AtomicWriteOptions,
  type SparseImage,
} from '../util/atomicFile';
import { nvramPathFor, assertInside, validateDomainName } from './paths';
import { InternalError, InvalidInput } from '../errors';
import { StatCache, settleWindowOf, statIdentity } from '../util/fileIdentity';
import type { Metrics } from '../metrics';

/** Templates kept in memory (a host has a handful: one per firmware build and variant). */
const TEMPLATE_CACHE_ENTRIES = 32;
/** Variable stores whose digest is remembered (most recently used). */
const DIGEST_CACHE_ENTRIES = 4096;

export interface NvramInfo {
  path: string;
  size: number;
  sha256: string;
  /** Bytes allocated on disk (holes excluded). */
  allocated: number;
}

export interface NvramStoreOptions {
  dir: string;
  mode: number;
  uid?: number;
  gid?: number;
  /** Counts the bytes written (`nvram_bytes_written_total`). */
  metrics?: Metrics;
}

export function sha256(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

export class NvramStore {
  readonly dir: string;
  private readonly mode: number;
  private readonly uid?: number;
  private readonly gid?: number;
  private readonly metrics?: Metrics;
  /** template path → its bytes and digest. */
  private readonly templates = new StatCache<{ data: Buffer; sha256: string }>(TEMPLATE_CACHE_ENTRIES);
  /** store path → its info as last hashed (see `cachedInfo`); the directory's settle window from `init`. */
  private digests = new StatCache<NvramInfo>(DIGEST_CACHE_ENTRIES);
  /** store path → the background hash `warmDigest` has pending for it, and the identity it was asked for. */
  private readonly warming = new Map<string, { stamp: string; done: Promise<NvramInfo | null> }>();

  constructor(opts: NvramStoreOptions) {
    this.dir = path.resolve(opts.dir);
    this.mode = opts.mode;
    this.uid = opts.uid;
    this.gid = opts.gid;
    this.metrics = opts.metrics;
  }

  /** Create the directory 0755 when missing (libvirt does not, and QEMU needs to traverse it), and sweep crash leftovers. */
  async init(): Promise<void> {
    await mkdirDurable(this.dir, 0o755);
    await fsp.access(this.dir, fsc.W_OK);
    await sweepTempFiles(this.dir);
    this.digests = new StatCache<NvramInfo>(DIGEST_CACHE_ENTRIES, settleWindowOf(this.dir));
  }

  pathFor(name: string): string {
    return nvramPathFor(this.dir, name);
  }

  /** Reserved sibling names for migration stashes / staged copies, keyed by an operation id. */
  auxPathFor(kind: 'stash' | 'staged', name: string, key: string): string {
    validateDomainName(name);
    if (!/^[A-Za-z0-9_.:-]{1,128}$/.test(key)) throw new InvalidInput('migration.uuid', `'${key}' is not a valid key`);
    return assertInside(this.dir, path.join(this.dir, `.${kind}-${key}-${name}_VARS.fd`), 'nvram path');
  }

  /** Ensure an absolute path handed to us (e.g. from a record) is inside the directory. */
  checkPath(p: string): string {
    return assertInside(this.dir, p, 'nvram path');
  }

  async exists(p: string): Promise<boolean> {
    try {
      await fsp.access(this.checkPath(p));
      return true;
    } catch {
      return false;
    }
  }

  /**
   * A template's bytes and digest. Templates are read-only package files, copied on every
   * spawn, rebuild and reset: they are kept in memory and read again only when their stat
   * identity changes (a package upgrade replaces the file), under util/fileIdentity's rule.
   */
  private async template(file: string): Promise<{ data: Buffer; sha256: string }> {
    try {
      const st = statSync(file);
      const hit = this.templates.get(file, st);
      if (hit) return hit;
      const readAt = Date.now();
      const data = await fsp.readFile(file);
      const t = { data, sha256: sha256(data) };
      this.templates.remember(file, st, readAt, data.length, t);
      return t;
    } catch (e) {
      throw new InternalError(`cannot read NVRAM template ${file}: ${(e as Error).message}`, { cause: e });
    }
  }

  /**
   * Copy `template` to `target` atomically and sparsely. Returns the new file's info: size
   * and digest are the template's (the bytes written), allocation is the new file's.
   */
  async createFromTemplate(target: string, template: string): Promise<NvramInfo> {
    const full = this.checkPath(target);
    const t = await this.template(template);
    await this.writeBytes(full, t.data);
    return { path: full, size: t.data.length, sha256: t.sha256, allocated: statSync(full).blocks * 512 };
  }

  /**
   * Replace `target` with `data` all or nothing (util/atomicFile: every byte, fsync, read back
   * and compared, rename, fsync dir). Rejects with a `StorageError` (the old file unchanged).
   */
  async writeBytes(target: string, data: Buffer, onStep?: AtomicWriteOptions['onStep']): Promise<void> {
    this.checkPath(target);
    await writeFileAtomic(target, data, { mode: this.mode, uid: this.uid, gid: this.gid, sparse: true, verify: true, onStep });
    this.metrics?.nvramBytesWritten.inc(data.length);
  }

  /**
   * Replace `target` with a sparse image (its size and its data segments; every other byte
   * zero), all or nothing as `writeBytes`. A store received as one is never held whole.
   */
  async writeImage(target: string, image: SparseImage): Promise<void> {
    this.checkPath(target);
    await writeFileAtomic(target, image, { mode: this.mode, uid: this.uid, gid: this.gid, verify: true });
    this.metrics?.nvramBytesWritten.inc(image.size);
  }

  /**
   * A store as a sparse image with its digest, in one pass through one descriptor (pieces of
   * HASH_PIECE bytes; only the blocks that are not all zero are copied out): a 64 MiB AAVMF
   * store, almost all zeros, costs a read of the page cache instead of a fresh 64 MiB buffer.
   * The digest is the one `cachedInfo` keeps while the file keeps its identity through the read
   * (else hashed in the same pass, and kept under the rule of `readHashed`). Null when the file
   * does not exist.
   */
  async readImage(p: string): Promise<{ image: SparseImage; sha256: string } | null> {
    const full = this.checkPath(p);
    const st = this.statOrForget(full);
    if (!st) return null;
    const known = this.digests.get(full, st);
    const readAt = Date.now();
    const read = await readSparse(full, !known);
    if (!read) return null;
    const same = statIdentityOf(full) === statIdentity(st);
    if (known) {
      if (same && known.size === read.image.size) return { image: read.image, sha256: known.sha256 };
      // Changed under the read: once more, hashed in the same pass (the kept digest is gone).
      this.digests.forget(full);
      return this.readImage(p);
    }
    const sha256 = read.sha256 as string;
    if (same) this.digests.remember(full, st, readAt, read.image.size, { path: full, size: read.image.size, sha256, allocated: st.blocks * 512 });
    else this.digests.forget(full);
    return { image: read.image, sha256 };
  }

  /**
   * Hash a store in the background once it has settled (the directory's settle window after its
   * last change), so that a later `cachedInfo` or `readImage` of the unchanged file reads or
   * hashes nothing on the path a caller waits on: a live migration's source after the
   * destination's pre-check, its staged copy on the destination. Resolves with the info (null
   * when the file is gone or cannot be read: only a missed shortcut); never rejects.
   */
  warmDigest(p: string): Promise<NvramInfo | null> {
    const full = this.checkPath(p);
    const st = this.statOrForget(full);
    if (!st) return Promise.resolve(null);
    const hit = this.digests.get(full, st);
    if (hit) return Promise.resolve({ ...hit, allocated: st.blocks * 512 });
    const stamp = statIdentity(st);
    const pending = this.warming.get(full);
    if (pending?.stamp === stamp) return pending.done;
    const wait = Math.max(0, st.ctimeMs + this.digests.settledMs + 1 - Date.now());
    const done = new Promise<NvramInfo | null>((resolve) => {
      setTimeout(() => void this.cachedInfo(full).then(resolve, () => resolve(null)), wait).unref();
    });
    const entry = { stamp, done };
    this.warming.set(full, entry);
    void done.then(() => {
      if (this.warming.get(full) === entry) this.warming.delete(full);
    });
    return done;
  }

  /** Resolves once no background hash `warmDigest` started is pending (a quiet point, as the replica service's `idle`). */
  async idle(): Promise<void> {
    while (this.warming.size) await Promise.all([...this.warming.values()].map((w) => w.done));
  }

  /** The store's stat identity now (util/fileIdentity), or null when it does not exist: "has it changed since?" */
  stamp(p: string): string | null {
    return statIdentityOf(this.checkPath(p));
  }

  /**
   * A store piece by piece, as `readImage` reads it (one descriptor, one reused buffer of
   * HASH_PIECE bytes), each piece handed to `onPiece` and valid until the promise it returns
   * settled; size and digest, the digest kept under the rule of `readHashed`. For a consumer
   * that needs every byte once and never the store whole (a replica generation: replica/format's
   * packer). Null when the file does not exist; a rejection of `onPiece` rejects the read.
   */
  async readPieces(p: string, onPiece: (piece: Buffer) => void | Promise<void>): Promise<{ size: number; sha256: string } | null> {
    const full = this.checkPath(p);
    const st = this.statOrForget(full);
    if (!st) return null;
    const readAt = Date.now();
    const hash = createHash('sha256');
    const size = await eachPiece(full, (piece) => {
      hash.update(piece);
      return onPiece(piece);
    });
    if (size === null) return null;
    const sha256 = hash.digest('hex');
    if (statIdentityOf(full) === statIdentity(st)) this.digests.remember(full, st, readAt, size, { path: full, size, sha256, allocated: st.blocks * 512 });
    else this.digests.forget(full);
    return { size, sha256 };
  }

  async read(p: string): Promise<Buffer> {
    return fsp.readFile(this.checkPath(p));
  }

  /**
   * The file's stat, or null (and its kept digest dropped) when it does not exist. One local
   * stat, synchronously: a thread-pool round trip costs more than the call.
   */
  private statOrForget(full: string, cache: { forget(p: string): void } = this.digests): Stats | null {
    try {
      return statSync(full);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      cache.forget(full);
      return null;
    }
  }

  /**
   * A store's bytes with their digest, in one read: the digest is the one `cachedInfo` keeps
   * while the file has the stat identity it was hashed at (else computed here, and kept under
   * the same rule, so a later `cachedInfo` of the unchanged file reads nothing). Null when the
   * file does not exist.
   */
  async readHashed(p: string): Promise<{ data: Buffer; sha256: string } | null> {
    const full = this.checkPath(p);
    const st = this.statOrForget(full);
    if (!st) return null;
    const readAt = Date.now();
    const data = await fsp.readFile(full).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return null;
      throw e;
    });
    if (!data) return null;
    const hit = this.digests.get(full, st);
    // The file may have changed between the stat and the read: a digest is reused or kept only
    // when the stat after the read still shows the identity it had before.
    const same = statIdentityOf(full) === statIdentity(st);
    if (hit && same && hit.size === data.length) return { data, sha256: hit.sha256 };
    const digest = sha256(data);
    if (same) this.digests.remember(full, st, readAt, data.length, { path: full, size: data.length, sha256: digest, allocated: st.blocks * 512 });
    else this.digests.forget(full);
    return { data, sha256: digest };
  }

  /**
   * Size, digest and allocation, or null when the file does not exist. The file is hashed
   * through one open descriptor in pieces of HASH_PIECE bytes, never held whole: a 64 MiB
   * AAVMF store read whole costs a fresh 64 MiB buffer (page faults, GC) that is 3-5 times
   * the hashing itself.
   */
  async info(p: string): Promise<NvramInfo | null> {
    const full = this.checkPath(p);
    const hashed = await hashFile(full);
    if (!hashed) return null;
    return { path: full, size: hashed.size, sha256: hashed.sha256, allocated: await allocatedBytes(full) };
  }

  /**
   * `info` without re-reading and re-hashing an unchanged store on every view: the digest is
   * reused under the rule of util/fileIdentity (same stat identity, settled when hashed).
   * Allocation always comes from the fresh stat.
   */
  async cachedInfo(p: string): Promise<NvramInfo | null> {
    const full = this.checkPath(p);
    const st = this.statOrForget(full);
    if (!st) return null;
    const hit = this.digests.get(full, st);
    if (hit) return { ...hit, allocated: st.blocks * 512 };
    const readAt = Date.now();
    const info = await this.info(full);
    if (info) this.digests.remember(full, st, readAt, info.size, { ...info });
    else this.digests.forget(full);
    return info;
  }

  /**
   * `derive(bytes)` of a store, reused from `cache` while the file keeps the stat identity it
   * had when read (util/fileIdentity's rule, as `cachedInfo`); null when the file is missing.
   * The caller owns the cache (one per kind of derived value).
   */
  async cachedDerived<T>(p: string, cache: StatCache<T>, derive: (data: Buffer) => T): Promise<T | null> {
    const full = this.checkPath(p);
    const st = this.statOrForget(full, cache);
    if (!st) return null;
    const hit = cache.get(full, st);
    if (hit !== undefined) return hit;
    const readAt = Date.now();
    const data = await fsp.readFile(full).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return null;
      throw e;
    });
    if (!data) return null;
    const value = derive(data);
    cache.remember(full, st, readAt, data.length, value);
    return value;
  }

  /** Size of a store in the NVRAM directory, or null when it does not exist. */
  async sizeOf(p: string): Promise<number | null> {
    const st = await fsp.stat(this.checkPath(p)).catch(() => null);
    return st ? st.size : null;
  }

  /** Copy one store to another path in the directory, atomically (used for stashes). */
  async copy(from: string, to: string): Promise<NvramInfo> {
    const data = await this.read(from);
    await this.writeBytes(to, data);
    return (await this.info(to)) as NvramInfo;
  }

  /** Atomic rename within the directory (staged → live), fsyncing the directory. */
  async rename(from: string, to: string): Promise<void> {
    await renameDurable(this.checkPath(from), this.checkPath(to));
  }

  /** Delete a store; a missing file is fine. Returns whether it existed. */
  async remove(p: string): Promise<boolean> {
    return unlinkDurable(this.checkPath(p));
  }
}

/** The piece `eachPiece` reads at a time (one buffer, reused). */
const HASH_PIECE = 1024 * 1024;

/**
 * Read a file through one descriptor (the inode it opened: an atomic rename over the path
 * during the read is not mixed in), piece by piece into one reused buffer of HASH_PIECE
 * bytes, handing each piece and its offset to `onPiece` (the piece is valid during the call
 * only, or until the promise `onPiece` returns settled: the next piece is read after it). The
 * file's size, or null when it does not exist.
 */
async function eachPiece(full: string, onPiece: (piece: Buffer, offset: number) => void | Promise<void>): Promise<number | null> {
  let fh: Awaited<ReturnType<typeof fsp.open>>;
  try {
    fh = await fsp.open(full, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    const piece = Buffer.allocUnsafe(HASH_PIECE);
    let size = 0;
    for (;;) {
      const { bytesRead } = await fh.read(piece, 0, piece.length, size);
      if (bytesRead <= 0) return size;
      const pending = onPiece(piece.subarray(0, bytesRead), size);
      if (pending) await pending;
      size += bytesRead;
    }
  } finally {
    await fh.close();
  }
}

/** Size and sha256 of a file, read piece by piece; null when it does not exist. */
export async function hashFile(full: string): Promise<{ size: number; sha256: string } | null> {
  const hash = createHash('sha256');
  const size = await eachPiece(full, (piece) => {
    hash.update(piece);
  });
  return size === null ? null : { size, sha256: hash.digest('hex') };
}

/**
 * A file as a sparse image (its non-zero blocks copied out) and, when `hash`, its digest, read
 * piece by piece; null when missing.
 */
async function readSparse(full: string, hash: boolean): Promise<{ image: SparseImage; sha256: string | null } | null> {
  const h = hash ? createHash('sha256') : null;
  const segments: SparseImage['segments'] = [];
  const size = await eachPiece(full, (piece, offset) => {
    h?.update(piece);
    for (const [start, end] of dataRuns(piece)) segments.push({ offset: offset + start, data: Buffer.from(piece.subarray(start, end)) });
  });
  return size === null ? null : { image: { size, segments }, sha256: h ? h.digest('hex') : null };
}

/** The stat identity of a file now, or null when it cannot be stat'ed. */
function statIdentityOf(file: string): string | null {
  try {
    return statIdentity(statSync(file));
  } catch {
    return null;
  }
}

/** Resolve a user or group name (or numeric id) through /etc/passwd or /etc/group. */
export async function resolveId(kind: 'user' | 'group', value: string): Promise<number | undefined> {
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value);
  const file = kind === 'user' ? '/etc/passwd' : '/etc/group';
  const text = await fsp.readFile(file, 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f[0] === value && f[2] !== undefined) return Number(f[2]);
  }
  throw new InternalError(`[nvram] ${kind === 'user' ? 'owner' : 'group'}: ${kind} '${value}' does not exist on this host`);
}
