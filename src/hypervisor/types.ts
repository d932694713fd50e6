/**
 * @module hypervisor/types
 * The one interface both backends implement. Hypervisor words (define, start, undefine)
 * stay here; the driver speaks Nova and calls these. Undefine takes an explicit
 * `keepNvram` flag that maps to exactly one of `--keep-nvram` / `--nvram` (libvirt refuses
 * both, and refuses neither for a domain with NVRAM).
 */

/** Nova power-state codes (`nova/compute/power_state.py`). */
export const PowerState = {
  NOSTATE: 0,
  RUNNING: 1,
  PAUSED: 3,
  SHUTDOWN: 4,
  CRASHED: 6,
  SUSPENDED: 7,
} as const;
export type PowerStateCode = (typeof PowerState)[keyof typeof PowerState];

export interface DomainInfo {
  name: string;
  uuid?: string;
  state: PowerStateCode;
}

export interface UndefineOptions {
  /** true: keep the NVRAM file (redefinition); false: libvirt deletes it. */
  keepNvram: boolean;
}

export interface StartOptions {
  /** Start paused (libvirt --paused). */
  paused?: boolean;
}

export interface LiveMigrateOptions {
  /** libvirt URI of the destination daemon. */
  destUri: string;
  /** Optional QEMU migration URI (e.g. tcp://127.0.0.1). */
  migrateUri?: string;
  /** Domain XML to persist on the destination (defaults to the source's). */
  persistXml?: string;
  timeoutSec?: number;
}

export interface Hypervisor {
  readonly kind: 'embedded' | 'libvirt';
  /** Connect / load state. Called once at start-up. */
  init(): Promise<void>;
  /** Define (or redefine) a persistent domain from XML. */
  define(xml: string): Promise<void>;
  /** Start a defined domain. */
  start(name: string, opts?: StartOptions): Promise<void>;
  /** Graceful shutdown; resolves true when the guest stopped within `timeoutSec`. */
  shutdown(name: string, timeoutSec: number): Promise<boolean>;
  /** Hard power off; a domain that is not running is not an error. */
  destroy(name: string): Promise<void>;
  /** Soft reboot (ACPI). */
  reboot(name: string): Promise<void>;
  /** Remove the persistent definition; a domain that does not exist is not an error. */
  undefine(name: string, opts: UndefineOptions): Promise<void>;
  /** null when the domain is not defined. */
  getInfo(name: string): Promise<DomainInfo | null>;
  /** Persistent (inactive) XML, or null when not defined. */
  getXml(name: string): Promise<string | null>;
  /** Names of all defined domains. */
  list(): Promise<string[]>;
  /** Live-migrate to another libvirt (libvirt backend only). */
  liveMigrate?(name: string, opts: LiveMigrateOptions): Promise<void>;
  close?(): Promise<void>;
}
