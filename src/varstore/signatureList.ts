/**
 * @module varstore/signatureList
 * EFI_SIGNATURE_LIST (UEFI 2.10 §32.4.1), the data of PK, KEK, db, dbx, MokList: a sequence of
 * lists, each SignatureType GUID (16), SignatureListSize u32, SignatureHeaderSize u32,
 * SignatureSize u32, a header, then (ListSize - 28 - HeaderSize) / SignatureSize entries of
 * SignatureOwner GUID (16) + signature data. X.509 entries are read with node:crypto for
 * subject, issuer and expiry. Throws `DecodeError` on malformed lists.
 */
import { X509Certificate } from 'node:crypto';
import { DecodeError } from './loadOption';
import { EFI_CERT_RSA2048, EFI_CERT_SHA1, EFI_CERT_SHA256, EFI_CERT_X509, EFI_CERT_X509_SHA256, guidFromBytes } from './guids';

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

export function parseSignatureLists(data: Buffer): SignatureList[] {
  const lists: SignatureList[] = [];
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
    const typeName = TYPE_NAMES[type] ?? 'unknown';
    const entries: SignatureEntry[] = [];
    for (let e = pos + LIST_HEADER + headerSize; e < pos + listSize; e += sigSize) {
      const owner = guidFromBytes(data, e);
      const sig = data.subarray(e + OWNER, e + sigSize);
      if (typeName === 'x509') {
        try {
          entries.push({ owner, type: typeName, certificate: describeCertificate(sig) });
        } catch {
          entries.push({ owner, type: typeName, error: 'unreadable X.509 certificate', data: sig.toString('hex') });
        }
      } else {
        entries.push({ owner, type: typeName, data: sig.toString('hex') });
      }
    }
    lists.push({ type, type_name: typeName, entries });
    pos += listSize;
  }
  return lists;
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
