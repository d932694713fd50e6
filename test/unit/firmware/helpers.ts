/**
 * Shared builders for firmware unit tests: a synthetic firmware tree with real edk2 sizes
 * (x86_64 plain/secure/stateless, aarch64 plain/secure/stateless), the operator map for it,
 * descriptor JSON writers and a boot-request shorthand.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { testConfig, type FirmwareMapSection } from '../../../src/config';
import { discoverFirmware } from '../../../src/firmware/discover';
import { resolveBootRequest } from '../../../src/firmware/request';
import type { BootRequest, FirmwareInventory } from '../../../src/firmware/types';
import { SIZES, makeFile, tmpDir } from '../../support/firmwareFixture';

/** `[firmware:<arch>]` sections as the config layer would produce them. */
export function firmwareMap(sections: Record<string, Record<string, unknown>>): Record<string, FirmwareMapSection> {
  const overrides: Record<string, Record<string, unknown>> = {};
  for (const [arch, v] of Object.entries(sections)) overrides[`firmware:${arch}`] = v;
  return testConfig(overrides).firmwareMap;
}

export interface SynthTree {
  dir: string;
  f: Record<string, string>;
}

/** Files for every entry the selection tables need. */
export function synthFiles(root = tmpDir('nus-fwsel-')): SynthTree {
  const p = (n: string) => path.join(root, n);
  return {
    dir: root,
    f: {
      code: makeFile(p('OVMF_CODE_4M.fd'), SIZES.ovmf4mCode, 0xff, 'CODE'),
      vars: makeFile(p('OVMF_VARS_4M.fd'), SIZES.ovmf4mVars, 0xff, 'VARS'),
      secCode: makeFile(p('OVMF_CODE_4M.secboot.fd'), SIZES.ovmf4mCode, 0xff, 'SECCODE'),
      secVars: makeFile(p('OVMF_VARS_4M.ms.fd'), SIZES.ovmf4mVars, 0xff, 'MSVARS'),
      statelessCode: makeFile(p('OVMF.stateless.fd'), SIZES.ovmf4mCode, 0xff, 'SLCODE'),
      aaCode: makeFile(p('AAVMF_CODE.fd'), SIZES.aavmf, 0, 'AACODE'),
      aaVars: makeFile(p('AAVMF_VARS.fd'), SIZES.aavmf, 0, 'AAVARS'),
      aaSecCode: makeFile(p('AAVMF_CODE.ms.fd'), SIZES.aavmf, 0, 'AASEC'),
      aaSecVars: makeFile(p('AAVMF_VARS.ms.fd'), SIZES.aavmf, 0, 'AASECV'),
      aaStateless: makeFile(p('AAVMF_CODE.stateless.fd'), SIZES.aavmf, 0, 'AASL'),
    },
  };
}

/** Inventory from the operator map only (no descriptor dirs). */
export function synthInventory(t: SynthTree, withStateless: boolean): FirmwareInventory {
  const { f } = t;
  const map = firmwareMap({
    x86_64: {
      loader: f.code,
      nvram_template: f.vars,
      secure_loader: f.secCode,
      secure_nvram_template: f.secVars,
      secure_requires_smm: true,
      secure_enrolled_keys: true,
      ...(withStateless ? { stateless_loader: f.statelessCode } : {}),
    },
    aarch64: {
      loader: f.aaCode,
      nvram_template: f.aaVars,
      secure_loader: f.aaSecCode,
      secure_nvram_template: f.aaSecVars,
      secure_requires_smm: false,
      secure_enrolled_keys: true,
      ...(withStateless ? { stateless_loader: f.aaStateless } : {}),
    },
  });
  return discoverFirmware({ firmwareMap: map, descriptorDirs: [] });
}

export function request(
  props: Record<string, unknown>,
  opts: { hostArch?: string; flavor?: Record<string, string>; defaults?: Record<string, string> } = {},
): BootRequest {
  return resolveBootRequest({
    imageProps: props,
    flavorExtraSpecs: opts.flavor,
    hostArch: opts.hostArch ?? 'x86_64',
    machineDefaults: opts.defaults ?? { x86_64: 'q35' },
  });
}

/** QEMU descriptor JSON (docs/interop/firmware.json shape). */
export interface DescriptorOpts {
  exe: string;
  tpl?: string;
  arch?: string;
  machines?: string[];
  features?: string[];
  iface?: string[];
  device?: string;
  mode?: string;
  format?: string;
}

export function descriptor(o: DescriptorOpts): Record<string, unknown> {
  return {
    description: 'test firmware',
    'interface-types': o.iface ?? ['uefi'],
    mapping: {
      device: o.device ?? 'flash',
      ...(o.mode ? { mode: o.mode } : {}),
      executable: { filename: o.exe, format: o.format ?? 'raw' },
      ...(o.tpl !== undefined ? { 'nvram-template': { filename: o.tpl, format: 'raw' } } : {}),
    },
    targets: [{ architecture: o.arch ?? 'x86_64', machines: o.machines ?? ['pc-i440fx-*', 'pc-q35-*'] }],
    features: o.features ?? ['acpi-s3'],
    tags: [],
  };
}

export function writeDescriptor(dir: string, name: string, d: Record<string, unknown> | ''): string {
  fs.mkdirSync(dir, { recursive: true });
  const p = path.join(dir, name);
  fs.writeFileSync(p, d === '' ? '' : JSON.stringify(d, null, 2));
  return p;
}

/** Assert helper: a thrown NovaError of `type`, optionally with a message fragment. */
export function novaError(type: string, fragment?: string | RegExp): (e: unknown) => boolean {
  return (e: unknown) => {
    const err = e as Error & { type?: string };
    if (err.type !== type) throw new Error(`expected ${type}, got ${err.type ?? err.name}: ${err.message}`);
    if (fragment !== undefined && !(typeof fragment === 'string' ? err.message.includes(fragment) : fragment.test(err.message))) {
      throw new Error(`${type} message ${JSON.stringify(err.message)} lacks ${String(fragment)}`);
    }
    return true;
  };
}
