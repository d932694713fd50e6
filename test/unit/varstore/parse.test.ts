import { strict as assert } from 'node:assert';
import { parseVarStore } from '../../../src/varstore/parse';
import { probeVarStore } from '../../../src/varstore/probe';
import { VarStoreError, type VarStoreErrorReason } from '../../../src/varstore/errors';
import { EFI_GLOBAL_VARIABLE as G, EFI_IMAGE_SECURITY_DATABASE as DB } from '../../../src/varstore/guids';
import { buildStore, fixChecksum, FIRST_RECORD, utf16z, type BuildRecord } from './builder';

const rec = (name: string, data: string, extra: Partial<BuildRecord> = {}): BuildRecord => ({ name, guid: G, data: Buffer.from(data, 'hex'), ...extra });

function expectReason(fn: () => unknown, reason: VarStoreErrorReason, match?: RegExp): VarStoreError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof VarStoreError, `expected VarStoreError(${reason}), got ${String(caught)}`);
  assert.equal(caught.reason, reason, caught.message);
  assert.equal(caught.type, 'InvalidNVRAM');
  if (match) assert.match(caught.message, match);
  return caught;
}

describe('varstore/parse', () => {
  it('reads the volume and store headers of a built authenticated store', () => {
    const s = parseVarStore(buildStore());
    assert.equal(s.fv.offset, 0);
    assert.equal(s.fv.length, 0x8000);
    assert.equal(s.fv.headerLength, 0x48);
    assert.deepEqual(s.fv.blockMap, [{ numBlocks: 8, length: 0x1000 }]);
    assert.equal(s.store.format, 'authenticated');
    assert.equal(s.store.offset, 0x48);
    assert.equal(s.store.start, FIRST_RECORD);
    assert.equal(s.store.end, 0x4000);
    assert.equal(s.listEnd, FIRST_RECORD);
    assert.equal(s.freeBytes, 0x4000 - FIRST_RECORD);
    assert.equal(s.freeSpaceErased, true);
    assert.deepEqual(s.variables, []);
  });

  it('reads every field of an authenticated record', () => {
    const ts = Buffer.from('e907030a02352700000000000000000', 'hex');
    const time = Buffer.concat([ts, Buffer.alloc(16 - ts.length)]);
    const s = parseVarStore(
      buildStore({ records: [{ name: 'db', guid: DB, attr: 0x27, data: Buffer.from('abcdef', 'hex'), timestamp: time, monotonicCount: 5n, pubKeyIndex: 3 }] }),
    );
    const [v] = s.variables;
    assert.equal(v.name, 'db');
    assert.equal(v.guid, DB);
    assert.equal(v.attr, 0x27);
    assert.equal(v.data.toString('hex'), 'abcdef');
    assert.ok(v.timestamp.equals(time));
    assert.equal(v.monotonicCount, 5n);
    assert.equal(v.pubKeyIndex, 3);
    assert.equal(v.state, 0x3f);
    assert.equal(v.live, true);
    assert.equal(v.offset, FIRST_RECORD);
    assert.equal(v.recordSize, 60 + 6 + 3);
    assert.equal(s.listEnd, FIRST_RECORD + 72); // aligned from 69
  });

  it('applies 4-byte alignment between records whatever the name and data sizes', () => {
    const records = [rec('A', '01'), rec('BB', '0102'), rec('CCC', '010203'), rec('DDDD', '01020304'), rec('E', '0102030405')];
    const s = parseVarStore(buildStore({ records }));
    assert.deepEqual(
      s.variables.map((v) => v.name),
      ['A', 'BB', 'CCC', 'DDDD', 'E'],
    );
    for (const v of s.variables) assert.equal(v.offset % 4, 0);
    assert.deepEqual(
      s.variables.map((v) => v.data.length),
      [1, 2, 3, 4, 5],
    );
  });

  it('reads the plain (non-authenticated) format with 32-byte headers', () => {
    const s = parseVarStore(buildStore({ format: 'plain', records: [rec('Timeout', '0500'), rec('Lang', '656e6700')] }));
    assert.equal(s.store.format, 'plain');
    assert.equal(s.store.recordHeaderSize, 32);
    assert.deepEqual(
      s.variables.map((v) => [v.name, v.data.toString('hex'), v.monotonicCount, v.pubKeyIndex]),
      [
        ['Timeout', '0500', 0n, 0],
        ['Lang', '656e6700', 0n, 0],
      ],
    );
    assert.equal(s.variables[1].offset, FIRST_RECORD + 52); // 32 + 16 + 2, aligned
  });

  const stateCases: Array<[string, { states: number[]; live: number[]; deleted: number }]> = [
    ['keeps 0x3F records', { states: [0x3f], live: [0], deleted: 0 }],
    ['skips deleted 0x3D and 0x3C records and keeps walking', { states: [0x3d, 0x3c, 0x3f], live: [2], deleted: 2 }],
    ['keeps a 0x3E record that has no live twin', { states: [0x3e], live: [0], deleted: 0 }],
    ['drops a 0x3E record when a 0x3F twin exists after it', { states: [0x3e, 0x3f], live: [1], deleted: 1 }],
    ['drops a 0x3E record when a 0x3F twin exists before it', { states: [0x3f, 0x3e], live: [0], deleted: 1 }],
    ['skips a header-valid-only 0x7F record', { states: [0x7f, 0x3f], live: [1], deleted: 1 }],
    ['keeps only the first of two 0x3F twins', { states: [0x3f, 0x3f], live: [0], deleted: 1 }],
  ];
  for (const [name, { states, live, deleted }] of stateCases) {
    it(`${name}`, () => {
      const records = states.map((state, i) => rec('Same', `0${i}`, { state }));
      const s = parseVarStore(buildStore({ records }));
      assert.deepEqual(
        s.variables.map((v) => v.data[0]),
        live,
      );
      assert.equal(s.deletedCount, deleted);
      const all = parseVarStore(buildStore({ records }), { includeDeleted: true });
      assert.equal(all.variables.length, states.length);
      assert.deepEqual(
        all.variables.map((v) => v.state),
        states,
      );
      assert.deepEqual(
        all.variables.filter((v) => v.live).map((v) => v.data[0]),
        live,
      );
    });
  }

  it('treats a header whose size fields are still erased as empty and keeps walking', () => {
    const s = parseVarStore(
      buildStore({ records: [rec('Half', '', { state: 0x7f, nameSize: 0xffffffff, dataSize: 0xffffffff, rawName: Buffer.alloc(0) }), rec('Next', '01')] }),
    );
    assert.deepEqual(
      s.variables.map((v) => v.name),
      ['Next'],
    );
  });

  it('finds the NvData volume behind 1 KiB-aligned leading bytes (combined OVMF.fd layout)', () => {
    const s = parseVarStore(buildStore({ prefix: 0x2000, records: [rec('Timeout', '0500')] }));
    assert.equal(s.fv.offset, 0x2000);
    assert.equal(s.store.offset, 0x2048);
    assert.equal(s.variables[0].offset, 0x2064);
  });

  it('reads an AAVMF-style store padded with zeros after the volume', () => {
    const s = parseVarStore(buildStore({ suffix: 0x10000, records: [rec('Timeout', '0500')] }));
    assert.equal(s.fileSize, 0x18000);
    assert.equal(s.variables.length, 1);
  });

  describe('probe', () => {
    const probes: Array<[string, Buffer, string]> = [
      ['a built store', buildStore(), 'edk2'],
      ['a qcow2 image', Buffer.concat([Buffer.from('514649fb00000003', 'hex'), Buffer.alloc(512)]), 'qcow2'],
      ['all zeros', Buffer.alloc(0x10000), 'unformatted'],
      ['erased flash', Buffer.alloc(0x10000, 0xff), 'unformatted'],
      ['text', Buffer.from('hello world '.repeat(100)), 'unknown'],
      ['an empty file', Buffer.alloc(0), 'unknown'],
    ];
    for (const [name, buf, want] of probes) it(`says ${want} for ${name}`, () => assert.equal(probeVarStore(buf), want));
  });

  describe('errors', () => {
    function mutate(fn: (b: Buffer) => void, opts = {}, checksum = false): Buffer {
      const b = buildStore({ records: [rec('Timeout', '0500'), rec('Lang', '656e6700')], ...opts });
      fn(b);
      if (checksum) fixChecksum(b);
      return b;
    }
    const cases: Array<[string, () => Buffer, VarStoreErrorReason, RegExp]> = [
      ['a qcow2 image', () => Buffer.concat([Buffer.from('514649fb', 'hex'), Buffer.alloc(1020)]), 'qcow2', /qcow2/],
      ['an all-zero file (Debian AAVMF_VARS.fd)', () => Buffer.alloc(0x20000), 'unformatted', /all 0x00/],
      ['an all-0xFF file', () => Buffer.alloc(0x2000, 0xff), 'unformatted', /all 0xFF/],
      ['an empty file', () => Buffer.alloc(0), 'not-edk2', /no edk2 NvData/],
      ['random text', () => Buffer.from('x'.repeat(5000)), 'not-edk2', /no edk2 NvData/],
      ['a header checksum that does not sum to zero', () => mutate((b) => (b[0x2c] ^= 1)), 'corrupt', /checksum/],
      ['an FvLength past the end of the file', () => mutate((b) => b.writeBigUInt64LE(0x9000n, 0x20), {}, true), 'corrupt', /FvLength/],
      ['a truncated file', () => buildStore().subarray(0, 0x5000), 'corrupt', /FvLength/],
      ['an odd HeaderLength', () => mutate((b) => b.writeUInt16LE(0x49, 0x30)), 'corrupt', /HeaderLength/],
      ['a HeaderLength below the minimum', () => mutate((b) => b.writeUInt16LE(0x20, 0x30), {}, true), 'corrupt', /HeaderLength/],
      ['an unknown store signature', () => mutate((b) => (b[0x48] ^= 0xff)), 'unsupported', /unknown variable store signature/],
      ['an erased store header', () => mutate((b) => b.fill(0xff, 0x48, 0x64)), 'unformatted', /erased/],
      ['a store that is not formatted', () => buildStore({ storeFormat: 0xff }), 'corrupt', /Format 0xff/],
      ['a store that is not healthy', () => buildStore({ storeState: 0xff }), 'corrupt', /State 0xff/],
      ['a store Size larger than the volume', () => mutate((b) => b.writeUInt32LE(0x9000, 0x48 + 16)), 'corrupt', /Size/],
      ['a store Size smaller than its header', () => mutate((b) => b.writeUInt32LE(4, 0x48 + 16)), 'corrupt', /Size/],
      ['a huge DataSize', () => buildStore({ records: [rec('X', '00', { dataSize: 0xfffffff0 })] }), 'corrupt', /runs past the store end/],
      ['a huge NameSize', () => buildStore({ records: [rec('X', '00', { nameSize: 0x7fffffff })] }), 'corrupt', /runs past the store end/],
      [
        'a huge DataSize in a deleted record',
        () => buildStore({ records: [rec('X', '00', { state: 0x3c, dataSize: 0x10000 })] }),
        'corrupt',
        /runs past the store end/,
      ],
      ['an odd NameSize', () => buildStore({ records: [rec('X', '00', { rawName: Buffer.from('580000', 'hex') })] }), 'corrupt', /odd/],
      ['a name without NUL', () => buildStore({ records: [rec('X', '00', { rawName: Buffer.from('5800', 'hex') })] }), 'corrupt', /not NUL-terminated/],
      [
        'a name with an early NUL',
        () => buildStore({ records: [rec('X', '00', { rawName: Buffer.from('5800000059000000', 'hex') })] }),
        'corrupt',
        /NUL before its end/,
      ],
      ['an empty name', () => buildStore({ records: [rec('X', '00', { rawName: Buffer.from('0000', 'hex') })] }), 'corrupt', /empty/],
      ['a zero NameSize on a live record', () => buildStore({ records: [rec('X', '00', { rawName: Buffer.alloc(0) })] }), 'corrupt', /too small/],
    ];
    for (const [name, make, reason, re] of cases) {
      it(`reports ${reason} for ${name}`, () => {
        expectReason(() => parseVarStore(make()), reason, re);
      });
    }
    it('puts the offset of a bad record in the error', () => {
      const e = expectReason(() => parseVarStore(buildStore({ records: [rec('Ok', '00'), rec('X', '00', { dataSize: 0xffff0 })] })), 'corrupt');
      assert.equal(e.offset, FIRST_RECORD + 68);
      assert.equal(e.code, 422);
      assert.deepEqual(e.details, { reason: 'corrupt', offset: FIRST_RECORD + 68 });
    });
    it('tolerates malformed names in deleted records', () => {
      const s = parseVarStore(buildStore({ records: [rec('X', '00', { state: 0x3c, rawName: Buffer.from('5800', 'hex') }), rec('Ok', '01')] }));
      assert.deepEqual(
        s.variables.map((v) => v.name),
        ['Ok'],
      );
    });
    it('does not read a name in the utf16z helper wrongly (builder sanity)', () => {
      assert.equal(utf16z('AB').toString('hex'), '410042000000');
    });
  });
});
