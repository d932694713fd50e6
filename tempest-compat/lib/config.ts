/**
 * @module tempest-compat/lib/config
 * `tempest.conf`-style configuration (INI), read once and frozen. The only source of skips:
 * `[compute-feature-enabled]` flags and `[compute] min_compute_nodes`. Defaults follow tempest
 * and whitebox (`uefi_boot` True, `uefi_secure_boot` False, `resize` False, ...), except the
 * migration flags, which this suite defaults to False until the sidecar implements them.
 */
import * as fs from 'node:fs';
import * as ini from 'ini';

export interface FlavorRef {
  name: string;
  vcpus: number;
  memory_mb: number;
  root_gb: number;
  extra_specs: Record<string, string>;
}

export type ImageProps = Record<string, string>;

/** Feature flags of `[compute-feature-enabled]` this suite reads. */
export const FEATURE_DEFAULTS = {
  uefi_boot: true,
  uefi_secure_boot: false,
  resize: false,
  cold_migration: false,
  live_migration: false,
  stateless_firmware: false,
  rescue: true,
  bochs_display_support: false,
  /** This suite's own: tests may restart a managed sidecar with changed firmware config or remove firmware files. */
  firmware_reconfiguration: false,
} as const;
export type Feature = keyof typeof FEATURE_DEFAULTS;

export interface TempestConfig {
  source: string;
  compute: {
    build_interval: number;
    build_timeout: number;
    min_compute_nodes: number;
    flavor_ref: FlavorRef;
    flavor_ref_alt: FlavorRef;
    migration_source_host: string;
    migration_dest_host: string;
  };
  features: Record<Feature, boolean>;
  uefi: {
    /** compute host name -> sidecar base URL, in configuration order (first is the default build host). */
    hosts: Array<{ name: string; url: string }>;
    auth_token: string;
    shared_secret: string;
    arch: string;
    image_properties: ImageProps;
    secure_boot_image_properties: ImageProps;
    bios_image_properties: ImageProps;
    aarch64_image_properties: ImageProps;
    stateless_image_properties: ImageProps;
    expected_machine: string;
    expected_loader: string;
    expected_nvram_template: string;
    expected_secure_loader: string;
    expected_secure_nvram_template: string;
    /** Prefix under which the runner can read the hosts' firmware files ('' = same filesystem). */
    firmware_root: string;
    /** Seconds passed as power_off timeout (Nova's [DEFAULT] shutdown_timeout). */
    shutdown_timeout: number;
    /** Per-test timeout in seconds (OS_TEST_TIMEOUT). */
    test_timeout: number;
  };
}

type RawIni = Record<string, unknown>;

function section(raw: RawIni, name: string): Record<string, unknown> {
  const s = raw[name];
  return s && typeof s === 'object' ? (s as Record<string, unknown>) : {};
}

export function parseBool(v: unknown, dflt: boolean, where: string): boolean {
  if (v === undefined || v === '') return dflt;
  if (typeof v === 'boolean') return v;
  const s = String(v).trim().toLowerCase();
  if (['true', 'yes', 'on', '1'].includes(s)) return true;
  if (['false', 'no', 'off', '0'].includes(s)) return false;
  throw new Error(`${where}: not a boolean: ${String(v)}`);
}

function parseNum(v: unknown, dflt: number, where: string): number {
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`${where}: not a number: ${String(v)}`);
  return n;
}

function parseJsonObj(v: unknown, dflt: Record<string, string>, where: string): Record<string, string> {
  if (v === undefined || v === '') return dflt;
  try {
    const o = JSON.parse(String(v)) as unknown;
    if (!o || typeof o !== 'object' || Array.isArray(o)) throw new Error('not an object');
    return Object.fromEntries(Object.entries(o as Record<string, unknown>).map(([k, x]) => [k, String(x)]));
  } catch (e) {
    throw new Error(`${where}: expected a JSON object: ${(e as Error).message}`, { cause: e });
  }
}

/** `flavor_ref` as JSON (`{"name":..,"vcpus":..,"memory_mb":..,"extra_specs":{..}}`) or a plain flavor name. */
export function parseFlavor(v: unknown, dflt: FlavorRef, where: string): FlavorRef {
  if (v === undefined || v === '') return dflt;
  const s = String(v).trim();
  if (!s.startsWith('{')) return { ...dflt, name: s };
  try {
    const o = JSON.parse(s) as Partial<FlavorRef>;
    return {
      name: String(o.name ?? dflt.name),
      vcpus: Number(o.vcpus ?? dflt.vcpus),
      memory_mb: Number(o.memory_mb ?? dflt.memory_mb),
      root_gb: Number(o.root_gb ?? dflt.root_gb),
      extra_specs: Object.fromEntries(Object.entries(o.extra_specs ?? {}).map(([k, x]) => [k, String(x)])),
    };
  } catch (e) {
    throw new Error(`${where}: bad flavor JSON: ${(e as Error).message}`, { cause: e });
  }
}

/** `name=url,name=url` (Nova dict option format). */
export function parseHosts(v: unknown, where: string): Array<{ name: string; url: string }> {
  if (v === undefined || v === '') return [];
  return String(v)
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => {
      const i = p.indexOf('=');
      if (i <= 0) throw new Error(`${where}: expected name=url, got ${p}`);
      return {
        name: p.slice(0, i).trim(),
        url: p
          .slice(i + 1)
          .trim()
          .replace(/\/+$/, ''),
      };
    });
}

export function parseConfig(text: string, source: string): TempestConfig {
  const raw = ini.parse(text);
  const c = section(raw, 'compute');
  const f = section(raw, 'compute-feature-enabled');
  const u = section(raw, 'uefi');
  const features = {} as Record<Feature, boolean>;
  for (const [k, d] of Object.entries(FEATURE_DEFAULTS) as Array<[Feature, boolean]>) {
    features[k] = parseBool(f[k], d, `[compute-feature-enabled] ${k}`);
  }
  const hosts = parseHosts(u.hosts, '[uefi] hosts');
  if (hosts.length === 0) throw new Error(`${source}: [uefi] hosts must name at least one sidecar (name=url)`);
  const uefiProps = parseJsonObj(u.image_properties, { hw_firmware_type: 'uefi', hw_machine_type: 'q35' }, '[uefi] image_properties');
  return Object.freeze({
    source,
    compute: {
      build_interval: parseNum(c.build_interval, 1, '[compute] build_interval'),
      build_timeout: parseNum(c.build_timeout, 300, '[compute] build_timeout'),
      min_compute_nodes: parseNum(c.min_compute_nodes, 1, '[compute] min_compute_nodes'),
      flavor_ref: parseFlavor(c.flavor_ref, { name: 'm1.tiny', vcpus: 1, memory_mb: 512, root_gb: 1, extra_specs: {} }, '[compute] flavor_ref'),
      flavor_ref_alt: parseFlavor(c.flavor_ref_alt, { name: 'm1.small', vcpus: 2, memory_mb: 1024, root_gb: 1, extra_specs: {} }, '[compute] flavor_ref_alt'),
      migration_source_host: String(c.migration_source_host ?? ''),
      migration_dest_host: String(c.migration_dest_host ?? ''),
    },
    features,
    uefi: {
      hosts,
      auth_token: String(u.auth_token ?? ''),
      shared_secret: String(u.shared_secret ?? ''),
      arch: String(u.arch ?? 'x86_64'),
      image_properties: uefiProps,
      secure_boot_image_properties: parseJsonObj(
        u.secure_boot_image_properties,
        { ...uefiProps, os_secure_boot: 'required' },
        '[uefi] secure_boot_image_properties',
      ),
      bios_image_properties: parseJsonObj(u.bios_image_properties, {}, '[uefi] bios_image_properties'),
      aarch64_image_properties: parseJsonObj(
        u.aarch64_image_properties,
        { hw_architecture: 'aarch64', hw_machine_type: 'virt' },
        '[uefi] aarch64_image_properties',
      ),
      stateless_image_properties: parseJsonObj(
        u.stateless_image_properties,
        { ...uefiProps, hw_firmware_stateless: 'true' },
        '[uefi] stateless_image_properties',
      ),
      expected_machine: String(u.expected_machine ?? 'q35'),
      expected_loader: String(u.expected_loader ?? ''),
      expected_nvram_template: String(u.expected_nvram_template ?? ''),
      expected_secure_loader: String(u.expected_secure_loader ?? ''),
      expected_secure_nvram_template: String(u.expected_secure_nvram_template ?? ''),
      firmware_root: String(u.firmware_root ?? ''),
      shutdown_timeout: parseNum(u.shutdown_timeout, 0, '[uefi] shutdown_timeout'),
      test_timeout: parseNum(u.test_timeout, 600, '[uefi] test_timeout'),
    },
  });
}

export function loadConfig(file: string): TempestConfig {
  return parseConfig(fs.readFileSync(file, 'utf8'), file);
}

let current: TempestConfig | null = null;

/** `tempest.config.CONF`: set once by the runner before any class is set up. */
export const CONF = {
  set(c: TempestConfig): void {
    current = c;
  },
  get(): TempestConfig {
    if (!current) throw new Error('tempest-compat configuration not loaded');
    return current;
  },
};

/** The message a skip carries: names the flag, as tempest's do. */
export function featureSkipReason(f: Feature): string {
  return `[compute-feature-enabled] ${f} is False`;
}
