/**
 * The S3 replica backend against the real OpenStack Swift all-in-one (s3api + tempauth,
 * scripts/object-store.sh): objects round trip byte for byte through @aws-sdk/client-s3,
 * conditional PUT is indeed refused (why claims list instead), a claim contended by many
 * concurrent claimants has at most one winner, two sidecars' replica logs writing one instance
 * at once never publish the same generation, and an unreachable endpoint is a prompt
 * ReplicaUnavailable.
 */
import { strict as assert } from 'node:assert';
import { randomBytes, randomUUID } from 'node:crypto';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { S3ReplicaStore, type S3StoreOptions } from '../../src/replica/s3';
import { ReplicaLog } from '../../src/replica/generations';
import { makeKeyring, parseKey } from '../../src/replica/keys';
import { ReplicaFenced, ReplicaUnavailable } from '../../src/replica/errors';
import { ObjectStore } from '../support/objectStore';
import { runDoctor } from '../../src/service/doctor';
import { tmpDir } from '../support/firmwareFixture';
import * as fs from 'node:fs';
import * as path from 'node:path';

describe('replica/s3 against Swift (s3api)', function () {
  this.timeout(180_000);
  const os = new ObjectStore();
  let opts: S3StoreOptions;
  let store: S3ReplicaStore;
  const bucket = `nus-s3-test-${randomBytes(4).toString('hex')}`;

  before(async function () {
    const ep = await os.acquire(this);
    opts = { endpoint: ep.endpoint, bucket, region: ep.region, accessKey: ep.accessKey, secretKey: ep.secretKey, forcePathStyle: true, timeoutMs: 20_000 };
    store = new S3ReplicaStore(opts);
    await store.init();
    await store.init(); // idempotent: the bucket exists now
  });
  after(async () => {
    if (store) for (const k of await store.list('').catch(() => [])) await store.delete(k).catch(() => undefined);
    await os.release();
  });

  it('puts, gets, lists by prefix (past one page) and deletes objects byte for byte', async () => {
    const body = randomBytes(300_000);
    await store.put('t/a/obj', body);
    assert.ok((await store.get('t/a/obj'))?.equals(body));
    assert.equal(await store.get('t/a/none'), null);
    await Promise.all(Array.from({ length: 30 }, (_, i) => store.put(`t/many/${String(i).padStart(3, '0')}`, Buffer.from([i]))));
    const listed = await store.list('t/many/');
    assert.equal(listed.length, 30);
    assert.deepEqual(listed, [...listed].sort());
    await store.delete('t/a/obj');
    await store.delete('t/a/obj');
    assert.equal(await store.get('t/a/obj'), null);
  });

  it('Swift s3api refuses a conditional PUT (If-None-Match: *): claims cannot rest on it', async () => {
    const c = new S3Client({
      endpoint: opts.endpoint,
      region: opts.region,
      forcePathStyle: true,
      credentials: { accessKeyId: opts.accessKey, secretAccessKey: opts.secretKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 1,
    });
    await assert.rejects(c.send(new PutObjectCommand({ Bucket: bucket, Key: 't/cond', Body: Buffer.from('x'), IfNoneMatch: '*' })), (e: unknown) => {
      return (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 501;
    });
    c.destroy();
  });

  it('a claim raced by 8 concurrent claimants has at most one winner, and it stays taken', async () => {
    for (let round = 0; round < 5; round++) {
      const key = `t/claims/${round}/000000000001`;
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => new S3ReplicaStore(opts).claim(key, `host${i}`)));
      assert.ok(results.filter(Boolean).length <= 1, `round ${round}: ${results.join(',')}`);
      assert.equal(await store.claim(key, 'late'), false);
      const entries = await store.claims(`t/claims/${round}/`);
      assert.equal(entries.length, 1);
      assert.equal(entries[0].owners.length, 9, "every claimant's entry stays (8 racers and the late one)");
      await store.dropClaim(key);
      assert.deepEqual(await store.claims(`t/claims/${round}/`), []);
    }
  });

  it('two sidecars writing one instance at once through Swift never publish the same generation; the loser is fenced', async () => {
    const keys = makeKeyring(parseKey('66'.repeat(32), 'k'));
    const a = new ReplicaLog(new S3ReplicaStore(opts), keys, { prefix: 'w/', host: 'compute1', keep: 100 });
    const b = new ReplicaLog(new S3ReplicaStore(opts), keys, { prefix: 'w/', host: 'compute2', keep: 100 });
    const data = Buffer.alloc(540_672, 0xff);
    for (let round = 0; round < 4; round++) {
      const uuid = randomUUID();
      await a.write({ uuid, store: data, firmware: null, reason: 'spawn', base: 0 });
      const runs = await Promise.allSettled([
        a.write({ uuid, store: data, firmware: null, reason: 'periodic', base: 1 }),
        b.write({ uuid, store: data, firmware: null, reason: 'periodic', base: 1 }),
      ]);
      const won = runs.filter((r) => r.status === 'fulfilled').length;
      assert.ok(won <= 1, `round ${round}: both published`);
      for (const r of runs) if (r.status === 'rejected') assert.ok(r.reason instanceof ReplicaFenced, String(r.reason));
      const gens = (await a.list(uuid)).map((e) => e.generation);
      assert.equal(new Set(gens).size, gens.length);
      assert.equal((await a.newest(uuid))?.entry.generation, Math.max(...gens));
    }
  });

  it('doctor: the bucket answers (OK), a missing bucket is a warning, a wrong secret fails naming the credentials', async () => {
    const root = tmpDir('nus-s3-doctor-');
    try {
      fs.writeFileSync(path.join(root, 'key'), 'cd'.repeat(32) + '\n', { mode: 0o600 });
      const check = async (over: { bucket?: string; secret?: string }) => {
        const file = path.join(root, 'shim.conf');
        fs.writeFileSync(
          file,
          `[hypervisor]\nstate_dir = ${path.join(root, 'state')}\n[nvram]\nnvram_dir = ${path.join(root, 'nvram')}\n` +
            `[replica]\nbackend = s3\nendpoint = ${opts.endpoint}\nbucket = ${over.bucket ?? bucket}\nregion = ${opts.region}\n` +
            `access_key = ${opts.accessKey}\nsecret_key = ${over.secret ?? opts.secretKey}\nencryption_key_file = ${path.join(root, 'key')}\ntimeout = 10\n`,
        );
        const found = (await runDoctor({ configFile: file, hostArch: 'x86_64' })).filter((c) => c.check === 'replica');
        assert.equal(found.length, 1);
        return found[0];
      };
      const good = await check({});
      assert.equal(good.status, 'OK', JSON.stringify(good));
      assert.match(
        good.message,
        new RegExp(`^s3 .*/${bucket}: bucket ${bucket} answers; (no )?replicas( yet)? under 'nvram/' \\(\\d+ ms\\); key [0-9a-f]{16}$`),
      );
      const missing = await check({ bucket: `${bucket}-none` });
      assert.deepEqual([missing.status, missing.option], ['WARN', '[replica] bucket'], JSON.stringify(missing));
      assert.match(missing.message, /does not exist; the sidecar creates it at start/);
      const refused = await check({ secret: 'wrong-secret' });
      assert.deepEqual([refused.status, refused.option], ['FAIL', '[replica] access_key and secret_key (or secret_key_file)'], JSON.stringify(refused));
      assert.match(refused.message, /HEAD bucket .*HTTP 403/);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('an endpoint nobody listens on is a prompt ReplicaUnavailable naming the operation', async () => {
    const dead = new S3ReplicaStore({ ...opts, endpoint: 'http://127.0.0.1:9', timeoutMs: 3000 });
    const t0 = Date.now();
    await assert.rejects(dead.put('t/x', Buffer.from('x')), (e: unknown) => e instanceof ReplicaUnavailable && /PUT t\/x/.test(e.message));
    assert.ok(Date.now() - t0 < 10_000);
  });
});
