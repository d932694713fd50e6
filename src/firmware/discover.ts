/**
 * @module firmware/discover
 * Detect this host's UEFI firmware once: the operator's `[firmware:<arch>]` map, then the
 * QEMU firmware descriptors. This is the only firmware module that touches the filesystem;
 * selection (`select.ts`) is pure over the inventory built here.
 *
 * Precedence (documented in the README): every operator-map entry ranks before every
 * descriptor. Descriptors follow QEMU `docs/interop/firmware.json`: one list across all
 * directories sorted by base name; a same-named file in a later (more specific) directory
 * shadows an earlier one; an empty file masks; only `uefi` interfaces mapped as `flash`.
 * Not in the spec but needed in practice: entries whose files are missing are skipped with a
 * warning (Debian 12's `50-edk2-aarch64-secure.json` names an absent AAVMF_CODE.secboot.fd).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FirmwareMapSection } from '../config';
import type { FirmwareEntry, FirmwareInventory, FirmwareProblem } from './types';

export interface DiscoverOptions {
  firmwareMap: Record<string, FirmwareMapSection>;
  descriptorDirs: string[];
  /** File size or null when absent/unreadable (tests inject). */
  statFile?: (p: string) => number | null;
}

/** Default machine globs per architecture for map entries (secure variants are q35-only on x86). */
export function defaultMachines(arch: string, secure: boolean): string[] {
  if (arch === 'x86_64' || arch === 'i686') return secure ? ['pc-q35-*'] : ['pc-q35-*', 'pc-i440fx-*'];
  if (arch === 'aarch64' || arch === 'armv7l') return ['virt-*'];
  return ['*'];
}

const MIB = 1024 * 1024;
/**
 * Known edk2 builds: code size → the only varstore size it can map. 2M and 4M OVMF builds
 * are not interchangeable; ArmVirtQemu pads both banks to 64 MiB.
 */
export const CODE_BUILDS: ReadonlyArray<{ code: number; vars: number; build: string }> = [
  { code: 1_966_080, vars: 131_072, build: 'OVMF 2M' },
  { code: 3_653_632, vars: 540_672, build: 'OVMF 4M' },
  { code: 64 * MIB, vars: 64 * MIB, build: 'AAVMF 64M' },
];
export const KNOWN_VARS_SIZES = new Set(CODE_BUILDS.map((b) => b.vars));

function defaultStat(p: string): number | null {
  try {
    fs.accessSync(p, fs.constants.R_OK);
    const st = fs.statSync(p);
    return st.isFile() ? st.size : null;
  } catch {
    return null;
  }
}

interface Raw {
  'interface-types'?: unknown;
  mapping?: { device?: unknown; mode?: unknown; executable?: { filename?: unknown; format?: unknown }; 'nvram-template'?: { filename?: unknown; format?: unknown } };
  targets?: { architecture?: unknown; machines?: unknown }[];
  features?: unknown;
}

/** The ordered descriptor files after shadowing and masking. */
export function listDescriptors(dirs: string[], problems: FirmwareProblem[]): { name: string; file: string }[] {
  const byName = new Map<string, string>();
  for (const dir of dirs) {
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      continue;
    }
    for (const n of names) if (n.endsWith('.json')) byName.set(n, path.join(dir, n)); // later dirs shadow
  }
  const out: { name: string; file: string }[] = [];
  for (const name of [...byName.keys()].sort()) {
    const file = byName.get(name)!;
    let st: fs.Stats;
    try {
      st = fs.statSync(file);
    } catch {
      continue;
    }
    if (st.size === 0) {
      problems.push({ severity: 'warning', source: `descriptor:${file}`, message: `empty file masks ${name} in less specific directories` });
      continue;
    }
    out.push({ name, file });
  }
  return out;
}

function parseDescriptor(name: string, file: string, rank: number, problems: FirmwareProblem[]): FirmwareEntry[] {
  const source = `descriptor:${file}`;
  let d: Raw;
  try {
    d = JSON.parse(fs.readFileSync(file, 'utf8')) as Raw;
  } catch (e) {
    problems.push({ severity: 'warning', source, message: `skipped: not valid JSON (${(e as Error).message})` });
    return [];
  }
  const ifaces = Array.isArray(d['interface-types']) ? d['interface-types'] : [];
  if (!ifaces.includes('uefi')) return [];
  const m = d.mapping ?? {};
  if (m.device !== 'flash') {
    problems.push({ severity: 'warning', source, message: `skipped: mapping device '${String(m.device)}' is not flash` });
    return [];
  }
  const mode = m.mode ?? 'split';
  if (mode === 'combined' || (mode !== 'split' && mode !== 'stateless')) {
    problems.push({ severity: 'warning', source, message: `skipped: flash mode '${String(mode)}' is not supported` });
    return [];
  }
  const exe = m.executable?.filename;
  const tpl = mode === 'split' ? m['nvram-template']?.filename : undefined;
  for (const [what, f] of [['executable', m.executable], ['nvram-template', mode === 'split' ? m['nvram-template'] : undefined]] as const) {
    if (f && f.format !== undefined && f.format !== 'raw') {
      problems.push({ severity: 'warning', source, message: `skipped: ${what} format '${String(f.format)}' (libvirt 9.0 maps raw flash only)` });
      return [];
    }
  }
  if (typeof exe !== 'string' || (mode === 'split' && typeof tpl !== 'string')) {
    problems.push({ severity: 'warning', source, message: 'skipped: missing executable or nvram-template filename' });
    return [];
  }
  const features = Array.isArray(d.features) ? (d.features as unknown[]).map(String) : [];
  const out: FirmwareEntry[] = [];
  for (const t of d.targets ?? []) {
    if (typeof t.architecture !== 'string') continue;
    out.push({
      source,
      name,
      arch: t.architecture,
      machines: Array.isArray(t.machines) ? t.machines.map(String) : [],
      executable: exe,
      nvramTemplate: mode === 'split' ? (tpl as string) : null,
      secureBoot: features.includes('secure-boot'),
      requiresSmm: features.includes('requires-smm'),
      enrolledKeys: features.includes('enrolled-keys'),
      stateless: mode === 'stateless',
      rank,
    });
  }
  return out;
}

function mapEntries(map: Record<string, FirmwareMapSection>, problems: FirmwareProblem[]): FirmwareEntry[] {
  const out: FirmwareEntry[] = [];
  let rank = 0;
  for (const arch of Object.keys(map).sort()) {
    const s = map[arch];
    const src = `config:[firmware:${arch}]`;
    if (!s.loader && !s.secure_loader && !s.stateless_loader) {
      problems.push({ severity: 'error', source: src, arch, message: 'no loader, secure_loader or stateless_loader set' });
      continue;
    }
    if (s.loader || s.nvram_template) {
      if (!s.loader || !s.nvram_template) {
        problems.push({ severity: 'error', source: src, arch, message: 'loader and nvram_template must be set together' });
      } else {
        out.push({ source: src, name: src, arch, machines: s.machines.length ? [...s.machines] : defaultMachines(arch, false), executable: s.loader, nvramTemplate: s.nvram_template, secureBoot: false, requiresSmm: s.requires_smm, enrolledKeys: false, stateless: false, rank: rank++ });
      }
    }
    if (s.secure_loader || s.secure_nvram_template) {
      if (!s.secure_loader || !s.secure_nvram_template) {
        problems.push({ severity: 'error', source: `${src} secure`, arch, message: 'secure_loader and secure_nvram_template must be set together' });
      } else {
        out.push({ source: `${src} secure`, name: src, arch, machines: s.secure_machines.length ? [...s.secure_machines] : defaultMachines(arch, true), executable: s.secure_loader, nvramTemplate: s.secure_nvram_template, secureBoot: true, requiresSmm: s.secure_requires_smm, enrolledKeys: s.secure_enrolled_keys, stateless: false, rank: rank++ });
      }
    }
    if (s.stateless_loader) {
      out.push({ source: `${src} stateless`, name: src, arch, machines: s.machines.length ? [...s.machines] : defaultMachines(arch, false), executable: s.stateless_loader, nvramTemplate: null, secureBoot: false, requiresSmm: s.requires_smm, enrolledKeys: false, stateless: true, rank: rank++ });
    }
  }
  return out;
}

/** Check one entry's files; returns problems (errors make the entry unusable). */
export function validateEntry(e: FirmwareEntry, size: (p: string) => number | null): FirmwareProblem[] {
  const out: FirmwareProblem[] = [];
  const isDescriptor = e.source.startsWith('descriptor:');
  const code = size(e.executable);
  const miss = (f: string) => ({ severity: isDescriptor ? ('warning' as const) : ('error' as const), source: e.source, arch: e.arch, message: `skipped: ${f} does not exist or is not readable` });
  if (code === null) out.push(miss(e.executable));
  const vars = e.nvramTemplate ? size(e.nvramTemplate) : null;
  if (e.nvramTemplate && vars === null) out.push(miss(e.nvramTemplate));
  if (code !== null && vars !== null) {
    const build = CODE_BUILDS.find((b) => b.code === code);
    if (build && build.vars !== vars) {
      out.push({ severity: 'error', source: e.source, arch: e.arch, message: `template size mismatch: ${e.executable} is a ${build.build} build (${code} bytes) that needs a ${build.vars}-byte varstore, but ${e.nvramTemplate} is ${vars} bytes` });
    } else if (!build && !KNOWN_VARS_SIZES.has(vars)) {
      out.push({ severity: 'warning', source: e.source, arch: e.arch, message: `unknown code build (${code} bytes) and varstore size (${vars} bytes): size pairing not checked` });
    }
  }
  if (e.secureBoot && !e.requiresSmm && (e.arch === 'x86_64' || e.arch === 'i686')) {
    out.push({ severity: 'error', source: e.source, arch: e.arch, message: 'Secure Boot on x86 needs SMM (requires-smm); without it the guest OS can undermine Secure Boot' });
  }
  return out;
}

export function discoverFirmware(opts: DiscoverOptions): FirmwareInventory {
  const problems: FirmwareProblem[] = [];
  const sizes: Record<string, number> = {};
  const stat = opts.statFile ?? defaultStat;
  const size = (p: string) => {
    const s = stat(p);
    if (s !== null) sizes[p] = s;
    return s;
  };
  const candidates = mapEntries(opts.firmwareMap, problems);
  const base = candidates.length;
  listDescriptors(opts.descriptorDirs, problems).forEach((d, i) => candidates.push(...parseDescriptor(d.name, d.file, base + 1000 + i, problems)));
  const entries: FirmwareEntry[] = [];
  for (const e of candidates) {
    const ps = validateEntry(e, size);
    problems.push(...ps);
    if (!ps.some((p) => p.severity === 'error' || p.message.startsWith('skipped'))) entries.push(e);
  }
  entries.sort((a, b) => a.rank - b.rank);
  return { entries, problems, sizes };
}
