/**
 * Test helper: build edk2 variable store images byte by byte, independently of the library's
 * writer, so parser and writer tests do not check the code against itself. Layout as in
 * reference §5: FV header (checksum computed) → store header → records → 0xFF → FTW working
 * block header → 0xFF spare.
 */
import { guidToBytes, EFI_AUTHENTICATED_VARIABLE, EFI_VARIABLE, EFI_SYSTEM_NV_DATA_FV, EDKII_WORKING_BLOCK_SIGNATURE } from '../../../src/varstore/guids';

export interface BuildRecord {
  name: string;
  guid: string;
  attr?: number;
  data: Buffer;
  state?: number;
  timestamp?: Buffer;
  monotonicCount?: bigint;
  pubKeyIndex?: number;
  /** Override the header's NameSize / DataSize (for malformed stores). */
  nameSize?: number;
  dataSize?: number;
  /** Raw name bytes instead of the encoded name (for malformed stores). */
  rawName?: Buffer;
}

export interface BuildOptions {
  format?: 'authenticated' | 'plain';
  /** Volume length (default 0x8000). */
  fvLength?: number;
  /** Store Size field incl. its 28-byte header (default 0x4000 - 0x48: store ends at 0x4000). */
  storeSize?: number;
  records?: BuildRecord[];
  /** Bytes of 0xFF in front of the volume (a combined image's code part); must be a multiple of 1 KiB. */
  prefix?: number;
  /** Zero padding after the volume (AAVMF style). */
  suffix?: number;
  /** Override the store header Format / State bytes. */
  storeFormat?: number;
  storeState?: number;
}

export const FV_HEADER_LENGTH = 0x48;
export const FIRST_RECORD = 0x64;

export function utf16z(name: string): Buffer {
  return Buffer.concat([Buffer.from(name, 'utf16le'), Buffer.alloc(2)]);
}

export function recordBytes(r: BuildRecord, format: 'authenticated' | 'plain' = 'authenticated'): Buffer {
  const name = r.rawName ?? utf16z(r.name);
  if (format === 'plain') {
    const h = Buffer.alloc(32);
    h.writeUInt16LE(0x55aa, 0);
    h[2] = r.state ?? 0x3f;
    h.writeUInt32LE(r.attr ?? 7, 4);
    h.writeUInt32LE(r.nameSize ?? name.length, 8);
    h.writeUInt32LE(r.dataSize ?? r.data.length, 12);
    guidToBytes(r.guid).copy(h, 16);
    return Buffer.concat([h, name, r.data]);
  }
  const h = Buffer.alloc(60);
  h.writeUInt16LE(0x55aa, 0);
  h[2] = r.state ?? 0x3f;
  h.writeUInt32LE(r.attr ?? 7, 4);
  h.writeBigUInt64LE(r.monotonicCount ?? 0n, 8);
  (r.timestamp ?? Buffer.alloc(16)).copy(h, 16);
  h.writeUInt32LE(r.pubKeyIndex ?? 0, 32);
  h.writeUInt32LE(r.nameSize ?? name.length, 36);
  h.writeUInt32LE(r.dataSize ?? r.data.length, 40);
  guidToBytes(r.guid).copy(h, 44);
  return Buffer.concat([h, name, r.data]);
}

/** Recompute the FV header checksum of the volume at `fvOffset` in place. */
export function fixChecksum(buf: Buffer, fvOffset = 0): void {
  const hl = buf.readUInt16LE(fvOffset + 0x30);
  buf.writeUInt16LE(0, fvOffset + 0x32);
  let sum = 0;
  for (let p = fvOffset; p < fvOffset + hl; p += 2) sum = (sum + buf.readUInt16LE(p)) & 0xffff;
  buf.writeUInt16LE((0x10000 - sum) & 0xffff, fvOffset + 0x32);
}

export function buildStore(opts: BuildOptions = {}): Buffer {
  const format = opts.format ?? 'authenticated';
  const fvLength = opts.fvLength ?? 0x8000;
  const storeSize = opts.storeSize ?? fvLength / 2 - FV_HEADER_LENGTH;
  const prefix = opts.prefix ?? 0;
  const fv = Buffer.alloc(fvLength, 0xff);
  // EFI_FIRMWARE_VOLUME_HEADER
  fv.fill(0, 0, FV_HEADER_LENGTH);
  guidToBytes(EFI_SYSTEM_NV_DATA_FV).copy(fv, 0x10);
  fv.writeBigUInt64LE(BigInt(fvLength), 0x20);
  fv.write('_FVH', 0x28, 'latin1');
  fv.writeUInt32LE(0x0004feff, 0x2c);
  fv.writeUInt16LE(FV_HEADER_LENGTH, 0x30);
  fv[0x37] = 2;
  fv.writeUInt32LE(fvLength / 0x1000, 0x38);
  fv.writeUInt32LE(0x1000, 0x3c);
  fixChecksum(fv);
  // VARIABLE_STORE_HEADER
  guidToBytes(format === 'authenticated' ? EFI_AUTHENTICATED_VARIABLE : EFI_VARIABLE).copy(fv, FV_HEADER_LENGTH);
  fv.writeUInt32LE(storeSize, FV_HEADER_LENGTH + 16);
  fv[FV_HEADER_LENGTH + 20] = opts.storeFormat ?? 0x5a;
  fv[FV_HEADER_LENGTH + 21] = opts.storeState ?? 0xfe;
  fv.fill(0, FV_HEADER_LENGTH + 22, FV_HEADER_LENGTH + 28);
  // Records
  let pos = FIRST_RECORD;
  for (const r of opts.records ?? []) {
    const b = recordBytes(r, format);
    if (pos + b.length > FV_HEADER_LENGTH + storeSize) throw new Error(`builder: record ${r.name} overflows the store`);
    b.copy(fv, pos);
    pos = (pos + b.length + 3) & ~3;
  }
  // FTW working block header right after the store, 0xFF spare after it.
  const ftw = (FV_HEADER_LENGTH + storeSize + 0xfff) & ~0xfff;
  if (ftw + 32 <= fvLength) {
    guidToBytes(EDKII_WORKING_BLOCK_SIGNATURE).copy(fv, ftw);
    fv.writeUInt32LE(0x642caf2c, ftw + 16);
    fv[ftw + 20] = 0xfe;
    fv.fill(0, ftw + 21, ftw + 24);
    fv.writeBigUInt64LE(0xfe0n, ftw + 24);
  }
  return Buffer.concat([Buffer.alloc(prefix, 0xff), fv, Buffer.alloc(opts.suffix ?? 0)]);
}

/** A self-signed P-256 certificate (CN=Nova Test PK, valid until 2126) made with openssl for these tests. */
export const TEST_CERT_DER = Buffer.from(
  'MIIBrDCCAVOgAwIBAgIUW1nnVWKUQdAUa+FX2PrchSJ5VsAwCgYIKoZIzj0EAwIwKzESMBAGA1UE' +
    'CgwJTm92YSBUZXN0MRUwEwYDVQQDDAxOb3ZhIFRlc3QgUEswIBcNMjYxMTI3MDIzNTAxWhgPMjEy' +
    'NjExMDMwMjM1MDFaMCsxEjAQBgNVBAoMCU5vdmEgVGVzdDEVMBMGA1UEAwwMTm92YSBUZXN0IFBL' +
    'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAELh5dgZefrIBI2peVgSbhKfezuVGg8iFQydTXgse1' +
    'q7bn1KuUWOWCUOLseR4Ezz4tNY10vk4taxJW0oWedkv1N6NTMFEwHQYDVR0OBBYEFPTWduAzoX2Z' +
    'kv4kvapXuiGMaRn4MB8GA1UdIwQYMBaAFPTWduAzoX2Zkv4kvapXuiGMaRn4MA8GA1UdEwEB/wQF' +
    'MAMBAf8wCgYIKoZIzj0EAwIDRwAwRAIgcnI63pB0MTJt8CsVdYo3FyTpzzASEE2JXddSIiARhusC' +
    'IEznmqOld1bkPBz5ByHkaVzZltASklxX4qQXptt4jPnS',
  'base64',
);

/** EFI_SIGNATURE_LIST with the given entries (owner + data each). */
export function sigList(type: string, entries: Array<[string, Buffer]>): Buffer {
  const size = entries.length ? 16 + entries[0][1].length : 16;
  const h = Buffer.alloc(28);
  guidToBytes(type).copy(h, 0);
  h.writeUInt32LE(28 + size * entries.length, 16);
  h.writeUInt32LE(0, 20);
  h.writeUInt32LE(size, 24);
  return Buffer.concat([h, ...entries.map(([o, d]) => Buffer.concat([guidToBytes(o), d]))]);
}
