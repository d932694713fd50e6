/**
 * Property tests: the parser never fails with anything but a VarStoreError, whatever the
 * bytes; whatever parses also writes back byte-identically; and write-then-parse returns
 * the variable set that was written. Runs are bounded to keep the file at a few seconds.
 */
import { strict as assert } from 'node:assert';
import { existsSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { parseVarStore } from '../../../src/varstore/parse';
import { writeVarStore } from '../../../src/varstore/write';
import { decodeVariable } from '../../../src/varstore/decode';
import { devicePathToText } from '../../../src/varstore/devicePath';
import { secureBootSummary } from '../../../src/varstore/secureBoot';
import { VarStoreError } from '../../../src/varstore/errors';
import { variableKey } from '../../../src/varstore/storable';
import { EFI_GLOBAL_VARIABLE as G, EFI_IMAGE_SECURITY_DATABASE as DB, EFI_SECURE_BOOT_ENABLE_DISABLE as SBE } from '../../../src/varstore/guids';
import type { Variable } from '../../../src/varstore/types';
import { buildStore, type BuildRecord } from './builder';

const RUNS = 400;

/** Parse; on success also check the unchanged-write identity and that decoding never throws. */
function parseOrTypedError(buf: Buffer): void {
  let vars: Variable[];
  try {
    vars = parseVarStore(buf).variables;
  } catch (e) {
    if (e instanceof VarStoreError) return;
    throw e;
  }
  assert.ok(writeVarStore(buf, vars).equals(buf), 'an unchanged write reproduces the input');
  for (const v of vars) decodeVariable(v);
  secureBootSummary(vars);
}

const rec = (name: string, data: string, extra: Partial<BuildRecord> = {}): BuildRecord => ({ name, guid: G, data: Buffer.from(data, 'hex'), ...extra });
const BUILT = buildStore({
  fvLength: 0x2000,
  records: [
    rec('Gone', 'aa', { state: 0x3c }),
    rec('Boot0000', '0100000004007fff0400'),
    rec('Timeout', '0500', { state: 0x3d }),
    rec('Timeout', '0a00'),
    rec('Shadow', '01', { state: 0x3e }),
    { name: 'db', guid: DB, attr: 0x27, data: Buffer.alloc(40, 7) },
  ],
});
const MS_4M = '/usr/share/OVMF/OVMF_VARS_4M.ms.fd';

/** Mutations focused on the headers and the first records, where the structure is. */
const mutation = (len: number, hot: number) =>
  fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.integer({ min: 0, max: hot - 1 }), xor: fc.integer({ min: 1, max: 255 }) }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.integer({ min: 0, max: len - 1 }), xor: fc.constant(0) }),
    fc.record({ kind: fc.constant('u32' as const), at: fc.integer({ min: 0, max: hot - 4 }), xor: fc.integer({ min: 0, max: 0xffffffff }) }),
  );

function applyMutations(base: Buffer, ms: Array<{ kind: 'flip' | 'truncate' | 'u32'; at: number; xor: number }>): Buffer {
  let b = Buffer.from(base);
  for (const m of ms) {
    if (m.kind === 'flip' && m.at < b.length) b[m.at] ^= m.xor;
    else if (m.kind === 'truncate') b = b.subarray(0, Math.min(m.at, b.length));
    else if (m.kind === 'u32' && m.at + 4 <= b.length) b.writeUInt32LE(m.xor >>> 0, m.at);
  }
  return b;
}

describe('varstore fuzz', function () {
  this.timeout(60000);

  it('random buffers parse or throw VarStoreError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), (a) => parseOrTypedError(Buffer.from(a))),
      { numRuns: RUNS },
    );
  });

  it('a valid header followed by random record bytes parses or throws VarStoreError', () => {
    const base = buildStore({ fvLength: 0x2000 });
    const records = fc.array(fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 80 }), fc.constant(new Uint8Array([0xaa, 0x55, 0x3f, 0]))), { maxLength: 30 });
    fc.assert(
      fc.property(records, (chunks) => {
        const b = Buffer.from(base);
        Buffer.concat(chunks.map((c) => Buffer.from(c)))
          .subarray(0, 0x1000 - 0x64)
          .copy(b, 0x64);
        parseOrTypedError(b);
      }),
      { numRuns: RUNS },
    );
  });

  it('mutated built stores (flipped bytes, truncation, overwritten sizes) parse or throw VarStoreError', () => {
    fc.assert(
      fc.property(fc.array(mutation(BUILT.length, 0x200), { minLength: 1, maxLength: 4 }), (ms) => parseOrTypedError(applyMutations(BUILT, ms))),
      { numRuns: RUNS },
    );
  });

  it('mutated OVMF_VARS_4M.ms.fd parses or throws VarStoreError', function () {
    if (!existsSync(MS_4M)) this.skip(); // Debian ovmf template not installed
    const real = readFileSync(MS_4M);
    fc.assert(
      fc.property(fc.array(mutation(real.length, 0x5a00), { minLength: 1, maxLength: 3 }), (ms) => parseOrTypedError(applyMutations(real, ms))),
      { numRuns: 300 },
    );
  });

  it('decoders never throw on random data for any well-known variable', () => {
    const names: Array<[string, string]> = [
      ['BootOrder', G],
      ['Boot0001', G],
      ['BootNext', G],
      ['Timeout', G],
      ['Lang', G],
      ['ConOut', G],
      ['PK', G],
      ['KEK', G],
      ['db', DB],
      ['dbx', DB],
      ['SecureBootEnable', SBE],
    ];
    fc.assert(
      fc.property(fc.constantFrom(...names), fc.uint8Array({ maxLength: 300 }), ([name, guid], a) => {
        const data = Buffer.from(a);
        decodeVariable({ name, guid, data });
        devicePathToText(data);
        secureBootSummary([{ name, guid, attr: 7, data }]);
      }),
      { numRuns: RUNS },
    );
  });

  const nameArb = fc.array(fc.constantFrom('A', 'b', '0', '_', '-', ' ', 'é', 'ü', '中', 'Z'), { minLength: 1, maxLength: 12 }).map((a) => a.join(''));
  const guidArb = fc.oneof(fc.constantFrom(G, DB, SBE), fc.uuid());
  const attrArb = fc.constantFrom(0x1, 0x3, 0x7, 0x27, 0x23, 0x47);
  const varArb = (format: 'authenticated' | 'plain') =>
    fc.record({
      name: nameArb,
      guid: guidArb,
      attr: attrArb,
      data: fc.uint8Array({ minLength: 1, maxLength: 64 }).map((a) => Buffer.from(a)),
      timestamp: format === 'plain' ? fc.constant(Buffer.alloc(16)) : fc.uint8Array({ minLength: 16, maxLength: 16 }).map((a) => Buffer.from(a)),
      monotonicCount: format === 'plain' ? fc.constant(0n) : fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      pubKeyIndex: format === 'plain' ? fc.constant(0) : fc.integer({ min: 0, max: 0xffffffff }),
    });
  const setArb = (format: 'authenticated' | 'plain') => fc.uniqueArray(varArb(format), { maxLength: 24, selector: (v) => variableKey(v) });
  const norm = (vs: readonly Variable[]) =>
    vs
      .map((v) => [
        v.name,
        v.guid,
        v.attr,
        v.data.toString('hex'),
        (v.timestamp ?? Buffer.alloc(16)).toString('hex'),
        v.monotonicCount ?? 0n,
        v.pubKeyIndex ?? 0,
      ])
      .sort((a, b) => (`${a[1]}${a[0]}` < `${b[1]}${b[0]}` ? -1 : 1));

  for (const format of ['authenticated', 'plain'] as const) {
    it(`write then parse returns the same set (${format}), also when rewriting over a previous set`, () => {
      const empty = buildStore({ format, fvLength: 0x2000 });
      fc.assert(
        fc.property(setArb(format), setArb(format), (s1, s2) => {
          const one = writeVarStore(empty, s1);
          assert.equal(one.length, empty.length);
          const p1 = parseVarStore(one).variables;
          assert.deepEqual(
            p1.map((v) => v.name),
            s1.map((v) => v.name),
            'first write keeps the order',
          );
          assert.deepEqual(norm(p1), norm(s1));
          let two: Buffer;
          try {
            two = writeVarStore(one, s2);
          } catch (e) {
            assert.ok(e instanceof VarStoreError && e.reason === 'full', String(e));
            return;
          }
          assert.deepEqual(norm(parseVarStore(two).variables), norm(s2));
          assert.ok(two.subarray(0x1000).equals(empty.subarray(0x1000)), 'nothing after the store changes');
        }),
        { numRuns: 300 },
      );
    });
  }
});
