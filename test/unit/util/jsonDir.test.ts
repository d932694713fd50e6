/** JsonDir's write-through cache: reads match the disk, callers get their own objects, overlapping changes never leave a stale entry. */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FROZEN_ENTRIES, JsonDir } from '../../../src/util/jsonDir';

type Doc = { v: number; tags: string[] };

describe('state/jsonDir cache', () => {
  let dir: string;
  let d: JsonDir<Doc>;
  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nus-jsondir-'));
    d = new JsonDir<Doc>(dir);
    await d.init();
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const onDisk = (k: string) => JSON.parse(fs.readFileSync(path.join(dir, `${k}.json`), 'utf8')) as Doc;

  it('readManyPicked remembers a pick per unchanged document and picks again after a change', async () => {
    await d.write('a', { v: 1, tags: [] });
    await d.write('b', { v: 2, tags: [] });
    let calls = 0;
    const pick = (doc: Doc) => (calls++, { v: doc.v });
    const first = await d.readManyPicked(['a', 'b', 'missing'], pick);
    assert.deepEqual(first, [{ v: 1 }, { v: 2 }, null]);
    const again = await d.readManyPicked(['a', 'b'], pick);
    assert.equal(again[0], first[0], 'the same object while unchanged');
    assert.equal(calls, 2);
    await d.write('a', { v: 3, tags: [] });
    assert.deepEqual(await d.readManyPicked(['a', 'b'], pick), [{ v: 3 }, { v: 2 }]);
    assert.equal(calls, 3);
  });

  it('returns a fresh object on every read: mutating one does not change the next', async () => {
    await d.write('a', { v: 1, tags: ['x'] });
    const first = (await d.read('a'))!;
    first.v = 99;
    first.tags.push('y');
    assert.deepEqual(await d.read('a'), { v: 1, tags: ['x'] });
  });

  it('peek shares one deep-frozen object until the document changes; read still gives a mutable copy', async () => {
    await d.write('a', { v: 1, tags: ['x'] });
    const p1 = (await d.peek('a'))!;
    assert.ok(Object.isFrozen(p1) && Object.isFrozen(p1.tags), 'frozen to the leaves');
    assert.throws(() => p1.tags.push('y'), TypeError);
    assert.equal(await d.peek('a'), p1, 'the same object while unchanged');
    const r = (await d.read('a'))!;
    r.tags.push('z');
    assert.deepEqual(p1, { v: 1, tags: ['x'] });
    await d.write('a', { v: 2, tags: [] });
    const p2 = (await d.peek('a'))!;
    assert.notEqual(p2, p1);
    assert.deepEqual(p2, { v: 2, tags: [] });
    await d.remove('a');
    assert.equal(await d.peek('a'), null);
  });

  it('peek of a document not yet cached reads the file and answers it frozen', async () => {
    fs.writeFileSync(path.join(dir, 'b.json'), JSON.stringify({ v: 5, tags: ['t'] }));
    const p = (await d.peek('b'))!;
    assert.deepEqual(p, { v: 5, tags: ['t'] });
    assert.ok(Object.isFrozen(p.tags));
    fs.writeFileSync(path.join(dir, 'b.json'), JSON.stringify({ v: 6, tags: [] }));
    assert.deepEqual(await d.peek('b'), { v: 5, tags: ['t'] }, 'cached as first read: the sidecar is the only writer');
  });

  it(`keeps frozen parses for the ${FROZEN_ENTRIES} most recently peeked documents only`, async () => {
    const keys = Array.from({ length: FROZEN_ENTRIES + 1 }, (_, i) => `k${i}`);
    for (const [i, k] of keys.entries()) fs.writeFileSync(path.join(dir, `${k}.json`), JSON.stringify({ v: i, tags: [] }));
    for (const k of keys) await d.peek(k); // read from disk: text cached
    const first = new Map<string, unknown>();
    for (const k of keys) first.set(k, await d.peek(k)); // parsed, frozen, kept (k0 drops out last)
    assert.equal(await d.peek(keys[FROZEN_ENTRIES]), first.get(keys[FROZEN_ENTRIES]), 'a recent one is shared');
    const again = await d.peek('k0');
    assert.notEqual(again, first.get('k0'), 'the least recently peeked one was dropped and parsed again');
    assert.deepEqual(again, { v: 0, tags: [] });
  });

  it('serves a cached document without touching the file, and reads the last write', async () => {
    await d.write('a', { v: 1, tags: [] });
    await d.read('a');
    await d.write('a', { v: 2, tags: [] });
    assert.equal((await d.read('a'))!.v, 2);
    // The sidecar is the only writer: a file changed behind its back is not re-read (documented).
    fs.writeFileSync(path.join(dir, 'a.json'), JSON.stringify({ v: 3, tags: [] }));
    assert.equal((await d.read('a'))!.v, 2);
    // A fresh instance (a restart) reads the disk.
    const again = new JsonDir<Doc>(dir);
    assert.equal((await again.read('a'))!.v, 3);
  });

  it('after overlapping writes of one key, reads agree with the file that won on disk', async () => {
    for (let round = 0; round < 20; round++) {
      await Promise.all(Array.from({ length: 6 }, (_, i) => d.write('k', { v: round * 10 + i, tags: [] })));
      const disk = onDisk('k');
      assert.deepEqual(await d.read('k'), disk, `round ${round}`);
      assert.deepEqual(await d.read('k'), disk);
    }
  });

  it('a read racing a write or a remove never caches what it read', async () => {
    for (let round = 0; round < 20; round++) {
      await d.write('r', { v: round, tags: [] });
      const fresh = new JsonDir<Doc>(dir); // empty cache: its reads go to disk
      const reading = fresh.read('r');
      const writing = fresh.write('r', { v: 1000 + round, tags: [] });
      await Promise.all([reading, writing]);
      assert.equal((await fresh.read('r'))!.v, 1000 + round);
      const r2 = fresh.read('r');
      const rm = fresh.remove('r');
      await Promise.all([r2, rm]);
      assert.equal(await fresh.read('r'), null);
    }
  });

  it('readMany keeps key order, mixes cached and uncached documents, and skips missing ones', async () => {
    for (const k of ['a', 'b', 'c']) await d.write(k, { v: k.charCodeAt(0), tags: [] });
    const other = new JsonDir<Doc>(dir);
    await other.read('b');
    assert.deepEqual(await other.readMany(['c', 'nope', 'a', 'b'], (x) => x.v), [99, null, 97, 98]);
  });
});
