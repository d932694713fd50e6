import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { FileHandle } from 'node:fs/promises';
import {
  writeFileAtomic,
  sweepTempFiles,
  allocatedBytes,
  createFileExclusive,
  mkdirDurable,
  retryPendingRemovals,
  unlinkDurable,
  type TempHandle,
} from '../../../src/util/atomicFile';
import { StorageError } from '../../../src/errors';
import { requireRootFs, tempFilesUnder, Tmpfs } from '../../support/tmpfs';

describe('util/atomicFile', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nus-atomic-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('replaces the target with the new content and mode', async () => {
    const t = path.join(dir, 'f');
    fs.writeFileSync(t, 'old');
    await writeFileAtomic(t, Buffer.from('new content'), { mode: 0o640 });
    assert.equal(fs.readFileSync(t, 'utf8'), 'new content');
    assert.equal(fs.statSync(t).mode & 0o777, 0o640);
    assert.deepEqual(fs.readdirSync(dir), ['f']);
  });

  for (const step of ['temp-written', 'temp-synced'] as const) {
    it(`leaves the old content when the write dies at ${step}`, async () => {
      const t = path.join(dir, 'f');
      fs.writeFileSync(t, 'old');
      await assert.rejects(
        writeFileAtomic(t, Buffer.from('new'), {
          onStep: (s) => {
            if (s === step) throw new Error('crash');
          },
        }),
        /crash/,
      );
      assert.equal(fs.readFileSync(t, 'utf8'), 'old');
      assert.deepEqual(fs.readdirSync(dir), ['f']);
    });
  }

  it('sweeps temp files a crash left behind and nothing else', async () => {
    fs.writeFileSync(path.join(dir, 'a_VARS.fd.tmp-abc123'), 'x');
    fs.writeFileSync(path.join(dir, 'keep_VARS.fd'), 'y');
    assert.deepEqual(await sweepTempFiles(dir), ['a_VARS.fd.tmp-abc123']);
    assert.deepEqual(fs.readdirSync(dir), ['keep_VARS.fd']);
  });

  it('writes zero blocks as holes with identical content', async () => {
    const size = 8 * 1024 * 1024;
    const data = Buffer.alloc(size);
    data.write('DATA', 0);
    data.write('TAIL', size - 10);
    const t = path.join(dir, 'sparse');
    await writeFileAtomic(t, data);
    assert.ok(fs.readFileSync(t).equals(data));
    const alloc = await allocatedBytes(t);
    assert.ok(alloc <= 64 * 1024, `allocated ${alloc}`);
  });

  it('finds data inside otherwise-zero 1 MiB windows, across a window edge and in a partial last block', async () => {
    const size = 3 * 1024 * 1024 + 100;
    const data = Buffer.alloc(size);
    data.write('MID', 1024 * 1024 + 5000);
    data.write('EDGE', 2 * 1024 * 1024 - 2); // straddles the second window's end
    data.write('END', size - 3);
    const t = path.join(dir, 'windows');
    await writeFileAtomic(t, data);
    assert.ok(fs.readFileSync(t).equals(data));
    assert.ok((await allocatedBytes(t)) <= 64 * 1024, 'zero windows stay holes');
  });

  it('writes a sparse image: its segments at their offsets, holes elsewhere, the size it says; refuses segments out of order', async () => {
    const t = path.join(dir, 'image');
    const image = {
      size: 5 * 1024 * 1024,
      segments: [
        { offset: 4096, data: Buffer.from('first') },
        { offset: 4101, data: Buffer.from('-adjacent') },
        { offset: 4 * 1024 * 1024, data: Buffer.alloc(8192, 0x5a) },
      ],
    };
    await writeFileAtomic(t, image, { verify: true });
    const want = Buffer.alloc(image.size);
    for (const s of image.segments) s.data.copy(want, s.offset);
    assert.ok(fs.readFileSync(t).equals(want));
    assert.ok((await allocatedBytes(t)) <= 64 * 1024, 'the gaps stay holes');
    const before = fs.readFileSync(t);
    const overlapping = {
      size: 8192,
      segments: [
        { offset: 100, data: Buffer.alloc(10, 1) },
        { offset: 105, data: Buffer.alloc(10, 2) },
      ],
    };
    await assert.rejects(writeFileAtomic(t, overlapping), /out of order/);
    await assert.rejects(writeFileAtomic(t, { size: 10, segments: [{ offset: 5, data: Buffer.alloc(10, 1) }] }), /beyond 10 bytes/);
    assert.ok(fs.readFileSync(t).equals(before), 'the old file as it was');
  });

  it('keeps 0xFF-filled content dense and identical', async () => {
    const data = Buffer.alloc(540_672, 0xff);
    const t = path.join(dir, 'dense');
    await writeFileAtomic(t, data);
    assert.ok(fs.readFileSync(t).equals(data));
    assert.ok((await allocatedBytes(t)) >= data.length);
  });
});

describe('util/atomicFile: all or nothing', () => {
  let dir: string;
  let target: string;
  const OLD = Buffer.alloc(540_672, 0xff).fill('old-store', 0x100);
  const NEW = Buffer.alloc(540_672, 0xff).fill('new-store', 0x100);
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nus-atomic-'));
    target = path.join(dir, 'instance-00000001_VARS.fd');
    fs.writeFileSync(target, OLD);
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** A handle whose writes take at most `max` bytes each, and say so (as write(2) on a nearly full disk). */
  const shortWrites =
    (max: number, calls: number[] = []) =>
    (fh: FileHandle): TempHandle =>
      Object.assign(Object.create(fh) as FileHandle, {
        write: (buf: Buffer, off: number, len: number, pos: number) => {
          calls.push(len);
          return fh.write(buf, off, Math.min(len, max), pos);
        },
      });

  const failing = (what: 'write' | 'sync', code: string, after = 0) => {
    let n = 0;
    return (fh: FileHandle): TempHandle =>
      Object.assign(Object.create(fh) as FileHandle, {
        [what]: (...args: unknown[]) => {
          if (n++ >= after) return Promise.reject(Object.assign(new Error(`${code}: simulated`), { code }));
          // Writes before the failure are short ones, as on a filling disk.
          if (what === 'write') args[2] = Math.min(args[2] as number, 100_000);
          return (fh[what] as (...a: unknown[]) => Promise<unknown>).apply(fh, args);
        },
      });
  };

  function assertUntouched() {
    assert.ok(fs.readFileSync(target).equals(OLD), 'the old file is byte-identical');
    assert.deepEqual(fs.readdirSync(dir), [path.basename(target)], 'no temp file left');
  }

  it('continues short writes until every byte is written, sparse and dense', async () => {
    for (const sparse of [true, false]) {
      const calls: number[] = [];
      await writeFileAtomic(target, NEW, { sparse, wrapHandle: shortWrites(100_000, calls) });
      assert.ok(fs.readFileSync(target).equals(NEW), `content (sparse ${sparse})`);
      assert.ok(calls.length >= 6, `the writer asked again after short writes: ${calls.join(',')}`);
    }
  });

  it('a write that takes nothing is ENOSPC: StorageError naming the path, old file kept, temp removed', async () => {
    const none = (fh: FileHandle): TempHandle =>
      Object.assign(Object.create(fh) as FileHandle, { write: () => Promise.resolve({ bytesWritten: 0, buffer: NEW }) });
    const e = await writeFileAtomic(target, NEW, { wrapHandle: none }).catch((x: unknown) => x);
    assert.ok(e instanceof StorageError, String(e));
    assert.deepEqual([e.type, e.code, e.errno, e.step, e.path], ['StorageError', 507, 'ENOSPC', 'write', target]);
    assert.match(e.message, /^Storage error: cannot write .*instance-00000001_VARS\.fd: no space left on device \[ENOSPC\]/);
    assertUntouched();
  });

  it('a temp file it could not remove (the filesystem refused the unlink too) is removed before the next write', async () => {
    // The failing write puts a non-empty directory where its temp file was, so that the clean-up's
    // unlink fails (EISDIR/EPERM) as a read-only filesystem's would; the file is put back after.
    let tmp = '';
    const blocking = (fh: FileHandle): TempHandle =>
      Object.assign(Object.create(fh) as FileHandle, {
        write: () => {
          tmp = fs
            .readdirSync(dir)
            .map((n) => path.join(dir, n))
            .find((f) => f.includes('.tmp-'))!;
          fs.renameSync(tmp, `${tmp}.aside`);
          fs.mkdirSync(tmp);
          fs.writeFileSync(path.join(tmp, 'x'), '');
          return Promise.reject(Object.assign(new Error('EROFS'), { code: 'EROFS' }));
        },
      });
    const e = await writeFileAtomic(target, NEW, { wrapHandle: blocking }).catch((x: unknown) => x);
    assert.ok(e instanceof StorageError && e.errno === 'EROFS', String(e));
    fs.rmSync(tmp, { recursive: true });
    fs.renameSync(`${tmp}.aside`, tmp);
    assert.ok(fs.existsSync(tmp), 'the temp file is still there');
    await writeFileAtomic(path.join(dir, 'other.json'), '{}');
    assert.equal(fs.existsSync(tmp), false, 'removed before the next write');
    assert.deepEqual(await retryPendingRemovals(), []);
    fs.unlinkSync(path.join(dir, 'other.json'));
    assertUntouched();
  });

  const FAULTS: [string, 'write' | 'sync', string, number, RegExp][] = [
    ['ENOSPC on the second write', 'write', 'ENOSPC', 1, /cannot write .*no space left on device \[ENOSPC\]/],
    ['EDQUOT on a write', 'write', 'EDQUOT', 0, /cannot write .*disk quota exceeded \[EDQUOT\]/],
    ['EIO from fsync', 'sync', 'EIO', 0, /cannot flush .*input\/output error \[EIO\]/],
    ['EROFS from fsync', 'sync', 'EROFS', 0, /cannot flush .*read-only file system \[EROFS\]/],
  ];
  for (const [name, what, code, after, message] of FAULTS) {
    it(`${name}: StorageError ${code}, old file byte-identical, temp file removed`, async () => {
      const e = await writeFileAtomic(target, NEW, { sparse: false, wrapHandle: failing(what, code, after) }).catch((x: unknown) => x);
      assert.ok(e instanceof StorageError, String(e));
      assert.equal(e.errno, code);
      assert.match(e.message, message);
      assertUntouched();
    });
  }

  it('verification catches a handle that claims bytes it did not write; without it the lie would be renamed in', async () => {
    // A filesystem that acknowledges a write it dropped (the case read-back exists for).
    const liar = (fh: FileHandle): TempHandle =>
      Object.assign(Object.create(fh) as FileHandle, {
        write: async (buf: Buffer, off: number, len: number, pos: number) => {
          const r = await fh.write(buf, off, Math.min(len, 4096), pos);
          return { ...r, bytesWritten: len };
        },
      });
    const e = await writeFileAtomic(target, NEW, { sparse: false, verify: true, wrapHandle: liar }).catch((x: unknown) => x);
    assert.ok(e instanceof StorageError, String(e));
    assert.deepEqual([e.step, e.errno], ['verify', 'EIO']);
    assertUntouched();
    await writeFileAtomic(target, NEW, { sparse: false, verify: false, wrapHandle: liar });
    assert.ok(!fs.readFileSync(target).equals(NEW), 'unverified, the torn file replaced the old one');
  });

  it('verifies sparse files too (data runs read back, size checked) and passes good writes', async () => {
    const data = Buffer.alloc(1024 * 1024);
    data.write('HEAD', 0);
    data.write('TAIL', data.length - 8);
    await writeFileAtomic(target, data, { verify: true });
    assert.ok(fs.readFileSync(target).equals(data));
  });

  it('a missing directory is a StorageError at open naming the path', async () => {
    const e = await writeFileAtomic(path.join(dir, 'nope', 'f'), 'x').catch((x: unknown) => x);
    assert.ok(e instanceof StorageError, String(e));
    assert.deepEqual([e.step, e.errno], ['open', 'ENOENT']);
    assert.match(e.message, /nope\/f: no such file or directory \[ENOENT\]/);
  });

  it('createFileExclusive: true for a new name, false for a taken one (content kept), no temp file either way', async () => {
    const claim = path.join(dir, 'x.claim');
    assert.equal(await createFileExclusive(claim, 'first'), true);
    assert.equal(await createFileExclusive(claim, 'second'), false);
    assert.equal(fs.readFileSync(claim, 'utf8'), 'first');
    assert.deepEqual(fs.readdirSync(dir).sort(), [path.basename(target), 'x.claim'].sort());
  });

  it('mkdirDurable creates every missing level and accepts an existing directory', async () => {
    const deep = path.join(dir, 'a', 'b', 'c');
    await mkdirDurable(deep, 0o700);
    assert.ok(fs.statSync(deep).isDirectory());
    assert.equal(fs.statSync(path.join(dir, 'a')).mode & 0o777, 0o700);
    await mkdirDurable(deep, 0o700);
    const e = await mkdirDurable(path.join(target, 'sub'), 0o700).catch((x: unknown) => x);
    assert.ok(e instanceof StorageError && e.errno === 'ENOTDIR', String(e));
  });

  it('unlinkDurable: a folder another removal took away after the unlink is not a failure (its parent is synced)', async () => {
    const sub = path.join(dir, 'a', 'b');
    fs.mkdirSync(sub, { recursive: true });
    const f = path.join(sub, 'f');
    fs.writeFileSync(f, 'x');
    const steps: string[] = [];
    const existed = await unlinkDurable(f, {
      onStep: (s) => {
        steps.push(s);
        fs.rmdirSync(sub);
        fs.rmdirSync(path.dirname(sub));
      },
    });
    assert.equal(existed, true);
    assert.deepEqual(steps, ['unlinked']);
    assert.ok(!fs.existsSync(path.join(dir, 'a')));
    assert.equal(await unlinkDurable(f), false, 'a missing file (and folder) is not an error');
  });
});

describe('util/atomicFile on a real, nearly full tmpfs', function () {
  this.timeout(30000);
  let fsys: Tmpfs | undefined;
  before(function () {
    requireRootFs(this);
  });
  afterEach(() => {
    fsys?.unmount();
    fsys = undefined;
  });

  it('a 540,672-byte store over one with 96 KiB free: ENOSPC, the old store byte-identical, no temp; with space back it succeeds', async () => {
    fsys = Tmpfs.mount(2 * 1024 * 1024);
    const target = path.join(fsys.dir, 'instance-00000001_VARS.fd');
    const old = Buffer.alloc(540_672, 0xff).fill('old', 0x100);
    const next = Buffer.alloc(540_672, 0xff).fill('new', 0x100);
    fs.writeFileSync(target, old);
    fsys.fill(96 * 1024);
    assert.ok(fsys.free() >= 90 * 1024 && fsys.free() <= 96 * 1024, `free ${fsys.free()}`);
    // write(2) takes the first 96 KiB (a short write), then answers ENOSPC.
    const e = await writeFileAtomic(target, next, { verify: true }).catch((x: unknown) => x);
    assert.ok(e instanceof StorageError, String(e));
    assert.deepEqual([e.errno, e.step, e.path], ['ENOSPC', 'write', target]);
    assert.ok(fs.readFileSync(target).equals(old), 'old store byte-identical');
    assert.deepEqual(tempFilesUnder(fsys.dir), []);
    fsys.unfill();
    await writeFileAtomic(target, next, { verify: true });
    assert.ok(fs.readFileSync(target).equals(next));
  });

  it('a short write that the kernel reports is continued (the first write stops at the free space, the next one gets ENOSPC)', async () => {
    fsys = Tmpfs.mount(256 * 1024);
    const target = path.join(fsys.dir, 'state.json');
    fsys.fill(64 * 1024);
    const calls: number[] = [];
    const seen = (fh: FileHandle): TempHandle =>
      Object.assign(Object.create(fh) as FileHandle, {
        write: async (buf: Buffer, off: number, len: number, pos: number) => {
          const r = await fh.write(buf, off, len, pos);
          calls.push(r.bytesWritten);
          return r;
        },
      });
    const e = await writeFileAtomic(target, Buffer.alloc(128 * 1024, 1), { wrapHandle: seen }).catch((x: unknown) => x);
    assert.ok(e instanceof StorageError && e.errno === 'ENOSPC', String(e));
    assert.ok(calls.length >= 1 && calls[0] > 0 && calls[0] < 128 * 1024, `first write was short: ${calls.join(',')}`);
    assert.equal(fs.existsSync(target), false);
    assert.deepEqual(tempFilesUnder(fsys.dir), []);
  });

  it('a read-only remount: EROFS at open, the old file kept; after remount,rw the write succeeds', async () => {
    fsys = Tmpfs.mount(256 * 1024);
    const target = path.join(fsys.dir, 'r.json');
    fs.writeFileSync(target, '{"old":true}\n');
    fsys.remount('ro');
    const e = await writeFileAtomic(target, '{"new":true}\n').catch((x: unknown) => x);
    assert.ok(e instanceof StorageError, String(e));
    assert.deepEqual([e.errno, e.step], ['EROFS', 'open']);
    assert.match(e.message, /read-only file system \[EROFS\]/);
    assert.equal(fs.readFileSync(target, 'utf8'), '{"old":true}\n');
    fsys.remount('rw');
    await writeFileAtomic(target, '{"new":true}\n');
    assert.equal(fs.readFileSync(target, 'utf8'), '{"new":true}\n');
  });
});
