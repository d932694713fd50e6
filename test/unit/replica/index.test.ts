/**
 * replica (index): `[replica] backend` picks the store, and `openReplicas` builds the
 * generation log over it with this host's keys, prefix and retention — or nothing for `none`.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { testConfig } from '../../../src/config';
import { ReplicaLog, openReplicas, replicaStoreFor } from '../../../src/replica';
import { DirectoryReplicaStore } from '../../../src/replica/directory';
import { S3ReplicaStore } from '../../../src/replica/s3';
import { MemoryReplicaStore } from '../../support/memoryReplicaStore';

const UUID = '0b7c6f1e-3a2d-4e5f-8a9b-0c1d2e3f4a5b';

describe('replica (index)', () => {
  let dir: string;
  let keyFile: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nus-replica-index-'));
    keyFile = path.join(dir, 'replica.key');
    fs.writeFileSync(keyFile, `${'3c'.repeat(32)}\n`, { mode: 0o600 });
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('backend none: no store and no log', () => {
    const c = testConfig();
    assert.equal(c.replica.backend, 'none');
    assert.equal(replicaStoreFor(c), null);
    assert.equal(openReplicas(c), null);
  });

  it('backend directory: a directory store at [replica] path', () => {
    const c = testConfig({ replica: { backend: 'directory', path: path.join(dir, 'r'), encryption_key_file: keyFile } });
    const s = replicaStoreFor(c);
    assert.ok(s instanceof DirectoryReplicaStore);
    assert.equal(s.describe(), `directory ${path.join(dir, 'r')}`);
  });

  it('backend s3: an S3 store at the endpoint and bucket', () => {
    const c = testConfig({
      replica: { backend: 's3', endpoint: 'http://127.0.0.1:9', bucket: 'nv', access_key: 'a', secret_key: 's', encryption_key_file: keyFile },
    });
    const s = replicaStoreFor(c);
    assert.ok(s instanceof S3ReplicaStore);
    assert.equal(s.describe(), 's3 http://127.0.0.1:9/nv');
  });

  it('openReplicas writes generations as this host under the prefix, encrypted with the key file', async () => {
    const c = testConfig({
      DEFAULT: { host: 'compute-7' },
      replica: { backend: 'directory', path: dir, encryption_key_file: keyFile, prefix: 'site-a/', keep: 3 },
    });
    const mem = new MemoryReplicaStore();
    const log = openReplicas(c, mem);
    assert.ok(log instanceof ReplicaLog);
    assert.equal(log.store, mem, 'the store given wins over the configured one');
    assert.equal(log.host, 'compute-7');
    const store = Buffer.alloc(4096, 0xab);
    const w = await log.write({ uuid: UUID, store, firmware: null, reason: 'spawn', base: 0 });
    assert.equal(w.generation, 1);
    const keys = [...mem.objects.keys()];
    assert.ok(keys.includes(`site-a/${UUID}/gen/000000000001.spawn.compute-7`), keys.join(' '));
    assert.ok(keys.every((k) => k.startsWith(`site-a/${UUID}/`)));
    const obj = mem.objects.get(`site-a/${UUID}/gen/000000000001.spawn.compute-7`)!;
    assert.equal(obj.indexOf(store.subarray(0, 64)), -1, 'the store is not in the object in clear');
    const back = await log.newest(UUID);
    assert.deepEqual(back?.store, store);
  });

  it('openReplicas names the key file it cannot read', () => {
    const missing = path.join(dir, 'no-such.key');
    const c = testConfig({ replica: { backend: 'directory', path: dir, encryption_key_file: missing } });
    assert.throws(() => openReplicas(c, new MemoryReplicaStore()), { message: `[replica] encryption_key_file ${missing}: ENOENT` });
  });

  it('openReplicas with a null store opens nothing and reads no key', () => {
    const c = testConfig({ replica: { backend: 'directory', path: dir, encryption_key_file: path.join(dir, 'absent') } });
    assert.equal(openReplicas(c, null), null);
  });
});
