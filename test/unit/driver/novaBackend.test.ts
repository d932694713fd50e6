/**
 * The driver's flows, unchanged, on the nova backend (`[hypervisor] backend = nova`): what the
 * Python driver in nova-compute relies on. Nova's `instance.name` names the domain and the
 * store; every call answers the firmware pin and the store path the XML Nova defines must
 * name; the store is kept through every temporary undefine, carried by resize and cold
 * migration, and deleted only by a real destroy; the write guard follows the power state
 * Nova's calls report. Hosts are `ShimDriver`s on `NovaOwnedHypervisor`s linked by a
 * `MemoryPeer`; the backends' arrival stream goes straight to the destination's backend.
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NovaOwnedHypervisor } from '../../../src/hypervisor/novaOwned';
import type { IncomingGuest } from '../../../src/hypervisor/types';
import { PowerState } from '../../../src/nova/powerState';
import { SECURE, UEFI, makeWorld, markStore, migration, newInstance, nova, withFastTimers, type Host } from '../../support/driverHarness';

const MARKER_GUID = '6c1e2a57-9b3d-4f0e-8a21-5d7c3b9e4f10';
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

type NovaHost = Host<NovaOwnedHypervisor>;

/** Hosts on the nova backend, each with its own directories; live arrivals go to the destination's backend. */
function novaWorld(names: string[]) {
  return makeWorld<NovaOwnedHypervisor>({
    hosts: names,
    config: { hypervisor: { backend: 'nova' } },
    hypervisor: ({ config, nvram, hvOf }) =>
      new NovaOwnedHypervisor({
        stateDir: config.hypervisor.state_dir,
        nvram,
        stream: { send: (dest: string, guest: IncomingGuest) => hvOf(dest).acceptIncoming(JSON.parse(JSON.stringify(guest)) as IncomingGuest) },
      }),
  });
}

/** An instance as the Python driver sends it: with Nova's `instance.name`, which the template would not give. */
function novaInstance(host = 'compute1') {
  const i = newInstance(host);
  return { ...i, name: `nova-${i.id}` };
}
type NovaInst = ReturnType<typeof novaInstance>;

describe('driver flows on the nova backend', () => {
  let w: Awaited<ReturnType<typeof novaWorld>>;
  let A: NovaHost;
  let B: NovaHost;
  afterEach(() => w.cleanup());

  describe('one host', () => {
    beforeEach(async () => {
      w = await novaWorld(['compute1']);
      [A] = w.hosts;
    });

    it("names the domain and the store after Nova's instance.name and answers the pin the XML must carry", async () => {
      const inst = novaInstance();
      const v = await A.driver.spawn(inst.uuid, { instance: inst, image_meta: SECURE, power_on: false });
      assert.equal(v.instance_name, inst.name);
      assert.equal(v.nvram?.path, path.join(A.nvramDir, `${inst.name}_VARS.fd`));
      assert.equal(v.firmware?.loader, w.fw.files.secCode);
      assert.equal(v.firmware?.requires_smm, true);
      assert.equal(v.power_state, PowerState.SHUTDOWN);
      assert.ok(fs.existsSync(v.nvram.path), 'the store exists before Nova defines the domain');
      assert.deepEqual(await A.hv.list(), [inst.name]);
      assert.match(v.domain_xml ?? '', new RegExp(`<nvram template='${w.fw.files.secVars}'>${v.nvram.path}</nvram>`));
    });

    it('falls back to [DEFAULT] instance_name_template when Nova sends no name', async () => {
      const inst = newInstance();
      const v = await A.driver.spawn(inst.uuid, { instance: inst, image_meta: UEFI });
      assert.equal(v.instance_name, `instance-${inst.id.toString(16).padStart(8, '0')}`);
    });

    it('refuses a name that is not one file-name component', async () => {
      const inst = { ...novaInstance(), name: '../etc/passwd' };
      await assert.rejects(A.driver.spawn(inst.uuid, { instance: inst, image_meta: UEFI }), nova('InvalidInput', { field: 'instance.name' }));
    });

    it('guards variable writes with the power state Nova reported, and keeps the store byte for byte through hard reboot and stop/start', async () => {
      const inst = novaInstance();
      const { nvram } = await A.driver.spawn(inst.uuid, { instance: inst, image_meta: UEFI });
      await assert.rejects(A.driver.putNvramVariable(inst.uuid, MARKER_GUID, 'Marker', { data: 'c0ffee' }), nova('InstanceInvalidState'));
      await A.driver.powerOff(inst.uuid, { instance: inst });
      await A.driver.putNvramVariable(inst.uuid, MARKER_GUID, 'Marker', { data: 'c0ffee' });
      const marked = fs.readFileSync(nvram!.path);
      await A.driver.powerOn(inst.uuid, { instance: inst });
      const rebooted = await A.driver.reboot(inst.uuid, { instance: inst, reboot_type: 'HARD' });
      assert.equal(rebooted.power_state, PowerState.RUNNING);
      assert.equal(rebooted.nvram?.path, nvram!.path);
      assert.deepEqual(fs.readFileSync(nvram!.path), marked);
      await A.driver.rescue(inst.uuid, { instance: inst, image_meta: UEFI });
      await A.driver.unrescue(inst.uuid, { instance: inst });
      assert.deepEqual(fs.readFileSync(nvram!.path), marked);
    });

    it('deletes the store and the record only on a real destroy, and succeeds for an instance it never saw', async () => {
      const inst = novaInstance();
      await A.driver.spawn(inst.uuid, { instance: inst, image_meta: UEFI });
      await A.driver.destroy(inst.uuid, { instance: inst, destroy_disks: true });
      assert.deepEqual(A.nvramFiles(), []);
      assert.deepEqual(await A.hv.list(), []);
      await A.driver.destroy(inst.uuid, { instance: inst, destroy_disks: true });
    });
  });

  describe('two hosts, each with its own nvram_dir', () => {
    beforeEach(async () => {
      w = await novaWorld(['compute1', 'compute2']);
      [A, B] = w.hosts;
    });

    async function guestWithMarker(inst: NovaInst): Promise<Buffer> {
      const v = await A.driver.spawn(inst.uuid, { instance: inst, image_meta: UEFI });
      await A.driver.powerOff(inst.uuid, { instance: inst });
      const bytes = markStore(v.nvram!.path, `marker-${inst.uuid}`);
      await A.driver.powerOn(inst.uuid, { instance: inst });
      return bytes;
    }
    async function nothingOn(h: NovaHost, inst: NovaInst) {
      assert.deepEqual(h.nvramFiles(), [], `${h.name} holds no store, stash or staged copy`);
      assert.equal(await h.records.get(inst.uuid), null);
      assert.deepEqual(await h.hv.list(), []);
      assert.deepEqual(await h.journals.list(), []);
    }

    it('resize to the other host + confirm: the destination answers a pin on its own path, with the same bytes', async () => {
      const inst = novaInstance();
      const bytes = await guestWithMarker(inst);
      const mig = migration('compute1', 'compute2');
      await A.driver.migrateDiskAndPowerOff(inst.uuid, { instance: inst, dest: 'compute2', migration: mig });
      const v = await B.driver.finishMigration(inst.uuid, { instance: { ...inst, host: 'compute2' }, migration: mig, image_meta: UEFI });
      assert.equal(v.nvram?.path, path.join(B.nvramDir, `${inst.name}_VARS.fd`));
      assert.equal(v.nvram?.sha256, sha(bytes));
      await A.driver.confirmMigration(inst.uuid, { instance: inst, migration: mig });
      await nothingOn(A, inst);
      assert.deepEqual(B.nvramFiles(), [`${inst.name}_VARS.fd`]);
    });

    it('resize + revert: the source gets its bytes back and the destination keeps nothing', async () => {
      const inst = novaInstance();
      const bytes = await guestWithMarker(inst);
      const mig = migration('compute1', 'compute2');
      await A.driver.migrateDiskAndPowerOff(inst.uuid, { instance: inst, dest: 'compute2', migration: mig });
      await B.driver.finishMigration(inst.uuid, { instance: { ...inst, host: 'compute2' }, migration: mig, image_meta: UEFI });
      await B.driver.destroy(inst.uuid, { instance: { ...inst, host: 'compute2' }, destroy_disks: true });
      const v = await A.driver.finishRevertMigration(inst.uuid, { instance: inst, migration: mig });
      assert.equal(v.nvram?.sha256, sha(bytes));
      assert.deepEqual(A.nvramFiles(), [`${inst.name}_VARS.fd`]);
      await nothingOn(B, inst);
    });

    it('refuses a live migration whose definition would name a store path the destination does not use (Nova keeps <os>)', async () => {
      const inst = novaInstance();
      await guestWithMarker(inst);
      await assert.rejects(
        B.driver.checkCanLiveMigrateDestination(inst.uuid, { instance: inst }),
        nova('MigrationPreCheckError', { fragment: 'set [nvram] nvram_dir equal on both hosts' }),
      );
    });

    // The pre-check above refuses this pair of hosts (their paths differ); a deployment's hosts
    // share the path, which one process cannot give two hosts, so the steps after it run here.
    it("live migration: records the guest's arrival on the destination, verifies the store and leaves the source nothing", async () => {
      const inst = novaInstance();
      const v = await A.driver.spawn(inst.uuid, { instance: inst, image_meta: UEFI });
      const before = fs.readFileSync(v.nvram!.path);
      const shim = { dest_host: 'compute2', migration_uri: '', source_host: 'compute1' };
      const pre = await B.driver.preLiveMigration(inst.uuid, { instance: inst, migrate_data: { uefi_shim: shim } });
      const destPath = path.join(B.nvramDir, `${inst.name}_VARS.fd`);
      assert.equal(pre.migrate_data.uefi_shim?.dest_nvram_path, destPath);
      // Nova's libvirt moves the guest; then the Python driver's post_live_migration:
      const out = await withFastTimers(() => A.driver.liveMigration(inst.uuid, { instance: inst, dest: 'compute2', migrate_data: { uefi_shim: shim } }));
      assert.equal(out.nvram?.sha256, sha(before));
      await A.driver.postLiveMigration(inst.uuid, { instance: inst });
      await A.driver.postLiveMigrationAtSource(inst.uuid, { instance: inst });
      await A.driver.cleanup(inst.uuid, { instance: inst, destroy_disks: true });
      const arrived = await B.driver.postLiveMigrationAtDestination(inst.uuid, { instance: { ...inst, host: 'compute2' } });
      assert.equal(arrived.power_state, PowerState.RUNNING);
      assert.equal(arrived.nvram?.path, destPath);
      assert.deepEqual(fs.readFileSync(destPath), before);
      await nothingOn(A, inst);
      assert.deepEqual(await B.hv.list(), [inst.name]);
      assert.deepEqual(await B.journals.list(), []);
    });
  });
});
