/**
 * @module varstore/secureBoot
 * What Secure Boot state a store boots into, derived the way edk2 derives it, because the
 * SecureBoot and SetupMode variables themselves are volatile and never stored.
 *
 * edk2 AuthVariableLibInitialize (SecurityPkg/Library/AuthVariableLib/AuthService.c):
 *  - PlatformMode is USER_MODE when a PK variable exists, SETUP_MODE otherwise → `setup_mode`
 *    is true exactly when no PK is enrolled;
 *  - in USER_MODE a stored `SecureBootEnable` (gEfiSecureBootEnableDisableGuid) is read; when it
 *    is absent the firmware creates it with SECURE_BOOT_ENABLE (1) — so absence counts as 1;
 *  - SecureBoot = 1 iff USER_MODE and SecureBootEnable == SECURE_BOOT_ENABLE (1).
 * Hence `enabled = PK enrolled && (SecureBootEnable absent || SecureBootEnable == 1)`.
 * CustomMode does not change SecureBoot (it only relaxes authenticated writes).
 */
import { decodeVariable } from './decode';
import { findVariable } from './edit';
import { EFI_CUSTOM_MODE_ENABLE, EFI_GLOBAL_VARIABLE, EFI_IMAGE_SECURITY_DATABASE, EFI_SECURE_BOOT_ENABLE_DISABLE } from './guids';
import type { Variable } from './types';

/** One certificate of a database, with its expiry judged at the summary's moment. */
export interface CertificateDetail {
  subject: string;
  issuer: string;
  /** ISO 8601 notAfter. */
  not_after: string;
  expired: boolean;
  /** SHA-256 fingerprint of the DER. */
  sha256: string;
  owner: string;
}

export interface KeyDatabase {
  /** Whether the variable exists. */
  present: boolean;
  /** Certificate subjects in store order. */
  certificates: string[];
  /** The certificates with issuer, expiry and fingerprint, in store order. */
  details: CertificateDetail[];
  /** Number of SHA-256 hash entries. */
  hash_count: number;
  /** Set when the signature lists are malformed. */
  error?: string;
}

export interface SecureBootSummary {
  /** SecureBoot as the firmware will compute it on the next boot. */
  enabled: boolean;
  /** SetupMode: no PK enrolled. */
  setup_mode: boolean;
  /** Raw SecureBootEnable byte, null when the variable is absent. */
  secure_boot_enable: number | null;
  custom_mode: boolean;
  pk: KeyDatabase;
  kek: KeyDatabase;
  db: KeyDatabase;
  dbx: KeyDatabase;
}

function keyDatabase(vars: readonly Variable[], name: string, guid: string, now: Date): KeyDatabase {
  const v = findVariable(vars, name, guid);
  if (!v) return { present: false, certificates: [], details: [], hash_count: 0 };
  const d = decodeVariable(v);
  if (!d || !('certificates' in d)) {
    return { present: true, certificates: [], details: [], hash_count: 0, error: d && 'error' in d ? d.error : 'not a signature database' };
  }
  const details = d.certificates.map((c) => ({
    subject: c.subject,
    issuer: c.issuer,
    not_after: c.not_after,
    expired: new Date(c.not_after) < now,
    sha256: c.sha256,
    owner: c.owner,
  }));
  return { present: true, certificates: d.certificates.map((c) => c.subject), details, hash_count: d.sha256_count };
}

/** The summary; certificates count as expired when their notAfter is before `now`. */
export function secureBootSummary(vars: readonly Variable[], now: Date = new Date()): SecureBootSummary {
  const pk = findVariable(vars, 'PK', EFI_GLOBAL_VARIABLE);
  const pkEnrolled = pk !== undefined && pk.data.length > 0;
  const sbe = findVariable(vars, 'SecureBootEnable', EFI_SECURE_BOOT_ENABLE_DISABLE);
  const sbeValue = sbe && sbe.data.length > 0 ? sbe.data[0] : null;
  const custom = findVariable(vars, 'CustomMode', EFI_CUSTOM_MODE_ENABLE);
  return {
    enabled: pkEnrolled && (sbeValue === null || sbeValue === 1),
    setup_mode: !pkEnrolled,
    secure_boot_enable: sbeValue,
    custom_mode: custom !== undefined && custom.data.length > 0 && custom.data[0] === 1,
    pk: keyDatabase(vars, 'PK', EFI_GLOBAL_VARIABLE, now),
    kek: keyDatabase(vars, 'KEK', EFI_GLOBAL_VARIABLE, now),
    db: keyDatabase(vars, 'db', EFI_IMAGE_SECURITY_DATABASE, now),
    dbx: keyDatabase(vars, 'dbx', EFI_IMAGE_SECURITY_DATABASE, now),
  };
}
