/**
 * @module varstore/guids
 * Every GUID the variable store code needs, as named constants in one place (virt-firmware
 * `efi/guids.py` habit), plus the conversion between the canonical lower-case string form and
 * the 16-byte on-disk form.
 *
 * On disk (EFI_GUID, UEFI 2.10 appendix A) the first field (u32) and the next two (u16) are
 * little-endian, the last 8 bytes are stored as written ("mixed-endian"):
 * `fff12b8d-7696-4c8b-a985-2747075b4f50` ⇒ `8D 2B F1 FF 96 76 8B 4C A9 85 27 47 07 5B 4F 50`.
 *
 * Does not validate anything beyond the GUID syntax.
 */

/** EFI_GLOBAL_VARIABLE: Boot####, BootOrder, BootNext, Timeout, Lang, ConIn, PK, KEK, ... */
export const EFI_GLOBAL_VARIABLE = '8be4df61-93ca-11d2-aa0d-00e098032b8c';
/** EFI_IMAGE_SECURITY_DATABASE_GUID: db, dbx, dbt, dbr. */
export const EFI_IMAGE_SECURITY_DATABASE = 'd719b2cb-3d3a-4596-a3bc-dad00e67656f';
/** gEfiSecureBootEnableDisableGuid: edk2's `SecureBootEnable` switch (1 byte). */
export const EFI_SECURE_BOOT_ENABLE_DISABLE = 'f0a30bc7-af08-4556-99c4-001009c93a44';
/** gEfiCustomModeEnableGuid: `CustomMode`. */
export const EFI_CUSTOM_MODE_ENABLE = 'c076ec0c-7028-4399-a072-71ee5c448b9f';
/** gEfiCertDbGuid: `certdb`. */
export const EFI_CERT_DB = 'd9bee56e-75dc-49d9-b4d7-b534210f637a';
/** gEfiVendorKeysNvGuid: `VendorKeysNv`. */
export const EFI_VENDOR_KEYS_NV = '9073e4e0-60ec-4b6e-9903-4c223c260f3c';
/** MTC (MonotonicCounter). */
export const MTC_VENDOR = 'eb704011-1402-11d3-8e77-00a0c969723b';
/** gEfiMemoryTypeInformationGuid: `MemoryTypeInformation`. */
export const EFI_MEMORY_TYPE_INFORMATION = '4c19049f-4137-4dd3-9c10-8b97a83ffdfa';
/** edk2 `VarErrorFlag`. */
export const EDKII_VAR_ERROR_FLAG = '04b37fe8-f6ae-480b-bdd5-37d98c5e89aa';
/** edk2 IScsiDxe: `InitialAttemptOrder` (ISCSI_CONFIG_GUID). */
export const ISCSI_CONFIG = '4b47d616-a8d6-4552-9d44-ccad2e0f4cf9';
/** edk2 IScsiDxe: `Attempt N` (gEfiIScsiInitiatorNameProtocolGuid). */
export const ISCSI_INITIATOR_NAME = '59324945-ec44-4c0d-b1cd-9db139df070c';
/** shim's vendor GUID: MokList, MokListX, SbatLevel, SHIM_VERBOSE. */
export const SHIM_LOCK = '605dab50-e046-4300-abb6-3dd810dd8b23';

/** gEfiSystemNvDataFvGuid: FileSystemGuid of the firmware volume that holds the varstore. */
export const EFI_SYSTEM_NV_DATA_FV = 'fff12b8d-7696-4c8b-a985-2747075b4f50';
/** gEfiFirmwareFileSystem2Guid: an FFS volume (code), skipped when scanning for NvData. */
export const EFI_FIRMWARE_FILE_SYSTEM2 = '8c8ce578-8a3d-4f1c-9935-896185c32dd3';
/** gEfiFirmwareFileSystem3Guid. */
export const EFI_FIRMWARE_FILE_SYSTEM3 = '5473c07a-3dcb-4dca-bd6f-1e9689e7349a';
/** gEfiAuthenticatedVariableGuid: VARIABLE_STORE_HEADER signature with 60-byte records. */
export const EFI_AUTHENTICATED_VARIABLE = 'aaf32c78-947b-439a-a180-2e144ec37792';
/** gEfiVariableGuid: legacy VARIABLE_STORE_HEADER signature with 32-byte records. */
export const EFI_VARIABLE = 'ddcf3616-3275-4164-98b6-fe85707ffe7d';
/** gEdkiiWorkingBlockSignatureGuid: fault-tolerant-write working block header. */
export const EDKII_WORKING_BLOCK_SIGNATURE = '9e58292b-7c68-497d-a0ce-6500fd9f1b95';

/** EFI_CERT_X509_GUID: signature list of DER certificates. */
export const EFI_CERT_X509 = 'a5c059a1-94e4-4aa7-87b5-ab155c2bf072';
/** EFI_CERT_SHA256_GUID: signature list of SHA-256 image hashes. */
export const EFI_CERT_SHA256 = 'c1c41626-504c-4092-aca9-41f936934328';
/** EFI_CERT_SHA1_GUID. */
export const EFI_CERT_SHA1 = '826ca512-cf10-4ac9-b187-be01496631bd';
/** EFI_CERT_RSA2048_GUID. */
export const EFI_CERT_RSA2048 = '3c5766e8-269c-4e34-aa14-ed776e85b3b6';
/** EFI_CERT_X509_SHA256_GUID: revoked certificate TBS hashes (dbx). */
export const EFI_CERT_X509_SHA256 = '3bd2a492-96c0-4079-b420-fcf98ef103ed';
/** EFI_CERT_TYPE_PKCS7_GUID (authenticated variable payloads). */
export const EFI_CERT_TYPE_PKCS7 = '4aafd29d-68df-49ee-8aa9-347d375665a7';

/** Signature owner used by Microsoft for its KEK/db/dbx entries. */
export const MICROSOFT_OWNER = '77fa9abd-0359-4d32-bd60-28f4e78f784b';
/** gOvmfEnrollDefaultKeys owner (PK/KEK of OVMF's EnrollDefaultKeys.efi, Debian's .ms templates). */
export const OVMF_ENROLL_DEFAULT_KEYS = 'a0baa8a3-041d-48a8-bc87-c36d121b5e3d';

/** Device-path GUIDs that `devicePath` prints under a short name. */
export const EFI_PC_ANSI = 'e0c14753-f9be-11d2-9a0c-0090273fc14d';
export const EFI_VT100 = 'dfa66065-b419-11d3-9a2d-0090273fc14d';
export const EFI_VT100_PLUS = '7baec70b-57e0-4c76-8e87-2f9e28088343';
export const EFI_VT_UTF8 = 'ad15a0d6-8bec-4acf-a073-d01de77e2d88';
export const EFI_UART_DEVICE_PATH = '37499a9d-542f-4c89-a026-35da142094e4';

/** Names for display (`nvram show`), keyed by canonical GUID. */
export const GUID_NAMES: Readonly<Record<string, string>> = Object.freeze({
  [EFI_GLOBAL_VARIABLE]: 'EfiGlobalVariable',
  [EFI_IMAGE_SECURITY_DATABASE]: 'EfiImageSecurityDatabase',
  [EFI_SECURE_BOOT_ENABLE_DISABLE]: 'EfiSecureBootEnableDisable',
  [EFI_CUSTOM_MODE_ENABLE]: 'EfiCustomModeEnable',
  [EFI_CERT_DB]: 'EfiCertDb',
  [EFI_VENDOR_KEYS_NV]: 'EfiVendorKeysNv',
  [MTC_VENDOR]: 'MtcVendor',
  [EFI_MEMORY_TYPE_INFORMATION]: 'EfiMemoryTypeInformation',
  [EDKII_VAR_ERROR_FLAG]: 'EdkiiVarErrorFlag',
  [SHIM_LOCK]: 'ShimLock',
  [ISCSI_CONFIG]: 'IScsiConfig',
  [ISCSI_INITIATOR_NAME]: 'IScsiInitiatorName',
  [EFI_SYSTEM_NV_DATA_FV]: 'EfiSystemNvDataFv',
  [EFI_FIRMWARE_FILE_SYSTEM2]: 'EfiFirmwareFileSystem2',
  [EFI_FIRMWARE_FILE_SYSTEM3]: 'EfiFirmwareFileSystem3',
  [EFI_AUTHENTICATED_VARIABLE]: 'EfiAuthenticatedVariable',
  [EFI_VARIABLE]: 'EfiVariable',
  [EDKII_WORKING_BLOCK_SIGNATURE]: 'EdkiiWorkingBlockSignature',
  [EFI_CERT_X509]: 'EfiCertX509',
  [EFI_CERT_SHA256]: 'EfiCertSha256',
  [EFI_CERT_SHA1]: 'EfiCertSha1',
  [EFI_CERT_RSA2048]: 'EfiCertRsa2048',
  [EFI_CERT_X509_SHA256]: 'EfiCertX509Sha256',
  [EFI_CERT_TYPE_PKCS7]: 'EfiCertTypePkcs7',
  [MICROSOFT_OWNER]: 'MicrosoftOwner',
  [OVMF_ENROLL_DEFAULT_KEYS]: 'OvmfEnrollDefaultKeys',
});

const GUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether `s` is a GUID in canonical 8-4-4-4-12 form (either case). */
export function isGuid(s: unknown): s is string {
  return typeof s === 'string' && GUID_RE.test(s);
}

/** Display name of a GUID (`EfiGlobalVariable`), or undefined when not well known. */
export function guidName(guid: string): string | undefined {
  return GUID_NAMES[guid.toLowerCase()];
}

/** Resolve a GUID string or a well-known name (`EfiGlobalVariable`, case-insensitive) to the canonical GUID. */
export function resolveGuid(s: string): string | undefined {
  if (GUID_RE.test(s)) return s.toLowerCase();
  const want = s.toLowerCase();
  for (const [g, n] of Object.entries(GUID_NAMES)) if (n.toLowerCase() === want) return g;
  return undefined;
}

/** Canonical string → 16 on-disk bytes. Throws a TypeError on a malformed GUID (callers validate first). */
export function guidToBytes(guid: string): Buffer {
  if (!isGuid(guid)) throw new TypeError(`not a GUID: ${String(guid)}`); // guid is `never` here for the type checker
  const hex = guid.replace(/-/g, '');
  const out = Buffer.from(hex, 'hex');
  // Swap the first three fields to little-endian.
  out.writeUInt32LE(parseInt(hex.slice(0, 8), 16), 0);
  out.writeUInt16LE(parseInt(hex.slice(8, 12), 16), 4);
  out.writeUInt16LE(parseInt(hex.slice(12, 16), 16), 6);
  return out;
}

/** 16 on-disk bytes at `offset` → canonical lower-case string. The caller checks bounds. */
export function guidFromBytes(buf: Buffer, offset = 0): string {
  const d1 = buf.readUInt32LE(offset).toString(16).padStart(8, '0');
  const d2 = buf
    .readUInt16LE(offset + 4)
    .toString(16)
    .padStart(4, '0');
  const d3 = buf
    .readUInt16LE(offset + 6)
    .toString(16)
    .padStart(4, '0');
  const d4 = buf.subarray(offset + 8, offset + 10).toString('hex');
  const d5 = buf.subarray(offset + 10, offset + 16).toString('hex');
  return `${d1}-${d2}-${d3}-${d4}-${d5}`;
}

/** Whether the 16 bytes at `offset` are the GUID `guid` (bounds-checked: false when they do not fit). */
export function guidAt(buf: Buffer, offset: number, guid: string): boolean {
  if (offset < 0 || offset + 16 > buf.length) return false;
  let want = bytesCache.get(guid);
  if (!want) {
    want = guidToBytes(guid);
    bytesCache.set(guid, want);
  }
  return buf.subarray(offset, offset + 16).equals(want);
}

const bytesCache = new Map<string, Buffer>();
