/**
 * @module config/sectionTables
 * The keys of the sections an operator may repeat: `[firmware:<arch>]` (the firmware map) and
 * `[secure_boot_keyset:<name>]`. Same table form as config/schema's options.
 */
import type { OptDef, Table } from './optionTypes';

/** Keys of one `[firmware:<arch>]` section (the operator's firmware map). */
const FIRMWARE_MAP_OPTIONS_TABLE = [
  { section: 'firmware:<arch>', key: 'loader', mutable: true, type: 'string', default: '', help: 'CODE image for non-secure UEFI boot.' },
  {
    section: 'firmware:<arch>',
    key: 'nvram_template',
    mutable: true,
    type: 'string',
    default: '',
    help: 'VARS template paired with loader (same build: 2M and 4M do not mix).',
  },
  { section: 'firmware:<arch>', key: 'requires_smm', mutable: true, type: 'bool', default: false, help: 'loader needs <smm state="on"/>.' },
  {
    section: 'firmware:<arch>',
    key: 'machines',
    mutable: true,
    type: 'list',
    default: [],
    help: 'Machine-type globs this entry serves (default: pc-q35-*,pc-i440fx-* on x86_64, virt-* on aarch64).',
  },
  { section: 'firmware:<arch>', key: 'secure_loader', mutable: true, type: 'string', default: '', help: 'CODE image for Secure Boot.' },
  {
    section: 'firmware:<arch>',
    key: 'secure_nvram_template',
    mutable: true,
    type: 'string',
    default: '',
    help: 'VARS template for Secure Boot (with enrolled keys if secure_enrolled_keys).',
  },
  {
    section: 'firmware:<arch>',
    key: 'secure_requires_smm',
    mutable: true,
    type: 'bool',
    default: true,
    help: 'secure_loader needs SMM (required for Secure Boot on x86_64).',
  },
  {
    section: 'firmware:<arch>',
    key: 'secure_machines',
    mutable: true,
    type: 'list',
    default: [],
    help: 'Machine globs for the secure variant (default: pc-q35-* on x86_64, virt-* on aarch64).',
  },
  {
    section: 'firmware:<arch>',
    key: 'secure_enrolled_keys',
    mutable: true,
    type: 'bool',
    default: false,
    help: 'secure_nvram_template has PK/KEK/db enrolled.',
  },
  {
    section: 'firmware:<arch>',
    key: 'stateless_loader',
    mutable: true,
    type: 'string',
    default: '',
    help: 'CODE image for stateless firmware (hw_firmware_stateless=true); no NVRAM.',
  },
] as const satisfies readonly OptDef[];
export const FIRMWARE_MAP_OPTIONS: Table<typeof FIRMWARE_MAP_OPTIONS_TABLE> = FIRMWARE_MAP_OPTIONS_TABLE;

/**
 * Keys of one `[secure_boot_keyset:<name>]` section: Secure Boot keys an operator defines once
 * and enrolls into instances (flavor extra spec `os:secure_boot_keyset`, image property
 * `os_secure_boot_keyset`, the API, fleet rotations). The files are read and checked at start
 * and on reload (SIGHUP) by firmware/keysets; every problem names its option.
 */
const SECURE_BOOT_KEYSET_OPTIONS_TABLE = [
  {
    section: 'secure_boot_keyset:<name>',
    key: 'pk',
    type: 'string',
    default: '',
    help: 'Platform Key: one X.509 certificate file (PEM or DER) or an EFI signature list holding one. Empty: the key set leaves PK as the instance has it.',
  },
  {
    section: 'secure_boot_keyset:<name>',
    key: 'kek',
    type: 'list',
    default: [],
    help: 'Key Exchange Keys: certificate files (PEM, several per file allowed, or DER) or EFI signature lists, comma-separated.',
  },
  {
    section: 'secure_boot_keyset:<name>',
    key: 'db',
    type: 'list',
    default: [],
    help: 'Allowed signatures (db): certificate files, EFI signature lists or SHA-256 image hashes (64 hex digits), comma-separated.',
  },
  {
    section: 'secure_boot_keyset:<name>',
    key: 'dbx',
    type: 'list',
    default: [],
    help: "Forbidden signatures (dbx): SHA-256 hashes (64 hex digits), certificate files or EFI signature lists. Empty: enrolling the key set keeps the instance's dbx (revocations are never dropped by omission).",
  },
  {
    section: 'secure_boot_keyset:<name>',
    key: 'owner_guid',
    type: 'string',
    default: '',
    help: 'SignatureOwner GUID written with the certificates and hashes of this key set (entries of EFI signature list files keep their own). Required.',
  },
  {
    section: 'secure_boot_keyset:<name>',
    key: 'allow_expired',
    type: 'bool',
    default: false,
    help: 'Accept expired and not-yet-valid certificates (the firmware ignores validity dates when it verifies images; the inventory flags them).',
  },
] as const satisfies readonly OptDef[];
export const SECURE_BOOT_KEYSET_OPTIONS: Table<typeof SECURE_BOOT_KEYSET_OPTIONS_TABLE> = SECURE_BOOT_KEYSET_OPTIONS_TABLE;
