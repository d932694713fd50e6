import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { discoverFirmware, listDescriptors, validateEntry, defaultMachines } from '../../../src/firmware/discover';
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
    assert.deepEqual(inv.entries.map((e) => e.source), ['config:[firmware:x86_64]', `descriptor:${path.join(d, '10-first.json')}`]);
    assert.ok(inv.entries[0].rank < inv.entries[1].rank);
    assert.equal(selectFirmware(inv, q35(), HOST)?.loader, p.B.code);
  });

  it('falls through to a descriptor for a request the map cannot serve (Secure Boot)', () => {
    const p = pairs();
    const d = tmpDir('nus-distro-');
    writeDescriptor(d, '40-sec.json', descriptor({ exe: p.A.code, tpl: p.A.vars, machines: ['pc-q35-*'], features: ['secure-boot', 'requires-smm', 'enrolled-keys'] }));
    const inv = discoverFirmware({ firmwareMap: firmwareMap({ x86_64: { loader: p.B.code, nvram_template: p.B.vars } }), descriptorDirs: [d] });
    const sel = selectFirmware(inv, q35secure(), HOST);
    assert.equal(sel?.loader, p.A.code);
    assert.equal(sel?.secure, true);
    assert.equal(sel?.requires_smm, true);
    assert.equal(sel?.enrolled_keys, true);
    assert.equal(selectFirmware(inv, q35(), HOST)?.loader, p.B.code);
  });

  it('emits one entry per descriptor target', () => {
    const p = pairs();
    const d = tmpDir('nus-distro-');
    const desc = descriptor({ exe: p.A.code, tpl: p.A.vars });
    (desc.targets as unknown[]).push({ architecture: 'i686', machines: ['pc-q35-*'] });
    writeDescriptor(d, '50-x.json', desc);
    const inv = discoverFirmware({ firmwareMap: {}, descriptorDirs: [d] });
    assert.deepEqual(inv.entries.map((e) => e.arch), ['x86_64', 'i686']);
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
    assert.deepEqual(inv.entries.map((e) => e.arch), ['aarch64']);
    const errs = inv.problems.filter((p) => p.severity === 'error');
    assert.equal(errs.length, 1);
    assert.equal(errs[0].source, 'config:[firmware:x86_64]');
    assert.equal(errs[0].arch, 'x86_64');
    assert.match(errs[0].message, /template size mismatch: .*OVMF_CODE\.fd is a OVMF 2M build \(1966080 bytes\) that needs a 131072-byte varstore, but .*OVMF_VARS_4M\.fd is 540672 bytes/);
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
      firmwareMap: firmwareMap({ x86_64: { loader: t.f.code, nvram_template: t.f.vars, secure_loader: t.f.secCode, secure_nvram_template: t.f.secVars, secure_requires_smm: false } }),
      descriptorDirs: [],
    });
    assert.deepEqual(inv.entries.map((e) => e.source), ['config:[firmware:x86_64]']);
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
    assert.deepEqual(inv.problems, [{ severity: 'error', source: 'config:[firmware:x86_64]', arch: 'x86_64', message: `skipped: ${absent} does not exist or is not readable` }]);
  });

  const incomplete: { name: string; section: Record<string, unknown>; message: string; source: string }[] = [
    { name: 'a section without any loader', section: { requires_smm: true }, message: 'no loader, secure_loader or stateless_loader set', source: 'config:[firmware:x86_64]' },
    { name: 'a loader without nvram_template', section: { loader: '/x/CODE.fd' }, message: 'loader and nvram_template must be set together', source: 'config:[firmware:x86_64]' },
    { name: 'a secure_loader without secure_nvram_template', section: { secure_loader: '/x/CODE.fd' }, message: 'secure_loader and secure_nvram_template must be set together', source: 'config:[firmware:x86_64] secure' },
  ];
  for (const c of incomplete) {
    it(`reports ${c.name} as an error and adds no entry`, () => {
      const inv = discoverFirmware({ firmwareMap: firmwareMap({ x86_64: c.section }), descriptorDirs: [] });
      assert.equal(inv.entries.length, 0);
      assert.deepEqual(inv.problems, [{ severity: 'error', source: c.source, arch: 'x86_64', message: c.message }]);
    });
  }

  it('keeps an entry of unknown build sizes with a warning', () => {
    const e: FirmwareEntry = { source: 'config:[firmware:x86_64]', name: 'x', arch: 'x86_64', machines: ['*'], executable: '/c', nvramTemplate: '/v', secureBoot: false, requiresSmm: false, enrolledKeys: false, stateless: false, rank: 0 };
    const ps = validateEntry(e, (p) => (p === '/c' ? 1_000_000 : 12_345));
    assert.equal(ps.length, 1);
    assert.equal(ps[0].severity, 'warning');
    assert.match(ps[0].message, /unknown code build \(1000000 bytes\) and varstore size \(12345 bytes\)/);
    const inv = discoverFirmware({ firmwareMap: firmwareMap({ x86_64: { loader: '/c', nvram_template: '/v' } }), descriptorDirs: [], statFile: (p) => (p === '/c' ? 1_000_000 : 12_345) });
    assert.equal(inv.entries.length, 1);
  });

  it('uses default machine globs per architecture, q35-only for x86 Secure Boot', () => {
    assert.deepEqual(defaultMachines('x86_64', false), ['pc-q35-*', 'pc-i440fx-*']);
    assert.deepEqual(defaultMachines('x86_64', true), ['pc-q35-*']);
    assert.deepEqual(defaultMachines('aarch64', true), ['virt-*']);
    assert.deepEqual(defaultMachines('riscv64', false), ['*']);
  });

  it('honours explicit machine globs from the map', () => {
    const t = synthFiles();
    const inv = discoverFirmware({ firmwareMap: firmwareMap({ x86_64: { loader: t.f.code, nvram_template: t.f.vars, machines: ['pc-q35-*'] } }), descriptorDirs: [] });
    assert.deepEqual(inv.entries[0].machines, ['pc-q35-*']);
    assert.throws(() => selectFirmware(inv, request({ hw_firmware_type: 'uefi', hw_machine_type: 'pc' }), HOST), novaError('UEFINotSupported', 'machine pc'));
  });
});
