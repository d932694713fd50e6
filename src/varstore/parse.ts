/**
 * @module varstore/parse
 * Read an edk2 variable store image (raw bytes in, objects out; no file I/O).
 *
 * Layout (edk2 MdeModulePkg VariableFormat.h; reference §5): the NvData firmware volume
 * (found on a 1 KiB boundary, usually offset 0) → VARIABLE_STORE_HEADER at FV+HeaderLength →
 * variable records from the 4-byte-aligned end of that header while StartId is 0x55AA and a
 * header fits before the store end. Everything after the store (event log, FTW working block,
 * spare) is not interpreted here.
 *
 * Which record counts (edk2 FindVariableEx): State 0x3F (VAR_ADDED) is live; 0x3E (added, in
 * deleted transition: a crash hit an update between marking the old copy and adding the new)
 * counts only when no 0x3F record of the same name+GUID exists; the first live record of a
 * name+GUID wins. Every other state is skipped and the walk continues.
 *
 * Every bound is checked: any malformed input is a `VarStoreError` (never a RangeError), and
 * each step advances by at least a header, so the walk terminates.
 */
import { EFI_AUTHENTICATED_VARIABLE, EFI_SYSTEM_NV_DATA_FV, EFI_VARIABLE, guidAt, guidFromBytes } from './guids';
import { VarStoreError, hex } from './errors';
import {
  AUTH,
  AUTH_HEADER_SIZE,
  FV,
  FV_MIN_HEADER_LENGTH,
  PLAIN,
  PLAIN_HEADER_SIZE,
  STATE_LIVE,
  STATE_LIVE_IN_DELETED_TRANSITION,
  STORE,
  STORE_FORMATTED,
  STORE_HEADER_SIZE,
  STORE_HEALTHY,
  VARIABLE_START_ID,
  align4,
} from './layout';
import { findNvDataFv, isQcow2, isUniform } from './probe';
import { decodeName, decodeNameLenient } from './ucs2';
import { variableKey } from './storable';
import type { BlockMapEntry, FvHeaderInfo, StoreHeaderInfo, StoredVariable, VarStore } from './types';

export interface ParseOptions {
  /** Also return records that are not live (deleted, shadowed, half-written), flagged `live: false`. */
  includeDeleted?: boolean;
}

/** Locate and check the NvData volume header. */
function readFvHeader(buf: Buffer): FvHeaderInfo {
  if (isQcow2(buf)) throw new VarStoreError('qcow2', 'the file is a qcow2 image, not a raw edk2 variable store (convert it with qemu-img)');
  const off = findNvDataFv(buf);
  if (off === undefined) {
    if (buf.length > 0 && (isUniform(buf, 0x00) || isUniform(buf, 0xff))) {
      throw new VarStoreError(
        'unformatted',
        `the store is unformatted (all ${buf[0] === 0 ? '0x00' : '0xFF'}, ${buf.length} bytes): the firmware formats it on first boot`,
      );
    }
    throw new VarStoreError('not-edk2', `no edk2 NvData firmware volume (_FVH with ${EFI_SYSTEM_NV_DATA_FV}) found in ${buf.length} bytes`);
  }
  const fvLengthBig = buf.readBigUInt64LE(off + FV.fvLength);
  const headerLength = buf.readUInt16LE(off + FV.headerLength);
  if (fvLengthBig > BigInt(buf.length - off)) {
    throw new VarStoreError(
      'corrupt',
      `FvLength 0x${fvLengthBig.toString(16)} runs past the end of the file (${hex(buf.length - off)} bytes from the volume at ${hex(off)})`,
      { offset: off + FV.fvLength },
    );
  }
  const length = Number(fvLengthBig);
  if (headerLength < FV_MIN_HEADER_LENGTH || headerLength % 2 !== 0 || headerLength > length) {
    throw new VarStoreError(
      'corrupt',
      `firmware volume HeaderLength ${hex(headerLength)} is invalid (even, >= ${hex(FV_MIN_HEADER_LENGTH)}, <= FvLength ${hex(length)})`,
      { offset: off + FV.headerLength },
    );
  }
  let sum = 0;
  for (let p = off; p < off + headerLength; p += 2) sum = (sum + buf.readUInt16LE(p)) & 0xffff;
  if (sum !== 0) {
    throw new VarStoreError('corrupt', `firmware volume header checksum mismatch (16-bit words sum to ${hex(sum)}, not 0)`, { offset: off + FV.checksum });
  }
  const blockMap: BlockMapEntry[] = [];
  for (let p = off + FV.blockMap; p + 8 <= off + headerLength; p += 8) {
    const numBlocks = buf.readUInt32LE(p);
    const blockLength = buf.readUInt32LE(p + 4);
    if (numBlocks === 0 && blockLength === 0) break;
    blockMap.push({ numBlocks, length: blockLength });
  }
  return {
    offset: off,
    length,
    headerLength,
    checksum: buf.readUInt16LE(off + FV.checksum),
    attributes: buf.readUInt32LE(off + FV.attributes),
    revision: buf[off + FV.revision],
    blockMap,
  };
}

/** Check the VARIABLE_STORE_HEADER that follows the volume header. */
function readStoreHeader(buf: Buffer, fv: FvHeaderInfo): StoreHeaderInfo {
  const offset = fv.offset + fv.headerLength;
  const fvEnd = fv.offset + fv.length;
  if (offset + STORE_HEADER_SIZE > fvEnd) {
    throw new VarStoreError('corrupt', `no room for the variable store header at ${hex(offset)} before the volume end ${hex(fvEnd)}`, { offset });
  }
  const header = buf.subarray(offset, offset + STORE_HEADER_SIZE);
  let format: StoreHeaderInfo['format'];
  if (guidAt(buf, offset, EFI_AUTHENTICATED_VARIABLE)) format = 'authenticated';
  else if (guidAt(buf, offset, EFI_VARIABLE)) format = 'plain';
  else if (isUniform(header, 0xff)) {
    throw new VarStoreError('unformatted', 'the variable store header is erased (all 0xFF): the firmware formats it on first boot', { offset });
  } else {
    throw new VarStoreError(
      'unsupported',
      `unknown variable store signature ${guidFromBytes(buf, offset)} (want ${EFI_AUTHENTICATED_VARIABLE} or ${EFI_VARIABLE})`,
      { offset },
    );
  }
  const size = buf.readUInt32LE(offset + STORE.size);
  const formatByte = buf[offset + STORE.format];
  const stateByte = buf[offset + STORE.state];
  if (formatByte !== STORE_FORMATTED || stateByte !== STORE_HEALTHY) {
    throw new VarStoreError(
      'corrupt',
      `variable store header Format ${hex(formatByte)} State ${hex(stateByte)} (want ${hex(STORE_FORMATTED)} formatted, ${hex(STORE_HEALTHY)} healthy)`,
      { offset: offset + STORE.format },
    );
  }
  if (size < STORE_HEADER_SIZE || size > fvEnd - offset) {
    throw new VarStoreError('corrupt', `variable store Size ${hex(size)} does not fit the volume (${hex(fvEnd - offset)} bytes after the volume header)`, {
      offset: offset + STORE.size,
    });
  }
  return {
    format,
    guid: format === 'authenticated' ? EFI_AUTHENTICATED_VARIABLE : EFI_VARIABLE,
    offset,
    size,
    start: align4(offset + STORE_HEADER_SIZE),
    end: offset + size,
    formatByte,
    stateByte,
    recordHeaderSize: format === 'authenticated' ? AUTH_HEADER_SIZE : PLAIN_HEADER_SIZE,
  };
}

/** Read one record header at `pos` (the caller checked that a header fits). */
function readRecord(buf: Buffer, pos: number, store: StoreHeaderInfo): StoredVariable {
  const auth = store.format === 'authenticated';
  const F = auth ? AUTH : PLAIN;
  const hdr = store.recordHeaderSize;
  const state = buf[pos + F.state];
  const attr = buf.readUInt32LE(pos + F.attributes);
  let nameSize = buf.readUInt32LE(pos + F.nameSize);
  let dataSize = buf.readUInt32LE(pos + F.dataSize);
  // edk2 NameSizeOfVariable/DataSizeOfVariable: a header whose fields are still erased
  // (a write interrupted before they were programmed) has no name and no data.
  if (state === 0xff || attr === 0xffffffff || nameSize === 0xffffffff || dataSize === 0xffffffff) {
    nameSize = 0;
    dataSize = 0;
  }
  const recordSize = hdr + nameSize + dataSize;
  if (pos + recordSize > store.end) {
    throw new VarStoreError(
      'corrupt',
      `variable record at ${hex(pos)} (NameSize ${nameSize}, DataSize ${dataSize}) runs past the store end ${hex(store.end)}`,
      { offset: pos },
    );
  }
  const live = state === STATE_LIVE || state === STATE_LIVE_IN_DELETED_TRANSITION;
  const nameOff = pos + hdr;
  let name: string;
  if (live) {
    const r = decodeName(buf, nameOff, nameSize);
    if ('problem' in r) throw new VarStoreError('corrupt', `variable record at ${hex(pos)}: ${r.problem}`, { offset: pos });
    name = r.name;
  } else {
    name = decodeNameLenient(buf, nameOff, nameSize);
  }
  const dataOff = nameOff + nameSize;
  return {
    name,
    guid: guidFromBytes(buf, pos + F.vendorGuid),
    attr,
    data: Buffer.from(buf.subarray(dataOff, dataOff + dataSize)),
    timestamp: auth ? Buffer.from(buf.subarray(pos + AUTH.timeStamp, pos + AUTH.timeStamp + 16)) : Buffer.alloc(16),
    monotonicCount: auth ? buf.readBigUInt64LE(pos + AUTH.monotonicCount) : 0n,
    pubKeyIndex: auth ? buf.readUInt32LE(pos + AUTH.pubKeyIndex) : 0,
    state,
    live,
    offset: pos,
    recordSize,
  };
}

/** Parse a variable store image. Throws `VarStoreError` on anything it cannot read. */
export function parseVarStore(buf: Buffer, options: ParseOptions = {}): VarStore {
  const fv = readFvHeader(buf);
  const store = readStoreHeader(buf, fv);
  const records: StoredVariable[] = [];
  let pos = store.start;
  while (pos + store.recordHeaderSize <= store.end && buf.readUInt16LE(pos) === VARIABLE_START_ID) {
    const rec = readRecord(buf, pos, store);
    records.push(rec);
    pos = align4(pos + rec.recordSize);
  }
  const listEnd = Math.min(pos, store.end);

  // Decide liveness: first 0x3F wins; 0x3E only without any 0x3F twin (and only the first).
  const added = new Set<string>();
  for (const r of records) if (r.state === STATE_LIVE) added.add(variableKey(r));
  const seen = new Set<string>();
  for (const r of records) {
    if (!r.live) continue;
    const key = variableKey(r);
    if (seen.has(key) || (r.state === STATE_LIVE_IN_DELETED_TRANSITION && added.has(key))) r.live = false;
    else seen.add(key);
  }
  const liveCount = seen.size;
  return {
    fileSize: buf.length,
    fv,
    store,
    variables: options.includeDeleted ? records : records.filter((r) => r.live),
    recordCount: records.length,
    deletedCount: records.length - liveCount,
    listEnd,
    freeBytes: store.end - listEnd,
    freeSpaceErased: isUniform(buf.subarray(listEnd, store.end), 0xff),
  };
}
