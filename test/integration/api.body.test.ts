/**
 * Bodies the API refuses before any handler runs: a JSON body in a charset other than UTF-8
 * (415), and one nested deeper than the fixed limit (400, not a 500 from a parser or a
 * validator that ran out of stack), on the operator API and on the peer link.
 */
import { strict as assert } from 'node:assert';
import axios from 'axios';
import { startTestSidecar, instance, type TestSidecar } from '../support/sidecar';
import { signRequest } from '../../src/peer/signing';
import { MAX_JSON_DEPTH } from '../../src/api/json';

const SECRET = 'api-body-test-shared-secret';

describe('request bodies: charset and nesting', function () {
  this.timeout(30_000);
  let sc: TestSidecar;
  before(async () => {
    sc = await startTestSidecar({ peer: { shared_secret: SECRET } });
  });
  after(async () => sc?.stop());

  const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);

  for (const charset of ['iso-8859-1', 'utf-16', 'koi8-r']) {
    it(`answers 415 for a JSON body in ${charset}`, async () => {
      const inst = instance();
      const r = await sc.http.post(`/v1/instances/${inst.uuid}/spawn`, Buffer.from(JSON.stringify({ instance: inst }), 'latin1'), {
        headers: { 'content-type': `application/json; charset=${charset}` },
      });
      assert.equal(r.status, 415, JSON.stringify(r.data));
      assert.equal(r.data.error.type, 'InvalidInput');
      assert.match(r.data.error.message, /charset/);
    });
  }

  for (const [what, path] of [
    ['a driver method', (u: string) => `/v1/instances/${u}/spawn`],
    ['the NVRAM API', (u: string) => `/v1/instances/${u}/nvram/restore`],
    ['a Secure Boot rotation', () => '/v1/host/secure-boot/rotations'],
  ] as const) {
    for (const depth of [MAX_JSON_DEPTH + 1, 100_000]) {
      it(`answers 400 for a body nested ${depth} deep to ${what}`, async () => {
        const body = `{"instance": ${deep(depth - 1)}}`;
        const r = await sc.http.post(path(instance().uuid), body, { headers: { 'content-type': 'application/json' } });
        assert.equal(r.status, 400, JSON.stringify(r.data).slice(0, 300));
        assert.equal(r.data.error.type, 'InvalidInput');
        assert.match(r.data.error.message, new RegExp(`body: nests deeper than ${MAX_JSON_DEPTH} levels`));
      });
    }
  }

  it('takes nesting up to the limit (then the schema decides)', async () => {
    const r = await sc.http.post(`/v1/instances/${instance().uuid}/spawn`, `{"instance": ${deep(MAX_JSON_DEPTH - 1)}}`, {
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(r.status, 400);
    assert.doesNotMatch(r.data.error.message, /nests deeper/);
  });

  it('answers 400 for a signed peer body nested too deep', async () => {
    const p = `/v1/peer/instances/${instance().uuid}/nvram`;
    const raw = Buffer.from(deep(100_000));
    const r = await axios.put(sc.url + p, raw, {
      headers: { ...signRequest(SECRET, 'PUT', p, 'compute1', raw), 'content-type': 'application/json' },
      validateStatus: () => true,
      transformRequest: [(d) => d],
    });
    assert.equal(r.status, 400, JSON.stringify(r.data));
    assert.match(r.data.error.message, /nests deeper/);
  });
});
