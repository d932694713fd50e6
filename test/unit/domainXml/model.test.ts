import { strict as assert } from 'node:assert';
import {
  loaderFromXml,
  loaderToXml,
  nvramFromXml,
  nvramToXml,
  orderOsChildren,
  osFirmwareFromSelection,
  smmFromXml,
  yesNo,
  type LoaderModel,
  type NvramModel,
} from '../../../src/domainXml/model';
import { parseXml, serializeXml } from '../../../src/domainXml/serialize';
import type { FirmwareSelection } from '../../../src/firmware/types';
import { assertXmlEqual } from './xmlEqual';

const plain: FirmwareSelection = {
  loader: '/usr/share/OVMF/OVMF_CODE_4M.fd',
  nvram_template: '/usr/share/OVMF/OVMF_VARS_4M.fd',
  secure: false,
  requires_smm: false,
  stateless: false,
  enrolled_keys: false,
  source: 'descriptor:/usr/share/qemu/firmware/60-edk2-x86_64.json',
  arch: 'x86_64',
  machine: 'pc-q35-7.2',
};

describe('domainXml/model', () => {
  it('yesNo is the one boolean → yes/no conversion', () => {
    assert.equal(yesNo(true), 'yes');
    assert.equal(yesNo(false), 'no');
  });

  const loaders: [string, LoaderModel, string][] = [
    [
      'a stateful pflash loader',
      { path: '/c.fd', readonly: 'yes', type: 'pflash', secure: 'no' },
      "<loader readonly='yes' type='pflash' secure='no'>/c.fd</loader>",
    ],
    [
      'a stateless secure loader',
      { path: '/c.fd', readonly: 'yes', type: 'pflash', secure: 'yes', stateless: 'yes' },
      "<loader readonly='yes' type='pflash' secure='yes' stateless='yes'>/c.fd</loader>",
    ],
    ['a bare loader (Nova Pike)', { path: '/c.fd' }, '<loader>/c.fd</loader>'],
  ];
  for (const [what, model, xml] of loaders) {
    it(`loaderToXml / loaderFromXml are symmetric for ${what}, attributes in declared order`, () => {
      assert.equal(serializeXml(loaderToXml(model)).trim(), xml);
      assert.deepEqual(loaderFromXml(parseXml(xml)), model);
    });
  }

  const nvrams: [string, NvramModel, string][] = [
    ['path and template', { path: '/n/x_VARS.fd', template: '/t.fd' }, "<nvram template='/t.fd'>/n/x_VARS.fd</nvram>"],
    ['a template only (Nova Wallaby)', { template: '/t.fd' }, "<nvram template='/t.fd'/>"],
  ];
  for (const [what, model, xml] of nvrams) {
    it(`nvramToXml / nvramFromXml are symmetric for ${what}`, () => {
      assert.equal(serializeXml(nvramToXml(model)).trim(), xml);
      assert.deepEqual(nvramFromXml(parseXml(xml)), model);
    });
  }

  it('nvramFromXml reads the <source file> and <source dev> forms', () => {
    assert.equal(nvramFromXml(parseXml("<nvram type='file'><source file='/f'/></nvram>")).path, '/f');
    assert.equal(nvramFromXml(parseXml("<nvram type='block'><source dev='/dev/b'/></nvram>")).path, '/dev/b');
  });

  const smms: [string, string, boolean][] = [
    ['no <features>', '<domain/>', false],
    ['no <smm>', '<domain><features><acpi/></features></domain>', false],
    ['<smm/> without state', '<domain><features><smm/></features></domain>', true],
    ["<smm state='on'>", "<domain><features><smm state='on'/></features></domain>", true],
    ["<smm state='off'>", "<domain><features><smm state='off'/></features></domain>", false],
  ];
  for (const [what, xml, want] of smms) {
    it(`smmFromXml reads ${what} as ${want ? 'on' : 'off'}`, () => {
      const dom = parseXml(xml);
      assert.equal(smmFromXml(dom.children.find((c) => typeof c !== 'string' && c.name === 'features') as never), want);
    });
  }

  const selections: [string, FirmwareSelection | null, string | null, unknown][] = [
    ['BIOS gives nothing', null, null, { smm: false }],
    [
      'stateful plain UEFI gives loader and nvram',
      plain,
      '/n/a_VARS.fd',
      {
        loader: { path: plain.loader, readonly: 'yes', type: 'pflash', secure: 'no' },
        nvram: { path: '/n/a_VARS.fd', template: plain.nvram_template },
        smm: false,
      },
    ],
    [
      'secure with SMM',
      { ...plain, loader: '/s.fd', nvram_template: '/sv.fd', secure: true, requires_smm: true },
      '/n/a_VARS.fd',
      { loader: { path: '/s.fd', readonly: 'yes', type: 'pflash', secure: 'yes' }, nvram: { path: '/n/a_VARS.fd', template: '/sv.fd' }, smm: true },
    ],
    [
      'stateless drops nvram even when a path is passed',
      { ...plain, stateless: true, nvram_template: null },
      '/n/a_VARS.fd',
      { loader: { path: plain.loader, readonly: 'yes', type: 'pflash', secure: 'no', stateless: 'yes' }, smm: false },
    ],
    [
      'stateful without a template keeps the path (an existing store needs none)',
      { ...plain, nvram_template: null },
      '/n/a_VARS.fd',
      { loader: { path: plain.loader, readonly: 'yes', type: 'pflash', secure: 'no' }, nvram: { path: '/n/a_VARS.fd' }, smm: false },
    ],
  ];
  for (const [what, fw, nv, want] of selections) {
    it(`osFirmwareFromSelection: ${what}`, () => assert.deepEqual(osFirmwareFromSelection(fw, nv), want));
  }

  it('osFirmwareFromSelection refuses stateful firmware without an NVRAM path, and an empty loader', () => {
    assert.throws(
      () => osFirmwareFromSelection(plain, null),
      (e: Error & { type?: string }) => e.type === 'InvalidInput' && /nvram_path/.test(e.message),
    );
    assert.throws(
      () => osFirmwareFromSelection({ ...plain, loader: '' }, '/n'),
      (e: Error & { type?: string }) => e.type === 'InvalidInput',
    );
  });

  it('orderOsChildren puts type, loader, nvram first and keeps the others in their order', () => {
    const os = parseXml("<os><boot dev='hd'/><nvram>/n</nvram><smbios mode='sysinfo'/><loader>/c</loader><type>hvm</type><boot dev='cdrom'/></os>");
    orderOsChildren(os);
    assertXmlEqual(os, "<os><type>hvm</type><loader>/c</loader><nvram>/n</nvram><boot dev='hd'/><smbios mode='sysinfo'/><boot dev='cdrom'/></os>");
  });
});
