import { strict as assert } from 'node:assert';
import { selectFirmware, hostFirmwareCapabilities, describeInventory, globMatch, machineMatches } from '../../../src/firmware/select';
import { resolveBootRequest } from '../../../src/firmware/request';
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
    { name: 'selects the plain 4M loader and template for q35 without Secure Boot', props: { hw_firmware_type: 'uefi' }, expect: { loader: 'code', template: 'vars', secure: false, smm: false, stateless: false, source: X86 } },
    { name: 'selects the secure-boot loader with SMM for q35 when Secure Boot is required', props: { hw_firmware_type: 'uefi', os_secure_boot: 'required' }, expect: { loader: 'secCode', template: 'secVars', secure: true, smm: true, stateless: false, source: `${X86} secure` } },
    { name: 'selects the secure-boot loader for q35 when Secure Boot is optional and the host offers it', props: { hw_firmware_type: 'uefi', os_secure_boot: 'optional' }, expect: { loader: 'secCode', template: 'secVars', secure: true, smm: true, stateless: false, source: `${X86} secure` } },
    { name: 'selects the plain loader when Secure Boot is disabled', props: { hw_firmware_type: 'uefi', os_secure_boot: 'disabled' }, expect: { loader: 'code', template: 'vars', secure: false, smm: false, stateless: false, source: X86 } },
    { name: 'selects the stateless loader without a template when hw_firmware_stateless is set and the map has one', props: { hw_firmware_type: 'uefi', hw_firmware_stateless: true }, withStateless: true, expect: { loader: 'statelessCode', template: null, secure: false, smm: false, stateless: true, source: `${X86} stateless` } },
    { name: 'refuses stateless firmware with UEFINotSupported when no stateless_loader is mapped', props: { hw_firmware_type: 'uefi', hw_firmware_stateless: 'true' }, expect: { error: 'UEFINotSupported', fragment: 'stateless' } },
    { name: 'returns no firmware at all for a BIOS guest', props: { hw_firmware_type: 'bios' }, expect: null },
    { name: 'returns no firmware for x86_64 when hw_firmware_type is unset (BIOS default)', props: {}, expect: null },
    { name: 'refuses an architecture without firmware with UEFINotSupported', props: { hw_firmware_type: 'uefi', hw_architecture: 'ppc64le', hw_machine_type: 'pseries' }, expect: { error: 'UEFINotSupported', fragment: 'ppc64le' } },
    { name: 'refuses required Secure Boot on the pc (i440fx) machine with SecureBootNotSupported', props: { hw_firmware_type: 'uefi', os_secure_boot: 'required', hw_machine_type: 'pc' }, expect: { error: 'SecureBootNotSupported', fragment: "'pc' is not q35" } },
    { name: 'falls back to the plain loader on pc when Secure Boot is only optional', props: { hw_firmware_type: 'uefi', os_secure_boot: 'optional', hw_machine_type: 'pc' }, expect: { loader: 'code', template: 'vars', secure: false, smm: false, stateless: false, source: X86 } },
    { name: 'refuses required Secure Boot with SecureBootNotSupported when the host disables it', props: { hw_firmware_type: 'uefi', os_secure_boot: 'required' }, host: { secureBootEnabled: false }, expect: { error: 'SecureBootNotSupported', fragment: 'secure_boot = false' } },
    { name: 'falls back to the plain loader for optional Secure Boot when the host disables it', props: { hw_firmware_type: 'uefi', os_secure_boot: 'optional' }, host: { secureBootEnabled: false }, expect: { loader: 'code', template: 'vars', secure: false, smm: false, stateless: false, source: X86 } },
    { name: 'selects Secure Boot when the flavor requires it and the image says nothing', props: { hw_firmware_type: 'uefi' }, flavor: { 'os:secure_boot': 'required' }, expect: { loader: 'secCode', template: 'secVars', secure: true, smm: true, stateless: false, source: `${X86} secure` } },
    { name: 'refuses a flavor and image that disagree on Secure Boot with FlavorImageConflict', props: { hw_firmware_type: 'uefi', os_secure_boot: 'required' }, flavor: { 'os:secure_boot': 'disabled' }, expect: { error: 'FlavorImageConflict', fragment: 'os_secure_boot' } },
    { name: 'accepts a concrete versioned q35 machine type', props: { hw_firmware_type: 'uefi', hw_machine_type: 'pc-q35-7.2' }, expect: { loader: 'code', template: 'vars', secure: false, smm: false, stateless: false, source: X86 } },
  ],
  aarch64: [
    { name: 'selects AAVMF for virt when hw_firmware_type is unset (aarch64 defaults to UEFI)', props: {}, expect: { loader: 'aaCode', template: 'aaVars', secure: false, smm: false, stateless: false, source: ARM } },
    { name: 'selects plain AAVMF for an explicit uefi request', props: { hw_firmware_type: 'uefi' }, expect: { loader: 'aaCode', template: 'aaVars', secure: false, smm: false, stateless: false, source: ARM } },
    { name: 'selects the secure AAVMF build (no SMM on Arm) when Secure Boot is required', props: { os_secure_boot: 'required' }, expect: { loader: 'aaSecCode', template: 'aaSecVars', secure: true, smm: false, stateless: false, source: `${ARM} secure` } },
    { name: 'selects the secure AAVMF build when Secure Boot is optional', props: { os_secure_boot: 'optional' }, expect: { loader: 'aaSecCode', template: 'aaSecVars', secure: true, smm: false, stateless: false, source: `${ARM} secure` } },
    { name: 'selects plain AAVMF when Secure Boot is disabled', props: { os_secure_boot: 'disabled' }, expect: { loader: 'aaCode', template: 'aaVars', secure: false, smm: false, stateless: false, source: ARM } },
    { name: 'selects the stateless AAVMF loader when mapped', props: { hw_firmware_stateless: 'yes' }, withStateless: true, expect: { loader: 'aaStateless', template: null, secure: false, smm: false, stateless: true, source: `${ARM} stateless` } },
    { name: 'refuses stateless firmware with UEFINotSupported when none is mapped', props: { hw_firmware_stateless: true }, expect: { error: 'UEFINotSupported', fragment: 'stateless' } },
    { name: 'returns no firmware for an explicit BIOS request', props: { hw_firmware_type: 'bios' }, expect: null },
    { name: 'refuses required Secure Boot with SecureBootNotSupported when the host disables it', props: { os_secure_boot: 'required' }, host: { secureBootEnabled: false }, expect: { error: 'SecureBootNotSupported', fragment: 'secure_boot = false' } },
    { name: 'falls back to plain AAVMF for optional Secure Boot when the host disables it', props: { os_secure_boot: 'optional' }, host: { secureBootEnabled: false }, expect: { loader: 'aaCode', template: 'aaVars', secure: false, smm: false, stateless: false, source: ARM } },
    { name: 'refuses a flavor and image that disagree on Secure Boot with FlavorImageConflict', props: { os_secure_boot: 'disabled' }, flavor: { 'os:secure_boot': 'required' }, expect: { error: 'FlavorImageConflict' } },
    { name: 'refuses an unknown machine type with UEFINotSupported', props: { hw_machine_type: 'sbsa-ref' }, expect: { error: 'UEFINotSupported', fragment: 'sbsa-ref' } },
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
          const run = (): FirmwareSelection | null =>
            selectFirmware(inv, request(row.props, { hostArch: arch, flavor: row.flavor }), host);
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

  it('records the requested machine (alias as given) in the selection', () => {
    const sel = selectFirmware(invs.plain, request({ hw_firmware_type: 'uefi' }), { secureBootEnabled: true });
    assert.equal(sel?.machine, 'q35');
    assert.equal(sel?.enrolled_keys, false);
    const sec = selectFirmware(invs.plain, request({ hw_firmware_type: 'uefi', os_secure_boot: 'required' }), { secureBootEnabled: true });
    assert.equal(sec?.enrolled_keys, true);
  });
});

describe('firmware/request: resolveBootRequest', () => {
  const invalid: { name: string; props: Record<string, unknown>; flavor?: Record<string, string>; field: string }[] = [
    { name: "rejects hw_firmware_type 'efi' with Invalid naming the field", props: { hw_firmware_type: 'efi' }, field: 'image_meta.properties.hw_firmware_type' },
    { name: "rejects os_secure_boot 'maybe' with Invalid naming the field", props: { os_secure_boot: 'maybe' }, field: 'image_meta.properties.os_secure_boot' },
    { name: "rejects flavor os:secure_boot 'optional' (flavors only take required/disabled) with Invalid naming the field", props: {}, flavor: { 'os:secure_boot': 'optional' }, field: 'flavor.extra_specs.os:secure_boot' },
  ];
  for (const c of invalid) {
    it(c.name, () => {
      assert.throws(
        () => request(c.props, { flavor: c.flavor }),
        (e: Error & { type?: string; code?: number; details?: Record<string, unknown> }) => {
          assert.equal(e.type, 'Invalid');
          assert.equal(e.code, 400);
          assert.equal(e.details?.field, c.field);
          assert.ok(e.message.includes(c.field), e.message);
          return true;
        },
      );
    });
  }

  it('rejects a non-boolean hw_firmware_stateless with InvalidInput naming the field', () => {
    assert.throws(() => request({ hw_firmware_type: 'uefi', hw_firmware_stateless: 'sometimes' }), novaError('InvalidInput', 'image_meta.properties.hw_firmware_stateless'));
  });

  it('rejects an architecture with illegal characters with InvalidInput', () => {
    assert.throws(() => request({ hw_architecture: 'x86 64' }), novaError('InvalidInput', 'hw_architecture'));
  });

  const defaults: { name: string; hostArch: string; props: Record<string, unknown>; type: 'bios' | 'uefi'; machine: string; defaults?: Record<string, string> }[] = [
    { name: 'defaults aarch64 to UEFI on the virt machine when hw_firmware_type is unset', hostArch: 'aarch64', props: {}, type: 'uefi', machine: 'virt', defaults: {} },
    { name: 'defaults x86_64 to BIOS on the pc machine when nothing is configured', hostArch: 'x86_64', props: {}, type: 'bios', machine: 'pc', defaults: {} },
    { name: 'takes the machine from [libvirt] hw_machine_type when the image has none', hostArch: 'x86_64', props: { hw_firmware_type: 'uefi' }, type: 'uefi', machine: 'q35', defaults: { x86_64: 'q35' } },
    { name: 'prefers the image hw_machine_type over the configured default', hostArch: 'x86_64', props: { hw_machine_type: 'pc-q35-7.2' }, type: 'bios', machine: 'pc-q35-7.2', defaults: { x86_64: 'q35' } },
    { name: 'uses hw_architecture over the host architecture', hostArch: 'x86_64', props: { hw_architecture: 'AArch64' }, type: 'uefi', machine: 'virt', defaults: {} },
  ];
  for (const c of defaults) {
    it(c.name, () => {
      const r = request(c.props, { hostArch: c.hostArch, defaults: c.defaults });
      assert.equal(r.firmwareType, c.type);
      assert.equal(r.machine, c.machine);
    });
  }

  it('ignores hw_firmware_stateless for BIOS with a warning', () => {
    const r = request({ hw_firmware_type: 'bios', hw_firmware_stateless: true });
    assert.equal(r.firmwareType, 'bios');
    assert.equal(r.stateless, false);
    assert.deepEqual(r.warnings, ['hw_firmware_stateless is ignored for BIOS guests']);
  });

  it('gives no warning for stateless UEFI', () => {
    const r = request({ hw_firmware_type: 'uefi', hw_firmware_stateless: true });
    assert.equal(r.stateless, true);
    assert.deepEqual(r.warnings, []);
  });

  it('refuses required Secure Boot for a BIOS guest with SecureBootNotSupported', () => {
    assert.throws(() => request({ hw_firmware_type: 'bios', os_secure_boot: 'required' }), novaError('SecureBootNotSupported', 'UEFI'));
  });

  it('turns optional Secure Boot off for a BIOS guest', () => {
    assert.equal(request({ hw_firmware_type: 'bios', os_secure_boot: 'optional' }).secureBoot, 'disabled');
  });

  it('refuses UEFI on an architecture with no known machine type with UEFINotSupported', () => {
    assert.throws(
      () => resolveBootRequest({ imageProps: { hw_firmware_type: 'uefi' }, hostArch: 's390x', machineDefaults: {} }),
      novaError('UEFINotSupported', 's390x'),
    );
  });
});

describe('firmware/select: globs, capabilities and description', () => {
  const globs: [string, string, boolean][] = [
    ['pc-q35-*', 'pc-q35-7.2', true],
    ['pc-q35-*', 'pc-i440fx-7.2', false],
    ['pc-q35-?.?', 'pc-q35-7.2', true],
    ['pc-q35-?.?', 'pc-q35-10.0', false],
    ['virt-[0-9]*', 'virt-7.2', true],
    ['virt-[!0-9]*', 'virt-7.2', false],
    ['pc.q35', 'pcxq35', false],
    ['*', '', true],
  ];
  for (const [g, s, want] of globs) {
    it(`globMatch(${JSON.stringify(g)}, ${JSON.stringify(s)}) is ${want}`, () => assert.equal(globMatch(g, s), want));
  }

  const machines: [string[], string, boolean][] = [
    [['pc-q35-*'], 'q35', true],
    [['pc-q35-*'], 'pc', false],
    [['pc-i440fx-*'], 'pc', true],
    [['virt-*'], 'virt', true],
    [['virt-*'], 'pc-q35-7.2', false],
    [['pc-q35-7.2'], 'pc-q35-7.2', true],
  ];
  for (const [g, m, want] of machines) {
    it(`machineMatches(${JSON.stringify(g)}, ${JSON.stringify(m)}) is ${want}`, () => assert.equal(machineMatches(g, m), want));
  }

  const tree = synthFiles();
  it('reports UEFI, Secure Boot and stateless support per architecture', () => {
    const caps = hostFirmwareCapabilities(synthInventory(tree, true), { secureBootEnabled: true, hostArch: 'x86_64' });
    assert.deepEqual(caps.architectures.x86_64, { uefi: true, secure_boot: true, stateless: true, machines: ['pc-q35-*', 'pc-i440fx-*'] });
    assert.deepEqual(caps.architectures.aarch64, { uefi: true, secure_boot: true, stateless: true, machines: ['virt-*'] });
    assert.equal(caps.supports_secure_boot, true);
    assert.equal(caps.supports_stateless_firmware, true);
  });

  it('reports no Secure Boot when the host disables it and no stateless support without a stateless loader', () => {
    const caps = hostFirmwareCapabilities(synthInventory(tree, false), { secureBootEnabled: false, hostArch: 'x86_64' });
    assert.equal(caps.architectures.x86_64.secure_boot, false);
    assert.equal(caps.architectures.x86_64.stateless, false);
    assert.equal(caps.supports_secure_boot, false);
    assert.equal(caps.supports_stateless_firmware, false);
  });

  it('reports nothing for a host architecture without firmware', () => {
    const caps = hostFirmwareCapabilities(synthInventory(tree, true), { secureBootEnabled: true, hostArch: 's390x' });
    assert.equal(caps.supports_secure_boot, false);
    assert.equal(caps.supports_stateless_firmware, false);
  });

  it('describes entries with file sizes in snake_case', () => {
    const d = describeInventory(synthInventory(tree, false));
    assert.equal(d.entries.length, 4);
    assert.deepEqual(d.entries[0], {
      source: 'config:[firmware:aarch64]',
      arch: 'aarch64',
      machines: ['virt-*'],
      executable: tree.f.aaCode,
      nvram_template: tree.f.aaVars,
      secure_boot: false,
      requires_smm: false,
      enrolled_keys: false,
      stateless: false,
      executable_size: 64 * 1024 * 1024,
      nvram_template_size: 64 * 1024 * 1024,
    });
    const x86sec = d.entries.find((e) => e.source === 'config:[firmware:x86_64] secure');
    assert.equal(x86sec?.executable_size, 3_653_632);
    assert.equal(x86sec?.nvram_template_size, 540_672);
    assert.deepEqual(d.problems, []);
  });
});
