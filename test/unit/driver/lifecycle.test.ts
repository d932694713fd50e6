/**
 * driver/lifecycle against the contract's postconditions (driver/contract `ComputeDriver`):
 * the power and vm state each method leaves, what happens to the store (kept byte for byte,
 * deleted, reset), and the refusals (InstanceExists, InstanceInvalidState, a refused image).
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { PowerState } from '../../../src/nova/powerState';
import type { InstanceView } from '../../../src/driver/contract';
import { BIOS, UEFI, domainName, fileBytes, makeWorld, markStore, newInstance, nova, type Host, type Inst, type World } from '../../support/driverHarness';

type Step = (h: Host, inst: Inst) => Promise<unknown>;

const spawn: Step = (h, i) => h.driver.spawn(i.uuid, { instance: i, image_meta: UEFI });
const powerOff: Step = (h, i) => h.driver.powerOff(i.uuid, { instance: i });
const powerOn: Step = (h, i) => h.driver.powerOn(i.uuid, { instance: i });
const rescue: Step = (h, i) => h.driver.rescue(i.uuid, { instance: i, image_meta: UEFI });
const unrescue: Step = (h, i) => h.driver.unrescue(i.uuid, { instance: i });
const reboot =
  (reboot_type: 'SOFT' | 'HARD'): Step =>
  (h, i) =>
    h.driver.reboot(i.uuid, { instance: i, reboot_type });

async function run(h: Host, inst: Inst, steps: Step[]): Promise<void> {
  for (const s of steps) await s(h, inst);
}

describe('driver/lifecycle', () => {
  let w: World;
  let A: Host;
  beforeEach(async () => {
    w = await makeWorld();
    [A] = w.hosts;
  });
  afterEach(() => w.cleanup());
  const storeOf = (inst: Inst) => A.nvram.pathFor(domainName(inst));

  describe('leaves the power and vm state the contract states', () => {
    const CASES: [string, { given: Step[]; when: (h: Host, i: Inst) => Promise<InstanceView>; power: number; vm: string }][] = [
      [
        'spawn leaves the guest RUNNING',
        { given: [], when: (h, i) => h.driver.spawn(i.uuid, { instance: i, image_meta: UEFI }), power: PowerState.RUNNING, vm: 'active' },
      ],
      [
        'spawn with power_on=false leaves it SHUTDOWN with its store created',
        { given: [], when: (h, i) => h.driver.spawn(i.uuid, { instance: i, image_meta: UEFI, power_on: false }), power: PowerState.SHUTDOWN, vm: 'stopped' },
      ],
      [
        'power_off leaves it SHUTDOWN',
        { given: [spawn], when: (h, i) => h.driver.powerOff(i.uuid, { instance: i }), power: PowerState.SHUTDOWN, vm: 'stopped' },
      ],
      [
        'power_on leaves it RUNNING',
        { given: [spawn, powerOff], when: (h, i) => h.driver.powerOn(i.uuid, { instance: i }), power: PowerState.RUNNING, vm: 'active' },
      ],
      [
        'a hard reboot leaves it RUNNING',
        { given: [spawn], when: (h, i) => h.driver.reboot(i.uuid, { instance: i, reboot_type: 'HARD' }), power: PowerState.RUNNING, vm: 'active' },
      ],
      [
        'a soft reboot of a guest that is off boots it (hard) and leaves it RUNNING',
        { given: [spawn, powerOff], when: (h, i) => h.driver.reboot(i.uuid, { instance: i, reboot_type: 'SOFT' }), power: PowerState.RUNNING, vm: 'active' },
      ],
      [
        'rescue leaves it RUNNING in rescue',
        { given: [spawn], when: (h, i) => h.driver.rescue(i.uuid, { instance: i, image_meta: UEFI }), power: PowerState.RUNNING, vm: 'rescued' },
      ],
      [
        'power_off of a rescued guest keeps it rescued',
        { given: [spawn, rescue], when: (h, i) => h.driver.powerOff(i.uuid, { instance: i }), power: PowerState.SHUTDOWN, vm: 'rescued' },
      ],
      [
        'unrescue leaves it RUNNING',
        { given: [spawn, rescue], when: (h, i) => h.driver.unrescue(i.uuid, { instance: i }), power: PowerState.RUNNING, vm: 'active' },
      ],
      [
        'rebuild of a running guest starts it again',
        { given: [spawn], when: (h, i) => h.driver.rebuild(i.uuid, { instance: i, image_meta: UEFI }), power: PowerState.RUNNING, vm: 'active' },
      ],
      [
        'rebuild of a stopped guest leaves it SHUTDOWN',
        { given: [spawn, powerOff], when: (h, i) => h.driver.rebuild(i.uuid, { instance: i, image_meta: UEFI }), power: PowerState.SHUTDOWN, vm: 'stopped' },
      ],
      [
        'rebuild with power_on=true starts a stopped guest',
        {
          given: [spawn, powerOff],
          when: (h, i) => h.driver.rebuild(i.uuid, { instance: i, image_meta: UEFI, power_on: true }),
          power: PowerState.RUNNING,
          vm: 'active',
        },
      ],
    ];
    for (const [name, c] of CASES) {
      it(name, async () => {
        const inst = newInstance();
        await run(A, inst, c.given);
        const v = await c.when(A, inst);
        assert.equal(v.power_state, c.power);
        assert.equal(v.vm_state, c.vm);
        assert.equal(A.hv.stateOf(domainName(inst)), c.power, 'the answer is what the hypervisor has');
        const info = await A.driver.getInfo(inst.uuid);
        assert.equal(info.power_state, c.power);
        assert.equal(info.nvram?.size, fs.statSync(w.fw.files.vars).size);
      });
    }
  });

  describe('keeps the store byte for byte', () => {
    const CASES: [string, Step[]][] = [
      ['across a soft reboot', [reboot('SOFT')]],
      ['across a hard reboot', [reboot('HARD')]],
      ['across power off and on', [powerOff, powerOn]],
      ['across rescue and unrescue', [rescue, unrescue]],
    ];
    for (const [name, steps] of CASES) {
      it(name, async () => {
        const inst = newInstance();
        await run(A, inst, [spawn, powerOff]);
        const bytes = markStore(storeOf(inst), 'guest-wrote-this');
        await powerOn(A, inst);
        await run(A, inst, steps);
        assert.deepEqual(fileBytes(storeOf(inst)), bytes);
      });
    }
  });

  it('power_off with a timeout asks the guest first (ACPI), then the store is untouched', async () => {
    const inst = newInstance();
    await spawn(A, inst);
    const before = fileBytes(storeOf(inst));
    A.hv.events.length = 0;
    await A.driver.powerOff(inst.uuid, { instance: inst, timeout: 5 });
    assert.deepEqual(A.hv.eventsFor(domainName(inst)), ['shutdown']);
    assert.deepEqual(fileBytes(storeOf(inst)), before);
  });

  it('destroy with destroy_disks=true removes the domain, the store (undefine --nvram) and the record', async () => {
    const inst = newInstance();
    await spawn(A, inst);
    A.hv.events.length = 0;
    await A.driver.destroy(inst.uuid, { instance: inst });
    assert.deepEqual(A.hv.eventsFor(domainName(inst)), ['destroy', 'undefine:delete']);
    assert.deepEqual(await A.hv.list(), []);
    assert.deepEqual(A.nvramFiles(), []);
    assert.equal(await A.records.get(inst.uuid), null);
    await assert.rejects(A.driver.getInfo(inst.uuid), nova('InstanceNotFound', { code: 404 }));
  });

  it('destroy with destroy_disks=false keeps the store, and a later spawn reuses it', async () => {
    const inst = newInstance();
    await run(A, inst, [spawn, powerOff]);
    const bytes = markStore(storeOf(inst), 'kept-across-destroy');
    await A.driver.destroy(inst.uuid, { instance: inst, destroy_disks: false });
    assert.deepEqual(A.hv.eventsFor(domainName(inst)).slice(-2), ['destroy', 'undefine:keep']);
    assert.deepEqual(await A.hv.list(), []);
    assert.deepEqual(fileBytes(storeOf(inst)), bytes);
    assert.equal((await A.records.get(inst.uuid))?.vmState, 'deleted-kept');
    await assert.rejects(A.driver.getInfo(inst.uuid), nova('InstanceNotFound'));
    const v = await spawn(A, inst);
    assert.match((v as InstanceView).warnings.join('\n'), /reused the variable store kept by an earlier destroy/);
    assert.deepEqual(fileBytes(storeOf(inst)), bytes);
  });

  it('destroy of an instance this host does not know succeeds and removes a leftover store under its name', async () => {
    const inst = newInstance();
    fs.writeFileSync(storeOf(inst), Buffer.alloc(16));
    assert.deepEqual(await A.driver.destroy(inst.uuid, { instance: inst }), {});
    assert.deepEqual(A.nvramFiles(), []);
    assert.deepEqual(await A.driver.destroy(inst.uuid, { instance: inst }), {}, 'and again: idempotent');
  });

  it('spawn refuses an instance that exists (InstanceExists), by record or by domain, and leaves it running', async () => {
    const inst = newInstance();
    await spawn(A, inst);
    await assert.rejects(spawn(A, inst), nova('InstanceExists', { code: 409 }));
    assert.equal(A.hv.stateOf(domainName(inst)), PowerState.RUNNING);
    const other = newInstance();
    await A.hv.define(`<domain type='qemu'><name>${domainName(other)}</name><os><type arch='x86_64' machine='q35'>hvm</type></os></domain>`);
    await assert.rejects(spawn(A, other), nova('InstanceExists'));
    assert.ok(await A.hv.getInfo(domainName(other)), 'the foreign domain is untouched');
  });

  describe('refuses a method the vm state does not allow (InstanceInvalidState)', () => {
    const CASES: [string, Step[], Step][] = [
      ['rescue of a rescued guest', [spawn, rescue], rescue],
      ['unrescue of a guest not in rescue', [spawn], unrescue],
      ['a hard reboot of a rescued guest', [spawn, rescue], reboot('HARD')],
      ['power_on of a rescued guest', [spawn, rescue, powerOff], powerOn],
    ];
    for (const [name, given, when] of CASES) {
      it(name, async () => {
        const inst = newInstance();
        await run(A, inst, given);
        const before = A.hv.events.length;
        await assert.rejects(when(A, inst), nova('InstanceInvalidState', { code: 409 }));
        assert.deepEqual(A.hv.events.slice(before), [], 'nothing was done');
      });
    }
  });

  describe('rebuild and the store', () => {
    const CASES: [string, { preserve?: boolean; kept: boolean; warning?: RegExp }][] = [
      ['resets the store to the new template by default', { kept: false }],
      ['keeps the store with preserve_nvram', { preserve: true, kept: true, warning: /variable store preserved/ }],
    ];
    for (const [name, c] of CASES) {
      it(name, async () => {
        const inst = newInstance();
        await run(A, inst, [spawn, powerOff]);
        const bytes = markStore(storeOf(inst), 'before-rebuild');
        const v = await A.driver.rebuild(inst.uuid, { instance: inst, image_meta: UEFI, preserve_nvram: c.preserve });
        assert.deepEqual(fileBytes(storeOf(inst)), c.kept ? bytes : fs.readFileSync(w.fw.files.vars));
        if (c.warning) assert.match(v.warnings.join('\n'), c.warning);
      });
    }

    it('removes the store when the new image boots BIOS', async () => {
      const inst = newInstance();
      await spawn(A, inst);
      const v = await A.driver.rebuild(inst.uuid, { instance: inst, image_meta: BIOS });
      assert.equal(v.firmware, null);
      assert.equal(v.nvram, null);
      assert.deepEqual(A.nvramFiles(), []);
    });

    it('leaves the guest as it was when the new image is refused', async () => {
      const inst = newInstance();
      await spawn(A, inst);
      const bytes = fileBytes(storeOf(inst));
      const rec = await A.records.get(inst.uuid);
      const before = A.hv.events.length;
      const refused = { properties: { hw_firmware_type: 'uefi' as const, hw_architecture: 'aarch64' } };
      await assert.rejects(A.driver.rebuild(inst.uuid, { instance: inst, image_meta: refused }), nova('UEFINotSupported', { code: 400 }));
      assert.deepEqual(A.hv.events.slice(before), []);
      assert.equal(A.hv.stateOf(domainName(inst)), PowerState.RUNNING);
      assert.deepEqual(await A.records.get(inst.uuid), rec);
      assert.deepEqual(fileBytes(storeOf(inst)), bytes);
    });
  });

  it('spawns a BIOS guest without a store', async () => {
    const inst = newInstance();
    const v = await A.driver.spawn(inst.uuid, { instance: inst, image_meta: BIOS });
    assert.equal(v.power_state, PowerState.RUNNING);
    assert.equal(v.firmware, null);
    assert.equal(v.nvram, null);
    assert.deepEqual(A.nvramFiles(), []);
  });

  it('lists every defined domain with its uuid, and get_info of an unknown instance is InstanceNotFound', async () => {
    const [i1, i2] = [newInstance(), newInstance()];
    await spawn(A, i1);
    await A.driver.spawn(i2.uuid, { instance: i2, image_meta: UEFI, power_on: false });
    const l = await A.driver.listInstances();
    assert.deepEqual(l.names, [domainName(i1), domainName(i2)]);
    assert.deepEqual(l.uuids, [i1.uuid, i2.uuid]);
    assert.deepEqual(
      l.instances.map((i) => i.power_state),
      [PowerState.RUNNING, PowerState.SHUTDOWN],
    );
    await assert.rejects(A.driver.getInfo(newInstance().uuid), nova('InstanceNotFound', { code: 404 }));
  });
});
