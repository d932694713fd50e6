import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DirectoryReplicaStore } from '../../../src/replica/directory';
import { ReplicaLog } from '../../../src/replica/generations';
import { makeKeyring, parseKey } from '../../../src/replica/keys';

describe('replica/directory', () => {
  let root: string;
  beforeEach(() => (root = fs.mkdtempSync(path.join(os.tmpdir(), 'nus-replica-dir-'))));
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('puts, gets, lists by prefix and deletes objects as files, 0600, without temp leftovers', async () => {
    const s = new DirectoryReplicaStore(path.join(root, 'shared'));
    await s.init();
    await s.put('nvram/u1/gen/a', Buffer.from('A'));
    await s.put('nvram/u1/gen/b', Buffer.from('B'));
    await s.put('nvram/u2/gen/a', Buffer.from('C'));
    assert.deepEqual(await s.list('nvram/u1/'), ['nvram/u1/gen/a', 'nvram/u1/gen/b']);
    assert.deepEqual(await s.list('nvram/u'), ['nvram/u1/gen/a', 'nvram/u1/gen/b', 'nvram/u2/gen/a']);
    assert.equal((await s.get('nvram/u1/gen/b'))?.toString(), 'B');
    assert.equal(await s.get('nvram/u1/gen/zz'), null);
    assert.equal(fs.statSync(path.join(root, 'shared/nvram/u1/gen/a')).mode & 0o777, 0o600);
    await s.delete('nvram/u1/gen/a');
    await s.delete('nvram/u1/gen/a');
    assert.deepEqual(await s.list('nvram/u1/'), ['nvram/u1/gen/b']);
    assert.deepEqual(await s.list('nothing/'), []);
  });

  it("a log's deleteAll, its removals all at once, leaves no folder of the instance behind, and the other's whole", async () => {
    const shared = path.join(root, 'shared');
    const s = new DirectoryReplicaStore(shared);
    await s.init();
    const keys = makeKeyring(parseKey('44'.repeat(32), 'k'));
    const a = new ReplicaLog(s, keys, { prefix: 'nvram/', host: 'compute1', keep: 20, backoffMs: () => 0 });
    const u = 'a1b2c3d4-0000-4000-8000-000000000001';
    const other = 'a1b2c3d4-0000-4000-8000-000000000002';
    let base = 0;
    for (let n = 0; n < 8; n++) base = (await a.write({ uuid: u, store: Buffer.alloc(4096, n), firmware: null, reason: 'periodic', base })).generation;
    await a.write({ uuid: other, store: Buffer.alloc(4096, 9), firmware: null, reason: 'spawn', base: 0 });
    const objects = (await s.list(`nvram/${u}/`)).length;
    assert.ok(objects >= 9, `eight generations and an index: ${objects}`);
    assert.equal(await a.deleteAll(u), objects);
    assert.ok(!fs.existsSync(path.join(shared, 'nvram', u)), "the instance's folder and its gen/ and claim/ are gone");
    assert.deepEqual(fs.readdirSync(path.join(shared, 'nvram')), [other]);
    assert.equal((await a.list(other)).length, 1);
  });

  it('deletes of every object of a folder at once all succeed, whichever of them removes the emptied folder', async () => {
    const s = new DirectoryReplicaStore(path.join(root, 'shared'));
    await s.init();
    for (let round = 0; round < 60; round++) {
      const keys = Array.from({ length: 6 }, (_, i) => `nvram/u${round}/gen/${i}`);
      for (const k of keys) await s.put(k, Buffer.from('x'));
      const done = await Promise.allSettled(keys.map((k) => s.delete(k)));
      const failed = done.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      assert.deepEqual(
        failed.map((r) => String(r.reason)),
        [],
        `round ${round}`,
      );
      assert.ok(!fs.existsSync(path.join(root, 'shared', 'nvram', `u${round}`)), `round ${round}: the folder is gone`);
    }
  });

  it("removes the folders an instance's last object leaves empty, and no other: the store's root stays", async () => {
    const shared = path.join(root, 'shared');
    const s = new DirectoryReplicaStore(shared);
    await s.init();
    await s.put('nvram/u1/gen/a', Buffer.from('A'));
    await s.claim('nvram/u1/claim/000000000001', 'host1');
    await s.put('nvram/u2/gen/a', Buffer.from('B'));
    await s.delete('nvram/u1/gen/a');
    assert.ok(!fs.existsSync(path.join(shared, 'nvram/u1/gen')), 'the empty gen/ folder is gone');
    assert.ok(fs.existsSync(path.join(shared, 'nvram/u1/claim')), 'the claim folder still holds a claim');
    await s.dropClaim('nvram/u1/claim/000000000001');
    assert.ok(!fs.existsSync(path.join(shared, 'nvram/u1')), "the instance's folder is gone with its last object");
    assert.deepEqual(fs.readdirSync(path.join(shared, 'nvram')), ['u2'], 'the other instance is untouched');
    await s.delete('nvram/u2/gen/a');
    assert.deepEqual(fs.readdirSync(shared), [], 'the root stays, empty');
    // ... and takes objects again
    await s.put('nvram/u1/gen/b', Buffer.from('C'));
    assert.equal((await s.get('nvram/u1/gen/b'))?.toString(), 'C');
  });

  it('puts and claims while the last sibling of their folder is deleted, 50 times over: every write lands', async () => {
    const s = new DirectoryReplicaStore(root);
    for (let i = 0; i < 50; i++) {
      await s.put(`nvram/u/gen/old${i}`, Buffer.from('old'));
      await Promise.all([
        s.delete(`nvram/u/gen/old${i}`),
        s.put(`nvram/u/gen/new${i}`, Buffer.from('new')),
        s.claim(`nvram/u/claim/${String(i).padStart(12, '0')}`, 'host1'),
      ]);
      assert.equal((await s.get(`nvram/u/gen/new${i}`))?.toString(), 'new', `round ${i}`);
      await s.delete(`nvram/u/gen/new${i}`);
      await s.dropClaim(`nvram/u/claim/${String(i).padStart(12, '0')}`);
    }
    assert.deepEqual(fs.readdirSync(root), []);
  });

  it('refuses keys that would leave the directory', async () => {
    const s = new DirectoryReplicaStore(root);
    for (const k of ['../x', 'a/../../x', '/abs', 'a//b', '']) await assert.rejects(s.put(k, Buffer.from('x')), /invalid replica object key/, k);
  });

  it('a claim is won by exactly one of 16 concurrent claimants, and the claim names its owner', async () => {
    const s = new DirectoryReplicaStore(root);
    const results = await Promise.all(Array.from({ length: 16 }, (_, i) => s.claim('nvram/u/claim/000000000001', `host${i}`)));
    assert.equal(results.filter(Boolean).length, 1);
    const winner = `host${results.indexOf(true)}`;
    assert.deepEqual(await s.claims('nvram/u/claim/'), [{ key: 'nvram/u/claim/000000000001', owners: [winner] }]);
    assert.deepEqual(await s.list('nvram/u/'), [], 'claims are not objects');
    await s.dropClaim('nvram/u/claim/000000000001');
    assert.deepEqual(await s.claims('nvram/u/claim/'), []);
  });

  it('two sidecars writing one instance through a shared directory publish distinct generations', async () => {
    const keys = makeKeyring(parseKey('55'.repeat(32), 'k'));
    const a = new ReplicaLog(new DirectoryReplicaStore(root), keys, { prefix: 'nvram/', host: 'compute1', keep: 50, backoffMs: () => 0 });
    const b = new ReplicaLog(new DirectoryReplicaStore(root), keys, { prefix: 'nvram/', host: 'compute2', keep: 50, backoffMs: () => 0 });
    const uuid = '0b5e3a1c-2d4f-4a6b-8c9d-0e1f2a3b4c5d';
    const data = Buffer.alloc(8192, 0xff);
    // Both take over (as after a double move): they compete for every claim and must never share one.
    const runs = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).write({ uuid, store: data, firmware: null, reason: 'manual', base: 0, takeover: true })),
    );
    const gens = runs.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<{ generation: number }>).value.generation);
    assert.equal(new Set(gens).size, gens.length, `duplicate generation in ${gens.join(',')}`);
    assert.deepEqual(
      (await a.list(uuid)).map((x) => x.generation).sort((p, q) => p - q),
      [...gens].sort((p, q) => p - q),
    );
  });
  it('sweeps temp files a killed writer left once they are stale, and keeps fresh ones a live host is writing', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'nus-dir-sweep-'));
    try {
      const dir = path.join(root, 'instances', 'u1');
      fs.mkdirSync(dir, { recursive: true });
      const stale = path.join(dir, '000001.nus.tmp-123-abc');
      const staleClaim = path.join(dir, '000002.claim.tmp-9-x');
      const fresh = path.join(dir, '000003.nus.tmp-456-def');
      const object = path.join(dir, '000001.nus');
      for (const f of [stale, staleClaim, fresh, object]) fs.writeFileSync(f, 'x');
      const old = new Date(Date.now() - 60 * 60 * 1000);
      for (const f of [stale, staleClaim, object]) fs.utimesSync(f, old, old);
      const store = new DirectoryReplicaStore(root);
      await store.init();
      assert.equal(fs.existsSync(stale), false);
      assert.equal(fs.existsSync(staleClaim), false);
      assert.equal(fs.existsSync(fresh), true, 'a fresh temp file may be another host writing');
      assert.equal(fs.existsSync(object), true, 'objects are never swept');
      // Once it is old too, an explicit sweep takes it and names it.
      assert.deepEqual(await store.sweepStaleTemps(0, Date.now() + 1000), ['instances/u1/000003.nus.tmp-456-def']);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
