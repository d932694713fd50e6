/**
 * Small real filesystems for the disk-fault tests: a tmpfs of a given size mounted on a fresh
 * directory, filled to a chosen number of free bytes, remounted read-only and back, and
 * unmounted. Needs root (CAP_SYS_ADMIN); `requireRootFs` skips a suite with a printed reason
 * where that is missing, or fails it when `NUS_REQUIRE_ROOT_FS=1` (CI sets it).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tmpDir } from './firmwareFixture';

export const REQUIRE_ROOT_FS = 'NUS_REQUIRE_ROOT_FS';
const PAGE = 4096;

/** Why real mounts cannot be made here, or null when they can (tries one). */
export function rootFsUnavailable(): string | null {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'not running as root (mounting a tmpfs needs CAP_SYS_ADMIN)';
  const dir = tmpDir('nus-mnt-probe-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { stdio: 'pipe' });
    execFileSync('umount', [dir], { stdio: 'pipe' });
    return null;
  } catch (e) {
    return `cannot mount a tmpfs: ${String((e as { stderr?: Buffer }).stderr ?? (e as Error).message).trim()}`;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** In a mocha `before`: skip the suite (printing why) or, under `NUS_REQUIRE_ROOT_FS=1`, fail it. */
export function requireRootFs(ctx: Mocha.Context): void {
  const why = rootFsUnavailable();
  if (!why) return;
  if (process.env[REQUIRE_ROOT_FS] === '1') throw new Error(`${why}, and ${REQUIRE_ROOT_FS}=1 requires real filesystems`);
  console.log(`      skipped: ${why}`);
  ctx.skip();
}

export class Tmpfs {
  private fillers = 0;
  private constructor(
    readonly dir: string,
    readonly size: number,
  ) {}

  /** Mount a tmpfs of `size` bytes (a multiple of 4 KiB) on a new directory. */
  static mount(size: number, prefix = 'nus-tmpfs-'): Tmpfs {
    const dir = tmpDir(prefix);
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', dir], { stdio: 'pipe' });
    return new Tmpfs(dir, size);
  }

  /** Bytes a non-root writer could still allocate (tmpfs reserves nothing for root). */
  free(): number {
    const st = fs.statfsSync(this.dir);
    return st.bavail * st.bsize;
  }

  /**
   * Fill the filesystem until `leave` bytes (rounded down to whole pages) are free, with
   * filler files outside the directories under test. `leave = 0`: not one byte more fits.
   */
  fill(leave: number): void {
    const want = Math.floor(leave / PAGE) * PAGE;
    const file = path.join(this.dir, `filler-${this.fillers++}`);
    const fd = fs.openSync(file, 'w');
    const chunk = Buffer.alloc(64 * 1024, 0xa5);
    try {
      for (;;) {
        const room = this.free() - want;
        if (room <= 0) break;
        try {
          fs.writeSync(fd, chunk, 0, Math.min(room, chunk.length));
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw e;
        }
      }
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Remove every filler: the space is back. */
  unfill(): void {
    for (const n of fs.readdirSync(this.dir)) if (n.startsWith('filler-')) fs.rmSync(path.join(this.dir, n));
  }

  remount(mode: 'ro' | 'rw'): void {
    execFileSync('mount', ['-o', `remount,${mode}`, this.dir], { stdio: 'pipe' });
  }

  /** Unmount (lazily if busy) and remove the mount point; safe to call twice. */
  unmount(): void {
    if (!fs.existsSync(this.dir)) return;
    try {
      execFileSync('umount', [this.dir], { stdio: 'pipe' });
    } catch {
      try {
        execFileSync('umount', ['-l', this.dir], { stdio: 'pipe' });
      } catch {
        // not mounted any more
      }
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Names in `dir` (recursively) that the writer uses for temp files. */
export function tempFilesUnder(dir: string): string[] {
  const out: string[] = [];
  const visit = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) visit(p);
      else if (e.name.includes('.tmp-')) out.push(path.relative(dir, p));
    }
  };
  if (fs.existsSync(dir)) visit(dir);
  return out;
}
