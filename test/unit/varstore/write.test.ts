import { strict as assert } from 'node:assert';
import { parseVarStore } from '../../../src/varstore/parse';
import { writeVarStore, encodeRecord } from '../../../src/varstore/write';
import { setVariable, deleteVariable } from '../../../src/varstore/edit';
import { VarStoreError, type VarStoreErrorReason } from '../../../src/varstore/errors';
import { EFI_GLOBAL_VARIABLE as G, EFI_IMAGE_SECURITY_DATABASE as DB } from '../../../src/varstore/guids';
import type { Variable } from '../../../src/varstore/types';
import { buildStore, recordBytes, FIRST_RECORD, type BuildRecord } from './builder';

const rec = (name: string, data: string, extra: Partial<BuildRecord> = {}): BuildRecord => ({ name, guid: G, data: Buffer.from(data, 'hex'), ...extra });
const v = (name: string, data: string, extra: Partial<Variable> = {}): Variable => ({ name, guid: G, attr: 7, data: Buffer.from(data, 'hex'), ...extra });
const live = (buf: Buffer) => parseVarStore(buf).variables.map((x) => [x.name, x.data.toString('hex')]);

/** A store with live and deleted records, like Debian's .ms templates. */
function messyStore(opts = {}): Buffer {
  return buildStore({
    records: [
      rec('Old', 'aa', { state: 0x3c }),
      rec('Timeout', '0500'),
      rec('Lang', '656e6700'),
      rec('Timeout', '0000', { state: 0x3d }),
      rec('PlatformLang', '656e00'),
    ],
    ...opts,
  });
}

function expectReason(fn: () => unknown, reason: VarStoreErrorReason, re?: RegExp): VarStoreError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof VarStoreError, String(e));
    assert.equal(e.reason, reason, e.message);
    if (re) assert.match(e.message, re);
    return e;
  }
  assert.fail(`expected VarStoreError(${reason})`);
}

describe('varstore/write', () => {
  it('returns identical bytes when nothing changed, deleted records included', () => {
    const buf = messyStore();
    const out = writeVarStore(buf, parseVarStore(buf).variables);
    assert.ok(out.equals(buf));
    assert.notEqual(out, buf, 'returns a copy, not the input');
  });

  it('ignores the order of an unchanged variable set', () => {
    const buf = messyStore();
    assert.ok(writeVarStore(buf, parseVarStore(buf).variables.reverse()).equals(buf));
  });

  it('writes records the way the builder (and edk2) lays them out', () => {
    const r = rec('Boot0001', '0100000004007f00', { attr: 7 });
    const fromLib = encodeRecord({ name: r.name, guid: r.guid, attr: 7, data: r.data }, 'authenticated');
    assert.ok(fromLib.equals(recordBytes(r)));
    assert.ok(encodeRecord({ name: r.name, guid: r.guid, attr: 7, data: r.data }, 'plain').equals(recordBytes(r, 'plain')));
  });

  it('appends a new variable after the last record and touches nothing else', () => {
    const buf = messyStore();
    const before = parseVarStore(buf);
    const out = writeVarStore(buf, [...before.variables, v('BootNext', '0100')]);
    assert.equal(out.length, buf.length);
    assert.ok(out.subarray(0, before.listEnd).equals(buf.subarray(0, before.listEnd)));
    const b = recordBytes(rec('BootNext', '0100'));
    assert.ok(out.subarray(before.listEnd, before.listEnd + b.length).equals(b));
    assert.ok(out.subarray(before.listEnd + b.length + 2, before.store.end).every((x) => x === 0xff));
    assert.ok(out.subarray(before.store.end).equals(buf.subarray(before.store.end)), 'FTW and spare unchanged');
    assert.deepEqual(live(out), [...live(buf), ['BootNext', '0100']]);
  });

  it('marks a changed variable deleted in place (0x3F → 0x3D) and appends the new value', () => {
    const buf = messyStore();
    const vars = parseVarStore(buf).variables;
    const timeout = vars.find((x) => x.name === 'Timeout')!;
    const out = writeVarStore(buf, setVariable(vars, { name: 'Timeout', guid: G, attr: 7, data: Buffer.from('0a00', 'hex') }));
    assert.equal(out[timeout.offset + 2], 0x3d);
    const diffAt: number[] = [];
    const listEnd = parseVarStore(buf).listEnd;
    for (let i = 0; i < listEnd; i++) if (out[i] !== buf[i]) diffAt.push(i);
    assert.deepEqual(diffAt, [timeout.offset + 2], 'only the state byte changes inside the old list');
    assert.deepEqual(live(out), [
      ['Lang', '656e6700'],
      ['PlatformLang', '656e00'],
      ['Timeout', '0a00'],
    ]);
  });

  it('marks a deleted variable 0x3D and a shadow 0x3E twin 0x3C so it cannot come back', () => {
    const buf = buildStore({ records: [rec('X', '01', { state: 0x3e }), rec('X', '02'), rec('Y', '03')] });
    const vars = parseVarStore(buf).variables;
    const out = writeVarStore(buf, deleteVariable(vars, 'X', G));
    const all = parseVarStore(out, { includeDeleted: true }).variables;
    assert.deepEqual(
      all.map((r) => r.state),
      [0x3c, 0x3d, 0x3f],
    );
    assert.deepEqual(live(out), [['Y', '03']]);
  });

  it('set then delete returns the live set to the original', () => {
    const buf = messyStore();
    const orig = parseVarStore(buf).variables;
    const added = writeVarStore(buf, setVariable(orig, { name: 'New', guid: DB, attr: 3, data: Buffer.from('00', 'hex') }));
    const removed = writeVarStore(added, deleteVariable(parseVarStore(added).variables, 'New', DB));
    assert.deepEqual(live(removed), live(buf));
    assert.ok(writeVarStore(removed, orig).equals(removed), 'and writing the original set again changes nothing');
  });

  it('compacts (drops deleted records) only when appending does not fit', () => {
    // 0x120 record bytes: a deleted record (64) + 3 live ones (68 each) leave 20 bytes free.
    const storeSize = 28 + 0x120;
    const pad = (n: number) => 'ab'.repeat(n);
    const buf = buildStore({
      storeSize,
      records: [rec('A', pad(0), { data: Buffer.alloc(0), state: 0x3d, dataSize: 0 }), rec('B', pad(1)), rec('C', pad(1)), rec('D', pad(1))],
    });
    const vars = parseVarStore(buf).variables;
    assert.deepEqual(
      vars.map((x) => x.name),
      ['B', 'C', 'D'],
    );
    assert.equal(parseVarStore(buf).freeBytes, 20);
    const out = writeVarStore(buf, setVariable(vars, { name: 'B', guid: G, attr: 7, data: Buffer.from(pad(40), 'hex') }));
    const all = parseVarStore(out, { includeDeleted: true }).variables;
    assert.deepEqual(
      all.map((r) => [r.name, r.state]),
      [
        ['C', 0x3f],
        ['D', 0x3f],
        ['B', 0x3f],
      ],
    );
    assert.equal(all[0].offset, FIRST_RECORD);
    const s = parseVarStore(out);
    assert.ok(out.subarray(s.listEnd, s.store.end).every((x) => x === 0xff));
    assert.ok(out.subarray(s.store.end).equals(buf.subarray(s.store.end)));
  });

  it('compacts when the space after the list is not erased', () => {
    const buf = buildStore({ records: [rec('A', '01'), rec('Gone', '02', { state: 0x3d })] });
    const end = parseVarStore(buf).listEnd;
    buf[end + 10] = 0x00; // garbage after the list (no StartId there)
    const out = writeVarStore(buf, [...parseVarStore(buf).variables, v('B', '03')]);
    const all = parseVarStore(out, { includeDeleted: true }).variables;
    assert.deepEqual(
      all.map((r) => r.name),
      ['A', 'B'],
    );
    assert.equal(parseVarStore(out).freeSpaceErased, true);
  });

  it('refuses with reason full when the variables do not fit even compacted', () => {
    const buf = buildStore({ storeSize: 28 + 0x80, records: [rec('A', '01')] });
    const e = expectReason(() => writeVarStore(buf, [v('A', '01'), v('Big', 'ab'.repeat(0x80))]), 'full', /need \d+ bytes/);
    assert.equal(e.code, 409);
  });

  it('keeps the file size and everything outside the store for a 2-volume-deep (prefixed) image', () => {
    const buf = buildStore({ prefix: 0x400, suffix: 0x1000, records: [rec('A', '01')] });
    const out = writeVarStore(buf, [v('B', '02')]);
    assert.equal(out.length, buf.length);
    assert.ok(out.subarray(0, 0x400 + 0x64).equals(buf.subarray(0, 0x400 + 0x64)));
    assert.ok(out.subarray(0x400 + 0x4000).equals(buf.subarray(0x400 + 0x4000)));
    assert.deepEqual(live(out), [['B', '02']]);
  });

  it('writes the plain format with 32-byte headers', () => {
    const buf = buildStore({ format: 'plain', records: [rec('A', '01')] });
    const out = writeVarStore(buf, [v('A', '01'), v('B', '0203')]);
    const s = parseVarStore(out);
    assert.deepEqual(
      s.variables.map((x) => [x.name, x.data.toString('hex')]),
      [
        ['A', '01'],
        ['B', '0203'],
      ],
    );
    assert.equal(s.variables[1].offset, FIRST_RECORD + 40);
  });

  it('keeps timestamps, monotonic counts and key indexes of authenticated records', () => {
    const time = Buffer.from('e9070b1a0c22380000000000000000000', 'hex').subarray(0, 16);
    const buf = buildStore();
    const out = writeVarStore(buf, [{ name: 'db', guid: DB, attr: 0x27, data: Buffer.from('00', 'hex'), timestamp: time, monotonicCount: 9n, pubKeyIndex: 2 }]);
    const [r] = parseVarStore(out).variables;
    assert.ok(r.timestamp.equals(time));
    assert.equal(r.monotonicCount, 9n);
    assert.equal(r.pubKeyIndex, 2);
  });

  const invalid: Array<[string, Variable[], VarStoreErrorReason, RegExp]> = [
    ['an empty name', [v('', '01')], 'invalid-variable', /variables\[0\]\.name: must not be empty/],
    ['a name with NUL', [v('a\0b', '01')], 'invalid-variable', /variables\[0\]\.name: must not contain NUL/],
    ['a bad GUID', [{ ...v('A', '01'), guid: 'nope' }], 'invalid-variable', /variables\[0\]\.guid: not a GUID/],
    ['attributes without NON_VOLATILE', [v('A', '01', { attr: 6 })], 'invalid-variable', /variables\[0\]\.attr .*NON_VOLATILE/],
    ['RUNTIME_ACCESS without BOOTSERVICE_ACCESS', [v('A', '01', { attr: 5 })], 'invalid-variable', /variables\[0\]\.attr .*RUNTIME_ACCESS without/],
    ['unknown attribute bits', [v('A', '01', { attr: 0x107 })], 'invalid-variable', /outside/],
    ['a fractional attribute', [v('A', '01', { attr: 1.5 })], 'invalid-variable', /variables\[0\]\.attr/],
    ['empty data', [v('A', '')], 'invalid-variable', /variables\[0\]\.data .*must not be empty/],
    ['a 15-byte timestamp', [v('A', '01', { timestamp: Buffer.alloc(15) })], 'invalid-variable', /variables\[0\]\.time/],
    ['a duplicate', [v('A', '01'), v('A', '02')], 'invalid-variable', /variables\[1\]: duplicate variable A/],
    ['a duplicate differing only in GUID case', [v('A', '01'), { ...v('A', '02'), guid: G.toUpperCase() }], 'invalid-variable', /duplicate/],
    ['a deleted record', [{ ...v('A', '01'), state: 0x3d } as Variable], 'invalid-variable', /state 0x3d is not live/],
  ];
  for (const [name, vars, reason, re] of invalid) {
    it(`refuses ${name} with ${reason}`, () => {
      const e = expectReason(() => writeVarStore(buildStore(), vars), reason, re);
      assert.equal(e.code, 400);
      assert.ok(e.field?.startsWith('variables['));
    });
  }

  it('refuses a timestamp in a plain store', () => {
    const time = Buffer.alloc(16);
    time[0] = 1;
    expectReason(() => writeVarStore(buildStore({ format: 'plain' }), [v('A', '01', { timestamp: time })]), 'invalid-variable', /plain .* timestamp/);
  });

  it('refuses to write over a store it cannot read', () => {
    expectReason(() => writeVarStore(Buffer.alloc(0x1000), []), 'unformatted');
  });
});
