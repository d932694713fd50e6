/**
 * @module replica/format
 * One generation of a variable store as an object: pure (bytes in, bytes out, no I/O).
 *
 *   "NUSREPL1"  8 bytes magic
 *   u32 BE      length of the header
 *   header      JSON, UTF-8: version, key id, IV, generation, instance, a KEYED digest of the
 *               store (HMAC-SHA256 under a key derived from the replica key) and its size,
 *               pinned firmware (loader + template), source host, time, why it was written
 *   ciphertext  AES-256-GCM(brotli(store)), 96-bit random IV
 *   tag         16 bytes, GCM; magic, length and header are its additional authenticated data
 *
 * The store is compressed before it is encrypted (ciphertext does not compress; OVMF stores
 * are mostly 0xFF, AAVMF ones mostly zeros) with the quality `peer/transfer` chose for the
 * migration path. Nothing of the store is in the clear: the header holds only what a reader
 * needs to choose a generation and a key (OVMF keeps iSCSI CHAP secrets in its variables).
 * Not even a plaintext digest: the sha256 of a store would confirm a guess of its content (an
 * untouched template, say); the keyed digest confirms nothing to whoever lacks the key. Format
 * 1 objects (a plaintext sha256 in the header) are still read.
 *
 * Decoding checks, in order: magic, header shape, that the header names the instance and
 * generation the caller expects (an object copied under another name is refused), the key
 * (`ReplicaKeyError` when this host lacks it), the GCM tag (header and ciphertext untouched),
 * the decompressed size and the sha256. Any failure throws; nothing partial is returned.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import { brotliCompressSync, brotliDecompressSync, createBrotliCompress, constants as zc, type BrotliCompress } from 'node:zlib';
import type { FirmwareSelection } from '../firmware/types';
import type { Keyring } from './keys';
import { ReplicaCorrupt, ReplicaKeyError } from './errors';

export const MAGIC = Buffer.from('NUSREPL1', 'latin1');
export const FORMAT_VERSION = 2;
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

/** The header as stored (not yet authenticated). */
export interface StoredHeader {
  v: number;
  key_id: string;
  /** base64 of the 96-bit GCM IV. */
  iv: string;
  compression: 'br';
  instance_uuid: string;
  generation: number;
  reason: GenerationReason;
  /** Format 2: HMAC-SHA256 of the plaintext store under the digest key derived from the replica key. */
  digest?: string;
  /** Format 1 only: sha256 of the plaintext store. */
  sha256?: string;
  size: number;
  /** The firmware pinned when the generation was written (loader and template). */
  firmware: FirmwareSelection | null;
  /** The host that wrote it ([DEFAULT] host). */
  host: string;
  /** When it was written (ISO 8601). */
  time: string;
}

/** A header once its object was decoded: the plaintext's sha256 computed from the plaintext, never stored. */
export type ReplicaHeader = Omit<StoredHeader, 'sha256'> & { sha256: string };

export type HeaderInput = Omit<StoredHeader, 'v' | 'key_id' | 'iv' | 'compression' | 'sha256' | 'digest' | 'size'>;

/** The key of the keyed digest, derived from a replica key. */
function digestKey(key: Buffer): Buffer {
  return createHmac('sha256', key).update('nova-uefi-shim replica digest v2').digest();
}

/** The keyed digest of a store (format 2 headers). */
export function keyedDigest(key: Buffer, store: Buffer): string {
  return createHmac('sha256', digestKey(key)).update(store).digest('hex');
}

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
  const packed = brotliCompressSync(store, { params: { [zc.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY, [zc.BROTLI_PARAM_SIZE_HINT]: store.length } });
  return sealReplica({ packed, digest: keyedDigest(keys.current.key, store), size: store.length, keyId: keys.current.id }, input, keys, iv);
}

/**
 * A store compressed and digested for a generation, not yet sealed: brotli of its bytes, their
 * keyed digest under the key `keyId` names, their count. `ReplicaPacker` makes one piece by
 * piece; `sealReplica` turns it into an object.
 */
export interface PackedStore {
  packed: Buffer;
  digest: string;
  size: number;
  keyId: string;
}

/**
 * Encrypt a packed store under the keyring's current key, which must be the key it was
 * digested with (the header's keyed digest is under the key that encrypts it).
 */
export function sealReplica(p: PackedStore, input: HeaderInput, keys: Keyring, iv: Buffer = randomBytes(IV_BYTES)): Buffer {
  if (iv.length !== IV_BYTES) throw new Error('IV must be 96 bits');
  if (p.keyId !== keys.current.id) throw new Error(`a store packed under key ${p.keyId} cannot be sealed under key ${keys.current.id}`);
  if (!Number.isSafeInteger(p.size) || p.size < 0 || p.size > MAX_STORE) throw new Error(`store size ${p.size} out of range`);
  const header: StoredHeader = {
    v: FORMAT_VERSION,
    key_id: keys.current.id,
    iv: iv.toString('base64'),
    compression: 'br',
    instance_uuid: input.instance_uuid,
    generation: input.generation,
    reason: input.reason,
    digest: p.digest,
    size: p.size,
    firmware: input.firmware,
    host: input.host,
    time: input.time,
  };
  const prefix = prefixOf(Buffer.from(JSON.stringify(header), 'utf8'));
  const cipher = createCipheriv('aes-256-gcm', keys.current.key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(prefix);
  const body = Buffer.concat([cipher.update(p.packed), cipher.final()]);
  return Buffer.concat([prefix, body, cipher.getAuthTag()]);
}

/**
 * A store packed piece by piece as it is read (`update` each piece in order, then `finish`):
 * the keyed digest in this process, brotli in the thread pool, so a 64 MiB AAVMF store is
 * never held whole and the event loop is never held for more than one piece's digest (a whole
 * store read into one buffer cost a fresh 64 MiB, page faults and all, and its digest and
 * compression in one synchronous stretch). A piece may be reused by the caller once its
 * `update` resolved. `abort` when the read fails.
 */
export class ReplicaPacker {
  private readonly hmac;
  private readonly keyId: string;
  private readonly brotli: BrotliCompress;
  private readonly out: Buffer[] = [];
  private readonly ended: Promise<void>;
  private failure: Error | null = null;
  private size = 0;

  constructor(keys: Keyring, sizeHint = 0) {
    this.keyId = keys.current.id;
    this.hmac = createHmac('sha256', digestKey(keys.current.key));
    this.brotli = createBrotliCompress({
      params: { [zc.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY, ...(sizeHint > 0 ? { [zc.BROTLI_PARAM_SIZE_HINT]: sizeHint } : {}) },
    });
    this.brotli.on('data', (c: Buffer) => this.out.push(c));
    this.ended = new Promise<void>((resolve, reject) => {
      this.brotli.on('end', resolve);
      this.brotli.on('error', (e: Error) => {
        this.failure ??= e;
        reject(e);
      });
    });
    // Read by `finish`; an abort must not leave it unhandled.
    this.ended.catch(() => undefined);
  }

  /** The next piece of the store, in order; resolves once the piece is no longer needed. */
  update(piece: Buffer): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    this.hmac.update(piece);
    this.size += piece.length;
    if (this.size > MAX_STORE) return Promise.reject(new Error(`store larger than ${MAX_STORE} bytes`));
    return new Promise<void>((resolve, reject) => this.brotli.write(piece, (e) => (e ? reject(e) : resolve())));
  }

  /** Every piece was given: the packed store. */
  async finish(): Promise<PackedStore> {
    this.brotli.end();
    await this.ended;
    return { packed: Buffer.concat(this.out), digest: this.hmac.digest('hex'), size: this.size, keyId: this.keyId };
  }

  /** The read failed: drop what was packed. */
  abort(): void {
    this.failure ??= new Error('aborted');
    this.brotli.destroy();
  }
}

function isHeader(h: unknown): h is StoredHeader {
  if (!h || typeof h !== 'object') return false;
  const o = h as Record<string, unknown>;
  return (
    (o.v === 1 || o.v === FORMAT_VERSION) &&
    typeof o.key_id === 'string' &&
    typeof o.iv === 'string' &&
    o.compression === 'br' &&
    typeof o.instance_uuid === 'string' &&
    Number.isSafeInteger(o.generation) &&
    (o.generation as number) > 0 &&
    REASONS.includes(o.reason as GenerationReason) &&
    (o.v === 1 ? typeof o.sha256 === 'string' && /^[0-9a-f]{64}$/.test(o.sha256) : typeof o.digest === 'string' && /^[0-9a-f]{64}$/.test(o.digest)) &&
    Number.isSafeInteger(o.size) &&
    (o.size as number) >= 0 &&
    (o.size as number) <= MAX_STORE &&
    typeof o.host === 'string' &&
    typeof o.time === 'string' &&
    (o.firmware === null || typeof o.firmware === 'object')
  );
}

/** The header alone (not yet authenticated: the tag covers it only once `decodeReplica` ran). */
export function readHeader(obj: Buffer, objectKey: string): { header: StoredHeader; prefixLength: number } {
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
  const sha256 = sha256Hex(store);
  if (header.v === 1) {
    if (sha256 !== header.sha256) throw new ReplicaCorrupt(objectKey, `sha256 ${sha256}, header says ${header.sha256}`);
  } else if (keyedDigest(key.key, store) !== header.digest) throw new ReplicaCorrupt(objectKey, 'the keyed digest does not match the content');
  const { sha256: _v1, ...rest } = header;
  return { header: { ...rest, sha256 }, store };
}
