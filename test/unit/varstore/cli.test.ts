/**
 * `nova-uefi-shim nvram ...` run in-process with captured stdout/stderr on temp copies.
 */
import { strict as assert } from 'node:assert';
import { promises as fsp, existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { runNvramCli, parseAttr } from '../../../src/cli/nvram';
import { parseVarStore } from '../../../src/varstore/parse';
import { EFI_GLOBAL_VARIABLE as G, EFI_SECURE_BOOT_ENABLE_DISABLE as SBE, EFI_CERT_X509 } from '../../../src/varstore/guids';
import { buildStore, sigList, TEST_CERT_DER, type BuildRecord } from './builder';

const rec = (name: string, data: string, extra: Partial<BuildRecord> = {}): BuildRecord => ({ name, guid: G, data: Buffer.from(data, 'hex'), ...extra });
const STORE = buildStore({
  records: [
    rec('Timeout', '0000', { state: 0x3d }),
    rec('Timeout', '0500'),
    rec('BootOrder', '0000'),
    { name: 'PK', guid: G, attr: 0x27, data: sigList(EFI_CERT_X509, [[G, TEST_CERT_DER]]) },
    { name: 'SecureBootEnable', guid: SBE, attr: 3, data: Buffer.from([1]) },
  ],
});
const MS_4M = '/usr/share/OVMF/OVMF_VARS_4M.ms.fd';

interface Run {
  code: number;
  out: string;
  err: string;
}

async function run(...argv: string[]): Promise<Run> {
  let out = '';
  let err = '';
  const code = await runNvramCli(argv, { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } });
  return { code, out, err };
}

/** Failure output is exactly one line and never a stack trace. */
function oneLine(r: Run, re: RegExp): void {
  assert.equal(r.out, '');
  assert.equal(r.err.split('\n').length, 2, r.err);
  assert.ok(r.err.endsWith('\n'));
  assert.doesNotMatch(r.err, /\bat .*\(.*:\d+:\d+\)/);
  assert.match(r.err, re);
}

describe('cli/nvram', () => {
  let dir: string;
  let file: string;
  beforeEach(async () => {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'nvram-cli-'));
    file = path.join(dir, 'vm_VARS.fd');
    await fsp.writeFile(file, STORE, { mode: 0o640 });
    await fsp.chmod(file, 0o640);
  });
  afterEach(async () => {
    await fsp.rm(dir, { recursive: true, force: true });
  });
  const live = async (f: string) => parseVarStore(await fsp.readFile(f)).variables.map((v) => `${v.name}=${v.data.toString('hex')}`);

  it('prints usage for --help (exit 0) and no command (exit 2)', async () => {
    const h = await run('--help');
    assert.equal(h.code, 0);
    assert.match(h.out, /^usage: nova-uefi-shim nvram/);
    assert.equal((await run()).code, 2);
  });

  it('shows the store and its variables, decoded', async () => {
    const r = await run('show', file);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /edk2 authenticated variable store, 32768 bytes/);
    assert.match(r.out, /4 variables, 1 deleted records/);
    assert.match(r.out, /^Timeout\s+EfiGlobalVariable\s+NV,BS,RT\s+2\s+5$/m);
    assert.match(r.out, /^BootOrder\s+.*Boot0000$/m);
    assert.match(r.out, /^PK\s+EfiGlobalVariable\s+NV,BS,RT,AT\s+\d+\s+x509: Nova Test PK$/m);
  });

  it('shows deleted records with --deleted and JSON with --json', async () => {
    const d = await run('show', file, '--deleted');
    assert.match(d.out, /^deleted\s+Timeout\s/m);
    const j = JSON.parse((await run('show', '--json', file)).out);
    assert.equal(j.store.deleted_records, 1);
    assert.deepEqual(
      j.variables.map((v: { name: string }) => v.name),
      ['Timeout', 'BootOrder', 'PK', 'SecureBootEnable'],
    );
    assert.deepEqual(j.variables[0].decoded, { kind: 'u16', value: 5 });
    assert.equal(j.variables[0].data, '0500');
  });

  it('sets a variable in place atomically, keeping the file mode', async () => {
    const before = await fsp.stat(file);
    const r = await run('set', file, '--name', 'Timeout', '--guid', 'EfiGlobalVariable', '--attr', 'NV,BS,RT', '--data', '0a00');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /set Timeout \(8be4df61-93ca-11d2-aa0d-00e098032b8c\), 2 bytes; 4 -> 4 variables/);
    const after = await fsp.stat(file);
    assert.equal(after.mode & 0o777, 0o640);
    assert.equal(after.size, before.size);
    assert.notEqual(after.ino, before.ino, 'replaced by rename, not rewritten in place');
    assert.deepEqual(await fsp.readdir(dir), ['vm_VARS.fd'], 'no temp files left');
    assert.deepEqual(
      (await live(file)).sort(),
      ['BootOrder=0000', `PK=${sigList(EFI_CERT_X509, [[G, TEST_CERT_DER]]).toString('hex')}`, 'SecureBootEnable=01', 'Timeout=0a00'].sort(),
    );
  });

  it('sets an existing variable without --attr, keeping its attributes; a new one needs --attr', async () => {
    const pk = path.join(dir, 'pk.fd');
    // PK carries 0x27 (NV,BS,RT,AT): a new value keeps it.
    const r = await run('set', file, '--name', 'Timeout', '--guid', 'EfiGlobalVariable', '--data', '0900');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /set Timeout \(8be4df61-93ca-11d2-aa0d-00e098032b8c\), 2 bytes; 4 -> 4 variables \(attr 0x7\)/);
    const sbe = await run('set', file, '--name', 'SecureBootEnable', '--guid', SBE, '--data', '00', '--output', pk);
    assert.equal(sbe.code, 0, sbe.err);
    const v = parseVarStore(await fsp.readFile(pk)).variables.find((x) => x.name === 'SecureBootEnable');
    assert.deepEqual([v?.attr, v?.data.toString('hex')], [3, '00']);
    const before = await fsp.readFile(file);
    const fresh = await run('set', file, '--name', 'Brand', '--guid', G, '--data', '01');
    assert.equal(fresh.code, 2);
    oneLine(fresh, /^nvram set: --attr is required for a new variable \(Brand is not in .*vm_VARS\.fd\)/);
    assert.ok((await fsp.readFile(file)).equals(before), 'nothing written');
  });

  it('writes to --output and leaves the input untouched', async () => {
    const out = path.join(dir, 'out.fd');
    const r = await run('set', file, '--name=New', `--guid=${G}`, '--attr=7', '--data=01', '--output', out);
    assert.equal(r.code, 0, r.err);
    assert.ok((await fsp.readFile(file)).equals(STORE));
    assert.equal((await fsp.stat(out)).mode & 0o777, 0o640);
    assert.ok((await live(out)).includes('New=01'));
  });

  it('deletes a variable, and fails with one line for a missing one', async () => {
    assert.equal((await run('delete', file, '--name', 'BootOrder', '--guid', G)).code, 0);
    assert.ok(!(await live(file)).some((l) => l.startsWith('BootOrder=')));
    const snapshot = await fsp.readFile(file);
    const r = await run('delete', file, '--name', 'BootOrder', '--guid', G);
    assert.equal(r.code, 1);
    oneLine(r, /^nvram delete: .*vm_VARS\.fd: variable BootOrder \(8be4df61-.*\) does not exist$/m);
    assert.ok((await fsp.readFile(file)).equals(snapshot), 'unchanged on failure');
  });

  it('exports version-2 JSON and imports it into another store', async () => {
    const e = await run('export', file);
    assert.equal(e.code, 0);
    const doc = JSON.parse(e.out);
    assert.equal(doc.version, 2);
    assert.deepEqual(doc.variables[0], { name: 'Timeout', guid: G, attr: 7, data: '0500' });
    const json = path.join(dir, 'vars.json');
    assert.equal((await run('export', file, '--output', json)).code, 0);
    const empty = path.join(dir, 'empty.fd');
    await fsp.writeFile(empty, buildStore());
    const i = await run('import', empty, json);
    assert.equal(i.code, 0, i.err);
    assert.match(i.out, /imported 4 variables .* \(was 0\)/);
    assert.deepEqual(await live(empty), await live(file));
    const d = await run('diff', file, empty);
    assert.deepEqual([d.code, d.out], [0, '']);
  });

  it('refuses an invalid JSON import naming the field', async () => {
    const json = path.join(dir, 'bad.json');
    await fsp.writeFile(json, JSON.stringify({ version: 2, variables: [{ name: 'A', guid: 'nope', attr: 7, data: '00' }] }));
    const r = await run('import', file, json);
    assert.equal(r.code, 1);
    oneLine(r, /bad\.json: variables\[0\]\.guid: not a GUID/);
  });

  it('diffs two stores like diff(1): exit 1 and +/-/~ lines when they differ', async () => {
    const other = path.join(dir, 'other.fd');
    await fsp.copyFile(file, other);
    await run('set', other, '--name', 'Timeout', '--guid', G, '--attr', '7', '--data', '0100');
    await run('set', other, '--name', 'Extra', '--guid', G, '--attr', '3', '--data', 'ff');
    await run('delete', other, '--name', 'BootOrder', '--guid', G);
    const r = await run('diff', file, other);
    assert.equal(r.code, 1);
    assert.equal(r.out, '- BootOrder (EfiGlobalVariable)\n+ Extra (EfiGlobalVariable): 1 bytes, attr 0x3\n~ Timeout (EfiGlobalVariable): data 2 -> 2 bytes\n');
    const j = JSON.parse((await run('diff', '--json', file, other)).out);
    assert.deepEqual(j.changed, [{ name: 'Timeout', guid: G, fields: ['data'] }]);
    const missing = await run('diff', file, path.join(dir, 'nope.fd'));
    assert.equal(missing.code, 2);
    oneLine(missing, /nope\.fd: no such file/);
  });

  it('summarises Secure Boot', async () => {
    const r = await run('secure-boot', file);
    assert.equal(r.code, 0);
    assert.match(r.out, /^Secure Boot: enabled \(user mode, SecureBootEnable = 1\)$/m);
    assert.match(r.out, /^PK: {2}1 certificate\n {7}O=Nova Test, CN=Nova Test PK$/m);
    assert.match(r.out, /^KEK: not enrolled$/m);
    const j = JSON.parse((await run('secure-boot', file, '--json')).out);
    assert.deepEqual([j.enabled, j.setup_mode, j.pk.certificates], [true, false, ['O=Nova Test, CN=Nova Test PK']]);
  });

  it('summarises Secure Boot of the Debian OVMF_VARS_4M.ms.fd template', async function () {
    if (!existsSync(MS_4M)) this.skip(); // Debian ovmf package not installed
    const r = await run('secure-boot', MS_4M);
    assert.match(r.out, /^Secure Boot: enabled/);
    assert.match(r.out, /CN=Microsoft Corporation KEK CA 2011/);
  });

  const failures: Array<[string, () => Promise<string[]>, number, RegExp]> = [
    ['an unknown command', async () => ['frobnicate'], 2, /unknown command 'frobnicate'/],
    ['a missing FILE', async () => ['show'], 2, /^nvram show: missing FILE/],
    ['an extra argument', async () => ['show', file, 'x'], 2, /unexpected argument 'x'/],
    ['an unknown option', async () => ['show', file, '--nope'], 2, /unknown option --nope/],
    ['a missing --name', async () => ['set', file, '--guid', G, '--attr', '7', '--data', '00'], 2, /missing --name/],
    ['a bad --guid', async () => ['set', file, '--name', 'X', '--guid', 'zz', '--attr', '7', '--data', '00'], 2, /--guid: 'zz' is not a GUID/],
    ['a bad --attr', async () => ['set', file, '--name', 'X', '--guid', G, '--attr', 'QQ', '--data', '00'], 2, /--attr: unknown attribute 'QQ'/],
    ['a bad --data', async () => ['set', file, '--name', 'X', '--guid', G, '--attr', '7', '--data', 'abc'], 2, /--data: must be a non-empty hex string/],
    ['attributes the store refuses', async () => ['set', file, '--name', 'X', '--guid', G, '--attr', '6', '--data', '00'], 1, /attr: 0x6 lacks NON_VOLATILE/],
    [
      'a variable that does not fit',
      async () => ['set', file, '--name', 'X', '--guid', G, '--attr', '7', '--data', 'ab'.repeat(0x4000)],
      1,
      /need \d+ bytes but the store holds/,
    ],
    ['a missing file', async () => ['show', path.join(dir, 'missing.fd')], 1, /missing\.fd: no such file/],
    ['a directory', async () => ['show', dir], 1, /is a directory/],
    [
      'an unformatted store',
      async () => {
        const f = path.join(dir, 'zero.fd');
        await fsp.writeFile(f, Buffer.alloc(0x10000));
        return ['show', f];
      },
      1,
      /zero\.fd: the store is unformatted/,
    ],
    [
      'a qcow2 file',
      async () => {
        const f = path.join(dir, 'q.qcow2');
        await fsp.writeFile(f, Buffer.concat([Buffer.from('QFI\xfb', 'latin1'), Buffer.alloc(100)]));
        return ['secure-boot', f];
      },
      1,
      /qcow2 image/,
    ],
  ];
  for (const [name, argv, code, re] of failures) {
    it(`fails with exit ${code} and one line for ${name}`, async () => {
      const r = await run(...(await argv()));
      assert.equal(r.code, code);
      oneLine(r, re);
    });
  }

  const attrs: Array<[string, number]> = [
    ['7', 7],
    ['0x27', 0x27],
    ['NV,BS,RT', 7],
    ['nv,bs,rt,at', 0x27],
  ];
  for (const [s, n] of attrs) it(`parses --attr ${s} as ${n}`, () => assert.equal(parseAttr(s), n));

  it('is reachable as `nova-uefi-shim nvram` through src/main.ts', function (done) {
    // Two cold starts of the sources under tsx: seconds on an idle machine, much longer on a busy one.
    this.timeout(120000);
    // The sources under tsx: unit tests need no build (test/integration/pack.test.ts runs the installed bin).
    const main = ['--import', 'tsx', path.join(__dirname, '../../../src/main.ts')];
    execFile(process.execPath, [...main, 'nvram', 'show', file], (err, stdout, stderr) => {
      assert.equal(err, null, stderr);
      assert.match(stdout, /4 variables, 1 deleted records/);
      execFile(process.execPath, [...main, 'nvram', 'show'], (err2, _o, stderr2) => {
        assert.equal((err2 as { code?: number } | null)?.code, 2);
        assert.match(stderr2, /missing FILE/);
        done();
      });
    });
  });
});
