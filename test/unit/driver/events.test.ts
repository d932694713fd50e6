/**
 * driver/events: every flow that changes where an instance lives (or what its store holds)
 * announces it, so replication (and any later subscriber) cannot be forgotten by a flow. Each
 * case runs a flow end to end on two hosts with replicas configured and compares what each
 * host announced with what the flow did.
 */
import { strict as assert } from 'node:assert';
import type { MigrateData } from '../../../src/driver/contract';
import type { InstanceEvent } from '../../../src/driver/events';
import { MemoryReplicaStore } from '../../support/memoryReplicaStore';
import { UEFI, makeWorld, migration, newInstance, type Host, type Inst, type World } from '../../support/driverHarness';

/** kind, and the detail that tells the announcements of one kind apart. */
function brief(e: InstanceEvent): string {
  switch (e.kind) {
    case 'store-changed':
      return `store-changed:${e.why}`;
    case 'arrived':
      return `arrived:${e.via}`;
    case 'leaving':
      return `leaving:${e.how}`;
    case 'destroyed':
      return `destroyed:${e.why}`;
    default:
      return e.kind;
  }
}

describe('driver/events', () => {
  let w: World;
  let A: Host, B: Host;
  let heard: Record<string, string[]>;
  beforeEach(async () => {
    w = await makeWorld({ hosts: ['compute1', 'compute2'], replicaStore: new MemoryReplicaStore() });
    [A, B] = w.hosts;
    heard = { compute1: [], compute2: [] };
    for (const h of w.hosts) h.driver.core.events.subscribe((e) => void heard[h.name].push(brief(e)));
  });
  afterEach(async () => {
    for (const h of w.hosts) await h.replicas?.idle();
    w.cleanup();
  });

  async function spawned(h: Host, inst: Inst): Promise<void> {
    await h.driver.spawn(inst.uuid, { instance: inst, image_meta: UEFI });
    heard[h.name].length = 0;
  }

  async function liveMigrated(inst: Inst): Promise<MigrateData> {
    const mig = migration('compute1', 'compute2', 'live-migration');
    const d = await B.driver.checkCanLiveMigrateDestination(inst.uuid, { instance: inst, block_migration: false });
    const s = await A.driver.checkCanLiveMigrateSource(inst.uuid, { instance: inst, dest_check_data: { ...d.migrate_data, migration: mig } });
    const p = await B.driver.preLiveMigration(inst.uuid, { instance: inst, migrate_data: s.migrate_data });
    await A.driver.liveMigration(inst.uuid, { instance: inst, dest: 'compute2', migrate_data: p.migrate_data });
    return p.migrate_data;
  }

  const CASES: [string, (i: Inst) => Promise<void>, { compute1: string[]; compute2: string[] }][] = [
    [
      'spawn: the store changed',
      async (i) => void (await A.driver.spawn(i.uuid, { instance: i, image_meta: UEFI })),
      { compute1: ['store-changed:spawn'], compute2: [] },
    ],
    [
      'power_off and an edit: the store changed',
      async (i) => {
        await spawned(A, i);
        await A.driver.powerOff(i.uuid, { instance: i });
        await A.driver.putNvramVariable(i.uuid, '3c1b9d0e-5d1a-4a7e-9c5f-2f4f0b6a7c11', 'Marker', { data: '01' });
      },
      { compute1: ['store-changed:stop', 'store-changed:edit'], compute2: [] },
    ],
    [
      'rebuild: rebuilt',
      async (i) => {
        await spawned(A, i);
        await A.driver.rebuild(i.uuid, { instance: i, image_meta: UEFI });
      },
      { compute1: ['rebuilt'], compute2: [] },
    ],
    [
      'cold migration + confirm: leaving and left on the source, arrived on the destination',
      async (i) => {
        await spawned(A, i);
        const mig = migration('compute1', 'compute2');
        await A.driver.migrateDiskAndPowerOff(i.uuid, { instance: i, dest: 'compute2' });
        await B.driver.finishMigration(i.uuid, { instance: { ...i, host: 'compute2' }, migration: mig, image_meta: UEFI });
        await A.driver.confirmMigration(i.uuid, { instance: i, migration: mig });
      },
      { compute1: ['leaving:cold', 'left'], compute2: ['arrived:move'] },
    ],
    [
      'cold migration + revert: home again on the source',
      async (i) => {
        await spawned(A, i);
        const mig = migration('compute1', 'compute2');
        await A.driver.migrateDiskAndPowerOff(i.uuid, { instance: i, dest: 'compute2' });
        await B.driver.finishMigration(i.uuid, { instance: { ...i, host: 'compute2' }, migration: mig, image_meta: UEFI });
        await B.driver.destroy(i.uuid, { instance: { ...i, host: 'compute2' } });
        await A.driver.finishRevertMigration(i.uuid, { instance: i, migration: mig });
      },
      { compute1: ['leaving:cold', 'resize-reverted'], compute2: ['arrived:move', 'destroyed:other'] },
    ],
    [
      'live migration: leaving and left on the source, arrived on the destination',
      async (i) => {
        await spawned(A, i);
        const migrate_data = await liveMigrated(i);
        await A.driver.postLiveMigration(i.uuid, { instance: i, migrate_data });
        await A.driver.postLiveMigrationAtSource(i.uuid, { instance: i });
        await B.driver.postLiveMigrationAtDestination(i.uuid, { instance: { ...i, host: 'compute2' } });
      },
      { compute1: ['leaving:live', 'left'], compute2: ['arrived:move'] },
    ],
    [
      'shelve-offload, then unshelve elsewhere: shelving and left, then arrived',
      async (i) => {
        await spawned(A, i);
        await A.driver.destroy(i.uuid, { instance: { ...i, task_state: 'shelving_offloading', vm_state: 'shelved' } });
        await B.driver.spawn(i.uuid, { instance: { ...i, host: 'compute2', task_state: 'unshelving', vm_state: 'shelved_offloaded' }, image_meta: UEFI });
      },
      { compute1: ['shelving', 'left'], compute2: ['arrived:unshelve'] },
    ],
    [
      'evacuation: arrived on the new host; the old host destroys as an evacuated source',
      async (i) => {
        await spawned(A, i);
        await A.replicas!.idle();
        await B.driver.spawn(i.uuid, { instance: { ...i, host: 'compute2' }, image_meta: UEFI, evacuate: true });
        await A.driver.destroy(i.uuid, { instance: { ...i, host: 'compute2' } });
      },
      { compute1: ['destroyed:evacuated-source'], compute2: ['arrived:evacuate'] },
    ],
    [
      'delete: destroyed as a delete',
      async (i) => {
        await spawned(A, i);
        await A.driver.destroy(i.uuid, { instance: { ...i, task_state: 'deleting' } });
      },
      { compute1: ['destroyed:delete'], compute2: [] },
    ],
  ];
  for (const [name, run, want] of CASES) {
    it(name, async () => {
      await run(newInstance());
      assert.deepEqual(heard, want);
    });
  }
});
