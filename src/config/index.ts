/**
 * @module config
 * Load, validate and freeze the configuration. The INI file follows oslo.config habits
 * (`[DEFAULT]`, `--config-file PATH`, list and dict syntax). Every problem is collected and
 * reported at once; nothing else in the sidecar reads files for configuration or the
 * environment. Tests build configs with `testConfig()`.
 */
import { readFileSync } from 'node:fs';
import * as ini from 'ini';
import { OPTIONS, FIRMWARE_MAP_OPTIONS, SECURE_BOOT_KEYSET_OPTIONS, type OptDef, type SectionOf, type SectionsOf } from './schema';
import { secretProblems } from './keyFiles';

/**
 * The configuration's type is inferred from the option table (`./schema`): an option added
 * there is a field here, with the type its `type` and `choices` give, and nothing else
 * declares it a second time.
 */
/** The main sections (`[DEFAULT]`, `[api]`, ...), each with its options. */
export type Sections = SectionsOf<typeof OPTIONS>;
/** One entry of the main option table. */
export type Option = (typeof OPTIONS)[number];

/** One `[firmware:<arch>]` section (the operator's firmware map). */
export type FirmwareMapSection = { arch: string } & SectionOf<typeof FIRMWARE_MAP_OPTIONS>;

/** One `[secure_boot_keyset:<name>]` section as written (file names and hashes; firmware/keysets reads the files). */
export type KeysetSection = { name: string } & SectionOf<typeof SECURE_BOOT_KEYSET_OPTIONS>;

export type Config = Sections & {
  firmwareMap: Record<string, FirmwareMapSection>;
  /** `[secure_boot_keyset:<name>]` sections by name. */
  secureBootKeysets: Record<string, KeysetSection>;
  /** Where the values came from (file path or 'defaults'). */
  source: string;
};

export type ReplicaConfig = Sections['replica'];

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

/**
 * Values for every option of a table, section by section, as `pick` gives them. The one place
 * where a value of the table's type is made from `unknown`s: `pick` answers for exactly the
 * table's (section, key) pairs, which is what `SectionsOf` declares.
 */
export function sectionsFrom<Defs extends readonly OptDef[]>(defs: Defs, pick: (def: Defs[number]) => unknown): SectionsOf<Defs> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const def of defs) (out[def.section] ??= {})[def.key] = pick(def);
  return out as SectionsOf<Defs>;
}

/** One option's value in a built configuration. */
export function optionValue(c: Sections, def: Option): unknown {
  const section: Record<string, unknown> = c[def.section];
  return section[def.key];
}

/** Convert one prefixed section (`[firmware:x86_64]`) with its option table; unknown keys are problems. */
function prefixedSection<Defs extends readonly OptDef[]>(name: string, value: Raw, defs: Defs, problems: string[]): SectionOf<Defs> {
  const keys = new Set(defs.map((d) => d.key));
  for (const k of Object.keys(value)) if (!keys.has(k)) problems.push(`[${name}] ${k}: unknown option`);
  const sections = sectionsFrom(defs, (def) => convert({ ...def, section: name }, value[def.key], problems));
  return sections[defs[0].section as Defs[number]['section']];
}

/** Build a frozen Config from parsed INI data (`ini.parse` output). */
export function buildConfig(raw: Raw, source: string): Config {
  const problems: string[] = [];
  const out = sectionsFrom(OPTIONS, (def) => convert(def, sectionOf(raw, def.section)[def.key], problems));
  const known = new Map<string, Set<string>>();
  for (const def of OPTIONS) {
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
      firmwareMap[arch] = { arch, ...prefixedSection(name, value as Raw, FIRMWARE_MAP_OPTIONS, problems) };
      continue;
    }
    if (name.startsWith('secure_boot_keyset:')) {
      const ks = name.slice('secure_boot_keyset:'.length);
      if (!KEYSET_NAME_RE.test(ks)) {
        problems.push(`[${name}]: '${ks}' is not a key set name (letters, digits, '_', '.', '-'; at most 64)`);
        continue;
      }
      const sec = prefixedSection(name, value as Raw, SECURE_BOOT_KEYSET_OPTIONS, problems);
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
  problems.push(...replicaProblems(out.replica));
  problems.push(...secretProblems(out));
  if (problems.length) throw new ConfigError(problems);
  const cfg: Config = { ...out, firmwareMap, secureBootKeysets, source };
  return deepFreeze(cfg);
}

/** Rules between options (each option alone is valid by then). */
function crossChecks(c: Sections): string[] {
  const problems: string[] = [];
  if (Boolean(c.api.tls_cert_file) !== Boolean(c.api.tls_key_file)) problems.push('[api] tls_cert_file and tls_key_file must be set together');
  for (const [name, url] of Object.entries(c.peer.hosts)) {
    if (!/^https?:\/\/[^/]/.test(url)) problems.push(`[peer] hosts: '${name}=${url}' is not an http:// or https:// URL`);
  }
  const tpl = c.peer.url_template;
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
export { keyFileProblems, keyFilesOf, MIN_SECRET_BYTES } from './keyFiles';
