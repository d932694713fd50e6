/**
 * api/incomingStream: `POST /v1/peer/arrive` behind the peer middleware (here a stand-in that
 * leaves the parsed body where the peer router does): a body that fits the OpenAPI
 * `PeerArrival` schema is handed to the backend's `acceptIncoming` as sent and answered
 * `{arrived: true}`; a body that does not is InvalidInput naming the field and never reaches
 * the backend; the backend's failure is the answer's.
 */
import { strict as assert } from 'node:assert';
import express, { type NextFunction, type Request, type Response } from 'express';
import { incomingStreamRouter } from '../../../src/api/incomingStream';
import { InstanceInvalidState, NovaError } from '../../../src/errors';
import type { IncomingGuest } from '../../../src/hypervisor/types';
import { listenLoopback, type Loopback } from '../../support/loopback';

const PAYLOAD = { sha256: 'ab'.repeat(32), size: 540672, data: 'G8MAAI', encoding: 'br' };

describe('api/incomingStream', () => {
  let srv: Loopback;
  let base: string;
  let accepted: IncomingGuest[];
  let fail: Error | null;

  before(async () => {
    const app = express();
    // The peer router's part: signature checked, body parsed into `req.json`.
    app.use(express.json(), (req: Request, _res: Response, next: NextFunction) => {
      (req as Request & { json?: unknown }).json = req.body as unknown;
      next();
    });
    app.use(
      incomingStreamRouter({
        acceptIncoming: async (g) => {
          if (fail) throw fail;
          accepted.push(g);
        },
      })(),
    );
    app.use((e: unknown, _req: Request, res: Response, _next: NextFunction) => {
      const n = e instanceof NovaError ? e : new NovaError('Internal', 500, String(e));
      res.status(n.code).json({ error: { type: n.type, code: n.code, message: n.message } });
    });
    srv = await listenLoopback(app);
    base = srv.base;
  });
  after(() => srv.close());
  beforeEach(() => {
    accepted = [];
    fail = null;
  });

  async function arrive(body: unknown): Promise<{ status: number; json: { arrived?: boolean; error?: { type: string; code: number; message: string } } }> {
    const r = await fetch(`${base}/v1/peer/arrive`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: r.status, json: (await r.json()) as never };
  }

  it('hands a definition with its flash contents to the backend as sent and answers arrived', async () => {
    const g = { domain_xml: '<domain type="kvm"><name>instance-000002a0</name></domain>', nvram: PAYLOAD };
    const r = await arrive(g);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { arrived: true });
    assert.deepEqual(accepted, [g]);
  });

  it('takes a definition without flash contents (nvram null: the nova backend, whose QEMU carries the store)', async () => {
    const r = await arrive({ domain_xml: '<domain/>', nvram: null });
    assert.equal(r.status, 200);
    assert.deepEqual(accepted, [{ domain_xml: '<domain/>', nvram: null }]);
  });

  for (const [what, body, field] of [
    ['no domain_xml', { nvram: null }, 'domain_xml'],
    ['an empty domain_xml', { domain_xml: '', nvram: null }, 'domain_xml'],
    ['no nvram key', { domain_xml: '<domain/>' }, 'nvram'],
    ['a payload in another encoding', { domain_xml: '<domain/>', nvram: { ...PAYLOAD, encoding: 'gzip' } }, 'nvram'],
    ['a payload with a malformed digest', { domain_xml: '<domain/>', nvram: { ...PAYLOAD, sha256: 'xyz' } }, 'nvram'],
  ] as const) {
    it(`refuses ${what} with InvalidInput naming ${field}, without calling the backend`, async () => {
      const r = await arrive(body);
      assert.equal(r.status, 400);
      assert.equal(r.json.error?.type, 'InvalidInput');
      assert.match(r.json.error.message, new RegExp(`Invalid input received: ${field}`));
      assert.deepEqual(accepted, []);
    });
  }

  it("answers the backend's own error when it refuses the guest", async () => {
    fail = new InstanceInvalidState('0b7a6c2e-1d3f-4e5a-8b9c-0d1e2f3a4b5c', 'power_state', 'running', 'arrive');
    const r = await arrive({ domain_xml: '<domain/>', nvram: null });
    assert.equal(r.status, 409);
    assert.equal(r.json.error?.type, 'InstanceInvalidState');
    assert.match(r.json.error.message, /in power_state running. Cannot arrive/);
  });
});
