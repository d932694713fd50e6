/**
 * replica/scheduler (with replica/reactions) and driver/restore on in-memory hosts sharing one replica store: when
 * generations are written (spawn, stop, a changed store, on demand), what get_info shows, and
 * the flows that need the store off the host: shelve-offload → unshelve on another host,
 * evacuate, point-in-time restore, delete, and the faults (store down, tampered object,
 * wrong key, a source coming back after an evacuation).
 */
import { strict as assert } from 'node:assert';
import { makeWorld, markStore, migration, newInstance, nova, domainName, BIOS, UEFI, type Host, type Inst, type World } from '../../support/driverHarness';
import { MemoryReplicaStore } from '../../support/memoryReplicaStore';
import { makeKeyring, parseKey } from '../../../src/replica/keys';
import type { InstanceView } from '../../../src/driver/contract';
import * as path from 'node:path';
import * as fs from 'node:fs';
import { createHash } from 'node:crypto';

const storePath = (h: Host, i: Inst) => path.join(h.nvramDir, `${domainName(i)}_VARS.fd`);
const replicaStateFile = (h: Host, i: Inst) => path.join(h.config.hypervisor.state_dir, 'replicas', `${i.uuid}.json`);
const fileSha = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
const gens = async (h: Host, i: Inst) => (await h.driver.listNvramBackups(i.uuid)).backups.map((b) => `${b.generation}.${b.reason}.${b.host}`);

async function spawned(h: Host, i: Inst): Promise<InstanceView> {
  const v = await h.driver.spawn(i.uuid, { instance: i, image_meta: UEFI });
  await h.replicas!.idle();
  return v;
}

/**
 * A live migration's steps up to the hand-over, in Nova's order, from `src` to `dst` (host names
 * `from` and `to`); `inst` as Nova sends it. The migrate data the later steps take.
 */
async function handOver(src: Host, dst: Host, inst: Inst, from: string, to: string) {
  const live = migration(from, to, 'live-migration');
  const d = await dst.driver.checkCanLiveMigrateDestination(inst.uuid, { instance: inst, block_migration: false });
  const s = await src.driver.checkCanLiveMigrateSource(inst.uuid, { instance: inst, dest_check_data: { ...d.migrate_data, migration: live } });
  const p = await dst.driver.preLiveMigration(inst.uuid, { instance: inst, migrate_data: s.migrate_data });
  await src.driver.liveMigration(inst.uuid, { instance: inst, dest: to, migrate_data: p.migrate_data });
  return p.migrate_data;
}

/** Power off, mark the store as a guest would, and return its bytes. */
async function marked(h: Host, i: Inst, marker: string): Promise<Buffer> {
  await h.driver.powerOff(i.uuid, { instance: i });
  await h.replicas!.idle();
  return markStore(storePath(h, i), marker);
}

/** Every pass over a store on `h` from now on (its digest for an answer, a generation's read), in the order they start and end. */
function recordPasses(h: Host): string[] {
  const passes: string[] = [];
  const cachedInfo = h.nvram.cachedInfo.bind(h.nvram);
  h.nvram.cachedInfo = async (p: string) => {
    passes.push('digest:start');
    try {
      return await cachedInfo(p);
    } finally {
      passes.push('digest:end');
    }
  };
  const readPieces = h.nvram.readPieces.bind(h.nvram);
  h.nvram.readPieces = (p: string, f: (piece: Buffer) => void | Promise<void>) => (passes.push('generation:start'), readPieces(p, f));
  return passes;
}

describe('replica/scheduler', () => {
  let w: World;
  let store: MemoryReplicaStore;
  let A: Host, B: Host;
  beforeEach(async () => {
    store = new MemoryReplicaStore();
    w = await makeWorld({ hosts: ['compute1', 'compute2'], replicaStore: store });
    [A, B] = w.hosts;
  });
  afterEach(() => w.cleanup());

  it('spawn answers before its generation is written, then generation 1 (spawn) appears and get_info shows it current', async () => {
    const i = newInstance();
    store.down = true;
    const v = await A.driver.spawn(i.uuid, { instance: i, image_meta: UEFI });
    assert.equal(v.nvram?.replica?.state, 'pending');
    store.down = false;
    await A.replicas!.idle();
    // The first attempt met a store that was down; the retry is due after retry_interval.
    const info = await A.driver.getInfo(i.uuid);
    assert.ok(['stale', 'current'].includes(info.nvram?.replica?.state ?? ''), JSON.stringify(info.nvram?.replica));
    const j = newInstance();
    await spawned(A, j);
    const r = (await A.driver.getInfo(j.uuid)).nvram?.replica;
    assert.equal(r?.state, 'current');
    assert.equal(r?.generation, 1);
    assert.ok((r?.age_seconds ?? 99) < 5);
    assert.deepEqual(await gens(A, j), ['1.spawn.compute1']);
  });

  it('a stop writes a generation when the store changed; the periodic scan too, and nothing for an unchanged store', async () => {
    const i = newInstance();
    await spawned(A, i);
    await marked(A, i, 'changed-while-off');
    await A.driver.powerOff(i.uuid, { instance: i });
    await A.replicas!.idle();
    assert.deepEqual(await gens(A, i), ['2.stop.compute1', '1.spawn.compute1'], 'the first stop found the spawn generation unchanged');
    assert.equal(await A.replicas!.scan(), 0, 'nothing changed since');
    markStore(storePath(A, i), 'changed-again');
    assert.equal(await A.replicas!.scan(), 1);
    await A.replicas!.idle();
    assert.deepEqual(await gens(A, i), ['3.periodic.compute1', '2.stop.compute1', '1.spawn.compute1']);
  });

  it('an edit of the store through the variable API writes a generation (reason edit) that carries it; an unchanged store writes none', async () => {
    const i = newInstance();
    await spawned(A, i);
    await A.driver.powerOff(i.uuid, { instance: i });
    await A.replicas!.idle();
    const before = await gens(A, i);
    await A.driver.putNvramVariable(i.uuid, '6c1e2a57-9b3d-4f0e-8a21-5d7c3b9e4f10', 'Marker', { data: 'c0ffee' });
    await A.replicas!.idle();
    const after = await gens(A, i);
    assert.equal(after.length, before.length + 1, JSON.stringify(after));
    assert.match(after[0], /^\d+\.edit\.compute1$/);
    // the generation holds the edited store: B restores it on an evacuation
    const edited = fs.readFileSync(storePath(A, i));
    await B.driver.spawn(i.uuid, { instance: { ...i, host: 'compute2' }, image_meta: UEFI, evacuate: true });
    assert.ok(fs.readFileSync(storePath(B, i)).equals(edited), 'B boots with the edited store');
    // an edit that changes nothing (the same value again) queues a generation that is skipped
    await B.driver.powerOff(i.uuid, { instance: { ...i, host: 'compute2' } });
    await B.replicas!.idle();
    const n = (await gens(B, i)).length;
    await B.driver.putNvramVariable(i.uuid, '6c1e2a57-9b3d-4f0e-8a21-5d7c3b9e4f10', 'Marker', { data: 'c0ffee' });
    await B.replicas!.idle();
    assert.equal((await gens(B, i)).length, n);
  });

  it('on demand: POST backups writes a generation and answers once it was read back', async () => {
    const i = newInstance();
    await spawned(A, i);
    const b = await A.driver.createNvramBackup(i.uuid);
    assert.equal(b.backup.generation, 2);
    assert.equal(b.backup.reason, 'manual');
    assert.equal(b.backup.size, 540672);
    assert.ok(b.backup.stored_bytes > 0 && b.backup.stored_bytes < 20_000);
  });

  it('shelve-offload on A, unshelve on B: the marker survives, B names the generation restored and takes the replicas over', async () => {
    const i = newInstance();
    await spawned(A, i);
    const want = await marked(A, i, 'marker-before-shelve');
    await A.driver.destroy(i.uuid, { instance: { ...i, task_state: 'shelving_offloading', vm_state: 'shelved' } });
    assert.deepEqual(A.nvramFiles(), [], 'the local store went after the shelve generation');
    assert.deepEqual(await gens(A, i), ['2.shelve.compute1', '1.spawn.compute1']);
    const moved = { ...i, host: 'compute2', task_state: 'unshelving', vm_state: 'shelved_offloaded' };
    const v = await B.driver.spawn(i.uuid, { instance: moved, image_meta: UEFI });
    assert.ok(fs.readFileSync(storePath(B, i)).equals(want), 'restored byte for byte');
    assert.equal(v.nvram?.replica?.restored?.generation, 2);
    assert.equal(v.nvram?.replica?.restored?.host, 'compute1');
    assert.ok(v.warnings.some((x) => /restored from replica generation 2/.test(x)));
    await B.replicas!.idle();
    assert.equal((await gens(B, i))[0], '3.unshelve.compute2');
    // A's leftover knowledge of the instance is gone; B owns the replicas.
    assert.equal((await B.driver.getInfo(i.uuid)).nvram?.replica?.state, 'current');
    assert.equal(A.replicas!.view(i.uuid).state, 'none', 'the cold-migration source keeps no replica state');
    assert.ok(!fs.existsSync(replicaStateFile(A, i)));
  });

  it('shelve-offload with the replica store down is refused and keeps the store, domain and record', async () => {
    const i = newInstance();
    await spawned(A, i);
    const want = await marked(A, i, 'keep-me');
    store.down = true;
    await assert.rejects(
      A.driver.destroy(i.uuid, { instance: { ...i, task_state: 'shelving_offloading' } }),
      nova('ReplicaUnavailable', { code: 503, fragment: 'local store' }),
    );
    assert.ok(fs.readFileSync(storePath(A, i)).equals(want));
    assert.ok(await A.records.get(i.uuid));
    store.down = false;
    await A.driver.destroy(i.uuid, { instance: { ...i, task_state: 'shelving_offloading' } });
    assert.deepEqual(A.nvramFiles(), []);
  });

  it('evacuate to B restores the newest generation; A returning and destroying leaves B and the replicas alone, and A is fenced', async () => {
    const i = newInstance();
    await spawned(A, i);
    const want = await marked(A, i, 'last-generation-marker');
    await A.driver.powerOn(i.uuid, { instance: i });
    await A.replicas!.scan();
    await A.replicas!.idle();
    // A's host dies. Nova evacuates to B (the spawn of _rebuild_default_impl).
    const moved = { ...i, host: 'compute2' };
    const v = await B.driver.spawn(i.uuid, { instance: moved, image_meta: UEFI, evacuate: true });
    assert.ok(fs.readFileSync(storePath(B, i)).equals(want));
    assert.equal(v.nvram?.replica?.restored?.generation, 2);
    assert.equal(typeof v.nvram?.replica?.restored?.age_seconds, 'number');
    await B.replicas!.idle();
    // A's sidecar still runs: a change there is refused (another host owns the replicas).
    markStore(storePath(A, i), 'zombie-write');
    await A.replicas!.scan();
    await A.replicas!.idle();
    assert.equal((await A.driver.getInfo(i.uuid)).nvram?.replica?.state, 'fenced');
    // A comes back: Nova's _destroy_evacuated_instances destroys with the instance now on compute2.
    const before = await gens(B, i);
    await A.driver.destroy(i.uuid, { instance: { ...moved, task_state: null }, destroy_disks: true });
    assert.deepEqual(await gens(B, i), before, 'replicas untouched');
    assert.ok(fs.readFileSync(storePath(B, i)).equals(want), "B's store untouched");
    assert.equal((await B.driver.getInfo(i.uuid)).nvram?.replica?.state, 'current');
    assert.equal(A.replicas!.view(i.uuid).state, 'none', 'the cold-migration source keeps no replica state');
    assert.ok(!fs.existsSync(replicaStateFile(A, i)));
  });

  it('rebuild with evacuate on a host without the instance is an evacuating spawn', async () => {
    const i = newInstance();
    await spawned(A, i);
    const want = await marked(A, i, 'rebuild-evacuate');
    await A.replicas!.scan();
    await A.replicas!.idle();
    const v = await B.driver.rebuild(i.uuid, { instance: { ...i, host: 'compute2' }, image_meta: UEFI, evacuate: true });
    assert.ok(fs.readFileSync(storePath(B, i)).equals(want));
    assert.ok(v.nvram?.replica?.restored);
  });

  it('a tampered newest generation stops an evacuation naming it; the older one is restored only once an operator pinned it', async () => {
    const i = newInstance();
    await spawned(A, i);
    const want = await marked(A, i, 'older-good');
    await A.replicas!.scan();
    await A.replicas!.idle();
    await A.driver.createNvramBackup(i.uuid);
    const newest = [...store.objects.keys()]
      .filter((k) => k.includes('/gen/'))
      .sort()
      .pop()!;
    store.objects.get(newest)![100] ^= 0x55;
    await A.driver.destroy(i.uuid, { instance: i, destroy_disks: true });
    const args = { instance: { ...i, host: 'compute2' }, image_meta: UEFI, evacuate: true };
    await assert.rejects(B.driver.spawn(i.uuid, args), nova('ReplicaCorrupt', { fragment: 'newest generation 3 cannot be restored' }));
    assert.equal(fs.existsSync(storePath(B, i)), false, 'nothing created');
    // The operator's explicit choice, on any sidecar: generation 2 for the next restore.
    const pinned = await B.driver.restoreNvram(i.uuid, 2);
    assert.equal(pinned.pinned, true);
    assert.equal(pinned.nvram, null);
    const v = await B.driver.spawn(i.uuid, args);
    assert.ok(fs.readFileSync(storePath(B, i)).equals(want));
    assert.equal(v.nvram?.replica?.restored?.generation, 2);
    assert.ok(
      v.warnings.some((x) => /generation 3 passed over: generation 2 was chosen by restore_nvram on compute2/.test(x)),
      v.warnings.join('\n'),
    );
  });

  it('an unshelve where the replica store is down or the key is wrong is refused with nothing created', async () => {
    const other = await makeWorld({
      hosts: ['compute1', 'compute3'],
      replicaStore: store,
      replicaKeys: { compute3: makeKeyring(parseKey('77'.repeat(32), 'other')) },
    });
    try {
      const [a, c] = other.hosts;
      const i = newInstance();
      await spawned(a, i);
      await a.driver.destroy(i.uuid, { instance: { ...i, task_state: 'shelving_offloading' } });
      const args = { instance: { ...i, host: 'compute3', task_state: 'unshelving' }, image_meta: UEFI };
      await assert.rejects(c.driver.spawn(i.uuid, args), nova('ReplicaKeyError', { fragment: 'encryption_key_file' }));
      assert.deepEqual(c.nvramFiles(), []);
      assert.equal(await c.records.get(i.uuid), null);
      store.down = true;
      await assert.rejects(c.driver.spawn(i.uuid, args), nova('ReplicaUnavailable'));
      assert.deepEqual(c.nvramFiles(), []);
    } finally {
      other.cleanup();
    }
  });

  it('point-in-time restore of an older generation while shut off; refused while running', async () => {
    const i = newInstance();
    await spawned(A, i);
    const first = fs.readFileSync(storePath(A, i));
    await marked(A, i, 'later-change');
    await A.replicas!.scan();
    await A.replicas!.idle();
    await assert.rejects(A.driver.restoreNvram(i.uuid, 99), nova('NotFound'));
    const r = await A.driver.restoreNvram(i.uuid, 1);
    assert.equal(r.restored.generation, 1);
    assert.ok(fs.readFileSync(storePath(A, i)).equals(first));
    await A.replicas!.idle();
    assert.equal((await gens(A, i))[0], '3.restore.compute1');
    await A.driver.powerOn(i.uuid, { instance: i });
    await assert.rejects(A.driver.restoreNvram(i.uuid, 1), nova('InstanceInvalidState'));
  });

  it('delete (task_state deleting) removes the replicas after the local store; a plain destroy keeps them', async () => {
    const i = newInstance();
    await spawned(A, i);
    await A.driver.destroy(i.uuid, { instance: i, destroy_disks: true });
    assert.equal((await A.replicas!.list(i.uuid)).length, 1, 'a destroy without a delete task state keeps replicas');
    const j = newInstance();
    await spawned(A, j);
    await A.driver.destroy(j.uuid, { instance: { ...j, task_state: 'deleting' } });
    assert.deepEqual(A.nvramFiles(), []);
    assert.deepEqual(await A.replicas!.list(j.uuid), []);
    assert.equal([...store.objects.keys()].filter((k) => k.includes(j.uuid)).length, 0, 'claims gone too');
  });

  it('a delete while the replica store is down goes on; the replicas are removed by the retry once it answers', async () => {
    const i = newInstance();
    await spawned(A, i);
    store.down = true;
    await A.driver.destroy(i.uuid, { instance: { ...i, task_state: 'deleting' } });
    assert.deepEqual(A.nvramFiles(), [], 'the local delete went on');
    assert.ok(A.log.lines.some((l) => l.msg === 'nvram replicas could not be deleted yet; retried with back-off'));
    store.down = false;
    assert.equal([...store.objects.keys()].filter((k) => k.includes(i.uuid)).length > 0, true);
    await new Promise((r) => setTimeout(r, 1100));
    A.replicas!.start();
    await new Promise((r) => setTimeout(r, 1200));
    await A.replicas!.stop();
    assert.equal([...store.objects.keys()].filter((k) => k.includes(i.uuid)).length, 0, 'retried and removed');
  });

  it('store down while guests run: stale, then caught up by the retry once it answers', async () => {
    const i = newInstance();
    await spawned(A, i);
    store.down = true;
    await marked(A, i, 'during-outage');
    await A.replicas!.scan();
    await A.replicas!.idle();
    assert.equal((await A.driver.getInfo(i.uuid)).nvram?.replica?.state, 'stale');
    assert.match((await A.driver.getInfo(i.uuid)).nvram?.replica?.error ?? '', /unavailable/);
    store.down = false;
    await new Promise((r) => setTimeout(r, 1100));
    A.replicas!.start();
    await new Promise((r) => setTimeout(r, 1200));
    await A.replicas!.idle();
    await A.replicas!.stop();
    const info = (await A.driver.getInfo(i.uuid)).nvram?.replica;
    assert.equal(info?.state, 'current');
    assert.equal(info?.generation, 2);
  });

  it('summary (the metrics): instances per state and the oldest change no generation holds; a spawn without a store is not counted', async () => {
    const bios = newInstance();
    await A.driver.spawn(bios.uuid, { instance: bios, image_meta: BIOS });
    await A.replicas!.idle();
    assert.deepEqual(A.replicas!.summary(), { states: {}, oldestUnreplicated: null }, 'no store: nothing waits');
    const i = newInstance();
    await spawned(A, i);
    assert.deepEqual(A.replicas!.summary(), { states: { current: 1 }, oldestUnreplicated: null });
    store.down = true;
    const t0 = Date.now();
    await marked(A, i, 'during-outage');
    await A.replicas!.scan();
    await A.replicas!.idle();
    const stale = A.replicas!.summary();
    assert.deepEqual(stale.states, { stale: 1 });
    assert.ok(
      stale.oldestUnreplicated !== null && stale.oldestUnreplicated >= t0 - 1000 && stale.oldestUnreplicated <= Date.now(),
      String(stale.oldestUnreplicated),
    );
    // Retries keep the time the change was first noticed.
    await new Promise((r) => setTimeout(r, 1100));
    A.replicas!.enqueue(i.uuid, 'periodic');
    await A.replicas!.idle();
    assert.equal(A.replicas!.summary().oldestUnreplicated, stale.oldestUnreplicated);
    store.down = false;
    A.replicas!.enqueue(i.uuid, 'periodic');
    await A.replicas!.idle();
    assert.deepEqual(A.replicas!.summary(), { states: { current: 1 }, oldestUnreplicated: null });
  });

  it('catch-up after an outage writes every changed store with at most [replica] concurrency in flight', async () => {
    // Generation writes are held until [replica] concurrency of them are in flight at once (or
    // 2 s pass, for a scheduler that never gets there): the peak then says what the limit is,
    // whatever the machine's speed. Unlimited would reach 12, a serial scheduler 1.
    class Slow extends MemoryReplicaStore {
      inFlight = 0;
      peak = 0;
      private gate: Promise<void> | null = null;
      private open: (() => void) | null = null;
      override async put(key: string, body: Buffer): Promise<void> {
        if (!key.includes('/gen/')) return super.put(key, body);
        this.peak = Math.max(this.peak, ++this.inFlight);
        if (!this.gate) {
          this.gate = new Promise<void>((r) => {
            this.open = r;
            setTimeout(r, 2000).unref();
          });
        }
        if (this.inFlight >= 3) this.open?.();
        await this.gate;
        await new Promise((r) => setTimeout(r, 5));
        this.inFlight--;
        return super.put(key, body);
      }
    }
    const slow = new Slow();
    const cw = await makeWorld({ replicaStore: slow, replicaOptions: { concurrency: 3 } });
    try {
      const h = cw.hosts[0];
      const insts = Array.from({ length: 12 }, () => newInstance());
      slow.down = true;
      for (const i of insts) await h.driver.spawn(i.uuid, { instance: i, image_meta: UEFI });
      await h.replicas!.idle();
      for (const i of insts) assert.equal((await h.driver.getInfo(i.uuid)).nvram?.replica?.state, 'stale');
      slow.down = false;
      for (const i of insts) h.replicas!.enqueue(i.uuid, 'periodic');
      await h.replicas!.idle();
      for (const i of insts) assert.equal((await h.driver.getInfo(i.uuid)).nvram?.replica?.state, 'current');
      assert.equal(slow.peak, 3);
    } finally {
      cw.cleanup();
    }
  });

  it('cold and live migrations: the source writes a move generation before the store leaves, the destination takes the replicas over', async () => {
    const i = newInstance();
    await spawned(A, i);
    await marked(A, i, 'before-cold-move');
    const mig = migration('compute1', 'compute2');
    await A.driver.migrateDiskAndPowerOff(i.uuid, { instance: i, dest: 'compute2', migration: mig });
    const moved = { ...i, host: 'compute2' };
    await B.driver.finishMigration(i.uuid, { migration: mig, instance: moved, image_meta: UEFI, disk_info: '[]' });
    await A.driver.confirmMigration(i.uuid, { migration: mig, instance: moved });
    await Promise.all([A.replicas!.idle(), B.replicas!.idle()]);
    assert.deepEqual((await gens(B, i)).slice(0, 2), ['3.move.compute2', '2.move.compute1']);
    assert.equal((await B.driver.getInfo(i.uuid)).nvram?.replica?.state, 'current');
    assert.equal(A.replicas!.view(i.uuid).state, 'none', 'the cold-migration source keeps no replica state');
    assert.ok(!fs.existsSync(replicaStateFile(A, i)));

    // Live, back to A: the running guest's store as it is before the hand-over.
    markStore(storePath(B, i), 'before-live-move');
    const md = await handOver(B, A, moved, 'compute2', 'compute1');
    await B.driver.postLiveMigration(i.uuid, { instance: moved, migrate_data: md });
    await B.driver.postLiveMigrationAtSource(i.uuid, { instance: moved });
    await A.driver.postLiveMigrationAtDestination(i.uuid, { instance: i });
    await Promise.all([A.replicas!.idle(), B.replicas!.idle()]);
    assert.deepEqual((await gens(A, i)).slice(0, 2), ['5.move.compute1', '4.move.compute2']);
    assert.equal(B.replicas!.view(i.uuid).state, 'none', 'the live-migration source keeps no replica state');
    assert.ok(!fs.existsSync(replicaStateFile(B, i)));
  });

  it('a live migration of a store unchanged since its last generation reads nothing on the source and writes no move generation', async () => {
    const i = newInstance();
    await spawned(A, i);
    await A.replicas!.idle();
    // Reads of the store other than the hypervisor's own hand-over (QEMU's, in production),
    // which may run at the same time as the replica job: told apart by the caller.
    const reads: string[] = [];
    const count = (p: string) => {
      if (!new Error().stack?.includes('MemoryHypervisor.liveMigrate')) reads.push(p);
    };
    const read = A.nvram.read.bind(A.nvram);
    A.nvram.read = (p: string) => (count(p), read(p));
    const readHashed = A.nvram.readHashed.bind(A.nvram);
    A.nvram.readHashed = (p: string) => (count(p), readHashed(p));
    const readPieces = A.nvram.readPieces.bind(A.nvram);
    A.nvram.readPieces = (p: string, f: (piece: Buffer) => void | Promise<void>) => (count(p), readPieces(p, f));
    await handOver(A, B, i, 'compute1', 'compute2');
    await A.replicas!.idle();
    assert.deepEqual(reads, [], 'the unchanged store was not read for a replica');
    assert.deepEqual(await gens(A, i), ['1.spawn.compute1'], 'no move generation of an unchanged store');
    // Changed before the hand-over: read, and a move generation.
    markStore(storePath(A, i), 'changed-before-live');
    await A.replicas!.scan();
    await A.replicas!.idle();
    assert.equal(reads.length, 1, 'a changed store is read once');
  });

  it('a generation of the store on disk reads it piece by piece, never whole (spawn, and the takeover after a live migration), and carries its bytes', async () => {
    const whole: string[] = [];
    const pieces: string[] = [];
    for (const h of [A, B]) {
      const byReplicas = () => new Error().stack?.includes('ReplicaService.') ?? false;
      const read = h.nvram.read.bind(h.nvram);
      h.nvram.read = (p: string) => (byReplicas() && whole.push(`${h.name} read`), read(p));
      const readHashed = h.nvram.readHashed.bind(h.nvram);
      h.nvram.readHashed = (p: string) => (byReplicas() && whole.push(`${h.name} readHashed`), readHashed(p));
      const readPieces = h.nvram.readPieces.bind(h.nvram);
      h.nvram.readPieces = (p: string, f: (piece: Buffer) => void | Promise<void>) => (pieces.push(h.name), readPieces(p, f));
    }
    const i = newInstance();
    await spawned(A, i);
    assert.deepEqual(pieces, ['compute1'], 'the spawn generation read the store piece by piece');
    assert.ok((await A.replicas!.read(i.uuid, 1))?.store.equals(fs.readFileSync(storePath(A, i))), 'generation 1 holds the store');
    markStore(storePath(A, i), 'running-guest');
    const md = await handOver(A, B, i, 'compute1', 'compute2');
    await A.driver.postLiveMigration(i.uuid, { instance: i, migrate_data: md });
    await A.driver.postLiveMigrationAtSource(i.uuid, { instance: i });
    await B.driver.postLiveMigrationAtDestination(i.uuid, { instance: { ...i, host: 'compute2' } });
    await Promise.all([A.replicas!.idle(), B.replicas!.idle()]);
    assert.deepEqual(whole, [], 'no replica job read a store whole');
    assert.ok(pieces.includes('compute2'), 'the takeover read the store piece by piece');
    const newest = await B.replicas!.newest(i.uuid);
    assert.match(`${newest?.entry.generation}.${newest?.entry.reason}.${newest?.entry.host}`, /^\d+\.move\.compute2$/);
    assert.ok(newest?.store.equals(fs.readFileSync(storePath(B, i))), 'the takeover generation holds the store the guest runs on');
    assert.equal(B.replicas!.view(i.uuid).state, 'current');
    assert.equal(B.replicas!.view(i.uuid).generation, newest?.entry.generation);
  });

  it('post_live_migration_at_destination has the store hashed for its answer before the takeover generation starts reading it', async () => {
    const i = newInstance();
    await spawned(A, i);
    await handOver(A, B, i, 'compute1', 'compute2');
    await A.driver.postLiveMigrationAtSource(i.uuid, { instance: i });
    // The staged copy's background check (pre_live_migration's) is done: only this call's passes count.
    await B.nvram.idle();
    const passes = recordPasses(B);
    const v = await B.driver.postLiveMigrationAtDestination(i.uuid, { instance: { ...i, host: 'compute2' } });
    await B.replicas!.idle();
    assert.equal(v.nvram?.sha256, fileSha(storePath(B, i)), "the answer's digest is the store's");
    assert.equal(v.nvram?.replica?.state, 'pending', 'the answer shows the takeover queued');
    assert.deepEqual(passes.slice(0, 3), ['digest:start', 'digest:end', 'generation:start'], passes.join(', '));
    assert.equal(B.replicas!.view(i.uuid).state, 'current');
  });

  it('finish_migration has the store hashed for its answer before the takeover generation starts reading it', async () => {
    const i = newInstance();
    await spawned(A, i);
    const mig = migration('compute1', 'compute2');
    await A.driver.migrateDiskAndPowerOff(i.uuid, { instance: i, dest: 'compute2', migration: mig });
    await A.replicas!.idle();
    const passes = recordPasses(B);
    const v = await B.driver.finishMigration(i.uuid, { migration: mig, instance: { ...i, host: 'compute2' }, image_meta: UEFI, disk_info: '[]' });
    await B.replicas!.idle();
    assert.equal(v.nvram?.sha256, fileSha(storePath(B, i)), "the answer's digest is the store's");
    // Whatever digests the call takes (the answer's among them) are done before the generation reads.
    const read = passes.indexOf('generation:start');
    assert.ok(read > 0, passes.join(', '));
    const count = (xs: string[], x: string) => xs.filter((y) => y === x).length;
    assert.equal(count(passes.slice(0, read), 'digest:start'), count(passes.slice(0, read), 'digest:end'), passes.join(', '));
    assert.equal(count(passes.slice(read), 'digest:start'), 0, passes.join(', '));
    assert.equal(B.replicas!.view(i.uuid).state, 'current');
  });

  it('resize + revert: the source takes the replicas back; a rebuild there writes on as their owner; delete removes them all', async () => {
    const i = newInstance();
    await spawned(A, i);
    const mig = migration('compute1', 'compute2');
    await A.driver.migrateDiskAndPowerOff(i.uuid, { instance: i, dest: 'compute2', migration: mig });
    const moved = { ...i, host: 'compute2' };
    await B.driver.finishMigration(i.uuid, { migration: mig, instance: moved, image_meta: UEFI, disk_info: '[]' });
    await Promise.all([A.replicas!.idle(), B.replicas!.idle()]);
    assert.match((await gens(B, i))[0], /\.move\.compute2$/, 'the destination took the replicas over');
    // Nova reverts: the destination's domain goes, the source finishes the revert.
    await B.driver.destroy(i.uuid, { instance: { ...moved, task_state: 'resize_reverting' } });
    await A.driver.finishRevertMigration(i.uuid, { instance: i, migration: mig });
    await Promise.all([A.replicas!.idle(), B.replicas!.idle()]);
    assert.match((await gens(A, i))[0], /\.move\.compute1$/, 'the source took them back');
    assert.equal((await A.driver.getInfo(i.uuid)).nvram?.replica?.state, 'current');
    assert.equal(B.replicas!.view(i.uuid).state, 'none');
    // The guest changed its store since (a manual generation holds the change).
    await marked(A, i, 'before-rebuild');
    await A.driver.createNvramBackup(i.uuid);
    // Nova's default rebuild on A: destroy (task_state rebuilding), then spawn from the template.
    const rebuilding = { ...i, task_state: 'rebuilding' };
    await A.driver.destroy(i.uuid, { instance: rebuilding });
    await A.driver.spawn(i.uuid, { instance: { ...i, task_state: 'rebuild_spawning' }, image_meta: UEFI });
    await A.replicas!.idle();
    assert.match((await gens(A, i))[0], /\.spawn\.compute1$/, 'the rebuilt store has its generation');
    assert.equal((await A.driver.getInfo(i.uuid)).nvram?.replica?.state, 'current');
    await A.driver.destroy(i.uuid, { instance: { ...i, task_state: 'deleting' } });
    assert.deepEqual(await store.list(`nvram/${i.uuid}/`), [], 'no replica left after the delete');
  });

  it('replicas off: the backups API says so', async () => {
    const plain = await makeWorld();
    try {
      const i = newInstance();
      await plain.hosts[0].driver.spawn(i.uuid, { instance: i, image_meta: UEFI });
      await assert.rejects(plain.hosts[0].driver.listNvramBackups(i.uuid), nova('Invalid', { code: 409, fragment: 'not configured' }));
      assert.equal((await plain.hosts[0].driver.getInfo(i.uuid)).nvram?.replica, undefined);
    } finally {
      plain.cleanup();
    }
  });
});
