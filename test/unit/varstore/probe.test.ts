/**
 * varstore/probe: the cheap format guess before parsing. Stores are built with the test
 * builder (independent of the library's writer).
 */
import { strict as assert } from 'node:assert';
import { findNvDataFv, isQcow2, isUniform, probeVarStore } from '../../../src/varstore/probe';
import { EFI_FIRMWARE_FILE_SYSTEM2, guidToBytes } from '../../../src/varstore/guids';
import { buildStore } from './builder';

/** A firmware volume header that is not NvData (a code volume in a combined image). */
function codeVolume(length: number): Buffer {
  const b = Buffer.alloc(length, 0xff);
  b.fill(0, 0, 0x48);
  guidToBytes(EFI_FIRMWARE_FILE_SYSTEM2).copy(b, 0x10);
  b.writeBigUInt64LE(BigInt(length), 0x20);
  b.write('_FVH', 0x28, 'latin1');
  return b;
}

describe('varstore/probe', () => {
  it('recognises the qcow2 magic, and not a shorter or different prefix', () => {
    assert.equal(isQcow2(Buffer.from([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3])), true);
    assert.equal(isQcow2(Buffer.from([0x51, 0x46, 0x49])), false);
    assert.equal(isQcow2(Buffer.from([0x51, 0x46, 0x49, 0xfa])), false);
    assert.equal(probeVarStore(Buffer.concat([Buffer.from([0x51, 0x46, 0x49, 0xfb]), Buffer.alloc(1020)])), 'qcow2');
  });

  it('isUniform checks every byte, across the 64 KiB chunk boundary', () => {
    const b = Buffer.alloc(0x10000 * 2 + 17);
    assert.equal(isUniform(b, 0), true);
    b[b.length - 1] = 1;
    assert.equal(isUniform(b, 0), false);
    b[b.length - 1] = 0;
    b[0x10000] = 0xff;
    assert.equal(isUniform(b, 0), false);
    assert.equal(isUniform(Buffer.alloc(100, 0xff), 0xff), true);
    assert.equal(isUniform(Buffer.alloc(0), 0x00), true);
  });

  it('finds an NvData volume at offset 0 (a VARS file)', () => {
    const s = buildStore();
    assert.equal(findNvDataFv(s), 0);
    assert.equal(probeVarStore(s), 'edk2');
  });

  it('finds an NvData volume behind 0xFF padding on a 1 KiB boundary (a combined image)', () => {
    const s = buildStore({ prefix: 0x2000 });
    assert.equal(findNvDataFv(s), 0x2000);
    assert.equal(probeVarStore(s), 'edk2');
  });

  it('skips another volume by its FvLength to find the NvData volume behind it', () => {
    const s = Buffer.concat([codeVolume(0x3000), buildStore()]);
    assert.equal(findNvDataFv(s), 0x3000);
  });

  it('does not report a code volume alone as edk2 NvData', () => {
    const s = codeVolume(0x3000);
    assert.equal(findNvDataFv(s), undefined);
    assert.equal(probeVarStore(s), 'unknown');
  });

  it('calls an all-zero or all-0xFF file unformatted', () => {
    assert.equal(probeVarStore(Buffer.alloc(0x20000)), 'unformatted');
    assert.equal(probeVarStore(Buffer.alloc(0x20000, 0xff)), 'unformatted');
  });

  it('calls an empty file and random bytes unknown', () => {
    assert.equal(probeVarStore(Buffer.alloc(0)), 'unknown');
    const junk = Buffer.alloc(0x1000, 0x5a);
    junk[7] = 1;
    assert.equal(probeVarStore(junk), 'unknown');
  });

  it('does not find a volume whose signature sits off the 1 KiB grid', () => {
    const s = Buffer.concat([Buffer.alloc(0x200, 0xff), buildStore()]);
    assert.equal(findNvDataFv(s), undefined);
  });
});
