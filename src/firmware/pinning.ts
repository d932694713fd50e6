/**
 * @module firmware/pinning
 * Keep or replace the firmware an instance was pinned with, following Nova's
 * `_copy_guest_firmware_elements(old_guest, guest)` (2026.1, nova.md §4.1): the old loader and
 * template are re-used even if the map or descriptors changed since, unless the loader or the
 * template vanished, or the Secure Boot outcome for this request on this host differs from the
 * pinned `secure` flag. Pure: file existence comes in through `exists`.
 * Deliberately does not reset the VARS file when Secure Boot flips (Nova's TODO(tkajinam));
 * that is the caller's decision.
 */
import type { BootRequest, FirmwareInventory, FirmwareSelection } from './types';
import { InternalError } from '../errors';
import { candidatesFor, secureBootBlocker, selectFirmware, wantsSecure, type HostFirmwareOptions } from './select';

export interface PinningOutcome {
  selection: FirmwareSelection;
  reselected: boolean;
  /** Why a new selection was made (absent when the pinned one is kept). */
  reason?: string;
}

/**
 * @returns the pinned selection untouched (`reselected: false`), or a fresh `selectFirmware`
 *   result with the reason.
 * @throws whatever `selectFirmware` throws when re-selection finds nothing (e.g. Secure Boot
 *   still required but no longer possible ⇒ SecureBootNotSupported).
 */
export function reuseOrReselect(
  pinned: FirmwareSelection,
  req: BootRequest,
  inv: FirmwareInventory,
  host: HostFirmwareOptions,
  exists: (p: string) => boolean,
): PinningOutcome {
  let reason: string | undefined;
  if (!exists(pinned.loader)) reason = `loader ${pinned.loader} vanished`;
  else if (pinned.nvram_template && !exists(pinned.nvram_template)) reason = `NVRAM template ${pinned.nvram_template} vanished`;
  else {
    const secureNow = wantsSecure(req, secureBootBlocker(candidatesFor(inv, req), req, host));
    if (secureNow !== pinned.secure) {
      reason = `Secure boot support was changed (pinned ${pinned.secure ? 'on' : 'off'}, now ${secureNow ? 'on' : 'off'}). Re-selecting the firmware files`;
    }
  }
  if (!reason) return { selection: pinned, reselected: false };
  const selection = selectFirmware(inv, req, host);
  // A BIOS request with UEFI firmware pinned is a caller bug, not something to paper over.
  if (!selection) throw new InternalError(`cannot re-select firmware (${reason}): the boot request is BIOS`);
  return { selection, reselected: true, reason };
}
