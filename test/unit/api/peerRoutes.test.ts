/**
 * api/peerRoutes through the app on loopback, called by the real peer client (which signs
 * each request and takes an answer only when it is signed for that request): ping, an
 * instance's state with and without its store, the digest of a store, refusals (a body that
 * does not fit its schema, a bad uuid, a missing query) answered as signed typed errors, and
 * an unsigned request refused before any route runs.
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { createApp } from '../../../src/api/app';
import { peerRouter } from '../../../src/api/peerRoutes';
import { testConfig } from '../../../src/config';
import { NovaError } from '../../../src/errors';
import { PeerClient } from '../../../src/peer/client';
import { SignatureVerifier } from '../../../src/peer/signing';
import { listenLoopback, type Loopback } from '../../support/loopback';
import { makeWorld, newInstance, storeOn, UEFI, type Host, type Inst, type World } from '../../support/driverHarness';

const SECRET = 'peer-routes-test-secret-0123456789';

describe('api/peerRoutes', () => {
  let w: World;
  let A: Host;
  let srv: Loopback;
  let peer: PeerClient;
  let base: string;
  let i: Inst;

  beforeEach(async () => {
    w = await makeWorld();
    [A] = w.hosts;
    const verifier = new SignatureVerifier(SECRET, 300, () => ['compute1']);
    const app = createApp({
      driver: A.driver,
      log: A.log,
      settings: () => ({ auth_token: 'operator-token-not-for-peers', metrics_open: false }),
      host: 'compute1',
      backend: 'embedded',
      extraRouters: [peerRouter({ verifier, host: 'compute1', secret: () => SECRET })],
    });
    srv = await listenLoopback(app);
    base = srv.base;
    peer = new PeerClient(testConfig({ DEFAULT: { host: 'compute2' }, peer: { shared_secret: SECRET, hosts: { compute1: base } } }));
    i = newInstance();
    await A.driver.spawn(i.uuid, { instance: i, image_meta: UEFI });
  });
  afterEach(async () => {
    await srv.close();
    w.cleanup();
  });

  const typed = (type: string, code: number, msg: RegExp) => (e: unknown) => {
    assert.ok(e instanceof NovaError, String(e));
    assert.equal(e.type, type);
    assert.equal(e.code, code);
    assert.match(e.message, msg);
    assert.ok(!e.message.includes('(unsigned answer)'), `the error answer is signed: ${e.message}`);
    return true;
  };

  it('ping answers this host and its clock, signed (no bearer token needed)', async () => {
    const before = Date.now() / 1000;
    const p = await peer.call<{ host: string; time: number }>('compute1', 'GET', '/v1/peer/ping');
    assert.equal(p.host, 'compute1');
    assert.ok(p.time >= before - 1 && p.time <= Date.now() / 1000 + 1, String(p.time));
  });

  it("an instance's state: its record and power state; the store itself only with nvram=1", async () => {
    const plain = await peer.call<{ record: { uuid: string; vmState: string }; nvram: unknown; nvram_size: number }>(
      'compute1',
      'GET',
      `/v1/peer/instances/${i.uuid}/state`,
    );
    assert.equal(plain.record.uuid, i.uuid);
    assert.equal(plain.record.vmState, 'active');
    assert.equal(plain.nvram, null);
    const size = fs.statSync(storeOn(A, i)).size;
    assert.equal(plain.nvram_size, size);
    const full = await peer.call<{ nvram: { sha256: string; size: number; encoding: string } }>(
      'compute1',
      'GET',
      `/v1/peer/instances/${i.uuid}/state?nvram=1`,
    );
    assert.equal(full.nvram.size, size);
    assert.equal(full.nvram.encoding, 'br');
    assert.equal(
      full.nvram.sha256,
      createHash('sha256')
        .update(fs.readFileSync(storeOn(A, i)))
        .digest('hex'),
    );
  });

  it('the digest of a named store; the name is required', async () => {
    const name = fs
      .readdirSync(A.nvramDir)
      .find((f) => f.endsWith('_VARS.fd'))!
      .replace(/_VARS\.fd$/, '');
    const d = await peer.call<{ sha256: string; size: number }>('compute1', 'GET', `/v1/peer/instances/${i.uuid}/nvram_digest?name=${name}`);
    assert.equal(
      d.sha256,
      createHash('sha256')
        .update(fs.readFileSync(storeOn(A, i)))
        .digest('hex'),
    );
    await assert.rejects(
      peer.call('compute1', 'GET', `/v1/peer/instances/${i.uuid}/nvram_digest`),
      typed('InvalidInput', 400, /name: required once, as a string/),
    );
  });

  it('refuses a stage body that does not fit its schema, naming the field, with a signed error', async () => {
    await assert.rejects(
      peer.call('compute1', 'PUT', `/v1/peer/instances/${i.uuid}/nvram`, {
        kind: 'warm',
        key: 'k',
        name: 'n',
        source_host: 'compute2',
        nvram: { sha256: 'ab'.repeat(32), size: 1, data: 'AA', encoding: 'br' },
      }),
      typed('InvalidInput', 400, /Invalid input received: kind/),
    );
    await assert.rejects(peer.call('compute1', 'GET', '/v1/peer/instances/not-a-uuid/state'), typed('InvalidInput', 400, /uuid|instance/i));
  });

  it('an unsigned request is refused 401 before any route runs, even with the operator token', async () => {
    const r = await fetch(`${base}/v1/peer/ping`, { headers: { authorization: 'Bearer operator-token-not-for-peers' } });
    assert.equal(r.status, 401);
    assert.equal(((await r.json()) as { error: { type: string } }).error.type, 'NotAuthorized');
    assert.equal(r.headers.get('connection'), 'close');
  });
});
