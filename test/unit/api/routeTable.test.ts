/**
 * api/routeTable: the methods the documented API serves at a path, from the OpenAPI document
 * itself (read here independently with the yaml parser), HEAD with GET; peer endpoints and
 * unknown paths have none.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import YAML from 'yaml';
import { allowedMethods } from '../../../src/api/routeTable';

const doc = YAML.parse(fs.readFileSync(path.resolve(__dirname, '../../../openapi/nova-uefi-shim.yaml'), 'utf8')) as {
  paths: Record<string, Record<string, unknown>>;
};
/** A concrete path for a template: every `{param}` replaced by a plausible value. */
const concrete = (template: string) => template.replace(/\{[^}]+\}/g, '0b7c6f1e-3a2d-4e5f-8a9b-0c1d2e3f4a5b');

describe('api/routeTable', () => {
  it('answers for every documented path exactly the methods the document gives it (plus HEAD with GET)', () => {
    for (const [template, item] of Object.entries(doc.paths)) {
      if (template.startsWith('/v1/peer/')) continue; // signed peer endpoints: see the next test
      const want = ['get', 'put', 'post', 'delete', 'patch'].filter((m) => m in item).map((m) => m.toUpperCase());
      if (want.includes('GET')) want.push('HEAD');
      // Another template may match the same concrete path (a literal segment vs a parameter): the answer holds at least these.
      const got = allowedMethods(concrete(template));
      for (const m of want) assert.ok(got.includes(m), `${template}: ${m} missing from ${got.join(',')}`);
    }
  });

  it('answers nothing for the signed peer endpoints (a wrong method there stays 404, as before they were documented)', () => {
    const peer = Object.keys(doc.paths).filter((t) => t.startsWith('/v1/peer/'));
    assert.ok(peer.length > 0, 'the document describes the peer endpoints');
    for (const template of peer) assert.deepEqual(allowedMethods(concrete(template)), [], template);
  });

  it('takes a trailing slash', () => {
    const [template, item] = Object.entries(doc.paths).find(([, i]) => 'get' in i)!;
    assert.ok(item);
    assert.ok(allowedMethods(`${concrete(template)}/`).includes('GET'));
  });

  it('answers nothing for an unknown path or a path with an extra segment', () => {
    assert.deepEqual(allowedMethods('/v1/nothing-here'), []);
    const [template] = Object.entries(doc.paths)[0];
    assert.deepEqual(allowedMethods(`${concrete(template)}/extra/segment/beyond`), []);
  });

  it('does not let a parameter match across a slash', () => {
    const t = Object.keys(doc.paths).find((p) => /\{[^}]+\}$/.test(p));
    assert.ok(t, 'a template ending in a parameter');
    assert.deepEqual(allowedMethods(t.replace(/\{[^}]+\}$/, 'a/b/c/d/e/f')), []);
  });

  it('treats regular-expression characters in a path literally', () => {
    assert.deepEqual(allowedMethods('/v1/.*'), []);
    assert.deepEqual(allowedMethods('.*'), []);
  });

  it('lists no peer endpoint (a wrong method there stays 404)', () => {
    assert.deepEqual(allowedMethods('/v1/peer/arrive'), []);
  });
});
