/**
 * @module firmware/entryChecks
 * File checks for firmware entries: files exist and are readable, the VARS template fits the
 * CODE build, and x86 Secure Boot entries need SMM. Works through an injected `size` function,
 * so it does no I/O of its own. `error` problems make an entry unusable; a descriptor whose
 * files are missing is skipped with a `warning` (distro descriptors can dangle: Debian 12's
 * `50-edk2-aarch64-secure.json` names an absent `AAVMF_CODE.secboot.fd`), while a missing file
 * named by the operator's map is an `error`.
 */
import type { FirmwareEntry, FirmwareProblem } from './types';
import { isX86 } from './machine';

const MIB = 1024 * 1024;

/** What a CODE build of a given size needs from its VARS template. */
export interface CodeBuildRule {
  build: string;
  /** The only varstore size this build can map (pflash1 must be exactly this size). */
  vars: number;
}

/**
 * Known edk2 builds keyed by CODE size (libvirt-qemu-edk2.md §2). 2M and 4M OVMF builds are not
 * interchangeable: a 4M varstore behind 2M code (or the reverse) makes QEMU fail at start.
 * ArmVirtQemu pads both flash banks to 64 MiB.
 */
export const CODE_BUILDS: ReadonlyMap<number, CodeBuildRule> = new Map([
  [1_966_080, { build: 'OVMF 2M', vars: 131_072 }],
  [3_653_632, { build: 'OVMF 4M', vars: 540_672 }],
  [64 * MIB, { build: 'AAVMF 64M', vars: 64 * MIB }],
]);

/** Every varstore size a known edk2 build uses. */
export const KNOWN_VARS_SIZES: ReadonlySet<number> = new Set([...CODE_BUILDS.values()].map((r) => r.vars));

export interface EntryCheck {
  /** false when the entry must not be served (an error, or a skipped descriptor). */
  usable: boolean;
  problems: FirmwareProblem[];
  /** Template size when both files were found (for the cross-entry check). */
  varsSize: number | null;
}

/** Check one entry's files and features. `size` returns bytes, or null when absent/unreadable. */
export function validateEntry(e: FirmwareEntry, size: (p: string) => number | null): EntryCheck {
  const problems: FirmwareProblem[] = [];
  const where = { source: e.source, arch: e.arch };
  let usable = true;
  const missing = (f: string) => {
    usable = false;
    const severity = e.source.startsWith('descriptor:') ? ('warning' as const) : ('error' as const);
    problems.push({ severity, ...where, message: `skipped: ${f} does not exist or is not readable` });
  };
  const error = (message: string) => {
    usable = false;
    problems.push({ severity: 'error', ...where, message });
  };

  const code = size(e.executable);
  if (code === null) missing(e.executable);
  const vars = e.nvramTemplate ? size(e.nvramTemplate) : null;
  if (e.nvramTemplate && vars === null) missing(e.nvramTemplate);

  if (code !== null && vars !== null) {
    const rule = CODE_BUILDS.get(code);
    if (rule === undefined) {
      problems.push({
        severity: 'warning',
        ...where,
        message: `unknown code size: ${e.executable} is ${code} bytes, not a known edk2 build; template size (${vars} bytes) not checked against it`,
      });
    } else if (rule.vars !== vars) {
      error(
        `template size mismatch: ${e.executable} is a ${rule.build} build (${code} bytes) that needs a ${rule.vars}-byte varstore, but ${e.nvramTemplate} is ${vars} bytes`,
      );
    }
  }
  if (e.secureBoot && !e.requiresSmm && isX86(e.arch)) {
    error('Secure Boot on x86 needs SMM (requires-smm); without it the guest OS can undermine Secure Boot');
  }
  return { usable, problems, varsSize: code !== null ? vars : null };
}

/**
 * Templates that are not a known edk2 varstore size must at least agree across all entries
 * of the same executable (one CODE build maps one varstore size). Returns one `error` per
 * offending entry; `checked` pairs each entry with its template size.
 */
export function checkTemplateConsistency(checked: ReadonlyArray<{ entry: FirmwareEntry; varsSize: number | null }>): Map<FirmwareEntry, FirmwareProblem> {
  const byExe = new Map<string, { entry: FirmwareEntry; varsSize: number }[]>();
  for (const c of checked) {
    if (c.varsSize === null) continue;
    const list = byExe.get(c.entry.executable) ?? [];
    list.push({ entry: c.entry, varsSize: c.varsSize });
    byExe.set(c.entry.executable, list);
  }
  const out = new Map<FirmwareEntry, FirmwareProblem>();
  for (const [exe, list] of byExe) {
    const sizes = [...new Set(list.map((c) => c.varsSize))].sort((a, b) => a - b);
    if (sizes.length < 2) continue;
    for (const c of list) {
      if (KNOWN_VARS_SIZES.has(c.varsSize)) continue;
      out.set(c.entry, {
        severity: 'error',
        source: c.entry.source,
        arch: c.entry.arch,
        message: `template ${c.entry.nvramTemplate} is ${c.varsSize} bytes, not a known edk2 varstore size, and templates used with ${exe} differ in size (${sizes.join(', ')} bytes)`,
      });
    }
  }
  return out;
}
