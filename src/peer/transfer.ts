/**
 * @module peer/transfer
 * Wire form of a variable store between sidecars: brotli-compressed (OVMF stores are mostly
 * 0xFF, AAVMF ones 64 MiB of mostly zeros: both shrink to a few KiB or less), base64 in a
 * JSON body so that the HMAC signature covers content and metadata together, and the
 * sha256 and size of the uncompressed content: the receiver of a whole store verifies it before
 * installing, the receiver of runs checks the copy it wrote (see `decodeImage`).
 */
import { brotliCompressSync, brotliDecompressSync, constants as zc } from 'node:zlib';
import { createHash } from 'node:crypto';
import { MigrationError } from '../errors';
import type { SparseImage } from '../util/atomicFile';

export interface NvramPayload {
  /** sha256 of the uncompressed store. */
  sha256: string;
  size: number;
  /** base64 of brotli(content), or with `runs` of brotli(the runs' bytes, one after the other). */
  data: string;
  encoding: 'br';
  /**
   * [offset, length] of each run of bytes that are not all zero, in order: every other byte of
   * the store is zero. Sent only to a receiver that asked for it (it never holds the whole
   * store: a 64 MiB AAVMF store is a few KiB of runs).
   */
  runs?: [number, number][];
}

/**
 * Brotli quality 1: a 64 MiB AAVMF store compresses in ~22 ms instead of ~140 ms at quality 5
 * (bench, Debian templates), to 12-18 KiB (under 0.03% of the store) instead of 0.1-6 KiB; a
 * 528 KiB OVMF store to 6.0 KiB instead of 5.4. Time on the migration path matters more.
 */
const BROTLI_QUALITY = 1;

/**
 * `content` compressed for the wire with its digest. `sha256`: the digest of exactly these
 * bytes when the caller already has it (NvramStore.readHashed), so the store is not hashed twice.
 */
export function encodeNvram(content: Buffer, sha256?: string): NvramPayload {
  const packed = brotliCompressSync(content, { params: { [zc.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY, [zc.BROTLI_PARAM_SIZE_HINT]: content.length } });
  return { sha256: sha256 ?? createHash('sha256').update(content).digest('hex'), size: content.length, data: packed.toString('base64'), encoding: 'br' };
}

/** Decompress and verify; throws MigrationError (digest or size mismatch) without returning anything partial. */
export function decodeNvram(p: NvramPayload, maxSize = 256 * 1024 * 1024): Buffer {
  if (!p || p.encoding !== 'br' || typeof p.data !== 'string' || typeof p.sha256 !== 'string' || !Number.isInteger(p.size)) {
    throw new MigrationError('malformed NVRAM payload', { code: 400 });
  }
  if (p.size < 0 || p.size > maxSize) throw new MigrationError(`NVRAM payload size ${p.size} out of range`, { code: 400 });
  let content: Buffer;
  try {
    content = brotliDecompressSync(Buffer.from(p.data, 'base64'), {
      maxOutputLength: p.size + 1,
      // One output buffer of the declared size (and the byte that tells a longer output):
      // pieces of any size are copied together once more at the end, and for a 64 MiB AAVMF
      // store that copy into fresh memory costs as much as the decompression (1 MiB pieces:
      // 457 ms, one buffer: 217 ms, Debian's AAVMF_VARS.ms.fd on a 2-vCPU VM). p.size is
      // bounded by maxSize above.
      chunkSize: Math.max(zc.Z_MIN_CHUNK, p.size + 1),
    });
  } catch (e) {
    throw new MigrationError('NVRAM payload does not decompress', { code: 400, cause: e });
  }
  if (content.length !== p.size) throw new MigrationError(`NVRAM size mismatch: got ${content.length} bytes, expected ${p.size}`, { code: 400 });
  const digest = createHash('sha256').update(content).digest('hex');
  if (digest !== p.sha256) throw new MigrationError(`NVRAM digest mismatch: got ${digest}, expected ${p.sha256}`, { code: 400 });
  return content;
}

/**
 * Bytes of store a message to or from a peer carries: the uncompressed size of the payload
 * at its `nvram` field (a stage request, a state answer with the store), else 0. For the
 * `nvram_bytes_sent_total` metric.
 */
export function storeBytesIn(body: unknown): number {
  const p = (body as { nvram?: Partial<NvramPayload> | null } | null | undefined)?.nvram;
  return p && typeof p === 'object' && p.encoding === 'br' && typeof p.data === 'string' && Number.isInteger(p.size) ? Number(p.size) : 0;
}

/**
 * A sparse image for the wire: its runs and brotli of their bytes, with the digest of the
 * whole store (`sha256`, computed by whoever read it: NvramStore.readImage).
 */
export function encodeImage(image: SparseImage, sha256: string): NvramPayload {
  const runs: [number, number][] = [];
  for (const s of image.segments) {
    const last = runs[runs.length - 1];
    if (last && last[0] + last[1] === s.offset) last[1] += s.data.length;
    else runs.push([s.offset, s.data.length]);
  }
  const bytes = Buffer.concat(image.segments.map((s) => s.data));
  const packed = brotliCompressSync(bytes, { params: { [zc.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY, [zc.BROTLI_PARAM_SIZE_HINT]: bytes.length } });
  return { sha256, size: image.size, data: packed.toString('base64'), encoding: 'br', runs };
}

/**
 * Decompress a payload with `runs` into a sparse image and verify its structure (runs in order,
 * inside the size, their bytes exactly as many as they say); throws MigrationError without
 * returning anything partial. The digest of the whole store (`sha256`) is not computed here:
 * hashing the zeros of a 64 MiB AAVMF store costs ~40 ms on the path Nova waits on, and the
 * HMAC signature already covers the runs. The receiver checks it on the copy it wrote, from the
 * file (driver/liveMigration, in the background), and the source compares the two stores'
 * digests after the hand-over before it drops its own.
 */
export function decodeImage(p: NvramPayload, maxSize = 256 * 1024 * 1024): SparseImage {
  if (!p || p.encoding !== 'br' || typeof p.data !== 'string' || typeof p.sha256 !== 'string' || !Number.isInteger(p.size) || !Array.isArray(p.runs)) {
    throw new MigrationError('malformed NVRAM payload', { code: 400 });
  }
  if (p.size < 0 || p.size > maxSize) throw new MigrationError(`NVRAM payload size ${p.size} out of range`, { code: 400 });
  let end = 0;
  for (const r of p.runs) {
    if (!Array.isArray(r) || r.length !== 2 || !Number.isInteger(r[0]) || !Number.isInteger(r[1]) || r[0] < end || r[1] <= 0 || r[0] + r[1] > p.size) {
      throw new MigrationError(`NVRAM payload runs out of order or beyond its ${p.size} bytes`, { code: 400 });
    }
    end = r[0] + r[1];
  }
  const total = p.runs.reduce((n, r) => n + r[1], 0);
  let bytes: Buffer;
  try {
    bytes = brotliDecompressSync(Buffer.from(p.data, 'base64'), { maxOutputLength: total + 1, chunkSize: Math.max(zc.Z_MIN_CHUNK, total + 1) });
  } catch (e) {
    throw new MigrationError('NVRAM payload does not decompress', { code: 400, cause: e });
  }
  if (bytes.length !== total) throw new MigrationError(`NVRAM size mismatch: got ${bytes.length} bytes of runs, expected ${total}`, { code: 400 });
  const image: SparseImage = { size: p.size, segments: [] };
  let taken = 0;
  for (const [offset, length] of p.runs) {
    image.segments.push({ offset, data: bytes.subarray(taken, taken + length) });
    taken += length;
  }
  return image;
}
