/**
 * @module varstore/secureBootKeys
 * Secure Boot key material as edk2 will use it: certificates (PEM or DER), EFI signature lists
 * and SHA-256 hashes turned into signature items for PK, KEK, db and dbx, each checked the way
 * the firmware would check it. Pure (bytes and text in, items or problems out); reading files
 * is the caller's (firmware/keysets, the CLI, the API).
 *
 * Rules (edk2 SecurityPkg/Library/AuthVariableLib/AuthService.c, OVMF 2022.11):
 *  - PK and KEK hold X.509 certificates whose public key edk2 can extract as RSA
 *    (`CheckSignatureListFormat` → `RsaGetPublicKeyFromX509`); PK holds exactly one.
 *  - db and dbx hold X.509 certificates or SHA-256 image hashes (EFI_CERT_X509 /
 *    EFI_CERT_SHA256, the types `mSupportSigItem` sizes and image verification reads).
 *  - Keys are RSA with a modulus of 2048 to 4096 bits: UEFI 2.10 §32.4 names RSA-2048 as the
 *    minimum and edk2's OpenSSL build (no EC before edk2-stable202305) verifies RSA only;
 *    Microsoft's CAs are 2048 (2023 KEK/UEFI CAs) and 4096 (Windows PCA 2011) bits.
 *  - The firmware does not check validity dates when verifying images, but an expired or
 *    not-yet-valid certificate in a key set is almost always a mistake: refused unless allowed.
 * Parsing certificates is node:crypto's `X509Certificate`; no ASN.1 is read here.
 */
import { X509Certificate } from 'node:crypto';
import { describeCertificate, readSignatureLists, signatureTypeName, TYPE_GUIDS, type CertificateInfo } from './signatureList';
import { isGuid } from './guids';

/** The four Secure Boot databases, by variable name. */
export type KeyDbName = 'PK' | 'KEK' | 'db' | 'dbx';
export const KEY_DBS: readonly KeyDbName[] = ['PK', 'KEK', 'db', 'dbx'];

/** One entry of a signature database: JSON-friendly (hex data), so it can be queued and persisted as is. */
export interface SignatureItem {
  type: 'x509' | 'sha256';
  /** SignatureOwner GUID, lower case. */
  owner: string;
  /** DER certificate or 32-byte hash, lower-case hex. */
  data: string;
}

export interface KeyCheckOptions {
  /** The moment validity is checked against. */
  now: Date;
  /** Accept expired and not-yet-valid certificates. */
  allowExpired?: boolean;
}

export const RSA_MIN_BITS = 2048;
export const RSA_MAX_BITS = 4096;
const SHA256_RE = /^[0-9a-fA-F]{64}$/;

/** Why edk2 cannot use `der` in `db` (PK/KEK/db/dbx), or undefined. */
export function certificateProblem(der: Buffer, opts: KeyCheckOptions): string | undefined {
  let c: X509Certificate;
  try {
    c = new X509Certificate(der);
  } catch {
    return 'not an X.509 certificate';
  }
  const key = c.publicKey;
  if (key.asymmetricKeyType !== 'rsa') {
    return `wrong key type: ${key.asymmetricKeyType ?? 'unknown'} (edk2 verifies RSA keys only)`;
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS) return `RSA-${bits} key: edk2 needs RSA of ${RSA_MIN_BITS} to ${RSA_MAX_BITS} bits`;
  if (!opts.allowExpired) {
    const from = new Date(c.validFrom);
    const to = new Date(c.validTo);
    const subject = describeCertificate(der).subject;
    if (opts.now < from) return `not yet valid (from ${from.toISOString()}): ${subject}`;
    if (opts.now > to) return `expired on ${to.toISOString()}: ${subject}`;
  }
  return undefined;
}

/** Subject, issuer, expiry and fingerprint of an X.509 item (undefined for hashes and unreadable data). */
export function certificateInfo(item: SignatureItem): CertificateInfo | undefined {
  if (item.type !== 'x509') return undefined;
  try {
    return describeCertificate(Buffer.from(item.data, 'hex'));
  } catch {
    return undefined;
  }
}

const PEM_RE = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/** The DER blocks of PEM text labelled CERTIFICATE; other blocks are named in the problem. */
function pemCertificates(text: string): { ders: Buffer[]; problem?: string } {
  const ders: Buffer[] = [];
  for (const m of text.matchAll(PEM_RE)) {
    if (m[1] !== 'CERTIFICATE') return { ders, problem: `PEM block '${m[1]}' is not a CERTIFICATE (a private key or request was given?)` };
    ders.push(Buffer.from(m[2].replace(/\s+/g, ''), 'base64'));
  }
  return ders.length ? { ders } : { ders, problem: 'no PEM CERTIFICATE block' };
}

export type MaterialResult = { items: SignatureItem[] } | { problem: string };

/**
 * Items from one piece of key material for database `db`: PEM text (one or more
 * certificates), a DER certificate, an EFI signature list (each entry keeps its owner), or,
 * for db/dbx, a SHA-256 hash in hex. `owner` is the SignatureOwner of certificates and hashes
 * that do not carry one. Every certificate is checked (`certificateProblem`).
 */
export function parseKeyMaterial(input: Buffer | string, db: KeyDbName, owner: string, opts: KeyCheckOptions): MaterialResult {
  if (!isGuid(owner)) return { problem: 'owner is not a GUID' };
  const text = typeof input === 'string' ? input : undefined;
  const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  const asText = (text ?? bytes.toString('latin1')).trim();
  let items: SignatureItem[];
  if (SHA256_RE.test(asText)) {
    items = [{ type: 'sha256', owner: owner.toLowerCase(), data: asText.toLowerCase() }];
  } else if (asText.includes('-----BEGIN ')) {
    const pem = pemCertificates(asText);
    if (pem.problem) return { problem: pem.problem };
    items = pem.ders.map((d) => ({ type: 'x509', owner: owner.toLowerCase(), data: d.toString('hex') }));
  } else if (text !== undefined) {
    return { problem: 'not a PEM certificate or a SHA-256 hash (64 hex digits)' };
  } else if (looksLikeDer(bytes)) {
    items = [{ type: 'x509', owner: owner.toLowerCase(), data: bytes.toString('hex') }];
  } else {
    const esl = signatureListItems(bytes);
    if ('problem' in esl) return { problem: `not a certificate (PEM or DER), an EFI signature list or a SHA-256 hash: ${esl.problem}` };
    items = esl.items;
  }
  return checkItems(items, db, opts);
}

/** A DER SEQUENCE spanning the whole buffer (what a certificate file is). */
function looksLikeDer(b: Buffer): boolean {
  if (b.length < 4 || b[0] !== 0x30) return false;
  const l = b[1];
  if (l < 0x80) return l + 2 === b.length;
  const n = l & 0x7f;
  if (n === 0 || n > 4 || b.length < 2 + n) return false;
  let len = 0;
  for (let i = 0; i < n; i++) len = len * 256 + b[2 + i];
  return len + 2 + n === b.length;
}

function signatureListItems(bytes: Buffer): MaterialResult {
  try {
    const lists = readSignatureLists(bytes);
    if (lists.length === 0) return { problem: 'empty' };
    const items: SignatureItem[] = [];
    for (const l of lists) {
      const name = signatureTypeName(l.type);
      if (name !== 'x509' && name !== 'sha256') return { problem: `signature type ${name === 'unknown' ? l.type : name} is not supported (x509, sha256)` };
      for (const e of l.entries) items.push({ type: name, owner: e.owner, data: e.data.toString('hex') });
    }
    return { items };
  } catch (e) {
    return { problem: (e as Error).message };
  }
}

/** Entry types `db` cannot hold, or a hash of the wrong size (no certificate parsing). */
export function typeProblem(items: readonly SignatureItem[], db: KeyDbName): string | undefined {
  for (const it of items) {
    if (it.type !== 'sha256') continue;
    if (db === 'PK' || db === 'KEK') return `${db} holds X.509 certificates, not hashes`;
    if (!/^[0-9a-f]{64}$/.test(it.data)) return `a SHA-256 hash is 32 bytes (64 hex digits), got ${it.data.length / 2} bytes`;
  }
  return undefined;
}

/** Check items for database `db`: types allowed there, certificates usable by edk2, one PK. */
export function checkItems(items: SignatureItem[], db: KeyDbName, opts: KeyCheckOptions): MaterialResult {
  const t = typeProblem(items, db);
  if (t) return { problem: t };
  for (const it of items) {
    if (it.type !== 'x509') continue;
    const p = certificateProblem(Buffer.from(it.data, 'hex'), opts);
    if (p) return { problem: p };
  }
  if (db === 'PK' && items.length > 1) return { problem: `PK holds exactly one certificate, got ${items.length}` };
  return { items };
}

/** Same entry (type and data; the owner does not matter for trust). */
export function sameItem(a: Pick<SignatureItem, 'type' | 'data'>, b: Pick<SignatureItem, 'type' | 'data'>): boolean {
  return a.type === b.type && a.data === b.data;
}

/** The GUID of a signature item's type. */
export function itemTypeGuid(t: SignatureItem['type']): string {
  return TYPE_GUIDS[t];
}
