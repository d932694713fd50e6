/**
 * The peer link's authentication on real sidecars (in-process, loopback): a request signed
 * for one host is refused by another (cross-host replay) before its body is read; an answer
 * that is not signed by the peer for this request is refused by the client (unsigned, forged,
 * or replayed from another request); a `dest` that is not a configured peer is InvalidInput
 * before any connection (a listener that must see none).
 */
import { strict as assert } from 'node:assert';
import * as http from 'node:http';
import axios from 'axios';
import { startTestSidecar, instance, UEFI_Q35, type TestSidecar } from '../support/sidecar';
import { freePort } from '../support/processes';
import { listenLoopback } from '../support/loopback';
import { scrape, sample } from '../support/metrics';
import { signRequest, H_RESPONSE_SIGNATURE } from '../../src/peer/signing';
import { PeerClient } from '../../src/peer/client';
import { testConfig } from '../../src/config';

const SECRET = 'peer-auth-test-shared-secret';

/** A loopback listener that counts connections and answers with `answer`. */
async function listener(answer: (req: http.IncomingMessage, res: http.ServerResponse) => void = (_q, r) => r.end()) {
  let connections = 0;
  const server = http.createServer(answer);
  server.on('connection', () => connections++);
  const { port, close } = await listenLoopback(server);
  return { port, connections: () => connections, close };
}

describe('peer link authentication', function () {
  this.timeout(30_000);
  let A: TestSidecar;
  let B: TestSidecar;

  before(async () => {
    const [pa, pb] = [await freePort(), await freePort()];
    const hosts = { compute1: `http://127.0.0.1:${pa}`, compute2: `http://127.0.0.1:${pb}` };
    A = await startTestSidecar({ DEFAULT: { host: 'compute1' }, api: { port: pa }, peer: { hosts, shared_secret: SECRET } });
    B = await startTestSidecar({ DEFAULT: { host: 'compute2' }, api: { port: pb }, peer: { hosts, shared_secret: SECRET } });
  });
  after(async () => {
    await A?.stop();
    await B?.stop();
  });

  it('refuses a request signed for host A when it is replayed to host B, without reading its body', async () => {
    const uuid = instance().uuid;
    const p = `/v1/peer/instances/${uuid}/nvram`;
    const raw = Buffer.from(JSON.stringify({ kind: 'cold', key: 'k', name: 'x', source_host: 'compute1', firmware: null, nvram: {} }).padEnd(4096));
    const forA = signRequest(SECRET, 'PUT', p, 'compute1', raw);
    const before = sample(await scrape(B.http), 'nova_uefi_shim_peer_body_bytes_read_total');
    const r = await axios.put(B.url + p, raw, {
      headers: { ...forA, 'content-type': 'application/json' },
      validateStatus: () => true,
      transformRequest: [(d) => d],
    });
    assert.equal(r.status, 401, JSON.stringify(r.data));
    assert.equal(r.data.error.type, 'NotAuthorized');
    assert.match(r.data.error.message, /signed for another host/);
    assert.equal(sample(await scrape(B.http), 'nova_uefi_shim_peer_body_bytes_read_total') - before, 0);
    // The same request on its way to A is A's (a body of the wrong shape, so a 400, not a 401).
    const onA = await axios.put(A.url + p, raw, {
      headers: { ...forA, 'content-type': 'application/json' },
      validateStatus: () => true,
      transformRequest: [(d) => d],
    });
    assert.notEqual(onA.status, 401, JSON.stringify(onA.data));
  });

  it('signs its answers, and the client takes a genuine one', async () => {
    const c = new PeerClient(A.config);
    const pong = await c.call<{ host: string }>('compute2', 'GET', '/v1/peer/ping');
    assert.equal(pong.host, 'compute2');
    const r = await axios.get(`${B.url}/v1/peer/ping`, { headers: signRequest(SECRET, 'GET', '/v1/peer/ping', 'compute2', Buffer.alloc(0)) });
    assert.match(String(r.headers[H_RESPONSE_SIGNATURE]), /^[0-9a-f]{64}$/);
  });

  describe('answers the client refuses', () => {
    const cases: [
      string,
      (genuine: { status: number; headers: http.IncomingHttpHeaders; body: Buffer }) => { headers: Record<string, string>; body: Buffer },
    ][] = [
      ['an unsigned answer', () => ({ headers: {}, body: Buffer.from('{"instance_uuid":"x","name":"n","sha256":"00","size":1}') })],
      [
        'a forged answer (a body changed under a genuine signature)',
        (g) => ({
          headers: { [H_RESPONSE_SIGNATURE]: String(g.headers[H_RESPONSE_SIGNATURE]) },
          body: Buffer.from(g.body.toString().replace('compute2', 'computeX')),
        }),
      ],
    ];
    for (const [what, forge] of cases) {
      it(`refuses ${what}`, async () => {
        // A man in the middle: forwards the request to B, answers with its own version.
        const mitm = await listener((req, res) => {
          const chunks: Buffer[] = [];
          req.on('data', (c: Buffer) => chunks.push(c));
          req.on('end', () => {
            const fwd = http.request(`${B.url}${req.url}`, { method: req.method, headers: req.headers }, (up) => {
              const got: Buffer[] = [];
              up.on('data', (c: Buffer) => got.push(c));
              up.on('end', () => {
                const f = forge({ status: up.statusCode ?? 0, headers: up.headers, body: Buffer.concat(got) });
                res.writeHead(200, { 'content-type': 'application/json', ...f.headers });
                res.end(f.body);
              });
            });
            fwd.end(Buffer.concat(chunks));
          });
        });
        try {
          const cfg = testConfig({ DEFAULT: { host: 'compute1' }, peer: { hosts: { compute2: `http://127.0.0.1:${mitm.port}` }, shared_secret: SECRET } });
          const c = new PeerClient(cfg);
          await assert.rejects(
            c.call('compute2', 'GET', '/v1/peer/ping'),
            (e: Error & { type?: string }) => e.type === 'MigrationError' && /answer is refused/.test(e.message) && /signed|signature/.test(e.message),
          );
          assert.equal(mitm.connections(), 1);
        } finally {
          await mitm.close();
        }
      });
    }

    it('refuses a genuine answer replayed to another request', async () => {
      let first: { headers: http.IncomingHttpHeaders; body: Buffer } | undefined;
      const mitm = await listener((req, res) => {
        const fwd = http.request(`${B.url}${req.url}`, { method: req.method, headers: req.headers }, (up) => {
          const got: Buffer[] = [];
          up.on('data', (c: Buffer) => got.push(c));
          up.on('end', () => {
            first ??= { headers: up.headers, body: Buffer.concat(got) };
            res.writeHead(200, { 'content-type': 'application/json', [H_RESPONSE_SIGNATURE]: String(first.headers[H_RESPONSE_SIGNATURE]) });
            res.end(first.body);
          });
        });
        req.pipe(fwd);
      });
      try {
        const cfg = testConfig({ DEFAULT: { host: 'compute1' }, peer: { hosts: { compute2: `http://127.0.0.1:${mitm.port}` }, shared_secret: SECRET } });
        const c = new PeerClient(cfg);
        await c.call('compute2', 'GET', '/v1/peer/ping');
        await assert.rejects(c.call('compute2', 'GET', '/v1/peer/ping'), /answer is refused/);
      } finally {
        await mitm.close();
      }
    });
  });

  describe('dest must be a configured peer', () => {
    it('answers InvalidInput for an injected dest and connects nowhere', async () => {
      const l = await listener();
      const sc = await startTestSidecar({ peer: { url_template: 'http://{host}', shared_secret: SECRET } });
      try {
        const inst = instance();
        const s = await sc.http.post(`/v1/instances/${inst.uuid}/spawn`, { instance: inst, image_meta: UEFI_Q35, power_on: true });
        assert.equal(s.status, 200, JSON.stringify(s.data));
        for (const dest of [`127.0.0.1:${l.port}/x?`, `127.0.0.1:${l.port}`, `user@127.0.0.1:${l.port}`, 'compute2/../x', ' compute2']) {
          for (const [method, body] of [
            ['migrate_disk_and_power_off', { instance: inst, dest, flavor: {} }],
            ['live_migration', { instance: inst, dest, migrate_data: {} }],
          ] as const) {
            const r = await sc.http.post(`/v1/instances/${inst.uuid}/${method}`, body);
            assert.equal(r.status, 400, `${method} ${dest}: ${JSON.stringify(r.data)}`);
            assert.equal(r.data.error.type, 'InvalidInput', `${method} ${dest}`);
            assert.match(r.data.error.message, /dest/);
          }
        }
        assert.equal(l.connections(), 0);
        const info = await sc.http.get(`/v1/instances/${inst.uuid}`);
        assert.equal(info.data.power_state, 1, 'the guest still runs: nothing was stopped');
      } finally {
        await sc.stop();
        await l.close();
      }
    });

    it('answers InvalidInput for a host outside [peer] hosts when there is no url_template', async () => {
      const sc = await startTestSidecar({ peer: { hosts: { compute2: 'http://127.0.0.1:1' }, shared_secret: SECRET } });
      try {
        const inst = instance();
        await sc.http.post(`/v1/instances/${inst.uuid}/spawn`, { instance: inst, image_meta: UEFI_Q35, power_on: true });
        const r = await sc.http.post(`/v1/instances/${inst.uuid}/migrate_disk_and_power_off`, { instance: inst, dest: 'compute9', flavor: {} });
        assert.equal(r.status, 400, JSON.stringify(r.data));
        assert.equal(r.data.error.type, 'InvalidInput');
        assert.match(r.data.error.message, /compute9.*not a configured peer/);
      } finally {
        await sc.stop();
      }
    });
  });
});
