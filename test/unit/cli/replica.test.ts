/**
 * cli/replica (`replica pin`, called as pinGeneration and through its command) on a real
 * directory replica store with a real key file: the pin is written into the signed index and
 * the next restore follows it; a generation that is no positive integer is a usage error
 * (exit 2) before anything is opened; a bad uuid, a missing or invalid config, a config
 * without replicas and a generation that does not exist are exit 1 with the reason on stderr.
 */
import { strict as assert } from 'node:assert';
import { randomBytes, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pinGeneration, replicaCommand } from '../../../src/cli/replica';
import { loadConfigFile } from '../../../src/config';
import { openReplicas } from '../../../src/replica';
import { tmpDir } from '../../support/firmwareFixture';

function io() {
  const o = { out: '', err: '' };
  return { o, io: { stdout: { write: (s: string) => (o.out += s) }, stderr: { write: (s: string) => (o.err += s) } } };
}

describe('cli/replica', () => {
  let root: string;
  let conf: string;
  let uuid: string;
  const store = (s: string) => Buffer.from(s.padEnd(8192, '\xff'), 'latin1');

  beforeEach(async () => {
    root = tmpDir('nus-clipin-');
    const key = path.join(root, 'replica.key');
    fs.writeFileSync(key, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
    conf = path.join(root, 'shim.conf');
    fs.writeFileSync(conf, `[DEFAULT]\nhost = compute1\n[replica]\nbackend = directory\npath = ${root}/replicas\nencryption_key_file = ${key}\n`);
    const log = openReplicas(loadConfigFile(conf))!;
    await log.store.init();
    uuid = randomUUID();
    await log.write({ uuid, store: store('older'), firmware: null, reason: 'stop', base: 0 });
    await log.write({ uuid, store: store('newest'), firmware: null, reason: 'stop', base: 1 });
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('pins an older generation: exit 0, a line saying what was pinned, and the next restore reads it', async () => {
    const { o, io: cio } = io();
    assert.equal(await pinGeneration({ configFile: conf, instance: uuid, generation: '1' }, cio), 0);
    assert.match(o.out, new RegExp(`^pinned generation 1 of ${uuid} \\(written \\S+ by compute1; newest 2\\): its next unshelve or evacuate restores it\\n$`));
    assert.equal(o.err, '');
    const r = await openReplicas(loadConfigFile(conf))!.newest(uuid);
    assert.equal(r?.entry.generation, 1);
    assert.ok(r?.store.equals(store('older')));
  });

  for (const g of ['0', '-1', '1.5', 'x', '9007199254740993'])
    it(`--generation ${g} is a usage error (exit 2) and nothing is pinned`, async () => {
      const { o, io: cio } = io();
      assert.equal(await pinGeneration({ configFile: '/nonexistent.conf', instance: uuid, generation: g }, cio), 2);
      assert.equal(o.err, 'nova-uefi-shim replica pin: --generation: must be a positive integer\n');
    });

  it('exit 1 with the reason: a bad uuid, a missing config, no replicas configured, an unknown generation', async () => {
    const none = path.join(root, 'none.conf');
    fs.writeFileSync(none, '[DEFAULT]\nhost = compute1\n');
    const cases: [Record<string, string>, RegExp][] = [
      [{ configFile: conf, instance: 'not-a-uuid', generation: '1' }, /uuid/i],
      [{ configFile: path.join(root, 'missing.conf'), instance: uuid, generation: '1' }, /--config-file .*missing\.conf/],
      [{ configFile: none, instance: uuid, generation: '1' }, /none\.conf: \[replica\] backend = none: there are no replicas to pin/],
      [{ configFile: conf, instance: uuid, generation: '7' }, /generation 7/],
    ];
    for (const [o, want] of cases) {
      const { o: got, io: cio } = io();
      assert.equal(await pinGeneration(o as never, cio), 1, JSON.stringify(o));
      assert.match(got.err, /^nova-uefi-shim replica pin: /);
      assert.match(got.err, want);
      assert.equal(got.out, '');
    }
    assert.equal((await openReplicas(loadConfigFile(conf))!.newest(uuid))?.entry.generation, 2, 'nothing was pinned');
  });

  it('the command requires its three options and sets the exit code from the pin', async () => {
    const { io: cio } = io();
    const out = { code: -1 };
    const cmd = replicaCommand(cio, out).exitOverride();
    cmd.commands.forEach((c) => c.exitOverride().configureOutput({ writeErr: () => undefined }));
    await assert.rejects(cmd.parseAsync(['pin', '--config-file', conf, '--instance', uuid], { from: 'user' }), /required option '--generation <N>'/);
    await cmd.parseAsync(['pin', '--config-file', conf, '--instance', uuid, '--generation', '1'], { from: 'user' });
    assert.equal(out.code, 0);
  });
});
