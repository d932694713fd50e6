/**
 * driver/coldBoot: the one path by which a domain is (re)created. Every flow that defines and
 * starts a guest must run the queued store changes (`storeHooks`) exactly once, on a store
 * that exists, while no QEMU holds it, and before `start`; plus the path's own rules:
 * firmware re-selection when the pinned files vanished, a store reset when it no longer fits,
 * a full undo for spawn and nothing lost for the other flows.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PowerState } from '../../../src/nova/powerState';
import { HypervisorError } from '../../../src/errors';
import { makeFile, SIZES, tmpDir } from '../../support/firmwareFixture';
import { descriptor, writeDescriptor } from '../firmware/helpers';
import {
  BIOS,
  UEFI,
  domainName,
  driverFirmware,
  fileBytes,
  makeWorld,
  markStore,
  migration,
  newInstance,
  ovmf4mStore,
  type Host,
  type Inst,
  type World,
} from '../../support/driverHarness';

interface HookCall {
  path: string;
  recordPath: string | null;
  size: number | null;
  state: number | null;
}

/** Register the store-change hook on `h`: it marks `hook` in the hypervisor's event list and notes what it saw. */
function watchHook(h: Host): HookCall[] {
  const calls: HookCall[] = [];
  h.driver.core.storeHooks.push(async (_core, rec, p) => {
    h.hv.events.push('hook');
    calls.push({ path: p, recordPath: rec.nvramPath, size: await h.nvram.sizeOf(p), state: h.hv.stateOf(rec.name) });
    return [];
  });
  return calls;
}

interface Ctx {
  A: Host;
  B: Host;
  inst: Inst;
}

interface Flow {
  /** Which host (re)creates the domain. */
  on: 'A' | 'B';
  /** Brings the instance to where the flow can run (no hook registered yet). */
  given?: (c: Ctx) => Promise<unknown>;
  when: (c: Ctx) => Promise<unknown>;
  /** Flow-specific events that must appear, in this order, in the step (name stripped). */
  events?: string[];
}

const spawned = ({ A, inst }: Ctx) => A.driver.spawn(inst.uuid, { instance: inst, image_meta: UEFI });

async function handedOverThenFailed({ A, B, inst }: Ctx): Promise<void> {
  await spawned({ A, B, inst });
  const mig = migration('compute1', 'compute2', 'live-migration');
  const d = await B.driver.checkCanLiveMigrateDestination(inst.uuid, { instance: inst, block_migration: false });
  const s = await A.driver.checkCanLiveMigrateSource(inst.uuid, { instance: inst, dest_check_data: { ...d.migrate_data, migration: mig } });
  const p = await B.driver.preLiveMigration(inst.uuid, { instance: inst, migrate_data: s.migrate_data });
  // libvirt reports an error after the guest moved: the source has no domain any more.
  A.hv.failNext('liveMigrate', new HypervisorError('other', 'connection reset after hand-over'), { afterEffect: true });
  await assert.rejects(A.driver.liveMigration(inst.uuid, { instance: inst, dest: 'compute2', migrate_data: p.migrate_data }), /connection reset/);
  assert.equal(A.hv.stateOf(domainName(inst)), null);
}

const FLOWS: [string, Flow][] = [
  ['spawn', { on: 'A', when: spawned, events: ['define', 'start'] }],
  [
    'power_on',
    {
      on: 'A',
      given: async (c) => (await spawned(c), c.A.driver.powerOff(c.inst.uuid, { instance: c.inst })),
      when: ({ A, inst }) => A.driver.powerOn(inst.uuid, { instance: inst }),
      events: ['destroy', 'undefine:keep', 'start'],
    },
  ],
  [
    'a hard reboot',
    {
      on: 'A',
      given: spawned,
      when: ({ A, inst }) => A.driver.reboot(inst.uuid, { instance: inst, reboot_type: 'HARD' }),
      events: ['destroy', 'undefine:keep', 'start'],
    },
  ],
  [
    'a soft reboot the guest shuts down for',
    { on: 'A', given: spawned, when: ({ A, inst }) => A.driver.reboot(inst.uuid, { instance: inst, reboot_type: 'SOFT' }), events: ['shutdown', 'start'] },
  ],
  [
    "a soft reboot's hard fallback when the guest ignores the ACPI request",
    {
      on: 'A',
      given: async (c) => (await spawned(c), (c.A.hv.shutdownSucceeds = false)),
      when: ({ A, inst }) => A.driver.reboot(inst.uuid, { instance: inst, reboot_type: 'SOFT' }),
      events: ['shutdown', 'destroy', 'undefine:keep', 'start'],
    },
  ],
  [
    'a stable rescue',
    { on: 'A', given: spawned, when: ({ A, inst }) => A.driver.rescue(inst.uuid, { instance: inst, image_meta: UEFI }), events: ['undefine:keep', 'start'] },
  ],
  [
    'unrescue',
    {
      on: 'A',
      given: async (c) => (await spawned(c), c.A.driver.rescue(c.inst.uuid, { instance: c.inst, image_meta: UEFI })),
      when: ({ A, inst }) => A.driver.unrescue(inst.uuid, { instance: inst }),
      events: ['undefine:keep', 'start'],
    },
  ],
  [
    'rebuild',
    { on: 'A', given: spawned, when: ({ A, inst }) => A.driver.rebuild(inst.uuid, { instance: inst, image_meta: UEFI }), events: ['undefine:keep', 'start'] },
  ],
  [
    'finish_migration on another host',
    {
      on: 'B',
      given: async (c) => (await spawned(c), c.A.driver.migrateDiskAndPowerOff(c.inst.uuid, { instance: c.inst, dest: 'compute2' })),
      when: ({ B, inst }) =>
        B.driver.finishMigration(inst.uuid, { instance: { ...inst, host: 'compute2' }, migration: migration('compute1', 'compute2'), image_meta: UEFI }),
      events: ['define', 'start'],
    },
  ],
  [
    'finish_migration of a same-host resize',
    {
      on: 'A',
      given: async (c) => (await spawned(c), c.A.driver.migrateDiskAndPowerOff(c.inst.uuid, { instance: c.inst, dest: 'compute1' })),
      when: ({ A, inst }) => A.driver.finishMigration(inst.uuid, { instance: inst, migration: migration('compute1', 'compute1'), image_meta: UEFI }),
      events: ['undefine:keep', 'start'],
    },
  ],
  [
    'finish_revert_migration',
    {
      on: 'A',
      given: async (c) => {
        await spawned(c);
        await c.A.driver.migrateDiskAndPowerOff(c.inst.uuid, { instance: c.inst, dest: 'compute2' });
        await c.B.driver.destroy(c.inst.uuid, { instance: c.inst });
      },
      when: ({ A, inst }) => A.driver.finishRevertMigration(inst.uuid, { instance: inst, migration: migration('compute1', 'compute2') }),
      events: ['undefine:keep', 'start'],
    },
  ],
  [
    'rollback_live_migration_at_source after a hand-over',
    {
      on: 'A',
      given: handedOverThenFailed,
      when: ({ A, inst }) => A.driver.rollbackLiveMigrationAtSource(inst.uuid, { instance: inst }),
      events: ['define', 'start'],
    },
  ],
];

describe('driver/coldBoot', () => {
  let w: World;
  let A: Host;
  let B: Host;
  beforeEach(async () => {
    w = await makeWorld({ hosts: ['compute1', 'compute2'] });
    [A, B] = w.hosts;
  });
  afterEach(() => w.cleanup());

  describe('runs the queued store changes once, on an existing store no QEMU holds, before start', () => {
    for (const [name, flow] of FLOWS) {
      it(`for ${name}`, async () => {
        const inst = newInstance();
        const c = { A, B, inst };
        await flow.given?.(c);
        const h = flow.on === 'A' ? A : B;
        const calls = watchHook(h);
        h.hv.events.length = 0;
        await flow.when(c);
        const dom = domainName(inst);
        const seen = h.hv.eventsFor(dom);
        assert.equal(seen.filter((e) => e === 'hook').length, 1, `hook runs once: ${seen.join(', ')}`);
        assert.ok(seen.lastIndexOf('start') > seen.indexOf('hook'), `hook before start: ${seen.join(', ')}`);
        assert.equal(calls[0].path, h.nvram.pathFor(dom));
        assert.equal(calls[0].recordPath, calls[0].path);
        assert.equal(calls[0].size, SIZES.ovmf4mVars, 'the store existed, at the template size');
        assert.notEqual(calls[0].state, PowerState.RUNNING, 'no QEMU holds the store');
        const flowEvents = seen.filter((e) => e !== 'hook');
        let at = -1;
        for (const e of flow.events ?? []) {
          const i = flowEvents.indexOf(e, at + 1);
          assert.ok(i > at, `${e} after position ${at} in ${flowEvents.join(', ')}`);
          at = i;
        }
        assert.equal(h.hv.stateOf(dom), PowerState.RUNNING);
      });
    }
  });

  it('runs no store change for a legacy BIOS rescue (no store mapped), and runs it at unrescue', async () => {
    const inst = newInstance();
    await spawned({ A, B, inst });
    const calls = watchHook(A);
    const store = A.nvram.pathFor(domainName(inst));
    const before = fileBytes(store);
    const v = await A.driver.rescue(inst.uuid, { instance: inst, image_meta: BIOS });
    assert.equal(calls.length, 0);
    assert.doesNotMatch(v.domain_xml ?? '', /<nvram|<loader/);
    assert.match(v.warnings.join('\n'), /legacy rescue/);
    assert.deepEqual(fileBytes(store), before, 'the store waits untouched');
    await A.driver.unrescue(inst.uuid, { instance: inst });
    assert.equal(calls.length, 1);
  });

  it('re-selects the firmware when the pinned loader was deleted, warns, and records the new loader', async () => {
    let w2: World | undefined;
    const root = tmpDir('nus-reselect-');
    try {
      const fw = driverFirmware(path.join(root, 'fw'));
      const altCode = makeFile(path.join(root, 'alt', 'OVMF_CODE_4M.alt.fd'), SIZES.ovmf4mCode, 0xff, 'ALTCODE');
      const altVars = path.join(root, 'alt', 'OVMF_VARS_4M.alt.fd');
      fs.writeFileSync(altVars, ovmf4mStore([3]));
      writeDescriptor(path.join(root, 'desc'), '60-alt.json', descriptor({ exe: altCode, tpl: altVars, machines: ['pc-q35-*', 'q35'] }));
      w2 = await makeWorld({ fw, descriptorDirs: [path.join(root, 'desc')] });
      const [H] = w2.hosts;
      const inst = newInstance();
      const v = await H.driver.spawn(inst.uuid, { instance: inst, image_meta: UEFI });
      assert.equal(v.firmware?.loader, fw.files.code, 'the map outranks the descriptor');
      await H.driver.powerOff(inst.uuid, { instance: inst });
      const store = markStore(H.nvram.pathFor(domainName(inst)), 'guest-variables');
      fs.rmSync(fw.files.code);
      const on = await H.driver.powerOn(inst.uuid, { instance: inst });
      assert.match(on.warnings.join('\n'), /firmware re-selected: loader .*OVMF_CODE_4M\.fd vanished/);
      assert.equal(on.firmware?.loader, altCode);
      assert.equal((await H.records.get(inst.uuid))?.firmware?.loader, altCode);
      assert.match(on.domain_xml ?? '', /OVMF_CODE_4M\.alt\.fd/);
      assert.deepEqual(fileBytes(H.nvram.pathFor(domainName(inst))), store, 'same build size: the store is kept');
      assert.ok(H.log.lines.some((l) => l.level === 'warning' && l.msg === 'firmware re-selected'));
    } finally {
      w2?.cleanup();
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('resets the store to the template, with a warning, when its size no longer fits', async () => {
    const inst = newInstance();
    await spawned({ A, B, inst });
    await A.driver.powerOff(inst.uuid, { instance: inst });
    const store = A.nvram.pathFor(domainName(inst));
    fs.truncateSync(store, SIZES.ovmf2mVars);
    const v = await A.driver.powerOn(inst.uuid, { instance: inst });
    assert.match(v.warnings.join('\n'), /variable store reset: 131072 bytes does not fit the template \(540672 bytes\)/);
    assert.deepEqual(fileBytes(store), fs.readFileSync(w.fw.files.vars));
    assert.equal(v.power_state, PowerState.RUNNING);
  });

  it('undoes a spawn that fails at start: no domain, no store, no record', async () => {
    const inst = newInstance();
    A.hv.failNext('start');
    await assert.rejects(A.driver.spawn(inst.uuid, { instance: inst, image_meta: UEFI }), /injected start failure/);
    const dom = domainName(inst);
    assert.deepEqual(A.hv.eventsFor(dom), ['define', 'start', 'destroy', 'undefine:keep']);
    assert.deepEqual(await A.hv.list(), []);
    assert.deepEqual(A.nvramFiles(), []);
    assert.equal(await A.records.get(inst.uuid), null);
    const again = await A.driver.spawn(inst.uuid, { instance: inst, image_meta: UEFI });
    assert.equal(again.power_state, PowerState.RUNNING, 'nothing left behind blocks a new spawn');
  });

  it("keeps the store and the record's previous vm state when another boot fails, and a retry completes it", async () => {
    const inst = newInstance();
    await spawned({ A, B, inst });
    await A.driver.powerOff(inst.uuid, { instance: inst });
    const store = A.nvram.pathFor(domainName(inst));
    const bytes = markStore(store, 'guest-variables');
    A.hv.failNext('start');
    await assert.rejects(A.driver.powerOn(inst.uuid, { instance: inst }), /injected start failure/);
    assert.deepEqual(fileBytes(store), bytes);
    assert.equal((await A.records.get(inst.uuid))?.vmState, 'stopped');
    const v = await A.driver.powerOn(inst.uuid, { instance: inst });
    assert.equal(v.power_state, PowerState.RUNNING);
    assert.equal(v.vm_state, 'active');
    assert.deepEqual(fileBytes(store), bytes);
  });
});
