import { strict as assert } from 'node:assert';
import { setVariable, deleteVariable, setBootOrder, setBootNext, bootOptionName, bootOptionNumber, findVariable } from '../../../src/varstore/edit';
import { diffVariables, isEmptyDiff } from '../../../src/varstore/diff';
import { VarStoreError, type VarStoreErrorReason } from '../../../src/varstore/errors';
import { EFI_GLOBAL_VARIABLE as G } from '../../../src/varstore/guids';
import type { Variable } from '../../../src/varstore/types';

const v = (name: string, data: string, extra: Partial<Variable> = {}): Variable => ({ name, guid: G, attr: 7, data: Buffer.from(data, 'hex'), ...extra });
const base: Variable[] = [v('Boot0000', '01'), v('Boot000A', '02'), v('Timeout', '0500')];

function expectReason(fn: () => unknown, reason: VarStoreErrorReason, re: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof VarStoreError && e.reason === reason && re.test(e.message));
}

describe('varstore/edit', () => {
  it('names boot options with four upper-case hex digits', () => {
    assert.equal(bootOptionName(10), 'Boot000A');
    assert.equal(bootOptionNumber('Boot000A'), 10);
    assert.equal(bootOptionNumber('Boot000a'), undefined);
    assert.equal(bootOptionNumber('BootOrder'), undefined);
  });

  it('replaces a variable in place, keeping its timestamp and counters, without mutating the input', () => {
    const time = Buffer.alloc(16, 1);
    const vars = [v('A', '01', { timestamp: time, monotonicCount: 4n, pubKeyIndex: 2 }), v('B', '02')];
    const out = setVariable(vars, { name: 'A', guid: G.toUpperCase(), attr: 0x27, data: Buffer.from('ff', 'hex') });
    assert.deepEqual(
      out.map((x) => [x.name, x.attr, x.data.toString('hex')]),
      [
        ['A', 0x27, 'ff'],
        ['B', 7, '02'],
      ],
    );
    assert.ok(out[0].timestamp?.equals(time));
    assert.equal(out[0].monotonicCount, 4n);
    assert.equal(out[0].pubKeyIndex, 2);
    assert.equal(vars[0].data.toString('hex'), '01');
  });

  it('appends a new variable with a zero timestamp unless one is given', () => {
    const out = setVariable(base, { name: 'New', guid: G, attr: 3, data: Buffer.from('00', 'hex') });
    assert.equal(out.length, 4);
    assert.ok(out[3].timestamp?.equals(Buffer.alloc(16)));
    const t = Buffer.alloc(16, 2);
    assert.ok(setVariable(base, { name: 'New', guid: G, attr: 3, data: Buffer.from('00', 'hex'), time: t })[3].timestamp?.equals(t));
  });

  it('deletes a variable and reports not-found for a missing one', () => {
    assert.deepEqual(
      deleteVariable(base, 'Timeout', G).map((x) => x.name),
      ['Boot0000', 'Boot000A'],
    );
    expectReason(() => deleteVariable(base, 'Nope', G), 'not-found', /Nope .* does not exist/);
  });

  it('sets BootOrder as u16 little-endian entries with NV|BS|RT', () => {
    const out = setBootOrder(base, [10, 0]);
    const bo = findVariable(out, 'BootOrder', G)!;
    assert.equal(bo.data.toString('hex'), '0a000000');
    assert.equal(bo.attr, 7);
    assert.equal(findVariable(setBootNext(base, 0), 'BootNext', G)!.data.toString('hex'), '0000');
  });

  const bad: Array<[string, () => unknown, VarStoreErrorReason, RegExp]> = [
    ['a BootOrder entry without Boot####', () => setBootOrder(base, [0, 3]), 'not-found', /BootOrder\[1\]: boot option Boot0003 does not exist/],
    ['a repeated BootOrder entry', () => setBootOrder(base, [0, 0]), 'invalid-variable', /BootOrder\[1\]: Boot0000 is listed twice/],
    ['an empty BootOrder', () => setBootOrder(base, []), 'invalid-variable', /at least one/],
    ['a BootOrder entry above 0xFFFF', () => setBootOrder(base, [0x10000]), 'invalid-variable', /BootOrder\[0\]/],
    ['a BootNext without Boot####', () => setBootNext(base, 7), 'not-found', /Boot0007/],
    ['a negative BootNext', () => setBootNext(base, -1), 'invalid-variable', /BootNext/],
    [
      'a variable with a bad GUID',
      () => setVariable(base, { name: 'X', guid: 'g', attr: 7, data: Buffer.from('00', 'hex') }),
      'invalid-variable',
      /^guid: not a GUID/,
    ],
    [
      'a variable with bad attributes',
      () => setVariable(base, { name: 'X', guid: G, attr: 2, data: Buffer.from('00', 'hex') }),
      'invalid-variable',
      /^attr: .*NON_VOLATILE/,
    ],
    [
      'a variable with empty data',
      () => setVariable(base, { name: 'X', guid: G, attr: 7, data: Buffer.alloc(0) }),
      'invalid-variable',
      /^data: must not be empty/,
    ],
    [
      'a variable with an empty name',
      () => setVariable(base, { name: '', guid: G, attr: 7, data: Buffer.from('00', 'hex') }),
      'invalid-variable',
      /^name: must not be empty/,
    ],
  ];
  for (const [name, fn, reason, re] of bad) it(`refuses ${name} (${reason})`, () => expectReason(fn, reason, re));
});

describe('varstore/diff', () => {
  it('reports added, removed and changed variables by name+GUID, ignoring order', () => {
    const a = [v('A', '01'), v('B', '02'), v('C', '03')];
    const b = [v('D', '04'), v('C', '03', { attr: 3 }), v('B', '22')];
    const d = diffVariables(a, b);
    assert.deepEqual(
      d.added.map((x) => x.name),
      ['D'],
    );
    assert.deepEqual(
      d.removed.map((x) => x.name),
      ['A'],
    );
    assert.deepEqual(
      d.changed.map((c) => [c.name, c.fields]),
      [
        ['C', ['attr']],
        ['B', ['data']],
      ],
    );
    assert.equal(isEmptyDiff(diffVariables(a, [...a].reverse())), true);
  });
  it('sees a timestamp change', () => {
    const d = diffVariables([v('A', '01')], [v('A', '01', { timestamp: Buffer.alloc(16, 1) })]);
    assert.deepEqual(d.changed[0].fields, ['time']);
  });
});
