/**
 * @module driver/contract
 * The ComputeDriver contract as the sidecar implements it, in the manner of Nova's
 * `nova/virt/driver.py`: Nova's method names in camelCase, Nova's keyword arguments in the
 * argument objects, and for each method what holds when it returns and when it fails.
 *
 * Argument types come from the OpenAPI document (`wire.ArgsOf<operationId>`: the request body
 * the API validated, unwrapped from versioned objects), so the schema and the driver cannot
 * disagree. `InstanceMethods` maps each Nova method the API serves at
 * `POST /v1/instances/{uuid}/{method}` to its arguments and result; the API's dispatch table
 * is typed from it. Every instance method takes the instance's lock (calls for different
 * instances run in parallel), and checks that `instance.uuid` equals the path's uuid.
 *
 * Errors carry Nova's exception names (`errors.ts`): a proxy re-raises the same exception.
 *
 * The same methods serve every hypervisor backend. On the nova backend (`[hypervisor] backend
 * = nova`, the domain is nova-compute's) "define", "start" and "undefine" in the postconditions
 * below are what the sidecar records of what Nova does (`hypervisor/novaOwned`); the store,
 * the pin, the journals and the peer transfers are exactly as stated. There the domain's name
 * is Nova's `instance.name` when the caller sends it (`Hypervisor.namedByNova`).
 */
import type { ArgsOf, Schemas, Unwrapped } from '../wire';
import type { FirmwareSelection } from '../firmware/types';
import type { FirmwareInventoryView } from '../firmware';
import type { NvramInfo } from '../nvram/store';
import type { PowerStateCode } from '../nova/powerState';
import type { VmState } from '../state/records';
import type { KeyChangeReport, SecureBootSummary, VarStoreJson } from '../varstore';
import type { ReplicaView } from '../replica/views';

export type SecureBootWrite = Schemas['SecureBootWrite'];
export type SecureBootInventory = Schemas['SecureBootInventory'];
export type SecureBootRotation = Schemas['SecureBootRotation'];
export type RotationRequest = Schemas['SecureBootRotationRequest'];
export type PendingKeyChangeView = Schemas['PendingKeyChange'];
/** The Secure Boot summary of a store plus what the sidecar keeps for the instance. */
export type InstanceSecureBoot = SecureBootSummary & { keyset: string | null; pending: PendingKeyChangeView[] };
export interface SecureBootWriteResult {
  applied: boolean;
  queued: boolean;
  changed: boolean;
  change?: PendingKeyChangeView;
  reports: KeyChangeReport[];
  notes: string[];
  secure_boot: InstanceSecureBoot;
  nvram?: NvramInfo;
}

/** The store as the API shows it: its info and, with replicas configured, their state. */
export type NvramView = NvramInfo & { replica?: ReplicaView };

/** The instance as the API shows it (`get_info` and most answers). */
export interface InstanceView {
  instance_uuid: string;
  instance_name: string;
  power_state: PowerStateCode;
  /** The sidecar's own record of it (not Nova's vm_state, which Nova keeps). */
  vm_state: VmState;
  domain_xml: string | null;
  firmware: FirmwareSelection | null;
  nvram: NvramView | null;
  system_metadata: Record<string, string>;
  warnings: string[];
}

/** The empty answer of a method that returns nothing in Nova. */
export type Done = Record<string, never>;

export type SpawnArgs = ArgsOf<'spawn'>;
export type DestroyArgs = ArgsOf<'destroy'>;
export type RebootArgs = ArgsOf<'reboot'>;
export type PowerOffArgs = ArgsOf<'power_off'>;
export type PowerOnArgs = ArgsOf<'power_on'>;
export type RebuildArgs = ArgsOf<'rebuild'>;
export type RescueArgs = ArgsOf<'rescue'>;
export type UnrescueArgs = ArgsOf<'unrescue'>;
export type MigrateDiskArgs = ArgsOf<'migrate_disk_and_power_off'>;
export type FinishMigrationArgs = ArgsOf<'finish_migration'>;
export type ConfirmMigrationArgs = ArgsOf<'confirm_migration'>;
export type FinishRevertArgs = ArgsOf<'finish_revert_migration'>;
export type CheckDestinationArgs = ArgsOf<'check_can_live_migrate_destination'>;
export type CheckSourceArgs = ArgsOf<'check_can_live_migrate_source'>;
export type PreLiveMigrationArgs = ArgsOf<'pre_live_migration'>;
export type LiveMigrationArgs = ArgsOf<'live_migration'>;
export type LiveStepArgs = ArgsOf<'post_live_migration'>;
export type CleanupArgs = ArgsOf<'cleanup'>;
export type MigrateData = Unwrapped<Schemas['MigrateData']>;
/** What the sidecars add to Nova's migrate_data (Nova's LibvirtLiveMigrateData has no firmware field). */
export type ShimMigrateData = Unwrapped<Schemas['ShimMigrateData']>;

/** Size and digest of a store as a migration moved it. */
export interface StoreDigest {
  size: number;
  sha256: string;
}

export interface MigrateDiskResult {
  disk_info: string;
  nvram: (StoreDigest & { firmware: FirmwareSelection | null }) | null;
}
export interface MigrateDataResult {
  migrate_data: MigrateData;
}
export interface LiveMigrationResult extends MigrateDataResult {
  nvram: StoreDigest | null;
}

/** Nova method (the OpenAPI operationId) → its arguments and its result. */
export interface InstanceMethods {
  spawn: { args: SpawnArgs; result: InstanceView };
  destroy: { args: DestroyArgs; result: Done };
  reboot: { args: RebootArgs; result: InstanceView };
  power_off: { args: PowerOffArgs; result: InstanceView };
  power_on: { args: PowerOnArgs; result: InstanceView };
  rebuild: { args: RebuildArgs; result: InstanceView };
  rescue: { args: RescueArgs; result: InstanceView };
  unrescue: { args: UnrescueArgs; result: InstanceView };
  migrate_disk_and_power_off: { args: MigrateDiskArgs; result: MigrateDiskResult };
  finish_migration: { args: FinishMigrationArgs; result: InstanceView };
  confirm_migration: { args: ConfirmMigrationArgs; result: Done };
  finish_revert_migration: { args: FinishRevertArgs; result: InstanceView };
  check_can_live_migrate_destination: { args: CheckDestinationArgs; result: MigrateDataResult };
  check_can_live_migrate_source: { args: CheckSourceArgs; result: MigrateDataResult };
  pre_live_migration: { args: PreLiveMigrationArgs; result: MigrateDataResult };
  live_migration: { args: LiveMigrationArgs; result: LiveMigrationResult };
  post_live_migration: { args: LiveStepArgs; result: Done };
  post_live_migration_at_source: { args: LiveStepArgs; result: Done };
  post_live_migration_at_destination: { args: LiveStepArgs; result: InstanceView };
  rollback_live_migration_at_source: { args: LiveStepArgs; result: Done };
  rollback_live_migration_at_destination: { args: LiveStepArgs; result: Done };
  cleanup: { args: CleanupArgs; result: Done };
}
export type InstanceMethodName = keyof InstanceMethods;
export type ArgsFor<M extends InstanceMethodName> = InstanceMethods[M]['args'];
export type ResultFor<M extends InstanceMethodName> = InstanceMethods[M]['result'];

export type { FirmwareInventoryView };
export type NvramVariableWrite = Schemas['NvramVariableWrite'];
export type NvramBootWrite = Schemas['NvramBootWrite'];

export interface VariableJson {
  name: string;
  guid: string;
  attr: number;
  attr_names: string[];
  data: string;
  time?: string;
  decoded?: Record<string, unknown>;
}

export interface NvramEditResult {
  nvram: NvramInfo;
  variable?: VariableJson;
  boot_order?: number[];
  boot_next?: number | null;
}

export type NvramVariables = { format: string; variables: VariableJson[] } | VarStoreJson;

export interface HostCapabilities {
  host: string;
  hypervisor_type: string;
  capabilities: Record<string, boolean>;
  traits: string[];
  architectures: Schemas['Capabilities']['architectures'];
}

export interface InstanceList {
  instances: { uuid: string; name: string; power_state: number }[];
  names: string[];
  uuids: string[];
}

/** The peer protocol's bodies (peer/protocol, schemas under the OpenAPI `peer` tag), named here for driver/services/peerSide. */
export type { StageRequest, StageResult, PeerInstanceState, NvramDigest } from '../peer/protocol';

/**
 * Nova's calls, and only those: the virt-driver methods `nova/virt/driver.py` declares that
 * the sidecar serves, camelCase of Nova's names. Nova's positional and keyword arguments
 * arrive in one object (`a`, the OpenAPI request body unwrapped); the instance's uuid is the
 * path's. What the API serves besides Nova's calls is in `driver/services`: NVRAM
 * administration, Secure Boot across the host, replicas and the peer side.
 */
export interface ComputeDriver {
  // ---- lifecycle (driver/lifecycle) ----

  /**
   * Create the instance: firmware selected from the image and flavor, the store created from
   * the template (or a store kept by `destroy(destroy_disks=False)` reused when it fits), the
   * domain defined. RUNNING when `power_on` (default), else SHUTDOWN.
   * Fails with `InstanceExists` when the instance or its domain exists, `UEFINotSupported`,
   * `SecureBootNotSupported`, `FlavorImageConflict`, `InvalidInput` for the request; after any
   * failure no domain, no store and no record is left.
   * With replicas configured: an unshelve (`instance.task_state` `unshelving`) or an evacuation
   * (`evacuate`) boots with the newest generation that decodes, its firmware kept when this
   * host can run it (else a selection with a template of the same size, else refused); the
   * answer's `nvram.replica.restored` names it. `ReplicaUnavailable`/`ReplicaKeyError` when it
   * cannot be read (nothing created). A generation is written after every spawn, not awaited.
   */
  spawn(uuid: string, a: SpawnArgs): Promise<InstanceView>;
  /**
   * Power off and undefine. `destroy_disks` (default true) deletes the store; false keeps it
   * (and the record, as `deleted-kept`) for a later spawn. Also drops anything a migration
   * staged here for the instance. Succeeds for an instance this host does not know, removing
   * a leftover store under its name.
   * With replicas configured (`driver/restore.destroyKind`): shelve-offload first writes the
   * shelve generation and reads it back, or fails (`ReplicaUnavailable`) keeping everything; a
   * delete removes the replicas after the local store; the destroy of an instance evacuated
   * from here (`instance.host` is another host) and every other destroy leave them alone.
   */
  destroy(uuid: string, a: DestroyArgs): Promise<Done>;
  /**
   * SOFT: ACPI shutdown, wait up to `[libvirt] wait_soft_reboot_seconds`, boot again; a guest
   * that ignores it (or is not running) gets a HARD reboot, with a warning, as in Nova's
   * libvirt driver. HARD: redefine with the pinned firmware (re-selected only when its files
   * vanished) and start. RUNNING afterwards; the store is never rewritten, except reset when
   * it no longer fits a re-selected build (warned). `InstanceInvalidState` while rescued.
   */
  reboot(uuid: string, a: RebootArgs): Promise<InstanceView>;
  /** SHUTDOWN afterwards (graceful first when `timeout` > 0). The store is untouched; a generation of it is queued. */
  powerOff(uuid: string, a: PowerOffArgs): Promise<InstanceView>;
  /** RUNNING afterwards, through the cold-boot path as a hard reboot. `InstanceInvalidState` while rescued. */
  powerOn(uuid: string, a: PowerOnArgs): Promise<InstanceView>;
  /**
   * Redefine for a new image: firmware re-selected; the store reset to the new template unless
   * `preserve_nvram` and it still fits. Started when `power_on` (default: as it was). A
   * refused image (selection fails) leaves the guest as it was.
   */
  rebuild(uuid: string, a: RebuildArgs): Promise<InstanceView>;
  /**
   * RUNNING in rescue with the pinned firmware and store (stable rescue); a BIOS rescue image
   * without `hw_rescue_device`/`hw_rescue_bus` boots without them (legacy rescue) and the
   * store waits. The original definition is kept for unrescue. `InstanceInvalidState` when
   * already rescued.
   */
  rescue(uuid: string, a: RescueArgs): Promise<InstanceView>;
  /** Back to the original definition, RUNNING; the store as rescue left it. `InstanceInvalidState` when not rescued. */
  unrescue(uuid: string, a: UnrescueArgs): Promise<InstanceView>;
  /** `get_info`: `InstanceNotFound` when this host has no record of the instance. */
  getInfo(uuid: string): Promise<InstanceView>;
  /** `list_instances` and `list_instance_uuids`: every defined domain, with the uuid where known. */
  listInstances(): Promise<InstanceList>;
  /** Instances with replicas in the shared replica store (none without `[replica]`). */
  replicaInstances(): Promise<{ configured: boolean; instances: string[] }>;

  // ---- cold migration and resize (driver/coldMigration) ----

  /**
   * Source. Powers off, stashes a copy of the store (kept until confirm or revert) and, for
   * another host, sends a verified copy to that host's sidecar, which stages it. Retried with
   * the same migration it resumes where it stopped. `MigrationError` when the peer cannot be
   * reached or refuses (the source copy and the stash are kept; a revert restores).
   * `InstanceInvalidState` while another migration of the instance is open.
   */
  migrateDiskAndPowerOff(uuid: string, a: MigrateDiskArgs): Promise<MigrateDiskResult>;
  /**
   * Destination (or the same host). Installs the staged store as the live one, defines with
   * the source's pinned firmware when this host has the same build (else a fresh selection of
   * the same store size), starts when `power_on`. `MigrationError` (409) when no store was
   * received for a UEFI guest. Idempotent per migration.
   */
  finishMigration(uuid: string, a: FinishMigrationArgs): Promise<InstanceView>;
  /** Source. Drops the stash and, after a move to another host, the source's domain and store. Idempotent. */
  confirmMigration(uuid: string, a: ConfirmMigrationArgs): Promise<Done>;
  /**
   * Source. Restores the stash byte for byte, redefines the saved definition, starts when
   * `power_on`. Without a journal (already reverted) it answers the instance as it is.
   */
  finishRevertMigration(uuid: string, a: FinishRevertArgs): Promise<InstanceView>;

  // ---- live migration (driver/liveMigration) ----

  /**
   * Destination. Reads the source's firmware and store size from its sidecar and refuses
   * (`MigrationPreCheckError`) a build this host cannot run or a store that already exists
   * here. Answers migrate_data with `uefi_shim` filled in.
   */
  checkCanLiveMigrateDestination(uuid: string, a: CheckDestinationArgs): Promise<MigrateDataResult>;
  /** Source. Refuses (`MigrationPreCheckError`) when the destination accepted another loader, template or store size. */
  checkCanLiveMigrateSource(uuid: string, a: CheckSourceArgs): Promise<MigrateDataResult>;
  /** Destination. Places a copy of the source's store at the live path (QEMU maps it when the guest arrives). Idempotent. */
  preLiveMigration(uuid: string, a: PreLiveMigrationArgs): Promise<MigrateDataResult>;
  /**
   * Source. Hands the running guest to the destination through the backend, then verifies
   * that the destination's store digest equals the source's. `MigrationError` when it does
   * not: the source copy is kept. A retry re-verifies.
   */
  liveMigration(uuid: string, a: LiveMigrationArgs): Promise<LiveMigrationResult>;
  /** Source. Fails when live_migration did not finish verifying the destination's store. */
  postLiveMigration(uuid: string, a: LiveStepArgs): Promise<Done>;
  /** Source. Removes the source copy once the destination's is verified; idempotent. */
  postLiveMigrationAtSource(uuid: string, a: LiveStepArgs): Promise<Done>;
  /** Destination. Records the arrived guest; `InstanceNotFound` when it did not arrive. */
  postLiveMigrationAtDestination(uuid: string, a: LiveStepArgs): Promise<InstanceView>;
  /**
   * Source. The guest keeps (or is given back) its domain and store here. `MigrationError`
   * (409) once the destination's store was verified: the guest runs there, and nothing is
   * booted here.
   */
  rollbackLiveMigrationAtSource(uuid: string, a: LiveStepArgs): Promise<Done>;
  /** Destination. Nothing is left here. */
  rollbackLiveMigrationAtDestination(uuid: string, a: LiveStepArgs): Promise<Done>;
  /** Nova's `cleanup`: after a live migration only a verified source copy goes; otherwise a destroy. */
  cleanup(uuid: string, a: CleanupArgs): Promise<Done>;

  // ---- host ----

  /** Nova's `capabilities`: its capability map, placement traits and per-architecture firmware support. */
  capabilities(): HostCapabilities;
}
