/**
 * replica/s3: the S3 backend through the real SDK against a small S3 stand-in on loopback
 * (path-style bucket, ListObjectsV2 pages, S3 error bodies). Checks what Swift's s3api needs
 * (path-style requests, no aws-chunked uploads), listing across pages, "no such key" as null,
 * every other failure as ReplicaUnavailable naming the operation and key, and claims by listing.
 * The real Swift is exercised by the integration suite; this one runs everywhere.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { S3ReplicaStore, s3OptionsFrom, type S3StoreOptions } from '../../../src/replica/s3';
import { ReplicaUnavailable } from '../../../src/replica/errors';
import { testConfig, type ReplicaConfig } from '../../../src/config';
import { listenLoopback, type Loopback } from '../../support/loopback';

const BUCKET = 'nvram-replicas';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}

/** Enough of S3 for the backend: one bucket, objects in a Map, list pages of `pageSize` keys. */
class FakeS3 {
  readonly objects = new Map<string, Buffer>();
  bucketExists = false;
  pageSize = 2;
  /** `METHOD key` (or `METHOD` for any key) → HTTP status to answer with an S3 error body. */
  readonly failures = new Map<string, number>();
  readonly seen: Seen[] = [];
  private srv!: Loopback;
  port = 0;

  async start(): Promise<void> {
    this.srv = await listenLoopback((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.handle(req, Buffer.concat(chunks), res));
    });
    this.port = this.srv.port;
  }
  async stop(): Promise<void> {
    await this.srv.close({ dropConnections: true });
  }

  private error(res: http.ServerResponse, status: number, code: string, head = false): void {
    res.writeHead(status, { 'content-type': 'application/xml' });
    res.end(head ? undefined : `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${code} (fake)</Message></Error>`);
  }

  private handle(req: http.IncomingMessage, body: Buffer, res: http.ServerResponse): unknown {
    const url = new URL(req.url ?? '/', 'http://x');
    const method = req.method ?? 'GET';
    this.seen.push({ method, url: req.url ?? '', headers: req.headers });
    const parts = url.pathname.split('/');
    if (parts[1] !== BUCKET) return this.error(res, 404, 'NoSuchBucket', method === 'HEAD');
    const key = decodeURIComponent(parts.slice(2).join('/'));
    const injected = this.failures.get(`${method} ${key}`) ?? this.failures.get(method);
    if (injected) return this.error(res, injected, injected === 403 ? 'AccessDenied' : 'InternalError', method === 'HEAD');
    if (!key) {
      if (method === 'HEAD') return this.bucketExists ? res.writeHead(200).end() : this.error(res, 404, 'NotFound', true);
      if (method === 'PUT') {
        this.bucketExists = true;
        return res.writeHead(200).end();
      }
      if (method === 'GET' && url.searchParams.get('list-type') === '2') {
        if (!this.bucketExists) return this.error(res, 404, 'NoSuchBucket');
        return this.list(url.searchParams, res);
      }
      return this.error(res, 400, 'InvalidRequest');
    }
    if (!this.bucketExists) return this.error(res, 404, 'NoSuchBucket');
    if (method === 'PUT') {
      this.objects.set(key, body);
      return res.writeHead(200, { etag: '"x"' }).end();
    }
    if (method === 'GET') {
      const o = this.objects.get(key);
      if (!o) return this.error(res, 404, 'NoSuchKey');
      return res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': o.length }).end(o);
    }
    if (method === 'DELETE') {
      this.objects.delete(key);
      return res.writeHead(204).end();
    }
    return this.error(res, 400, 'InvalidRequest');
  }

  private list(q: URLSearchParams, res: http.ServerResponse): void {
    const prefix = q.get('prefix') ?? '';
    const max = Math.min(Number(q.get('max-keys') ?? 1000), this.pageSize);
    const after = q.get('continuation-token') ?? '';
    // S3 lists in UTF-8 binary order; hand them out shuffled across pages would be wrong, so sort.
    const all = [...this.objects.keys()].filter((k) => k.startsWith(prefix) && k > after).sort();
    const page = all.slice(0, max);
    const truncated = all.length > page.length;
    const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
    const xml =
      `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
      `<Name>${BUCKET}</Name><Prefix>${esc(prefix)}</Prefix><KeyCount>${page.length}</KeyCount><MaxKeys>${max}</MaxKeys>` +
      `<IsTruncated>${truncated}</IsTruncated>` +
      (truncated ? `<NextContinuationToken>${esc(page[page.length - 1])}</NextContinuationToken>` : '') +
      page.map((k) => `<Contents><Key>${esc(k)}</Key><Size>${this.objects.get(k)!.length}</Size><StorageClass>STANDARD</StorageClass></Contents>`).join('') +
      `</ListBucketResult>`;
    res.writeHead(200, { 'content-type': 'application/xml' }).end(xml);
  }
}

describe('replica/s3', () => {
  const s3 = new FakeS3();
  let store: S3ReplicaStore;
  let opts: S3StoreOptions;
  before(() => s3.start());
  after(() => s3.stop());
  beforeEach(() => {
    s3.objects.clear();
    s3.failures.clear();
    s3.seen.length = 0;
    s3.bucketExists = true;
    s3.pageSize = 2;
    opts = {
      endpoint: `http://127.0.0.1:${s3.port}`,
      bucket: BUCKET,
      region: 'us-east-1',
      accessKey: 'test:tester',
      secretKey: 'testing',
      forcePathStyle: true,
      timeoutMs: 5000,
    };
    store = new S3ReplicaStore(opts);
  });

  it('describes itself by endpoint and bucket', () => {
    assert.equal(store.kind, 's3');
    assert.equal(store.describe(), `s3 http://127.0.0.1:${s3.port}/${BUCKET}`);
  });

  it('puts and gets an object byte for byte, path-style, signed, without aws-chunked encoding', async () => {
    const body = Buffer.from([0, 1, 2, 0xff, 0xfe]);
    await store.put('p/u1/gen-000001', body);
    assert.deepEqual(s3.objects.get('p/u1/gen-000001'), body);
    assert.deepEqual(await store.get('p/u1/gen-000001'), body);
    const put = s3.seen.find((s) => s.method === 'PUT')!;
    assert.equal(new URL(put.url, 'http://x').pathname, `/${BUCKET}/p/u1/gen-000001`, 'path-style addressing');
    assert.match(String(put.headers.authorization), /^AWS4-HMAC-SHA256 Credential=test:tester\//);
    assert.notEqual(put.headers['content-encoding'], 'aws-chunked', "Swift's s3api answers aws-chunked with 501");
    assert.equal(put.headers['x-amz-decoded-content-length'], undefined);
  });

  it('gets null for a missing object', async () => {
    assert.equal(await store.get('p/none'), null);
  });

  it('lists every key under a prefix across pages, sorted', async () => {
    for (const k of ['p/b/3', 'p/a/1', 'q/x', 'p/a/2', 'p/c/9', 'p/b/4']) s3.objects.set(k, Buffer.from(k));
    assert.deepEqual(await store.list('p/'), ['p/a/1', 'p/a/2', 'p/b/3', 'p/b/4', 'p/c/9']);
    const lists = s3.seen.filter((s) => s.method === 'GET' && s.url.includes('list-type=2'));
    assert.equal(lists.length, 3, 'five keys in pages of two');
    assert.deepEqual(await store.list('nothing/'), []);
  });

  it('deletes an object, and a missing one without complaint', async () => {
    s3.objects.set('p/x', Buffer.from('x'));
    await store.delete('p/x');
    assert.equal(s3.objects.has('p/x'), false);
    await store.delete('p/x');
  });

  it('refuses an unsafe key before sending anything', async () => {
    await assert.rejects(store.put('../etc/passwd', Buffer.from('x')), /invalid replica object key/);
    await assert.rejects(store.get('/abs'), /invalid replica object key/);
    assert.equal(s3.seen.length, 0);
  });

  const failures: Array<[string, string, number, (st: S3ReplicaStore) => Promise<unknown>, RegExp]> = [
    ['PUT', 'PUT p/k', 500, (st) => st.put('p/k', Buffer.from('x')), /^NVRAM replica store unavailable: PUT p\/k at s3 .*\(HTTP 500\)/],
    ['GET', 'GET p/k', 403, (st) => st.get('p/k'), /^NVRAM replica store unavailable: GET p\/k at s3 .*AccessDenied \(HTTP 403\)/],
    ['LIST', 'GET', 503, (st) => st.list('p/'), /^NVRAM replica store unavailable: LIST p\/ at s3 .*\(HTTP 503\)/],
    ['DELETE', 'DELETE p/k', 500, (st) => st.delete('p/k'), /^NVRAM replica store unavailable: DELETE p\/k at s3 /],
  ];
  for (const [op, where, status, call, re] of failures) {
    it(`turns an HTTP ${status} on ${op} into ReplicaUnavailable naming ${op} and the key`, async () => {
      s3.failures.set(where, status);
      await assert.rejects(call(store), (e: unknown) => e instanceof ReplicaUnavailable && e.code === 503 && re.test(e.message));
    });
  }

  it('turns a refused connection into ReplicaUnavailable', async () => {
    const dead = new S3ReplicaStore({ ...opts, endpoint: 'http://127.0.0.1:1', timeoutMs: 2000 });
    await assert.rejects(dead.get('p/k'), (e: unknown) => e instanceof ReplicaUnavailable && /GET p\/k at s3 http:\/\/127\.0\.0\.1:1\//.test(e.message));
  });

  describe('init and probe', () => {
    it('init creates a missing bucket and leaves an existing one alone', async () => {
      s3.bucketExists = false;
      await store.init();
      assert.equal(s3.bucketExists, true);
      assert.deepEqual(
        s3.seen.map((s) => s.method),
        ['HEAD', 'PUT'],
      );
      s3.seen.length = 0;
      await store.init();
      assert.deepEqual(
        s3.seen.map((s) => s.method),
        ['HEAD'],
      );
    });

    it('init fails as ReplicaUnavailable when HEAD bucket is refused (not a 404)', async () => {
      s3.failures.set('HEAD', 403);
      await assert.rejects(store.init(), (e: unknown) => e instanceof ReplicaUnavailable && /HEAD bucket nvram-replicas/.test(e.message));
    });

    it('probe says a missing bucket does not exist, changing nothing', async () => {
      s3.bucketExists = false;
      assert.deepEqual(await store.probe('p/'), { exists: false, detail: `bucket ${BUCKET} does not exist` });
      assert.equal(s3.bucketExists, false);
    });

    it('probe says whether there are replicas under the prefix yet, with one LIST of one key', async () => {
      assert.deepEqual(await store.probe('p/'), { exists: true, detail: `bucket ${BUCKET} answers; no replicas yet under 'p/'` });
      s3.objects.set('p/u/gen-1', Buffer.from('x'));
      assert.deepEqual(await store.probe('p/'), { exists: true, detail: `bucket ${BUCKET} answers; replicas under 'p/'` });
      const list = s3.seen.filter((s) => s.url.includes('list-type=2'));
      assert.ok(list.every((s) => s.url.includes('max-keys=1')));
      assert.equal(s3.seen.filter((s) => s.method === 'PUT').length, 0);
    });
  });

  describe('claims', () => {
    it('a lone claimant wins; a second one loses; claims() groups them; dropClaim removes them all', async () => {
      assert.equal(await store.claim('p/u/claims/3', 'host-a'), true);
      assert.equal(await store.claim('p/u/claims/3', 'host-b'), false);
      assert.equal(await store.claim('p/u/claims/4', 'host-b'), true);
      assert.deepEqual(await store.claims('p/u/claims/'), [
        { key: 'p/u/claims/3', owners: ['host-a', 'host-b'] },
        { key: 'p/u/claims/4', owners: ['host-b'] },
      ]);
      await store.dropClaim('p/u/claims/3');
      assert.deepEqual(await store.claims('p/u/claims/'), [{ key: 'p/u/claims/4', owners: ['host-b'] }]);
    });

    it('a claim whose entries span list pages is still seen as contended', async () => {
      s3.pageSize = 1;
      await store.claim('c/1', 'host-a');
      assert.equal(await store.claim('c/1', 'host-b'), false);
    });
  });

  describe('s3OptionsFrom', () => {
    const base: ReplicaConfig = {
      ...testConfig().replica,
      endpoint: 'http://swift:8080',
      bucket: 'b',
      region: 'RegionOne',
      access_key: 'acct:user',
      secret_key: 'inline',
      secret_key_file: '',
      force_path_style: true,
      timeout: 7,
    };
    let dir: string;
    beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nus-s3opt-'))));
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('maps the [replica] options, timeout in milliseconds', () => {
      assert.deepEqual(s3OptionsFrom(base), {
        endpoint: 'http://swift:8080',
        bucket: 'b',
        region: 'RegionOne',
        accessKey: 'acct:user',
        secretKey: 'inline',
        forcePathStyle: true,
        timeoutMs: 7000,
      });
    });

    it('reads the first line of secret_key_file, trimmed, and lets it win over secret_key', () => {
      const f = path.join(dir, 'secret');
      fs.writeFileSync(f, '  s3cr3t \nsecond line\n');
      assert.equal(s3OptionsFrom({ ...base, secret_key_file: f }).secretKey, 's3cr3t');
    });

    it('names secret_key_file and the errno when it cannot be read', () => {
      const f = path.join(dir, 'missing');
      assert.throws(() => s3OptionsFrom({ ...base, secret_key_file: f }), { message: `[replica] secret_key_file ${f}: ENOENT` });
    });
  });
});
