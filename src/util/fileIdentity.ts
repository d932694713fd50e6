/**
 * @module util/fileIdentity
 * When may something derived from a file's bytes (a digest, a cached copy) be reused without
 * reading the file again? While its stat identity (device, inode, size, mtime, ctime) is the
 * one it had when it was read, and only if that identity was already `SETTLED_MS` old at the
 * read: git's "racily clean" rule. A write lands in a timestamp tick, so a write in the same
 * tick as our read could otherwise hide behind an unchanged ctime; any later write changes
 * ctime, a replace changes the inode.
 */
import type { Stats } from 'node:fs';

export const SETTLED_MS = 2000;

export function statIdentity(st: Stats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
}

/** May what was read at `readAt` (ms since the epoch) from a file with stat `st` be reused later? */
export function settledAt(st: Stats, readAt: number): boolean {
  return st.ctimeMs < readAt - SETTLED_MS;
}

/**
 * Values derived from files, kept under the rule above, the `capacity` most recently used:
 * `get` answers only while the file's stat still has the identity the value was read at.
 */
export class StatCache<V> {
  private readonly entries = new Map<string, { id: string; value: V }>();
  constructor(private readonly capacity: number) {}

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
    if (size !== st.size || !settledAt(st, readAt)) return;
    this.entries.set(file, { id: statIdentity(st), value });
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value as string);
  }

  forget(file: string): void {
    this.entries.delete(file);
  }
}
