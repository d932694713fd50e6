/**
 * @module config/schema
 * Every configuration option: section, key, type, default and help text, in one table
 * (oslo.config style). `etc/nova-uefi-shim.conf.sample` is generated from this table
 * (`npm run gen:sample-config`) and a test fails when it is stale.
 *
 * `[firmware:<arch>]` sections are the operator's firmware map and are described by
 * `FIRMWARE_MAP_OPTIONS`; any number of them may appear.
 */
import * as os from 'node:os';

export type OptType = 'string' | 'int' | 'bool' | 'list' | 'dict' | 'octal';

export interface OptDef {
  section: string;
  key: string;
  type: OptType;
  default: string | number | boolean | string[] | Record<string, string>;
  help: string;
  /** Allowed values for string options. */
  choices?: readonly string[];
  related?: string[];
  min?: number;
  max?: number;
  /** Shown in the sample config instead of the runtime default (e.g. the host name). */
  sampleDefault?: string;
  secret?: boolean;
}

export const OPTIONS: readonly OptDef[] = [
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
  { section: 'DEFAULT', key: 'debug', type: 'bool', default: false, help: 'Log at debug level.' },
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
    type: 'string',
    default: '',
    secret: true,
    help: 'Bearer token every request except GET /healthz must carry. Empty disables auth, which is allowed only on loopback.',
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
    type: 'dict',
    default: {},
    help: "Default machine type per architecture, Nova's format: 'x86_64=q35,aarch64=virt'. Without an entry x86_64 uses 'pc' and aarch64 'virt' (Nova's defaults).",
  },
  {
    section: 'libvirt',
    key: 'migration_uri',
    type: 'string',
    default: '',
    help: 'libvirt URI that peers use to live-migrate guests to this host (reported in migrate_data). Empty: qemu+tcp://<[DEFAULT] host>/system.',
  },
  {
    section: 'libvirt',
    key: 'live_migration_inbound_addr',
    type: 'string',
    default: '',
    help: "Address peers' QEMU sends live-migration traffic to on this host (Nova's option of the same name); reported in migrate_data and passed as virsh --migrateuri tcp://ADDR. Empty: libvirt's default (the host name).",
  },
  {
    section: 'libvirt',
    key: 'wait_soft_reboot_seconds',
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
    type: 'list',
    default: ['/usr/share/qemu/firmware', '/etc/qemu/firmware'],
    help: 'QEMU firmware descriptor directories, least specific first (QEMU docs/interop/firmware.json). A same-named file in a later directory shadows an earlier one; an empty file masks it.',
  },
  {
    section: 'firmware',
    key: 'secure_boot',
    type: 'bool',
    default: true,
    help: 'Offer Secure Boot on this host. false makes the host report no Secure Boot capability (as a host without SB-capable firmware would).',
  },
  {
    section: 'peer',
    key: 'url_template',
    type: 'string',
    default: '',
    help: "URL of a peer sidecar built from a host name or IP, e.g. 'http://{host}:7780'. [peer] hosts entries win.",
    related: ['peer.hosts'],
  },
  { section: 'peer', key: 'hosts', type: 'dict', default: {}, help: "Peer sidecars as 'name=url' pairs, comma-separated; names may be host names or IPs." },
  {
    section: 'peer',
    key: 'shared_secret',
    type: 'string',
    default: '',
    secret: true,
    help: 'HMAC secret shared by all sidecars of a deployment; required for migrations.',
  },
  { section: 'peer', key: 'timeout', type: 'int', default: 60, min: 1, help: 'Seconds before a peer call times out.' },
  { section: 'peer', key: 'max_clock_skew', type: 'int', default: 300, min: 1, help: 'Seconds a signed peer request stays valid.' },
  {
    section: 'debug',
    key: 'crash_points',
    type: 'list',
    default: [],
    help: 'Fault injection for tests only: names of migration steps at which the process kills itself with SIGKILL (see README, Migrations). Never set in production.',
  },
];

/** Keys of one `[firmware:<arch>]` section (the operator's firmware map). */
export const FIRMWARE_MAP_OPTIONS: readonly OptDef[] = [
  { section: 'firmware:<arch>', key: 'loader', type: 'string', default: '', help: 'CODE image for non-secure UEFI boot.' },
  {
    section: 'firmware:<arch>',
    key: 'nvram_template',
    type: 'string',
    default: '',
    help: 'VARS template paired with loader (same build: 2M and 4M do not mix).',
  },
  { section: 'firmware:<arch>', key: 'requires_smm', type: 'bool', default: false, help: 'loader needs <smm state="on"/>.' },
  {
    section: 'firmware:<arch>',
    key: 'machines',
    type: 'list',
    default: [],
    help: 'Machine-type globs this entry serves (default: pc-q35-*,pc-i440fx-* on x86_64, virt-* on aarch64).',
  },
  { section: 'firmware:<arch>', key: 'secure_loader', type: 'string', default: '', help: 'CODE image for Secure Boot.' },
  {
    section: 'firmware:<arch>',
    key: 'secure_nvram_template',
    type: 'string',
    default: '',
    help: 'VARS template for Secure Boot (with enrolled keys if secure_enrolled_keys).',
  },
  {
    section: 'firmware:<arch>',
    key: 'secure_requires_smm',
    type: 'bool',
    default: true,
    help: 'secure_loader needs SMM (required for Secure Boot on x86_64).',
  },
  {
    section: 'firmware:<arch>',
    key: 'secure_machines',
    type: 'list',
    default: [],
    help: 'Machine globs for the secure variant (default: pc-q35-* on x86_64, virt-* on aarch64).',
  },
  { section: 'firmware:<arch>', key: 'secure_enrolled_keys', type: 'bool', default: false, help: 'secure_nvram_template has PK/KEK/db enrolled.' },
  {
    section: 'firmware:<arch>',
    key: 'stateless_loader',
    type: 'string',
    default: '',
    help: 'CODE image for stateless firmware (hw_firmware_stateless=true); no NVRAM.',
  },
];
