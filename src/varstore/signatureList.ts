/**
 * @module varstore/signatureList
 * EFI_SIGNATURE_LIST (UEFI 2.10 §32.4.1), the data of PK, KEK, db, dbx, MokList: a sequence of
 * lists, each SignatureType GUID (16), SignatureListSize u32, SignatureHeaderSize u32,
 * SignatureSize u32, a header, then (ListSize - 28 - HeaderSize) / SignatureSize entries of
 * SignatureOwner GUID (16) + signature data. X.509 entries are read with node:crypto for
 * subject, issuer and expiry. Throws `DecodeError` on malformed lists. `readSignatureLists` /
 * `encodeSignatureLists` keep the raw bytes for edits (varstore/secureBootKeys).
 */
import { X509Certificate } from 'node:crypto';
import { DecodeError } from './loadOption';
import { EFI_CERT_RSA2048, EFI_CERT_SHA1, EFI_CERT_SHA256, EFI_CERT_X509, EFI_CERT_X509_SHA256, guidFromBytes, guidToBytes } from './guids';

const LIST_HEADER = 28;
const OWNER = 16;

export type SignatureTypeName = 'x509' | 'sha256' | 'sha1' | 'rsa2048' | 'x509-sha256' | 'unknown';

const TYPE_NAMES: Readonly<Record<string, SignatureTypeName>> = {
  [EFI_CERT_X509]: 'x509',
  [EFI_CERT_SHA256]: 'sha256',
  [EFI_CERT_SHA1]: 'sha1',
  [EFI_CERT_RSA2048]: 'rsa2048',
  [EFI_CERT_X509_SHA256]: 'x509-sha256',
};

export interface CertificateInfo {
  /** `C=US, O=Microsoft Corporation, CN=...` (RDNs in certificate order). */
  subject: string;
  issuer: string;
  /** ISO 8601 expiry (notAfter). */
  not_after: string;
  /** SHA-256 fingerprint of the DER, lower-case hex. */
  sha256: string;
}

export interface SignatureEntry {
  owner: string;
  type: SignatureTypeName;
  /** X.509 entries that node:crypto could read. */
  certificate?: CertificateInfo;
  /** X.509 entries it could not read. */
  error?: string;
  /** Hash entries: the hash, lower-case hex. Other types: the raw data. */
  data?: string;
}

export interface SignatureList {
  type: string;
  type_name: SignatureTypeName;
  entries: SignatureEntry[];
}

/** `C=US\nO=X\nCN=Y` → `C=US, O=X, CN=Y`. */
function oneLine(dn: string): string {
  return dn.split('\n').filter(Boolean).join(', ');
}

export function describeCertificate(der: Buffer): CertificateInfo {
  const c = new X509Certificate(der);
  const notAfter = new Date(c.validTo);
  return {
    subject: oneLine(c.subject),
    issuer: oneLine(c.issuer),
    not_after: Number.isNaN(notAfter.getTime()) ? c.validTo : notAfter.toISOString(),
    sha256: c.fingerprint256.replace(/:/g, '').toLowerCase(),
  };
}

/** One EFI_SIGNATURE_LIST as stored: its type, header bytes, entry size and raw entries. */
export interface RawSignatureList {
  type: string;
  /** SignatureHeader bytes (empty for every type UEFI defines today). */
  header: Buffer;
  /** SignatureSize: 16 (owner) + the size of each entry's data. */
  signatureSize: number;
  entries: Array<{ owner: string; data: Buffer }>;
}

/** The lists of a PK/KEK/db/dbx value, raw (bytes copied). Throws `DecodeError` when malformed. */
export function readSignatureLists(data: Buffer): RawSignatureList[] {
  const lists: RawSignatureList[] = [];
  let pos = 0;
  while (pos < data.length) {
    if (pos + LIST_HEADER > data.length) throw new DecodeError(`signature list at ${pos}: ${data.length - pos} trailing bytes, shorter than a list header`);
    const type = guidFromBytes(data, pos);
    const listSize = data.readUInt32LE(pos + 16);
    const headerSize = data.readUInt32LE(pos + 20);
    const sigSize = data.readUInt32LE(pos + 24);
    if (listSize < LIST_HEADER || listSize > data.length - pos) throw new DecodeError(`signature list at ${pos}: SignatureListSize ${listSize} out of bounds`);
    const body = listSize - LIST_HEADER - headerSize;
    if (headerSize > listSize - LIST_HEADER || sigSize < OWNER || body % sigSize !== 0) {
      throw new DecodeError(
        `signature list at ${pos}: SignatureHeaderSize ${headerSize} / SignatureSize ${sigSize} do not divide SignatureListSize ${listSize}`,
      );
    }
    const entries: RawSignatureList['entries'] = [];
    for (let e = pos + LIST_HEADER + headerSize; e < pos + listSize; e += sigSize) {
      entries.push({ owner: guidFromBytes(data, e), data: Buffer.from(data.subarray(e + OWNER, e + sigSize)) });
    }
    lists.push({ type, header: Buffer.from(data.subarray(pos + LIST_HEADER, pos + LIST_HEADER + headerSize)), signatureSize: sigSize, entries });
    pos += listSize;
  }
  return lists;
}

/** Serialise lists (the inverse of `readSignatureLists`); lists without entries are left out. */
export function encodeSignatureLists(lists: readonly RawSignatureList[]): Buffer {
  const parts: Buffer[] = [];
  for (const l of lists) {
    if (l.entries.length === 0) continue;
    const hdr = Buffer.alloc(LIST_HEADER);
    guidToBytes(l.type).copy(hdr, 0);
    hdr.writeUInt32LE(LIST_HEADER + l.header.length + l.entries.length * l.signatureSize, 16);
    hdr.writeUInt32LE(l.header.length, 20);
    hdr.writeUInt32LE(l.signatureSize, 24);
    parts.push(hdr, l.header);
    for (const e of l.entries) {
      if (e.data.length + OWNER !== l.signatureSize)
        throw new TypeError(`signature entry of ${e.data.length} bytes in a list of SignatureSize ${l.signatureSize}`);
      parts.push(guidToBytes(e.owner), e.data);
    }
  }
  return Buffer.concat(parts);
}

export const TYPE_GUIDS = { x509: EFI_CERT_X509, sha256: EFI_CERT_SHA256 } as const;

export function signatureTypeName(type: string): SignatureTypeName {
  return TYPE_NAMES[type] ?? 'unknown';
}

export function parseSignatureLists(data: Buffer): SignatureList[] {
  return readSignatureLists(data).map((l) => {
    const typeName = signatureTypeName(l.type);
    const entries: SignatureEntry[] = l.entries.map(({ owner, data: sig }) => {
      if (typeName !== 'x509') return { owner, type: typeName, data: sig.toString('hex') };
      try {
        return { owner, type: typeName, certificate: describeCertificate(sig) };
      } catch {
        return { owner, type: typeName, error: 'unreadable X.509 certificate', data: sig.toString('hex') };
      }
    });
    return { type: l.type, type_name: typeName, entries };
  });
}

export interface SignatureDbSummary {
  certificates: Array<CertificateInfo & { owner: string }>;
  /** Count of SHA-256 entries. */
  sha256_count: number;
  /** Counts of other entry types (sha1, x509-sha256, unreadable certificates, ...). */
  other: Record<string, number>;
}

export function summariseSignatureLists(lists: readonly SignatureList[]): SignatureDbSummary {
  const out: SignatureDbSummary = { certificates: [], sha256_count: 0, other: {} };
  for (const l of lists) {
    for (const e of l.entries) {
      if (e.certificate) out.certificates.push({ ...e.certificate, owner: e.owner });
      else if (e.type === 'sha256') out.sha256_count++;
      else {
        const k = e.error ? 'x509-unreadable' : e.type === 'unknown' ? l.type : e.type;
        out.other[k] = (out.other[k] ?? 0) + 1;
      }
    }
  }
  return out;
}
