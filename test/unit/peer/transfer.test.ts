import { strict as assert } from 'node:assert';
import { encodeNvram, decodeNvram } from '../../../src/peer/transfer';

describe('peer/transfer', () => {
  it('round-trips a store and shrinks a 64 MiB zero store to under 0.1% of its size', () => {
    const data = Buffer.alloc(64 * 1024 * 1024);
    data.write('VARS', 0x100);
    const p = encodeNvram(data);
    assert.ok(Buffer.from(p.data, 'base64').length < data.length / 1000, `${p.data.length} base64 chars`);
    assert.ok(decodeNvram(p).equals(data));
  });
  it('round-trips an 0xFF OVMF-sized store', () => {
    const data = Buffer.alloc(540_672, 0xff);
    data.write('marker', 0x2000);
    assert.ok(decodeNvram(encodeNvram(data)).equals(data));
  });
  const bad: [string, (p: ReturnType<typeof encodeNvram>) => object, RegExp][] = [
    ['a digest mismatch', (p) => ({ ...p, sha256: 'f'.repeat(64) }), /digest mismatch/],
    ['a size mismatch', (p) => ({ ...p, size: p.size + 1 }), /size mismatch/],
    ['garbage data', (p) => ({ ...p, data: Buffer.from('not brotli').toString('base64') }), /decompress|size mismatch/],
    ['an unknown encoding', (p) => ({ ...p, encoding: 'gzip' }), /malformed/],
    ['a negative size', (p) => ({ ...p, size: -1 }), /out of range/],
  ];
  for (const [what, mutate, re] of bad) {
    it(`refuses ${what} with MigrationError`, () => {
      const p = encodeNvram(Buffer.alloc(131_072, 0xff));
      assert.throws(
        () => decodeNvram(mutate(p) as never),
        (e: Error & { type?: string }) => e.type === 'MigrationError' && re.test(e.message),
      );
    });
  }
});
