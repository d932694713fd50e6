/**
 * @module driver
 * `ShimDriver`: the ComputeDriver the API calls. It serializes calls per instance (calls for
 * different instances run in parallel), delegates each Nova method to its flow module, and
 * answers host queries (capabilities, firmware). It never touches files or XML itself.
 */
import { DriverCore, type DriverDeps } from './core';
import * as lifecycle from './lifecycle';
import type { ComputeDriverLifecycle, DestroyArgs, InstanceArgs, InstanceView, PowerOffArgs, RebootArgs, RebuildArgs, RescueArgs, SpawnArgs } from './contract';
import { InvalidInput } from '../errors';
import { hostFirmwareCapabilities, describeInventory } from '../firmware';
import { STATIC_CAPABILITIES, traitsFor } from './capabilities';
import type { NvramInfo } from '../nvram/store';
import { validateUuid } from '../state/records';
import * as cold from './coldMigration';
import * as live from './liveMigration';
import * as nvramOps from './nvramOps';
import type { MigrationDeps } from './coldMigration';
import type { NovaInstance } from '../nova/objects';

export type { DriverDeps } from './core';

export class ShimDriver implements ComputeDriverLifecycle {
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
  protected locked<T>(uuid: string, fn: () => Promise<T>): Promise<T> {
    return this.core.locks.run(validateUuid(uuid), fn);
  }

  spawn(uuid: string, a: SpawnArgs) {
    return this.locked(uuid, () => lifecycle.spawn(this.core, uuid, a));
  }
  destroy(uuid: string, a: DestroyArgs) {
    return this.locked(uuid, async () => {
      const r = await lifecycle.destroy(this.core, uuid, a);
      // A revert destroys the destination: anything staged here for the instance goes too.
      if (this.migration) await cold.dropStaged(this.core, this.migration, uuid, a.instance);
      return r;
    });
  }
  reboot(uuid: string, a: RebootArgs) {
    return this.locked(uuid, () => lifecycle.reboot(this.core, uuid, a));
  }
  powerOff(uuid: string, a: PowerOffArgs) {
    return this.locked(uuid, () => lifecycle.powerOff(this.core, uuid, a));
  }
  powerOn(uuid: string, a: InstanceArgs) {
    return this.locked(uuid, () => lifecycle.powerOn(this.core, uuid, a));
  }
  rebuild(uuid: string, a: RebuildArgs) {
    return this.locked(uuid, () => lifecycle.rebuild(this.core, uuid, a));
  }
  rescue(uuid: string, a: RescueArgs) {
    return this.locked(uuid, () => lifecycle.rescue(this.core, uuid, a));
  }
  unrescue(uuid: string, a: InstanceArgs) {
    return this.locked(uuid, () => lifecycle.unrescue(this.core, uuid, a));
  }

  getInfo(uuid: string): Promise<InstanceView> {
    return this.locked(uuid, async () => this.core.view(await this.core.peekRecord(uuid)));
  }

  /** `list_instances` + `list_instance_uuids`: every defined domain, with the uuid where we know it. */
  async listInstances(): Promise<{ instances: { uuid: string; name: string; power_state: number }[]; names: string[]; uuids: string[] }> {
    const records = await this.core.deps.records.summaries();
    const byName = new Map(records.filter((r) => r.vmState !== 'deleted-kept').map((r) => [r.name, r.uuid]));
    const names = await this.core.hv.list();
    const states = await this.core.powerStates(names);
    const instances = names.map((name, i) => ({ uuid: byName.get(name) ?? '', name, power_state: states[i] }));
    return { instances, names, uuids: instances.map((i) => i.uuid).filter(Boolean) };
  }

  /** Raw variable store of an instance, for inspection (a snapshot; allowed while running). */
  getNvram(uuid: string): Promise<{ data: Buffer; info: NvramInfo }> {
    return this.locked(uuid, () => nvramOps.readRaw(this.core, uuid));
  }

  /** Replace the variable store atomically; only while shut off and only with the same size. */
  putNvram(uuid: string, data: Buffer): Promise<NvramInfo> {
    return this.locked(uuid, () => nvramOps.writeRaw(this.core, uuid, data));
  }

  listNvramVariables(uuid: string, format: 'decoded' | 'v2') {
    return this.locked(uuid, () => nvramOps.listVariables(this.core, uuid, format));
  }

  nvramSecureBoot(uuid: string) {
    return this.locked(uuid, () => nvramOps.secureBoot(this.core, uuid));
  }

  putNvramVariable(uuid: string, guid: string, name: string, body: nvramOps.VariableWrite) {
    return this.locked(uuid, () => nvramOps.putVariable(this.core, uuid, guid, name, body));
  }

  deleteNvramVariable(uuid: string, guid: string, name: string) {
    return this.locked(uuid, () => nvramOps.removeVariable(this.core, uuid, guid, name));
  }

  setNvramBoot(uuid: string, body: nvramOps.BootWrite) {
    return this.locked(uuid, () => nvramOps.setBoot(this.core, uuid, body));
  }

  resetNvram(uuid: string) {
    return this.locked(uuid, () => nvramOps.reset(this.core, uuid));
  }

  capabilities(): { host: string; hypervisor_type: string; capabilities: Record<string, boolean>; traits: string[]; architectures: ReturnType<typeof hostFirmwareCapabilities>['architectures'] } {
    const fw = this.core.deps.firmware;
    const caps = hostFirmwareCapabilities(fw.inventory(), { secureBootEnabled: fw.secureBootEnabled, hostArch: fw.arch });
    const all: Record<string, boolean> = {
      ...STATIC_CAPABILITIES,
      supports_secure_boot: caps.supports_secure_boot,
      supports_stateless_firmware: caps.supports_stateless_firmware,
    };
    return {
      host: this.core.deps.config.DEFAULT.host,
      hypervisor_type: this.core.hv.kind === 'libvirt' ? 'QEMU' : 'embedded',
      capabilities: all,
      traits: traitsFor(all),
      architectures: caps.architectures,
    };
  }

  firmwareView(): unknown {
    return describeInventory(this.core.deps.firmware.refresh());
  }

  // ---- cold migration and resize (driver/coldMigration) ----
  migrateDiskAndPowerOff(uuid: string, a: cold.MigrateDiskArgs) {
    return this.locked(uuid, () => cold.migrateDiskAndPowerOff(this.core, this.md(), uuid, a));
  }
  finishMigration(uuid: string, a: cold.FinishMigrationArgs) {
    return this.locked(uuid, () => cold.finishMigration(this.core, this.md(), uuid, a));
  }
  confirmMigration(uuid: string, a: cold.ConfirmArgs) {
    return this.locked(uuid, () => cold.confirmMigration(this.core, this.md(), uuid, a));
  }
  finishRevertMigration(uuid: string, a: cold.FinishRevertArgs) {
    return this.locked(uuid, () => cold.finishRevertMigration(this.core, this.md(), uuid, a));
  }
  peerStage(uuid: string, body: cold.StageRequest) {
    return this.locked(uuid, () => cold.stageNvram(this.core, this.md(), uuid, body));
  }

  // ---- live migration (driver/liveMigration) ----
  checkCanLiveMigrateDestination(uuid: string, a: Parameters<typeof live.checkCanLiveMigrateDestination>[3]) {
    return this.locked(uuid, () => live.checkCanLiveMigrateDestination(this.core, this.md(), uuid, a));
  }
  checkCanLiveMigrateSource(uuid: string, a: Parameters<typeof live.checkCanLiveMigrateSource>[3]) {
    return this.locked(uuid, () => live.checkCanLiveMigrateSource(this.core, this.md(), uuid, a));
  }
  preLiveMigration(uuid: string, a: Parameters<typeof live.preLiveMigration>[3]) {
    return this.locked(uuid, () => live.preLiveMigration(this.core, this.md(), uuid, a));
  }
  liveMigration(uuid: string, a: Parameters<typeof live.liveMigration>[3]) {
    return this.locked(uuid, () => live.liveMigration(this.core, this.md(), uuid, a));
  }
  postLiveMigration(uuid: string, a: { instance: NovaInstance }) {
    return this.locked(uuid, () => live.postLiveMigration(this.core, this.md(), uuid, a));
  }
  postLiveMigrationAtSource(uuid: string, a: { instance: NovaInstance }) {
    return this.locked(uuid, () => live.postLiveMigrationAtSource(this.core, this.md(), uuid, a));
  }
  postLiveMigrationAtDestination(uuid: string, a: { instance: NovaInstance }) {
    return this.locked(uuid, () => live.postLiveMigrationAtDestination(this.core, this.md(), uuid, a));
  }
  rollbackLiveMigrationAtSource(uuid: string, a: { instance: NovaInstance }) {
    return this.locked(uuid, () => live.rollbackLiveMigrationAtSource(this.core, this.md(), uuid, a));
  }
  rollbackLiveMigrationAtDestination(uuid: string, a: { instance: NovaInstance }) {
    return this.locked(uuid, () => live.rollbackLiveMigrationAtDestination(this.core, this.md(), uuid, a));
  }
  /** Nova's `cleanup`: with a live-migration journal only a verified source copy goes; otherwise a destroy. */
  cleanup(uuid: string, a: DestroyArgs) {
    return this.locked(uuid, () =>
      live.cleanup(this.core, this.md(), uuid, a, async () => {
        await lifecycle.destroy(this.core, uuid, a);
      }),
    );
  }
  peerState(uuid: string, withNvram: boolean) {
    return this.locked(uuid, () => live.peerInstanceState(this.core, uuid, withNvram));
  }
  peerLiveArrive(uuid: string, body: Parameters<typeof live.peerLiveArrive>[3]) {
    return this.locked(uuid, () => live.peerLiveArrive(this.core, this.md(), uuid, body));
  }
  peerNvramDigest(uuid: string, name: string) {
    return this.locked(uuid, () => live.peerNvramDigest(this.core, this.md(), uuid, name));
  }
}
