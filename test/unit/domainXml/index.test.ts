/**
 * domainXml (index): the XML layer as the driver uses it, through the index alone: a domain
 * built from a spec reads back with the same name, firmware and NVRAM path, and the NVRAM
 * path moves (migration) without touching anything else.
 */
import { strict as assert } from 'node:assert';
import * as domainXml from '../../../src/domainXml';
import type { FirmwareSelection } from '../../../src/firmware/types';

const fw: FirmwareSelection = {
  loader: '/usr/share/OVMF/OVMF_CODE_4M.ms.fd',
  nvram_template: '/usr/share/OVMF/OVMF_VARS_4M.ms.fd',
  secure: true,
  requires_smm: true,
  stateless: false,
  enrolled_keys: true,
  source: 'config:[firmware:x86_64] secure',
  arch: 'x86_64',
  machine: 'q35',
};
const spec: domainXml.DomainSpec = {
  name: 'instance-0000002a',
  uuid: '0b7c6f1e-3a2d-4e5f-8a9b-0c1d2e3f4a5b',
  virtType: 'kvm',
  arch: 'x86_64',
  machine: 'q35',
  vcpus: 2,
  memoryMb: 1024,
  firmware: fw,
  nvramPath: '/var/lib/libvirt/qemu/nvram/instance-0000002a_VARS.fd',
};

describe('domainXml (index)', () => {
  it('reads back the name, the loader, the template, the NVRAM path and SMM of a built domain', () => {
    const xml = domainXml.buildDomainXml(spec);
    assert.equal(domainXml.domainNameOf(xml), 'instance-0000002a');
    const v = domainXml.readDomainFirmware(xml);
    assert.equal(v.name, spec.name);
    assert.equal(v.uuid, spec.uuid);
    assert.equal(v.arch, 'x86_64');
    assert.equal(v.loader?.path, fw.loader);
    assert.equal(v.loader?.secure, 'yes');
    assert.equal(v.loader?.readonly, 'yes');
    assert.deepEqual(v.nvram, { path: spec.nvramPath, template: fw.nvram_template });
    assert.equal(v.smm, true);
    assert.equal(v.osFirmware, undefined, 'no <os firmware=...> auto-selection');
  });

  it('moves the NVRAM path and leaves the rest of the domain as it was', () => {
    const xml = domainXml.buildDomainXml(spec);
    const moved = domainXml.setNvramPath(xml, '/srv/nvram/instance-0000002a_VARS.fd');
    const before = domainXml.readDomainFirmware(xml);
    const after = domainXml.readDomainFirmware(moved);
    assert.equal(after.nvram?.path, '/srv/nvram/instance-0000002a_VARS.fd');
    assert.deepEqual({ ...after, nvram: undefined }, { ...before, nvram: undefined });
    assert.equal(after.nvram?.template, before.nvram?.template);
  });

  it('builds a BIOS guest without loader or nvram', () => {
    const v = domainXml.readDomainFirmware(domainXml.buildDomainXml({ ...spec, firmware: null, nvramPath: null }));
    assert.equal(v.loader, undefined);
    assert.equal(v.nvram, undefined);
    assert.deepEqual(v.osAttributes, {});
  });

  it('refuses XML without a <name> as InvalidInput on domain_xml', () => {
    assert.throws(
      () => domainXml.domainNameOf('<domain type="kvm"><uuid>x</uuid></domain>'),
      (e: unknown) => e instanceof Error && e.message === 'Invalid input received: domain_xml: no <name> element',
    );
  });

  it('yesNo is the one yes/no conversion', () => {
    assert.equal(domainXml.yesNo(true), 'yes');
    assert.equal(domainXml.yesNo(false), 'no');
  });
});
