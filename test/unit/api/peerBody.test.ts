/**
 * api/peerBody on a real express server on loopback: the body is read only after the signed
 * headers checked out, and a refused request (401, 400, 413, 415, 503) reads none of it; the
 * body read must match its signature, may not exceed what was signed, and a gzip body is
 * inflated within its bounds; the concurrency limit answers 503 with Retry-After.
 */
import { strict as assert } from 'node:assert';
import express, { type NextFunction, type Request, type Response } from 'express';
import { randomBytes } from 'node:crypto';
import * as http from 'node:http';
import { gzipSync } from 'node:zlib';
import { authenticatedPeerBody, peerState, type PeerBodyLimits } from '../../../src/api/peerBody';
import { NovaError } from '../../../src/errors';
import { SignatureVerifier, signRequest } from '../../../src/peer/signing';
import { listenLoopback, type Loopback } from '../../support/loopback';

const SECRET = 'peer-body-test-secret-0123456789';
const PATH = '/v1/peer/echo';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  json: { type?: string; message?: string; length?: number; text?: string; destination?: string };
}

describe('api/peerBody', () => {
  let srv: Loopback;
  let port: number;
  let bytesRead: number;
  let routeReached: number;
  let limits: PeerBodyLimits;

  before(async () => {
    const app = express();
    const verifier = new SignatureVerifier(SECRET, 300, () => ['compute2']);
    // One middleware, its limits read per test through the object it was given.
    limits = { maxBytes: 1024, maxRatio: 4, maxConcurrent: 1 };
    app.use(authenticatedPeerBody(verifier, limits, (n) => (bytesRead += n)));
    app.post(PATH, (req: Request, res: Response) => {
      routeReached++;
      const st = peerState(req)!;
      res.json({ length: st.body.length, text: st.body.toString('utf8'), destination: st.verified.destination });
    });
    app.use((e: unknown, _req: Request, res: Response, _next: NextFunction) => {
      const n = e instanceof NovaError ? e : new NovaError('Internal', 500, String(e));
      res.status(n.code).json({ type: n.type, message: n.message });
    });
    srv = await listenLoopback(app);
    port = srv.port;
  });
  after(() => srv.close());
  beforeEach(() => {
    bytesRead = 0;
    routeReached = 0;
    Object.assign(limits, { maxBytes: 1024, maxRatio: 4, maxConcurrent: 1 });
  });

  /** POST `body` with `headers`; `chunked` sends without Content-Length. */
  function post(body: Buffer, headers: Record<string, string>, opts: { chunked?: boolean } = {}): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const h: Record<string, string> = { ...headers };
      if (opts.chunked) h['transfer-encoding'] = 'chunked';
      else if (h['content-length'] === undefined) h['content-length'] = String(body.length);
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: PATH, headers: h, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode!, headers: res.headers, json: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Reply['json'] }),
        );
      });
      // A refused request may close the connection while the body is still being sent.
      req.on('error', (e: NodeJS.ErrnoException) => (e.code === 'EPIPE' || e.code === 'ECONNRESET' ? undefined : reject(e)));
      req.end(body);
    });
  }
  const signed = (body: Buffer, extra: Record<string, string> = {}) => ({ ...signRequest(SECRET, 'POST', PATH, 'compute2', body), ...extra });

  it('reads a signed body, counts its bytes and leaves it with what was verified for the route', async () => {
    const body = Buffer.from('{"hello":"peer"}');
    const r = await post(body, signed(body));
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { length: body.length, text: '{"hello":"peer"}', destination: 'compute2' });
    assert.equal(bytesRead, body.length);
  });

  it('an empty signed body is not read at all', async () => {
    const r = await post(Buffer.alloc(0), signed(Buffer.alloc(0)));
    assert.equal(r.status, 200);
    assert.equal(r.json.length, 0);
    assert.equal(bytesRead, 0);
  });

  it('refuses unsigned or forged headers with 401 and Connection: close, reading not one byte of the body', async () => {
    const body = Buffer.from('x'.repeat(500));
    const r = await post(body, {});
    assert.equal(r.status, 401);
    assert.equal(r.json.type, 'NotAuthorized');
    assert.match(r.json.message!, /missing signature/);
    assert.equal(r.headers.connection, 'close');
    const forged = signRequest('another-secret-0123456789abcdef', 'POST', PATH, 'compute2', body);
    const f = await post(body, forged);
    assert.equal(f.status, 401);
    assert.match(f.json.message!, /wrong signature/);
    assert.equal(bytesRead, 0);
    assert.equal(routeReached, 0);
  });

  it('refuses a signed length over the limit with 413 before reading', async () => {
    const body = Buffer.alloc(2000, 0x61);
    const r = await post(body, signed(body));
    assert.equal(r.status, 413);
    assert.match(r.json.message!, /a 2000-byte body is over the limit of 1024/);
    assert.equal(bytesRead, 0);
  });

  it('refuses a Content-Length other than the signed length (400 naming body) and a coding other than gzip (415)', async () => {
    const body = Buffer.from('abcdef');
    const r = await post(Buffer.from('abcdefgh'), signed(body, { 'content-length': '8' }));
    assert.equal(r.status, 400);
    assert.equal(r.json.type, 'InvalidInput');
    assert.match(r.json.message!, /body: Content-Length 8 is not the signed length 6/);
    const e = await post(body, signed(body, { 'content-encoding': 'br' }));
    assert.equal(e.status, 415);
    assert.match(e.json.message!, /Content-Encoding 'br' \(identity or gzip only\)/);
    assert.equal(bytesRead, 0);
  });

  it('refuses a body that does not match its signature (same length, other bytes) with 401, after reading it', async () => {
    const r = await post(Buffer.from('evil!'), signed(Buffer.from('good!')));
    assert.equal(r.status, 401);
    assert.match(r.json.message!, /the body does not match its signature/);
    assert.equal(routeReached, 0);
  });

  it('stops reading a chunked body at once when it goes past the signed length (413)', async () => {
    const body = Buffer.from('0123456789');
    const r = await post(Buffer.concat([body, Buffer.alloc(100, 0x41)]), signed(body), { chunked: true });
    assert.equal(r.status, 413);
    assert.match(r.json.message!, /more than the 10 bytes the signature declares/);
    assert.equal(routeReached, 0);
  });

  it('inflates a gzip body after authenticating it; refuses a gzip bomb beyond maxRatio (413) and bad gzip (400)', async () => {
    const plain = Buffer.from(randomBytes(100).toString('hex'));
    const gz = gzipSync(plain);
    assert.ok(gz.length * 4 >= 200, 'within the ratio for this case');
    const ok = await post(gz, signed(gz, { 'content-encoding': 'gzip' }));
    assert.equal(ok.status, 200);
    assert.equal(ok.json.text, plain.toString());
    assert.equal(bytesRead, gz.length, 'the bytes read are the compressed ones');

    const bomb = gzipSync(Buffer.alloc(1000, 0));
    const b = await post(bomb, signed(bomb, { 'content-encoding': 'GZIP' }));
    assert.equal(b.status, 413);
    assert.match(b.json.message!, new RegExp(`the gzip body inflates beyond ${Math.min(1024, bomb.length * 4)} bytes`));

    const junk = Buffer.from('not gzip at all');
    const j = await post(junk, signed(junk, { 'content-encoding': 'gzip' }));
    assert.equal(j.status, 400);
    assert.match(j.json.message!, /body: is not valid gzip/);
  });

  it('answers 503 with Retry-After while maxConcurrent bodies are being read, and takes bodies again after', async () => {
    // The first request's body arrives in two parts; the second part is held back.
    const first = Buffer.from('first-body-0123456789');
    const h = { ...signed(first), 'content-length': String(first.length) };
    const slow = http.request({ host: '127.0.0.1', port, method: 'POST', path: PATH, headers: h, agent: false });
    const slowReply = new Promise<number>((resolve) => slow.on('response', (res) => (res.resume(), resolve(res.statusCode!))));
    slow.write(first.subarray(0, 5));
    for (let n = 0; n < 200 && bytesRead < 5; n++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(bytesRead, 5, 'the first body is being read');
    const second = Buffer.from('second');
    const busy = await post(second, signed(second));
    assert.equal(busy.status, 503);
    assert.equal(busy.headers['retry-after'], '1');
    assert.equal(busy.json.type, 'ServiceUnavailable');
    slow.end(first.subarray(5));
    assert.equal(await slowReply, 200);
    const again = await post(second, signed(second));
    assert.equal(again.status, 200);
    assert.equal(again.json.text, 'second');
  });
});
