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
