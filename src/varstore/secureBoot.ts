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

export interface KeyDatabase {
  /** Whether the variable exists. */
  present: boolean;
  /** Certificate subjects in store order. */
  certificates: string[];
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

function keyDatabase(vars: readonly Variable[], name: string, guid: string): KeyDatabase {
  const v = findVariable(vars, name, guid);
  if (!v) return { present: false, certificates: [], hash_count: 0 };
  const d = decodeVariable(v);
  if (!d || !('certificates' in d)) {
    return { present: true, certificates: [], hash_count: 0, error: d && 'error' in d ? d.error : 'not a signature database' };
  }
  return { present: true, certificates: d.certificates.map((c) => c.subject), hash_count: d.sha256_count };
}

export function secureBootSummary(vars: readonly Variable[]): SecureBootSummary {
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
    pk: keyDatabase(vars, 'PK', EFI_GLOBAL_VARIABLE),
    kek: keyDatabase(vars, 'KEK', EFI_GLOBAL_VARIABLE),
    db: keyDatabase(vars, 'db', EFI_IMAGE_SECURITY_DATABASE),
    dbx: keyDatabase(vars, 'dbx', EFI_IMAGE_SECURITY_DATABASE),
  };
}
