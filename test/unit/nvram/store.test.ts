/**
 * Creating stores from templates: the bytes and the reported digest are the template's as it
 * is now, although templates are kept in memory between copies (a package upgrade or an
 * in-place edit of the template must never hand out the old content).
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { NvramStore } from '../../../src/nvram/store';
import { SETTLED_MS, settleWindowOf } from '../../../src/util/fileIdentity';
import { tmpDir } from '../../support/firmwareFixture';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('nvram/store templates', () => {
  let root: string;
  let nv: NvramStore;
  let template: string;
  beforeEach(async () => {
    root = tmpDir('nus-store-');
    nv = new NvramStore({ dir: path.join(root, 'nvram'), mode: 0o600 });
    await nv.init();
    template = path.join(root, 'VARS.fd');
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  const fill = (byte: number, size = 64 * 1024) => Buffer.alloc(size, byte);

  it('copies the template and reports its size and digest, and the allocation of the new file', async () => {
    const data = Buffer.concat([fill(0xff, 8192), fill(0, 64 * 1024)]);
    fs.writeFileSync(template, data);
    const info = await nv.createFromTemplate(nv.pathFor('instance-00000001'), template);
    const onDisk = fs.readFileSync(nv.pathFor('instance-00000001'));
    assert.deepEqual(onDisk, data);
    assert.equal(info.sha256, sha(data));
    assert.equal(info.size, data.length);
    assert.equal(info.allocated, fs.statSync(nv.pathFor('instance-00000001')).blocks * 512);
    assert.ok(info.allocated < data.length, 'zero blocks are holes');
  });

  it('copies the template as it is now: changed in place right after a copy, and replaced after it settled', async function () {
    this.timeout(10000);
    fs.writeFileSync(template, fill(0x11));
    assert.equal((await nv.createFromTemplate(nv.pathFor('instance-00000002'), template)).sha256, sha(fill(0x11)));
    // In place, same size, within the same instant: a remembered copy would be stale.
    fs.writeFileSync(template, fill(0x22));
    assert.equal((await nv.createFromTemplate(nv.pathFor('instance-00000003'), template)).sha256, sha(fill(0x22)));
    assert.deepEqual(fs.readFileSync(nv.pathFor('instance-00000003')), fill(0x22));
    // Settled, so this copy is remembered; then the file is changed in place, then replaced.
    await new Promise((r) => setTimeout(r, SETTLED_MS + 200));
    await nv.createFromTemplate(nv.pathFor('instance-00000004'), template);
    const fd = fs.openSync(template, 'r+');
    fs.writeSync(fd, Buffer.from([0x33]), 0, 1, 100);
    fs.closeSync(fd);
    const edited = fs.readFileSync(template);
    assert.equal((await nv.createFromTemplate(nv.pathFor('instance-00000005'), template)).sha256, sha(edited));
    fs.writeFileSync(`${template}.new`, fill(0x44));
    fs.renameSync(`${template}.new`, template);
    assert.equal((await nv.createFromTemplate(nv.pathFor('instance-00000006'), template)).sha256, sha(fill(0x44)));
    assert.deepEqual(fs.readFileSync(nv.pathFor('instance-00000006')), fill(0x44));
  });

  it('names the template when it cannot be read, and creates nothing', async () => {
    await assert.rejects(
      nv.createFromTemplate(nv.pathFor('instance-00000007'), path.join(root, 'missing.fd')),
      (e: Error & { type?: string }) => e.type === 'InternalError' && /cannot read NVRAM template .*missing\.fd/.test(e.message),
    );
    assert.equal(fs.existsSync(nv.pathFor('instance-00000007')), false);
  });
});

describe('nvram/store info', () => {
  let dir: string;
  let store: NvramStore;
  beforeEach(async () => {
    dir = tmpDir('nus-store-info-');
    store = new NvramStore({ dir, mode: 0o600 });
    await store.init();
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('hashes a store larger than one read piece, with a short last piece, as the whole file hashes', async () => {
    const data = Buffer.alloc(2 * 1024 * 1024 + 7, 0xa5);
    data.write('head', 0);
    data.write('tail', data.length - 4);
    const file = path.join(dir, 'big_VARS.fd');
    fs.writeFileSync(file, data);
    const info = await store.info(file);
    assert.equal(info?.size, data.length);
    assert.equal(info?.sha256, createHash('sha256').update(data).digest('hex'));
  });

  it('reads a store as a sparse image (its non-zero blocks only) with its digest, and writes one back byte for byte', async () => {
    const data = Buffer.alloc(3 * 1024 * 1024 + 10);
    data.write('VARS', 0x10);
    data.fill(0xff, 2 * 1024 * 1024 - 8, 2 * 1024 * 1024 + 8); // across a read piece's edge
    data.write('!', data.length - 1);
    const file = path.join(dir, 'aavmf_VARS.fd');
    fs.writeFileSync(file, data);
    const read = await store.readImage(file);
    assert.ok(read);
    assert.equal(read.sha256, createHash('sha256').update(data).digest('hex'));
    assert.equal(read.image.size, data.length);
    assert.deepEqual(
      read.image.segments.map((s) => [s.offset, s.data.length]),
      [
        [0, 4096],
        [2 * 1024 * 1024 - 4096, 4096],
        [2 * 1024 * 1024, 4096],
        [3 * 1024 * 1024, 10],
      ],
    );
    const copy = path.join(dir, 'copy_VARS.fd');
    await store.writeImage(copy, read.image);
    assert.ok(fs.readFileSync(copy).equals(data));
    assert.equal(await store.readImage(path.join(dir, 'none_VARS.fd')), null);
  });

  it('reads a store piece by piece for a consumer that needs every byte once: pieces in order, each left alone until its consumer is done, size and digest', async () => {
    const data = Buffer.alloc(2 * 1024 * 1024 + 1000);
    for (let i = 0; i < data.length; i += 4093) data[i] = (i / 4093) & 0xff || 1;
    const file = path.join(dir, 'pieces_VARS.fd');
    fs.writeFileSync(file, data);
    const seen: Buffer[] = [];
    let busy = false;
    const read = await store.readPieces(file, async (piece) => {
      assert.ok(!busy, 'the next piece waited for the one before');
      busy = true;
      const before = Buffer.from(piece);
      // A consumer that works in the background (brotli in the thread pool): the piece is not
      // overwritten by the next read while it is at it.
      await new Promise((r) => setTimeout(r, 5));
      assert.ok(piece.equals(before), 'the piece was not reused while its consumer was at it');
      seen.push(before);
      busy = false;
    });
    assert.deepEqual(read, { size: data.length, sha256: createHash('sha256').update(data).digest('hex') });
    assert.ok(seen.length > 1, 'more than one piece');
    assert.ok(Buffer.concat(seen).equals(data));
    assert.equal(await store.readPieces(path.join(dir, 'none_VARS.fd'), () => assert.fail('no piece of a missing store')), null);
    await assert.rejects(
      store.readPieces(file, () => Promise.reject(new Error('consumer failed'))),
      /consumer failed/,
    );
  });

  it('answers null for a store that does not exist, and an empty store its empty digest', async () => {
    assert.equal(await store.info(path.join(dir, 'none_VARS.fd')), null);
    fs.writeFileSync(path.join(dir, 'empty_VARS.fd'), '');
    const info = await store.info(path.join(dir, 'empty_VARS.fd'));
    assert.deepEqual([info?.size, info?.sha256], [0, createHash('sha256').digest('hex')]);
  });
});

describe('nvram/store readHashed', () => {
  let root: string;
  let nv: NvramStore;
  beforeEach(async () => {
    root = tmpDir('nus-store-');
    nv = new NvramStore({ dir: path.join(root, 'nvram'), mode: 0o600 });
    await nv.init();
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('answers null for a store that does not exist', async () => {
    assert.equal(await nv.readHashed(nv.pathFor('instance-00000010')), null);
  });

  it('answers the bytes with their digest as they are now, also after an in-place change of a settled store', async function () {
    this.timeout(10000);
    const p = nv.pathFor('instance-00000011');
    fs.writeFileSync(p, Buffer.alloc(8192, 0x11));
    let r = await nv.readHashed(p);
    assert.deepEqual(r?.data, Buffer.alloc(8192, 0x11));
    assert.equal(r?.sha256, sha(Buffer.alloc(8192, 0x11)));
    // Settled: the digest is kept, and reused by cachedInfo while the file is unchanged.
    await new Promise((res) => setTimeout(res, SETTLED_MS + 200));
    assert.equal((await nv.readHashed(p))?.sha256, sha(Buffer.alloc(8192, 0x11)));
    assert.equal((await nv.cachedInfo(p))?.sha256, sha(Buffer.alloc(8192, 0x11)));
    // In place, same size: a kept digest would be stale.
    const fd = fs.openSync(p, 'r+');
    fs.writeSync(fd, Buffer.from([0x22]), 0, 1, 100);
    fs.closeSync(fd);
    r = await nv.readHashed(p);
    assert.equal(r?.sha256, sha(fs.readFileSync(p)));
    assert.notEqual(r?.sha256, sha(Buffer.alloc(8192, 0x11)));
    assert.equal((await nv.cachedInfo(p))?.sha256, sha(fs.readFileSync(p)));
  });
});

describe('nvram/store warmDigest', () => {
  let root: string;
  let nv: NvramStore;
  let hashed: number;
  beforeEach(async () => {
    root = tmpDir('nus-store-');
    nv = new NvramStore({ dir: path.join(root, 'nvram'), mode: 0o600 });
    await nv.init();
    hashed = 0;
    const info = nv.info.bind(nv);
    nv.info = (p: string) => (hashed++, info(p));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('hashes a store once its settle window has passed; later reads of the unchanged store hash nothing, a changed one is hashed again', async function () {
    this.timeout(10000);
    const p = nv.pathFor('instance-00000020');
    const data = Buffer.alloc(3 * 1024 * 1024);
    data.write('VARS', 0x100);
    fs.writeFileSync(p, data);
    const changed = fs.statSync(p).ctimeMs;
    const warm = await nv.warmDigest(p);
    assert.ok(Date.now() > changed + settleWindowOf(nv.dir), 'not hashed inside the window (a write in the same tick could hide)');
    assert.equal(warm?.sha256, sha(data));
    assert.equal(hashed, 1);
    assert.equal((await nv.cachedInfo(p))?.sha256, sha(data));
    assert.equal((await nv.readImage(p))?.sha256, sha(data), 'the image comes with the digest kept');
    assert.equal((await nv.warmDigest(p))?.sha256, sha(data));
    assert.equal(hashed, 1, 'nothing hashed again');
    const fd = fs.openSync(p, 'r+');
    fs.writeSync(fd, Buffer.from('EDIT'), 0, 4, 0x2000);
    fs.closeSync(fd);
    const now = fs.readFileSync(p);
    assert.equal((await nv.readImage(p))?.sha256, sha(now), 'changed in place: hashed in the same pass');
    assert.equal((await nv.cachedInfo(p))?.sha256, sha(now));
    assert.equal(await nv.warmDigest(nv.pathFor('instance-00000021')), null, 'no store, nothing to hash');
  });

  it('asked twice for an unchanged store, hashes it once; idle waits for a pending hash', async function () {
    this.timeout(10000);
    const p = nv.pathFor('instance-00000022');
    fs.writeFileSync(p, Buffer.alloc(64 * 1024, 1));
    const first = nv.warmDigest(p);
    assert.equal(nv.warmDigest(p), first, 'the pending hash is shared');
    let settled = false;
    void first.then(() => (settled = true));
    await nv.idle();
    assert.ok(settled, 'idle resolved after the pending hash');
    assert.equal(hashed, 1);
    await nv.idle();
  });
});
