/**
 * main as the process it is (`node --import tsx src/main.ts`): start-up problems are said on stderr
 * after `nova-uefi-shim: ` with exit 1, never a stack trace (a missing or invalid config file, a refused
 * start); a sidecar started from a config file serves, and SIGTERM stops it with exit 0 once
 * nothing is in flight.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { rawSections } from '../../src/config';
import { firmwareMapIni, firmwareTree, tmpDir } from '../support/firmwareFixture';
import { freePort } from '../support/processes';

const MAIN = path.join(__dirname, '..', '..', 'src', 'main.ts');

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run main with `args`; `onLine` sees each stdout line (and may signal the process). */
function run(args: string[], onLine?: (line: string, kill: (s: NodeJS.Signals) => void) => void): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let pending = '';
    p.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
      pending += c.toString();
      let nl;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        onLine?.(line, (s) => p.kill(s));
      }
    });
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    p.on('error', reject);
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('main', function () {
  this.timeout(60_000);
  let root: string;
  beforeEach(() => (root = tmpDir('nus-main-')));
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  /** Exit 1 and the problem on stderr after `nova-uefi-shim: `, never a stack trace (a config's problems are listed one a line). */
  const oneLine = (r: Ran, msg: RegExp) => {
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^nova-uefi-shim: /);
    assert.match(r.stderr, msg);
    assert.doesNotMatch(r.stderr, /^\s+at /m, `no stack trace: ${r.stderr}`);
    assert.equal(r.stdout, '', 'nothing started');
  };

  it('a missing config file is said on stderr with exit 1, no stack trace', async () => {
    oneLine(await run(['--config-file', path.join(root, 'missing.conf')]), /--config-file .*missing\.conf/);
  });

  it('an invalid config file names its problem on stderr with exit 1', async () => {
    const conf = path.join(root, 'bad.conf');
    fs.writeFileSync(conf, '[peer]\ntimeout = 0\n');
    oneLine(await run(['--config-file', conf]), /\[peer\] timeout: '0' is not an integer/);
  });

  function config(api: string): string {
    const tree = firmwareTree(path.join(root, 'fw'));
    fs.mkdirSync(path.join(root, 'descriptors'));
    const conf = path.join(root, 'shim.conf');
    const text =
      `[DEFAULT]\nhost = compute1\n${api}\n[hypervisor]\nbackend = embedded\nstate_dir = ${root}/state\n[nvram]\nnvram_dir = ${root}/nvram\n` +
      `[libvirt]\nhw_machine_type = x86_64=q35\n[firmware]\ndescriptor_dirs = ${root}/descriptors\n` +
      firmwareMapIni(rawSections(tree.map)) +
      '\n';
    fs.writeFileSync(conf, text);
    return conf;
  }

  it('a refused start (every address, no token) is said on stderr with exit 1, no stack trace', async () => {
    const port = await freePort();
    oneLine(await run(['--config-file', config(`[api]\nhost = 0.0.0.0\nport = ${port}`)]), /refusing to listen on 0\.0\.0\.0 without authentication/);
  });

  it('serves from its config file, and SIGTERM stops it with exit 0', async () => {
    const port = await freePort();
    const conf = config(`[api]\nhost = 127.0.0.1\nport = ${port}`);
    let health: unknown;
    const r = await run(['--config-file', conf], (line, kill) => {
      if (!line.includes('"listening"')) return;
      void fetch(`http://127.0.0.1:${port}/healthz`)
        .then((res) => res.json())
        .then((b) => {
          health = b;
          kill('SIGTERM');
        });
    });
    assert.deepEqual(health, { status: 'ok', host: 'compute1', backend: 'embedded' }, r.stdout + r.stderr);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /"stopping"/);
    assert.match(r.stdout, /"signal":"SIGTERM"/);
  });
});
