/**
 * @module firmware/select
 * Pure firmware selection over a discovered inventory, Nova's rules plus the QEMU
 * descriptor rule that `secure-boot` must match exactly: a request without Secure Boot only
 * takes entries without it, a request with it only entries that have it. First match in
 * rank order wins (operator map, then descriptors by base name).
 */
import type { BootRequest, FirmwareEntry, FirmwareInventory, FirmwareSelection } from './types';
import { SecureBootNotSupported, UEFINotSupported } from '../errors';

export interface HostFirmwareOptions {
  secureBootEnabled: boolean;
}

/** fnmatch-style glob (`*`, `?`, `[...]`). */
export function globMatch(glob: string, s: string): boolean {
  let re = '^';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const j = glob.indexOf(']', i + 1);
      if (j < 0) re += '\\[';
      else {
        let body = glob.slice(i + 1, j);
        if (body.startsWith('!')) body = '^' + body.slice(1);
        re += `[${body.replace(/\\/g, '\\\\')}]`;
        i = j;
      }
    } else re += c.replace(/[.+^${}()|\\/]/g, '\\$&');
  }
  return new RegExp(re + '$').test(s);
}

/** Machine aliases resolve to versioned names (`q35` ⇒ `pc-q35-X.Y`); descriptors list versioned globs. */
const ALIASES: Record<string, string> = { q35: 'pc-q35-', pc: 'pc-i440fx-', virt: 'virt-' };

export function machineMatches(globs: string[], machine: string): boolean {
  const prefix = ALIASES[machine];
  const concrete = prefix ? `${prefix}99.0` : machine;
  return globs.some((g) => globMatch(g, concrete) || globMatch(g, machine));
}

function isX86(arch: string): boolean {
  return arch === 'x86_64' || arch === 'i686';
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

/** Candidates for arch + machine + stateless mode, in rank order. */
function candidates(inv: FirmwareInventory, req: BootRequest): FirmwareEntry[] {
  return inv.entries.filter((e) => e.arch === req.arch && e.stateless === req.stateless && machineMatches(e.machines, req.machine)).sort((a, b) => a.rank - b.rank);
}

/** Why Secure Boot is impossible for this request, or null when it is possible. */
function secureBootBlocker(cands: FirmwareEntry[], req: BootRequest, host: HostFirmwareOptions): string | null {
  if (!host.secureBootEnabled) return 'disabled on this host ([firmware] secure_boot = false)';
  if (isX86(req.arch) && !req.machine.includes('q35')) return `machine type '${req.machine}' is not q35`;
  if (!cands.some((e) => e.secureBoot)) return `no Secure Boot capable firmware for ${req.arch}/${req.machine}`;
  return null;
}

/** null for BIOS; otherwise the first fitting entry. Throws UEFINotSupported / SecureBootNotSupported. */
export function selectFirmware(inv: FirmwareInventory, req: BootRequest, host: HostFirmwareOptions): FirmwareSelection | null {
  if (req.firmwareType === 'bios') return null;
  const cands = candidates(inv, req);
  if (!inv.entries.some((e) => e.arch === req.arch)) throw new UEFINotSupported(`no UEFI firmware for architecture ${req.arch}`);
  const blocker = secureBootBlocker(cands, req, host);
  const secure = req.secureBoot === 'required' || (req.secureBoot === 'optional' && blocker === null);
  if (req.secureBoot === 'required' && blocker) throw new SecureBootNotSupported(blocker);
  const hit = cands.find((e) => e.secureBoot === secure);
  if (!hit) {
    throw new UEFINotSupported(`no ${req.stateless ? 'stateless ' : ''}${secure ? 'Secure Boot ' : ''}firmware for ${req.arch} machine ${req.machine}`);
  }
  return toSelection(hit, req);
}

/**
 * Nova's `_copy_guest_firmware_elements` rules: keep the pinned firmware even if the map
 * changed, unless its loader or template vanished or the Secure Boot outcome for this
 * request changed on this host; then select again and say why.
 */
export function reuseOrReselect(
  pinned: FirmwareSelection,
  req: BootRequest,
  inv: FirmwareInventory,
  host: HostFirmwareOptions,
  exists: (p: string) => boolean,
): { selection: FirmwareSelection; reselected: boolean; reason?: string } {
  let reason: string | undefined;
  if (!exists(pinned.loader)) reason = `loader ${pinned.loader} vanished`;
  else if (pinned.nvram_template && !exists(pinned.nvram_template)) reason = `NVRAM template ${pinned.nvram_template} vanished`;
  else {
    const cands = candidates(inv, req);
    const blocker = secureBootBlocker(cands, req, host);
    const secureNow = req.secureBoot === 'required' || (req.secureBoot === 'optional' && blocker === null);
    if (secureNow !== pinned.secure) reason = `Secure boot support was changed (now ${secureNow ? 'on' : 'off'}). Re-selecting the firmware files`;
  }
  if (!reason) return { selection: pinned, reselected: false };
  const selection = selectFirmware(inv, req, host);
  if (!selection) return { selection: pinned, reselected: false };
  return { selection, reselected: true, reason };
}

export function hostFirmwareCapabilities(
  inv: FirmwareInventory,
  host: HostFirmwareOptions & { hostArch: string },
): { architectures: Record<string, { uefi: boolean; secure_boot: boolean; stateless: boolean; machines: string[] }>; supports_secure_boot: boolean; supports_stateless_firmware: boolean } {
  const architectures: Record<string, { uefi: boolean; secure_boot: boolean; stateless: boolean; machines: string[] }> = {};
  for (const e of inv.entries) {
    const a = (architectures[e.arch] ??= { uefi: false, secure_boot: false, stateless: false, machines: [] });
    if (!e.stateless) a.uefi = true;
    if (e.stateless) a.stateless = true;
    // On x86 Secure Boot needs SMM and q35; entries that pass validation already have SMM.
    if (e.secureBoot && host.secureBootEnabled && (!isX86(e.arch) || e.machines.some((m) => m.includes('q35')))) a.secure_boot = true;
    for (const m of e.machines) if (!a.machines.includes(m)) a.machines.push(m);
  }
  const mine = architectures[host.hostArch];
  return { architectures, supports_secure_boot: !!mine?.secure_boot, supports_stateless_firmware: !!mine?.stateless };
}

export function describeInventory(inv: FirmwareInventory): { entries: Record<string, unknown>[]; problems: FirmwareInventory['problems'] } {
  return {
    entries: inv.entries.map((e) => ({
      source: e.source,
      arch: e.arch,
      machines: e.machines,
      executable: e.executable,
      nvram_template: e.nvramTemplate,
      secure_boot: e.secureBoot,
      requires_smm: e.requiresSmm,
      enrolled_keys: e.enrolledKeys,
      stateless: e.stateless,
      executable_size: inv.sizes[e.executable] ?? null,
      nvram_template_size: e.nvramTemplate ? (inv.sizes[e.nvramTemplate] ?? null) : null,
    })),
    problems: inv.problems,
  };
}

/** Nova architecture name of this host. */
export function hostArch(): string {
  const map: Record<string, string> = { x64: 'x86_64', arm64: 'aarch64', ia32: 'i686', arm: 'armv7l', ppc64: 'ppc64le', s390x: 's390x' };
  return map[process.arch] ?? process.arch;
}
