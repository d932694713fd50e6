/**
 * Selection over the real Debian bookworm descriptors and firmware files
 * (libvirt-qemu-edk2.md §2). Skipped when the ovmf/qemu-efi-aarch64 packages are absent.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { discoverFirmware } from '../../../src/firmware/discover';
import { selectFirmware } from '../../../src/firmware/select';
import type { FirmwareInventory, FirmwareSelection } from '../../../src/firmware/types';
import { novaError, request } from './helpers';

const DIR = '/usr/share/qemu/firmware';
const HOST = { secureBootEnabled: true };

interface Row {
  name: string;
  label: string;
  hostArch: string;
  props: Record<string, unknown>;
  descriptor: string;
  loader: string;
  template: string;
  secure: boolean;
  smm: boolean;
  enrolled: boolean;
  /** File that must exist for this row (package installed). */
  needs: string;
}

const rows: Row[] = [
  {
    name: 'selects OVMF_CODE_4M.fd + OVMF_VARS_4M.fd from 60-edk2-x86_64.json for plain x86_64 q35',
    label: 'x86_64 q35 plain',
    hostArch: 'x86_64',
    props: { hw_firmware_type: 'uefi', hw_machine_type: 'q35' },
    descriptor: '60-edk2-x86_64.json',
    loader: '/usr/share/OVMF/OVMF_CODE_4M.fd',
    template: '/usr/share/OVMF/OVMF_VARS_4M.fd',
    secure: false,
    smm: false,
    enrolled: false,
    needs: '/usr/share/OVMF/OVMF_CODE_4M.fd',
  },
  {
    name: 'selects the MS-enrolled build from 40-edk2-x86_64-secure-enrolled.json for q35 with Secure Boot required',
    label: 'x86_64 q35 secure=required',
    hostArch: 'x86_64',
    props: { hw_firmware_type: 'uefi', hw_machine_type: 'q35', os_secure_boot: 'required' },
    descriptor: '40-edk2-x86_64-secure-enrolled.json',
    loader: '/usr/share/OVMF/OVMF_CODE_4M.ms.fd',
    template: '/usr/share/OVMF/OVMF_VARS_4M.ms.fd',
    secure: true,
    smm: true,
    enrolled: true,
    needs: '/usr/share/OVMF/OVMF_CODE_4M.ms.fd',
  },
  {
    name: 'selects 60-edk2-x86_64.json for plain x86_64 pc (i440fx)',
    label: 'x86_64 pc plain',
    hostArch: 'x86_64',
    props: { hw_firmware_type: 'uefi', hw_machine_type: 'pc' },
    descriptor: '60-edk2-x86_64.json',
    loader: '/usr/share/OVMF/OVMF_CODE_4M.fd',
    template: '/usr/share/OVMF/OVMF_VARS_4M.fd',
    secure: false,
    smm: false,
    enrolled: false,
    needs: '/usr/share/OVMF/OVMF_CODE_4M.fd',
  },
  {
    name: 'selects AAVMF_CODE.fd + AAVMF_VARS.fd from 60-edk2-aarch64.json for plain aarch64 virt',
    label: 'aarch64 virt plain',
    hostArch: 'aarch64',
    props: { hw_machine_type: 'virt' },
    descriptor: '60-edk2-aarch64.json',
    loader: '/usr/share/AAVMF/AAVMF_CODE.fd',
    template: '/usr/share/AAVMF/AAVMF_VARS.fd',
    secure: false,
    smm: false,
    enrolled: false,
    needs: '/usr/share/AAVMF/AAVMF_CODE.fd',
  },
  {
    name: 'selects 40-edk2-aarch64-secure-enrolled.json for aarch64 virt with Secure Boot required',
    label: 'aarch64 virt secure=required',
    hostArch: 'aarch64',
    props: { hw_machine_type: 'virt', os_secure_boot: 'required' },
    descriptor: '40-edk2-aarch64-secure-enrolled.json',
    loader: '/usr/share/AAVMF/AAVMF_CODE.ms.fd',
    template: '/usr/share/AAVMF/AAVMF_VARS.ms.fd',
    secure: true,
    smm: false,
    enrolled: true,
    needs: '/usr/share/AAVMF/AAVMF_CODE.ms.fd',
  },
  {
    name: 'selects 40-edk2-x86_64-secure-enrolled.json for q35 with Secure Boot optional',
    label: 'x86_64 q35 secure=optional',
    hostArch: 'x86_64',
    props: { hw_firmware_type: 'uefi', hw_machine_type: 'q35', os_secure_boot: 'optional' },
    descriptor: '40-edk2-x86_64-secure-enrolled.json',
    loader: '/usr/share/OVMF/OVMF_CODE_4M.ms.fd',
    template: '/usr/share/OVMF/OVMF_VARS_4M.ms.fd',
    secure: true,
    smm: true,
    enrolled: true,
    needs: '/usr/share/OVMF/OVMF_CODE_4M.ms.fd',
  },
  {
    name: 'degrades optional Secure Boot on pc to 60-edk2-x86_64.json',
    label: 'x86_64 pc secure=optional',
    hostArch: 'x86_64',
    props: { hw_firmware_type: 'uefi', hw_machine_type: 'pc', os_secure_boot: 'optional' },
    descriptor: '60-edk2-x86_64.json',
    loader: '/usr/share/OVMF/OVMF_CODE_4M.fd',
    template: '/usr/share/OVMF/OVMF_VARS_4M.fd',
    secure: false,
    smm: false,
    enrolled: false,
    needs: '/usr/share/OVMF/OVMF_CODE_4M.fd',
  },
  {
    name: 'selects 60-edk2-x86_64.json for a concrete pc-q35-7.2 machine',
    label: 'x86_64 pc-q35-7.2 plain',
    hostArch: 'x86_64',
    props: { hw_firmware_type: 'uefi', hw_machine_type: 'pc-q35-7.2' },
    descriptor: '60-edk2-x86_64.json',
    loader: '/usr/share/OVMF/OVMF_CODE_4M.fd',
    template: '/usr/share/OVMF/OVMF_VARS_4M.fd',
    secure: false,
    smm: false,
    enrolled: false,
    needs: '/usr/share/OVMF/OVMF_CODE_4M.fd',
  },
];

describe('firmware on real Debian files (/usr/share/qemu/firmware)', function () {
  let inv: FirmwareInventory;
  const table: Record<string, string>[] = [];

  before(function () {
    if (!fs.existsSync(`${DIR}/60-edk2-x86_64.json`)) this.skip();
    inv = discoverFirmware({ firmwareMap: {}, descriptorDirs: [DIR, '/etc/qemu/firmware'] });
  });

  for (const row of rows) {
    it(row.name, function () {
      if (!fs.existsSync(row.needs)) this.skip();
      const sel = selectFirmware(inv, request(row.props, { hostArch: row.hostArch, defaults: {} }), HOST) as FirmwareSelection;
      assert.ok(sel);
      assert.equal(sel.source, `descriptor:${DIR}/${row.descriptor}`);
      assert.equal(sel.loader, row.loader);
      assert.equal(sel.nvram_template, row.template);
      assert.equal(sel.secure, row.secure);
      assert.equal(sel.requires_smm, row.smm);
      assert.equal(sel.enrolled_keys, row.enrolled);
      assert.equal(sel.stateless, false);
      table.push({
        request: row.label,
        descriptor: row.descriptor,
        loader: sel.loader,
        nvram_template: String(sel.nvram_template),
        smm: String(sel.requires_smm),
        enrolled: String(sel.enrolled_keys),
      });
    });
  }

  it('warns that 50-edk2-aarch64-secure.json names a missing AAVMF_CODE.secboot.fd and drops it', function () {
    if (!fs.existsSync(`${DIR}/50-edk2-aarch64-secure.json`) || fs.existsSync('/usr/share/AAVMF/AAVMF_CODE.secboot.fd')) this.skip();
    const ps = inv.problems.filter((p) => p.source === `descriptor:${DIR}/50-edk2-aarch64-secure.json`);
    assert.equal(ps.length, 1);
    assert.equal(ps[0].severity, 'warning');
    assert.equal(ps[0].message, 'skipped: /usr/share/AAVMF/AAVMF_CODE.secboot.fd does not exist or is not readable');
    assert.ok(!inv.entries.some((e) => e.source.endsWith('50-edk2-aarch64-secure.json')));
  });

  it('reports no errors for the stock Debian files', function () {
    assert.deepEqual(
      inv.problems.filter((p) => p.severity === 'error'),
      [],
    );
  });

  it('refuses required Secure Boot on x86_64 pc with SecureBootNotSupported naming the machine', function () {
    assert.throws(
      () =>
        selectFirmware(
          inv,
          request({ hw_firmware_type: 'uefi', hw_machine_type: 'pc', os_secure_boot: 'required' }, { hostArch: 'x86_64', defaults: {} }),
          HOST,
        ),
      novaError('SecureBootNotSupported', "'pc' is not q35"),
    );
  });

  it('refuses stateless firmware with UEFINotSupported (Debian ships no stateless descriptor)', function () {
    assert.throws(
      () =>
        selectFirmware(
          inv,
          request({ hw_firmware_type: 'uefi', hw_machine_type: 'q35', hw_firmware_stateless: true }, { hostArch: 'x86_64', defaults: {} }),
          HOST,
        ),
      novaError('UEFINotSupported', 'stateless'),
    );
  });

  it('serves the stock descriptors in base-name order with the real edk2 sizes', function () {
    const stock = [
      '40-edk2-aarch64-secure-enrolled.json',
      '40-edk2-x86_64-secure-enrolled.json',
      '50-edk2-x86_64-secure.json',
      '60-edk2-aarch64.json',
      '60-edk2-x86_64.json',
    ];
    if (fs.existsSync('/etc/qemu/firmware') || !stock.every((n) => fs.existsSync(`${DIR}/${n}`)) || !fs.existsSync('/usr/share/AAVMF/AAVMF_CODE.fd'))
      this.skip();
    assert.deepEqual(
      inv.entries.map((e) => e.source.replace(`descriptor:${DIR}/`, '')),
      stock,
    );
    assert.equal(inv.sizes['/usr/share/OVMF/OVMF_CODE_4M.fd'], 3_653_632);
    assert.equal(inv.sizes['/usr/share/OVMF/OVMF_VARS_4M.fd'], 540_672);
    assert.equal(inv.sizes['/usr/share/AAVMF/AAVMF_CODE.fd'], 64 * 1024 * 1024);
    assert.equal(inv.sizes['/usr/share/AAVMF/AAVMF_VARS.fd'], 64 * 1024 * 1024);
  });

  after(function () {
    if (table.length) {
      const cols = Object.keys(table[0]);
      const lines = [`| ${cols.join(' | ')} |`, `|${cols.map(() => '---').join('|')}|`, ...table.map((r) => `| ${cols.map((c) => r[c]).join(' | ')} |`)];
      console.log(`\n${lines.join('\n')}\n`);
    }
  });
});
