import { strict as assert } from 'node:assert';
import { exportJson, importJson } from '../../../src/varstore/json';
import { VarStoreError } from '../../../src/varstore/errors';
import { EFI_GLOBAL_VARIABLE as G, EFI_IMAGE_SECURITY_DATABASE as DB } from '../../../src/varstore/guids';
import type { Variable } from '../../../src/varstore/types';

const time = Buffer.from('e907030a0235270000000000000000' + '00', 'hex').subarray(0, 16);

describe('varstore/json', () => {
  it('exports version 2 with hex data and time only when non-zero', () => {
    const vars: Variable[] = [
      { name: 'BootOrder', guid: G, attr: 7, data: Buffer.from('0100', 'hex'), timestamp: Buffer.alloc(16) },
      { name: 'db', guid: DB.toUpperCase(), attr: 0x27, data: Buffer.from('abcd', 'hex'), timestamp: time },
    ];
    assert.deepEqual(exportJson(vars), {
      version: 2,
      variables: [
        { name: 'BootOrder', guid: G, attr: 7, data: '0100' },
        { name: 'db', guid: DB, attr: 0x27, data: 'abcd', time: time.toString('hex') },
      ],
    });
  });

  it('imports what it exports, from text or an object', () => {
    const doc = { version: 2, variables: [{ name: 'db', guid: DB, attr: 0x27, data: 'abcd', time: time.toString('hex'), digest: 'ignored' }] };
    for (const input of [doc, JSON.stringify(doc)]) {
      const [v] = importJson(input);
      assert.equal(v.name, 'db');
      assert.ok(v.data.equals(Buffer.from('abcd', 'hex')));
      assert.ok(v.timestamp?.equals(time));
      assert.equal(v.monotonicCount, 0n);
      assert.deepEqual(exportJson(importJson(input)).variables[0], { name: 'db', guid: DB, attr: 0x27, data: 'abcd', time: time.toString('hex') });
    }
  });

  const ok = { name: 'Timeout', guid: G, attr: 7, data: '0500' };
  const bad: Array<[string, unknown, string, RegExp]> = [
    ['text that is not JSON', '{', '$', /not JSON/],
    ['an array at the top', [], '$', /must be an object/],
    ['a missing version', { variables: [] }, 'version', /must be 2, found nothing/],
    ['version 1', { version: 1, variables: [] }, 'version', /must be 2, found 1/],
    ['variables not an array', { version: 2, variables: {} }, 'variables', /must be an array/],
    ['a variable that is not an object', { version: 2, variables: [ok, 3] }, 'variables[1]', /must be an object/],
    ['a missing name', { version: 2, variables: [{ ...ok, name: undefined }] }, 'variables[0].name', /must be a string/],
    ['an empty name', { version: 2, variables: [{ ...ok, name: '' }] }, 'variables[0].name', /must not be empty/],
    ['a bad GUID', { version: 2, variables: [ok, { ...ok, name: 'A' }, { ...ok, name: 'B' }, { ...ok, guid: 'x' }] }, 'variables[3].guid', /not a GUID/],
    ['a numeric GUID', { version: 2, variables: [{ ...ok, guid: 1 }] }, 'variables[0].guid', /not a GUID/],
    ['a string attr', { version: 2, variables: [{ ...ok, attr: '7' }] }, 'variables[0].attr', /integer/],
    ['a negative attr', { version: 2, variables: [{ ...ok, attr: -1 }] }, 'variables[0].attr', /integer/],
    ['attr without NON_VOLATILE', { version: 2, variables: [{ ...ok, attr: 6 }] }, 'variables[0].attr', /NON_VOLATILE/],
    ['odd-length hex data', { version: 2, variables: [{ ...ok, data: '050' }] }, 'variables[0].data', /hex string/],
    ['non-hex data', { version: 2, variables: [{ ...ok, data: 'zz' }] }, 'variables[0].data', /hex string/],
    ['empty data', { version: 2, variables: [{ ...ok, data: '' }] }, 'variables[0].data', /must not be empty/],
    ['a short time', { version: 2, variables: [{ ...ok, time: '00' }] }, 'variables[0].time', /32 hex/],
    ['a duplicate', { version: 2, variables: [ok, { ...ok, guid: G.toUpperCase() }] }, 'variables[1]', /duplicate of variables\[0\]/],
  ];
  for (const [name, doc, field, re] of bad) {
    it(`refuses ${name}, naming ${field}`, () => {
      assert.throws(
        () => importJson(doc),
        (e: unknown) =>
          e instanceof VarStoreError &&
          e.reason === 'invalid-json' &&
          e.field === field &&
          e.message.startsWith(`${field}: `) &&
          re.test(e.message) &&
          e.code === 400,
      );
    });
  }
});
