/**
 * The API describes itself: `GET /openapi.json` (no token) serves the document requests are
 * validated with, it validates as OpenAPI 3.1, every JSON request body carries an `example`
 * that validates against its own schema, the required fields of a spawn are exactly the ones
 * the sidecar requires, and a known path asked with the wrong method answers 405 with `Allow`.
 */
import { strict as assert } from 'node:assert';
import axios from 'axios';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { startTestSidecar, TOKEN, type TestSidecar } from '../support/sidecar';
import { driverFirmware } from '../support/driverHarness';
import { loadOpenApi } from '../../src/api/requestValidator';

interface Media {
  schema?: { $ref?: string };
  example?: unknown;
}
type Doc = { paths: Record<string, Record<string, { operationId?: string; requestBody?: { content?: Record<string, Media> } }>> };

/** Every request body of the document: [operationId, media type, media]. */
function requestBodies(doc: Doc): [string, string, Media][] {
  const out: [string, string, Media][] = [];
  for (const item of Object.values(doc.paths))
    for (const op of Object.values(item))
      for (const [type, media] of Object.entries(op?.requestBody?.content ?? {})) out.push([String(op.operationId), type, media]);
  return out;
}

describe('the API describes itself (GET /openapi.json)', function () {
  this.timeout(60000);
  let sc: TestSidecar;
  before(async () => {
    sc = await startTestSidecar(driverFirmware().map);
  });
  after(async () => sc?.stop());

  it('serves the document the sidecar validates with, without a token, and nothing secret in it', async () => {
    const r = await axios.get(`${sc.url}/openapi.json`, { validateStatus: () => true });
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^application\/json/);
    assert.deepEqual(r.data, JSON.parse(JSON.stringify(loadOpenApi())));
    const text = JSON.stringify(r.data);
    assert.ok(!text.includes(TOKEN), 'the bearer token is not in the document');
    assert.ok(!text.includes(sc.root), 'no local path of this sidecar is in the document');
  });

  it('validates as OpenAPI 3.1 (@seriousme/openapi-schema-validator)', async () => {
    const { Validator } = await import('@seriousme/openapi-schema-validator');
    const v = new Validator();
    const doc = (await axios.get(`${sc.url}/openapi.json`)).data as object;
    const res = await v.validate(structuredClone(doc) as Parameters<typeof v.validate>[0]);
    assert.equal(res.valid, true, JSON.stringify(res.errors, null, 1)?.slice(0, 2000));
    assert.equal(v.version, '3.1');
  });

  it('gives every JSON request body an example that validates against its own schema', () => {
    const doc = loadOpenApi() as unknown as Doc;
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    ajv.addSchema(doc, 'openapi');
    const bodies = requestBodies(doc).filter(([, type]) => type === 'application/json');
    assert.ok(bodies.length >= 25, `found ${bodies.length} JSON request bodies`);
    for (const [op, , media] of bodies) {
      assert.ok(media.example !== undefined, `${op}: no example`);
      assert.ok(media.schema?.$ref, `${op}: schema is not a $ref`);
      const validate = ajv.compile({ $ref: `openapi${media.schema.$ref}` });
      assert.ok(validate(media.example), `${op}: its example does not validate: ${ajv.errorsText(validate.errors)}`);
    }
  });

  it("the spawn example works as written, and its instance's required fields are exactly the ones the sidecar requires", async () => {
    const doc = loadOpenApi() as unknown as Doc;
    const media = doc.paths['/v1/instances/{instance_uuid}/spawn'].post.requestBody!.content!['application/json'];
    const example = media.example as { instance: Record<string, unknown> };
    const required = (doc as unknown as { components: { schemas: { Instance: { required: string[] } } } }).components.schemas.Instance.required;
    assert.deepEqual([...required].sort(), ['id', 'uuid']);
    let n = 0;
    const fresh = () => {
      const e = structuredClone(example);
      e.instance.uuid = `6f1d2b4e-1c3a-4e5f-9a7b-${String(++n).padStart(12, '0')}`;
      e.instance.id = 1000 + n;
      return e;
    };
    const ok = fresh();
    const r = await sc.http.post(`/v1/instances/${String(ok.instance.uuid)}/spawn`, ok);
    assert.equal(r.status, 200, JSON.stringify(r.data));
    for (const field of Object.keys(example.instance)) {
      const e = fresh();
      const uuid = String(e.instance.uuid);
      delete e.instance[field];
      const got = await sc.http.post(`/v1/instances/${uuid}/spawn`, e);
      if (required.includes(field)) {
        assert.equal(got.status, 400, `${field}: ${JSON.stringify(got.data)}`);
        assert.equal(got.data.error.details.field, `instance.${field}`);
      } else assert.equal(got.status, 200, `without instance.${field}: ${JSON.stringify(got.data)}`);
    }
  });

  const WRONG: [string, string, string][] = [
    ['GET on a POST-only instance method', 'get', '/v1/instances/6f1d2b4e-1c3a-4e5f-9a7b-2c8d0e1f3a4b/spawn'],
    ['DELETE on the instance list', 'delete', '/v1/instances'],
    ['PUT on the restore of a generation', 'put', '/v1/instances/6f1d2b4e-1c3a-4e5f-9a7b-2c8d0e1f3a4b/nvram/restore'],
  ];
  const ALLOW: Record<string, string> = { get: 'POST', delete: 'GET, HEAD', put: 'POST' };
  for (const [name, method, url] of WRONG) {
    it(`answers 405 with Allow for a ${name}`, async () => {
      const r = await sc.http.request({ method, url });
      assert.equal(r.status, 405, JSON.stringify(r.data));
      assert.equal(r.headers.allow, ALLOW[method]);
      assert.equal(r.data.error.type, 'MethodNotAllowed');
    });
  }

  it('still answers 404 for a path that does not exist, and for a documented method that is not served here', async () => {
    const r = await sc.http.get('/v2/nothing');
    assert.equal(r.status, 404);
    assert.equal(r.headers.allow, undefined);
    const off = await startTestSidecar({ ...driverFirmware().map, api: { metrics_enabled: false } });
    try {
      const m = await off.http.get('/metrics');
      assert.equal(m.status, 404, 'GET /metrics without metrics is absent, not a wrong method');
      assert.equal((await off.http.post('/metrics')).status, 405);
    } finally {
      await off.stop();
    }
  });
});
