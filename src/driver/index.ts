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
import * as nvramOps from './nvramOps';
import { recoverJournal, type RecoveryOutcome } from './recovery';
import * as secureBootOps from './secureBootOps';
import { SecureBootFleet } from './secureBootFleet';
import * as restore from './restore';
import * as replicaAdmin from '../replica/admin';
import { replicasOrRefuse } from '../replica/admin';
import { replicationListener } from '../replica/reactions';
import type { ReplicaService } from '../replica/scheduler';
import type * as C from './contract';
import type { RequestDrivers, ServedDriver } from './services';
import type { NovaInstance } from '../nova/objects';
import { InvalidInput } from '../errors';
import { hostFirmwareCapabilities, describeInventory } from '../firmware';
import { STATIC_CAPABILITIES, traitsFor } from './capabilities';
import { validateUuid } from '../nova/ids';
import { outcomeOf } from '../metrics';

export type { DriverDeps, MigrationDeps } from './core';
export type { RecoveryOutcome } from './recovery';
export type { ComputeDriver } from './contract';
export type { RequestDrivers, ServedDriver } from './services';

/** The path's uuid and `instance.uuid` must agree. */
function checkInstance(uuid: string, instance: NovaInstance | undefined): void {
  if (!instance || typeof instance !== 'object') throw new InvalidInput('instance', 'required');
  if (String(instance.uuid).toLowerCase() !== uuid) {
    throw new InvalidInput('instance.uuid', `'${String(instance.uuid)}' does not match the path's instance_uuid '${uuid}'`);
  }
}

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

  /** An instance method: under the lock, with `a.instance` checked against the path. */
  protected method<A extends { instance: NovaInstance }, T>(op: C.InstanceMethodName, uuid: string, a: A, fn: (uuid: string, a: A) => Promise<T>): Promise<T> {
    return this.locked(op, uuid, (id) => {
      checkInstance(id, a?.instance);
      return fn(id, a);
    });
  }

  // ---- lifecycle ----
  spawn(uuid: string, a: C.SpawnArgs) {
    return this.method('spawn', uuid, a, async (u) => {
      const kind = restore.spawnRestores(a);
      if (kind) return restore.spawnRestoring(this.core, u, a, kind);
      const view = await lifecycle.spawn(this.core, u, a);
      await this.core.announce({ kind: 'store-changed', uuid: u, why: 'spawn' });
      if (view.nvram && this.core.replicas) view.nvram.replica = this.core.replicas.view(u);
      return view;
    });
  }
  destroy(uuid: string, a: C.DestroyArgs) {
    return this.method('destroy', uuid, a, async (u) => {
      const kind = restore.destroyKind(a.instance, this.core.deps.config.DEFAULT.host);
      const r = kind === 'shelve-offload' && this.core.replicas ? await restore.shelveOffload(this.core, u, a) : await lifecycle.destroy(this.core, u, a);
      // A revert destroys the destination: anything staged here for the instance goes too.
      if (this.migration) await cold.dropStaged(this.core, this.migration, u, a.instance);
      if (kind !== 'shelve-offload') await restore.afterDestroy(this.core, u, a, kind);
      return r;
    });
  }
  reboot(uuid: string, a: C.RebootArgs) {
    return this.method('reboot', uuid, a, (u) => lifecycle.reboot(this.core, u, a));
  }
  powerOff(uuid: string, a: C.PowerOffArgs) {
    return this.method('power_off', uuid, a, async (u) => {
      const view = await lifecycle.powerOff(this.core, u, a);
      await this.core.announce({ kind: 'store-changed', uuid: u, why: 'stop' });
      return view;
    });
  }
  powerOn(uuid: string, a: C.PowerOnArgs) {
    return this.method('power_on', uuid, a, (u) => lifecycle.powerOn(this.core, u, a));
  }
  rebuild(uuid: string, a: C.RebuildArgs) {
    return this.method('rebuild', uuid, a, async (u) => {
      // Evacuation through rebuild on the new host (a driver with its own rebuild): no record
      // here yet, so it is an evacuating spawn.
      if (a.evacuate === true && this.core.replicas && !(await this.core.deps.records.get(u))) {
        const { instance, image_meta, flavor, network_info, block_device_info, power_on, domain_xml } = a;
        return restore.spawnRestoring(
          this.core,
          u,
          { instance, image_meta, flavor, network_info, block_device_info, power_on, domain_xml, evacuate: true },
          'evacuate',
        );
      }
      const view = await lifecycle.rebuild(this.core, u, a);
      await this.core.announce({ kind: 'rebuilt', uuid: u });
      return view;
    });
  }
  rescue(uuid: string, a: C.RescueArgs) {
    return this.method('rescue', uuid, a, (u) => lifecycle.rescue(this.core, u, a));
  }
  unrescue(uuid: string, a: C.UnrescueArgs) {
    return this.method('unrescue', uuid, a, (u) => lifecycle.unrescue(this.core, u, a));
  }

  getInfo(uuid: string): Promise<C.InstanceView> {
    return this.locked('get_info', uuid, async (u) => this.core.view(await this.core.peekRecord(u)));
  }

  async replicaInstances(): Promise<{ configured: boolean; instances: string[] }> {
    const svc = this.core.replicas;
    return svc ? { configured: true, instances: await svc.instances() } : { configured: false, instances: [] };
  }
  listInstances(): Promise<C.InstanceList> {
    return this.measured('list_instances', () => this.instancesNow());
  }

  private async instancesNow(): Promise<C.InstanceList> {
    const records = await this.core.deps.records.liveSummaries();
    const byName = new Map(records.map((r) => [r.name, r.uuid]));
    const names = await this.core.hv.list();
    const states = await this.core.powerStates(names);
    const instances = names.map((name, i) => ({ uuid: byName.get(name) ?? '', name, power_state: states[i] }));
    return { instances, names, uuids: instances.map((i) => i.uuid).filter(Boolean) };
  }

  // ---- the variable store ----
  /**
   * An edit of the store through the API (the guest is shut off: the write guard saw to it)
   * is a change the replicas must carry, or an evacuation would restore the store without
   * it: a generation is queued once the edit succeeded (asynchronous, never awaited).
   */
  private async edited<T>(uuid: string, edit: Promise<T>): Promise<T> {
    const r = await edit;
    await this.core.announce({ kind: 'store-changed', uuid, why: 'edit' });
    return r;
  }
  getNvram(uuid: string) {
    return this.locked('get_nvram', uuid, (u) => nvramOps.readRaw(this.core, u));
  }
  putNvram(uuid: string, data: Buffer) {
    return this.locked('put_nvram', uuid, (u) => this.edited(u, nvramOps.writeRaw(this.core, u, data)));
  }
  listNvramVariables(uuid: string, format: 'decoded' | 'v2') {
    return this.locked('list_nvram_variables', uuid, (u) => nvramOps.listVariables(this.core, u, format));
  }
  nvramSecureBoot(uuid: string) {
    return this.locked('get_nvram_secure_boot', uuid, (u) => secureBootOps.getSecureBoot(this.core, u));
  }
  putNvramSecureBoot(uuid: string, body: C.SecureBootWrite, queue: boolean) {
    return this.locked('put_nvram_secure_boot', uuid, (u) => this.edited(u, secureBootOps.putSecureBoot(this.core, u, body, queue)));
  }
  cancelSecureBootChange(uuid: string, changeId: string) {
    return this.locked('cancel_secure_boot_change', uuid, (u) => secureBootOps.cancelChange(this.core, u, changeId));
  }
  putNvramVariable(uuid: string, guid: string, name: string, body: C.NvramVariableWrite) {
    return this.locked('put_nvram_variable', uuid, (u) => this.edited(u, nvramOps.putVariable(this.core, u, guid, name, body)));
  }
  deleteNvramVariable(uuid: string, guid: string, name: string) {
    return this.locked('delete_nvram_variable', uuid, (u) => this.edited(u, nvramOps.removeVariable(this.core, u, guid, name)));
  }
  setNvramBoot(uuid: string, body: C.NvramBootWrite) {
    return this.locked('put_nvram_boot', uuid, (u) => this.edited(u, nvramOps.setBoot(this.core, u, body)));
  }
  resetNvram(uuid: string) {
    return this.locked('reset_nvram', uuid, (u) => this.edited(u, nvramOps.reset(this.core, u)));
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
    const fw = this.core.deps.firmware;
    const caps = hostFirmwareCapabilities(fw.inventory(), { secureBootEnabled: fw.secureBootEnabled, hostArch: fw.arch });
    const all: Record<string, boolean> = {
      ...STATIC_CAPABILITIES,
      supports_secure_boot: caps.supports_secure_boot,
      supports_stateless_firmware: caps.supports_stateless_firmware,
    };
    return {
      host: this.core.deps.config.DEFAULT.host,
      hypervisor_type: this.core.hv.hypervisorType,
      capabilities: all,
      traits: traitsFor(all),
      architectures: caps.architectures,
    };
  }

  firmwareView(): C.FirmwareInventoryView {
    return describeInventory(this.core.deps.firmware.refresh());
  }

  // ---- cold migration and resize ----
  migrateDiskAndPowerOff(uuid: string, a: C.MigrateDiskArgs) {
    return this.method('migrate_disk_and_power_off', uuid, a, (u) => cold.migrateDiskAndPowerOff(this.core, this.md(), u, a));
  }
  finishMigration(uuid: string, a: C.FinishMigrationArgs) {
    return this.method('finish_migration', uuid, a, (u) => cold.finishMigration(this.core, this.md(), u, a));
  }
  confirmMigration(uuid: string, a: C.ConfirmMigrationArgs) {
    return this.method('confirm_migration', uuid, a, (u) => cold.confirmMigration(this.core, this.md(), u, a));
  }
  finishRevertMigration(uuid: string, a: C.FinishRevertArgs) {
    return this.method('finish_revert_migration', uuid, a, (u) => cold.finishRevertMigration(this.core, this.md(), u, a));
  }

  // ---- live migration ----
  checkCanLiveMigrateDestination(uuid: string, a: C.CheckDestinationArgs) {
    return this.method('check_can_live_migrate_destination', uuid, a, (u) => live.checkCanLiveMigrateDestination(this.core, this.md(), u, a));
  }
  checkCanLiveMigrateSource(uuid: string, a: C.CheckSourceArgs) {
    return this.method('check_can_live_migrate_source', uuid, a, (u) => live.checkCanLiveMigrateSource(this.core, this.md(), u, a));
  }
  preLiveMigration(uuid: string, a: C.PreLiveMigrationArgs) {
    return this.method('pre_live_migration', uuid, a, (u) => live.preLiveMigration(this.core, this.md(), u, a));
  }
  liveMigration(uuid: string, a: C.LiveMigrationArgs) {
    return this.method('live_migration', uuid, a, (u) => live.liveMigration(this.core, this.md(), u, a));
  }
  postLiveMigration(uuid: string, a: C.LiveStepArgs) {
    return this.method('post_live_migration', uuid, a, (u) => live.postLiveMigration(this.core, this.md(), u, a));
  }
  postLiveMigrationAtSource(uuid: string, a: C.LiveStepArgs) {
    return this.method('post_live_migration_at_source', uuid, a, (u) => live.postLiveMigrationAtSource(this.core, this.md(), u, a));
  }
  postLiveMigrationAtDestination(uuid: string, a: C.LiveStepArgs) {
    return this.method('post_live_migration_at_destination', uuid, a, (u) => live.postLiveMigrationAtDestination(this.core, this.md(), u, a));
  }
  rollbackLiveMigrationAtSource(uuid: string, a: C.LiveStepArgs) {
    return this.method('rollback_live_migration_at_source', uuid, a, (u) => live.rollbackLiveMigrationAtSource(this.core, this.md(), u, a));
  }
  rollbackLiveMigrationAtDestination(uuid: string, a: C.LiveStepArgs) {
    return this.method('rollback_live_migration_at_destination', uuid, a, (u) => live.rollbackLiveMigrationAtDestination(this.core, this.md(), u, a));
  }
  cleanup(uuid: string, a: C.CleanupArgs) {
    return this.method('cleanup', uuid, a, (u) => live.cleanup(this.core, this.md(), u, a, () => lifecycle.destroy(this.core, u, a)));
  }

  // ---- start-up ----
  /**
   * Start-up recovery (driver/recovery): every open migration journal, one at a time, each
   * under its instance's lock (a Nova call for the instance waits for it). A journal that
   * cannot be recovered is logged and reported as `failed`; the others go on.
   */
  async recoverJournals(): Promise<RecoveryOutcome[]> {
    const md = this.migration;
    if (!md) return [];
    const out: RecoveryOutcome[] = [];
    for (const s of await md.journals.summaries()) {
      try {
        const r = await this.locked('recover_journal', s.instance_uuid, (u) => recoverJournal(this.core, md, u, s.role));
        if (r) out.push(r);
      } catch (e) {
        out.push({ ...s, action: 'failed', detail: (e as Error).message });
      }
    }
    for (const r of out) {
      const fields = { instance_uuid: r.instance_uuid, role: r.role, kind: r.kind, status: r.status, action: r.action, detail: r.detail };
      if (r.action === 'failed') this.core.deps.log.error('migration journal not recovered', fields);
      else this.core.deps.log[r.action === 'left' ? 'warning' : 'info']('migration journal recovered at start', fields);
    }
    return out;
  }

  // ---- peer calls ----
  peerStage(uuid: string, body: C.StageRequest) {
    return this.locked('peer_stage', uuid, (u) => cold.stageNvram(this.core, this.md(), u, body));
  }
  peerState(uuid: string, withNvram: boolean) {
    return this.locked('peer_state', uuid, (u) => live.peerInstanceState(this.core, u, withNvram));
  }
  peerNvramDigest(uuid: string, name: string) {
    return this.locked('peer_nvram_digest', uuid, (u) => live.peerNvramDigest(this.core, this.md(), u, name));
  }
}
