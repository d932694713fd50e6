/**
 * @module peer/transfer
 * Wire form of a variable store between sidecars: brotli-compressed (OVMF stores are mostly
 * 0xFF, AAVMF ones 64 MiB of mostly zeros: both shrink to a few KiB or less), base64 in a
 * JSON body so that the HMAC signature covers content and metadata together, and the
 * sha256 and size of the uncompressed content so the receiver verifies before installing.
 */
import { brotliCompressSync, brotliDecompressSync, constants as zc } from 'node:zlib';
import { createHash } from 'node:crypto';
import { MigrationError } from '../errors';

export interface NvramPayload {
  /** sha256 of the uncompressed store. */
  sha256: string;
  size: number;
  /** base64 of brotli(content). */
  data: string;
  encoding: 'br';
}

/**
 * Brotli quality 1: a 64 MiB AAVMF store compresses in ~22 ms instead of ~140 ms at quality 5
 * (bench, Debian templates), to 12-18 KiB (under 0.03% of the store) instead of 0.1-6 KiB; a
 * 528 KiB OVMF store to 6.0 KiB instead of 5.4. Time on the migration path matters more.
 */
const BROTLI_QUALITY = 1;

/**
 * Output chunk of the decompression: the whole store in one piece up to this size (an OVMF
 * store), else pieces of this size. zlib's default (16 KiB) cuts a 64 MiB AAVMF store into
 * 4,096 pieces that are then copied together once more: about twice the time of the
 * decompression itself (bench, Debian's AAVMF_VARS.ms.fd).
 */
const DECOMPRESS_CHUNK = 1024 * 1024;

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
      chunkSize: Math.max(zc.Z_MIN_CHUNK, Math.min(p.size + 1, DECOMPRESS_CHUNK)),
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
