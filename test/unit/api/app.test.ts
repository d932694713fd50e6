/**
 * api/app (createApp) on loopback over an in-memory host's driver: request ids (kept when
 * well-formed, made otherwise), the bearer token (missing, wrong, right; /healthz open, the
 * peer prefix left to its own signatures), readiness detail only for the token holder, the
 * stopping gate, 404 vs 405 with Allow, and the error shape (Nova type, code, request id;
 * an unexpected error hides its message and is logged).
 */
import { strict as assert } from 'node:assert';
import express from 'express';
import { createApp, type ReadinessCheck } from '../../../src/api/app';
import { listenLoopback, type Loopback } from '../../support/loopback';
import { makeWorld, newInstance, UEFI, type Host, type World } from '../../support/driverHarness';

const TOKEN = 'app-test-token-0123456789';
const RID = 'req-0b7a6c2e-1d3f-4e5a-8b9c-0d1e2f3a4b5c';

describe('api/app', () => {
  let w: World;
  let A: Host;
  let srv: Loopback;
  let base: string;
  let stopping: boolean;
  let checks: ReadinessCheck[];
  let token: string;

  beforeEach(async () => {
    w = await makeWorld();
    [A] = w.hosts;
    stopping = false;
    token = TOKEN;
    checks = [{ name: 'config', ok: true, detail: 'loaded from /etc/x.conf' }];
    const app = createApp({
      driver: A.driver,
      log: A.log,
      settings: () => ({ auth_token: token, metrics_open: false }),
      host: 'compute1',
      backend: 'embedded',
      stopping: () => stopping,
      readiness: async () => checks,
      // The peer prefix is left to its own signatures: no bearer token asked.
      extraRouters: [
        () =>
          express.Router().get('/v1/peer/boom', () => {
            throw new Error('secret internal detail');
          }),
      ],
    });
    srv = await listenLoopback(app);
    base = srv.base;
  });
  afterEach(async () => {
    await srv.close();
    w.cleanup();
  });

  const get = (p: string, headers: Record<string, string> = {}, method = 'GET') => fetch(base + p, { method, headers });
  const auth = { authorization: `Bearer ${TOKEN}` };
  type ErrBody = { error: { type: string; code: number; message: string; request_id: string } };

  it('/healthz answers without a token, with host and backend', async () => {
    const r = await get('/healthz');
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { status: 'ok', host: 'compute1', backend: 'embedded' });
  });

  it('keeps a well-formed X-OpenStack-Request-ID and makes one for a malformed or missing one', async () => {
    assert.equal((await get('/healthz', { 'x-openstack-request-id': RID })).headers.get('x-openstack-request-id'), RID);
    const made = (await get('/healthz', { 'x-openstack-request-id': 'req-<script>' })).headers.get('x-openstack-request-id')!;
    assert.match(made, /^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.notEqual(made, 'req-<script>');
    const line = A.log.lines.find((l) => l.msg === 'request' && l.request_id === RID);
    assert.equal(line?.status, 200);
    assert.equal(line?.path, '/healthz');
  });

  it('refuses a missing or wrong bearer token with 401 NotAuthorized and serves the right one', async () => {
    const none = await get('/v1/instances', { 'x-openstack-request-id': RID });
    assert.equal(none.status, 401);
    const body = (await none.json()) as ErrBody;
    assert.equal(body.error.type, 'NotAuthorized');
    assert.equal(body.error.code, 401);
    assert.match(body.error.message, /missing bearer token/);
    assert.equal(body.error.request_id, RID);
    const wrong = (await (await get('/v1/instances', { authorization: `Bearer ${TOKEN}x` })).json()) as ErrBody;
    assert.match(wrong.error.message, /wrong bearer token/);
    const ok = await get('/v1/instances', { authorization: `bearer   ${TOKEN}` });
    assert.equal(ok.status, 200);
    assert.deepEqual(((await ok.json()) as { instances: unknown[] }).instances, []);
  });

  it('takes any request when no token is configured', async () => {
    token = '';
    assert.equal((await get('/v1/instances')).status, 200);
  });

  it('serves a spawned instance through the API', async () => {
    const i = newInstance();
    await A.driver.spawn(i.uuid, { instance: i, image_meta: UEFI });
    const r = await get(`/v1/instances/${i.uuid}`, auth);
    assert.equal(r.status, 200);
    assert.equal(((await r.json()) as { instance_uuid: string }).instance_uuid, i.uuid);
  });

  it('/readyz: 200 when every check passes; 503 naming the failing ones, with detail and host only for the token holder', async () => {
    assert.equal((await get('/readyz')).status, 200);
    checks = [...checks, { name: 'nvram_dir', ok: false, detail: '/var/lib/x is read-only' }];
    const anon = await get('/readyz');
    assert.equal(anon.status, 503);
    assert.deepEqual(await anon.json(), {
      status: 'not ready',
      not_ready: ['nvram_dir'],
      checks: [
        { name: 'config', ok: true },
        { name: 'nvram_dir', ok: false },
      ],
    });
    const trusted = (await (await get('/readyz', auth)).json()) as { host: string; not_ready: string[] };
    assert.equal(trusted.host, 'compute1');
    assert.deepEqual(trusted.not_ready, ['nvram_dir: /var/lib/x is read-only']);
  });

  it('while stopping, answers 503 and closes the connection, except /readyz', async () => {
    stopping = true;
    const r = await get('/v1/instances', auth);
    assert.equal(r.status, 503);
    assert.equal(r.headers.get('connection'), 'close');
    assert.equal(((await r.json()) as ErrBody).error.type, 'ServiceUnavailable');
    assert.equal((await get('/readyz')).status, 200);
  });

  it('404 for an unknown path or driver method; 405 with Allow for a method the path does not take', async () => {
    assert.equal((await get('/v1/nothing', auth)).status, 404);
    const m = await get(`/v1/instances/${newInstance().uuid}/format_disk`, { ...auth, 'content-type': 'application/json' }, 'POST');
    assert.equal(m.status, 404);
    assert.match(((await m.json()) as ErrBody).error.message, /Unknown driver method 'format_disk'/);
    const r = await get('/v1/instances', auth, 'DELETE');
    assert.equal(r.status, 405);
    assert.equal(r.headers.get('allow'), 'GET, HEAD', 'GET implies HEAD');
    assert.equal(((await r.json()) as ErrBody).error.type, 'MethodNotAllowed');
  });

  it('a malformed JSON body is InvalidInput naming body', async () => {
    const r = await fetch(`${base}/v1/instances/${newInstance().uuid}/spawn`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: '{"instance":',
    });
    assert.equal(r.status, 400);
    assert.match(((await r.json()) as ErrBody).error.message, /body: malformed JSON/);
  });

  it('an unexpected error is a 500 that names the request id but not its message, which goes to the log', async () => {
    const r = await get('/v1/peer/boom', { 'x-openstack-request-id': RID });
    assert.equal(r.status, 500);
    const e = ((await r.json()) as ErrBody).error;
    assert.equal(e.request_id, RID);
    assert.ok(!e.message.includes('secret internal detail'), e.message);
    assert.match(e.message, new RegExp(`see the sidecar log for request ${RID}`));
    const logged = A.log.lines.find((l) => l.msg === 'unexpected error');
    assert.equal(logged?.error, 'secret internal detail');
    assert.equal(logged?.request_id, RID);
  });
});
