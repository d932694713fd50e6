/**
 * varstore/ucs2: variable names are UTF-16LE with a terminating NUL; strict decoding refuses
 * what the firmware would refuse, the lenient variant never throws.
 */
import { strict as assert } from 'node:assert';
import { decodeName, decodeNameLenient, encodeName, nameProblem } from '../../../src/varstore/ucs2';

/** Bytes of a name written independently of the module: UTF-16LE code units, then 00 00. */
const raw = (...units: number[]): Buffer => {
  const b = Buffer.alloc(units.length * 2);
  units.forEach((u, i) => b.writeUInt16LE(u, i * 2));
  return b;
};

describe('varstore/ucs2', () => {
  it('encodes a name as UTF-16LE followed by one NUL code unit', () => {
    assert.deepEqual(encodeName('Boot'), raw(0x42, 0x6f, 0x6f, 0x74, 0));
    assert.equal(encodeName('PK').length, 6);
  });

  it('encodes a character outside the BMP as a surrogate pair', () => {
    assert.deepEqual(encodeName('\u{1F600}'), raw(0xd83d, 0xde00, 0));
  });

  const problems: Array<[string, unknown, string | undefined]> = [
    ['accepts an ordinary name', 'BootOrder', undefined],
    ['refuses a non-string', 42, 'must be a string'],
    ['refuses undefined', undefined, 'must be a string'],
    ['refuses the empty name', '', 'must not be empty'],
    ['refuses an embedded NUL', 'Bo\0ot', 'must not contain NUL'],
  ];
  for (const [title, name, want] of problems) it(`nameProblem ${title}`, () => assert.equal(nameProblem(name), want));

  describe('decodeName', () => {
    it('decodes a NUL-terminated name at an offset', () => {
      const buf = Buffer.concat([Buffer.from([0xaa, 0xbb]), raw(0x50, 0x4b, 0)]);
      assert.deepEqual(decodeName(buf, 2, 6), { name: 'PK' });
    });

    it('round-trips encodeName for names with non-ASCII characters', () => {
      for (const n of ['db', 'Ünïcødé', 'Boot0001', '\u{1F600}x']) {
        const b = encodeName(n);
        assert.deepEqual(decodeName(b, 0, b.length), { name: n });
      }
    });

    const bad: Array<[string, Buffer, number, number, RegExp]> = [
      ['a size below 2', raw(0), 0, 0, /too small/],
      ['an odd size', raw(0x41, 0), 0, 3, /odd/],
      ['a name past the end of the buffer', raw(0x41, 0), 2, 4, /past the end/],
      ['a negative offset', raw(0x41, 0), -2, 4, /past the end/],
      ['a missing terminator', raw(0x41, 0x42), 0, 4, /not NUL-terminated/],
      ['a NUL before the end', raw(0x41, 0, 0x42, 0), 0, 8, /NUL before its end/],
      ['an empty name (NUL only)', raw(0), 0, 2, /empty/],
    ];
    for (const [title, buf, off, size, re] of bad) {
      it(`reports ${title}`, () => {
        const r = decodeName(buf, off, size);
        assert.ok('problem' in r, `expected a problem, got ${JSON.stringify(r)}`);
        assert.match(r.problem, re);
      });
    }
  });

  describe('decodeNameLenient', () => {
    it('stops at the first NUL', () => assert.equal(decodeNameLenient(raw(0x41, 0, 0x42, 0), 0, 8), 'A'));
    it('reads what there is when the terminator is missing', () => assert.equal(decodeNameLenient(raw(0x41, 0x42), 0, 4), 'AB'));
    it('ignores the odd last byte of an odd size', () => assert.equal(decodeNameLenient(raw(0x41, 0x42), 0, 3), 'A'));
    it('clips a size that runs past the buffer instead of throwing', () => assert.equal(decodeNameLenient(raw(0x41, 0x42), 0, 4000), 'AB'));
    it('returns the empty string for a zero or negative size', () => {
      assert.equal(decodeNameLenient(raw(0x41), 0, 0), '');
      assert.equal(decodeNameLenient(raw(0x41), 0, -6), '');
    });
  });
});
