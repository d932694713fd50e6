/**
 * @module firmware/types
 * Vocabulary of firmware selection. QEMU-descriptor words (`executable`, `nvram-template`,
 * `features`, `targets`) are kept where they describe descriptors; `FirmwareSelection` is
 * what the driver pins with an instance and what the domain XML is built from.
 */

/** A boot request derived from image properties, flavor extra specs and host defaults. */
export interface BootRequest {
  /** 'bios' means no loader and no NVRAM at all. */
  firmwareType: 'bios' | 'uefi';
  /** Guest architecture (hw_architecture or the host's). */
  arch: string;
  /** Machine type as requested (alias like 'q35' or concrete like 'pc-q35-7.2'). */
  machine: string;
  /** Effective Secure Boot policy after flavor/image merge. */
  secureBoot: 'required' | 'optional' | 'disabled';
  /** hw_firmware_stateless (ignored with a warning for BIOS). */
  stateless: boolean;
  /** Warnings produced while resolving (e.g. stateless ignored for BIOS). */
  warnings: string[];
}

/** One usable firmware build, from the operator map or a QEMU descriptor. */
export interface FirmwareEntry {
  /** 'config:[firmware:x86_64]' / 'config:[firmware:x86_64] secure' / 'descriptor:/usr/share/qemu/firmware/60-edk2-x86_64.json' */
  source: string;
  /** Descriptor base name or config section; used for ordering within a source kind. */
  name: string;
  arch: string;
  /** Machine globs (fnmatch) the entry serves. */
  machines: string[];
  executable: string;
  /** null for stateless entries. */
  nvramTemplate: string | null;
  secureBoot: boolean;
  requiresSmm: boolean;
  enrolledKeys: boolean;
  stateless: boolean;
  /** Rank: lower wins. Config entries rank before all descriptors. */
  rank: number;
}

export interface FirmwareProblem {
  severity: 'warning' | 'error';
  source: string;
  arch?: string;
  message: string;
}

/** Everything discovered once at start-up (or on refresh): ordered entries plus problems. */
export interface FirmwareInventory {
  entries: FirmwareEntry[];
  problems: FirmwareProblem[];
  /** File sizes of executables and templates seen during discovery (bytes). */
  sizes: Record<string, number>;
}

/** The firmware an instance boots with; pinned in its record at spawn. */
export interface FirmwareSelection {
  loader: string;
  nvram_template: string | null;
  secure: boolean;
  requires_smm: boolean;
  stateless: boolean;
  enrolled_keys: boolean;
  source: string;
  arch: string;
  /** Concrete or alias machine type the selection was made for. */
  machine: string;
}
