import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { discoverFirmware } from '../../../src/firmware/discover';
import { listDescriptors } from '../../../src/firmware/descriptors';
import { defaultMachines } from '../../../src/firmware/operatorMap';
import { CODE_BUILDS, validateEntry } from '../../../src/firmware/entryChecks';
import { selectFirmware } from '../../../src/firmware/select';
import type { FirmwareEntry, FirmwareInventory, FirmwareProblem } from '../../../src/firmware/types';
import { SIZES, makeFile, tmpDir } from '../../support/firmwareFixture';
import { descriptor, firmwareMap, novaError, request, synthFiles, writeDescriptor } from './helpers';

const HOST = { secureBootEnabled: true };
const q35 = () => request({ hw_firmware_type: 'uefi' });
const q35secure = () => request({ hw_firmware_type: 'uefi', os_secure_boot: 'required' });
const names = (inv: FirmwareInventory) => inv.entries.map((e) => path.basename(e.source.replace(/^descriptor:/, '')));
const problemsFor = (inv: FirmwareInventory, file: string) => inv.problems.filter((p) => p.source.endsWith(file));

/** Distinct 4M code/vars pairs A, B, C (tags tell them apart) in one temp dir. */
function pairs() {
  const root = tmpDir('nus-desc-');
  const mk = (n: string) => ({
    code: makeFile(path.join(root, `${n}_CODE_4M.fd`), SIZES.ovmf4mCode, 0xff, `${n}CODE`),
    vars: makeFile(path.join(root, `${n}_VARS_4M.fd`), SIZES.ovmf4mVars, 0xff, `${n}VARS`),
  });
  return { root, A: mk('A'), B: mk('B'), C: mk('C') };
}

describe('firmware/discover: descriptor precedence', () => {
  it('sorts descriptors by base name across directories, not by directory', () => {
    const p = pairs();
    const distro = tmpDir('nus-distro-');
    const admin = tmpDir('nus-admin-');
    writeDescriptor(distro, '60-a.json', descriptor({ exe: p.A.code, tpl: p.A.vars }));
    writeDescriptor(admin, '50-b.json', descriptor({ exe: p.B.code, tpl: p.B.vars }));
    writeDescriptor(distro, '40-c.json', descriptor({ exe: p.C.code, tpl: p.C.vars }));
    const inv = discoverFirmware({ firmwareMap: {}, descriptorDirs: [distro, admin] });
    assert.deepEqual(names(inv), ['40-c.json', '50-b.json', '60-a.json']);
    assert.equal(selectFirmware(inv, q35(), HOST)?.loader, p.C.code);
  });

  it('lets a same-named file in a later directory shadow the earlier one', () => {
    const p = pairs();
    const distro = tmpDir('nus-distro-');
    const admin = tmpDir('nus-admin-');
    writeDescriptor(distro, '50-x.json', descriptor({ exe: p.A.code, tpl: p.A.vars }));
    const adminFile = writeDescriptor(admin, '50-x.json', descriptor({ exe: p.B.code, tpl: p.B.vars }));
    const inv = discoverFirmware({ firmwareMap: {}, descriptorDirs: [distro, admin] });
    assert.equal(inv.entries.length, 1);
    assert.equal(inv.entries[0].source, `descriptor:${adminFile}`);
    assert.equal(selectFirmware(inv, q35(), HOST)?.loader, p.B.code);
  });

  it('masks the less specific file with an empty file and says so in a warning', () => {
    const p = pairs();
    const distro = tmpDir('nus-distro-');
    const admin = tmpDir('nus-admin-');
    writeDescriptor(distro, '50-x.json', descriptor({ exe: p.A.code, tpl: p.A.vars }));
    writeDescriptor(distro, '60-y.json', descriptor({ exe: p.B.code, tpl: p.B.vars }));
    writeDescriptor(admin, '50-x.json', '');
    const inv = discoverFirmware({ firmwareMap: {}, descriptorDirs: [distro, admin] });
    assert.deepEqual(names(inv), ['60-y.json']);
    const masks = problemsFor(inv, '50-x.json');
    assert.equal(masks.length, 1);
    assert.equal(masks[0].severity, 'warning');
    assert.match(masks[0].message, /empty file masks 50-x\.json/);
    assert.equal(selectFirmware(inv, q35(), HOST)?.loader, p.B.code);
  });

  it('lists only *.json files and ignores a missing directory', () => {
    const p = pairs();
    const d = tmpDir('nus-distro-');
    writeDescriptor(d, '50-x.json', descriptor({ exe: p.A.code, tpl: p.A.vars }));
    writeDescriptor(d, '10-x.json.dpkg-old', descriptor({ exe: p.B.code, tpl: p.B.vars }));
    const problems: FirmwareProblem[] = [];
    const list = listDescriptors([path.join(d, 'absent'), d], problems);
    assert.deepEqual(list, [{ name: '50-x.json', file: path.join(d, '50-x.json') }]);
    assert.deepEqual(problems, []);
  });

  it('skips a descriptor whose executable is missing with a warning naming the file, and uses the next one', () => {
    const p = pairs();
    const d = tmpDir('nus-distro-');
    const absent = path.join(p.root, 'AAVMF_CODE.secboot.fd');
    writeDescriptor(d, '40-broken.json', descriptor({ exe: absent, tpl: p.A.vars }));
    writeDescriptor(d, '60-ok.json', descriptor({ exe: p.B.code, tpl: p.B.vars }));
    const inv = discoverFirmware({ firmwareMap: {}, descriptorDirs: [d] });
    assert.deepEqual(names(inv), ['60-ok.json']);
    const ps = problemsFor(inv, '40-broken.json');
    assert.equal(ps.length, 1);
    assert.equal(ps[0].severity, 'warning');
    assert.equal(ps[0].message, `skipped: ${absent} does not exist or is not readable`);
    assert.equal(selectFirmware(inv, q35(), HOST)?.loader, p.B.code);
  });

  it('skips a descriptor whose nvram-template is missing with a warning', () => {
    const p = pairs();
    const d = tmpDir('nus-distro-');
    const absent = path.join(p.root, 'NOPE_VARS.fd');
    writeDescriptor(d, '50-x.json', descriptor({ exe: p.A.code, tpl: absent }));
    const inv = discoverFirmware({ firmwareMap: {}, descriptorDirs: [d] });
    assert.equal(inv.entries.length, 0);
    assert.equal(problemsFor(inv, '50-x.json')[0].message, `skipped: ${absent} does not exist or is not readable`);
  });

  const skipped: { name: string; opts: Partial<Parameters<typeof descriptor>[0]>; message: RegExp | null }[] = [
    { name: 'skips a BIOS-only descriptor silently', opts: { iface: ['bios'] }, message: null },
    { name: "skips a 'memory' device descriptor with a warning", opts: { device: 'memory' }, message: /mapping device 'memory' is not flash/ },
    { name: "skips a 'combined' mode descriptor with a warning", opts: { mode: 'combined' }, message: /flash mode 'combined' is not supported/ },
    { name: 'skips an unknown flash mode with a warning', opts: { mode: 'weird' }, message: /flash mode 'weird' is not supported/ },
    { name: 'skips a qcow2-format descriptor with a warning (libvirt 9.0 maps raw only)', opts: { format: 'qcow2' }, message: /executable format 'qcow2'/ },
  ];
  for (const c of skipped) {
    it(c.name, () => {
      const p = pairs();
      const d = tmpDir('nus-distro-');
      writeDescriptor(d, '50-odd.json', descriptor({ exe: p.A.code, tpl: p.A.vars, ...c.opts }));
      const inv = discoverFirmware({ firmwareMap: {}, descriptorDirs: [d] });
      assert.equal(inv.entries.length, 0);
      const ps = problemsFor(inv, '50-odd.json');
      if (c.message === null) assert.deepEqual(ps, []);
      else {
        assert.equal(ps.length, 1);
        assert.equal(ps[0].severity, 'warning');
        assert.match(ps[0].message, c.message);
      }
      assert.throws(() => selectFirmware(inv, q35(), HOST), novaError('UEFINotSupported'));
    });
  }

  it('skips a descriptor that is not valid JSON with a warning', () => {
    const d = tmpDir('nus-distro-');
    fs.writeFileSync(path.join(d, '50-x.json'), '{"interface-types": [');
    const inv = discoverFirmware({ firmwareMap: {}, descriptorDirs: [d] });
    assert.equal(inv.entries.length, 0);
    assert.match(problemsFor(inv, '50-x.json')[0].message, /^skipped: not valid JSON/);
  });

  it('reads a stateless-mode descriptor as a stateless entry without a template', () => {
    const p = pairs();
    const d = tmpDir('nus-distro-');
    writeDescriptor(d, '50-sl.json', descriptor({ exe: p.A.code, mode: 'stateless' }));
    const inv = discoverFirmware({ firmwareMap: {}, descriptorDirs: [d] });
    assert.equal(inv.entries.length, 1);
    assert.equal(inv.entries[0].stateless, true);
    assert.equal(inv.entries[0].nvramTemplate, null);
    const sel = selectFirmware(inv, request({ hw_firmware_type: 'uefi', hw_firmware_stateless: true }), HOST);
    assert.equal(sel?.loader, p.A.code);
    assert.equal(sel?.nvram_template, null);
  });

  it('ranks every operator-map entry before every descriptor, even a 10- descriptor', () => {
    const p = pairs();
    const d = tmpDir('nus-distro-');
    writeDescriptor(d, '10-first.json', descriptor({ exe: p.A.code, tpl: p.A.vars }));
    const inv = discoverFirmware({ firmwareMap: firmwareMap({ x86_64: { loader: p.B.code, nvram_template: p.B.vars } }), descriptorDirs: [d] });
    assert.deepEqual(
      inv.entries.map((e) => e.source),
      ['config:[firmware:x86_64]', `descriptor:${path.join(d, '10-first.json')}`],
    );
    assert.ok(inv.entries[0].rank < inv.entries[1].rank);
    assert.equal(selectFirmware(inv, q35(), HOST)?.loader, p.B.code);
  });

  it('falls through to a descriptor for a request the map cannot serve (Secure Boot)', () => {
    const p = pairs();
    const d = tmpDir('nus-distro-');
    writeDescriptor(
      d,
      '40-sec.json',
      descriptor({ exe: p.A.code, tpl: p.A.vars, machines: ['pc-q35-*'], features: ['secure-boot', 'requires-smm', 'enrolled-keys'] }),
    );
    const inv = discoverFirmware({ firmwareMap: firmwareMap({ x86_64: { loader: p.B.code, nvram_template: p.B.vars } }), descriptorDirs: [d] });
    const sel = selectFirmware(inv, q35secure(), HOST);
    assert.equal(sel?.loader, p.A.code);
    assert.equal(sel?.secure, true);
    assert.equal(sel?.requires_smm, true);
    assert.equal(sel?.enrolled_keys, true);
    assert.equal(selectFirmware(inv, q35(), HOST)?.loader, p.B.code);
  });

  it('skips a descriptor without targets with a warning', () => {
    const p = pairs();
    const d = tmpDir('nus-distro-');
    writeDescriptor(d, '50-x.json', { ...descriptor({ exe: p.A.code, tpl: p.A.vars }), targets: [] });
    const inv = discoverFirmware({ firmwareMap: {}, descriptorDirs: [d] });
    assert.equal(inv.entries.length, 0);
    assert.deepEqual(
      problemsFor(inv, '50-x.json').map((x) => x.message),
      ['skipped: no targets with an architecture'],
    );
  });

  it("reads an explicit 'split' mode like an absent mode", () => {
    const p = pairs();
    const d = tmpDir('nus-distro-');
    writeDescriptor(d, '50-x.json', descriptor({ exe: p.A.code, tpl: p.A.vars, mode: 'split' }));
    const inv = discoverFirmware({ firmwareMap: {}, descriptorDirs: [d] });
    assert.deepEqual(inv.problems, []);
    assert.deepEqual(
      inv.entries.map((e) => [e.executable, e.nvramTemplate, e.stateless]),
      [[p.A.code, p.A.vars, false]],
    );
  });

  it('emits one entry per descriptor target', () => {
    const p = pairs();
    const d = tmpDir('nus-distro-');
    const desc = descriptor({ exe: p.A.code, tpl: p.A.vars });
    (desc.targets as unknown[]).push({ architecture: 'i686', machines: ['pc-q35-*'] });
    writeDescriptor(d, '50-x.json', desc);
    const inv = discoverFirmware({ firmwareMap: {}, descriptorDirs: [d] });
    assert.deepEqual(
      inv.entries.map((e) => e.arch),
      ['x86_64', 'i686'],
    );
  });
});

describe('firmware/discover: operator map and size rules', () => {
  it('drops an entry pairing 2M code with a 4M varstore with an error, and the other arch stays selectable', () => {
    const root = tmpDir('nus-size-');
    const code2m = makeFile(path.join(root, 'OVMF_CODE.fd'), SIZES.ovmf2mCode, 0xff, 'C2');
    const vars4m = makeFile(path.join(root, 'OVMF_VARS_4M.fd'), SIZES.ovmf4mVars, 0xff, 'V4');
    const t = synthFiles();
    const inv = discoverFirmware({
      firmwareMap: firmwareMap({ x86_64: { loader: code2m, nvram_template: vars4m }, aarch64: { loader: t.f.aaCode, nvram_template: t.f.aaVars } }),
      descriptorDirs: [],
    });
    assert.deepEqual(
      inv.entries.map((e) => e.arch),
      ['aarch64'],
    );
    const errs = inv.problems.filter((p) => p.severity === 'error');
    assert.equal(errs.length, 1);
    assert.equal(errs[0].source, 'config:[firmware:x86_64]');
    assert.equal(errs[0].arch, 'x86_64');
    assert.match(
      errs[0].message,
      /template size mismatch: .*OVMF_CODE\.fd is a OVMF 2M build \(1966080 bytes\) that needs a 131072-byte varstore, but .*OVMF_VARS_4M\.fd is 540672 bytes/,
    );
    assert.equal(inv.sizes[code2m], SIZES.ovmf2mCode);
    assert.throws(() => selectFirmware(inv, q35(), HOST), novaError('UEFINotSupported', 'x86_64'));
    assert.equal(selectFirmware(inv, request({}, { hostArch: 'aarch64' }), HOST)?.loader, t.f.aaCode);
  });

  it('accepts the matching 2M pair', () => {
    const root = tmpDir('nus-size-');
    const code2m = makeFile(path.join(root, 'OVMF_CODE.fd'), SIZES.ovmf2mCode, 0xff, 'C2');
    const vars2m = makeFile(path.join(root, 'OVMF_VARS.fd'), SIZES.ovmf2mVars, 0xff, 'V2');
    const inv = discoverFirmware({ firmwareMap: firmwareMap({ x86_64: { loader: code2m, nvram_template: vars2m } }), descriptorDirs: [] });
    assert.deepEqual(inv.problems, []);
    assert.equal(selectFirmware(inv, q35(), HOST)?.loader, code2m);
  });

  it('rejects an x86 secure map entry without SMM with an error', () => {
    const t = synthFiles();
    const inv = discoverFirmware({
      firmwareMap: firmwareMap({
        x86_64: { loader: t.f.code, nvram_template: t.f.vars, secure_loader: t.f.secCode, secure_nvram_template: t.f.secVars, secure_requires_smm: false },
      }),
      descriptorDirs: [],
    });
    assert.deepEqual(
      inv.entries.map((e) => e.source),
      ['config:[firmware:x86_64]'],
    );
    const errs = inv.problems.filter((p) => p.severity === 'error');
    assert.equal(errs.length, 1);
    assert.equal(errs[0].source, 'config:[firmware:x86_64] secure');
    assert.match(errs[0].message, /Secure Boot on x86 needs SMM/);
    assert.throws(() => selectFirmware(inv, q35secure(), HOST), novaError('SecureBootNotSupported'));
  });

  it('rejects an x86 secure-boot descriptor without requires-smm with an error', () => {
    const t = synthFiles();
    const d = tmpDir('nus-distro-');
    writeDescriptor(d, '50-sec.json', descriptor({ exe: t.f.secCode, tpl: t.f.secVars, machines: ['pc-q35-*'], features: ['secure-boot'] }));
    const inv = discoverFirmware({ firmwareMap: {}, descriptorDirs: [d] });
    assert.equal(inv.entries.length, 0);
    assert.equal(problemsFor(inv, '50-sec.json')[0].severity, 'error');
  });

  it('accepts an aarch64 secure-boot descriptor without requires-smm', () => {
    const t = synthFiles();
    const d = tmpDir('nus-distro-');
    writeDescriptor(d, '50-sec.json', descriptor({ exe: t.f.aaSecCode, tpl: t.f.aaSecVars, arch: 'aarch64', machines: ['virt-*'], features: ['secure-boot'] }));
    const inv = discoverFirmware({ firmwareMap: {}, descriptorDirs: [d] });
    assert.deepEqual(inv.problems, []);
    assert.equal(inv.entries[0].secureBoot, true);
    assert.equal(inv.entries[0].requiresSmm, false);
  });

  it('reports a missing map file as an error (not a warning as for descriptors)', () => {
    const t = synthFiles();
    const absent = path.join(t.dir, 'missing.fd');
    const inv = discoverFirmware({ firmwareMap: firmwareMap({ x86_64: { loader: absent, nvram_template: t.f.vars } }), descriptorDirs: [] });
    assert.equal(inv.entries.length, 0);
    assert.deepEqual(inv.problems, [
      { severity: 'error', source: 'config:[firmware:x86_64]', arch: 'x86_64', message: `skipped: ${absent} does not exist or is not readable` },
    ]);
  });

  const incomplete: {
    name: string;
    section: (t: ReturnType<typeof synthFiles>) => Record<string, unknown>;
    problems: { source: string; message: string }[];
    served: string[];
  }[] = [
    {
      name: 'a section without any loader',
      section: () => ({ requires_smm: true }),
      problems: [{ source: 'config:[firmware:x86_64]', message: 'loader and nvram_template are not set (and there is no stateless_loader)' }],
      served: [],
    },
    {
      name: 'a loader without nvram_template',
      section: () => ({ loader: '/x/CODE.fd' }),
      problems: [{ source: 'config:[firmware:x86_64]', message: 'loader and nvram_template must be set together' }],
      served: [],
    },
    {
      name: 'an nvram_template without loader (the stateless loader is still served)',
      section: (t) => ({ nvram_template: t.f.vars, stateless_loader: t.f.statelessCode }),
      problems: [{ source: 'config:[firmware:x86_64]', message: 'loader and nvram_template must be set together' }],
      served: ['config:[firmware:x86_64] stateless'],
    },
    {
      name: 'a secure_loader without secure_nvram_template (the plain pair is still served)',
      section: (t) => ({ loader: t.f.code, nvram_template: t.f.vars, secure_loader: '/x/CODE.fd' }),
      problems: [{ source: 'config:[firmware:x86_64] secure', message: 'secure_loader and secure_nvram_template must be set together' }],
      served: ['config:[firmware:x86_64]'],
    },
    {
      name: 'a secure-only section without loader/nvram_template (the secure pair is still served)',
      section: (t) => ({ secure_loader: t.f.secCode, secure_nvram_template: t.f.secVars }),
      problems: [{ source: 'config:[firmware:x86_64]', message: 'loader and nvram_template are not set (and there is no stateless_loader)' }],
      served: ['config:[firmware:x86_64] secure'],
    },
  ];
  for (const c of incomplete) {
    it(`reports ${c.name} as an error for that arch`, () => {
      const t = synthFiles();
      const inv = discoverFirmware({ firmwareMap: firmwareMap({ x86_64: c.section(t) }), descriptorDirs: [] });
      assert.deepEqual(
        inv.entries.map((e) => e.source),
        c.served,
      );
      assert.deepEqual(
        inv.problems,
        c.problems.map((p) => ({ severity: 'error', arch: 'x86_64', ...p })),
      );
    });
  }

  it('accepts a stateless-only section without loader/nvram_template', () => {
    const t = synthFiles();
    const inv = discoverFirmware({ firmwareMap: firmwareMap({ x86_64: { stateless_loader: t.f.statelessCode } }), descriptorDirs: [] });
    assert.deepEqual(inv.problems, []);
    assert.deepEqual(
      inv.entries.map((e) => [e.source, e.executable, e.nvramTemplate, e.stateless]),
      [['config:[firmware:x86_64] stateless', t.f.statelessCode, null, true]],
    );
  });

  it('builds plain, secure and stateless map entries with their machines, features and ranks', () => {
    const t = synthFiles();
    const inv = discoverFirmware({
      firmwareMap: firmwareMap({
        x86_64: {
          loader: t.f.code,
          nvram_template: t.f.vars,
          secure_loader: t.f.secCode,
          secure_nvram_template: t.f.secVars,
          secure_enrolled_keys: true,
          stateless_loader: t.f.statelessCode,
          machines: ['pc-q35-8.*'],
        },
      }),
      descriptorDirs: [],
    });
    assert.deepEqual(
      inv.entries.map((e) => ({
        source: e.source,
        machines: e.machines,
        secure: e.secureBoot,
        smm: e.requiresSmm,
        enrolled: e.enrolledKeys,
        stateless: e.stateless,
        rank: e.rank,
      })),
      [
        { source: 'config:[firmware:x86_64]', machines: ['pc-q35-8.*'], secure: false, smm: false, enrolled: false, stateless: false, rank: 0 },
        { source: 'config:[firmware:x86_64] secure', machines: ['pc-q35-*'], secure: true, smm: true, enrolled: true, stateless: false, rank: 1 },
        { source: 'config:[firmware:x86_64] stateless', machines: ['pc-q35-8.*'], secure: false, smm: false, enrolled: false, stateless: true, rank: 2 },
      ],
    );
  });

  const pairsTable: { name: string; code: number; vars: number; error: RegExp | null }[] = [
    {
      name: 'OVMF 4M code with a 2M varstore',
      code: SIZES.ovmf4mCode,
      vars: SIZES.ovmf2mVars,
      error: /OVMF 4M build \(3653632 bytes\) that needs a 540672-byte varstore, but .* is 131072 bytes/,
    },
    {
      name: 'AAVMF 64 MiB code with a 4M OVMF varstore',
      code: SIZES.aavmf,
      vars: SIZES.ovmf4mVars,
      error: /AAVMF 64M build \(67108864 bytes\) that needs a 67108864-byte varstore/,
    },
    { name: 'OVMF 4M code with a 4M varstore', code: SIZES.ovmf4mCode, vars: SIZES.ovmf4mVars, error: null },
    { name: 'AAVMF 64 MiB code with a 64 MiB varstore', code: SIZES.aavmf, vars: SIZES.aavmf, error: null },
  ];
  for (const c of pairsTable) {
    it(`${c.error ? 'rejects' : 'accepts'} ${c.name} (size rule table)`, () => {
      const sizes: Record<string, number> = { '/fw/CODE.fd': c.code, '/fw/VARS.fd': c.vars };
      const inv = discoverFirmware({
        firmwareMap: firmwareMap({ x86_64: { loader: '/fw/CODE.fd', nvram_template: '/fw/VARS.fd' } }),
        descriptorDirs: [],
        statFile: (p) => sizes[p] ?? null,
      });
      assert.deepEqual(inv.sizes, sizes);
      if (c.error) {
        assert.equal(inv.entries.length, 0);
        assert.equal(inv.problems.length, 1);
        assert.equal(inv.problems[0].severity, 'error');
        assert.match(inv.problems[0].message, c.error);
      } else {
        assert.deepEqual(inv.problems, []);
        assert.equal(inv.entries.length, 1);
      }
    });
  }

  it('keys the size rule table by code size with the three known edk2 builds', () => {
    assert.deepEqual(
      [...CODE_BUILDS.entries()].map(([code, r]) => [code, r.vars]),
      [
        [1_966_080, 131_072],
        [3_653_632, 540_672],
        [67_108_864, 67_108_864],
      ],
    );
  });

  it('keeps an entry of unknown code size with an "unknown code size" warning', () => {
    const e: FirmwareEntry = {
      source: 'config:[firmware:x86_64]',
      name: 'x',
      arch: 'x86_64',
      machines: ['*'],
      executable: '/c',
      nvramTemplate: '/v',
      secureBoot: false,
      requiresSmm: false,
      enrolledKeys: false,
      stateless: false,
      rank: 0,
    };
    const check = validateEntry(e, (p: string) => (p === '/c' ? 1_000_000 : 12_345));
    assert.equal(check.usable, true);
    assert.equal(check.varsSize, 12_345);
    assert.deepEqual(check.problems, [
      {
        severity: 'warning',
        source: 'config:[firmware:x86_64]',
        arch: 'x86_64',
        message: 'unknown code size: /c is 1000000 bytes, not a known edk2 build; template size (12345 bytes) not checked against it',
      },
    ]);
    const inv = discoverFirmware({
      firmwareMap: firmwareMap({ x86_64: { loader: '/c', nvram_template: '/v' } }),
      descriptorDirs: [],
      statFile: (p) => (p === '/c' ? 1_000_000 : 12_345),
    });
    assert.equal(inv.entries.length, 1);
    assert.deepEqual(
      inv.problems.map((p) => p.severity),
      ['warning'],
    );
  });

  it('rejects unknown-size templates that differ across entries of the same executable, keeping known-size ones', () => {
    const sizes: Record<string, number> = { '/c': 1_000_000, '/v1': 12_345, '/v2': 23_456, '/v3': SIZES.ovmf4mVars };
    const inv = discoverFirmware({
      firmwareMap: firmwareMap({
        x86_64: { loader: '/c', nvram_template: '/v1', secure_loader: '/c', secure_nvram_template: '/v2' },
        i686: { loader: '/c', nvram_template: '/v3' },
      }),
      descriptorDirs: [],
      statFile: (p) => sizes[p] ?? null,
    });
    assert.deepEqual(
      inv.entries.map((e) => e.source),
      ['config:[firmware:i686]'],
    );
    const errs = inv.problems.filter((p) => p.severity === 'error');
    assert.deepEqual(
      errs.map((p) => p.source),
      ['config:[firmware:x86_64]', 'config:[firmware:x86_64] secure'],
    );
    assert.match(
      errs[0].message,
      /^template \/v1 is 12345 bytes, not a known edk2 varstore size, and templates used with \/c differ in size \(12345, 23456, 540672 bytes\)$/,
    );
  });

  it('accepts unknown-size templates that agree across entries of the same executable', () => {
    const sizes: Record<string, number> = { '/c': 1_000_000, '/v1': 12_345, '/v2': 12_345 };
    const inv = discoverFirmware({
      firmwareMap: firmwareMap({ x86_64: { loader: '/c', nvram_template: '/v1', secure_loader: '/c', secure_nvram_template: '/v2' } }),
      descriptorDirs: [],
      statFile: (p) => sizes[p] ?? null,
    });
    assert.equal(inv.entries.length, 2);
    assert.deepEqual(
      inv.problems.map((p) => p.severity),
      ['warning', 'warning'],
    );
  });

  it('uses default machine globs per architecture, q35-only for x86 Secure Boot', () => {
    assert.deepEqual(defaultMachines('x86_64', false), ['pc-q35-*', 'pc-i440fx-*']);
    assert.deepEqual(defaultMachines('x86_64', true), ['pc-q35-*']);
    assert.deepEqual(defaultMachines('aarch64', true), ['virt-*']);
    assert.deepEqual(defaultMachines('riscv64', false), ['*']);
  });

  it('honours explicit machine globs from the map', () => {
    const t = synthFiles();
    const inv = discoverFirmware({
      firmwareMap: firmwareMap({ x86_64: { loader: t.f.code, nvram_template: t.f.vars, machines: ['pc-q35-*'] } }),
      descriptorDirs: [],
    });
    assert.deepEqual(inv.entries[0].machines, ['pc-q35-*']);
    assert.throws(() => selectFirmware(inv, request({ hw_firmware_type: 'uefi', hw_machine_type: 'pc' }), HOST), novaError('UEFINotSupported', 'machine pc'));
  });
});
