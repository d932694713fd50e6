/**
 * varstore/diff: two variable sets compared by name+GUID (GUID case-insensitive), whatever the
 * order, with each changed field named.
 */
import { strict as assert } from 'node:assert';
import { diffVariables, isEmptyDiff } from '../../../src/varstore/diff';
import { EFI_GLOBAL_VARIABLE as G, EFI_IMAGE_SECURITY_DATABASE as DB } from '../../../src/varstore/guids';
import type { Variable } from '../../../src/varstore/types';

const v = (name: string, data: string, extra: Partial<Variable> = {}): Variable => ({ name, guid: G, attr: 7, data: Buffer.from(data), ...extra });
const ts = (second: number) => {
  const b = Buffer.alloc(16);
  b.writeUInt16LE(2024, 0);
  b[6] = second;
  return b;
};

describe('varstore/diff', () => {
  it('two equal sets in different order are an empty diff', () => {
    const a = [v('A', '1'), v('B', '2')];
    const d = diffVariables(a, [...a].reverse());
    assert.equal(isEmptyDiff(d), true);
    assert.deepEqual(d, { added: [], removed: [], changed: [] });
  });

  it('reports added and removed variables', () => {
    const d = diffVariables([v('A', '1'), v('Gone', 'x')], [v('A', '1'), v('New', 'y')]);
    assert.deepEqual(
      d.added.map((x) => x.name),
      ['New'],
    );
    assert.deepEqual(
      d.removed.map((x) => x.name),
      ['Gone'],
    );
    assert.equal(d.changed.length, 0);
    assert.equal(isEmptyDiff(d), false);
  });

  it('the same name under another GUID is a different variable', () => {
    const d = diffVariables([v('db', 'x')], [v('db', 'x', { guid: DB })]);
    assert.equal(d.added.length, 1);
    assert.equal(d.removed.length, 1);
  });

  it('a GUID in upper case names the same variable, and the change reports it in lower case', () => {
    const d = diffVariables([v('A', '1')], [v('A', '2', { guid: G.toUpperCase() })]);
    assert.equal(d.added.length + d.removed.length, 0);
    assert.equal(d.changed.length, 1);
    assert.equal(d.changed[0].guid, G);
  });

  const changes: Array<[string, Variable, Variable, string[]]> = [
    ['the attributes', v('A', '1'), v('A', '1', { attr: 3 }), ['attr']],
    ['the data', v('A', '1'), v('A', '2'), ['data']],
    ['the timestamp', v('A', '1', { timestamp: ts(1) }), v('A', '1', { timestamp: ts(2) }), ['time']],
    ['all three', v('A', '1', { timestamp: ts(1) }), v('A', '2', { attr: 0x27, timestamp: ts(2) }), ['attr', 'data', 'time']],
  ];
  for (const [title, before, after, fields] of changes) {
    it(`names ${title} as changed`, () => {
      const d = diffVariables([before], [after]);
      assert.equal(d.changed.length, 1);
      assert.deepEqual(d.changed[0].fields, fields);
      assert.equal(d.changed[0].before, before);
      assert.equal(d.changed[0].after, after);
    });
  }

  it('an absent timestamp equals an all-zero one', () => {
    const d = diffVariables([v('A', '1')], [v('A', '1', { timestamp: Buffer.alloc(16) })]);
    assert.equal(isEmptyDiff(d), true);
  });

  it('isEmptyDiff is false as soon as any list has an entry', () => {
    const one = v('A', '1');
    assert.equal(isEmptyDiff({ added: [one], removed: [], changed: [] }), false);
    assert.equal(isEmptyDiff({ added: [], removed: [one], changed: [] }), false);
    assert.equal(isEmptyDiff({ added: [], removed: [], changed: [{ name: 'A', guid: G, fields: ['data'], before: one, after: one }] }), false);
  });
});
