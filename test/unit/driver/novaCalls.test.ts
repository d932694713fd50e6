/**
 * driver/novaCalls: which flow each Nova call chooses and what it announces once the flow did
 * its work (nothing when the flow failed), called directly with a host's DriverCore and a parsed
 * instance, on in-memory hosts (with and without a shared replica store).
 */
import { strict as assert } from 'node:assert';
import * as calls from '../../../src/driver/novaCalls';
import type { InstanceEvent } from '../../../src/events';
import { ParsedInstance, type InstanceArgs } from '../../../src/nova/instance';
import { MemoryReplicaStore } from '../../support/memoryReplicaStore';
import { UEFI, makeWorld, newInstance, nova, type Host, type Inst, type World } from '../../support/driverHarness';

function brief(e: InstanceEvent): string {
  switch (e.kind) {
    case 'store-changed':
      return `store-changed:${e.why}`;
    case 'arrived':
      return `arrived:${e.via}`;
    case 'destroyed':
      return `destroyed:${e.why}:${e.destroyDisks}`;
    default:
      return e.kind;
  }
}

describe('driver/novaCalls', () => {
  let w: World;
  let heard: Record<string, string[]>;
  const parsed = (h: Host, a: InstanceArgs) => ParsedInstance.parse(a.instance.uuid, a, h.driver.core.namingRules());

  async function world(replicas: boolean): Promise<Host[]> {
    w = await makeWorld({ hosts: ['compute1', 'compute2'], replicaStore: replicas ? new MemoryReplicaStore() : undefined });
    heard = {};
    for (const h of w.hosts) {
      heard[h.name] = [];
      h.driver.core.events.subscribe((e) => void heard[h.name].push(`${brief(e)}@${e.uuid === lastUuid ? 'i' : e.uuid}`));
    }
    return w.hosts;
  }
  let lastUuid = '';
  const inst = (host = 'compute1'): Inst => {
    const i = newInstance(host);
    lastUuid = i.uuid;
    return i;
  };
  afterEach(() => w.cleanup());

  describe('without replicas', () => {
    let A: Host;
    beforeEach(async () => ([A] = await world(false)));

    it('spawn runs the plain spawn and announces store-changed:spawn; the view carries no replica state', async () => {
      const i = inst();
      const a = { instance: i, image_meta: UEFI };
      const v = await calls.spawn(A.driver.core, parsed(A, a), a);
      assert.equal(v.power_state, 1, "Nova's power_state RUNNING");
      assert.ok(v.nvram, 'a UEFI guest has a store');
      assert.equal(v.nvram.replica, undefined);
      assert.deepEqual(heard.compute1, ['store-changed:spawn@i']);
    });

    it('power_off announces store-changed:stop after the guest stopped; a failed power_off announces nothing', async () => {
      const i = inst();
      await A.driver.spawn(i.uuid, { instance: i, image_meta: UEFI });
      heard.compute1 = [];
      const v = await calls.powerOff(A.driver.core, i.uuid, { instance: i });
      assert.equal(v.power_state, 4, "Nova's power_state SHUTDOWN");
      assert.deepEqual(heard.compute1, ['store-changed:stop@i']);
      const j = inst();
      await assert.rejects(calls.powerOff(A.driver.core, j.uuid, { instance: j }), nova('InstanceNotFound'));
      assert.deepEqual(heard.compute1, ['store-changed:stop@i'], 'nothing more for the failed power_off');
    });

    it('rebuild in place announces rebuilt (evacuate without replicas is a plain rebuild)', async () => {
      const i = inst();
      await A.driver.spawn(i.uuid, { instance: i, image_meta: UEFI });
      heard.compute1 = [];
      const a = { instance: i, image_meta: UEFI, evacuate: true };
      await calls.rebuild(A.driver.core, parsed(A, a), a);
      assert.deepEqual(heard.compute1, ['rebuilt@i']);
    });

    it('destroy announces destroyed with why and destroy_disks; a shelve-offload without replicas is a plain destroy that announces nothing', async () => {
      const i = inst();
      await A.driver.spawn(i.uuid, { instance: i, image_meta: UEFI });
      heard.compute1 = [];
      const a = { instance: { ...i, task_state: 'deleting' }, destroy_disks: true };
      await calls.destroy(A.driver.core, undefined, parsed(A, a), a);
      assert.deepEqual(heard.compute1, ['destroyed:delete:true@i']);
      assert.equal(await A.records.peekLive(i.uuid), null);

      const j = inst();
      await A.driver.spawn(j.uuid, { instance: j, image_meta: UEFI });
      heard.compute1 = [];
      const b = { instance: { ...j, task_state: 'shelving_offloading' } };
      await calls.destroy(A.driver.core, undefined, parsed(A, b), b);
      assert.deepEqual(heard.compute1, []);
    });

    it('edited announces store-changed:edit only once the edit succeeded, and passes its answer or its failure through', async () => {
      const i = inst();
      const order: string[] = [];
      A.driver.core.events.subscribe(() => void order.push('announced'));
      const r = await calls.edited(A.driver.core, i.uuid, new Promise<number>((res) => setImmediate(() => (order.push('edit done'), res(42)))));
      assert.equal(r, 42);
      assert.deepEqual(order, ['edit done', 'announced']);
      assert.deepEqual(heard.compute1, ['store-changed:edit@i']);
      await assert.rejects(calls.edited(A.driver.core, i.uuid, Promise.reject(new Error('guest running'))), /guest running/);
      assert.deepEqual(heard.compute1, ['store-changed:edit@i'], 'a failed edit announces nothing');
    });
  });

  describe('with replicas', () => {
    let A: Host, B: Host;
    beforeEach(async () => ([A, B] = await world(true)));

    it('spawn shows the replica state in its view', async () => {
      const i = inst();
      const a = { instance: i, image_meta: UEFI };
      const v = await calls.spawn(A.driver.core, parsed(A, a), a);
      assert.equal(v.nvram?.replica?.state, 'pending');
      assert.deepEqual(heard.compute1, ['store-changed:spawn@i']);
    });

    it('an evacuating spawn restores from the replica and announces arrived:evacuate, not a store change', async () => {
      const i = inst();
      await A.driver.spawn(i.uuid, { instance: i, image_meta: UEFI });
      await A.replicas!.idle();
      const moved = { ...i, host: 'compute2' };
      const a = { instance: moved, image_meta: UEFI, evacuate: true };
      const v = await calls.spawn(B.driver.core, parsed(B, a), a);
      assert.equal(v.nvram?.replica?.restored?.generation, 1);
      assert.deepEqual(heard.compute2, ['arrived:evacuate@i']);
    });

    it('rebuild with evacuate on a host with no record of the instance is an evacuating spawn; with a record it rebuilds in place', async () => {
      const i = inst();
      await A.driver.spawn(i.uuid, { instance: i, image_meta: UEFI });
      await A.replicas!.idle();
      heard.compute1 = [];
      const moved = { ...i, host: 'compute2' };
      const a = { instance: moved, image_meta: UEFI, evacuate: true };
      await calls.rebuild(B.driver.core, parsed(B, a), a);
      assert.deepEqual(heard.compute2, ['arrived:evacuate@i']);
      assert.ok(await B.records.peekLive(i.uuid), 'compute2 has the instance now');
      const again = { instance: moved, image_meta: UEFI, evacuate: true };
      await calls.rebuild(B.driver.core, parsed(B, again), again);
      assert.deepEqual(heard.compute2, ['arrived:evacuate@i', 'rebuilt@i']);
    });

    it('a shelve-offload with replicas writes the shelve generation and announces shelving then left, not destroyed', async () => {
      const i = inst();
      await A.driver.spawn(i.uuid, { instance: i, image_meta: UEFI });
      await A.replicas!.idle();
      heard.compute1 = [];
      const a = { instance: { ...i, task_state: 'shelving_offloading' } };
      await calls.destroy(A.driver.core, undefined, parsed(A, a), a);
      assert.deepEqual(heard.compute1, ['shelving@i', 'left@i']);
      assert.deepEqual(
        (await A.replicas!.list(i.uuid)).map((b) => b.reason),
        ['shelve', 'spawn'],
      );
    });
  });
});
