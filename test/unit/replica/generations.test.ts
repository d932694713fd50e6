import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { ReplicaLog, toPrune, parseGenerationName, type GenerationEntry } from '../../../src/replica/generations';
import { makeKeyring, parseKey } from '../../../src/replica/keys';
import { ReplicaCorrupt, ReplicaFenced, ReplicaKeyError } from '../../../src/replica/errors';
import type { GenerationReason } from '../../../src/replica/format';
import { MemoryReplicaStore } from '../../support/memoryReplicaStore';

const KEYS = makeKeyring(parseKey('33'.repeat(32), 'k'));
const UUID = '8e4f8a64-51b8-4b1e-9d3c-0a1b2c3d4e5f';

function log(store: MemoryReplicaStore, host: string, keep = 5): ReplicaLog {
  return new ReplicaLog(store, KEYS, { prefix: 'nvram/', host, keep, backoffMs: () => 0 });
}
const bytes = (s: string) => Buffer.from(s.padEnd(4096, '\xff'), 'latin1');
const write = (l: ReplicaLog, content: string, base: number, reason: GenerationReason = 'periodic', takeover = false) =>
  l.write({ uuid: UUID, store: bytes(content), firmware: null, reason, base, takeover });

function e(generation: number, reason: GenerationReason = 'periodic'): GenerationEntry {
  return { generation, reason, host: 'h', key: `k${generation}` };
}

describe('replica/generations', () => {
  describe('toPrune (retention)', () => {
    const cases: [string, { given: GenerationEntry[]; keep: number; want: number[] }][] = [
      ['keeps everything up to keep', { given: [e(1), e(2), e(3)], keep: 5, want: [] }],
      ['removes the oldest beyond keep', { given: [e(1), e(2), e(3), e(4)], keep: 2, want: [2, 1] }],
      [
        'keeps the shelve generation beyond keep while the instance is shelved',
        { given: [e(1), e(2, 'shelve'), e(3, 'manual'), e(4, 'manual')], keep: 2, want: [1] },
      ],
      [
        'drops the shelve generation once a later one was written by an unshelve',
        { given: [e(1), e(2, 'shelve'), e(3, 'unshelve'), e(4), e(5)], keep: 2, want: [3, 2, 1] },
      ],
      ['keeps at least one generation whatever keep says', { given: [e(1), e(2)], keep: 0, want: [1] }],
    ];
    for (const [name, { given, keep, want }] of cases) {
      it(name, () =>
        assert.deepEqual(
          toPrune(given, keep).map((x) => x.generation),
          want,
        ),
      );
    }
  });

  it('object names are <12-digit generation>.<reason>.<host> and nothing else parses', () => {
    assert.deepEqual(parseGenerationName('000000000042.shelve.compute1.example'), { generation: 42, reason: 'shelve', host: 'compute1.example' });
    for (const bad of ['42.shelve.h', '000000000042.bogus.h', '000000000000.stop.h', 'x']) assert.equal(parseGenerationName(bad), null, bad);
  });

  it('writes a generation of a store packed as it was read, verified or not; without its sha256 it claims nothing', async () => {
    const s = new MemoryReplicaStore();
    const a = log(s, 'compute1');
    const pack = async (content: string) => {
      const p = a.packer();
      await p.update(bytes(content));
      return p.finish();
    };
    const sha = (content: string) => createHash('sha256').update(bytes(content)).digest('hex');
    await assert.rejects(a.write({ uuid: UUID, store: await pack('one'), firmware: null, reason: 'move', base: 0 }), /needs the store's sha256/);
    assert.deepEqual(await a.claims(UUID), [], 'nothing claimed');
    const w1 = await a.write({ uuid: UUID, store: await pack('one'), firmware: null, reason: 'move', base: 0, verify: false, sha256: sha('one') });
    assert.deepEqual([w1.generation, w1.header.sha256], [1, sha('one')]);
    const w2 = await a.write({ uuid: UUID, store: await pack('two'), firmware: null, reason: 'move', base: 1, sha256: sha('two') });
    assert.deepEqual([w2.generation, w2.header.sha256], [2, sha('two')], 'read back and decoded');
    assert.ok((await a.read(UUID, (await a.list(UUID))[0])).store.equals(bytes('one')));
    assert.ok((await a.newest(UUID))?.store.equals(bytes('two')));
  });

  it('numbers generations 1, 2, 3 per instance and reads back the newest', async () => {
    const s = new MemoryReplicaStore();
    const a = log(s, 'compute1');
    assert.equal((await write(a, 'one', 0)).generation, 1);
    assert.equal((await write(a, 'two', 1)).generation, 2);
    assert.equal((await write(a, 'three', 2)).generation, 3);
    const newest = await a.newest(UUID);
    assert.equal(newest?.entry.generation, 3);
    assert.ok(newest?.store.equals(bytes('three')));
    assert.deepEqual(
      (await a.list(UUID)).map((x) => `${x.generation}.${x.reason}.${x.host}`),
      ['1.periodic.compute1', '2.periodic.compute1', '3.periodic.compute1'],
    );
  });

  it('applies retention after each write and drops claims below the oldest kept generation', async () => {
    const s = new MemoryReplicaStore();
    const a = log(s, 'compute1', 2);
    for (let i = 0; i < 5; i++) await write(a, `g${i}`, i);
    assert.deepEqual(
      (await a.list(UUID)).map((x) => x.generation),
      [4, 5],
    );
    assert.deepEqual(
      (await a.claims(UUID)).map((c) => c.generation),
      [4, 5],
    );
  });

  describe('a restore never goes backwards silently', () => {
    async function two() {
      const s = new MemoryReplicaStore();
      const a = log(s, 'compute1');
      await write(a, 'good', 0);
      await write(a, 'newest', 1);
      return { s, a, newestKey: (await a.list(UUID))[1].key };
    }

    it('a tampered newest generation stops the restore with an error naming it', async () => {
      const { s, a, newestKey } = await two();
      const obj = s.objects.get(newestKey)!;
      obj[obj.length - 30] ^= 0xff;
      await assert.rejects(
        a.newest(UUID),
        (e: Error) =>
          e instanceof ReplicaCorrupt &&
          e.objectKey === newestKey &&
          /newest generation 2 cannot be restored .*authentication tag/.test(e.message) &&
          /"generation": N/.test(e.message),
      );
    });

    it('a deleted newest generation is detected through the signed index', async () => {
      const { s, a, newestKey } = await two();
      s.objects.delete(newestKey);
      await assert.rejects(
        a.newest(UUID),
        (e: Error) => e instanceof ReplicaCorrupt && /generation 2, the newest the signed index records, is missing/.test(e.message),
      );
    });

    it('a deleted index, a forged one, or every generation deleted is detected', async () => {
      const { s, a } = await two();
      const index = a.indexKey(UUID);
      const sealed = s.objects.get(index)!;
      const forged = JSON.parse(sealed.toString()) as { index: { generation: number } };
      forged.index.generation = 1;
      s.objects.set(index, Buffer.from(JSON.stringify(forged)));
      await assert.rejects(a.newest(UUID), (e: Error) => e instanceof ReplicaCorrupt && /does not verify/.test(e.message));
      s.objects.delete(index);
      await assert.rejects(a.newest(UUID), (e: Error) => e instanceof ReplicaCorrupt && /signed index is missing/.test(e.message));
      s.objects.set(index, sealed);
      for (const k of [...s.objects.keys()]) if (k.includes('/gen/')) s.objects.delete(k);
      await assert.rejects(a.newest(UUID), (e: Error) => e instanceof ReplicaCorrupt && /records generation 2, but no generation is left/.test(e.message));
    });

    it('an older generation is restored only when an operator pinned it; the next generation drops the pin', async () => {
      const { s, a, newestKey } = await two();
      s.objects.get(newestKey)![100] ^= 0x55;
      await assert.rejects(a.newest(UUID), ReplicaCorrupt);
      await a.pin(UUID, 1, 'operator');
      const r = await a.newest(UUID);
      assert.equal(r?.entry.generation, 1);
      assert.ok(r?.store.equals(bytes('good')));
      assert.equal(r?.pinned?.by, 'operator');
      assert.deepEqual(
        r?.skipped.map((x) => x.generation),
        [2],
      );
      // A restore adopts it and writes generation 3: the newest again, the pin gone.
      await write(a, 'after', 2, 'unshelve', true);
      const next = await a.newest(UUID);
      assert.equal(next?.entry.generation, 3);
      assert.equal(next?.pinned, undefined);
      await assert.rejects(a.pin(UUID, 9, 'operator'), /no replica generation 9/);
    });
  });

  it('every generation corrupt is a ReplicaCorrupt; a key this host lacks stops the search with ReplicaKeyError', async () => {
    const s = new MemoryReplicaStore();
    const a = log(s, 'compute1');
    await write(a, 'one', 0);
    for (const [k, v] of s.objects) if (k.includes('/gen/')) s.objects.set(k, v.subarray(0, 50));
    await assert.rejects(a.newest(UUID), ReplicaCorrupt);
    const s2 = new MemoryReplicaStore();
    await write(log(s2, 'compute1'), 'one', 0);
    const other = new ReplicaLog(s2, makeKeyring(parseKey('44'.repeat(32), 'k')), { prefix: 'nvram/', host: 'compute2', keep: 5 });
    await assert.rejects(other.newest(UUID), ReplicaKeyError);
  });

  it('at most one generation N per instance: claims are create-only, two claimants interleaved at the worst point both lose', async () => {
    const s = new MemoryReplicaStore();
    let arrived = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    // Both write their claim entry, then both list: each sees the other, nobody wins.
    s.claimPause = async () => {
      if (++arrived === 2) release();
      await gate;
    };
    const [x, y] = await Promise.all([s.claim('nvram/u/claim/000000000001', 'compute1'), s.claim('nvram/u/claim/000000000001', 'compute2')]);
    assert.deepEqual([x, y], [false, false]);
    s.claimPause = undefined;
    assert.equal(await s.claim('nvram/u/claim/000000000001', 'compute3'), false, 'a contended claim stays lost');
  });

  it('two hosts writing the same instance at once never publish the same generation, and the one that lost its claim is fenced', async () => {
    for (let round = 0; round < 20; round++) {
      const s = new MemoryReplicaStore();
      const a = log(s, 'compute1');
      const b = log(s, 'compute2');
      await write(a, 'base', 0);
      // Both believe they own generation 1's successor (an evacuated host still writing).
      s.claimPause = () => new Promise((r) => setTimeout(r, Math.random() * 3));
      const results = await Promise.allSettled([write(a, 'from-a', 1), write(b, 'from-b', 1)]);
      const won = results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<{ generation: number }>).value.generation);
      const fenced = results.filter((r) => r.status === 'rejected').map((r) => r.reason as unknown);
      assert.ok(won.length <= 1, `round ${round}: both published (${won.join(',')})`);
      for (const f of fenced) assert.ok(f instanceof ReplicaFenced, String(f));
      const gens = (await a.list(UUID)).map((x) => x.generation);
      assert.equal(new Set(gens).size, gens.length, `round ${round}: generations ${gens.join(',')}`);
      for (const c of await a.claims(UUID))
        assert.ok(c.owners.length === 1 || !gens.includes(c.generation), `round ${round}: contended claim ${c.generation} has an object`);
    }
  });

  it('fencing: once another host wrote past what this host holds it writes nothing; a takeover writes past it', async () => {
    const s = new MemoryReplicaStore();
    const a = log(s, 'compute1');
    const b = log(s, 'compute2');
    await write(a, 'a1', 0);
    // compute2 restores generation 1 (evacuate) and takes the replicas over.
    const g2 = await write(b, 'b2', 1, 'evacuate', true);
    assert.equal(g2.generation, 2);
    // compute1 comes back still believing it holds generation 1.
    await assert.rejects(write(a, 'stale', 1), (err: unknown) => err instanceof ReplicaFenced && err.owner === 'compute2' && err.generation === 2);
    assert.equal((await a.newest(UUID))?.entry.host, 'compute2');
    // compute2 goes on writing normally.
    assert.equal((await write(b, 'b3', 2)).generation, 3);
    // A takeover on compute1 (Nova moves the instance back) writes past compute2.
    assert.equal((await write(a, 'a4', 1, 'unshelve', true)).generation, 4);
  });

  it('a host fenced by its own abandoned claim is not fenced (a crash between claim and object)', async () => {
    const s = new MemoryReplicaStore();
    const a = log(s, 'compute1');
    await write(a, 'a1', 0);
    await s.claim('nvram/' + UUID + '/claim/000000000002', 'compute1');
    assert.equal((await write(a, 'a3', 1)).generation, 3);
  });

  it('deleteAll removes every generation and claim of the instance and nothing of another', async () => {
    const s = new MemoryReplicaStore();
    const a = log(s, 'compute1');
    await write(a, 'one', 0);
    await a.write({ uuid: 'other', store: bytes('x'), firmware: null, reason: 'spawn', base: 0 });
    await a.deleteAll(UUID);
    assert.deepEqual(await a.list(UUID), []);
    assert.deepEqual(await a.claims(UUID), []);
    assert.equal((await a.list('other')).length, 1);
  });
});
