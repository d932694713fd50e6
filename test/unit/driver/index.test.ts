/**
 * driver/index (`ShimDriver`): what holds for every method before any flow runs: the path's
 * uuid and `instance.uuid` agree, `instance.id` names exactly one domain, calls for one
 * instance never interleave while calls for two run in parallel, a request view carries its
 * request id to the peer, and a host without migration links refuses migration methods.
 */
import { strict as assert } from 'node:assert';
import { ShimDriver } from '../../../src/driver';
import { INSTANCE_METHODS, callInstanceMethod } from '../../../src/api/methods';
import type { ArgsFor, InstanceMethodName } from '../../../src/driver/contract';
import type { NovaInstance } from '../../../src/nova/objects';
import { UEFI, domainName, makeWorld, migration, newInstance, nova, type Host, type Inst, type World } from '../../support/driverHarness';

/** Minimal valid arguments for every method the API serves (the type makes the table complete). */
function argsFor(instance: NovaInstance): { [M in InstanceMethodName]: ArgsFor<M> } {
  const mig = migration('compute1', 'compute2');
  const md = { migration: mig, uefi_shim: { dest_host: 'compute2', migration_uri: 'qemu+tcp://compute2/system', source_host: 'compute1' } };
  return {
    spawn: { instance, image_meta: UEFI },
    destroy: { instance },
    reboot: { instance, reboot_type: 'HARD' },
    power_off: { instance },
    power_on: { instance },
    rebuild: { instance, image_meta: UEFI },
    rescue: { instance },
    unrescue: { instance },
    migrate_disk_and_power_off: { instance, dest: 'compute2' },
    finish_migration: { instance, migration: mig },
    confirm_migration: { instance, migration: mig },
    finish_revert_migration: { instance, migration: mig },
    check_can_live_migrate_destination: { instance },
    check_can_live_migrate_source: { instance, dest_check_data: md },
    pre_live_migration: { instance, migrate_data: md },
    live_migration: { instance, dest: 'compute2', migrate_data: md },
    post_live_migration: { instance },
    post_live_migration_at_source: { instance },
    post_live_migration_at_destination: { instance },
    rollback_live_migration_at_source: { instance },
    rollback_live_migration_at_destination: { instance },
    cleanup: { instance },
  };
}

const METHODS = Object.keys(INSTANCE_METHODS) as InstanceMethodName[];

function call<M extends InstanceMethodName>(h: Host, m: M, uuid: string, args: { [K in InstanceMethodName]: ArgsFor<K> }) {
  return callInstanceMethod(h.driver, m, uuid, args[m]);
}

describe('driver/index ShimDriver', () => {
  let w: World;
  let A: Host;
  beforeEach(async () => {
    w = await makeWorld({ hosts: ['compute1', 'compute2'] });
    [A] = w.hosts;
  });
  afterEach(() => w.cleanup());

  describe("refuses an instance.uuid that is not the path's (InvalidInput naming instance.uuid), before doing anything", () => {
    for (const m of METHODS) {
      it(m, async () => {
        const inst = newInstance();
        await A.driver.spawn(inst.uuid, { instance: inst, image_meta: UEFI });
        const before = { events: A.hv.events.length, files: A.nvramFiles(), rec: await A.records.get(inst.uuid) };
        await assert.rejects(
          call(A, m, inst.uuid, argsFor({ ...inst, uuid: newInstance().uuid })),
          nova('InvalidInput', { code: 400, field: 'instance.uuid' }),
        );
        assert.equal(A.hv.events.length, before.events);
        assert.deepEqual(A.nvramFiles(), before.files);
        assert.deepEqual(await A.records.get(inst.uuid), before.rec);
        assert.equal(w.net.calls.length, 0);
      });
    }
  });

  it("accepts the path's uuid in another case than instance.uuid", async () => {
    const inst = newInstance();
    const v = await A.driver.spawn(inst.uuid.toUpperCase(), { instance: inst, image_meta: UEFI });
    assert.equal(v.instance_uuid, inst.uuid);
  });

  it('refuses a path uuid that is not a UUID (InvalidInput naming instance_uuid)', async () => {
    // NOTE: the check runs before the lock is taken and throws synchronously, not as a rejection.
    await assert.rejects(async () => A.driver.getInfo('../../etc'), nova('InvalidInput', { field: 'instance_uuid' }));
  });

  describe('refuses an instance.id outside 1 … 2^53-1 (InvalidInput naming instance.id) wherever it names the domain (destroy, which needs only the uuid, never refuses it)', () => {
    const IDS: [string, number][] = [
      ['2^64 (18446744073709551616)', 18446744073709551616],
      ['0', 0],
      ['2^53', 2 ** 53],
      ['-1', -1],
      ['1.5', 1.5],
    ];
    const USES: [string, (h: Host, i: Inst) => Promise<unknown>][] = [
      ['spawn', (h, i) => h.driver.spawn(i.uuid, { instance: i, image_meta: UEFI })],
      ['finish_migration', (h, i) => h.driver.finishMigration(i.uuid, { instance: i, migration: migration('compute2', 'compute1') })],
    ];
    for (const [idName, id] of IDS) {
      for (const [use, when] of USES) {
        it(`${use} with id ${idName}`, async () => {
          const inst = { ...newInstance(), id };
          await assert.rejects(when(A, inst), nova('InvalidInput', { code: 400, field: 'instance.id' }));
          assert.deepEqual(A.hv.events, []);
          assert.deepEqual(A.nvramFiles(), []);
        });
      }
    }
    for (const [idName, id] of IDS) {
      it(`destroy of an unknown instance with id ${idName} is accepted and touches nothing (destroy needs only the uuid)`, async () => {
        const inst = { ...newInstance(), id };
        await A.driver.destroy(inst.uuid, { instance: inst });
        assert.deepEqual(A.hv.events, []);
        assert.deepEqual(A.nvramFiles(), []);
      });
    }
    it('accepts 2^53-1 and names the domain from it', async () => {
      const inst = { ...newInstance(), id: 2 ** 53 - 1 };
      const v = await A.driver.spawn(inst.uuid, { instance: inst, image_meta: UEFI });
      assert.equal(v.instance_name, 'instance-1fffffffffffff');
    });
  });

  describe('locking', () => {
    let slow: World;
    beforeEach(async () => {
      slow = await makeWorld({ delayMs: 5 });
    });
    afterEach(() => slow.cleanup());

    it('serializes calls on one instance: their hypervisor calls never interleave', async () => {
      const [H] = slow.hosts;
      const inst = newInstance();
      await H.driver.spawn(inst.uuid, { instance: inst, image_meta: UEFI });
      H.hv.events.length = 0;
      H.hv.peakInFlight = 0;
      await Promise.all([
        H.driver.reboot(inst.uuid, { instance: inst, reboot_type: 'HARD' }),
        H.driver.powerOff(inst.uuid, { instance: inst }),
        H.driver.powerOn(inst.uuid, { instance: inst }),
      ]);
      const boot = ['destroy', 'undefine:keep', 'define', 'start'];
      assert.deepEqual(H.hv.eventsFor(domainName(inst)), [...boot, 'destroy', ...boot]);
      assert.equal(H.hv.peakInFlight, 1);
    });

    it('runs calls on two instances in parallel', async () => {
      const [H] = slow.hosts;
      const [i1, i2] = [newInstance(), newInstance()];
      await Promise.all([i1, i2].map((i) => H.driver.spawn(i.uuid, { instance: i, image_meta: UEFI })));
      H.hv.peakInFlight = 0;
      await Promise.all([i1, i2].map((i) => H.driver.reboot(i.uuid, { instance: i, reboot_type: 'HARD' })));
      assert.equal(H.hv.peakInFlight, 2);
      assert.deepEqual(H.driver.core.locks.busyKeys(), []);
    });
  });

  it("a request's view carries its request id to the peer and into the peer's log", async () => {
    const [, B] = w.hosts;
    const inst = newInstance();
    await A.driver.spawn(inst.uuid, { instance: inst, image_meta: UEFI });
    await A.driver.forRequest('req-7').migrateDiskAndPowerOff(inst.uuid, { instance: inst, dest: 'compute2' });
    assert.deepEqual(
      w.net.calls.map((c) => [c.method, c.to, c.requestId]),
      [['PUT', 'compute2', 'req-7']],
    );
    assert.ok(A.log.lines.some((l) => l.msg === 'migrate_disk_and_power_off done' && l.request_id === 'req-7'));
    assert.ok(B.log.lines.some((l) => l.msg === 'NVRAM staged' && l.request_id === 'req-7'));
  });

  it('a host without migration links refuses migration methods (InvalidInput naming method) and serves the rest', async () => {
    const alone = new ShimDriver(A.driver.core.deps);
    const inst = newInstance();
    await alone.spawn(inst.uuid, { instance: inst, image_meta: UEFI });
    await assert.rejects(alone.migrateDiskAndPowerOff(inst.uuid, { instance: inst, dest: 'compute2' }), nova('InvalidInput', { field: 'method' }));
    await assert.rejects(alone.checkCanLiveMigrateSource(inst.uuid, { instance: inst, dest_check_data: {} }), nova('InvalidInput', { field: 'method' }));
    await alone.destroy(inst.uuid, { instance: inst });
    assert.deepEqual(A.nvramFiles(), []);
  });

  it('answers capabilities with the static map, the firmware-dependent keys and their traits', () => {
    const caps = A.driver.capabilities();
    assert.equal(caps.host, 'compute1');
    assert.equal(caps.hypervisor_type, 'memory');
    assert.equal(caps.capabilities.supports_migrate_to_same_host, true);
    assert.equal(caps.capabilities.supports_stateless_firmware, true);
    assert.ok(caps.traits.includes('COMPUTE_SECURITY_STATELESS_FIRMWARE'));
    assert.equal(caps.traits.includes('COMPUTE_SECURITY_UEFI_SECURE_BOOT'), caps.capabilities.supports_secure_boot);
  });
});
