/**
 * `nova-uefi-shim doctor` on a good set-up and on broken ones (a missing vars file, an NVRAM
 * directory QEMU's user cannot enter, an unreachable peer, a wrong secret, a peer whose
 * clock is off, an invalid file): one OK / WARN / FAIL line per check naming the option to
 * change, exit code 0 or 1. Run in-process through the CLI (`runCli`), plus once as the real
 * entry point for the exit code.
 */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { runCli } from '../../src/cli/program';
import { firmwareTree, tmpDir, type FirmwareTree } from '../support/firmwareFixture';
import { freePort } from '../support/processes';
import { startTestSidecar, type TestSidecar } from '../support/sidecar';
import { OWNER, testCert } from '../support/sbKeys';
import { loadConfigFile } from '../../src/config';
import { startSidecar } from '../../src/server';
import { memoryLogger } from '../../src/util/log';

const SECRET = 'doctor-secret';
const MAIN = path.join(__dirname, '..', '..', 'src', 'main.ts');

interface Check {
  check: string;
  status: 'OK' | 'WARN' | 'FAIL';
  message: string;
  option?: string;
}

describe('nova-uefi-shim doctor', function () {
  this.timeout(30000);
  let root: string;
  let fw: FirmwareTree;
  let peer: TestSidecar;
  beforeEach(async () => {
    root = tmpDir('nus-doctor-');
    fw = firmwareTree(path.join(root, 'fw'));
    fs.mkdirSync(path.join(root, 'descriptors'));
    fs.mkdirSync(path.join(root, 'state'), { mode: 0o700 });
    fs.mkdirSync(path.join(root, 'nvram'), { mode: 0o755 });
    fs.chmodSync(path.join(root, 'nvram'), 0o755);
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));
  before(async () => {
    peer = await startTestSidecar({ DEFAULT: { host: 'compute2' }, peer: { shared_secret: SECRET } });
  });
  after(async () => peer.stop());

  /** A config file for this host; `edit` changes its text. */
  function conf(opts: { peers?: string; owner?: string; edit?: (t: string) => string } = {}): string {
    const map = Object.entries(fw.map)
      .map(
        ([sec, kv]) =>
          `[${sec}]\n${Object.entries(kv)
            .map(([k, v]) => `${k} = ${String(v)}`)
            .join('\n')}`,
      )
      .join('\n');
    const text = `[DEFAULT]
host = compute1
[api]
auth_token = t
[hypervisor]
state_dir = ${path.join(root, 'state')}
[nvram]
nvram_dir = ${path.join(root, 'nvram')}
owner = ${opts.owner ?? 'nobody'}
[firmware]
descriptor_dirs = ${path.join(root, 'descriptors')}
[peer]
hosts = ${opts.peers ?? `compute1=http://127.0.0.1:1,compute2=${peer.url}`}
shared_secret = ${SECRET}
timeout = 5
${map}
`;
    const f = path.join(root, 'shim.conf');
    fs.writeFileSync(f, opts.edit ? opts.edit(text) : text);
    return f;
  }

  async function doctor(file: string, json = true): Promise<{ code: number; out: string; checks: Check[] }> {
    let out = '';
    const io = { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (out += s) } };
    const r = await runCli(['doctor', '--config-file', file, ...(json ? ['--json'] : [])], io);
    assert.ok('exit' in r);
    const checks = json ? (JSON.parse(out) as { ok: boolean; checks: Check[] }).checks : [];
    if (json) assert.equal((JSON.parse(out) as { ok: boolean }).ok, r.exit === 0);
    return { code: r.exit, out, checks };
  }

  const failing = (checks: Check[]) => checks.filter((c) => c.status === 'FAIL');

  it('passes a good set-up: every check OK, exit 0', async () => {
    const r = await doctor(conf());
    assert.equal(r.code, 0, r.out);
    assert.deepEqual(
      r.checks.filter((c) => c.status !== 'OK'),
      [],
    );
    const by = (name: string) => r.checks.filter((c) => c.check === name).map((c) => c.message);
    assert.deepEqual(
      [...new Set(r.checks.map((c) => c.check))],
      ['config', 'api', 'tls', 'firmware', 'keysets', 'nvram_dir', 'state_dir', 'hypervisor', 'peer', 'replica'],
    );
    assert.deepEqual(by('replica'), ['no replica store ([replica] backend = none): variable stores live on this host only']);
    assert.ok(by('firmware').some((m) => m.startsWith('x86_64 plain OVMF 4M from [firmware:x86_64]: ') && m.includes('(540672 bytes)')));
    assert.ok(by('firmware').some((m) => m.startsWith('x86_64 Secure Boot, keys enrolled OVMF 4M')));
    assert.match(by('nvram_dir')[0], /is writable and QEMU's user nobody \(uid 65534\) can reach it/);
    assert.match(
      by('peer')[0],
      new RegExp(`^compute2 \\(${peer.url.replace(/[.]/g, '\\.')}\\): answers a signed ping in \\d+ ms as compute2, clock [+-]\\d+\\.\\d s \\(max 300 s\\)$`),
    );
  });

  it('prints one line per check, with the option to change', async () => {
    const r = await doctor(conf({ edit: (t) => t.replace(/^nvram_template = .*$/m, `nvram_template = ${path.join(root, 'gone', 'OVMF_VARS_4M.fd')}`) }), false);
    assert.equal(r.code, 1);
    const lines = r.out.trimEnd().split('\n');
    assert.ok(
      lines.every((l) => /^(OK {2}|WARN|FAIL) [a-z_]+: /.test(l)),
      r.out,
    );
    assert.ok(
      lines.some((l) =>
        /^FAIL firmware: \[firmware:x86_64\]: skipped: .*gone\/OVMF_VARS_4M\.fd does not exist or is not readable \[change: \[firmware:x86_64\] nvram_template\]$/.test(
          l,
        ),
      ),
      r.out,
    );
  });

  it('fails a missing vars file, naming the map key', async () => {
    const r = await doctor(conf({ edit: (t) => t.replace(/^nvram_template = .*$/m, `nvram_template = ${path.join(root, 'gone.fd')}`) }));
    assert.equal(r.code, 1);
    assert.deepEqual(
      failing(r.checks).map((c) => [c.check, c.option]),
      [['firmware', '[firmware:x86_64] nvram_template']],
    );
    assert.match(failing(r.checks)[0].message, /gone\.fd does not exist/);
  });

  it("fails an NVRAM directory QEMU's user cannot enter (wrong owner and mode)", async function () {
    if (process.getuid?.() !== 0) this.skip(); // chown needs root (CI runs as root)
    const dir = path.join(root, 'nvram');
    fs.chownSync(dir, 12345, 12345);
    fs.chmodSync(dir, 0o700);
    const r = await doctor(conf());
    assert.equal(r.code, 1);
    const [f] = failing(r.checks);
    assert.equal(f.check, 'nvram_dir');
    assert.match(
      f.message,
      new RegExp(`QEMU's user nobody \\(uid 65534, gid 65534\\) cannot enter ${dir.replace(/[.]/g, '\\.')} \\(owner 12345:12345, mode 0700\\)`),
    );
    assert.match(f.option!, /^\[nvram\] owner/);
    // Owned by QEMU's user instead: fine.
    fs.chownSync(dir, 65534, 65534);
    assert.equal((await doctor(conf())).code, 0);
  });

  it('warns about stores QEMU cannot write', async () => {
    fs.writeFileSync(path.join(root, 'nvram', 'instance-00000001_VARS.fd'), 'x');
    const r = await doctor(conf());
    assert.equal(r.code, 0);
    const w = r.checks.filter((c) => c.status === 'WARN');
    assert.equal(w.length, 1);
    assert.match(w[0].message, /1 of 1 stores are not owned by nobody \(e\.g\. instance-00000001_VARS\.fd\)/);
  });

  it('fails an unreachable peer, a wrong secret and a peer whose clock is off', async () => {
    const dead = await freePort();
    const skewed = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ host: 'compute4', time: Date.now() / 1000 - 1000 }));
    });
    const skewedPort = await freePort();
    await new Promise<void>((r) => skewed.listen(skewedPort, '127.0.0.1', r));
    try {
      const r = await doctor(conf({ peers: `compute2=${peer.url},compute3=http://127.0.0.1:${dead},compute4=http://127.0.0.1:${skewedPort}` }));
      assert.equal(r.code, 1);
      const peers = r.checks.filter((c) => c.check === 'peer');
      assert.deepEqual(
        peers.map((c) => c.status),
        ['OK', 'FAIL', 'FAIL'],
      );
      assert.match(peers[1].message, /^compute3 \(http:\/\/127\.0\.0\.1:\d+\): .*unreachable \(connection refused\)/);
      assert.equal(peers[1].option, '[peer] hosts');
      // The skew is measured against the peer's answer time, so the round trip (slow on a busy
      // machine) shifts it by a fraction of a second: the 1000 s offset must show, give or take 5 s.
      const skew = /clock (-?\d+\.\d) s \(max 300 s\)/.exec(peers[2].message);
      assert.ok(skew, peers[2].message);
      assert.ok(Math.abs(Number(skew[1]) + 1000) < 5, peers[2].message);
      assert.match(peers[2].option!, /^\[peer\] max_clock_skew/);

      const wrong = await doctor(conf({ peers: `compute2=${peer.url}`, edit: (t) => t.replace(`shared_secret = ${SECRET}`, 'shared_secret = not-it') }));
      assert.deepEqual(
        failing(wrong.checks).map((c) => [c.check, c.option]),
        [['peer', '[peer] shared_secret']],
      );
      assert.match(failing(wrong.checks)[0].message, /refused the signed ping .*wrong signature/);
    } finally {
      skewed.close();
    }
  });

  it('fails a peer CA file it cannot read, naming [peer] ca_file', async () => {
    const r = await doctor(conf({ edit: (t) => t.replace('[peer]\n', `[peer]\nca_file = ${path.join(root, 'no-ca.pem')}\n`) }));
    assert.equal(r.code, 1);
    assert.deepEqual(
      failing(r.checks).map((c) => [c.check, c.option]),
      [
        ['tls', '[peer] ca_file'],
        ['peer', '[peer] ca_file'],
      ],
    );
    assert.match(failing(r.checks)[0].message, /cannot read \[peer\] ca_file .*no-ca\.pem/);
  });

  describe('checks the Secure Boot key sets exactly as serve loads them', () => {
    const CASES: [string, (dir: string) => string, RegExp][] = [
      ['a missing certificate file', (dir) => `kek = ${path.join(dir, 'gone.crt')}`, /\[secure_boot_keyset:lab\] kek: cannot read .*gone\.crt: ENOENT/],
      ['a private key where a certificate belongs', () => `kek = ${testCert('doctor-kek').key}`, /\[secure_boot_keyset:lab\] kek: .*doctor-kek\.key: /],
    ];
    for (const [name, line, want] of CASES) {
      it(`fails ${name}, and serve refuses the same file`, async () => {
        const file = conf({
          peers: 'compute1=http://127.0.0.1:1',
          edit: (t) => `${t}[secure_boot_keyset:lab]\npk = ${testCert('doctor-pk').crt}\n${line(root)}\nowner_guid = ${OWNER}\n`,
        });
        const r = await doctor(file);
        assert.equal(r.code, 1, r.out);
        const bad = failing(r.checks).filter((c) => c.check === 'keysets');
        assert.equal(bad.length, 1, r.out);
        assert.match(bad[0].message, want);
        assert.equal(bad[0].option, '[secure_boot_keyset:lab] kek');
        await assert.rejects(
          startSidecar(loadConfigFile(file), { log: memoryLogger(), hostArch: 'x86_64' }),
          (e: Error) => e.name === 'StartupError' && want.test(e.message),
        );
      });
    }
    it('passes a key set whose files load, listing it', async () => {
      const file = conf({
        edit: (t) => `${t}[secure_boot_keyset:lab]\npk = ${testCert('doctor-pk').crt}\nkek = ${testCert('doctor-kek').crt}\nowner_guid = ${OWNER}\n`,
      });
      const r = await doctor(file);
      assert.equal(r.code, 0, r.out);
      assert.match(r.checks.find((c) => c.check === 'keysets')!.message, /^Secure Boot key sets: lab/);
    });
  });

  it('fails an invalid file with one line per problem', async () => {
    const r = await doctor(conf({ edit: (t) => t.replace('timeout = 5', 'timeout = soon').replace('[api]\n', '[api]\nport = x\n') }));
    assert.equal(r.code, 1);
    assert.deepEqual(
      r.checks.map((c) => [c.status, c.check, c.option]),
      [
        ['FAIL', 'config', '[api] port'],
        ['FAIL', 'config', '[peer] timeout'],
      ],
    );
  });

  describe('the replica store', () => {
    /** `conf()` with a [replica] section; the key file is written unless `key` is false. */
    function replicaConf(lines: string, key = true): string {
      const file = path.join(root, 'replica.key');
      if (key) fs.writeFileSync(file, 'ab'.repeat(32) + '\n', { mode: 0o600 });
      return conf({ edit: (t) => `${t}\n[replica]\nencryption_key_file = ${file}\n${lines}\n` });
    }
    const replica = (checks: Check[]) => checks.filter((c) => c.check === 'replica');

    it('directory backend: OK when the directory takes a file, naming the key id', async () => {
      fs.mkdirSync(path.join(root, 'replicas'));
      const r = await doctor(replicaConf(`backend = directory\npath = ${path.join(root, 'replicas')}`));
      assert.equal(r.code, 0, r.out);
      const [c] = replica(r.checks);
      assert.equal(c.status, 'OK', r.out);
      assert.match(c.message, /^directory .*\/replicas: .*\/replicas is writable \(\d+ ms\); key [0-9a-f]{16}$/);
      assert.deepEqual(fs.readdirSync(path.join(root, 'replicas')), [], 'the probe file is gone');
    });

    it('directory backend: WARN when missing but creatable, FAIL when its parent is missing, not a directory, or a file', async () => {
      const missing = await doctor(replicaConf(`backend = directory\npath = ${path.join(root, 'replicas')}`));
      assert.equal(missing.code, 0, missing.out);
      assert.deepEqual(
        replica(missing.checks).map((c) => [c.status, c.option]),
        [['WARN', '[replica] path']],
      );
      assert.match(
        replica(missing.checks)[0].message,
        /does not exist; the sidecar creates it at start \(if it should be on a shared filesystem, is that mounted\?\)/,
      );

      const deep = await doctor(replicaConf(`backend = directory\npath = ${path.join(root, 'nfs', 'replicas')}`));
      assert.equal(deep.code, 1);
      assert.deepEqual(
        failing(deep.checks).map((c) => [c.check, c.option]),
        [['replica', '[replica] path']],
      );
      assert.match(failing(deep.checks)[0].message, /nfs\/replicas does not exist and .*\/nfs takes no new directory/);

      fs.writeFileSync(path.join(root, 'file'), 'x');
      for (const p of [path.join(root, 'file'), path.join(root, 'file', 'replicas')]) {
        const r = await doctor(replicaConf(`backend = directory\npath = ${p}`));
        assert.equal(r.code, 1, r.out);
        assert.deepEqual(
          failing(r.checks).map((c) => [c.check, c.option]),
          [['replica', '[replica] path']],
        );
        assert.match(failing(r.checks)[0].message, /not a directory|ENOTDIR/);
      }
    });

    it('fails a missing key file, naming [replica] encryption_key_file', async () => {
      fs.mkdirSync(path.join(root, 'replicas'));
      const r = await doctor(replicaConf(`backend = directory\npath = ${path.join(root, 'replicas')}`, false));
      assert.equal(r.code, 1);
      assert.deepEqual(
        failing(r.checks).map((c) => [c.check, c.option]),
        [['replica', '[replica] encryption_key_file']],
      );
      assert.match(failing(r.checks)[0].message, /replica\.key: ENOENT: the sidecar refuses to start/);
    });

    it('s3 backend: FAIL naming [replica] endpoint when nothing listens there', async () => {
      const port = await freePort();
      const r = await doctor(replicaConf(`backend = s3\nendpoint = http://127.0.0.1:${port}\nbucket = b\naccess_key = a\nsecret_key = s\ntimeout = 3`));
      assert.equal(r.code, 1, r.out);
      assert.deepEqual(
        failing(r.checks).map((c) => [c.check, c.option]),
        [['replica', '[replica] endpoint']],
      );
      assert.match(
        failing(r.checks)[0].message,
        new RegExp(`^NVRAM replica store unavailable: HEAD bucket b at s3 http://127\\.0\\.0\\.1:${port}/b: .*ECONNREFUSED`),
      );
    });
  });

  it('exits 1 through the real entry point when a check fails, 0 when none does', function (done) {
    const bad = conf({ peers: `compute2=${peer.url},compute3=http://127.0.0.1:1` });
    execFile(process.execPath, ['--import', 'tsx', MAIN, 'doctor', '--config-file', bad], (err, stdout) => {
      assert.equal((err as { code?: number } | null)?.code, 1, stdout);
      assert.match(stdout, /^FAIL peer: compute3/m);
      const good = conf();
      execFile(process.execPath, ['--import', 'tsx', MAIN, 'doctor', '--config-file', good], (err2, stdout2) => {
        assert.equal(err2, null, stdout2);
        done();
      });
    });
  });
});
