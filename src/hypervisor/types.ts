/**
 * @module hypervisor/types
 * The one interface both backends implement. Hypervisor words (define, start, undefine)
 * stay here; the driver speaks Nova and calls these. Undefine takes an explicit
 * `keepNvram` flag that maps to exactly one of `--keep-nvram` / `--nvram` (libvirt refuses
 * both, and refuses neither for a domain with NVRAM).
 */
import type { PowerStateCode } from '../nova/powerState';

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
  /** Nova's name (or IP) of the destination host. */
  destHost: string;
  /** libvirt URI of the destination daemon. */
  destUri: string;
  /** Optional QEMU migration URI (e.g. tcp://127.0.0.1). */
  migrateUri?: string;
  /** Domain XML for the destination (its store path and serial socket); defaults to the source's. */
  persistXml?: string;
  timeoutSec?: number;
}

export interface Hypervisor {
  /** The backend's name, for logs and /healthz. Callers never branch on it. */
  readonly kind: 'embedded' | 'libvirt';
  /** Nova's `hypervisor_type` for this backend (`QEMU` for libvirt). */
  readonly hypervisorType: string;
  /** Connect / load state. Called once at start-up. */
  init(): Promise<void>;
  /**
   * Does the hypervisor answer now? Resolves to what answered (versions) or rejects with why
   * not, within a few seconds. For readiness and `doctor`; never changes anything.
   */
  probe(): Promise<string>;
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
  /**
   * Move the running domain to the destination host: afterwards it runs there from the
   * persistent definition `persistXml`, its store rewritten with the flash contents the
   * guest had, and it is no longer defined here. The store file here is left in place (the
   * driver removes it once the destination's copy is verified).
   */
  liveMigrate(name: string, opts: LiveMigrateOptions): Promise<void>;
  close?(): Promise<void>;
}
