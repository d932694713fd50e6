/**
 * @module firmware/select
 * Pure firmware selection over a discovered inventory (no I/O). Nova's rules
 * (`_configure_guest_by_virt_type`, `hardware.get_secure_boot_constraint`) plus the QEMU
 * descriptor rule that `secure-boot` must match exactly: a request without Secure Boot only
 * takes entries without it, a request with it only entries that have it. Candidates are the
 * entries of the requested arch whose machine globs serve the (canonicalised) machine and
 * whose stateless flag equals the request's; the first in rank order wins (operator map,
 * then descriptors by base name).
 */
import type { BootRequest, FirmwareEntry, FirmwareInventory, FirmwareSelection } from './types';
import { SecureBootNotSupported, UEFINotSupported } from '../errors';
import { isX86, machineMatches } from './machine';

export interface HostFirmwareOptions {
  /** `[firmware] secure_boot`: whether this host offers Secure Boot at all. */
  secureBootEnabled: boolean;
}

/** Candidates for arch + machine + stateless mode, in rank order. */
export function candidatesFor(inv: FirmwareInventory, req: BootRequest): FirmwareEntry[] {
  return inv.entries
    .filter((e) => e.arch === req.arch && e.stateless === req.stateless && machineMatches(e.machines, req.machine))
    .sort((a, b) => a.rank - b.rank);
}

/** Why Secure Boot is impossible for this request, or null when it is possible. */
export function secureBootBlocker(cands: readonly FirmwareEntry[], req: BootRequest, host: HostFirmwareOptions): string | null {
  if (!host.secureBootEnabled) return 'disabled on this host ([firmware] secure_boot = false)';
  // Nova: `'q35' in machine_type`, a substring test, on x86 only.
  if (isX86(req.arch) && !req.machine.includes('q35')) return `machine type '${req.machine}' is not q35`;
  if (!cands.some((e) => e.secureBoot)) return `no Secure Boot capable firmware for ${req.arch} machine ${req.machine}`;
  return null;
}

/** The secure flag a selection would carry now: required or possible-and-optional. */
export function wantsSecure(req: BootRequest, blocker: string | null): boolean {
  return blocker === null && (req.secureBoot === 'required' || req.secureBoot === 'optional');
}

function toSelection(e: FirmwareEntry, req: BootRequest): FirmwareSelection {
  return {
    loader: e.executable,
    nvram_template: e.nvramTemplate,
    secure: e.secureBoot,
    requires_smm: e.requiresSmm,
    stateless: e.stateless,
    enrolled_keys: e.enrolledKeys,
    source: e.source,
    arch: req.arch,
    machine: req.machine,
  };
}

/**
 * null for BIOS; otherwise the first fitting entry.
 * @throws UEFINotSupported when no entry serves the arch, the machine or the stateless mode.
 * @throws SecureBootNotSupported when Secure Boot is required but impossible (the reason names
 *   the host setting, the machine type or the missing firmware); `optional` degrades instead.
 */
export function selectFirmware(inv: FirmwareInventory, req: BootRequest, host: HostFirmwareOptions): FirmwareSelection | null {
  if (req.firmwareType === 'bios') return null;
  if (!inv.entries.some((e) => e.arch === req.arch)) throw new UEFINotSupported(`no UEFI firmware for architecture ${req.arch}`);
  const cands = candidatesFor(inv, req);
  if (cands.length === 0) {
    throw new UEFINotSupported(`no ${req.stateless ? 'stateless ' : ''}firmware for ${req.arch} machine ${req.machine}`);
  }
  const blocker = secureBootBlocker(cands, req, host);
  if (req.secureBoot === 'required' && blocker) throw new SecureBootNotSupported(blocker);
  const secure = wantsSecure(req, blocker);
  const hit = cands.find((e) => e.secureBoot === secure);
  if (!hit) {
    throw new UEFINotSupported(
      `no ${req.stateless ? 'stateless ' : ''}${secure ? 'Secure Boot ' : 'non-Secure Boot '}firmware for ${req.arch} machine ${req.machine}`,
    );
  }
  return toSelection(hit, req);
}
