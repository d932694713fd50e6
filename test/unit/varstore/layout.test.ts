/**
 * varstore/layout: the on-disk numbers of the edk2 variable store, checked against the edk2
 * headers (VariableFormat.h, PiFirmwareVolume.h), and the two helpers that compute with them.
 */
import { strict as assert } from 'node:assert';
import {
  ATTR,
  ATTR_NV_BS_RT,
  AUTH,
  AUTH_HEADER_SIZE,
  FV_SIGNATURE,
  PLAIN,
  PLAIN_HEADER_SIZE,
  QCOW2_MAGIC,
  STATE_DELETED_MASK,
  STATE_LIVE,
  STATE_LIVE_IN_DELETED_TRANSITION,
  align4,
  attrNames,
} from '../../../src/varstore/layout';

describe('varstore/layout', () => {
  it('FV_SIGNATURE reads as "_FVH" in a little-endian u32', () => {
    assert.equal(Buffer.from('_FVH', 'latin1').readUInt32LE(0), FV_SIGNATURE);
  });

  it('QCOW2_MAGIC is "QFI" followed by 0xFB', () => {
    assert.deepEqual(QCOW2_MAGIC, Buffer.concat([Buffer.from('QFI', 'latin1'), Buffer.from([0xfb])]));
  });

  it('the authenticated header fields are packed and end at 60 bytes (GUID last)', () => {
    // StartId u16, State u8, Reserved u8, Attributes u32, MonotonicCount u64, TimeStamp 16,
    // PubKeyIndex u32, NameSize u32, DataSize u32, VendorGuid 16.
    assert.deepEqual(
      { ...AUTH },
      { startId: 0, state: 2, attributes: 4, monotonicCount: 8, timeStamp: 16, pubKeyIndex: 32, nameSize: 36, dataSize: 40, vendorGuid: 44 },
    );
    assert.equal(AUTH.vendorGuid + 16, AUTH_HEADER_SIZE);
  });

  it('the plain header fields end at 32 bytes (GUID last)', () => {
    assert.equal(PLAIN.vendorGuid + 16, PLAIN_HEADER_SIZE);
    assert.equal(PLAIN.dataSize + 4, PLAIN.vendorGuid);
  });

  it('the record states are steps of clearing bits: live → in transition → deleted', () => {
    assert.equal(STATE_LIVE & 0xfe, STATE_LIVE_IN_DELETED_TRANSITION);
    assert.equal(STATE_LIVE & STATE_DELETED_MASK, 0x3d);
    assert.equal(STATE_LIVE_IN_DELETED_TRANSITION & STATE_DELETED_MASK, 0x3c);
  });

  it('ATTR_NV_BS_RT is NON_VOLATILE | BOOTSERVICE_ACCESS | RUNTIME_ACCESS', () => {
    assert.equal(ATTR_NV_BS_RT, ATTR.NON_VOLATILE | ATTR.BOOTSERVICE_ACCESS | ATTR.RUNTIME_ACCESS);
  });

  const names: Array<[number, string[]]> = [
    [0, []],
    [0x07, ['NV', 'BS', 'RT']],
    [0x27, ['NV', 'BS', 'RT', 'AT']],
    [0xff, ['NV', 'BS', 'RT', 'HR', 'AW', 'AT', 'AP', 'EA']],
    [0x103, ['NV', 'BS', '0x100']],
    [0x80000001, ['NV', '0x80000000']],
  ];
  for (const [attr, want] of names) {
    it(`attrNames(0x${attr.toString(16)}) is [${want.join(', ')}]`, () => assert.deepEqual(attrNames(attr), want));
  }

  it('align4 rounds up to the next multiple of 4 and keeps multiples', () => {
    assert.deepEqual([0, 1, 2, 3, 4, 5, 59, 60, 61].map(align4), [0, 4, 4, 4, 4, 8, 60, 60, 64]);
  });
});
