/**
 * @module firmware/views
 * Read-only views of an inventory: the host capabilities Nova turns into traits
 * (`supports_secure_boot` ⇒ COMPUTE_SECURITY_UEFI_SECURE_BOOT, per host, so it refers to the
 * host architecture) and the JSON served by `GET /v1/host/firmware`. Pure.
 */
import type { FirmwareInventory, FirmwareProblem } from './types';
import type { HostFirmwareOptions } from './select';
import { isX86 } from './machine';

export interface ArchFirmwareCapabilities {
  /** Some non-stateless UEFI entry exists (a default UEFI guest can boot). */
  uefi: boolean;
  /** Secure Boot is offered: host allows it and a secure entry exists (q35 globs on x86). */
  secure_boot: boolean;
  /** A stateless entry exists. */
  stateless: boolean;
  /** Union of the entries' machine globs, in rank order. */
  machines: string[];
}

export interface HostFirmwareCapabilities {
  architectures: Record<string, ArchFirmwareCapabilities>;
  supports_secure_boot: boolean;
  supports_stateless_firmware: boolean;
}

export function hostFirmwareCapabilities(inv: FirmwareInventory, host: HostFirmwareOptions & { hostArch: string }): HostFirmwareCapabilities {
  const architectures: Record<string, ArchFirmwareCapabilities> = {};
  for (const e of [...inv.entries].sort((a, b) => a.rank - b.rank)) {
    const a = (architectures[e.arch] ??= { uefi: false, secure_boot: false, stateless: false, machines: [] });
    if (e.stateless) a.stateless = true;
    else a.uefi = true;
    // Validation already dropped x86 secure entries without SMM; q35 is Nova's machine rule.
    if (e.secureBoot && host.secureBootEnabled && (!isX86(e.arch) || e.machines.some((m) => m.includes('q35')))) a.secure_boot = true;
    for (const m of e.machines) if (!a.machines.includes(m)) a.machines.push(m);
  }
  const mine = architectures[host.hostArch];
  return { architectures, supports_secure_boot: !!mine?.secure_boot, supports_stateless_firmware: !!mine?.stateless };
}

export interface FirmwareEntryView {
  source: string;
  arch: string;
  machines: string[];
  executable: string;
  nvram_template: string | null;
  secure_boot: boolean;
  requires_smm: boolean;
  enrolled_keys: boolean;
  stateless: boolean;
  /** Bytes of the executable and template as seen at discovery (null when unknown). */
  sizes: { executable: number | null; nvram_template: number | null };
  /** Same as `sizes.executable` (kept for existing clients). */
  executable_size: number | null;
  /** Same as `sizes.nvram_template` (kept for existing clients). */
  nvram_template_size: number | null;
}

export interface FirmwareInventoryView {
  entries: FirmwareEntryView[];
  problems: FirmwareProblem[];
}

/** JSON-friendly view for GET /v1/host/firmware: entries in rank order, then every problem. */
export function describeInventory(inv: FirmwareInventory): FirmwareInventoryView {
  return {
    entries: inv.entries.map((e) => {
      const executable = inv.sizes[e.executable] ?? null;
      const nvramTemplate = e.nvramTemplate ? (inv.sizes[e.nvramTemplate] ?? null) : null;
      return {
        source: e.source,
        arch: e.arch,
        machines: [...e.machines],
        executable: e.executable,
        nvram_template: e.nvramTemplate,
        secure_boot: e.secureBoot,
        requires_smm: e.requiresSmm,
        enrolled_keys: e.enrolledKeys,
        stateless: e.stateless,
        sizes: { executable, nvram_template: nvramTemplate },
        executable_size: executable,
        nvram_template_size: nvramTemplate,
      };
    }),
    problems: inv.problems.map((p) => ({ ...p })),
  };
}
