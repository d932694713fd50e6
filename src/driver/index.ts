/**
 * @module driver
 * `ShimDriver`: the `ComputeDriver` (driver/contract) the API calls. It serializes calls per
 * instance (calls for different instances run in parallel), checks that an instance
 * method's `instance.uuid` is the path's, delegates each Nova method to its flow module, and
 * answers host queries (capabilities, firmware). It never touches files or XML itself, and
 * never asks which hypervisor backend it has. Every operation is counted and timed here, once,
 * by its OpenAPI operationId and outcome (`deps.metrics`), not inside the flows.
 */
import { DriverCore, type DriverDeps, type MigrationDeps } from './core';
import * as lifecycle from './lifecycle';
import * as cold from './coldMigration';
import * as live from './liveMigration';
import * as answers from './peerAnswers';
import * as nvramOps from './nvramOps';
import { recoverJournals, type RecoveryOutcome } from './recovery';
import * as secureBootOps from './secureBootOps';
import { SecureBootFleet } from './secureBootFleet';
import * as restore from './restore';
import * as calls from './novaCalls';
import * as replicaAdmin from '../replica/admin';
import { replicasOrRefuse } from '../replica/admin';
import { replicationListener } from '../replica/reactions';
import type { ReplicaService } from '../replica/scheduler';
import type * as C from './contract';
import type { RequestDrivers, ServedDriver } from './services';
import { ParsedInstance, type InstanceArgs } from '../nova/instance';
import { InvalidInput } from '../errors';
import { describeInventory } from '../firmware';
import { hostCapabilities } from './capabilities';
import { validateUuid } from '../nova/ids';
import { outcomeOf } from '../metrics';

export type { DriverDeps, MigrationDeps } from './core';
export type { RecoveryOutcome } from './recovery';
export type { ComputeDriver } from './contract';
export type { RequestDrivers, ServedDriver } from './services';

/** What a driver is made of; a request's driver (`forRequest`) is made of views of its parent's. */
interface DriverParts {
  core: DriverCore;
  secureBootFleet: SecureBootFleet;
  migration?: MigrationDeps;
}

export class ShimDriver implements ServedDriver, RequestDrivers {
  readonly core: DriverCore;
  /** Inventory and rotations of every instance's Secure Boot keys. */
  readonly secureBootFleet: SecureBootFleet;
  /** Present when peers can be reached (journals + signed peer client). */
  readonly migration?: MigrationDeps;
  constructor(deps: DriverDeps, migration?: MigrationDeps);
  constructor(parts: DriverParts);
  constructor(from: DriverDeps | DriverParts, migration?: MigrationDeps) {
    if ('core' in from) {
      ({ core: this.core, secureBootFleet: this.secureBootFleet, migration: this.migration } = from);
      return;
    }
    this.core = new DriverCore(from);
    this.core.storeHooks.push(secureBootOps.applyQueuedSecureBootChanges);
    // Replication subscribes to what the flows announce (events, replica/reactions).
    if (from.replicas) this.core.events.subscribe(replicationListener(from.replicas));
    this.secureBootFleet = new SecureBootFleet(this.core, from.rotations);
    this.migration = migration;
  }

  /**
   * This driver for one API request: its log lines (the fleet rotations it starts included)
   * carry `requestId` and its peer calls send it on. Another driver over the same state
   * (locks, caches, stores, running rotations) as this one.
   */
  forRequest(requestId: string): ShimDriver {
    const core = this.core.withLog(this.core.deps.log.child({ request_id: requestId }));
    const migration = this.migration && { ...this.migration, peer: this.migration.peer.forRequest(requestId) };
    return new ShimDriver({ core, secureBootFleet: this.secureBootFleet.forCore(core), migration });
  }

  /** The replica service; `Invalid` (409) when `[replica] backend = none`. */
  private replicas(): ReplicaService {
    return replicasOrRefuse(this.core.deps.replicas);
  }

  private md(): MigrationDeps {
    if (!this.migration) throw new InvalidInput('method', 'migrations are not configured on this host');
    return this.migration;
  }

  /** Count and time operation `op` (its OpenAPI operationId, or `peer_*`) by outcome. */
  protected measured<T>(op: string, fn: () => Promise<T>): Promise<T> {
    const m = this.core.deps.metrics;
    if (!m) return fn();
    const started = performance.now();
    const record = (outcome: string) => {
      m.driverOperations.inc({ operation: op, outcome });
      m.driverDuration.observe({ operation: op, outcome }, (performance.now() - started) / 1000);
    };
    let p: Promise<T>;
    try {
      p = fn();
    } catch (e) {
      p = Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    return p.then(
      (v) => {
        record('success');
        return v;
      },
      (e: unknown) => {
        record(outcomeOf(e));
        throw e;
      },
    );
  }

  /** Run operation `op` under the instance's lock. */
  protected locked<T>(op: string, uuid: string, fn: (uuid: string) => Promise<T>): Promise<T> {
    return this.measured(op, async () => {
      const id = validateUuid(uuid);
      return this.core.locks.run(id, () => fn(id));
    });
  }

  /**
   * A Nova instance method: under the lock, with `a.instance` parsed once (nova/instance:
   * checked against the path, its id, name and sizing) before any flow runs.
   */
  protected method<A extends InstanceArgs, T>(op: C.InstanceMethodName, uuid: string, a: A, fn: (p: ParsedInstance) => Promise<T>): Promise<T> {
    // Destroy and cleanup need only the uuid: an unusable id or name never refuses them.
    const tolerant = op === 'destroy' || op === 'cleanup';
    return this.locked(op, uuid, (id) => fn(ParsedInstance.parse(id, a, this.core.namingRules(), tolerant)));
  }

  // ---- lifecycle ----
  spawn(uuid: string, a: C.SpawnArgs) {
    return this.method('spawn', uuid, a, (p) => calls.spawn(this.core, p, a));
  }
  destroy(uuid: string, a: C.DestroyArgs) {
    return this.method('destroy', uuid, a, (p) => calls.destroy(this.core, this.migration, p, a));
  }
  reboot(uuid: string, a: C.RebootArgs) {
    return this.method('reboot', uuid, a, (p) => lifecycle.reboot(this.core, p.uuid, a));
  }
  powerOff(uuid: string, a: C.PowerOffArgs) {
    return this.method('power_off', uuid, a, (p) => calls.powerOff(this.core, p.uuid, a));
  }
  powerOn(uuid: string, a: C.PowerOnArgs) {
    return this.method('power_on', uuid, a, (p) => lifecycle.powerOn(this.core, p.uuid, a));
  }
  rebuild(uuid: string, a: C.RebuildArgs) {
    return this.method('rebuild', uuid, a, (p) => calls.rebuild(this.core, p, a));
  }
  rescue(uuid: string, a: C.RescueArgs) {
    return this.method('rescue', uuid, a, (p) => lifecycle.rescue(this.core, p.uuid, a));
  }
  unrescue(uuid: string, a: C.UnrescueArgs) {
    return this.method('unrescue', uuid, a, (p) => lifecycle.unrescue(this.core, p.uuid, a));
  }

  getInfo(uuid: string): Promise<C.InstanceView> {
    return this.locked('get_info', uuid, async (u) => this.core.view(await this.core.peekRecord(u)));
  }

  replicaInstances(): Promise<{ configured: boolean; instances: string[] }> {
    return replicaAdmin.replicaInstances(this.core.replicas);
  }
  listInstances(): Promise<C.InstanceList> {
    return this.measured('list_instances', () => this.core.instances());
  }

  // ---- the variable store ----
  getNvram(uuid: string) {
    return this.locked('get_nvram', uuid, (u) => nvramOps.readRaw(this.core, u));
  }
  putNvram(uuid: string, data: Buffer) {
    return this.locked('put_nvram', uuid, (u) => calls.edited(this.core, u, nvramOps.writeRaw(this.core, u, data)));
  }
  listNvramVariables(uuid: string, format: 'decoded' | 'v2') {
    return this.locked('list_nvram_variables', uuid, (u) => nvramOps.listVariables(this.core, u, format));
  }
  nvramSecureBoot(uuid: string) {
    return this.locked('get_nvram_secure_boot', uuid, (u) => secureBootOps.getSecureBoot(this.core, u));
  }
  putNvramSecureBoot(uuid: string, body: C.SecureBootWrite, queue: boolean) {
    return this.locked('put_nvram_secure_boot', uuid, (u) => calls.edited(this.core, u, secureBootOps.putSecureBoot(this.core, u, body, queue)));
  }
  cancelSecureBootChange(uuid: string, changeId: string) {
    return this.locked('cancel_secure_boot_change', uuid, (u) => secureBootOps.cancelChange(this.core, u, changeId));
  }
  putNvramVariable(uuid: string, guid: string, name: string, body: C.NvramVariableWrite) {
    return this.locked('put_nvram_variable', uuid, (u) => calls.edited(this.core, u, nvramOps.putVariable(this.core, u, guid, name, body)));
  }
  deleteNvramVariable(uuid: string, guid: string, name: string) {
    return this.locked('delete_nvram_variable', uuid, (u) => calls.edited(this.core, u, nvramOps.removeVariable(this.core, u, guid, name)));
  }
  setNvramBoot(uuid: string, body: C.NvramBootWrite) {
    return this.locked('put_nvram_boot', uuid, (u) => calls.edited(this.core, u, nvramOps.setBoot(this.core, u, body)));
  }
  resetNvram(uuid: string) {
    return this.locked('reset_nvram', uuid, (u) => calls.edited(this.core, u, nvramOps.reset(this.core, u)));
  }

  // ---- Secure Boot across the host (driver/secureBootFleet) ----
  secureBootInventory(): Promise<C.SecureBootInventory> {
    return this.secureBootFleet.inventory();
  }
  startSecureBootRotation(req: C.RotationRequest): Promise<C.SecureBootRotation> {
    return this.secureBootFleet.start(req);
  }
  getSecureBootRotation(id: string): Promise<C.SecureBootRotation> {
    return this.secureBootFleet.get(id);
  }
  listSecureBootRotations(): Promise<{ rotations: C.SecureBootRotation[] }> {
    return this.secureBootFleet.list();
  }
  listNvramBackups(uuid: string) {
    return this.locked('list_nvram_backups', uuid, (u) => replicaAdmin.listBackups(this.replicas(), restore.hostAccess(this.core), u));
  }
  createNvramBackup(uuid: string) {
    return this.locked('create_nvram_backup', uuid, (u) => replicaAdmin.createBackup(this.replicas(), restore.hostAccess(this.core), u));
  }
  restoreNvram(uuid: string, generation: number) {
    return this.locked('restore_nvram', uuid, (u) => restore.restoreGeneration(this.core, u, generation));
  }
  /** Instances in the replica store that no longer exist anywhere, and the ones kept with why (replica/admin). */
  listOrphanedReplicas(): Promise<replicaAdmin.OrphanList> {
    return replicaAdmin.listOrphans(this.replicas(), restore.hostAccess(this.core));
  }
  /** Remove orphaned replicas (`dryRun` only lists them); each re-checked under its instance's lock, each removal logged. */
  pruneOrphanedReplicas(opts: { dryRun: boolean; instances?: readonly string[] }): Promise<replicaAdmin.PruneResult> {
    return replicaAdmin.pruneOrphans(this.replicas(), restore.hostAccess(this.core), { ...opts, instances: opts.instances?.map((u) => validateUuid(u)) });
  }

  // ---- host ----
  capabilities(): C.HostCapabilities {
    return hostCapabilities(this.core.deps.firmware, this.core.deps.config.DEFAULT.host, this.core.hv.hypervisorType);
  }

  firmwareView(): C.FirmwareInventoryView {
    return describeInventory(this.core.deps.firmware.refresh());
  }

  // ---- cold migration and resize ----
  migrateDiskAndPowerOff(uuid: string, a: C.MigrateDiskArgs) {
    return this.method('migrate_disk_and_power_off', uuid, a, (p) => cold.migrateDiskAndPowerOff(this.core, this.md(), p.uuid, a));
  }
  finishMigration(uuid: string, a: C.FinishMigrationArgs) {
    return this.method('finish_migration', uuid, a, (p) => cold.finishMigration(this.core, this.md(), p, a));
  }
  confirmMigration(uuid: string, a: C.ConfirmMigrationArgs) {
    return this.method('confirm_migration', uuid, a, (p) => cold.confirmMigration(this.core, this.md(), p.uuid, a));
  }
  finishRevertMigration(uuid: string, a: C.FinishRevertArgs) {
    return this.method('finish_revert_migration', uuid, a, (p) => cold.finishRevertMigration(this.core, this.md(), p.uuid, a));
  }

  // ---- live migration ----
  checkCanLiveMigrateDestination(uuid: string, a: C.CheckDestinationArgs) {
    return this.method('check_can_live_migrate_destination', uuid, a, (p) => live.checkCanLiveMigrateDestination(this.core, this.md(), p.uuid, a));
  }
  checkCanLiveMigrateSource(uuid: string, a: C.CheckSourceArgs) {
    return this.method('check_can_live_migrate_source', uuid, a, (p) => live.checkCanLiveMigrateSource(this.core, this.md(), p.uuid, a));
  }
  preLiveMigration(uuid: string, a: C.PreLiveMigrationArgs) {
    return this.method('pre_live_migration', uuid, a, (p) => live.preLiveMigration(this.core, this.md(), p, a));
  }
  liveMigration(uuid: string, a: C.LiveMigrationArgs) {
    return this.method('live_migration', uuid, a, (p) => live.liveMigration(this.core, this.md(), p.uuid, a));
  }
  postLiveMigration(uuid: string, a: C.LiveStepArgs) {
    return this.method('post_live_migration', uuid, a, (p) => live.postLiveMigration(this.core, this.md(), p.uuid, a));
  }
  postLiveMigrationAtSource(uuid: string, a: C.LiveStepArgs) {
    return this.method('post_live_migration_at_source', uuid, a, (p) => live.postLiveMigrationAtSource(this.core, this.md(), p.uuid, a));
  }
  postLiveMigrationAtDestination(uuid: string, a: C.LiveStepArgs) {
    return this.method('post_live_migration_at_destination', uuid, a, (p) => live.postLiveMigrationAtDestination(this.core, this.md(), p.uuid, a));
  }
  rollbackLiveMigrationAtSource(uuid: string, a: C.LiveStepArgs) {
    return this.method('rollback_live_migration_at_source', uuid, a, (p) => live.rollbackLiveMigrationAtSource(this.core, this.md(), p.uuid, a));
  }
  rollbackLiveMigrationAtDestination(uuid: string, a: C.LiveStepArgs) {
    return this.method('rollback_live_migration_at_destination', uuid, a, (p) => live.rollbackLiveMigrationAtDestination(this.core, this.md(), p.uuid, a));
  }
  cleanup(uuid: string, a: C.CleanupArgs) {
    return this.method('cleanup', uuid, a, (p) => live.cleanup(this.core, this.md(), p.uuid, a, () => lifecycle.destroy(this.core, p, a)));
  }

  // ---- start-up ----
  /**
   * Start-up recovery (driver/recovery): every open migration journal, one at a time, each
   * under its instance's lock (a Nova call for the instance waits for it). A journal that
   * cannot be recovered is logged and reported as `failed`; the others go on.
   */
  recoverJournals(): Promise<RecoveryOutcome[]> {
    return recoverJournals(this.core, this.migration, (uuid, fn) => this.locked('recover_journal', uuid, fn));
  }

  // ---- peer calls ----
  peerStage(uuid: string, body: C.StageRequest) {
    return this.locked('peer_stage', uuid, (u) => cold.stageNvram(this.core, this.md(), u, body));
  }
  peerState(uuid: string, nvram: answers.StoreAsked) {
    return this.locked('peer_state', uuid, (u) => answers.peerInstanceState(this.core, u, nvram));
  }
  peerNvramDigest(uuid: string, name: string) {
    return this.locked('peer_nvram_digest', uuid, (u) => answers.peerNvramDigest(this.core, this.md(), u, name));
  }
}
