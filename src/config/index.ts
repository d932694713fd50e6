/**
 * @module config
 * Load, validate and freeze the configuration. The INI file follows oslo.config habits
 * (`[DEFAULT]`, `--config-file PATH`, list and dict syntax). Every problem is collected and
 * reported at once; nothing else in the sidecar reads files for configuration or the
 * environment. Tests build configs with `testConfig()`.
 */
import { readFileSync } from 'node:fs';
import * as ini from 'ini';
import { OPTIONS, FIRMWARE_MAP_OPTIONS, type OptDef } from './schema';

export interface FirmwareMapSection {
  arch: string;
  loader: string;
  nvram_template: string;
  requires_smm: boolean;
  machines: string[];
  secure_loader: string;
  secure_nvram_template: string;
  secure_requires_smm: boolean;
  secure_machines: string[];
  secure_enrolled_keys: boolean;
  stateless_loader: string;
}

export interface Config {
  DEFAULT: { host: string; instance_name_template: string; debug: boolean };
  api: { host: string; port: number; auth_token: string };
  hypervisor: { backend: 'embedded' | 'libvirt' | 'nova'; state_dir: string; nova_power_state: 'recorded' | 'libvirt' };
  nvram: { nvram_dir: string; owner: string; group: string; mode: number };
  libvirt: {
    connection_uri: string;
    virt_type: 'kvm' | 'qemu';
    hw_machine_type: Record<string, string>;
    migration_uri: string;
    live_migration_inbound_addr: string;
    wait_soft_reboot_seconds: number;
    virsh_path: string;
    serial_socket_dir: string;
  };
  firmware: { descriptor_dirs: string[]; secure_boot: boolean };
  firmwareMap: Record<string, FirmwareMapSection>;
  peer: { url_template: string; hosts: Record<string, string>; shared_secret: string; timeout: number; max_clock_skew: number };
  debug: { crash_points: string[] };
  /** Where the values came from (file path or 'defaults'). */
  source: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

type Raw = Record<string, unknown>;

function convert(def: OptDef, raw: unknown, problems: string[]): unknown {
  const where = `[${def.section}] ${def.key}`;
  if (raw === undefined) return def.default;
  const s: unknown = typeof raw === 'string' ? raw.trim() : raw;
  switch (def.type) {
    case 'string': {
      const v = String(s);
      if (def.choices && !def.choices.includes(v)) {
        problems.push(`${where}: '${v}' is not one of ${def.choices.join(', ')}`);
        return def.default;
      }
      return v;
    }
    case 'int': {
      const n = typeof s === 'number' ? s : Number(s);
      if (!Number.isInteger(n) || (def.min !== undefined && n < def.min) || (def.max !== undefined && n > def.max)) {
        problems.push(`${where}: '${String(s)}' is not an integer in [${def.min ?? '-inf'}, ${def.max ?? 'inf'}]`);
        return def.default;
      }
      return n;
    }
    case 'octal': {
      const v = String(s);
      if (!/^0?[0-7]{3,4}$/.test(v)) {
        problems.push(`${where}: '${v}' is not an octal file mode such as 0600`);
        return def.default;
      }
      return parseInt(v, 8);
    }
    case 'bool': {
      if (typeof s === 'boolean') return s;
      const v = String(s).toLowerCase();
      if (['true', 'yes', 'on', '1'].includes(v)) return true;
      if (['false', 'no', 'off', '0'].includes(v)) return false;
      problems.push(`${where}: '${String(s)}' is not a boolean`);
      return def.default;
    }
    case 'list':
      return String(s)
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x.length > 0);
    case 'dict': {
      const out: Record<string, string> = {};
      for (const part of String(s)
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean)) {
        const eq = part.indexOf('=');
        if (eq <= 0) {
          problems.push(`${where}: '${part}' is not a key=value pair`);
          continue;
        }
        out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
      }
      return out;
    }
  }
}

function sectionOf(raw: Raw, name: string): Raw {
  if (name === 'DEFAULT') {
    // Keys before the first section header land at the top level with `ini`.
    const top: Raw = {};
    for (const [k, v] of Object.entries(raw)) if (typeof v !== 'object') top[k] = v;
    return { ...top, ...((raw.DEFAULT as Raw | undefined) ?? {}) };
  }
  const v = raw[name];
  return v && typeof v === 'object' ? (v as Raw) : {};
}

const ARCH_RE = /^[a-z0-9_]+$/;

/** Build a frozen Config from parsed INI data (`ini.parse` output). */
export function buildConfig(raw: Raw, source: string): Config {
  const problems: string[] = [];
  const out: Record<string, Record<string, unknown>> = {};
  const known = new Map<string, Set<string>>();
  for (const def of OPTIONS) {
    const sec = sectionOf(raw, def.section);
    (out[def.section] ??= {})[def.key] = convert(def, sec[def.key], problems);
    if (!known.has(def.section)) known.set(def.section, new Set());
    known.get(def.section)!.add(def.key);
  }
  const firmwareMap: Record<string, FirmwareMapSection> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (typeof value !== 'object' || value === null) {
      if (!known.get('DEFAULT')!.has(name)) problems.push(`[DEFAULT] ${name}: unknown option`);
      continue;
    }
    if (name.startsWith('firmware:')) {
      const arch = name.slice('firmware:'.length);
      if (!ARCH_RE.test(arch)) {
        problems.push(`[${name}]: '${arch}' is not an architecture name`);
        continue;
      }
      const sec: Record<string, unknown> = { arch };
      const keys = new Set(FIRMWARE_MAP_OPTIONS.map((d) => d.key));
      for (const k of Object.keys(value)) if (!keys.has(k)) problems.push(`[${name}] ${k}: unknown option`);
      for (const def of FIRMWARE_MAP_OPTIONS) {
        sec[def.key] = convert({ ...def, section: name }, (value as Raw)[def.key], problems);
      }
      firmwareMap[arch] = sec as unknown as FirmwareMapSection;
      continue;
    }
    const keys = known.get(name);
    if (!keys) {
      problems.push(`[${name}]: unknown section`);
      continue;
    }
    for (const k of Object.keys(value)) if (!keys.has(k)) problems.push(`[${name}] ${k}: unknown option`);
  }
  if (problems.length) throw new ConfigError(problems);
  const cfg = { ...(out as unknown as Omit<Config, 'firmwareMap' | 'source'>), firmwareMap, source };
  return deepFreeze(cfg);
}

/** Read and validate an INI file. */
export function loadConfigFile(file: string): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError([`--config-file ${file}: ${(e as Error).message}`]);
  }
  return buildConfig(ini.parse(text), file);
}

/** Defaults, optionally overridden section by section (tests and embedded runs). */
export function testConfig(overrides: Partial<Record<string, Record<string, unknown>>> = {}): Config {
  const raw: Raw = {};
  for (const [sec, vals] of Object.entries(overrides)) {
    const conv: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(vals ?? {})) {
      if (Array.isArray(v)) conv[k] = v.join(',');
      else if (v && typeof v === 'object')
        conv[k] = Object.entries(v as Record<string, string>)
          .map(([a, b]) => `${a}=${b}`)
          .join(',');
      else if (typeof v === 'number' && sec === 'nvram' && k === 'mode') conv[k] = v.toString(8).padStart(4, '0');
      else conv[k] = v;
    }
    raw[sec] = conv;
  }
  return buildConfig(raw, 'test');
}

export function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as Record<string, unknown>)) deepFreeze(v);
  }
  return o;
}

export { OPTIONS, FIRMWARE_MAP_OPTIONS };
