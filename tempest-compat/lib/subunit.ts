/**
 * @module tempest-compat/lib/subunit
 * A subunit v2 packet writer (python-subunit `subunit/v2.py`, README "Version 2"):
 *
 *   packet  = 0xB3 | flags:u16be | length:varint | [timestamp] [test id] [tags] [mime type]
 *             [file name, file content] [route code] | crc32:u32be
 *
 * flags: version 0x2 in the top nibble (0x2000), 0x0800 test id, 0x0400 route code,
 * 0x0200 timestamp, 0x0100 runnable, 0x0080 tags, 0x0040 file content, 0x0020 mime type,
 * 0x0010 EOF, low 3 bits the status (1 exists, 2 inprogress, 3 success, 4 uxsuccess, 5 skip,
 * 6 fail, 7 xfail). `length` counts the whole packet (signature through CRC). varints use the
 * top two bits of the first byte for their size (1–4 bytes, big endian). Strings are a varint
 * byte length plus UTF-8 without NUL. timestamp = u32 seconds + varint nanoseconds. CRC32 is
 * zlib's over everything before it. A packet may not exceed 4 MiB - 1; larger attachments are
 * sent as several chunks of the same file, EOF on the last, as the spec allows.
 * This module only encodes; what to send per test is the runner's business.
 */
import * as zlib from 'node:zlib';

export type SubunitStatus = 'exists' | 'inprogress' | 'success' | 'uxsuccess' | 'skip' | 'fail' | 'xfail';

const STATUS: Record<SubunitStatus, number> = { exists: 1, inprogress: 2, success: 3, uxsuccess: 4, skip: 5, fail: 6, xfail: 7 };

export const FLAG = {
  VERSION2: 0x2000,
  TEST_ID: 0x0800,
  ROUTE_CODE: 0x0400,
  TIMESTAMP: 0x0200,
  RUNNABLE: 0x0100,
  TAGS: 0x0080,
  FILE_CONTENT: 0x0040,
  MIME_TYPE: 0x0020,
  EOF: 0x0010,
} as const;

const MAX_PACKET = 4194303;
/** Leaves room for the header fields of a chunked attachment packet. */
const MAX_CHUNK = 4 * 1024 * 1024 - 64 * 1024;

export function encodeVarint(n: number): Buffer {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`varint: ${n}`);
  if (n < 0x40) return Buffer.from([n]);
  if (n < 0x4000) return Buffer.from([0x40 | (n >> 8), n & 0xff]);
  if (n < 0x400000) return Buffer.from([0x80 | (n >> 16), (n >> 8) & 0xff, n & 0xff]);
  if (n < 0x40000000) {
    const b = Buffer.alloc(4);
    b.writeUInt32BE((0xc0000000 | n) >>> 0);
    return b;
  }
  throw new RangeError(`varint too large: ${n}`);
}

function utf8(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  if (b.includes(0)) throw new Error('subunit strings may not contain NUL');
  return Buffer.concat([encodeVarint(b.length), b]);
}

/** CRC-32 (IEEE, as zlib.crc32). Node 20.15+ has zlib.crc32; keep a table fallback. */
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();
export function crc32(buf: Buffer): number {
  const native = (zlib as unknown as { crc32?: (b: Buffer) => number }).crc32;
  if (native) return native(buf) >>> 0;
  let c = 0xffffffff;
  for (const byte of buf) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export interface PacketFields {
  testId?: string;
  status?: SubunitStatus;
  timestamp?: Date;
  tags?: string[];
  runnable?: boolean;
  mimeType?: string;
  fileName?: string;
  fileBytes?: Buffer;
  eof?: boolean;
  routeCode?: string;
}

export function encodePacket(p: PacketFields): Buffer {
  let flags: number = FLAG.VERSION2;
  const body: Buffer[] = [];
  if (p.timestamp) {
    flags |= FLAG.TIMESTAMP;
    const ms = p.timestamp.getTime();
    const secs = Math.floor(ms / 1000);
    const ts = Buffer.alloc(4);
    ts.writeUInt32BE(secs >>> 0);
    body.push(ts, encodeVarint((ms - secs * 1000) * 1_000_000));
  }
  if (p.testId !== undefined) {
    flags |= FLAG.TEST_ID;
    body.push(utf8(p.testId));
  }
  if (p.tags && p.tags.length) {
    flags |= FLAG.TAGS;
    body.push(encodeVarint(p.tags.length), ...p.tags.map(utf8));
  }
  if (p.runnable !== false) flags |= FLAG.RUNNABLE;
  if (p.mimeType) {
    flags |= FLAG.MIME_TYPE;
    body.push(utf8(p.mimeType));
  }
  if (p.fileName !== undefined) {
    flags |= FLAG.FILE_CONTENT;
    const bytes = p.fileBytes ?? Buffer.alloc(0);
    body.push(utf8(p.fileName), encodeVarint(bytes.length), bytes);
  }
  if (p.eof) flags |= FLAG.EOF;
  if (p.routeCode !== undefined) {
    flags |= FLAG.ROUTE_CODE;
    body.push(utf8(p.routeCode));
  }
  if (p.status) flags |= STATUS[p.status];
  const bodyLen = body.reduce((n, b) => n + b.length, 0);
  const base = 1 + 2 + bodyLen + 4;
  // The length field counts itself: pick the smallest varint size that still fits.
  let total = -1;
  for (const size of [1, 2, 3, 4]) {
    const limit = [0x3f, 0x3fff, 0x3fffff, 0x3fffffff][size - 1];
    if (base + size <= limit) {
      total = base + size;
      break;
    }
  }
  if (total < 0 || total > MAX_PACKET) throw new RangeError(`subunit packet too long: ${base}`);
  const head = Buffer.alloc(3);
  head[0] = 0xb3;
  head.writeUInt16BE(flags, 1);
  const content = Buffer.concat([head, encodeVarint(total), ...body]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(content));
  return Buffer.concat([content, crc]);
}

/** testtools StreamResult-style writer over a byte sink. */
export class SubunitWriter {
  constructor(private readonly write: (b: Buffer) => void) {}

  status(p: PacketFields): void {
    this.write(encodePacket({ timestamp: new Date(), ...p }));
  }

  /** Sends an attachment for `testId` (chunked when large), EOF on the last chunk. */
  attach(testId: string, fileName: string, mimeType: string, bytes: Buffer): void {
    if (bytes.length === 0) {
      this.status({ testId, fileName, mimeType, fileBytes: bytes, eof: true });
      return;
    }
    for (let off = 0; off < bytes.length; off += MAX_CHUNK) {
      const chunk = bytes.subarray(off, off + MAX_CHUNK);
      this.status({ testId, fileName, mimeType, fileBytes: chunk, eof: off + MAX_CHUNK >= bytes.length });
    }
  }
}

/** Minimal decoder used by the self-check; validates signature, length and CRC. */
export function decodePackets(buf: Buffer): Array<PacketFields & { flags: number }> {
  const out: Array<PacketFields & { flags: number }> = [];
  let off = 0;
  const readVarint = (): number => {
    const b0 = buf[off];
    const size = (b0 >> 6) + 1;
    let v = b0 & 0x3f;
    for (let i = 1; i < size; i++) v = v * 256 + buf[off + i];
    off += size;
    return v;
  };
  const readStr = (): string => {
    const n = readVarint();
    const s = buf.subarray(off, off + n).toString('utf8');
    off += n;
    return s;
  };
  while (off < buf.length) {
    const start = off;
    if (buf[off] !== 0xb3) throw new Error(`bad signature at ${off}`);
    const flags = buf.readUInt16BE(off + 1);
    off += 3;
    const total = readVarint();
    const end = start + total;
    if (crc32(buf.subarray(start, end - 4)) !== buf.readUInt32BE(end - 4)) throw new Error(`bad CRC at ${start}`);
    const p: PacketFields & { flags: number } = { flags };
    if (flags & FLAG.TIMESTAMP) {
      const s = buf.readUInt32BE(off);
      off += 4;
      const ns = readVarint();
      p.timestamp = new Date(s * 1000 + Math.floor(ns / 1e6));
    }
    if (flags & FLAG.TEST_ID) p.testId = readStr();
    if (flags & FLAG.TAGS) {
      const n = readVarint();
      p.tags = Array.from({ length: n }, readStr);
    }
    if (flags & FLAG.MIME_TYPE) p.mimeType = readStr();
    if (flags & FLAG.FILE_CONTENT) {
      p.fileName = readStr();
      const n = readVarint();
      p.fileBytes = buf.subarray(off, off + n);
      off += n;
    }
    if (flags & FLAG.ROUTE_CODE) p.routeCode = readStr();
    const st = flags & 0x7;
    p.status = (Object.entries(STATUS).find(([, v]) => v === st)?.[0] as SubunitStatus | undefined) ?? undefined;
    p.eof = Boolean(flags & FLAG.EOF);
    p.runnable = Boolean(flags & FLAG.RUNNABLE);
    if (off !== end - 4) throw new Error(`packet at ${start}: fields end at ${off}, length says ${end - 4}`);
    off = end;
    out.push(p);
  }
  return out;
}
