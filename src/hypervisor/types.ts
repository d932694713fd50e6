/**
 * @module hypervisor/types
 * The one interface every backend implements (embedded, libvirt, and nova: the domain is
 * Nova's). Hypervisor words (define, start, undefine)
 * stay here; the driver speaks Nova and calls these. Undefine takes an explicit
 * `keepNvram` flag that maps to exactly one of `--keep-nvram` / `--nvram` (libvirt refuses
 * both, and refuses neither for a domain with NVRAM).
 */
import type { PowerStateCode } from '../nova/powerState';
import type { NvramPayload } from '../peer/transfer';

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

/** What a live migration hands to a destination backend that keeps domains as records. */
export interface IncomingGuest {
  /** The destination's definition (its store path). */
  domain_xml: string;
  /** The flash contents at hand-over; null when the backend does not carry them (a real QEMU does). */
  nvram: NvramPayload | null;
}

/** How a record-keeping backend reaches the backend of another host (a signed peer call). */
export interface IncomingStream {
  send(destHost: string, guest: IncomingGuest): Promise<void>;
}

export interface Hypervisor {
  /** The backend's name, for logs and /healthz. Callers never branch on it. */
  readonly kind: 'embedded' | 'libvirt' | 'nova';
  /** Nova's `hypervisor_type` for this backend (`QEMU` for libvirt and nova). */
  readonly hypervisorType: string;
  /**
   * true when Nova defines the domain under its own `instance.name` (the nova backend): the
   * driver then names the domain and its store after `instance.name` when Nova sends it,
   * instead of applying `[DEFAULT] instance_name_template`, so the two can never disagree.
   */
  readonly namedByNova: boolean;
  /**
   * true when a live-migrated guest runs on the destination from the definition the sidecar
   * passes (`LiveMigrateOptions.persistXml`), so its store may live at another path there.
   * false for the nova backend: Nova's libvirt keeps the source's `<os>`, so the store must
   * live at the same path on both hosts (the destination's pre-check refuses otherwise).
   */
  readonly destinationXmlFromSidecar: boolean;
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
  /** Destination of a record-keeping backend: the guest `liveMigrate` sent arrived (peer route). */
  acceptIncoming?(guest: IncomingGuest): Promise<void>;
  close?(): Promise<void>;
}
