/**
 * @module firmware/operatorMap
 * Entries from the operator's `[firmware:<arch>]` sections (config `firmwareMap`). Each section
 * yields up to three entries: plain (`loader` + `nvram_template`), secure (`secure_loader` +
 * `secure_nvram_template`) and stateless (`stateless_loader`, no template). Pure: file checks
 * happen in `entryChecks.ts`. Map entries rank before every QEMU descriptor (see `discover.ts`).
 */
import type { FirmwareMapSection } from '../config';
import type { FirmwareEntry, FirmwareProblem } from './types';
import { isX86 } from './machine';

/** Default machine globs for map entries; the secure variant is q35-only on x86 (Nova's q35 rule). */
export function defaultMachines(arch: string, secure: boolean): string[] {
  if (isX86(arch)) return secure ? ['pc-q35-*'] : ['pc-q35-*', 'pc-i440fx-*'];
  if (arch === 'aarch64' || arch === 'armv7l') return ['virt-*'];
  return ['*'];
}

/**
 * Entries of the map in section order (architectures sorted, then plain, secure, stateless),
 * with ranks starting at `firstRank`. Incomplete sections add `error` problems for their arch:
 * a half-set pair, or a section that has neither `loader` + `nvram_template` nor a
 * `stateless_loader`. What is complete is still served.
 */
export function operatorMapEntries(map: Record<string, FirmwareMapSection>, problems: FirmwareProblem[], firstRank = 0): FirmwareEntry[] {
  const out: FirmwareEntry[] = [];
  let rank = firstRank;
  for (const arch of Object.keys(map).sort()) {
    const s = map[arch];
    const src = `config:[firmware:${arch}]`;
    const machines = s.machines.length ? [...s.machines] : defaultMachines(arch, false);
    const base = { name: src, arch, enrolledKeys: false };

    if (Boolean(s.loader) !== Boolean(s.nvram_template)) {
      problems.push({ severity: 'error', source: src, arch, message: 'loader and nvram_template must be set together' });
    } else if (!s.loader && !s.stateless_loader) {
      problems.push({ severity: 'error', source: src, arch, message: 'loader and nvram_template are not set (and there is no stateless_loader)' });
    } else if (s.loader) {
      out.push({
        ...base,
        source: src,
        machines,
        executable: s.loader,
        nvramTemplate: s.nvram_template,
        secureBoot: false,
        requiresSmm: s.requires_smm,
        stateless: false,
        rank: rank++,
      });
    }

    if (s.secure_loader || s.secure_nvram_template) {
      if (!s.secure_loader || !s.secure_nvram_template) {
        problems.push({ severity: 'error', source: `${src} secure`, arch, message: 'secure_loader and secure_nvram_template must be set together' });
      } else {
        out.push({
          ...base,
          source: `${src} secure`,
          machines: s.secure_machines.length ? [...s.secure_machines] : defaultMachines(arch, true),
          executable: s.secure_loader,
          nvramTemplate: s.secure_nvram_template,
          secureBoot: true,
          requiresSmm: s.secure_requires_smm,
          enrolledKeys: s.secure_enrolled_keys,
          stateless: false,
          rank: rank++,
        });
      }
    }

    if (s.stateless_loader) {
      out.push({
        ...base,
        source: `${src} stateless`,
        machines,
        executable: s.stateless_loader,
        nvramTemplate: null,
        secureBoot: false,
        requiresSmm: s.requires_smm,
        stateless: true,
        rank: rank++,
      });
    }
  }
  return out;
}
