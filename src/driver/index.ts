/**
 * @module driver
 * `ShimDriver`: the `ComputeDriver` (driver/contract) the API calls. It serializes calls per
 * instance (calls for different instances run in parallel), checks that an instance
 * method's `instance.uuid` is the path's, delegates each Nova method to its flow module, and
 * answers host queries (capabilities, firmware). It never touches files or XML itself, and
 * never asks which hypervisor backend it has.
 */
import { DriverCore, type DriverDeps, type MigrationDeps } from './core';
import * as lifecycle from './lifecycle';
import * as cold from './coldMigration';
import * as live from './liveMigration';
import * as nvramOps from './nvramOps';
import * as restore from './restore';
import type * as C from './contract';
import type { NovaInstance } from '../nova/objects';
import { InvalidInput } from '../errors';
import { hostFirmwareCapabilities, describeInventory } from '../firmware';
import { STATIC_CAPABILITIES, traitsFor } from './capabilities';
import { validateUuid } from '../nova/ids';

export type { DriverDeps, MigrationDeps } from './core';
export type { ComputeDriver } from './contract';

/** The path's uuid and `instance.uuid` must agree. */
function checkInstance(uuid: string, instance: NovaInstance | undefined): void {
  if (!instance || typeof instance !== 'object') throw new InvalidInput('instance', 'required');
  if (String(instance.uuid).toLowerCase() !== uuid) {
    throw new InvalidInput('instance.uuid', `'${String(instance.uuid)}' does not match the path's instance_uuid '${uuid}'`);
  }
}

export class ShimDriver implements C.ComputeDriver {
  readonly core: DriverCore;
  /** Present when peers can be reached (journals + signed peer client). */
  readonly migration?: MigrationDeps;
  constructor(deps: DriverDeps, migration?: MigrationDeps) {
    this.core = new DriverCore(deps);
    this.migration = migration;
  }

  /**
   * This driver for one API request: its log lines carry `requestId` and its peer calls send
   * it on. A view sharing all state (locks, caches, stores) with this driver.
   */
  forRequest(requestId: string): ShimDriver {
    const view = Object.create(this) as ShimDriver;
    Object.defineProperty(view, 'core', { value: this.core.withLog(this.core.deps.log.child({ request_id: requestId })) });
    if (this.migration) Object.defineProperty(view, 'migration', { value: { ...this.migration, peer: this.migration.peer.forRequest(requestId) } });
    return view;
  }

  private md(): MigrationDeps {
    if (!this.migration) throw new InvalidInput('method', 'migrations are not configured on this host');
    return this.migration;
  }

  /** Run under the instance's lock. */
  protected locked<T>(uuid: string, fn: (uuid: string) => Promise<T>): Promise<T> {
    let id: string;
    try {
      id = validateUuid(uuid);
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    return this.core.locks.run(id, () => fn(id));
  }

  /** An instance method: under the lock, with `a.instance` checked against the path. */
  protected method<A extends { instance: NovaInstance }, T>(uuid: string, a: A, fn: (uuid: string, a: A) => Promise<T>): Promise<T> {
    return this.locked(uuid, (id) => {
      checkInstance(id, a?.instance);
      return fn(id, a);
    });
  }

  // ---- lifecycle ----
  spawn(uuid: string, a: C.SpawnArgs) {
    return this.method(uuid, a, async (u) => {
      const kind = restore.spawnRestores(a);
      if (kind) return restore.spawnRestoring(this.core, u, a, kind);
      const view = await lifecycle.spawn(this.core, u, a);
      const replicas = this.core.replicas;
      if (replicas) {
        replicas.enqueue(u, 'spawn');
        if (view.nvram) view.nvram.replica = replicas.view(u);
      }
      return view;
    });
  }
  destroy(uuid: string, a: C.DestroyArgs) {
    return this.method(uuid, a, async (u) => {
      const kind = restore.destroyKind(a.instance, this.core.deps.config.DEFAULT.host);
      const r = kind === 'shelve-offload' && this.core.replicas ? await restore.shelveOffload(this.core, u, a) : await lifecycle.destroy(this.core, u, a);
      // A revert destroys the destination: anything staged here for the instance goes too.
      if (this.migration) await cold.dropStaged(this.core, this.migration, u, a.instance);
      if (kind !== 'shelve-offload') await restore.afterDestroy(this.core, u, a, kind);
      return r;
    });
  }
  reboot(uuid: string, a: C.RebootArgs) {
    return this.method(uuid, a, (u) => lifecycle.reboot(this.core, u, a));
  }
  powerOff(uuid: string, a: C.PowerOffArgs) {
    return this.method(uuid, a, async (u) => {
      const view = await lifecycle.powerOff(this.core, u, a);
      this.core.replicas?.enqueue(u, 'stop');
      return view;
    });
  }
  powerOn(uuid: string, a: C.PowerOnArgs) {
    return this.method(uuid, a, (u) => lifecycle.powerOn(this.core, u, a));
  }
  rebuild(uuid: string, a: C.RebuildArgs) {
    return this.method(uuid, a, async (u) => {
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
      this.core.replicas?.enqueue(u, 'spawn');
      return view;
    });
  }
  rescue(uuid: string, a: C.RescueArgs) {
    return this.method(uuid, a, (u) => lifecycle.rescue(this.core, u, a));
  }
  unrescue(uuid: string, a: C.UnrescueArgs) {
    return this.method(uuid, a, (u) => lifecycle.unrescue(this.core, u, a));
  }

  getInfo(uuid: string): Promise<C.InstanceView> {
    return this.locked(uuid, async (u) => this.core.view(await this.core.peekRecord(u)));
  }

  async listInstances(): Promise<C.InstanceList> {
    const records = await this.core.deps.records.summaries();
    const byName = new Map(records.filter((r) => r.vmState !== 'deleted-kept').map((r) => [r.name, r.uuid]));
    const names = await this.core.hv.list();
    const states = await this.core.powerStates(names);
    const instances = names.map((name, i) => ({ uuid: byName.get(name) ?? '', name, power_state: states[i] }));
    return { instances, names, uuids: instances.map((i) => i.uuid).filter(Boolean) };
  }

  // ---- the variable store ----
  getNvram(uuid: string) {
    return this.locked(uuid, (u) => nvramOps.readRaw(this.core, u));
  }
  putNvram(uuid: string, data: Buffer) {
    return this.locked(uuid, (u) => nvramOps.writeRaw(this.core, u, data));
  }
  listNvramVariables(uuid: string, format: 'decoded' | 'v2') {
    return this.locked(uuid, (u) => nvramOps.listVariables(this.core, u, format));
  }
  nvramSecureBoot(uuid: string) {
    return this.locked(uuid, (u) => nvramOps.secureBoot(this.core, u));
  }
  putNvramVariable(uuid: string, guid: string, name: string, body: C.NvramVariableWrite) {
    return this.locked(uuid, (u) => nvramOps.putVariable(this.core, u, guid, name, body));
  }
  deleteNvramVariable(uuid: string, guid: string, name: string) {
    return this.locked(uuid, (u) => nvramOps.removeVariable(this.core, u, guid, name));
  }
  setNvramBoot(uuid: string, body: C.NvramBootWrite) {
    return this.locked(uuid, (u) => nvramOps.setBoot(this.core, u, body));
  }
  resetNvram(uuid: string) {
    return this.locked(uuid, (u) => nvramOps.reset(this.core, u));
  }
  listNvramBackups(uuid: string) {
    return this.locked(uuid, (u) => restore.listBackups(this.core, u));
  }
  createNvramBackup(uuid: string) {
    return this.locked(uuid, (u) => restore.createBackup(this.core, u));
  }
  restoreNvram(uuid: string, generation: number) {
    return this.locked(uuid, (u) => restore.restoreGeneration(this.core, u, generation));
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
    return this.method(uuid, a, (u) => cold.migrateDiskAndPowerOff(this.core, this.md(), u, a));
  }
  finishMigration(uuid: string, a: C.FinishMigrationArgs) {
    return this.method(uuid, a, (u) => cold.finishMigration(this.core, this.md(), u, a));
  }
  confirmMigration(uuid: string, a: C.ConfirmMigrationArgs) {
    return this.method(uuid, a, (u) => cold.confirmMigration(this.core, this.md(), u, a));
  }
  finishRevertMigration(uuid: string, a: C.FinishRevertArgs) {
    return this.method(uuid, a, (u) => cold.finishRevertMigration(this.core, this.md(), u, a));
  }

  // ---- live migration ----
  checkCanLiveMigrateDestination(uuid: string, a: C.CheckDestinationArgs) {
    return this.method(uuid, a, (u) => live.checkCanLiveMigrateDestination(this.core, this.md(), u, a));
  }
  checkCanLiveMigrateSource(uuid: string, a: C.CheckSourceArgs) {
    return this.method(uuid, a, (u) => live.checkCanLiveMigrateSource(this.core, this.md(), u, a));
  }
  preLiveMigration(uuid: string, a: C.PreLiveMigrationArgs) {
    return this.method(uuid, a, (u) => live.preLiveMigration(this.core, this.md(), u, a));
  }
  liveMigration(uuid: string, a: C.LiveMigrationArgs) {
    return this.method(uuid, a, (u) => live.liveMigration(this.core, this.md(), u, a));
  }
  postLiveMigration(uuid: string, a: C.LiveStepArgs) {
    return this.method(uuid, a, (u) => live.postLiveMigration(this.core, this.md(), u, a));
  }
  postLiveMigrationAtSource(uuid: string, a: C.LiveStepArgs) {
    return this.method(uuid, a, (u) => live.postLiveMigrationAtSource(this.core, this.md(), u, a));
  }
  postLiveMigrationAtDestination(uuid: string, a: C.LiveStepArgs) {
    return this.method(uuid, a, (u) => live.postLiveMigrationAtDestination(this.core, this.md(), u, a));
  }
  rollbackLiveMigrationAtSource(uuid: string, a: C.LiveStepArgs) {
    return this.method(uuid, a, (u) => live.rollbackLiveMigrationAtSource(this.core, this.md(), u, a));
  }
  rollbackLiveMigrationAtDestination(uuid: string, a: C.LiveStepArgs) {
    return this.method(uuid, a, (u) => live.rollbackLiveMigrationAtDestination(this.core, this.md(), u, a));
  }
  cleanup(uuid: string, a: C.CleanupArgs) {
    return this.method(uuid, a, (u) => live.cleanup(this.core, this.md(), u, a, () => lifecycle.destroy(this.core, u, a)));
  }

  // ---- peer calls ----
  peerStage(uuid: string, body: C.StageRequest) {
    return this.locked(uuid, (u) => cold.stageNvram(this.core, this.md(), u, body));
  }
  peerState(uuid: string, withNvram: boolean) {
    return this.locked(uuid, (u) => live.peerInstanceState(this.core, u, withNvram));
  }
  peerNvramDigest(uuid: string, name: string) {
    return this.locked(uuid, (u) => live.peerNvramDigest(this.core, this.md(), u, name));
  }
}
