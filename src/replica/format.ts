/**
 * @module replica/format
 * One generation of a variable store as an object: pure (bytes in, bytes out, no I/O).
 *
 *   "NUSREPL1"  8 bytes magic
 *   u32 BE      length of the header
 *   header      JSON, UTF-8: version, key id, IV, generation, instance, plaintext sha256 and size,
 *               pinned firmware (loader + template), source host, time, why it was written
 *   ciphertext  AES-256-GCM(brotli(store)), 96-bit random IV
 *   tag         16 bytes, GCM; magic, length and header are its additional authenticated data
 *
 * The store is compressed before it is encrypted (ciphertext does not compress; OVMF stores
 * are mostly 0xFF, AAVMF ones mostly zeros) with the quality `peer/transfer` chose for the
 * migration path. Nothing of the store is in the clear: the header holds only what a reader
 * needs to choose a generation and a key (OVMF keeps iSCSI CHAP secrets in its variables).
 *
 * Decoding checks, in order: magic, header shape, that the header names the instance and
 * generation the caller expects (an object copied under another name is refused), the key
 * (`ReplicaKeyError` when this host lacks it), the GCM tag (header and ciphertext untouched),
 * the decompressed size and the sha256. Any failure throws; nothing partial is returned.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { brotliCompressSync, brotliDecompressSync, constants as zc } from 'node:zlib';
import type { FirmwareSelection } from '../firmware/types';
import type { Keyring } from './keys';
import { ReplicaCorrupt, ReplicaKeyError } from './errors';

export const MAGIC = Buffer.from('NUSREPL1', 'latin1');
export const FORMAT_VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** A header is a few hundred bytes; anything far larger is not ours. */
const MAX_HEADER = 64 * 1024;
/** Largest store accepted (AAVMF's is 64 MiB). */
export const MAX_STORE = 256 * 1024 * 1024;
/** Brotli quality 1, as peer/transfer measured: ~22 ms for a 64 MiB AAVMF store, a few KiB out. */
const BROTLI_QUALITY = 1;

/** Why a generation was written. */
export type GenerationReason = 'spawn' | 'stop' | 'move' | 'shelve' | 'unshelve' | 'evacuate' | 'periodic' | 'manual' | 'restore' | 'edit';
export const REASONS: readonly GenerationReason[] = ['spawn', 'stop', 'move', 'shelve', 'unshelve', 'evacuate', 'periodic', 'manual', 'restore', 'edit'];

export interface ReplicaHeader {
  v: number;
  key_id: string;
  /** base64 of the 96-bit GCM IV. */
  iv: string;
  compression: 'br';
  instance_uuid: string;
  generation: number;
  reason: GenerationReason;
  /** sha256 and size of the plaintext store. */
  sha256: string;
  size: number;
  /** The firmware pinned when the generation was written (loader and template). */
  firmware: FirmwareSelection | null;
  /** The host that wrote it ([DEFAULT] host). */
  host: string;
  /** When it was written (ISO 8601). */
  time: string;
}

export type HeaderInput = Omit<ReplicaHeader, 'v' | 'key_id' | 'iv' | 'compression' | 'sha256' | 'size'>;

export function sha256Hex(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

function prefixOf(headerJson: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(headerJson.length, 0);
  return Buffer.concat([MAGIC, len, headerJson]);
}

/** Encrypt one generation of `store` under the keyring's current key. */
export function encodeReplica(store: Buffer, input: HeaderInput, keys: Keyring, iv: Buffer = randomBytes(IV_BYTES)): Buffer {
  if (iv.length !== IV_BYTES) throw new Error('IV must be 96 bits');
  const header: ReplicaHeader = {
    v: FORMAT_VERSION,
    key_id: keys.current.id,
    iv: iv.toString('base64'),
    compression: 'br',
    instance_uuid: input.instance_uuid,
    generation: input.generation,
    reason: input.reason,
    sha256: sha256Hex(store),
    size: store.length,
    firmware: input.firmware,
    host: input.host,
    time: input.time,
  };
  const prefix = prefixOf(Buffer.from(JSON.stringify(header), 'utf8'));
  const packed = brotliCompressSync(store, { params: { [zc.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY, [zc.BROTLI_PARAM_SIZE_HINT]: store.length } });
  const cipher = createCipheriv('aes-256-gcm', keys.current.key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(prefix);
  const body = Buffer.concat([cipher.update(packed), cipher.final()]);
  return Buffer.concat([prefix, body, cipher.getAuthTag()]);
}

function isHeader(h: unknown): h is ReplicaHeader {
  if (!h || typeof h !== 'object') return false;
  const o = h as Record<string, unknown>;
  return (
    o.v === FORMAT_VERSION &&
    typeof o.key_id === 'string' &&
    typeof o.iv === 'string' &&
    o.compression === 'br' &&
    typeof o.instance_uuid === 'string' &&
    Number.isSafeInteger(o.generation) &&
    (o.generation as number) > 0 &&
    REASONS.includes(o.reason as GenerationReason) &&
    typeof o.sha256 === 'string' &&
    /^[0-9a-f]{64}$/.test(o.sha256) &&
    Number.isSafeInteger(o.size) &&
    (o.size as number) >= 0 &&
    (o.size as number) <= MAX_STORE &&
    typeof o.host === 'string' &&
    typeof o.time === 'string' &&
    (o.firmware === null || typeof o.firmware === 'object')
  );
}

/** The header alone (not yet authenticated: the tag covers it only once `decodeReplica` ran). */
export function readHeader(obj: Buffer, objectKey: string): { header: ReplicaHeader; prefixLength: number } {
  if (obj.length < MAGIC.length + 4 || !obj.subarray(0, MAGIC.length).equals(MAGIC)) throw new ReplicaCorrupt(objectKey, 'not a replica object (magic)');
  const len = obj.readUInt32BE(MAGIC.length);
  const start = MAGIC.length + 4;
  if (len > MAX_HEADER || start + len + TAG_BYTES > obj.length) throw new ReplicaCorrupt(objectKey, 'truncated header');
  let header: unknown;
  try {
    header = JSON.parse(obj.subarray(start, start + len).toString('utf8'));
  } catch (e) {
    throw new ReplicaCorrupt(objectKey, 'header is not JSON', { cause: e });
  }
  if (!isHeader(header)) throw new ReplicaCorrupt(objectKey, 'header has an unknown version or shape');
  return { header, prefixLength: start + len };
}

export interface Expected {
  instanceUuid: string;
  generation: number;
}

/** Authenticate, decrypt, decompress and verify one object. */
export function decodeReplica(obj: Buffer, keys: Keyring, objectKey: string, expect: Expected): { header: ReplicaHeader; store: Buffer } {
  const { header, prefixLength } = readHeader(obj, objectKey);
  if (header.instance_uuid !== expect.instanceUuid || header.generation !== expect.generation) {
    throw new ReplicaCorrupt(
      objectKey,
      `header names ${header.instance_uuid} generation ${header.generation}, expected ${expect.instanceUuid} generation ${expect.generation}`,
    );
  }
  const key = keys.byId.get(header.key_id);
  if (!key) throw new ReplicaKeyError(objectKey, header.key_id, [...keys.byId.keys()]);
  const iv = Buffer.from(header.iv, 'base64');
  if (iv.length !== IV_BYTES) throw new ReplicaCorrupt(objectKey, 'bad IV');
  const decipher = createDecipheriv('aes-256-gcm', key.key, iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(obj.subarray(0, prefixLength));
  decipher.setAuthTag(obj.subarray(obj.length - TAG_BYTES));
  let packed: Buffer;
  try {
    packed = Buffer.concat([decipher.update(obj.subarray(prefixLength, obj.length - TAG_BYTES)), decipher.final()]);
  } catch (e) {
    throw new ReplicaCorrupt(objectKey, 'authentication tag does not match (tampered, truncated, or encrypted under another key with the same id)', {
      cause: e,
    });
  }
  let store: Buffer;
  try {
    store = brotliDecompressSync(packed, { maxOutputLength: header.size + 1 });
  } catch (e) {
    throw new ReplicaCorrupt(objectKey, 'content does not decompress', { cause: e });
  }
  if (store.length !== header.size) throw new ReplicaCorrupt(objectKey, `size ${store.length}, header says ${header.size}`);
  const digest = sha256Hex(store);
  if (digest !== header.sha256) throw new ReplicaCorrupt(objectKey, `sha256 ${digest}, header says ${header.sha256}`);
  return { header, store };
}
