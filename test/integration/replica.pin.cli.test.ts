/**
 * `nova-uefi-shim replica pin`: the operator's explicit choice of an older generation, on a
 * real directory replica store with a real key file; the restore that follows uses it, and
 * nothing else makes a restore go backwards.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { runCli, type CliOutcome } from '../../src/cli/program';
import { loadConfigFile } from '../../src/config';
import { openReplicas, ReplicaCorrupt } from '../../src/replica';
import { tmpDir } from '../support/firmwareFixture';

async function run(...argv: string[]): Promise<{ r: CliOutcome; out: string; err: string }> {
  let out = '';
  let err = '';
  const r = await runCli(argv, { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } });
  return { r, out, err };
}

describe('nova-uefi-shim replica pin', function () {
  this.timeout(20_000);
  it('pins an older generation for the next restore when the newest is corrupt', async () => {
    const root = tmpDir('nus-pin-');
    try {
      const key = path.join(root, 'replica.key');
      fs.writeFileSync(key, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
      const conf = path.join(root, 'shim.conf');
      fs.writeFileSync(conf, `[DEFAULT]\nhost = compute1\n[replica]\nbackend = directory\npath = ${root}/replicas\nencryption_key_file = ${key}\n`);
      const log = openReplicas(loadConfigFile(conf))!;
      await log.store.init();
      const uuid = randomUUID();
      const store = (s: string) => Buffer.from(s.padEnd(8192, '\xff'), 'latin1');
      await log.write({ uuid, store: store('older'), firmware: null, reason: 'stop', base: 0 });
      const w2 = await log.write({ uuid, store: store('newest'), firmware: null, reason: 'shelve', base: 1 });
      const file = path.join(root, 'replicas', 'nvram', uuid, 'gen', fs.readdirSync(path.join(root, 'replicas', 'nvram', uuid, 'gen'))[1]);
      const bytes = fs.readFileSync(file);
      bytes[bytes.length - 20] ^= 1;
      fs.writeFileSync(file, bytes);
      await assert.rejects(log.newest(uuid), (e: Error) => e instanceof ReplicaCorrupt && new RegExp(`newest generation ${w2.generation}`).test(e.message));

      const bad = await run('replica', 'pin', '--config-file', conf, '--instance', uuid, '--generation', '7');
      assert.deepEqual(bad.r, { exit: 1 });
      assert.match(bad.err, /no replica generation 7/);
      const usage = await run('replica', 'pin', '--config-file', conf, '--instance', uuid, '--generation', 'x');
      assert.deepEqual(usage.r, { exit: 2 });

      const ok = await run('replica', 'pin', '--config-file', conf, '--instance', uuid, '--generation', '1');
      assert.deepEqual(ok.r, { exit: 0 }, ok.err);
      assert.match(ok.out, /pinned generation 1 of .* newest 2/);
      const r = await log.newest(uuid);
      assert.equal(r?.entry.generation, 1);
      assert.ok(r?.store.equals(store('older')));
      assert.match(r?.pinned?.by ?? '', /^nova-uefi-shim replica pin on /);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
