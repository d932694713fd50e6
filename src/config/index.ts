/**
 * @module config
 * Load, validate and freeze the configuration. The INI file follows oslo.config habits
 * (`[DEFAULT]`, `--config-file PATH`, list and dict syntax). Every problem is collected and
 * reported at once; nothing else in the sidecar reads files for configuration or the
 * environment. Tests build configs with `testConfig()`.
 */
import { readFileSync } from 'node:fs';
import * as ini from 'ini';
import { OPTIONS, FIRMWARE_MAP_OPTIONS, SECURE_BOOT_KEYSET_OPTIONS, type OptDef } from './schema';

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

/** One `[secure_boot_keyset:<name>]` section as written (file names and hashes; firmware/keysets reads the files). */
export interface KeysetSection {
  name: string;
  pk: string;
  kek: string[];
  db: string[];
  dbx: string[];
  owner_guid: string;
  allow_expired: boolean;
}

export interface Config {
  DEFAULT: { host: string; instance_name_template: string; debug: boolean };
  api: {
    host: string;
    port: number;
    auth_token: string;
    metrics_enabled: boolean;
    metrics_open: boolean;
    tls_cert_file: string;
    tls_key_file: string;
    shutdown_timeout: number;
  };
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
  /** `[secure_boot_keyset:<name>]` sections by name. */
  secureBootKeysets: Record<string, KeysetSection>;
  peer: { url_template: string; hosts: Record<string, string>; shared_secret: string; ca_file: string; timeout: number; max_clock_skew: number };
  replica: ReplicaConfig;
  debug: { crash_points: string[]; host_arch: string };
  /** Where the values came from (file path or 'defaults'). */
  source: string;
}

export interface ReplicaConfig {
  backend: 'none' | 's3' | 'directory';
  encryption_key_file: string;
  old_key_files: string[];
  interval: number;
  keep: number;
  concurrency: number;
  retry_interval: number;
  timeout: number;
  prefix: string;
  endpoint: string;
  bucket: string;
  region: string;
  access_key: string;
  secret_key: string;
  secret_key_file: string;
  force_path_style: boolean;
  path: string;
}

/** The options a replica backend needs together (one problem per missing option). */
function replicaProblems(r: ReplicaConfig): string[] {
  if (r.backend === 'none') return [];
  const out: string[] = [];
  const need = (key: keyof ReplicaConfig, why: string) => {
    if (!r[key]) out.push(`[replica] ${key}: required with backend = ${r.backend} (${why})`);
  };
  need('encryption_key_file', 'replicas are encrypted on this host');
  if (r.backend === 's3') {
    need('endpoint', 'the S3 endpoint URL');
    need('bucket', 'the bucket replicas go to');
    need('access_key', 'the S3 access key');
    if (!r.secret_key && !r.secret_key_file) out.push('[replica] secret_key_file (or secret_key): required with backend = s3');
    if (r.endpoint && !/^https?:\/\/[^/]+/.test(r.endpoint)) out.push(`[replica] endpoint: '${r.endpoint}' is not an http(s) URL`);
  }
  if (r.backend === 'directory') need('path', 'the shared directory');
  if (r.prefix && !/^[A-Za-z0-9._/-]*$/.test(r.prefix)) out.push(`[replica] prefix: '${r.prefix}' may hold only letters, digits and . _ / -`);
  return out;
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
/** Key set names: what flavors, images and API bodies name. */
export const KEYSET_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const GUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** Convert one prefixed section (`[firmware:x86_64]`) with its option table; unknown keys are problems. */
function prefixedSection(name: string, value: Raw, defs: readonly OptDef[], problems: string[]): Record<string, unknown> {
  const sec: Record<string, unknown> = {};
  const keys = new Set(defs.map((d) => d.key));
  for (const k of Object.keys(value)) if (!keys.has(k)) problems.push(`[${name}] ${k}: unknown option`);
  for (const def of defs) sec[def.key] = convert({ ...def, section: name }, value[def.key], problems);
  return sec;
}

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
  const secureBootKeysets: Record<string, KeysetSection> = {};
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
      firmwareMap[arch] = { arch, ...prefixedSection(name, value as Raw, FIRMWARE_MAP_OPTIONS, problems) } as unknown as FirmwareMapSection;
      continue;
    }
    if (name.startsWith('secure_boot_keyset:')) {
      const ks = name.slice('secure_boot_keyset:'.length);
      if (!KEYSET_NAME_RE.test(ks)) {
        problems.push(`[${name}]: '${ks}' is not a key set name (letters, digits, '_', '.', '-'; at most 64)`);
        continue;
      }
      const sec = prefixedSection(name, value as Raw, SECURE_BOOT_KEYSET_OPTIONS, problems) as unknown as Omit<KeysetSection, 'name'>;
      if (!sec.owner_guid) problems.push(`[${name}] owner_guid: required (the SignatureOwner GUID of the key set's entries)`);
      else if (!GUID_RE.test(sec.owner_guid)) problems.push(`[${name}] owner_guid: '${sec.owner_guid}' is not a GUID`);
      if (!sec.pk && !sec.kek.length && !sec.db.length && !sec.dbx.length) problems.push(`[${name}]: holds no keys (set pk, kek, db or dbx)`);
      secureBootKeysets[ks] = { name: ks, ...sec, owner_guid: sec.owner_guid.toLowerCase() };
      continue;
    }
    const keys = known.get(name);
    if (!keys) {
      problems.push(`[${name}]: unknown section`);
      continue;
    }
    for (const k of Object.keys(value)) if (!keys.has(k)) problems.push(`[${name}] ${k}: unknown option`);
  }
  problems.push(...crossChecks(out));
  problems.push(...replicaProblems(out.replica as unknown as ReplicaConfig));
  if (problems.length) throw new ConfigError(problems);
  const cfg = { ...(out as unknown as Omit<Config, 'firmwareMap' | 'secureBootKeysets' | 'source'>), firmwareMap, secureBootKeysets, source };
  return deepFreeze(cfg);
}

/** Rules between options (each option alone is valid by then). */
function crossChecks(c: Record<string, Record<string, unknown>>): string[] {
  const problems: string[] = [];
  if (Boolean(c.api.tls_cert_file) !== Boolean(c.api.tls_key_file)) problems.push('[api] tls_cert_file and tls_key_file must be set together');
  for (const [name, url] of Object.entries(c.peer.hosts as Record<string, string>)) {
    if (!/^https?:\/\/[^/]/.test(url)) problems.push(`[peer] hosts: '${name}=${url}' is not an http:// or https:// URL`);
  }
  const tpl = String(c.peer.url_template);
  if (tpl && !/^https?:\/\/[^/]/.test(tpl)) problems.push(`[peer] url_template: '${tpl}' is not an http:// or https:// URL`);
  return problems;
}

/** Read and validate an INI file. */
/** Where a packaged install keeps the configuration (the systemd unit passes it; the CLI looks there when not told). */
export const DEFAULT_CONFIG_FILE = '/etc/nova-uefi-shim/nova-uefi-shim.conf';

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
/** Sections given as values (lists, maps, numbers) in the text form a config file holds. */
export function rawSections(overrides: Partial<Record<string, Record<string, unknown>>> = {}): Record<string, Record<string, unknown>> {
  const raw: Record<string, Record<string, unknown>> = {};
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
  return raw;
}

export function testConfig(overrides: Partial<Record<string, Record<string, unknown>>> = {}): Config {
  return buildConfig(rawSections(overrides), 'test');
}

export function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as Record<string, unknown>)) deepFreeze(v);
  }
  return o;
}

export { OPTIONS, FIRMWARE_MAP_OPTIONS, SECURE_BOOT_KEYSET_OPTIONS };
