/**
 * `nova-uefi-shim nvram enroll FILE ...` in-process, on temp copies of OVMF's templates
 * (skipped when ovmf is not installed).
 */
import { strict as assert } from 'node:assert';
import { promises as fsp, existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runNvramCli } from '../../../src/cli/nvram';
import { buildConfig, DEFAULT_CONFIG_FILE } from '../../../src/config';
import { parseVarStore } from '../../../src/varstore/parse';
import { secureBootSummary } from '../../../src/varstore/secureBoot';
import { ecCert, OWNER, testCert } from '../../support/sbKeys';

const EMPTY_4M = '/usr/share/OVMF/OVMF_VARS_4M.fd';
const MS_4M = '/usr/share/OVMF/OVMF_VARS_4M.ms.fd';

async function run(...argv: string[]) {
  let out = '';
  let err = '';
  const code = await runNvramCli(argv, { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } });
  return { code, out, err };
}

describe('cli/nvram enroll', () => {
  let dir: string;
  let file: string;
  before(function () {
    if (!existsSync(EMPTY_4M) || !existsSync(MS_4M)) this.skip(); // ovmf not installed
    this.timeout(60000);
    for (const n of ['cli-pk', 'cli-kek', 'cli-db']) testCert(n);
  });
  beforeEach(async () => {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'nvram-enroll-'));
    file = path.join(dir, 'vm_VARS.fd');
    await fsp.copyFile(EMPTY_4M, file);
  });
  afterEach(async () => fsp.rm(dir, { recursive: true, force: true }));
  const summary = async (f = file) => secureBootSummary(parseVarStore(await fsp.readFile(f)).variables);

  it('enrolls PK, KEK and db into an empty store: user mode, Secure Boot on', async () => {
    const r = await run('enroll', file, '--owner', OWNER, '--pk', testCert('cli-pk').crt, '--kek', testCert('cli-kek').der, '--db', testCert('cli-db').crt);
    assert.equal(r.err, '');
    assert.equal(r.code, 0);
    assert.match(r.out, /keys changed\n {2}PK {3}set {4}1 added, 0 removed\n/);
    assert.match(r.out, /Secure Boot: enabled \(user mode/);
    const s = await summary();
    assert.deepEqual([s.pk.certificates, s.kek.certificates, s.db.certificates], [['CN=cli-pk'], ['CN=cli-kek'], ['CN=cli-db']]);
    assert.equal((await fsp.stat(file)).size, (await fsp.stat(EMPTY_4M)).size);
  });

  it('adds to db once and says so the second time; --remove-db takes it out again', async () => {
    await fsp.copyFile(MS_4M, file);
    const add = ['enroll', file, '--owner', OWNER, '--add-db', testCert('cli-db').crt, '--add-dbx', 'ab'.repeat(32)];
    assert.equal((await run(...add)).code, 0);
    const again = await run(...add);
    assert.match(again.out, /no change \(every entry already as asked\)/);
    assert.match(again.out, /db {3}add {4}0 added, 0 removed, 1 already present \(no-op\)/);
    assert.equal((await summary()).db.certificates.length, 3);
    const rm = await run('enroll', file, '--remove-db', testCert('cli-db').der);
    assert.equal(rm.code, 0, rm.err);
    assert.equal((await summary()).db.certificates.length, 2);
  });

  it('--clear-pk puts the store back in setup mode', async () => {
    await fsp.copyFile(MS_4M, file);
    const out = path.join(dir, 'out.fd');
    assert.equal((await run('enroll', file, '--clear-pk', '--output', out)).code, 0);
    assert.equal((await summary(out)).setup_mode, true);
    assert.equal((await summary(file)).setup_mode, false, 'input untouched with --output');
  });

  it('enrolls a key set from a config file (and the built-in debian one)', async () => {
    const conf = path.join(dir, 'shim.conf');
    await fsp.writeFile(conf, `[secure_boot_keyset:lab]\npk = ${testCert('cli-pk').crt}\ndb = ${testCert('cli-db').crt}\nowner_guid = ${OWNER}\n`);
    const r = await run('enroll', file, '--keyset', 'lab', '--config-file', conf);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual((await summary()).db.certificates, ['CN=cli-db']);
    const d = await run('enroll', file, '--keyset', 'debian', '--config-file', conf);
    assert.equal(d.code, 0, d.err);
    const s = await summary();
    assert.match(s.pk.certificates[0], /Debian/);
    assert.equal(s.db.certificates.length, 2);
  });

  it('enrolls the built-in debian key set without a config file (the built-in defaults find the enrolled template)', async function () {
    if (existsSync(DEFAULT_CONFIG_FILE)) this.skip(); // this host has a configuration: the defaults are not what runs
    const r = await run('enroll', file, '--keyset', 'debian');
    assert.equal(r.code, 0, r.err);
    const s = await summary();
    assert.match(s.pk.certificates[0], /Debian/);
    assert.deepEqual(s.kek.certificates, (await summary(MS_4M)).kek.certificates);
  });

  it('enrolls the built-in key set from the configuration the environment gives when no --config-file is named', async () => {
    const tpl = path.join(dir, 'enrolled_VARS.fd');
    await fsp.copyFile(MS_4M, tpl);
    const conf = buildConfig(
      {
        DEFAULT: {},
        firmware: { descriptor_dirs: path.join(dir, 'none') },
        'firmware:x86_64': { loader: MS_4M, nvram_template: EMPTY_4M, secure_loader: MS_4M, secure_nvram_template: tpl, secure_enrolled_keys: 'true' },
      },
      'injected',
    );
    const asked: (string | undefined)[] = [];
    const env = { config: (f: string | undefined) => (asked.push(f), conf), hostArch: () => 'x86_64' };
    let err = '';
    const code = await runNvramCli(
      ['enroll', file, '--keyset', 'debian'],
      { stdout: { write: () => true }, stderr: { write: (t: string) => (err += t) } },
      env,
    );
    assert.equal(code, 0, err);
    assert.deepEqual(asked, [undefined]);
    assert.match((await summary()).pk.certificates[0], /Debian/);
  });

  const FAILS: [string, () => string[], number, RegExp][] = [
    ['a certificate without --owner', () => ['--db', testCert('cli-db').crt], 2, /--db .*: --owner GUID is required/],
    ['an EC certificate', () => ['--owner', OWNER, '--kek', ecCert('cli-ec').crt], 1, /--kek .*: wrong key type: ec/],
    ['a hash for PK', () => ['--owner', OWNER, '--pk', 'ab'.repeat(32)], 1, /--pk .*: PK holds X\.509 certificates, not hashes/],
    ['an unknown key set', () => ['--keyset', 'nope', '--config-file', '/nonexistent.conf'], 1, /nonexistent\.conf/],
    ['nothing to do', () => [], 2, /nothing to enroll/],
  ];
  for (const [name, args, code, want] of FAILS) {
    it(`fails on ${name} with one line and leaves the file as it was`, async () => {
      const r = await run('enroll', file, ...args());
      assert.equal(r.code, code);
      assert.match(r.err, want);
      assert.equal(r.err.split('\n').length, 2, r.err);
      assert.ok((await fsp.readFile(file)).equals(await fsp.readFile(EMPTY_4M)));
    });
  }
});
