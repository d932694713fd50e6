/**
 * driver/core: the plumbing every flow shares: where a store lives (the one rule), the
 * domain name from `instance_name_template`, sizing precedence, record lookup, the XML built
 * from a record, the instance view, and a request's log view sharing all state.
 */
import { strict as assert } from 'node:assert';
import { domainNameOf, sizingOf } from '../../../src/nova/instance';
import type { FirmwareSelection } from '../../../src/firmware/types';
import { PowerState } from '../../../src/nova/powerState';
import { readDomainFirmware } from '../../../src/domainXml';
import { UEFI, domainName, makeWorld, newInstance, nova, type Host, type World } from '../../support/driverHarness';

const FW: FirmwareSelection = {
  loader: '/fw/CODE.fd',
  nvram_template: '/fw/VARS.fd',
  secure: false,
  requires_smm: false,
  stateless: false,
  source: 'test',
  enrolled_keys: false,
  arch: 'x86_64',
  machine: 'q35',
};

describe('driver/core DriverCore', () => {
  let w: World;
  let A: Host;
  beforeEach(async () => {
    w = await makeWorld();
    [A] = w.hosts;
  });
  afterEach(() => w.cleanup());

  describe('storePathFor: a store only for stateful UEFI firmware', () => {
    const CASES: [string, FirmwareSelection | null | undefined, boolean][] = [
      ['none for BIOS (no firmware)', null, false],
      ['none when firmware is unknown', undefined, false],
      ['none for stateless firmware', { ...FW, stateless: true, nvram_template: null }, false],
      ['<nvram_dir>/<name>_VARS.fd for stateful UEFI', FW, true],
    ];
    for (const [name, fw, has] of CASES) {
      it(name, () => assert.equal(A.driver.core.storePathFor(fw, 'instance-00000001'), has ? A.nvram.pathFor('instance-00000001') : null));
    }
  });

  describe('domainNameOf (nova/instance): the domain name from [DEFAULT] instance_name_template', () => {
    it('formats instance.id with the default template', () => {
      const inst = newInstance();
      assert.equal(domainNameOf(inst, A.driver.core.namingRules()), domainName(inst));
    });
    it('refuses a template result that is not one file-name component', async () => {
      const w2 = await makeWorld({ config: { DEFAULT: { instance_name_template: '../%(uuid)s' } } });
      try {
        assert.throws(() => domainNameOf(newInstance(), w2.hosts[0].driver.core.namingRules()), nova('InvalidInput', { field: 'instance name' }));
      } finally {
        w2.cleanup();
      }
    });
  });

  describe('sizingOf (nova/instance): explicit flavor, then instance.flavor, then instance fields, then 1 vCPU / 512 MiB', () => {
    const CASES: [string, Parameters<typeof sizingOf>, { vcpus: number; memoryMb: number; extraSpecs: Record<string, string> }][] = [
      [
        'the explicit flavor wins',
        [
          { uuid: 'u', id: 1, vcpus: 1, memory_mb: 256, flavor: { vcpus: 2, memory_mb: 1024 } },
          { vcpus: 4, memory_mb: 4096, extra_specs: { 'os:secure_boot': 'required' } },
        ],
        { vcpus: 4, memoryMb: 4096, extraSpecs: { 'os:secure_boot': 'required' } },
      ],
      [
        'then instance.flavor',
        [{ uuid: 'u', id: 1, vcpus: 1, memory_mb: 256, flavor: { vcpus: 2, memory_mb: 1024 } }],
        { vcpus: 2, memoryMb: 1024, extraSpecs: {} },
      ],
      ['then the instance fields', [{ uuid: 'u', id: 1, vcpus: 3, memory_mb: 768 }], { vcpus: 3, memoryMb: 768, extraSpecs: {} }],
      ['then the defaults', [{ uuid: 'u', id: 1 }], { vcpus: 1, memoryMb: 512, extraSpecs: {} }],
    ];
    for (const [name, args, want] of CASES) it(name, () => assert.deepEqual(sizingOf(...args), want));
  });

  it('mustRecord treats a store kept by destroy(destroy_disks=False) as no instance', async () => {
    const inst = newInstance();
    await A.driver.spawn(inst.uuid, { instance: inst, image_meta: UEFI });
    assert.equal((await A.driver.core.mustRecord(inst.uuid)).name, domainName(inst));
    await A.driver.destroy(inst.uuid, { instance: inst, destroy_disks: false });
    await assert.rejects(A.driver.core.mustRecord(inst.uuid), nova('InstanceNotFound'));
    await assert.rejects(A.driver.core.peekRecord(inst.uuid), nova('InstanceNotFound'));
  });

  it("xmlFor builds the record's pinned loader and its store path", async () => {
    const inst = newInstance();
    await A.driver.spawn(inst.uuid, { instance: inst, image_meta: UEFI, power_on: false });
    const rec = await A.driver.core.mustRecord(inst.uuid);
    const fw = readDomainFirmware(A.driver.core.xmlFor(rec));
    assert.equal(fw.name, domainName(inst));
    assert.equal(fw.loader?.path, w.fw.files.code);
    assert.equal(fw.nvram?.path, A.nvram.pathFor(domainName(inst)));
    assert.equal(fw.nvram?.template, w.fw.files.vars);
  });

  it('view reports the hypervisor power state and NOSTATE once the domain is gone', async () => {
    const inst = newInstance();
    await A.driver.spawn(inst.uuid, { instance: inst, image_meta: UEFI });
    const rec = await A.driver.core.mustRecord(inst.uuid);
    assert.equal((await A.driver.core.view(rec)).power_state, PowerState.RUNNING);
    A.hv.domains.delete(rec.name);
    const v = await A.driver.core.view(rec, ['w']);
    assert.equal(v.power_state, PowerState.NOSTATE);
    assert.equal(v.domain_xml, null);
    assert.deepEqual(v.warnings, ['w']);
    assert.deepEqual(await A.driver.core.powerStates([rec.name, 'nope']), [PowerState.NOSTATE, PowerState.NOSTATE]);
  });

  it("withLog gives a view that logs with the request's context and shares locks and store hooks", () => {
    const core = A.driver.core;
    const view = core.withLog(core.deps.log.child({ request_id: 'req-1' }));
    assert.equal(view.locks, core.locks);
    assert.equal(view.storeHooks, core.storeHooks);
    assert.equal(view.deps.nvram, core.deps.nvram);
    view.deps.log.info('hello');
    assert.deepEqual(
      A.log.lines.filter((l) => l.msg === 'hello').map((l) => l.request_id),
      ['req-1'],
    );
  });
});
