/**
 * etc/nova-uefi-shim.service as systemd reads it: `systemd-analyze verify` finds nothing to
 * say (an unknown key or a bad value is only a warning there, so any output fails the test),
 * `systemd-analyze security --offline` rates its exposure at most 3.0 ("OK"), and its paths
 * and timeouts agree with the option defaults. Debian's `systemd` package provides the tool
 * without systemd running; without it the suite skips, or fails when `NUS_REQUIRE_SYSTEMD=1`
 * (CI sets it).
 *
 * The unit is checked byte for byte except ExecStart's program, pointed at this repository's
 * entry point: verify requires the binary to exist, and /usr/bin/nova-uefi-shim exists only
 * once the package is installed.
 */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OPTIONS } from '../../src/config';
import { tmpDir } from '../support/firmwareFixture';

const REPO = path.resolve(__dirname, '..', '..');
const UNIT = path.join(REPO, 'etc', 'nova-uefi-shim.service');
const REQUIRE_ENV = 'NUS_REQUIRE_SYSTEMD';

function run(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env: { ...process.env, LC_ALL: 'C', SYSTEMD_COLORS: '0' } }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` });
    });
  });
}

function analyzer(): string | null {
  for (const d of (process.env.PATH ?? '').split(':').concat(['/usr/bin', '/bin'])) {
    const p = path.join(d, 'systemd-analyze');
    if (fs.existsSync(p)) return p;
  }
  return null;
}

const optionDefault = (section: string, key: string) => OPTIONS.find((o) => o.section === section && o.key === key)!.default as string | number;

describe('etc/nova-uefi-shim.service', function () {
  this.timeout(60000);
  let tool: string;
  let dir: string;
  let unit: string;
  const text = fs.readFileSync(UNIT, 'utf8');
  const values = (key: string) => [...text.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => m[1]);

  before(function () {
    const found = analyzer();
    if (!found) {
      const why = "systemd-analyze not found (Debian package 'systemd')";
      if (process.env[REQUIRE_ENV] === '1') throw new Error(`${why}, and ${REQUIRE_ENV}=1 requires it`);
      console.log(`      skipped: ${why}`);
      this.skip();
    }
    tool = found;
    dir = tmpDir('nus-unit-');
    unit = path.join(dir, 'nova-uefi-shim.service');
    const local = text.replace(/^ExecStart=\/usr\/bin\/nova-uefi-shim /m, `ExecStart=${path.join(REPO, 'bin', 'nova-uefi-shim')} `);
    assert.notEqual(local, text, 'ExecStart runs /usr/bin/nova-uefi-shim');
    fs.writeFileSync(unit, local);
  });
  after(() => dir && fs.rmSync(dir, { recursive: true, force: true }));

  it('passes systemd-analyze verify without a single warning', async () => {
    const r = await run(tool, ['verify', unit]);
    assert.equal(r.code, 0, r.out);
    assert.equal(r.out.trim(), '', 'verify reports unknown keys and bad values only as warnings');
  });

  it('rates an exposure of at most 3.0 in systemd-analyze security', async () => {
    const r = await run(tool, ['security', '--offline=yes', '--threshold=30', unit]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /Overall exposure level for nova-uefi-shim\.service: [0-2]\.\d|Overall exposure level for nova-uefi-shim\.service: 3\.0/);
  });

  it('keeps the system read-only with write access only to the NVRAM and state directories', () => {
    assert.deepEqual(values('ProtectSystem'), ['strict']);
    assert.deepEqual(values('NoNewPrivileges'), ['yes']);
    assert.deepEqual(values('ReadWritePaths'), [`-${optionDefault('nvram', 'nvram_dir')}`]);
    assert.deepEqual(values('StateDirectory'), [path.relative('/var/lib', String(optionDefault('hypervisor', 'state_dir')))]);
    assert.deepEqual(values('ExecStart'), ['/usr/bin/nova-uefi-shim --config-file /etc/nova-uefi-shim/nova-uefi-shim.conf']);
    assert.deepEqual(values('ExecReload'), ['/bin/kill -HUP $MAINPID']);
  });

  it('gives a graceful stop more time than [api] shutdown_timeout and logs to journald', () => {
    const stop = Number(/^(\d+)s?$/.exec(values('TimeoutStopSec')[0])![1]);
    assert.ok(stop > Number(optionDefault('api', 'shutdown_timeout')), `TimeoutStopSec=${stop}`);
    assert.deepEqual(values('KillSignal'), ['SIGTERM']);
    assert.deepEqual(values('StandardOutput'), ['journal']);
  });
});

describe('etc/nova-uefi-shim.service Documentation=', () => {
  const INSTALLED = '/usr/lib/node_modules/nova-uefi-shim/';
  const uris = [...fs.readFileSync(UNIT, 'utf8').matchAll(/^Documentation=(.*)$/gm)].flatMap((m) => m[1].trim().split(/\s+/));

  it('names this project’s pages where the global install puts them, and each page exists in the package', () => {
    assert.ok(uris.length > 0, 'the unit has no Documentation=');
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { files: string[] };
    for (const uri of uris) {
      assert.ok(uri.startsWith(`file:${INSTALLED}docs/`), `${uri} is not one of our installed docs pages`);
      const inRepo = uri.slice(`file:${INSTALLED}`.length);
      assert.ok(fs.existsSync(path.join(REPO, inRepo)), `${uri}: ${inRepo} does not exist in the repository`);
      assert.ok(pkg.files.includes(`${inRepo.split('/')[0]}/`), `${inRepo} is not shipped by package.json "files"`);
    }
  });
});
