import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { discoverFirmware } from '../../../src/firmware/discover';
import { reuseOrReselect, selectFirmware } from '../../../src/firmware/select';
import type { BootRequest, FirmwareInventory, FirmwareSelection } from '../../../src/firmware/types';
import { SIZES, makeFile } from '../../support/firmwareFixture';
import { firmwareMap, request, synthFiles, synthInventory } from './helpers';

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
  { name: 'reuses the pinned firmware when the map now points elsewhere (Nova keeps the original)', pinnedWith: { hw_firmware_type: 'uefi' }, inventory: 'changed', expect: { reselected: false } },
  { name: 'reuses pinned Secure Boot firmware when the map changed but Secure Boot is still possible', pinnedWith: { hw_firmware_type: 'uefi', os_secure_boot: 'required' }, inventory: 'changed', expect: { reselected: false } },
  { name: 'reselects and says why when the pinned loader vanished', pinnedWith: { hw_firmware_type: 'uefi' }, inventory: 'changed', vanished: ['loader'], expect: { reselected: true, reason: /^loader .*OVMF_CODE_4M\.fd vanished$/, loader: 'newCode', secure: false } },
  { name: 'reselects and says why when the pinned NVRAM template vanished', pinnedWith: { hw_firmware_type: 'uefi' }, inventory: 'changed', vanished: ['template'], expect: { reselected: true, reason: /^NVRAM template .*OVMF_VARS_4M\.fd vanished$/, loader: 'newCode', secure: false } },
  { name: 'reselects non-secure firmware when optional Secure Boot is no longer offered by the host', pinnedWith: { hw_firmware_type: 'uefi', os_secure_boot: 'optional' }, host: { secureBootEnabled: false }, inventory: 'same', expect: { reselected: true, reason: /Secure boot support was changed \(now off\)/, loader: 'code', secure: false } },
  { name: 'reselects secure firmware when optional Secure Boot becomes possible', pinnedWith: { hw_firmware_type: 'uefi', os_secure_boot: 'optional', hw_machine_type: 'pc' }, now: { hw_firmware_type: 'uefi', os_secure_boot: 'optional', hw_machine_type: 'q35' }, inventory: 'same', expect: { reselected: true, reason: /Secure boot support was changed \(now on\)/, loader: 'secCode', secure: true } },
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
      const out = reuseOrReselect(pinned, request(row.now ?? row.pinnedWith), inv, row.host ?? { secureBootEnabled: true }, (p) => !gone.has(p));
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

  it('propagates UEFINotSupported when the loader vanished and nothing else fits', () => {
    const pinned = selectFirmware(same, request({ hw_firmware_type: 'uefi' }), { secureBootEnabled: true }) as FirmwareSelection;
    const empty: FirmwareInventory = { entries: [], problems: [], sizes: {} };
    assert.throws(() => reuseOrReselect(pinned, request({ hw_firmware_type: 'uefi' }), empty, { secureBootEnabled: true }, () => false), (e: Error & { type?: string }) => e.type === 'UEFINotSupported');
  });
});
