/**
 * @module util/fileIdentity
 * When may something derived from a file's bytes (a digest, a cached copy) be reused without
 * reading the file again? While its stat identity (device, inode, size, mtime, ctime) is the
 * one it had when it was read, and only if that identity was already a settle window old at
 * the read: git's "racily clean" rule. A write lands in a timestamp tick, so a write in the
 * same tick as our read could otherwise hide behind an unchanged ctime; any later write changes
 * ctime, a replace changes the inode.
 *
 * The window is the filesystem's timestamp tick with a margin. Linux's local filesystems stamp
 * with the kernel's clock, which moves by one scheduler tick (1 to 10 ms) or finer: 50 ms
 * there (`FINE_SETTLED_MS`). Any other filesystem (NFS and FUSE stamp with another machine's
 * or process's clock, FAT by 2 s) gets `SETTLED_MS`.
 */
import { statfsSync, type Stats } from 'node:fs';

export const SETTLED_MS = 2000;
export const FINE_SETTLED_MS = 50;

/** statfs(2) magic numbers of the filesystems that stamp with the kernel's clock: ext2/3/4, XFS, Btrfs, tmpfs, F2FS. */
const FINE_STAMPING = new Set([0xef53, 0x58465342, 0x9123683e, 0x01021994, 0xf2f52010]);

/** The settle window of the filesystem `dir` is on (`SETTLED_MS` when it cannot be told). */
export function settleWindowOf(dir: string): number {
  try {
    return FINE_STAMPING.has(Number(statfsSync(dir).type)) ? FINE_SETTLED_MS : SETTLED_MS;
  } catch {
    return SETTLED_MS;
  }
}

export function statIdentity(st: Stats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
}

/** May what was read at `readAt` (ms since the epoch) from a file with stat `st` be reused later? */
export function settledAt(st: Stats, readAt: number, windowMs = SETTLED_MS): boolean {
  return st.ctimeMs < readAt - windowMs;
}

/**
 * Values derived from files, kept under the rule above, the `capacity` most recently used:
 * `get` answers only while the file's stat still has the identity the value was read at.
 */
export class StatCache<V> {
  private readonly entries = new Map<string, { id: string; value: V }>();
  /** @param settledMs the settle window of the files' filesystem (`settleWindowOf`). */
  constructor(
    private readonly capacity: number,
    readonly settledMs = SETTLED_MS,
  ) {}

  /** The value kept for `file`, if `st` (a fresh stat of it) still has its identity. */
  get(file: string, st: Stats): V | undefined {
    const hit = this.entries.get(file);
    if (!hit || hit.id !== statIdentity(st)) return undefined;
    this.entries.delete(file);
    this.entries.set(file, hit);
    return hit.value;
  }

  /**
   * Keep `value`, derived from `size` bytes of `file` read at `readAt` after the stat `st`;
   * kept only when it covered the whole file and the file had settled, else `file` is forgotten.
   */
  remember(file: string, st: Stats, readAt: number, size: number, value: V): void {
    this.entries.delete(file);
    if (size !== st.size || !settledAt(st, readAt, this.settledMs)) return;
    this.entries.set(file, { id: statIdentity(st), value });
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value as string);
  }

  forget(file: string): void {
    this.entries.delete(file);
  }
}
