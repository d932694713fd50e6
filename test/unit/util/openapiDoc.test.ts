import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { OPENAPI_JSON_PATH, OPENAPI_PATH, componentValidator, loadOpenApi, openApiAjv } from '../../../src/util/openapiDoc';

describe('util/openapiDoc', () => {
  it('reads the JSON copy of the YAML document, once', () => {
    const doc = loadOpenApi();
    assert.equal(loadOpenApi(), doc);
    assert.deepEqual(doc, JSON.parse(readFileSync(OPENAPI_JSON_PATH, 'utf8')));
    assert.deepEqual(JSON.parse(JSON.stringify(parse(readFileSync(OPENAPI_PATH, 'utf8')))), doc);
  });

  it("compiles a component schema on first use, keeps it, and applies the document's formats", () => {
    const digest = componentValidator('PeerNvramDigest');
    assert.equal(componentValidator('PeerNvramDigest'), digest);
    assert.equal(digest({ sha256: 'a'.repeat(64), size: 1 }), true);
    assert.equal(digest({ sha256: 'a'.repeat(63), size: 1 }), false);
    assert.equal(digest({ sha256: null }), false, 'size is required');
    const record = componentValidator('PeerInstanceRecord');
    assert.equal(record({ uuid: 'not-a-uuid', name: 'n', vmState: 'active' }), false, 'format: uuid is checked');
  });

  it('throws for a schema the document does not have', () => {
    assert.throws(() => componentValidator('NoSuchSchema'));
  });

  it('gives each caller its own Ajv over the same document', () => {
    const a = openApiAjv();
    assert.notEqual(a, openApiAjv());
    assert.ok(a.getSchema('openapi#/components/schemas/PeerPing'));
  });
});
