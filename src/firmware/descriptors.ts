/**
 * @module firmware/descriptors
 * QEMU firmware descriptors, read as QEMU `docs/interop/firmware.json` specifies:
 * - one list over all directories (least specific first), sorted by **base name** only;
 * - a same-named file in a later (more specific) directory shadows the earlier one;
 * - a zero-length file masks the less specific file of that name;
 * - only `*.json` files.
 * Only `interface-types` containing `uefi` with `mapping.device == 'flash'` become entries;
 * `mode` absent means `split`, `stateless` gives a template-less entry, `combined` and any
 * non-`raw` `format` are skipped with a warning (libvirt 9.0 rejects non-raw flash, and a
 * combined image cannot be paired with a template). Unparseable files are skipped with a
 * warning. One entry per `targets[]` architecture. File existence and sizes are checked in
 * `entryChecks.ts`, not here.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FirmwareEntry, FirmwareProblem } from './types';

interface RawFile {
  filename?: unknown;
  format?: unknown;
}
interface RawDescriptor {
  'interface-types'?: unknown;
  mapping?: { device?: unknown; mode?: unknown; executable?: RawFile; 'nvram-template'?: RawFile };
  targets?: unknown;
  features?: unknown;
}

/** The ordered descriptor files after shadowing and masking. Missing directories are skipped. */
export function listDescriptors(dirs: readonly string[], problems: FirmwareProblem[]): { name: string; file: string }[] {
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
      continue; // dangling symlink: nothing to read, nothing to mask
    }
    if (st.size === 0) {
      problems.push({ severity: 'warning', source: `descriptor:${file}`, message: `empty file masks ${name} in less specific directories` });
      continue;
    }
    out.push({ name, file });
  }
  return out;
}

/** Entries of one descriptor file (one per target architecture), or none with a problem explaining why. */
export function descriptorEntries(name: string, file: string, rank: number, problems: FirmwareProblem[]): FirmwareEntry[] {
  const source = `descriptor:${file}`;
  const skip = (message: string): FirmwareEntry[] => {
    problems.push({ severity: 'warning', source, message: `skipped: ${message}` });
    return [];
  };
  let d: RawDescriptor;
  try {
    d = JSON.parse(fs.readFileSync(file, 'utf8')) as RawDescriptor;
  } catch (e) {
    return skip(`not valid JSON (${(e as Error).message})`);
  }
  if (d === null || typeof d !== 'object') return skip('not a JSON object');
  // BIOS/openfirmware/uboot descriptors are normal on a host; skipping them is not a problem.
  if (!Array.isArray(d['interface-types']) || !d['interface-types'].includes('uefi')) return [];
  const m = d.mapping ?? {};
  if (m.device !== 'flash') return skip(`mapping device '${String(m.device)}' is not flash`);
  const mode = m.mode ?? 'split';
  if (mode !== 'split' && mode !== 'stateless') return skip(`flash mode '${String(mode)}' is not supported`);
  const template = mode === 'split' ? m['nvram-template'] : undefined;
  for (const [what, f] of [
    ['executable', m.executable],
    ['nvram-template', template],
  ] as const) {
    if (f && f.format !== undefined && f.format !== 'raw') return skip(`${what} format '${String(f.format)}' (libvirt 9.0 maps raw flash only)`);
  }
  const exe = m.executable?.filename;
  const tpl = template?.filename;
  if (typeof exe !== 'string' || (mode === 'split' && typeof tpl !== 'string')) return skip('missing executable or nvram-template filename');
  const features = Array.isArray(d.features) ? d.features.map(String) : [];
  const targets = Array.isArray(d.targets) ? (d.targets as { architecture?: unknown; machines?: unknown }[]) : [];
  const out: FirmwareEntry[] = [];
  for (const t of targets) {
    if (!t || typeof t.architecture !== 'string') continue;
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
  if (out.length === 0) return skip('no targets with an architecture');
  return out;
}
