/**
 * @module varstore/probe
 * Cheap format guesses before parsing (virt-firmware's `probe()` habit): qcow2 magic, an edk2
 * NvData firmware volume anywhere on a 1 KiB boundary (so a combined `OVMF.fd` works too), or
 * an unformatted store (all 0x00 like Debian's `AAVMF_VARS.fd`, or erased flash, all 0xFF).
 * Does not validate the volume: `parseVarStore` does.
 */
import { EFI_SYSTEM_NV_DATA_FV, guidAt } from './guids';
import { FV, FV_SCAN_STEP, FV_SIGNATURE, QCOW2_MAGIC } from './layout';

export type VarStoreFormat = 'edk2' | 'qcow2' | 'unformatted' | 'unknown';

export function isQcow2(buf: Buffer): boolean {
  return buf.length >= 4 && buf.subarray(0, 4).equals(QCOW2_MAGIC);
}

const CHUNK = 0x10000;
const uniformChunks = new Map<number, Buffer>();

/** Whether every byte of `buf` is `byte` (memcmp in 64 KiB chunks: fast on 64 MiB AAVMF files). */
export function isUniform(buf: Buffer, byte: number): boolean {
  let ref = uniformChunks.get(byte);
  if (!ref) {
    ref = Buffer.alloc(CHUNK, byte);
    uniformChunks.set(byte, ref);
  }
  for (let off = 0; off < buf.length; off += CHUNK) {
    const end = Math.min(buf.length, off + CHUNK);
    if (!buf.subarray(off, end).equals(ref.subarray(0, end - off))) return false;
  }
  return true;
}

/**
 * Offset of the first firmware volume whose FileSystemGuid is gEfiSystemNvDataFvGuid, scanning
 * in 1 KiB steps and skipping other volumes (FFS code volumes in a combined image) by their
 * FvLength when it is sane. Undefined when there is none.
 */
export function findNvDataFv(buf: Buffer): number | undefined {
  let off = 0;
  while (off + FV.blockMap <= buf.length) {
    if (buf.readUInt32LE(off + FV.signature) === FV_SIGNATURE) {
      if (guidAt(buf, off + FV.fileSystemGuid, EFI_SYSTEM_NV_DATA_FV)) return off;
      const len = Number(buf.readBigUInt64LE(off + FV.fvLength));
      if (len >= FV_SCAN_STEP && len <= buf.length - off) {
        off += Math.ceil(len / FV_SCAN_STEP) * FV_SCAN_STEP;
        continue;
      }
    }
    off += FV_SCAN_STEP;
  }
  return undefined;
}

/** Cheap format guess; never throws. */
export function probeVarStore(buf: Buffer): VarStoreFormat {
  if (isQcow2(buf)) return 'qcow2';
  if (findNvDataFv(buf) !== undefined) return 'edk2';
  if (buf.length > 0 && (isUniform(buf, 0x00) || isUniform(buf, 0xff))) return 'unformatted';
  return 'unknown';
}
