/**
 * server: what is loopback; the refusals before anything listens (another address without a
 * token, a key file others may read, a directory that cannot be made, a port in use), each a
 * StartupError naming the option to set; and a sidecar that starts on loopback in a temporary
 * root, creates its directories, serves /healthz and stops.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { testConfig } from '../../src/config';
import { isLoopback, startSidecar, StartupError } from '../../src/server';
import { memoryLogger } from '../../src/util/log';
import { firmwareTree, tmpDir } from '../support/firmwareFixture';

describe('server', () => {
  let root: string;
  beforeEach(() => (root = tmpDir('nus-server-')));
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('isLoopback: 127.0.0.0/8, ::1 and localhost only', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', 'localhost']) assert.equal(isLoopback(h), true, h);
    for (const h of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', 'compute1', 'localhost.example']) assert.equal(isLoopback(h), false, h);
  });

  function config(over: Partial<Record<string, Record<string, unknown>>> = {}) {
    const tree = firmwareTree(path.join(root, 'fw'));
    const descriptors = path.join(root, 'descriptors');
    fs.mkdirSync(descriptors, { recursive: true });
    const base: Partial<Record<string, Record<string, unknown>>> = {
      DEFAULT: { host: 'compute1' },
      api: { host: '127.0.0.1', port: 0 },
      hypervisor: { backend: 'embedded', state_dir: path.join(root, 'state') },
      nvram: { nvram_dir: path.join(root, 'nvram') },
      libvirt: { hw_machine_type: { x86_64: 'q35' } },
      firmware: { descriptor_dirs: [descriptors] },
      ...tree.map,
    };
    for (const [k, v] of Object.entries(over)) base[k] = { ...(base[k] ?? {}), ...v };
    return testConfig(base);
  }
  const startup = (msg: RegExp) => (e: unknown) => {
    assert.ok(e instanceof StartupError, String(e));
    assert.match(e.message, msg);
    return true;
  };

  it('starts on loopback without a token, creates its directories, serves /healthz and stops', async () => {
    const sc = await startSidecar(config(), { log: memoryLogger(), hostArch: 'x86_64' });
    try {
      await sc.recovered;
      assert.ok(sc.port > 0);
      assert.equal(sc.url, `http://127.0.0.1:${sc.port}`);
      assert.ok(fs.statSync(path.join(root, 'nvram')).isDirectory());
      assert.ok(fs.statSync(path.join(root, 'state')).isDirectory());
      const r = await fetch(`${sc.url}/healthz`);
      assert.deepEqual(await r.json(), { status: 'ok', host: 'compute1', backend: 'embedded' });
    } finally {
      await sc.close();
    }
  });

  it('refuses to listen beyond loopback without a token, naming [api] auth_token', async () => {
    await assert.rejects(
      startSidecar(config({ api: { host: '0.0.0.0' } }), { log: memoryLogger(), hostArch: 'x86_64' }),
      startup(/refusing to listen on 0\.0\.0\.0 without authentication: set \[api\] auth_token/),
    );
  });

  it('refuses a key file others may read (the replica encryption key at 0644)', async () => {
    const key2 = path.join(root, 'replica.key');
    fs.writeFileSync(key2, 'ab'.repeat(32), { mode: 0o644 });
    fs.chmodSync(key2, 0o644);
    await assert.rejects(
      startSidecar(config({ replica: { backend: 'directory', path: path.join(root, 'replicas'), encryption_key_file: key2 } }), {
        log: memoryLogger(),
        hostArch: 'x86_64',
      }),
      startup(/refusing key files others may read/),
    );
  });

  it('refuses an NVRAM directory it cannot make, naming [nvram] nvram_dir', async () => {
    fs.writeFileSync(path.join(root, 'file'), 'x');
    await assert.rejects(
      startSidecar(config({ nvram: { nvram_dir: path.join(root, 'file', 'nvram') } }), { log: memoryLogger(), hostArch: 'x86_64' }),
      startup(/cannot write to .*file\/nvram .*set \[nvram\] nvram_dir to a writable directory/),
    );
  });

  it('a port in use is a StartupError naming [api] port', async () => {
    const busy = net.createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const port = (busy.address() as net.AddressInfo).port;
    try {
      await assert.rejects(
        startSidecar(config({ api: { port } }), { log: memoryLogger(), hostArch: 'x86_64' }),
        startup(new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: .*; set \\[api\\] port`)),
      );
    } finally {
      await new Promise<void>((r) => busy.close(() => r()));
    }
  });
});
