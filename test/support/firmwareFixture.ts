/**
 * Synthetic firmware trees for tests: files with the sizes of real edk2 builds (so the size
 * rules apply) and recognisable content, in a temp directory, plus the `[firmware:<arch>]`
 * map sections that point at them. Real Debian files are used by tests that look for them.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const SIZES = {
  ovmf4mCode: 3_653_632,
  ovmf4mVars: 540_672,
  ovmf2mCode: 1_966_080,
  ovmf2mVars: 131_072,
  aavmf: 64 * 1024 * 1024,
} as const;

export function tmpDir(prefix = 'nus-test-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(d, 0o755);
  return d;
}

/** A file of `size` bytes filled with `fill`, with `tag` written at offset 0x100 to tell files apart. */
export function makeFile(p: string, size: number, fill: number, tag = ''): string {
  fs.mkdirSync(path.dirname(p), { recursive: true });
  if (fill === 0) {
    const fd = fs.openSync(p, 'w');
    fs.ftruncateSync(fd, size);
    if (tag) fs.writeSync(fd, Buffer.from(tag), 0, tag.length, 0x100);
    fs.closeSync(fd);
  } else {
    const b = Buffer.alloc(size, fill);
    if (tag) b.write(tag, 0x100);
    fs.writeFileSync(p, b);
  }
  return p;
}

export interface FirmwareTree {
  dir: string;
  map: Record<string, Record<string, string | boolean>>;
  files: Record<string, string>;
}

/** x86_64 4M plain + secure (SMM), aarch64 plain (64 MiB, sparse zeros). */
export function firmwareTree(root = tmpDir('nus-fw-')): FirmwareTree {
  const f = (n: string) => path.join(root, n);
  const files = {
    code: makeFile(f('OVMF_CODE_4M.fd'), SIZES.ovmf4mCode, 0xff, 'CODE'),
    vars: makeFile(f('OVMF_VARS_4M.fd'), SIZES.ovmf4mVars, 0xff, 'VARS'),
    secCode: makeFile(f('OVMF_CODE_4M.secboot.fd'), SIZES.ovmf4mCode, 0xff, 'SECCODE'),
    secVars: makeFile(f('OVMF_VARS_4M.ms.fd'), SIZES.ovmf4mVars, 0xff, 'MSVARS'),
    aaCode: makeFile(f('AAVMF_CODE.fd'), SIZES.aavmf, 0, 'AACODE'),
    aaVars: makeFile(f('AAVMF_VARS.fd'), SIZES.aavmf, 0, 'AAVARS'),
  };
  return {
    dir: root,
    files,
    map: {
      'firmware:x86_64': {
        loader: files.code,
        nvram_template: files.vars,
        secure_loader: files.secCode,
        secure_nvram_template: files.secVars,
        secure_requires_smm: true,
        secure_enrolled_keys: true,
      },
      'firmware:aarch64': { loader: files.aaCode, nvram_template: files.aaVars },
    },
  };
}

/** A firmware map as the `[firmware:<arch>]` sections of a sidecar config file. */
export function firmwareMapIni(map: Readonly<Record<string, Readonly<Record<string, unknown>> | undefined>>): string {
  const text = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));
  return Object.entries(map)
    .map(
      ([section, kv]) =>
        `[${section}]\n${Object.entries(kv ?? {})
          .map(([k, v]) => `${k} = ${text(v)}`)
          .join('\n')}`,
    )
    .join('\n');
}
