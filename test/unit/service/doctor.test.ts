/**
 * service/doctor (runDoctor) on configurations in a temporary root, one finding at a time: an
 * invalid config is one FAIL per problem naming the option (and nothing else runs); the API
 * listening beyond loopback without a token fails; the NVRAM and state directories pass when
 * writable, warn when missing but creatable, fail when they cannot be made or are not
 * directories; no replica store is OK; a directory replica store that answers with a readable
 * key is OK, an unreadable key fails naming the option.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runDoctor, type DoctorCheck } from '../../../src/service/doctor';
import { tmpDir } from '../../support/firmwareFixture';

describe('service/doctor', () => {
  let root: string;
  beforeEach(() => (root = tmpDir('nus-svcdoc-')));
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  /** Run the checks on `extra` sections over directories in the root. */
  async function run(extra = '', nvramDir = `${root}/nvram`): Promise<DoctorCheck[]> {
    const conf = path.join(root, 'shim.conf');
    const dirs = `[nvram]\nnvram_dir = ${nvramDir}\n[hypervisor]\nstate_dir = ${root}/state\n`;
    fs.writeFileSync(conf, `[DEFAULT]\nhost = compute1\n${dirs}${extra}`);
    return runDoctor({ configFile: conf, hostArch: 'x86_64' });
  }
  const one = (checks: DoctorCheck[], name: string) => {
    const c = checks.filter((x) => x.check === name);
    assert.equal(c.length, 1, `${name}: ${JSON.stringify(checks)}`);
    return c[0];
  };

  it('an invalid configuration is one FAIL per problem, each naming its option, and nothing else is checked', async () => {
    const conf = path.join(root, 'bad.conf');
    fs.writeFileSync(conf, '[nvram]\nmode = 0999\n[nope]\nx = 1\n');
    const checks = await runDoctor({ configFile: conf });
    assert.deepEqual(checks.map((c) => [c.check, c.status, c.option]).sort(), [
      ['config', 'FAIL', '[nope]'],
      ['config', 'FAIL', '[nvram] mode'],
    ]);
  });

  it('a valid configuration starts with config OK naming the file', async () => {
    const checks = await run();
    assert.deepEqual(checks[0], { check: 'config', status: 'OK', message: `${path.join(root, 'shim.conf')} is valid` });
  });

  it('the API on every address without a token fails naming [api] auth_token; with a token, or on loopback, it is OK', async () => {
    const open = one(await run('[api]\nhost = 0.0.0.0\nport = 7780\n'), 'api');
    assert.equal(open.status, 'FAIL');
    assert.equal(open.option, '[api] auth_token');
    assert.match(open.message, /listens on 0\.0\.0\.0:7780 without a token/);
    assert.equal(one(await run('[api]\nhost = 0.0.0.0\nauth_token = a-long-enough-token-0123456789\n'), 'api').status, 'OK');
    assert.match(one(await run(), 'api').message, /\(loopback, no token\)$/);
  });

  it('directories: missing but creatable is WARN; present and writable is OK; not a directory or not creatable is FAIL', async () => {
    let checks = await run();
    assert.equal(one(checks, 'nvram_dir').status, 'WARN');
    assert.match(one(checks, 'nvram_dir').message, /does not exist; the sidecar creates it \(0755\) at start/);
    assert.equal(one(checks, 'state_dir').status, 'WARN');
    fs.mkdirSync(path.join(root, 'nvram'));
    fs.mkdirSync(path.join(root, 'state'));
    checks = await run();
    assert.equal(one(checks, 'nvram_dir').status, 'OK');
    assert.equal(one(checks, 'state_dir').status, 'OK');
    assert.deepEqual(fs.readdirSync(path.join(root, 'nvram')), [], 'the probe leaves nothing behind');
    fs.writeFileSync(path.join(root, 'file'), 'x');
    const notDir = one(await run('', `${root}/file`), 'nvram_dir');
    assert.equal(notDir.status, 'FAIL');
    assert.equal(notDir.message, `${root}/file is not a directory`);
    assert.equal(notDir.option, '[nvram] nvram_dir');
    const under = one(await run('', `${root}/file/nvram`), 'nvram_dir');
    assert.equal(under.status, 'FAIL');
    assert.equal(under.message, `${root}/file/nvram does not exist and ${root}/file takes no new directory`);
  });

  it('no replica store is OK; a directory store with a readable key is OK; an unreadable key fails naming the option', async () => {
    assert.equal(one(await run(), 'replica').status, 'OK');
    const key = path.join(root, 'replica.key');
    fs.writeFileSync(key, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
    fs.mkdirSync(path.join(root, 'replicas'));
    const good = one(await run(`[replica]\nbackend = directory\npath = ${root}/replicas\nencryption_key_file = ${key}\n`), 'replica');
    assert.equal(good.status, 'OK', good.message);
    const missing = await run(`[replica]\nbackend = directory\npath = ${root}/replicas\nencryption_key_file = ${root}/missing.key\n`);
    const bad = missing.filter((c) => c.status === 'FAIL');
    assert.ok(bad.length >= 1, JSON.stringify(missing));
    assert.ok(
      bad.some((c) => /encryption_key_file/.test(`${c.option ?? ''} ${c.message}`)),
      JSON.stringify(bad),
    );
  });
});
