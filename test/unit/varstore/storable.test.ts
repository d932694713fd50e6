/**
 * varstore/storable: what the writer accepts as a new record, each refusal naming the field
 * (edk2 VariableServiceSetVariable rules), and the name+GUID identity of a variable.
 */
import { strict as assert } from 'node:assert';
import { attrProblem, keyProblem, variableKey, variableProblem } from '../../../src/varstore/storable';
import { EFI_GLOBAL_VARIABLE as G } from '../../../src/varstore/guids';
import type { StoreFormat, Variable } from '../../../src/varstore/types';

const good: Variable = { name: 'Boot0001', guid: G, attr: 7, data: Buffer.from([1]) };
const stamp = (() => {
  const b = Buffer.alloc(16);
  b.writeUInt16LE(2024, 0);
  return b;
})();

describe('varstore/storable', () => {
  const attrs: Array<[string, unknown, RegExp | undefined]> = [
    ['NV|BS|RT', 0x07, undefined],
    ['NV only', 0x01, undefined],
    ['NV|BS|RT|AT (a time-based authenticated variable)', 0x27, undefined],
    ['every defined bit', 0xff, undefined],
    ['a volatile variable (no NV)', 0x06, /lacks NON_VOLATILE/],
    ['RUNTIME_ACCESS without BOOTSERVICE_ACCESS', 0x05, /RUNTIME_ACCESS without BOOTSERVICE_ACCESS/],
    ['a bit above 0xff', 0x107, /outside the EFI_VARIABLE_\* set/],
    ['a negative number', -1, /integer 0\.\.0xffffffff/],
    ['a fraction', 1.5, /integer/],
    ['a value above u32', 0x100000000, /integer/],
    ['a string', '7', /integer/],
  ];
  for (const [title, attr, re] of attrs) {
    it(`attrProblem ${re ? 'refuses' : 'accepts'} ${title}`, () => {
      const p = attrProblem(attr);
      if (re) assert.match(p ?? '', re);
      else assert.equal(p, undefined);
    });
  }

  it('keyProblem names the name before the GUID', () => {
    assert.deepEqual(keyProblem({ name: '', guid: 'nope' }), { field: 'name', message: 'must not be empty' });
    assert.deepEqual(keyProblem({ name: 'X', guid: 'nope' }), { field: 'guid', message: 'not a GUID' });
    assert.equal(keyProblem({ name: 'X', guid: G }), undefined);
    assert.equal(keyProblem({ name: 'X', guid: G.toUpperCase() }), undefined);
  });

  const variables: Array<[string, Variable, StoreFormat, string | undefined, RegExp?]> = [
    ['a plain boot entry', good, 'authenticated', undefined],
    ['the same in a plain store', good, 'plain', undefined],
    ['a name with NUL', { ...good, name: 'a\0b' }, 'authenticated', 'name'],
    ['a bad GUID', { ...good, guid: '1234' }, 'authenticated', 'guid'],
    ['a volatile attribute', { ...good, attr: 6 }, 'authenticated', 'attr'],
    ['data that is not bytes', { ...good, data: 'x' as unknown as Buffer }, 'authenticated', 'data', /must be bytes/],
    ['empty data (that would delete)', { ...good, data: Buffer.alloc(0) }, 'authenticated', 'data', /zero-length write deletes/],
    ['a 15-byte timestamp', { ...good, timestamp: Buffer.alloc(15) }, 'authenticated', 'time', /16 bytes/],
    ['a negative monotonic count', { ...good, monotonicCount: -1n }, 'authenticated', 'monotonicCount', /u64/],
    ['a monotonic count of 2^64', { ...good, monotonicCount: 1n << 64n }, 'authenticated', 'monotonicCount', /u64/],
    ['a number as monotonic count', { ...good, monotonicCount: 1 as unknown as bigint }, 'authenticated', 'monotonicCount', /u64/],
    ['a monotonic count of 2^64-1', { ...good, monotonicCount: (1n << 64n) - 1n }, 'authenticated', undefined],
    ['a public-key index above u32', { ...good, pubKeyIndex: 0x100000000 }, 'authenticated', 'pubKeyIndex', /u32/],
    ['a timestamp in an authenticated store', { ...good, attr: 0x27, timestamp: stamp }, 'authenticated', undefined],
    ['a timestamp in a plain store', { ...good, timestamp: stamp }, 'plain', 'time', /plain/],
    ['a zero timestamp in a plain store', { ...good, timestamp: Buffer.alloc(16) }, 'plain', undefined],
    ['a monotonic count in a plain store', { ...good, monotonicCount: 3n }, 'plain', 'monotonicCount', /plain/],
    ['a zero monotonic count in a plain store', { ...good, monotonicCount: 0n }, 'plain', undefined],
    ['a public-key index in a plain store', { ...good, pubKeyIndex: 2 }, 'plain', 'pubKeyIndex', /plain/],
  ];
  for (const [title, v, format, field, re] of variables) {
    it(`variableProblem ${field ? `refuses ${title}, naming ${field}` : `accepts ${title}`}`, () => {
      const p = variableProblem(v, format);
      assert.equal(p?.field, field);
      if (re) assert.match(p?.message ?? '', re);
    });
  }

  it('variableProblem defaults to the authenticated format', () => {
    assert.equal(variableProblem({ ...good, monotonicCount: 3n }), undefined);
  });

  it('variableKey ignores GUID case and tells names apart', () => {
    assert.equal(variableKey({ name: 'PK', guid: G.toUpperCase() }), variableKey({ name: 'PK', guid: G }));
    assert.notEqual(variableKey({ name: 'PK', guid: G }), variableKey({ name: 'pk', guid: G }));
    // the separator cannot be forged by a name: names never contain NUL
    assert.notEqual(variableKey({ name: 'ab', guid: G }), variableKey({ name: 'b', guid: `${G}a` }));
  });
});
