/**
 * cli/online's commands (onlineCommands) against the app on loopback over an in-memory host
 * with replicas: what each command asks the sidecar and prints (text, --json), what it changes
 * (a variable set then read back), and the exit code of its failures (3 not found, 2 usage,
 * 1 refused). test/integration/cli.online.test.ts runs every command against real sidecars.
 */
import { strict as assert } from 'node:assert';
import { Command } from 'commander';
import { createApp } from '../../../src/api/app';
import { CliError, EXIT } from '../../../src/cli/client';
import { UsageError } from '../../../src/cli/args';
import { onlineCommands } from '../../../src/cli/online';
import { listenLoopback, type Loopback } from '../../support/loopback';
import { MemoryReplicaStore } from '../../support/memoryReplicaStore';
import { domainName, makeWorld, newInstance, UEFI, type Host, type Inst, type World } from '../../support/driverHarness';

const TOKEN = 'online-cli-token-0123456789';

describe('cli/online', () => {
  let w: World;
  let A: Host;
  let srv: Loopback;
  let url: string;
  let i: Inst;

  beforeEach(async () => {
    w = await makeWorld({ replicaStore: new MemoryReplicaStore() });
    [A] = w.hosts;
    const app = createApp({
      driver: A.driver,
      log: A.log,
      settings: () => ({ auth_token: TOKEN, metrics_open: false }),
      host: 'compute1',
      backend: 'embedded',
    });
    srv = await listenLoopback(app);
    url = srv.base;
    i = newInstance();
    await A.driver.spawn(i.uuid, { instance: i, image_meta: UEFI });
    await A.replicas!.idle();
  });
  afterEach(async () => {
    await srv.close();
    w.cleanup();
  });

  /** Run one online command line; the exit code the kit left, what was printed, or the error thrown. */
  async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string; error?: unknown }> {
    const o = { out: '', err: '' };
    const out = { code: -1 };
    const io = { stdout: { write: (s: string) => (o.out += s) }, stderr: { write: (s: string) => (o.err += s) } };
    const program = new Command('nova-uefi-shim').exitOverride().configureOutput({ writeErr: () => undefined });
    for (const c of onlineCommands(io, out, { env: { NOVA_UEFI_SHIM_URL: url, NOVA_UEFI_SHIM_TOKEN: TOKEN } })) program.addCommand(c);
    try {
      await program.parseAsync(argv, { from: 'user' });
      return { code: out.code, ...o };
    } catch (error) {
      return { code: out.code, ...o, error };
    }
  }
  const failed = (r: { error?: unknown }, exit: number, msg: RegExp) => {
    assert.ok(r.error instanceof CliError, String(r.error));
    assert.equal(r.error.exit, exit);
    assert.match(r.error.message, msg);
  };

  it('instance list: a table of the instances with their power state; --json the answer as it came', async () => {
    const t = await cli('instance', 'list');
    assert.equal(t.code, EXIT.OK);
    const lines = t.out.trimEnd().split('\n');
    assert.match(lines[0], /^UUID\s+NAME\s+POWER$/);
    assert.equal(lines.length, 2);
    assert.match(lines[1], new RegExp(`^${i.uuid}\\s+${domainName(i)}\\s+running$`));
    const j = JSON.parse((await cli('instance', 'list', '--json')).out) as { instances: { uuid: string; power_state: number }[] };
    assert.deepEqual(
      j.instances.map((x) => [x.uuid, x.power_state]),
      [[i.uuid, 1]],
    );
  });

  it('instance show: name, power state, firmware, store and its replica state', async () => {
    const r = await cli('instance', 'show', i.uuid.toUpperCase());
    assert.equal(r.code, 0);
    assert.match(r.out, new RegExp(`^instance: ${i.uuid}\\nname: ${domainName(i)}\\npower state: running\\n`));
    assert.match(r.out, /^firmware: \S+/m);
    assert.match(r.out, /^variable store: \S+_VARS\.fd \(\d+ bytes, sha256 [0-9a-f]{64}\)$/m);
    assert.match(r.out, /^replicas: current, generation 1$/m);
  });

  it('instance set then get: the value written is read back; a running guest refuses (exit 1)', async () => {
    const running = await cli('instance', 'set', i.uuid, 'Timeout=0500', '--guid', 'EfiGlobalVariable');
    failed(running, EXIT.REFUSED, /^InstanceInvalidState: /);
    await A.driver.powerOff(i.uuid, { instance: i });
    const set = await cli('instance', 'set', i.uuid, 'Timeout=0500', '--guid', 'EfiGlobalVariable');
    assert.equal(set.code, 0, String(set.error));
    assert.match(set.out, /^Timeout set \(2 bytes\); store sha256 [0-9a-f]{64}\n$/);
    const get = await cli('instance', 'get', i.uuid, 'Timeout', '--guid', 'EfiGlobalVariable');
    assert.equal(get.out, '0500\n');
    const unset = await cli('instance', 'unset', i.uuid, 'Timeout', '--guid', 'EfiGlobalVariable');
    assert.match(unset.out, /^Timeout deleted; store sha256 /);
    failed(
      await cli('instance', 'get', i.uuid, 'Timeout', '--guid', 'EfiGlobalVariable'),
      EXIT.NOT_FOUND,
      new RegExp(`instance ${i.uuid} has no variable Timeout`),
    );
  });

  it('usage problems throw before anything is sent: a bad uuid, NAME=HEX, --attr', async () => {
    const calls = () => A.log.lines.filter((l) => l.msg === 'request').length;
    const before = calls();
    for (const argv of [
      ['instance', 'show', 'instance-1'],
      ['instance', 'set', i.uuid, 'Timeout=5', '--guid', 'EfiGlobalVariable'],
      ['instance', 'set', i.uuid, 'Timeout=05', '--guid', 'EfiGlobalVariable', '--attr', '300'],
    ]) {
      const r = await cli(...argv);
      assert.ok(r.error instanceof UsageError || (r.error as { code?: string })?.code === 'commander.invalidArgument', `${argv.join(' ')}: ${String(r.error)}`);
      assert.notEqual(r.code, 0);
    }
    assert.equal(calls(), before, 'no request reached the sidecar');
  });

  it('an unknown instance is exit 3 (not found)', async () => {
    failed(await cli('instance', 'show', newInstance().uuid), EXIT.NOT_FOUND, /^InstanceNotFound: /);
  });

  it('instance backup then backups: a generation written now is listed first', async () => {
    const b = await cli('instance', 'backup', i.uuid, '--json');
    assert.equal(b.code, 0, String(b.error));
    assert.equal((JSON.parse(b.out) as { backup: { generation: number } }).backup.generation, 2);
    const l = JSON.parse((await cli('instance', 'backups', i.uuid, '--json')).out) as { backups: { generation: number; reason: string }[] };
    assert.deepEqual(
      l.backups.map((x) => `${x.generation}.${x.reason}`),
      ['2.manual', '1.spawn'],
    );
  });

  it('replicas prune is a dry run without --yes and removes the orphan with it', async () => {
    const j = newInstance();
    await A.driver.spawn(j.uuid, { instance: j, image_meta: UEFI });
    await A.replicas!.idle();
    await A.driver.destroy(j.uuid, { instance: j, destroy_disks: true });
    await A.replicas!.idle();
    const dry = await cli('replicas', 'prune');
    assert.equal(dry.code, 0, String(dry.error));
    assert.match(dry.out, /^dry run: 1 orphaned instance\(s\) would be removed \(again with --yes to remove them\)\n/);
    assert.match(dry.out, new RegExp(`^${j.uuid}\\s+1\\s+1\\s+destroyed on compute1`, 'm'));
    assert.deepEqual((await A.replicas!.instances()).sort(), [i.uuid, j.uuid].sort());
    const yes = await cli('replicas', 'prune', '--yes');
    assert.match(yes.out, /^removed 1 orphaned instance\(s\), \d+ objects\n/);
    assert.match(yes.err, /removing orphaned replicas\.\.\./);
    assert.deepEqual(await A.replicas!.instances(), [i.uuid]);
  });
});
