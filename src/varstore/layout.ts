/**
 * @module varstore/layout
 * On-disk constants of the edk2 variable store (PI 1.8 vol. 3 §3.2.1 EFI_FIRMWARE_VOLUME_HEADER;
 * edk2 MdeModulePkg/Include/Guid/VariableFormat.h): field offsets, sizes, magic numbers,
 * record states and attribute bits, and the 4-byte alignment rule. Numbers only: no parsing.
 */

/** `_FVH` little-endian. */
export const FV_SIGNATURE = 0x4856465f;

/** EFI_FIRMWARE_VOLUME_HEADER field offsets. */
export const FV = Object.freeze({
  fileSystemGuid: 0x10,
  fvLength: 0x20,
  signature: 0x28,
  attributes: 0x2c,
  headerLength: 0x30,
  checksum: 0x32,
  extHeaderOffset: 0x34,
  revision: 0x37,
  blockMap: 0x38,
});
/** Header with a zero-length block map (terminator only); real volumes have at least one entry (0x48). */
export const FV_MIN_HEADER_LENGTH = 0x40;
/** virt-firmware scans for the NvData volume in steps of this size. */
export const FV_SCAN_STEP = 0x400;

/** VARIABLE_STORE_HEADER: Signature GUID (16), Size u32, Format u8, State u8, Reserved u16 + u32. */
export const STORE_HEADER_SIZE = 28;
export const STORE = Object.freeze({ signature: 0, size: 16, format: 20, state: 21 });
/** VARIABLE_STORE_FORMATTED. */
export const STORE_FORMATTED = 0x5a;
/** VARIABLE_STORE_HEALTHY. */
export const STORE_HEALTHY = 0xfe;

export const VARIABLE_START_ID = 0x55aa;

/** AUTHENTICATED_VARIABLE_HEADER (packed, 60 bytes). */
export const AUTH_HEADER_SIZE = 60;
export const AUTH = Object.freeze({
  startId: 0,
  state: 2,
  attributes: 4,
  monotonicCount: 8,
  timeStamp: 16,
  pubKeyIndex: 32,
  nameSize: 36,
  dataSize: 40,
  vendorGuid: 44,
});
/** Legacy VARIABLE_HEADER (32 bytes). */
export const PLAIN_HEADER_SIZE = 32;
export const PLAIN = Object.freeze({ startId: 0, state: 2, attributes: 4, nameSize: 8, dataSize: 12, vendorGuid: 16 });

/**
 * Record states. Flash can only clear bits, so a state is the AND of the steps taken:
 * VAR_HEADER_VALID_ONLY 0x7F → VAR_ADDED 0x3F (live); deleting clears VAR_IN_DELETED_TRANSITION
 * (bit 0, → 0x3E) then VAR_DELETED (bit 1, → 0x3C or 0x3D).
 */
export const STATE_LIVE = 0x3f;
export const STATE_LIVE_IN_DELETED_TRANSITION = 0x3e;
export const STATE_HEADER_VALID_ONLY = 0x7f;
/** AND mask that marks a record deleted (clears bit 1): 0x3F → 0x3D, 0x3E → 0x3C. */
export const STATE_DELETED_MASK = 0xfd;

/** EFI_VARIABLE_* attribute bits (UEFI 2.10 §8.2). */
export const ATTR = Object.freeze({
  NON_VOLATILE: 0x01,
  BOOTSERVICE_ACCESS: 0x02,
  RUNTIME_ACCESS: 0x04,
  HARDWARE_ERROR_RECORD: 0x08,
  AUTHENTICATED_WRITE_ACCESS: 0x10,
  TIME_BASED_AUTHENTICATED_WRITE_ACCESS: 0x20,
  APPEND_WRITE: 0x40,
  ENHANCED_AUTHENTICATED_ACCESS: 0x80,
});
/** NV|BS|RT: Boot####, BootOrder, BootNext, Timeout, ... */
export const ATTR_NV_BS_RT = 0x07;

const ATTR_SHORT: ReadonlyArray<[number, string]> = [
  [ATTR.NON_VOLATILE, 'NV'],
  [ATTR.BOOTSERVICE_ACCESS, 'BS'],
  [ATTR.RUNTIME_ACCESS, 'RT'],
  [ATTR.HARDWARE_ERROR_RECORD, 'HR'],
  [ATTR.AUTHENTICATED_WRITE_ACCESS, 'AW'],
  [ATTR.TIME_BASED_AUTHENTICATED_WRITE_ACCESS, 'AT'],
  [ATTR.APPEND_WRITE, 'AP'],
  [ATTR.ENHANCED_AUTHENTICATED_ACCESS, 'EA'],
];

/** `0x27` → `['NV', 'BS', 'RT', 'AT']`; unknown bits as hex. */
export function attrNames(attr: number): string[] {
  const out: string[] = [];
  let rest = attr >>> 0;
  for (const [bit, name] of ATTR_SHORT) {
    if (rest & bit) {
      out.push(name);
      rest &= ~bit;
    }
  }
  if (rest) out.push(`0x${(rest >>> 0).toString(16)}`);
  return out;
}

/** HEADER_ALIGN: records start on 4-byte boundaries; the gap is 0xFF. */
export function align4(n: number): number {
  return (n + 3) & ~3;
}

/** qcow2 magic `QFI\xfb`. */
export const QCOW2_MAGIC = Buffer.from([0x51, 0x46, 0x49, 0xfb]);
