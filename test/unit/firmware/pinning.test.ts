import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { discoverFirmware } from '../../../src/firmware/discover';
import { reuseOrReselect } from '../../../src/firmware/pinning';
import { selectFirmware } from '../../../src/firmware/select';
import type { BootRequest, FirmwareInventory, FirmwareSelection } from '../../../src/firmware/types';
import { SIZES, makeFile } from '../../support/firmwareFixture';
import { firmwareMap, novaError, request, synthFiles, synthInventory } from './helpers';

interface Row {
  name: string;
  /** Request the instance was pinned with. */
  pinnedWith: Record<string, unknown>;
  /** Request now (same image, maybe another host). */
  now?: Record<string, unknown>;
  host?: { secureBootEnabled: boolean };
  /** Files that no longer exist. */
  vanished?: ('loader' | 'template')[];
  /** Inventory now: the same map or a changed one. */
  inventory: 'same' | 'changed';
  expect: { reselected: false } | { reselected: true; reason: RegExp; loader: 'code' | 'secCode' | 'newCode'; secure: boolean };
}

const rows: Row[] = [
  { name: 'reuses the pinned firmware when nothing changed', pinnedWith: { hw_firmware_type: 'uefi' }, inventory: 'same', expect: { reselected: false } },
  {
    name: 'reuses the pinned firmware when the map now points elsewhere (Nova keeps the original)',
    pinnedWith: { hw_firmware_type: 'uefi' },
    inventory: 'changed',
    expect: { reselected: false },
  },
  {
    name: 'reuses pinned Secure Boot firmware when the map changed but Secure Boot is still possible',
    pinnedWith: { hw_firmware_type: 'uefi', os_secure_boot: 'required' },
    inventory: 'changed',
    expect: { reselected: false },
  },
  {
    name: 'reselects and says why when the pinned loader vanished',
    pinnedWith: { hw_firmware_type: 'uefi' },
    inventory: 'changed',
    vanished: ['loader'],
    expect: { reselected: true, reason: /^loader .*OVMF_CODE_4M\.fd vanished$/, loader: 'newCode', secure: false },
  },
  {
    name: 'reselects and says why when the pinned NVRAM template vanished',
    pinnedWith: { hw_firmware_type: 'uefi' },
    inventory: 'changed',
    vanished: ['template'],
    expect: { reselected: true, reason: /^NVRAM template .*OVMF_VARS_4M\.fd vanished$/, loader: 'newCode', secure: false },
  },
  {
    name: 'reselects non-secure firmware when optional Secure Boot is no longer offered by the host',
    pinnedWith: { hw_firmware_type: 'uefi', os_secure_boot: 'optional' },
    host: { secureBootEnabled: false },
    inventory: 'same',
    expect: {
      reselected: true,
      reason: /^Secure boot support was changed \(pinned on, now off\)\. Re-selecting the firmware files$/,
      loader: 'code',
      secure: false,
    },
  },
  {
    name: 'reselects secure firmware when optional Secure Boot becomes possible',
    pinnedWith: { hw_firmware_type: 'uefi', os_secure_boot: 'optional', hw_machine_type: 'pc' },
    now: { hw_firmware_type: 'uefi', os_secure_boot: 'optional', hw_machine_type: 'q35' },
    inventory: 'same',
    expect: {
      reselected: true,
      reason: /^Secure boot support was changed \(pinned off, now on\)\. Re-selecting the firmware files$/,
      loader: 'secCode',
      secure: true,
    },
  },
];

describe('firmware/select: reuseOrReselect (pinned firmware)', () => {
  const tree = synthFiles();
  const same = synthInventory(tree, false);
  const newCode = makeFile(path.join(tree.dir, 'NEW_CODE_4M.fd'), SIZES.ovmf4mCode, 0xff, 'NEWCODE');
  const newVars = makeFile(path.join(tree.dir, 'NEW_VARS_4M.fd'), SIZES.ovmf4mVars, 0xff, 'NEWVARS');
  const changed: FirmwareInventory = discoverFirmware({
    firmwareMap: firmwareMap({ x86_64: { loader: newCode, nvram_template: newVars, secure_loader: tree.f.secCode, secure_nvram_template: tree.f.secVars } }),
    descriptorDirs: [],
  });
  const loaders = { code: tree.f.code, secCode: tree.f.secCode, newCode };

  for (const row of rows) {
    it(row.name, () => {
      const pinReq: BootRequest = request(row.pinnedWith);
      const pinned = selectFirmware(same, pinReq, { secureBootEnabled: true }) as FirmwareSelection;
      assert.ok(pinned);
      const gone = new Set<string>();
      if (row.vanished?.includes('loader')) gone.add(pinned.loader);
      if (row.vanished?.includes('template') && pinned.nvram_template) gone.add(pinned.nvram_template);
      const inv = row.inventory === 'same' ? same : changed;
      const out = reuseOrReselect(pinned, request(row.now ?? row.pinnedWith), inv, row.host ?? { secureBootEnabled: true }, (p: string) => !gone.has(p));
      if (!row.expect.reselected) {
        assert.equal(out.reselected, false);
        assert.equal(out.selection, pinned);
        assert.equal(out.reason, undefined);
      } else {
        assert.equal(out.reselected, true);
        assert.match(out.reason ?? '', row.expect.reason);
        assert.equal(out.selection.loader, loaders[row.expect.loader]);
        assert.equal(out.selection.secure, row.expect.secure);
        assert.notEqual(out.selection.loader, pinned.loader);
      }
    });
  }

  it('reselects non-secure firmware for optional Secure Boot when the map no longer has a secure entry', () => {
    const noSecure = discoverFirmware({ firmwareMap: firmwareMap({ x86_64: { loader: newCode, nvram_template: newVars } }), descriptorDirs: [] });
    const req = request({ hw_firmware_type: 'uefi', os_secure_boot: 'optional' });
    const pinned = selectFirmware(same, req, { secureBootEnabled: true }) as FirmwareSelection;
    assert.equal(pinned.loader, tree.f.secCode);
    const out = reuseOrReselect(pinned, req, noSecure, { secureBootEnabled: true }, () => true);
    assert.equal(out.reselected, true);
    assert.equal(out.selection.loader, newCode);
    assert.equal(out.selection.secure, false);
    assert.match(out.reason ?? '', /pinned on, now off/);
    const required = request({ hw_firmware_type: 'uefi', os_secure_boot: 'required' });
    assert.throws(
      () => reuseOrReselect(pinned, required, noSecure, { secureBootEnabled: true }, () => true),
      novaError('SecureBootNotSupported', 'no Secure Boot capable firmware'),
    );
  });

  it('raises SecureBootNotSupported when Secure Boot is required but the host no longer offers it', () => {
    const req = request({ hw_firmware_type: 'uefi', os_secure_boot: 'required' });
    const pinned = selectFirmware(same, req, { secureBootEnabled: true }) as FirmwareSelection;
    assert.equal(pinned.secure, true);
    assert.throws(
      () => reuseOrReselect(pinned, req, same, { secureBootEnabled: false }, () => true),
      novaError('SecureBootNotSupported', 'secure_boot = false'),
    );
  });

  it('keeps a pinned stateless selection without a template when the loader is still there', () => {
    const inv = synthInventory(tree, true);
    const req = request({ hw_firmware_type: 'uefi', hw_firmware_stateless: true });
    const pinned = selectFirmware(inv, req, { secureBootEnabled: true }) as FirmwareSelection;
    assert.equal(pinned.nvram_template, null);
    const seen: string[] = [];
    const out = reuseOrReselect(pinned, req, same, { secureBootEnabled: true }, (p) => (seen.push(p), true));
    assert.equal(out.reselected, false);
    assert.equal(out.selection, pinned);
    assert.deepEqual(seen, [pinned.loader]);
  });

  it('refuses to re-select for a BIOS boot request with InternalError', () => {
    const pinned = selectFirmware(same, request({ hw_firmware_type: 'uefi' }), { secureBootEnabled: true }) as FirmwareSelection;
    assert.throws(
      () => reuseOrReselect(pinned, request({ hw_firmware_type: 'bios' }), same, { secureBootEnabled: true }, () => false),
      novaError('InternalError', 'BIOS'),
    );
  });

  it('propagates UEFINotSupported when the loader vanished and nothing else fits', () => {
    const pinned = selectFirmware(same, request({ hw_firmware_type: 'uefi' }), { secureBootEnabled: true }) as FirmwareSelection;
    const empty: FirmwareInventory = { entries: [], problems: [], sizes: {} };
    assert.throws(
      () => reuseOrReselect(pinned, request({ hw_firmware_type: 'uefi' }), empty, { secureBootEnabled: true }, () => false),
      novaError('UEFINotSupported', 'x86_64'),
    );
  });
});
