/**
 * api/json: answers are JSON with exact length and charset (signed when a signer is set), and
 * request bodies are read as JSON only when they say so (or say nothing), UTF-8 only, nested
 * no deeper than the limit. Driven through a real express app on loopback.
 */
import { strict as assert } from 'node:assert';
import express, { type NextFunction, type Request, type Response } from 'express';
import { InvalidInput, NovaError } from '../../../src/errors';
import { MAX_JSON_DEPTH, checkJsonDepth, jsonBody, parseJsonBody, sendJson, signAnswers } from '../../../src/api/json';
import { listenLoopback, type Loopback } from '../../support/loopback';

const nest = (n: number, inner = '1') => '['.repeat(n) + inner + ']'.repeat(n);

describe('api/json', () => {
  let srv: Loopback;
  let base: string;
  before(async () => {
    const app = express();
    app.post('/echo', jsonBody('1kb', true), (req, res) => sendJson(res, { got: req.body as unknown, ct: req.headers['content-type'] }));
    app.get('/created', (_req, res) => sendJson(res, { ok: 'é' }, 201));
    app.get('/signed', (_req, res) => {
      signAnswers(res, (status, body) => ['X-Test-Signature', `${status}:${body.length}:${body.toString('utf8')}`]);
      sendJson(res, { n: 1 }, 202);
    });
    app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
      if (err instanceof NovaError) return sendJson(res, { type: err.type, message: err.message, details: err.details ?? null }, err.code);
      const status = (err as { status?: number }).status ?? 500;
      sendJson(res, { type: 'other', message: String((err as Error).message) }, status);
    });
    srv = await listenLoopback(app);
    base = srv.base;
  });
  after(() => srv.close());

  const post = (body: string, headers: Record<string, string> = {}) => fetch(`${base}/echo`, { method: 'POST', body, headers });

  describe('sendJson', () => {
    it('answers with the status, a UTF-8 JSON content type and the byte length (not the character count)', async () => {
      const r = await fetch(`${base}/created`);
      assert.equal(r.status, 201);
      assert.equal(r.headers.get('content-type'), 'application/json; charset=utf-8');
      const text = '{"ok":"é"}';
      assert.equal(r.headers.get('content-length'), String(Buffer.byteLength(text)));
      assert.equal(await r.text(), text);
      assert.equal(r.headers.get('etag'), null, 'no ETag');
    });

    it('signs the exact bytes it sends, with the status, when a signer is set', async () => {
      const r = await fetch(`${base}/signed`);
      assert.equal(r.status, 202);
      assert.equal(r.headers.get('x-test-signature'), '202:7:{"n":1}');
      assert.equal(await r.text(), '{"n":1}');
    });
  });

  describe('jsonBody', () => {
    it('parses a JSON body sent as application/json', async () => {
      const r = await post('{"a":[1,2]}', { 'content-type': 'application/json' });
      assert.deepEqual(await r.json(), { got: { a: [1, 2] }, ct: 'application/json' });
    });

    it('takes a +json media type and an explicit UTF-8 charset', async () => {
      for (const ct of ['application/merge-patch+json', 'application/json; charset=utf-8', 'application/json;charset="UTF-8"', 'Application/JSON']) {
        const r = await post('{"x":1}', { 'content-type': ct });
        assert.equal(r.status, 200, ct);
        assert.deepEqual(((await r.json()) as { got: unknown }).got, { x: 1 }, ct);
      }
    });

    it('reads a body sent without Content-Type as JSON', async () => {
      // fetch sets text/plain for a string body; a Uint8Array body goes without a Content-Type.
      const r = await fetch(`${base}/echo`, { method: 'POST', body: new TextEncoder().encode('{"x":2}') });
      assert.deepEqual(await r.json(), { got: { x: 2 }, ct: 'application/json' });
    });

    it('refuses another media type with 415 naming the header to send', async () => {
      const r = await post('{"x":1}', { 'content-type': 'text/plain; charset=utf-8' });
      assert.equal(r.status, 415);
      const b = (await r.json()) as { type: string; message: string; details: unknown };
      assert.equal(b.type, 'InvalidInput');
      assert.equal(b.message, "Invalid input received: Content-Type: 'text/plain' is not JSON; send the body with the header 'Content-Type: application/json'");
      assert.deepEqual(b.details, { field: 'Content-Type' });
    });

    it('refuses a charset other than UTF-8 with 415', async () => {
      const r = await post('{"x":1}', { 'content-type': 'application/json; charset=utf-16' });
      assert.equal(r.status, 415);
      const b = (await r.json()) as { message: string; details: unknown };
      assert.match(b.message, /charset 'utf-16' \(JSON bodies are UTF-8\)/);
      assert.deepEqual(b.details, { field: 'body' });
    });

    it(`refuses a body nested deeper than ${MAX_JSON_DEPTH} levels with 400, and takes one at the limit`, async () => {
      const ok = await post(nest(MAX_JSON_DEPTH), { 'content-type': 'application/json' });
      assert.equal(ok.status, 200);
      const deep = await post(nest(MAX_JSON_DEPTH + 1), { 'content-type': 'application/json' });
      assert.equal(deep.status, 400);
      assert.equal(((await deep.json()) as { message: string }).message, `Invalid input received: body: nests deeper than ${MAX_JSON_DEPTH} levels`);
    });

    it('refuses a body over the size limit (413) and a non-object in strict mode (400)', async () => {
      assert.equal((await post(JSON.stringify({ s: 'x'.repeat(2000) }), { 'content-type': 'application/json' })).status, 413);
      assert.equal((await post('"text"', { 'content-type': 'application/json' })).status, 400);
    });

    it('does not read a request without a body', async () => {
      const r = await fetch(`${base}/echo`, { method: 'POST', headers: { 'content-type': 'text/plain' } });
      assert.equal(r.status, 200, 'no body, nothing to refuse');
    });
  });

  describe('checkJsonDepth', () => {
    const cases: Array<[string, string, number, boolean]> = [
      ['objects and arrays count alike', '{"a":[{"b":[1]}]}', 4, true],
      ['one level too deep', '{"a":[{"b":[1]}]}', 3, false],
      ['brackets inside strings do not count', '["[[[[{{{{"]', 1, true],
      ['an escaped quote does not end the string', '["\\"[[[["]', 1, true],
      ['an escaped backslash before the closing quote ends it', '["\\\\",[[1]]]', 2, false],
      ['siblings do not add up', '[[1],[2],[3],[4]]', 2, true],
    ];
    for (const [title, text, max, ok] of cases) {
      it(`${title} (max ${max}: ${ok ? 'taken' : 'refused'})`, () => {
        const f = () => checkJsonDepth(Buffer.from(text), max);
        if (ok) f();
        else assert.throws(f, (e: unknown) => e instanceof InvalidInput && e.code === 400);
      });
    }
  });

  describe('parseJsonBody', () => {
    it('parses UTF-8 JSON', () => assert.deepEqual(parseJsonBody(Buffer.from('{"é":[1]}')), { é: [1] }));
    it('answers undefined for an empty body', () => assert.equal(parseJsonBody(Buffer.alloc(0)), undefined));
    it('refuses malformed JSON as InvalidInput on body', () => {
      assert.throws(() => parseJsonBody(Buffer.from('{"a":')), { message: 'Invalid input received: body: malformed JSON' });
    });
    it('refuses a too-deep body before parsing it', () => {
      assert.throws(() => parseJsonBody(Buffer.from(nest(100000))), /nests deeper than 64 levels/);
    });
  });
});
