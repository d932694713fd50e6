/**
 * events, as the driver's flows announce them: every flow that changes where an instance lives
 * (or what its store holds) announces it, so replication (and any later subscriber) cannot be
 * forgotten by a flow. Each case runs a flow end to end on two hosts with replicas configured
 * and compares what each host announced with what the flow did.
 *
 * Every Nova method is classified in `ANNOUNCES` (a new method does not type-check until it is),
 * and the cases together must call each announcing method and hear it announce (a method that
 * stops announcing fails), while a silent method announcing anything fails as well.
 */
import { strict as assert } from 'node:assert';
import type { InstanceMethodName, MigrateData } from '../../../src/driver/contract';
import type { InstanceEvent } from '../../../src/events';
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

/**
 * What each Nova method announces when it does its work (the kinds), or nothing. A method that
 * changes where an instance lives or what its store holds must announce it.
 */
const ANNOUNCES: { readonly [M in InstanceMethodName]: readonly InstanceEvent['kind'][] } = {
  spawn: ['store-changed', 'arrived'],
  destroy: ['destroyed', 'shelving', 'left'],
  reboot: [],
  power_off: ['store-changed'],
  power_on: [],
  rebuild: ['rebuilt', 'arrived'],
  rescue: [],
  unrescue: [],
  migrate_disk_and_power_off: ['leaving'],
  finish_migration: ['arrived'],
  confirm_migration: ['left'],
  finish_revert_migration: ['resize-reverted'],
  check_can_live_migrate_destination: [],
  check_can_live_migrate_source: [],
  pre_live_migration: [],
  live_migration: ['leaving'],
  post_live_migration: [],
  post_live_migration_at_source: ['left'],
  post_live_migration_at_destination: ['arrived'],
  rollback_live_migration_at_source: [],
  rollback_live_migration_at_destination: [],
  cleanup: [],
};

const camel = (m: string) => m.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

describe('driver/events', () => {
  let w: World;
  let A: Host, B: Host;
  let heard: Record<string, string[]>;
  /** The Nova method running on each host while an announcement was heard (the attribution). */
  let running: Record<string, InstanceMethodName | null>;
  /** method → the kinds it was heard announcing, across every case. */
  const byMethod = new Map<InstanceMethodName, Set<string>>();
  const called = new Set<InstanceMethodName>();
  beforeEach(async () => {
    w = await makeWorld({ hosts: ['compute1', 'compute2'], replicaStore: new MemoryReplicaStore() });
    [A, B] = w.hosts;
    heard = { compute1: [], compute2: [] };
    running = { compute1: null, compute2: null };
    for (const h of w.hosts) {
      h.driver.core.events.subscribe((e) => {
        heard[h.name].push(brief(e));
        const m = running[h.name];
        if (m) byMethod.set(m, (byMethod.get(m) ?? new Set()).add(e.kind));
      });
      // Attribute what is heard to the Nova method running on that host.
      const d = h.driver as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
      for (const m of Object.keys(ANNOUNCES) as InstanceMethodName[]) {
        const orig = d[camel(m)].bind(h.driver);
        d[camel(m)] = async (...args: unknown[]) => {
          called.add(m);
          running[h.name] = m;
          try {
            return await orig(...args);
          } finally {
            running[h.name] = null;
          }
        };
      }
    }
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
      'evacuation through rebuild on the new host: arrived',
      async (i) => {
        await spawned(A, i);
        await A.replicas!.idle();
        await B.driver.rebuild(i.uuid, { instance: { ...i, host: 'compute2' }, image_meta: UEFI, evacuate: true });
      },
      { compute1: [], compute2: ['arrived:evacuate'] },
    ],
    [
      'live migration rolled back at both ends (and cleaned up on the destination): nothing moved, nothing announced',
      async (i) => {
        await spawned(A, i);
        const mig = migration('compute1', 'compute2', 'live-migration');
        const d = await B.driver.checkCanLiveMigrateDestination(i.uuid, { instance: i, block_migration: false });
        const s = await A.driver.checkCanLiveMigrateSource(i.uuid, { instance: i, dest_check_data: { ...d.migrate_data, migration: mig } });
        const p = await B.driver.preLiveMigration(i.uuid, { instance: i, migrate_data: s.migrate_data });
        await B.driver.rollbackLiveMigrationAtDestination(i.uuid, { instance: i, migrate_data: p.migrate_data });
        await B.driver.cleanup(i.uuid, { instance: i, migrate_data: p.migrate_data });
        await A.driver.rollbackLiveMigrationAtSource(i.uuid, { instance: i, migrate_data: p.migrate_data });
      },
      { compute1: [], compute2: [] },
    ],
    [
      'the rest of a life on one host: reboot, power on, rescue, unrescue announce nothing',
      async (i) => {
        await spawned(A, i);
        await A.driver.reboot(i.uuid, { instance: i, reboot_type: 'SOFT' });
        await A.driver.rescue(i.uuid, { instance: i, image_meta: UEFI });
        await A.driver.unrescue(i.uuid, { instance: i });
        await A.driver.powerOn(i.uuid, { instance: i });
      },
      { compute1: [], compute2: [] },
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

  // Runs after the cases (mocha keeps the order): what they heard, per method.
  it('every Nova method was called by the cases, each announcing method announced, each silent one did not', () => {
    const missing = (Object.keys(ANNOUNCES) as InstanceMethodName[]).filter((m) => !called.has(m));
    assert.deepEqual(missing, [], 'Nova methods no case calls');
    for (const [m, kinds] of Object.entries(ANNOUNCES) as [InstanceMethodName, readonly string[]][]) {
      const got = [...(byMethod.get(m) ?? [])].sort();
      if (!kinds.length) assert.deepEqual(got, [], `${m} announces nothing`);
      else assert.deepEqual(got, [...kinds].sort(), `${m} announces ${kinds.join(', ')}`);
    }
  });
});
