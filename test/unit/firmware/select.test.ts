import { strict as assert } from 'node:assert';
import { selectFirmware } from '../../../src/firmware/select';
import type { FirmwareInventory, FirmwareSelection } from '../../../src/firmware/types';
import { novaError, request, synthFiles, synthInventory, type SynthTree } from './helpers';

type Expect =
  | { loader: keyof SynthTree['f']; template: keyof SynthTree['f'] | null; secure: boolean; smm: boolean; stateless: boolean; source: string }
  | { error: string; fragment?: string }
  | null;

interface Row {
  name: string;
  props: Record<string, unknown>;
  flavor?: Record<string, string>;
  host?: { secureBootEnabled: boolean };
  /** Inventory with stateless_loader entries. */
  withStateless?: boolean;
  expect: Expect;
}

const X86 = 'config:[firmware:x86_64]';
const ARM = 'config:[firmware:aarch64]';

const tables: Record<string, Row[]> = {
  x86_64: [
    {
      name: 'selects the plain 4M loader and template for q35 without Secure Boot',
      props: { hw_firmware_type: 'uefi' },
      expect: { loader: 'code', template: 'vars', secure: false, smm: false, stateless: false, source: X86 },
    },
    {
      name: 'selects the secure-boot loader with SMM for q35 when Secure Boot is required',
      props: { hw_firmware_type: 'uefi', os_secure_boot: 'required' },
      expect: { loader: 'secCode', template: 'secVars', secure: true, smm: true, stateless: false, source: `${X86} secure` },
    },
    {
      name: 'selects the secure-boot loader for q35 when Secure Boot is optional and the host offers it',
      props: { hw_firmware_type: 'uefi', os_secure_boot: 'optional' },
      expect: { loader: 'secCode', template: 'secVars', secure: true, smm: true, stateless: false, source: `${X86} secure` },
    },
    {
      name: 'selects the plain loader when Secure Boot is disabled',
      props: { hw_firmware_type: 'uefi', os_secure_boot: 'disabled' },
      expect: { loader: 'code', template: 'vars', secure: false, smm: false, stateless: false, source: X86 },
    },
    {
      name: 'selects the stateless loader without a template when hw_firmware_stateless is set and the map has one',
      props: { hw_firmware_type: 'uefi', hw_firmware_stateless: true },
      withStateless: true,
      expect: { loader: 'statelessCode', template: null, secure: false, smm: false, stateless: true, source: `${X86} stateless` },
    },
    {
      name: 'refuses stateless firmware with UEFINotSupported when no stateless_loader is mapped',
      props: { hw_firmware_type: 'uefi', hw_firmware_stateless: 'true' },
      expect: { error: 'UEFINotSupported', fragment: 'stateless' },
    },
    { name: 'returns no firmware at all for a BIOS guest', props: { hw_firmware_type: 'bios' }, expect: null },
    { name: 'returns no firmware for x86_64 when hw_firmware_type is unset (BIOS default)', props: {}, expect: null },
    {
      name: 'refuses an architecture without firmware with UEFINotSupported',
      props: { hw_firmware_type: 'uefi', hw_architecture: 'ppc64le', hw_machine_type: 'pseries' },
      expect: { error: 'UEFINotSupported', fragment: 'ppc64le' },
    },
    {
      name: 'refuses required Secure Boot on the pc (i440fx) machine with SecureBootNotSupported',
      props: { hw_firmware_type: 'uefi', os_secure_boot: 'required', hw_machine_type: 'pc' },
      expect: { error: 'SecureBootNotSupported', fragment: "'pc' is not q35" },
    },
    {
      name: 'falls back to the plain loader on pc when Secure Boot is only optional',
      props: { hw_firmware_type: 'uefi', os_secure_boot: 'optional', hw_machine_type: 'pc' },
      expect: { loader: 'code', template: 'vars', secure: false, smm: false, stateless: false, source: X86 },
    },
    {
      name: 'refuses required Secure Boot with SecureBootNotSupported when the host disables it',
      props: { hw_firmware_type: 'uefi', os_secure_boot: 'required' },
      host: { secureBootEnabled: false },
      expect: { error: 'SecureBootNotSupported', fragment: 'secure_boot = false' },
    },
    {
      name: 'falls back to the plain loader for optional Secure Boot when the host disables it',
      props: { hw_firmware_type: 'uefi', os_secure_boot: 'optional' },
      host: { secureBootEnabled: false },
      expect: { loader: 'code', template: 'vars', secure: false, smm: false, stateless: false, source: X86 },
    },
    {
      name: 'selects Secure Boot when the flavor requires it and the image says nothing',
      props: { hw_firmware_type: 'uefi' },
      flavor: { 'os:secure_boot': 'required' },
      expect: { loader: 'secCode', template: 'secVars', secure: true, smm: true, stateless: false, source: `${X86} secure` },
    },
    {
      name: 'refuses a flavor and image that disagree on Secure Boot with FlavorImageConflict',
      props: { hw_firmware_type: 'uefi', os_secure_boot: 'required' },
      flavor: { 'os:secure_boot': 'disabled' },
      expect: { error: 'FlavorImageConflict', fragment: 'os_secure_boot' },
    },
    {
      name: 'refuses a machine no entry serves with UEFINotSupported even when Secure Boot is required',
      props: { hw_firmware_type: 'uefi', os_secure_boot: 'required', hw_machine_type: 'microvm' },
      expect: { error: 'UEFINotSupported', fragment: 'no firmware for x86_64 machine microvm' },
    },
    {
      name: 'accepts a concrete versioned i440fx machine type for plain UEFI',
      props: { hw_firmware_type: 'uefi', hw_machine_type: 'pc-i440fx-8.2' },
      expect: { loader: 'code', template: 'vars', secure: false, smm: false, stateless: false, source: X86 },
    },
    {
      name: 'selects Secure Boot for a concrete versioned q35 machine type',
      props: { hw_firmware_type: 'uefi', hw_machine_type: 'pc-q35-8.2', os_secure_boot: 'required' },
      expect: { loader: 'secCode', template: 'secVars', secure: true, smm: true, stateless: false, source: `${X86} secure` },
    },
    {
      name: 'accepts a concrete versioned q35 machine type',
      props: { hw_firmware_type: 'uefi', hw_machine_type: 'pc-q35-7.2' },
      expect: { loader: 'code', template: 'vars', secure: false, smm: false, stateless: false, source: X86 },
    },
  ],
  aarch64: [
    {
      name: 'selects AAVMF for virt when hw_firmware_type is unset (aarch64 defaults to UEFI)',
      props: {},
      expect: { loader: 'aaCode', template: 'aaVars', secure: false, smm: false, stateless: false, source: ARM },
    },
    {
      name: 'selects plain AAVMF for an explicit uefi request',
      props: { hw_firmware_type: 'uefi' },
      expect: { loader: 'aaCode', template: 'aaVars', secure: false, smm: false, stateless: false, source: ARM },
    },
    {
      name: 'selects the secure AAVMF build (no SMM on Arm) when Secure Boot is required',
      props: { os_secure_boot: 'required' },
      expect: { loader: 'aaSecCode', template: 'aaSecVars', secure: true, smm: false, stateless: false, source: `${ARM} secure` },
    },
    {
      name: 'selects the secure AAVMF build when Secure Boot is optional',
      props: { os_secure_boot: 'optional' },
      expect: { loader: 'aaSecCode', template: 'aaSecVars', secure: true, smm: false, stateless: false, source: `${ARM} secure` },
    },
    {
      name: 'selects plain AAVMF when Secure Boot is disabled',
      props: { os_secure_boot: 'disabled' },
      expect: { loader: 'aaCode', template: 'aaVars', secure: false, smm: false, stateless: false, source: ARM },
    },
    {
      name: 'selects the stateless AAVMF loader when mapped',
      props: { hw_firmware_stateless: 'yes' },
      withStateless: true,
      expect: { loader: 'aaStateless', template: null, secure: false, smm: false, stateless: true, source: `${ARM} stateless` },
    },
    {
      name: 'refuses stateless firmware with UEFINotSupported when none is mapped',
      props: { hw_firmware_stateless: true },
      expect: { error: 'UEFINotSupported', fragment: 'stateless' },
    },
    { name: 'returns no firmware for an explicit BIOS request', props: { hw_firmware_type: 'bios' }, expect: null },
    {
      name: 'refuses required Secure Boot with SecureBootNotSupported when the host disables it',
      props: { os_secure_boot: 'required' },
      host: { secureBootEnabled: false },
      expect: { error: 'SecureBootNotSupported', fragment: 'secure_boot = false' },
    },
    {
      name: 'falls back to plain AAVMF for optional Secure Boot when the host disables it',
      props: { os_secure_boot: 'optional' },
      host: { secureBootEnabled: false },
      expect: { loader: 'aaCode', template: 'aaVars', secure: false, smm: false, stateless: false, source: ARM },
    },
    {
      name: 'refuses a flavor and image that disagree on Secure Boot with FlavorImageConflict',
      props: { os_secure_boot: 'disabled' },
      flavor: { 'os:secure_boot': 'required' },
      expect: { error: 'FlavorImageConflict' },
    },
    {
      name: 'refuses an unknown machine type with UEFINotSupported',
      props: { hw_machine_type: 'sbsa-ref' },
      expect: { error: 'UEFINotSupported', fragment: 'sbsa-ref' },
    },
  ],
};

describe('firmware/select: selectFirmware tables', () => {
  const tree = synthFiles();
  const invs: Record<string, FirmwareInventory> = { plain: synthInventory(tree, false), stateless: synthInventory(tree, true) };

  it('builds the synthetic inventories without problems', () => {
    assert.deepEqual(invs.plain.problems, []);
    assert.equal(invs.plain.entries.length, 4);
    assert.equal(invs.stateless.entries.length, 6);
  });

  for (const [arch, rows] of Object.entries(tables)) {
    describe(arch, () => {
      for (const row of rows) {
        it(row.name, () => {
          const inv = row.withStateless ? invs.stateless : invs.plain;
          const host = row.host ?? { secureBootEnabled: true };
          const run = (): FirmwareSelection | null => selectFirmware(inv, request(row.props, { hostArch: arch, flavor: row.flavor }), host);
          const exp = row.expect;
          if (exp === null) {
            assert.equal(run(), null);
          } else if ('error' in exp) {
            assert.throws(run, novaError(exp.error, exp.fragment));
          } else {
            const sel = run();
            assert.ok(sel);
            assert.equal(sel.loader, tree.f[exp.loader]);
            assert.equal(sel.nvram_template, exp.template === null ? null : tree.f[exp.template]);
            assert.equal(sel.secure, exp.secure);
            assert.equal(sel.requires_smm, exp.smm);
            assert.equal(sel.stateless, exp.stateless);
            assert.equal(sel.source, exp.source);
            assert.equal(sel.arch, arch);
          }
        });
      }
    });
  }

  it('refuses plain UEFI with UEFINotSupported when only Secure Boot firmware serves the machine (secure-boot must match exactly)', () => {
    const secureOnly: FirmwareInventory = { ...invs.plain, entries: invs.plain.entries.filter((e) => e.secureBoot) };
    assert.throws(
      () => selectFirmware(secureOnly, request({ hw_firmware_type: 'uefi' }), { secureBootEnabled: true }),
      novaError('UEFINotSupported', 'non-Secure Boot firmware for x86_64 machine q35'),
    );
    assert.equal(
      selectFirmware(secureOnly, request({ hw_firmware_type: 'uefi', os_secure_boot: 'optional' }), { secureBootEnabled: true })?.loader,
      tree.f.secCode,
    );
  });

  it('takes the lowest rank when several entries fit', () => {
    const [first, ...rest] = invs.plain.entries.filter((e) => e.arch === 'x86_64' && !e.secureBoot);
    assert.equal(rest.length, 0);
    const second = { ...first, source: 'descriptor:/x/10-other.json', executable: '/x/OTHER.fd', rank: 5 };
    const earlier = { ...first, source: 'descriptor:/x/99-early.json', executable: '/x/EARLY.fd', rank: -1 };
    const inv: FirmwareInventory = { ...invs.plain, entries: [second, first, earlier] };
    assert.equal(selectFirmware(inv, request({ hw_firmware_type: 'uefi' }), { secureBootEnabled: true })?.loader, '/x/EARLY.fd');
  });

  it('records the requested machine (alias as given) in the selection', () => {
    const sel = selectFirmware(invs.plain, request({ hw_firmware_type: 'uefi' }), { secureBootEnabled: true });
    assert.equal(sel?.machine, 'q35');
    assert.equal(sel?.enrolled_keys, false);
    const sec = selectFirmware(invs.plain, request({ hw_firmware_type: 'uefi', os_secure_boot: 'required' }), { secureBootEnabled: true });
    assert.equal(sec?.enrolled_keys, true);
  });
});
