/**
 * The online CLI (`nova-uefi-shim instance|rotation|replicas ...`) against running sidecars on
 * loopback: every command once with text and once with --json, the connection settings from
 * flags, the environment and a config file, the exit codes (3 not found, 1 refused, 4 not
 * authorized, 5 unreachable, 2 usage), progress on stderr for a restore and a rotation, and
 * orphaned replicas: a destroy without Nova's task state is recorded, seen as an orphan by
 * every sidecar sharing the replica store, pruned only with --yes; live, shelved and
 * elsewhere-living instances are kept.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runCli } from '../../src/cli/program';
import { startTestSidecar, instance, TOKEN, UEFI_Q35, type TestSidecar } from '../support/sidecar';
import { driverFirmware } from '../support/driverHarness';
import { tmpDir } from '../support/firmwareFixture';
import { OWNER, testCert } from '../support/sbKeys';
import { closedPort } from '../support/loopback';

interface Run {
  code: number;
  out: string;
  err: string;
}

describe('the online CLI against running sidecars', function () {
  this.timeout(120000);
  let A: TestSidecar;
  let B: TestSidecar;
  let root: string;

  before(async () => {
    root = tmpDir('nus-cli-online-');
    const key = path.join(root, 'replica.key');
    fs.writeFileSync(key, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
    const replica = { backend: 'directory', path: path.join(root, 'replicas'), encryption_key_file: key };
    const fw = driverFirmware(path.join(root, 'fw'));
    const lab = {
      'secure_boot_keyset:lab': { pk: testCert('online-pk').crt, kek: [testCert('online-kek').crt], db: [testCert('online-db').crt], owner_guid: OWNER },
    };
    A = await startTestSidecar({ ...fw.map, ...lab, replica });
    B = await startTestSidecar({ ...fw.map, DEFAULT: { host: 'compute2' }, replica });
  });
  after(async () => {
    await A?.stop();
    await B?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  /** Run the CLI in-process against `sc` (flags), with an empty environment unless given. */
  async function cli(sc: TestSidecar | null, argv: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
    let out = '';
    let err = '';
    const conn = sc ? ['--url', sc.url, '--token', TOKEN] : [];
    const r = await runCli(
      [...argv, ...conn],
      { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } },
      { env, pollMs: 20 },
    );
    assert.ok('exit' in r);
    return { code: r.exit, out, err };
  }
  const ok = (r: Run) => {
    assert.equal(r.code, 0, r.err);
    return r;
  };
  const data = <T>(r: Run): T => JSON.parse(ok(r).out) as T;

  async function spawned(sc: TestSidecar, powerOn: boolean, image: object = UEFI_Q35, extra: Record<string, unknown> = {}) {
    const inst = instance({ host: sc.config.DEFAULT.host, ...extra });
    const r = await sc.http.post(`/v1/instances/${inst.uuid}/spawn`, { instance: inst, image_meta: image, power_on: powerOn });
    assert.equal(r.status, 200, JSON.stringify(r.data));
    await sc.driver.core.deps.replicas!.idle();
    return inst;
  }

  it('--version prints the package version', async () => {
    const r = await cli(null, ['--version']);
    assert.equal(r.code, 0);
    assert.equal(r.out.trim(), (JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version);
  });

  it('instance list and show: text and --json; an unknown instance exits 3', async () => {
    const inst = await spawned(A, true);
    const list = ok(await cli(A, ['instance', 'list']));
    assert.match(list.out, /^UUID +NAME +POWER\n/);
    assert.match(list.out, new RegExp(`^${inst.uuid} +instance-[0-9a-f]{8} +running$`, 'm'));
    const j = data<{ instances: { uuid: string }[] }>(await cli(A, ['instance', 'list', '--json']));
    assert.ok(j.instances.some((i) => i.uuid === inst.uuid));
    const show = ok(await cli(A, ['instance', 'show', inst.uuid]));
    assert.match(show.out, /^power state: running$/m);
    assert.match(show.out, /^variable store: .*_VARS\.fd \(540672 bytes, sha256 [0-9a-f]{64}\)$/m);
    assert.equal(data<{ instance_uuid: string }>(await cli(A, ['instance', 'show', inst.uuid, '--json'])).instance_uuid, inst.uuid);
    const gone = await cli(A, ['instance', 'show', '00000000-0000-4000-8000-000000000000']);
    assert.equal(gone.code, 3);
    assert.match(gone.err, /^instance show: InstanceNotFound: /);
    assert.equal(gone.out, '');
  });

  it('instance variables / get / set / unset, as incus config uefi; a running guest is refused (exit 1)', async () => {
    const off = await spawned(A, false);
    ok(await cli(A, ['instance', 'set', off.uuid, 'Timeout=0500', '--attr', '7']));
    assert.equal(ok(await cli(A, ['instance', 'get', off.uuid, 'Timeout'])).out, '0500\n');
    const vars = ok(await cli(A, ['instance', 'variables', off.uuid]));
    assert.match(vars.out, /^Timeout +8be4df61-93ca-11d2-aa0d-00e098032b8c +NV,BS,RT +2 +5$/m);
    ok(await cli(A, ['instance', 'set', off.uuid, 'Timeout=0300', '--guid', '8BE4DF61-93CA-11D2-AA0D-00E098032B8C']));
    assert.equal(data<{ attr: number; data: string }>(await cli(A, ['instance', 'get', off.uuid, 'Timeout', '--json'])).data, '0300');
    const v2 = data<{ version: number }>(await cli(A, ['instance', 'variables', off.uuid, '--v2']));
    assert.equal(v2.version, 2);
    ok(await cli(A, ['instance', 'unset', off.uuid, 'Timeout']));
    assert.equal((await cli(A, ['instance', 'get', off.uuid, 'Timeout'])).code, 3);
    const on = await spawned(A, true);
    const refused = await cli(A, ['instance', 'set', on.uuid, 'Timeout=0100', '--attr', '7']);
    assert.equal(refused.code, 1);
    assert.match(refused.err, /^instance set: InstanceInvalidState: .*in power_state running/);
    const bad = await cli(A, ['instance', 'set', off.uuid, 'Timeout=xyz']);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /'Timeout=xyz' is not NAME=HEX/);
  });

  it('instance secure-boot and enroll (a key set; --queue for a running guest)', async () => {
    const SECURE = { properties: { hw_firmware_type: 'uefi', hw_machine_type: 'q35', os_secure_boot: 'required' } };
    const off = await spawned(A, false, SECURE);
    const e = ok(await cli(A, ['instance', 'enroll', off.uuid, '--keyset', 'lab']));
    assert.match(e.out, /^key set lab enrolled\nSecure Boot: enabled\nkey set: lab\nPK: CN=online-pk$/m);
    assert.match(ok(await cli(A, ['instance', 'show', off.uuid])).out, /^firmware: .*OVMF_CODE_4M\.secboot\.fd \(Secure Boot\)$/m);
    const sb = data<{ keyset: string; kek: { certificates: string[] } }>(await cli(A, ['instance', 'secure-boot', off.uuid, '--json']));
    assert.deepEqual([sb.keyset, sb.kek.certificates], ['lab', ['CN=online-kek']]);
    assert.match(ok(await cli(A, ['instance', 'secure-boot', off.uuid])).out, /^db: CN=online-db$/m);
    const on = await spawned(A, true, SECURE);
    assert.equal((await cli(A, ['instance', 'enroll', on.uuid, '--keyset', 'lab'])).code, 1);
    assert.match(ok(await cli(A, ['instance', 'enroll', on.uuid, '--keyset', 'lab', '--queue'])).out, /queued for the next cold boot/);
    const unknown = await cli(A, ['instance', 'enroll', off.uuid, '--keyset', 'nope']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.err, /InvalidInput/);
  });

  it('instance backup, backups and restore, with progress on stderr', async () => {
    const off = await spawned(A, false);
    const first = data<{ backup: { generation: number; sha256: string } }>(await cli(A, ['instance', 'backup', off.uuid, '--json']));
    ok(await cli(A, ['instance', 'set', off.uuid, 'Timeout=0900', '--attr', '7']));
    ok(await cli(A, ['instance', 'backup', off.uuid]));
    const list = ok(await cli(A, ['instance', 'backups', off.uuid]));
    assert.match(list.out, /^GENERATION +TIME +REASON +HOST +BYTES +SHA256\n/);
    assert.match(list.out, new RegExp(`^${first.backup.generation} +\\S+ +manual +compute1 +540672 `, 'm'));
    const r = ok(await cli(A, ['instance', 'restore', off.uuid, String(first.backup.generation)]));
    assert.match(r.err, new RegExp(`^restoring generation ${first.backup.generation} of ${off.uuid}: reading and verifying it\\.\\.\\.\\nrestored: `));
    assert.match(r.out, new RegExp(`generation ${first.backup.generation} \\(sha256 ${first.backup.sha256}\\)`));
    assert.equal((await cli(A, ['instance', 'get', off.uuid, 'Timeout'])).code, 3, 'the restored store predates the variable');
    const missing = await cli(A, ['instance', 'restore', off.uuid, '999']);
    assert.equal(missing.code, 3);
  });

  it('rotation start follows the rotation on stderr; rotation list and show', async () => {
    const SECURE = { properties: { hw_firmware_type: 'uefi', hw_machine_type: 'q35', os_secure_boot: 'required' } };
    const inst = await spawned(A, false, SECURE);
    // A fresh store is in setup mode (no PK): a rotation skips it unless asked.
    const r = ok(
      await cli(A, ['rotation', 'start', '--id', 'cli-rot', '--keyset', 'lab', '--databases', 'db', '--instance', inst.uuid, '--include-setup-mode']),
    );
    assert.match(r.err, /^rotation cli-rot: (running|done), \d\/1 instances/);
    assert.match(r.out, /^rotation cli-rot: done, 1\/1 instances \(1 applied\)\n$/);
    assert.match(ok(await cli(A, ['rotation', 'list'])).out, /^rotation cli-rot: done/m);
    const show = ok(await cli(A, ['rotation', 'show', 'cli-rot']));
    assert.match(show.out, new RegExp(`^${inst.uuid} +applied`, 'm'));
    assert.match(ok(await cli(A, ['instance', 'secure-boot', inst.uuid])).out, /^db: CN=online-db$/m);
    assert.equal(data<{ rotation_id: string }>(await cli(A, ['rotation', 'show', 'cli-rot', '--json'])).rotation_id, 'cli-rot');
    assert.equal((await cli(A, ['rotation', 'show', 'nope'])).code, 3);
    const usage = await cli(A, ['rotation', 'start', '--keyset', 'lab']);
    assert.equal(usage.code, 2);
    assert.match(usage.err, /exactly one of --all, --instance/);
  });

  describe('replicas list and prune', () => {
    it('lists an instance destroyed without task state as orphaned on every sidecar sharing the store, and prunes it only with --yes', async () => {
      const gone = await spawned(B, false);
      const lives = await spawned(B, false);
      // Destroyed on B without Nova's task state (an operator's call): B records a tombstone.
      assert.equal((await B.http.post(`/v1/instances/${gone.uuid}/destroy`, { instance: gone })).status, 200);
      for (const sc of [A, B]) {
        const l = data<{
          orphans: { instance_uuid: string; owner: string; why: string; generations: number[] }[];
          kept: { instance_uuid: string; why: string }[];
        }>(await cli(sc, ['replicas', 'list', '--json']));
        const o = l.orphans.find((x) => x.instance_uuid === gone.uuid);
        assert.ok(o, `${sc.config.DEFAULT.host}: ${JSON.stringify(l)}`);
        assert.equal(o.owner, 'compute2');
        assert.match(o.why, /destroyed on compute2 at .* without Nova's task state/);
        assert.ok(o.generations.length >= 1);
        assert.ok(!l.orphans.some((x) => x.instance_uuid === lives.uuid), 'an instance living on B is no orphan');
      }
      const onA = data<{ kept: { instance_uuid: string; why: string }[] }>(await cli(A, ['replicas', 'list', '--json']));
      assert.match(onA.kept.find((k) => k.instance_uuid === lives.uuid)!.why, /no record on this host and no tombstone: it may live on compute2/);
      const text = ok(await cli(A, ['replicas', 'list', '--all']));
      assert.match(text.out, new RegExp(`^${gone.uuid} +\\d[\\d,]* +\\d+ +compute2 +destroyed on compute2`, 'm'));
      assert.match(text.out, /^kept:\n/m);

      const dry = ok(await cli(A, ['replicas', 'prune', gone.uuid]));
      assert.match(dry.out, /^dry run: 1 orphaned instance\(s\) would be removed/);
      const still = data<{ orphans: { instance_uuid: string }[] }>(await cli(A, ['replicas', 'list', '--json']));
      assert.ok(
        still.orphans.some((x) => x.instance_uuid === gone.uuid),
        'a dry run removes nothing',
      );

      const notOrphan = await cli(A, ['replicas', 'prune', lives.uuid, '--yes']);
      assert.equal(notOrphan.code, 1);
      assert.match(notOrphan.err, /not orphaned: /);

      const yes = ok(await cli(A, ['replicas', 'prune', '--yes']));
      assert.match(yes.err, /^removing orphaned replicas\.\.\.$/m);
      assert.match(yes.out, /^removed 1 orphaned instance\(s\), \d+ objects/);
      assert.ok(
        A.lines.some((l) => l.msg === 'orphaned replicas removed' && l.instance_uuid === gone.uuid),
        'the removal is logged',
      );
      const after = data<{ orphans: unknown[]; kept: { instance_uuid: string }[] }>(await cli(B, ['replicas', 'list', '--json']));
      assert.deepEqual(after.orphans, []);
      assert.ok(!after.kept.some((k) => k.instance_uuid === gone.uuid), 'nothing of it is left in the store');
      assert.equal((await B.http.get(`/v1/instances/${lives.uuid}/nvram/backups`)).data.backups.length >= 1, true, 'the living instance keeps its replicas');
    });

    it("keeps a shelved instance, a Nova delete's replicas go by themselves, and a kept store leaves no tombstone", async () => {
      const shelved = await spawned(A, false);
      assert.equal((await A.http.post(`/v1/instances/${shelved.uuid}/destroy`, { instance: { ...shelved, task_state: 'shelving_offloading' } })).status, 200);
      const deleted = await spawned(A, false);
      assert.equal((await A.http.post(`/v1/instances/${deleted.uuid}/destroy`, { instance: { ...deleted, task_state: 'deleting' } })).status, 200);
      const kept = await spawned(A, false);
      assert.equal((await A.http.post(`/v1/instances/${kept.uuid}/destroy`, { instance: kept, destroy_disks: false })).status, 200);
      const l = data<{ orphans: { instance_uuid: string }[]; kept: { instance_uuid: string; why: string }[] }>(await cli(A, ['replicas', 'list', '--json']));
      const ids = l.orphans.map((o) => o.instance_uuid);
      for (const i of [shelved, deleted, kept]) assert.ok(!ids.includes(i.uuid), JSON.stringify(l));
      assert.match(l.kept.find((k) => k.instance_uuid === shelved.uuid)!.why, /^shelved \(generation \d+ by compute1\)/);
      assert.ok(!l.kept.some((k) => k.instance_uuid === deleted.uuid), 'a Nova delete removed its replicas');
      assert.match(l.kept.find((k) => k.instance_uuid === kept.uuid)!.why, /this host has a record of it \(deleted-kept\)/);
    });
  });

  describe('connection settings and exit codes', () => {
    it('takes the URL and token from the environment', async () => {
      const r = await cli(null, ['instance', 'list', '--json'], { NOVA_UEFI_SHIM_URL: A.url, NOVA_UEFI_SHIM_TOKEN: TOKEN });
      assert.equal(r.code, 0, r.err);
    });

    it('takes them from a config file ([api] host, port, auth_token)', async () => {
      const conf = path.join(root, 'client.conf');
      fs.writeFileSync(conf, `[api]\nhost = 127.0.0.1\nport = ${A.port}\nauth_token = ${TOKEN}\n`);
      assert.equal((await cli(null, ['instance', 'list', '--config-file', conf])).code, 0);
      assert.equal((await cli(null, ['instance', 'list'], { NOVA_UEFI_SHIM_CONFIG: conf })).code, 0);
      const broken = await cli(null, ['instance', 'list', '--config-file', path.join(root, 'nope.conf')]);
      assert.equal(broken.code, 2);
    });

    it('exits 4 for a wrong or missing token, naming where to give it', async () => {
      for (const token of ['wrong', '']) {
        const r = await cli(null, ['instance', 'list', '--url', A.url, '--token', token]);
        assert.equal(r.code, 4, r.err);
        assert.match(r.err, /^instance list: NotAuthorized: .*\(give the sidecar's \[api\] auth_token with --token/);
      }
    });

    it('exits 5 when no sidecar answers, naming the URL and where it came from', async () => {
      const url = `http://127.0.0.1:${await closedPort()}`;
      const r = await cli(null, ['replicas', 'list'], { NOVA_UEFI_SHIM_URL: url });
      assert.equal(r.code, 5);
      assert.equal(r.err, `replicas list: cannot reach the sidecar at ${url} (from NOVA_UEFI_SHIM_URL): ECONNREFUSED\n`);
    });

    it('exits 2 for usage problems before anything is sent', async () => {
      for (const argv of [
        ['instance', 'show', 'not-a-uuid'],
        ['instance', 'show'],
        ['instance', 'frob'],
        ['replicas', 'prune', '--nope'],
      ]) {
        const r = await cli(null, argv, { NOVA_UEFI_SHIM_URL: 'http://127.0.0.1:9' });
        assert.equal(r.code, 2, `${argv.join(' ')}: ${r.err}`);
        assert.equal(r.err.split('\n').length, 2, r.err);
      }
    });
  });
});
