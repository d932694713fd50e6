/**
 * firmware (index): detect once, then decide with pure functions, through the index alone:
 * an operator map with plain and secure pairs (sizes injected, no files), an image asking for
 * UEFI with or without Secure Boot, and the host's capabilities view.
 */
import { strict as assert } from 'node:assert';
import { testConfig } from '../../../src/config';
import { UEFINotSupported } from '../../../src/errors';
import * as firmware from '../../../src/firmware';

const SIZES: Record<string, number> = { '/fw/CODE.fd': 3_653_632, '/fw/VARS.fd': 540_672, '/fw/CODE.secboot.fd': 3_653_632, '/fw/VARS.ms.fd': 540_672 };
const map = testConfig({
  'firmware:x86_64': {
    loader: '/fw/CODE.fd',
    nvram_template: '/fw/VARS.fd',
    requires_smm: true,
    secure_loader: '/fw/CODE.secboot.fd',
    secure_nvram_template: '/fw/VARS.ms.fd',
    secure_requires_smm: true,
    secure_enrolled_keys: true,
  },
}).firmwareMap;

describe('firmware (index)', () => {
  const inv = firmware.discoverFirmware({ firmwareMap: map, descriptorDirs: [], statFile: (p) => SIZES[p] ?? null });
  const request = (imageProps: Record<string, unknown>) =>
    firmware.resolveBootRequest({ imageProps: imageProps, hostArch: 'x86_64', machineDefaults: { x86_64: 'q35' } });

  it('discovers the map without problems', () => {
    assert.deepEqual(inv.problems, []);
    assert.equal(inv.entries.length, 2);
  });

  it('selects the plain pair for a UEFI image, the secure pair for a Secure Boot image', () => {
    const plain = firmware.selectFirmware(inv, request({ hw_firmware_type: 'uefi' }), { secureBootEnabled: true });
    assert.equal(plain?.loader, '/fw/CODE.fd');
    assert.equal(plain?.secure, false);
    const secure = firmware.selectFirmware(inv, request({ hw_firmware_type: 'uefi', os_secure_boot: 'required' }), { secureBootEnabled: true });
    assert.equal(secure?.loader, '/fw/CODE.secboot.fd');
    assert.equal(secure?.nvram_template, '/fw/VARS.ms.fd');
    assert.equal(secure?.enrolled_keys, true);
  });

  it('selects nothing for a BIOS image', () => {
    assert.equal(firmware.selectFirmware(inv, request({}), { secureBootEnabled: true }), null);
  });

  it('refuses UEFI for an architecture it has no firmware for', () => {
    const req = firmware.resolveBootRequest({
      imageProps: { hw_firmware_type: 'uefi', hw_architecture: 'aarch64' } as never,
      hostArch: 'x86_64',
      machineDefaults: {},
    });
    assert.throws(() => firmware.selectFirmware(inv, req, { secureBootEnabled: true }), UEFINotSupported);
  });

  it('tells the host capabilities: UEFI and Secure Boot on x86_64, Secure Boot off when the host disables it', () => {
    const on = firmware.hostFirmwareCapabilities(inv, { secureBootEnabled: true, hostArch: 'x86_64' });
    const off = firmware.hostFirmwareCapabilities(inv, { secureBootEnabled: false, hostArch: 'x86_64' });
    assert.deepEqual(on.architectures.x86_64, { uefi: true, secure_boot: true, stateless: false, machines: ['pc-q35-*', 'pc-i440fx-*'] });
    assert.equal(on.supports_secure_boot, true);
    assert.equal(on.supports_stateless_firmware, false);
    assert.equal(off.architectures.x86_64.secure_boot, false);
    assert.equal(off.supports_secure_boot, false);
  });
});
