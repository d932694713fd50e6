/**
 * cli/doctor: one line per check (status padded, the option to change when there is one), the
 * JSON form, and the exit code (0 unless a check failed, warnings allowed), from runs of the
 * real checks on configurations made to pass or fail a known check.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { doctor, doctorCommand, formatChecks } from '../../../src/cli/doctor';
import type { DoctorCheck } from '../../../src/service/doctor';
import { tmpDir } from '../../support/firmwareFixture';

function io() {
  const o = { out: '' };
  return { o, io: { stdout: { write: (s: string) => (o.out += s) }, stderr: { write: () => undefined } } };
}

describe('cli/doctor', () => {
  let root: string;
  beforeEach(() => (root = tmpDir('nus-clidoc-')));
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('formatChecks: status padded to 4, check, message, and the option to change when given', () => {
    const checks: DoctorCheck[] = [
      { check: 'config', status: 'OK', message: 'valid' },
      { check: 'api', status: 'FAIL', message: 'no token', option: '[api] auth_token' },
      { check: 'tls', status: 'WARN', message: 'expires soon', option: '[api] tls_cert_file' },
    ];
    assert.equal(
      formatChecks(checks),
      'OK   config: valid\nFAIL api: no token [change: [api] auth_token]\nWARN tls: expires soon [change: [api] tls_cert_file]\n',
    );
    assert.equal(formatChecks([]), '');
  });

  it('an invalid configuration: exit 1, one FAIL per problem naming the option, as text or JSON', async () => {
    const conf = path.join(root, 'bad.conf');
    fs.writeFileSync(conf, '[peer]\ntimeout = 0\n[api]\nport = http\n');
    const t = io();
    assert.equal(await doctor({ configFile: conf }, t.io), 1);
    assert.match(t.o.out, /^FAIL config: \[peer\] timeout: '0' is not an integer in \[1, inf\] \[change: \[peer\] timeout\]$/m);
    assert.match(t.o.out, /^FAIL config: \[api\] port: 'http' is not an integer/m);
    const j = io();
    assert.equal(await doctor({ configFile: conf, json: true }, j.io), 1);
    const body = JSON.parse(j.o.out) as { ok: boolean; checks: DoctorCheck[] };
    assert.equal(body.ok, false);
    assert.deepEqual(body.checks.map((c) => [c.check, c.status, c.option]).sort(), [
      ['config', 'FAIL', '[api] port'],
      ['config', 'FAIL', '[peer] timeout'],
    ]);
  });

  it('the command passes --config-file and --json through and sets the exit code', async () => {
    const conf = path.join(root, 'bad.conf');
    fs.writeFileSync(conf, `[api]\nhost = 0.0.0.0\n[nvram]\nnvram_dir = ${root}/nvram\n[hypervisor]\nstate_dir = ${root}/state\n`);
    const t = io();
    const out = { code: -1 };
    await doctorCommand(t.io, out, { hostArch: 'x86_64' }).parseAsync(['--config-file', conf, '--json'], { from: 'user' });
    assert.equal(out.code, 1, 'listening on every address without a token fails');
    const body = JSON.parse(t.o.out) as { ok: boolean; checks: DoctorCheck[] };
    assert.equal(body.ok, false);
    const api = body.checks.find((c) => c.check === 'api');
    assert.equal(api?.status, 'FAIL');
    assert.equal(api?.option, '[api] auth_token');
    assert.equal(body.checks[0].check, 'config');
    assert.equal(body.checks[0].status, 'OK');
  });
});
