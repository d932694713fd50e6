/**
 * replica/admin on in-memory hosts sharing one replica store (the real ReplicaService and
 * ReplicaLog): how each instance in the store is judged (orphaned or kept, with why), what
 * prune removes (nothing on a dry run, only orphans, re-checked under the instance's lock),
 * the backups listing and a backup written now, and the refusal without replicas.
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { createBackup, listBackups, listOrphans, pruneOrphans, replicaInstances, replicasOrRefuse, type HostAccess } from '../../../src/replica/admin';
import type { ReplicaService } from '../../../src/replica/scheduler';
import type { InstanceRecord, RecordStore } from '../../../src/state/records';
import { KeyedMutex } from '../../../src/util/mutex';
import { MemoryReplicaStore } from '../../support/memoryReplicaStore';
import { UEFI, makeWorld, newInstance, nova, type Host, type Inst, type World } from '../../support/driverHarness';

/** The host's access as the driver would give it, over its real record store; `snapshot` answers `content`. */
function access(h: Host, content = Buffer.alloc(4096, 0x5a), records: RecordStore = h.records): HostAccess {
  return { records, locks: new KeyedMutex(), snapshot: async () => ({ content, firmware: null }), log: h.log };
}

const byUuid = <T extends { instance_uuid: string }>(xs: T[], u: string) => xs.find((x) => x.instance_uuid === u);

describe('replica/admin', () => {
  let w: World;
  let A: Host, B: Host;
  let svcA: ReplicaService, svcB: ReplicaService;
  beforeEach(async () => {
    w = await makeWorld({ hosts: ['compute1', 'compute2'], replicaStore: new MemoryReplicaStore() });
    [A, B] = w.hosts;
    svcA = A.replicas!;
    svcB = B.replicas!;
  });
  afterEach(() => w.cleanup());

  async function spawned(i: Inst): Promise<void> {
    await A.driver.spawn(i.uuid, { instance: i, image_meta: UEFI });
    await svcA.idle();
  }
  /** A destroy naming no task (an operator's call): it leaves a tombstone. */
  async function destroyedUntracked(i: Inst): Promise<void> {
    await A.driver.destroy(i.uuid, { instance: i, destroy_disks: true });
    await svcA.idle();
  }

  it('replicasOrRefuse refuses with Invalid 409 when replicas are not configured, and hands the service through otherwise', () => {
    assert.throws(() => replicasOrRefuse(null), nova('Invalid', { code: 409, fragment: '[replica] backend = none' }));
    assert.throws(() => replicasOrRefuse(undefined), nova('Invalid', { code: 409 }));
    assert.equal(replicasOrRefuse(svcA), svcA);
  });

  it('replicaInstances: not configured without a service; every instance of the store (any host) with one', async () => {
    assert.deepEqual(await replicaInstances(null), { configured: false, instances: [] });
    const i = newInstance();
    await spawned(i);
    assert.deepEqual(await replicaInstances(svcB), { configured: true, instances: [i.uuid] });
  });

  it('judges each instance: kept with a record here, kept when it may live elsewhere, orphaned after an untracked destroy, kept when shelved', async () => {
    const live = newInstance();
    const gone = newInstance();
    const shelved = newInstance();
    for (const i of [live, gone, shelved]) await spawned(i);
    await destroyedUntracked(gone);
    await svcA.writeNow(shelved.uuid, Buffer.alloc(4096, 1), null, 'shelve');

    const onA = await listOrphans(svcA, access(A));
    assert.equal(onA.backend, svcA.backend);
    assert.deepEqual(
      onA.orphans.map((o) => o.instance_uuid),
      [gone.uuid],
    );
    assert.match(byUuid(onA.kept, live.uuid)!.why, /^this host has a record of it \(/);
    assert.match(byUuid(onA.kept, shelved.uuid)!.why, /^this host has a record of it/);
    const o = byUuid(onA.orphans, gone.uuid)!;
    assert.deepEqual(o.generations, [1]);
    assert.equal(o.owner, 'compute1');
    assert.match(o.why, /^destroyed on compute1 at \S+ without Nova's task state; nothing claimed since$/);

    // compute2 has no record of any of them: the tombstone is in the shared store, the shelve generation too.
    const onB = await listOrphans(svcB, access(B));
    assert.deepEqual(
      onB.orphans.map((x) => x.instance_uuid),
      [gone.uuid],
    );
    assert.equal(byUuid(onB.kept, live.uuid)!.why, 'no record on this host and no tombstone: it may live on compute1 or be shelved');
    assert.equal(byUuid(onB.kept, shelved.uuid)!.why, 'shelved (generation 2 by compute1): unshelve restores it');
    assert.equal(onB.orphans.length + onB.kept.length, 3);
  });

  it('a dry run removes nothing; a prune of a named instance that is not orphaned is refused naming why; a prune removes only the orphans', async () => {
    const live = newInstance();
    const gone = newInstance();
    await spawned(live);
    await spawned(gone);
    await destroyedUntracked(gone);
    const host = access(A);

    const dry = await pruneOrphans(svcA, host, { dryRun: true });
    assert.equal(dry.dry_run, true);
    assert.deepEqual(
      dry.orphans.map((o) => o.instance_uuid),
      [gone.uuid],
    );
    assert.deepEqual(dry.removed, []);
    assert.deepEqual((await svcA.instances()).sort(), [live.uuid, gone.uuid].sort());

    const unknown = '00000000-0000-4000-8000-000000000001';
    await assert.rejects(
      pruneOrphans(svcA, host, { dryRun: false, instances: [gone.uuid, live.uuid, unknown] }),
      nova('Invalid', { code: 409, fragment: `not orphaned: ${live.uuid} (this host has a record of it` }),
    );
    await assert.rejects(
      pruneOrphans(svcA, host, { dryRun: false, instances: [unknown] }),
      nova('Invalid', { fragment: `${unknown} (nothing of it in the replica store)` }),
    );
    assert.deepEqual((await svcA.instances()).sort(), [live.uuid, gone.uuid].sort(), 'a refused prune removed nothing');

    const r = await pruneOrphans(svcA, host, { dryRun: false });
    assert.equal(r.dry_run, false);
    assert.equal(r.removed.length, 1);
    assert.equal(r.removed[0].instance_uuid, gone.uuid);
    assert.ok(r.removed[0].objects >= 1, JSON.stringify(r.removed));
    assert.deepEqual(await svcA.instances(), [live.uuid]);
    assert.deepEqual(await svcA.generations.tombstones(gone.uuid), []);
    assert.equal(await svcA.localTombstone(gone.uuid), null);
    assert.ok(A.log.lines.some((l) => l.msg === 'orphaned replicas removed' && l.instance_uuid === gone.uuid));
    // Nothing left to prune.
    assert.deepEqual((await listOrphans(svcA, host)).orphans, []);
  });

  it('prune re-checks each orphan under its lock: an instance that came back after the listing is not removed', async () => {
    const gone = newInstance();
    await spawned(gone);
    await destroyedUntracked(gone);
    // The first look (the listing) finds no record; the second (under the lock) finds it back.
    let looks = 0;
    const records = Object.assign(Object.create(A.records) as RecordStore, {
      peek: async (u: string): Promise<Readonly<InstanceRecord> | null> =>
        u === gone.uuid && ++looks > 1 ? ({ vmState: 'active' } as InstanceRecord) : A.records.peek(u),
    });
    const host = access(A, undefined, records);
    const r = await pruneOrphans(svcA, host, { dryRun: false });
    assert.equal(looks, 2);
    assert.deepEqual(
      r.orphans.map((o) => o.instance_uuid),
      [gone.uuid],
      'listed as orphaned',
    );
    assert.deepEqual(r.removed, []);
    assert.deepEqual(await svcA.instances(), [gone.uuid]);
    const warn = A.log.lines.find((l) => l.msg === 'orphaned replicas not removed: no longer orphaned');
    assert.equal(warn?.why, 'this host has a record of it (active)');
  });

  it('listBackups: newest first; InstanceNotFound for an instance with neither backups nor a record; a shelved-off instance lists without a record', async () => {
    const i = newInstance();
    await spawned(i);
    await svcA.writeNow(i.uuid, Buffer.alloc(4096, 2), null, 'manual');
    const mine = await listBackups(svcA, access(A), i.uuid);
    assert.deepEqual(
      mine.backups.map((b) => `${b.generation}.${b.reason}.${b.host}`),
      ['2.manual.compute1', '1.spawn.compute1'],
    );
    const onB = await listBackups(svcB, access(B), i.uuid);
    assert.equal(onB.backups.length, 2, 'compute2 has no record but the store has generations');
    const none = newInstance();
    await assert.rejects(listBackups(svcA, access(A), none.uuid), nova('InstanceNotFound', { code: 404 }));
  });

  it('createBackup writes the snapshot now as a manual generation and answers its view once read back', async () => {
    const i = newInstance();
    await spawned(i);
    const content = Buffer.alloc(8192, 0x3c);
    const { backup } = await createBackup(svcA, access(A, content), i.uuid);
    assert.equal(backup.generation, 2);
    assert.equal(backup.reason, 'manual');
    assert.equal(backup.host, 'compute1');
    assert.equal(backup.size, 8192);
    assert.equal(backup.sha256, createHash('sha256').update(content).digest('hex'));
    assert.ok(backup.stored_bytes > 0 && backup.stored_bytes < 8192, `compressed and encrypted: ${backup.stored_bytes}`);
    const listed = (await svcA.list(i.uuid))[0];
    assert.deepEqual(listed, backup);
    const read = await svcA.read(i.uuid, 2);
    assert.ok(read?.store.equals(content));
  });

  it('createBackup fails as the snapshot does and writes nothing', async () => {
    const i = newInstance();
    await spawned(i);
    const host: HostAccess = { ...access(A), snapshot: () => Promise.reject(new Error('no store')) };
    await assert.rejects(createBackup(svcA, host, i.uuid), /no store/);
    assert.equal((await svcA.list(i.uuid)).length, 1);
  });
});
