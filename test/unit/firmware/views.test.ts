import { strict as assert } from 'node:assert';
import { describeInventory, hostFirmwareCapabilities } from '../../../src/firmware/views';
import { synthFiles, synthInventory } from './helpers';

describe('firmware/capabilities: host capabilities and the API view', () => {
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
      sizes: { executable: 64 * 1024 * 1024, nvram_template: 64 * 1024 * 1024 },
      executable_size: 64 * 1024 * 1024,
      nvram_template_size: 64 * 1024 * 1024,
    });
    const x86sec = d.entries.find((e) => e.source === 'config:[firmware:x86_64] secure');
    assert.equal(x86sec?.executable_size, 3_653_632);
    assert.equal(x86sec?.nvram_template_size, 540_672);
    assert.deepEqual(x86sec?.sizes, { executable: 3_653_632, nvram_template: 540_672 });
    assert.deepEqual(d.problems, []);
  });

  it('describes a stateless entry with a null template size and passes problems through', () => {
    const inv = synthInventory(tree, true);
    const withProblem = {
      ...inv,
      problems: [{ severity: 'warning' as const, source: 'descriptor:/x/50-a.json', message: 'skipped: /x/A.fd does not exist or is not readable' }],
    };
    const d = describeInventory(withProblem);
    const sl = d.entries.find((e) => e.source === 'config:[firmware:x86_64] stateless');
    assert.equal(sl?.nvram_template, null);
    assert.deepEqual(sl?.sizes, { executable: 3_653_632, nvram_template: null });
    assert.deepEqual(d.problems, withProblem.problems);
    assert.deepEqual(JSON.parse(JSON.stringify(d)), d);
  });

  it('offers no x86 Secure Boot when the only secure entry serves pc machines, and follows the host arch only', () => {
    const inv = synthInventory(tree, false);
    const pcOnly = { ...inv, entries: inv.entries.map((e) => (e.arch === 'x86_64' && e.secureBoot ? { ...e, machines: ['pc-i440fx-*'] } : e)) };
    const x86 = hostFirmwareCapabilities(pcOnly, { secureBootEnabled: true, hostArch: 'x86_64' });
    assert.equal(x86.architectures.x86_64.secure_boot, false);
    assert.equal(x86.architectures.aarch64.secure_boot, true);
    assert.equal(x86.supports_secure_boot, false);
    const arm = hostFirmwareCapabilities(pcOnly, { secureBootEnabled: true, hostArch: 'aarch64' });
    assert.equal(arm.supports_secure_boot, true);
  });

  it('reports a stateless-only architecture as stateless but not as plain UEFI', () => {
    const inv = synthInventory(tree, true);
    const slOnly = { ...inv, entries: inv.entries.filter((e) => e.arch !== 'aarch64' || e.stateless) };
    const caps = hostFirmwareCapabilities(slOnly, { secureBootEnabled: true, hostArch: 'aarch64' });
    assert.deepEqual(caps.architectures.aarch64, { uefi: false, secure_boot: false, stateless: true, machines: ['virt-*'] });
    assert.equal(caps.supports_stateless_firmware, true);
    assert.equal(caps.supports_secure_boot, false);
  });
});
