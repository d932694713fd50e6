/**
 * @module config/schema
 * Every configuration option: section, key, type, default and help text, in one table
 * (oslo.config style). `etc/nova-uefi-shim.conf.sample` is generated from this table
 * (`npm run gen:sample-config`) and a test fails when it is stale.
 *
 * `[firmware:<arch>]` sections are the operator's firmware map and are described by
 * `FIRMWARE_MAP_OPTIONS`; any number of them may appear. `mutable` marks what a reload
 * (SIGHUP) changes at run time (oslo.config's `mutable=True`).
 */
import * as os from 'node:os';

export type OptType = 'string' | 'int' | 'bool' | 'list' | 'dict' | 'octal';

export interface OptDef {
  section: string;
  key: string;
  type: OptType;
  default: string | number | boolean | readonly string[] | Readonly<Record<string, string>>;
  help: string;
  /** Allowed values for string options. */
  choices?: readonly string[];
  related?: readonly string[];
  min?: number;
  max?: number;
  /**
   * Applied by a reload (SIGHUP) while the sidecar runs. Every other option keeps its value
   * until a restart (listen address, directories, backend, identity): a reload that changes
   * one logs it and keeps the running value.
   */
  mutable?: boolean;
  /** Shown in the sample config instead of the runtime default (e.g. the host name). */
  sampleDefault?: string;
  secret?: boolean;
}

/** The value an option of type `T` holds once converted (a string option with `choices`: one of them). */
export type OptValue<D extends OptDef> = D extends { type: 'string'; choices: readonly string[] }
  ? NonNullable<D['choices']>[number]
  : D['type'] extends 'string'
    ? string
    : D['type'] extends 'int' | 'octal'
      ? number
      : D['type'] extends 'bool'
        ? boolean
        : D['type'] extends 'list'
          ? string[]
          : Record<string, string>;

/** A table as callers read it: each entry its literal type and every optional field of `OptDef`. */
export type Table<T extends readonly OptDef[]> = readonly (T[number] & OptDef)[];

/** One section's values, keyed as the table declares them. */
export type SectionOf<Defs extends readonly OptDef[], S extends string = Defs[number]['section']> = {
  [D in Extract<Defs[number], { section: S }> as D['key']]: OptValue<D>;
};

/** Every section of a table, each with its values: the type a config is, inferred from the table. */
export type SectionsOf<Defs extends readonly OptDef[]> = { [S in Defs[number]['section']]: SectionOf<Defs, S> };

const OPTIONS_TABLE = [
  {
    section: 'DEFAULT',
    key: 'host',
    type: 'string',
    default: os.hostname(),
    sampleDefault: '<this host name>',
    help: "Name of this compute host, as nova-compute's [DEFAULT] host. Used to tell source from destination in migrations and to find peers.",
  },
  {
    section: 'DEFAULT',
    key: 'instance_name_template',
    type: 'string',
    default: 'instance-%08x',
    help: "Template for libvirt domain names, as Nova's [DEFAULT] instance_name_template; applied to instance.id (or to the instance fields with %(name)s keys). The NVRAM file is <nvram_dir>/<name>_VARS.fd.",
  },
  { section: 'DEFAULT', key: 'debug', mutable: true, type: 'bool', default: false, help: 'Log at debug level.' },
  {
    section: 'api',
    key: 'host',
    type: 'string',
    default: '127.0.0.1',
    help: 'Address to listen on. A non-loopback address requires [api] auth_token.',
    related: ['api.auth_token'],
  },
  { section: 'api', key: 'port', type: 'int', default: 7780, min: 0, max: 65535, help: 'TCP port to listen on (0 picks a free port and logs it).' },
  {
    section: 'api',
    key: 'auth_token',
    mutable: true,
    type: 'string',
    default: '',
    secret: true,
    help: 'Bearer token every request except GET /healthz and GET /readyz must carry (and GET /metrics unless [api] metrics_open). Empty disables auth, which is allowed only on loopback. When set, at least 16 bytes (openssl rand -hex 32).',
  },
  {
    section: 'api',
    key: 'metrics_enabled',
    type: 'bool',
    default: true,
    help: 'Serve Prometheus metrics at GET /metrics and record them. false records nothing (no request, operation or lock-wait timing at all).',
    related: ['api.metrics_open'],
  },
  {
    section: 'api',
    key: 'metrics_open',
    mutable: true,
    type: 'bool',
    default: false,
    help: "Serve GET /metrics without the bearer token. Off by default: the metrics name no secrets (store sizes, operation counts, peer host names), but they show the pattern of Nova's calls to this host, and Prometheus can send the token (scrape_config authorization: credentials_file). Turn it on only where the listen address is reachable by the monitoring network alone.",
    related: ['api.auth_token', 'api.metrics_enabled'],
  },
  {
    section: 'api',
    key: 'tls_cert_file',
    type: 'string',
    default: '',
    help: 'PEM certificate (with its chain) for serving the API over HTTPS; with tls_key_file. Empty serves plain HTTP, fit only for loopback: the bearer token and, between sidecars, variable stores (OVMF keeps iSCSI CHAP secrets among its variables) cross the network. SIGHUP re-reads the files at these paths (certificate renewal); another path takes effect at restart.',
    related: ['api.tls_key_file', 'peer.ca_file'],
  },
  {
    section: 'api',
    key: 'tls_key_file',
    type: 'string',
    default: '',
    help: 'PEM private key of tls_cert_file. Must be readable by the sidecar only (mode 0600 or stricter): a key file group or others may access is refused at start and reload, as OpenSSH refuses such private keys.',
    related: ['api.tls_cert_file'],
  },
  {
    section: 'api',
    key: 'shutdown_timeout',
    mutable: true,
    type: 'int',
    default: 30,
    min: 0,
    help: "Seconds SIGTERM waits for calls in flight to finish after it stops accepting new ones; then the sidecar exits anyway. A migration step cut this way leaves its journal, which the next start completes or reverts (or Nova's next call does). Keep systemd's TimeoutStopSec above it.",
  },
  {
    section: 'hypervisor',
    key: 'backend',
    type: 'string',
    default: 'embedded',
    choices: ['embedded', 'libvirt', 'nova'],
    help:
      "'embedded' keeps domains as records (no VM runs, same NVRAM files); 'libvirt' drives a real libvirtd through virsh; " +
      "'nova': the domain belongs to nova-compute (compute_driver = uefi_shim.UEFIShimDriver), which defines the firmware this " +
      'sidecar chose; the sidecar keeps the pin and the variable store, never changes anything in libvirt, and names domains ' +
      "after Nova's instance.name.",
    related: ['hypervisor.nova_power_state'],
  },
  {
    section: 'hypervisor',
    key: 'nova_power_state',
    type: 'string',
    default: 'recorded',
    choices: ['recorded', 'libvirt'],
    help:
      "backend = nova only: where a guest's power state (which the NVRAM write guard reads) comes from. 'recorded': the " +
      "state Nova reports through the calls its driver makes (power_off, power_on, reboot, ...). 'libvirt': a read-only " +
      'query (virsh --readonly domstate) at [libvirt] connection_uri, which also sees a guest that stopped by itself; when ' +
      'libvirt does not answer, the recorded state.',
    related: ['hypervisor.backend', 'libvirt.connection_uri'],
  },
  {
    section: 'hypervisor',
    key: 'state_dir',
    type: 'string',
    default: '/var/lib/nova-uefi-shim',
    help: "Directory for the sidecar's own records (pinned firmware, NVRAM path, migration journals) and the embedded backend's domains.",
  },
  {
    section: 'nvram',
    key: 'nvram_dir',
    type: 'string',
    default: '/var/lib/libvirt/qemu/nvram',
    help: "Directory of per-instance variable stores (<name>_VARS.fd). Must match libvirt's nvram_dir for the libvirt backend. Created 0755 if missing.",
  },
  {
    section: 'nvram',
    key: 'owner',
    type: 'string',
    default: '',
    help: "Owner of NVRAM files (user name or uid), e.g. 'libvirt-qemu' on Debian. Empty keeps the sidecar's user.",
  },
  { section: 'nvram', key: 'group', type: 'string', default: '', help: "Group of NVRAM files (name or gid). Empty keeps the sidecar's group." },
  { section: 'nvram', key: 'mode', type: 'octal', default: 0o600, help: 'File mode of NVRAM files, octal.' },
  {
    section: 'libvirt',
    key: 'connection_uri',
    type: 'string',
    default: 'qemu:///system',
    help: 'libvirt connection URI for the libvirt backend (Nova: [libvirt] connection_uri).',
  },
  {
    section: 'libvirt',
    key: 'virt_type',
    type: 'string',
    default: 'kvm',
    choices: ['kvm', 'qemu'],
    help: "Domain type, as Nova's [libvirt] virt_type; 'qemu' is software emulation (TCG).",
  },
  {
    section: 'libvirt',
    key: 'hw_machine_type',
    mutable: true,
    type: 'dict',
    default: {},
    help: "Default machine type per architecture, Nova's format: 'x86_64=q35,aarch64=virt'. Without an entry x86_64 uses 'pc' and aarch64 'virt' (Nova's defaults).",
  },
  {
    section: 'libvirt',
    key: 'migration_uri',
    mutable: true,
    type: 'string',
    default: '',
    help: 'libvirt URI that peers use to live-migrate guests to this host (reported in migrate_data). Empty: qemu+tcp://<[DEFAULT] host>/system.',
  },
  {
    section: 'libvirt',
    key: 'live_migration_inbound_addr',
    mutable: true,
    type: 'string',
    default: '',
    help: "Address peers' QEMU sends live-migration traffic to on this host (Nova's option of the same name); reported in migrate_data and passed as virsh --migrateuri tcp://ADDR. Empty: libvirt's default (the host name).",
  },
  {
    section: 'libvirt',
    key: 'wait_soft_reboot_seconds',
    mutable: true,
    type: 'int',
    default: 120,
    min: 1,
    help: "Seconds a SOFT reboot waits for the guest to shut down after an ACPI request before falling back to a hard reboot (Nova's option of the same name).",
  },
  { section: 'libvirt', key: 'virsh_path', type: 'string', default: 'virsh', help: 'virsh binary used by the libvirt backend.' },
  {
    section: 'libvirt',
    key: 'serial_socket_dir',
    type: 'string',
    default: '',
    help: 'When set, minimal domains built by the sidecar get a serial console on a unix socket <dir>/<name>.sock (for tests and debugging).',
  },
  {
    section: 'firmware',
    key: 'descriptor_dirs',
    mutable: true,
    type: 'list',
    default: ['/usr/share/qemu/firmware', '/etc/qemu/firmware'],
    help: 'QEMU firmware descriptor directories, least specific first (QEMU docs/interop/firmware.json). A same-named file in a later directory shadows an earlier one; an empty file masks it.',
  },
  {
    section: 'firmware',
    key: 'secure_boot',
    mutable: true,
    type: 'bool',
    default: true,
    help: 'Offer Secure Boot on this host. false makes the host report no Secure Boot capability (as a host without SB-capable firmware would).',
  },
  {
    section: 'peer',
    key: 'url_template',
    mutable: true,
    type: 'string',
    default: '',
    help: "URL of a peer sidecar built from a host name or IP, e.g. 'https://{host}:7780'. [peer] hosts entries win. Use https when the peers serve TLS ([api] tls_cert_file): their certificates are verified against [peer] ca_file.",
    related: ['peer.hosts', 'peer.ca_file'],
  },
  {
    section: 'peer',
    key: 'hosts',
    mutable: true,
    type: 'dict',
    default: {},
    help: "Peer sidecars as 'name=url' pairs, comma-separated; names may be host names or IPs. https URLs are verified against [peer] ca_file.",
  },
  {
    section: 'peer',
    key: 'ca_file',
    mutable: true,
    type: 'string',
    default: '',
    help: "PEM CA certificates that sign the peers' API certificates (https peer URLs). Empty: the system's trusted CAs. Verification is always on: a peer whose certificate does not verify (or names another host) is refused.",
    related: ['peer.hosts', 'api.tls_cert_file'],
  },
  {
    section: 'peer',
    key: 'shared_secret',
    mutable: true,
    type: 'string',
    default: '',
    secret: true,
    help: 'HMAC secret shared by all sidecars of a deployment; required for migrations. At least 16 bytes (openssl rand -hex 32).',
  },
  { section: 'peer', key: 'timeout', mutable: true, type: 'int', default: 60, min: 1, help: 'Seconds before a peer call times out.' },
  { section: 'peer', key: 'max_clock_skew', mutable: true, type: 'int', default: 300, min: 1, help: 'Seconds a signed peer request stays valid.' },
  {
    section: 'replica',
    key: 'backend',
    type: 'string',
    default: 'none',
    choices: ['none', 's3', 'directory'],
    help: "Where encrypted generations of every variable store are kept off this host, so a store outlives its host (shelve-offload, unshelve, evacuate, point-in-time restore): 'none' keeps no replicas; 's3' an S3 bucket (OpenStack Swift with s3api, Ceph RGW, any S3); 'directory' a directory on a shared filesystem (NFS, CephFS).",
    related: ['replica.encryption_key_file', 'replica.endpoint', 'replica.path'],
  },
  {
    section: 'replica',
    key: 'encryption_key_file',
    type: 'string',
    default: '',
    help: "File holding the AES-256-GCM key replicas are encrypted with on this host: 64 hex characters, as 'openssl rand -hex 32' writes them, in a file readable by the sidecar only (mode 0600; a file group or others may access is refused). Required with a backend. Every sidecar that may restore an instance needs the key its replicas were written with (this one or one of old_key_files).",
    related: ['replica.old_key_files'],
  },
  {
    section: 'replica',
    key: 'old_key_files',
    type: 'list',
    default: [],
    help: 'Files of earlier keys (same format), kept for reading replicas written before a key rotation; new generations always use encryption_key_file.',
    related: ['replica.encryption_key_file'],
  },
  {
    section: 'replica',
    key: 'interval',
    type: 'int',
    default: 300,
    min: 1,
    help: "Seconds between checks of running guests' stores: a store that changed since its newest generation gets a new one, at most once per interval.",
  },
  {
    section: 'replica',
    key: 'keep',
    type: 'int',
    default: 5,
    min: 1,
    help: 'Generations kept per instance (the newest ones), plus the shelve generation of a shelved instance until it is unshelved or deleted.',
  },
  {
    section: 'replica',
    key: 'concurrency',
    type: 'int',
    default: 4,
    min: 1,
    max: 64,
    help: 'Generations written or read at once by this sidecar (a catch-up after an outage holds at most this many stores in memory).',
  },
  {
    section: 'replica',
    key: 'retry_interval',
    type: 'int',
    default: 10,
    min: 1,
    help: 'Seconds before the first retry of a generation the replica store refused or did not answer; doubled on each failure up to [replica] interval.',
  },
  {
    section: 'replica',
    key: 'timeout',
    type: 'int',
    default: 30,
    min: 1,
    help: 'Seconds one request to the replica store may take.',
  },
  {
    section: 'replica',
    key: 'prefix',
    type: 'string',
    default: 'nvram/',
    help: 'Key prefix (s3) or sub-directory (directory) of all replicas; one per deployment. Instances sit under <prefix><instance uuid>/.',
  },
  {
    section: 'replica',
    key: 'endpoint',
    type: 'string',
    default: '',
    help: "s3: the endpoint URL, e.g. 'http://swift-proxy:8080' (Swift s3api) or 'https://rgw.example:443'.",
  },
  { section: 'replica', key: 'bucket', type: 'string', default: '', help: 's3: the bucket; created at start-up when missing.' },
  { section: 'replica', key: 'region', type: 'string', default: 'us-east-1', help: "s3: the SigV4 region (Swift s3api's [filter:s3api] location)." },
  { section: 'replica', key: 'access_key', type: 'string', default: '', help: "s3: access key (Swift tempauth: 'account:user'; Keystone: an EC2 credential)." },
  {
    section: 'replica',
    key: 'secret_key',
    type: 'string',
    default: '',
    secret: true,
    help: 's3: secret key. Prefer secret_key_file.',
    related: ['replica.secret_key_file'],
  },
  { section: 'replica', key: 'secret_key_file', type: 'string', default: '', help: 's3: file holding the secret key (first line); wins over secret_key.' },
  {
    section: 'replica',
    key: 'force_path_style',
    type: 'bool',
    default: true,
    help: 's3: address buckets as <endpoint>/<bucket> (Swift, most RGW set-ups) instead of <bucket>.<endpoint> host names.',
  },
  {
    section: 'replica',
    key: 'path',
    type: 'string',
    default: '',
    help: 'directory: the shared directory (an NFS or CephFS mount seen by every compute host).',
  },
  {
    section: 'debug',
    key: 'crash_points',
    type: 'list',
    default: [],
    help: 'Fault injection for tests only: names of migration steps at which the process kills itself with SIGKILL (see docs/migrations.md). Never set in production.',
  },
  {
    section: 'debug',
    key: 'host_arch',
    type: 'string',
    default: '',
    help: "Tests only: the Nova architecture this host reports (aarch64, x86_64, ...) instead of the process's own, as Nova's functional tests fake an aarch64 host. Never set in production.",
  },
] as const satisfies readonly OptDef[];
export const OPTIONS: Table<typeof OPTIONS_TABLE> = OPTIONS_TABLE;

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
