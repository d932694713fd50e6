/**
 * @module driver/core
 * Shared plumbing of the driver flows: dependencies, record lookup, the naming rules, the one
 * rule for where a store lives, the XML build from a record, and the instance view. Flows
 * (lifecycle, migrations, variable store) use these; none of them touches files or XML text
 * itself (files through `NvramStore` and `FirmwareHost`, XML through `domainXml`).
 */
import * as path from 'node:path';
import type { Config } from '../config';
import type { Hypervisor } from '../hypervisor/types';
import { PowerState, type PowerStateCode } from '../nova/powerState';
import type { NvramInfo, NvramStore } from '../nvram/store';
import type { RecordStore, InstanceRecord } from '../state/records';
import type { JournalStore } from '../state/journal';
import type { RotationStore } from '../state/rotations';
import type { Logger } from '../util/log';
import type { FaultPoints } from '../util/faults';
import type { FirmwareHost } from '../firmware/host';
import type { KeysetRegistry } from '../firmware/keysets';
import type { FirmwareSelection } from '../firmware/types';
import type { Peer } from '../peer/client';
import type { InstanceList, InstanceView, NvramView } from './contract';
import type { ReplicaReads, ReplicaService } from '../replica/scheduler';
import type { NamingRules } from '../nova/instance';
import { buildDomainXml } from '../domainXml';
import { InstanceNotFound } from '../errors';
import { KeyedMutex } from '../util/mutex';
import { InstanceEvents, type InstanceEvent } from '../events';
import type { Metrics } from '../metrics';

export interface DriverDeps {
  config: Config;
  hypervisor: Hypervisor;
  nvram: NvramStore;
  records: RecordStore;
  firmware: FirmwareHost;
  /** Secure Boot key sets in force (replaced on reload). */
  keysets: KeysetRegistry;
  /** Fleet Secure Boot rotations (driver/secureBootFleet). */
  rotations: RotationStore;
  log: Logger;
  faults: FaultPoints;
  /** Where operations and lock waits are counted; none in unit tests or with metrics off. */
  metrics?: Metrics;
  /** Replicas off this host (`[replica] backend`); absent for `none`. */
  replicas?: ReplicaService;
}

/** What the migration flows need beyond the driver's own dependencies. */
export interface MigrationDeps {
  journals: JournalStore;
  peer: Peer;
  /** This sidecar's own base URL (to recognise itself in [peer] hosts). */
  selfUrl?: string;
}

/**
 * A change queued for an instance's store, applied on the cold-boot path (`coldBoot`) before
 * the guest starts (the only moment no QEMU holds the store). Returns warnings for the answer.
 * A hook may update the record's own fields (e.g. empty the queue it applied): `coldBoot`
 * writes the record again after the hooks when they changed it, after the store write.
 */
export type StoreChangeHook = (core: DriverCore, rec: InstanceRecord, storePath: string) => Promise<string[]>;

/** Domain state queries in flight at once when listing (files, or virsh processes). */
const STATE_QUERY_CONCURRENCY = 8;

export class DriverCore {
  /**
   * Replaced as a whole by `reconfigure` on reload; a request's view (`withLog`) holds the
   * dependencies of the moment it began, so one call never sees two configurations.
   */
  deps: DriverDeps;
  /**
   * @param locks the per-instance locks; a request's core (`withLog`) shares them
   * @param storeHooks changes queued for stores, applied on the cold-boot path (see `coldBoot`); shared as well
   * @param events what the flows announce (events) and who listens; shared as well
   */
  constructor(
    deps: DriverDeps,
    readonly locks: KeyedMutex = new KeyedMutex(deps.metrics?.lockWait),
    readonly storeHooks: StoreChangeHook[] = [],
    readonly events: InstanceEvents = new InstanceEvents(),
  ) {
    this.deps = deps;
  }

  /** Calls that begin from now on read `config` (a reload's; restart-only options unchanged). */
  reconfigure(config: Config): void {
    this.deps = { ...this.deps, config };
  }

  /**
   * This core with `deps.log` replaced (a request's child logger): another core over the same
   * locks, hooks and every other dependency, holding the dependencies of this moment.
   */
  withLog(log: Logger): DriverCore {
    return new DriverCore({ ...this.deps, log }, this.locks, this.storeHooks, this.events);
  }

  /** Tell the subscribers (replication, ...) what happened to an instance; see events/. */
  announce(e: InstanceEvent): Promise<void> {
    return this.events.announce(e, this.deps.log);
  }

  /** What the flows may do with the replica service (read, pin), or null when `[replica] backend = none`. */
  get replicas(): ReplicaReads | null {
    return this.deps.replicas ?? null;
  }

  get hv(): Hypervisor {
    return this.deps.hypervisor;
  }

  /** SIGKILL here when the crash tests armed `step` (`[debug] crash_points`). */
  crashPoint(step: string): void {
    this.deps.faults.hit(step);
  }

  /** How domain names are derived now (nova/instance): the template of this moment's config, the backend's naming. */
  namingRules(): NamingRules {
    return { template: this.deps.config.DEFAULT.instance_name_template, namedByNova: this.hv.namedByNova };
  }

  /** Where the store of a guest with `firmware` lives: none for BIOS and stateless firmware. */
  storePathFor(firmware: FirmwareSelection | null | undefined, name: string): string | null {
    return firmware && !firmware.stateless ? this.deps.nvram.pathFor(name) : null;
  }

  async mustRecord(uuid: string): Promise<InstanceRecord> {
    const rec = await this.deps.records.live(uuid);
    if (!rec) throw new InstanceNotFound(uuid);
    return rec;
  }

  /** `mustRecord` for reading only: the shared frozen record (see `RecordStore.peek`). */
  async peekRecord(uuid: string): Promise<Readonly<InstanceRecord>> {
    const rec = await this.deps.records.peekLive(uuid);
    if (!rec) throw new InstanceNotFound(uuid);
    return rec;
  }

  serialSocket(name: string): string | undefined {
    const dir = this.deps.config.libvirt.serial_socket_dir;
    return dir ? path.join(dir, `${name}.sock`) : undefined;
  }

  /** Domain XML for a record (its pinned firmware, its NVRAM path). */
  xmlFor(rec: Readonly<InstanceRecord>): string {
    return buildDomainXml({
      name: rec.name,
      uuid: rec.uuid,
      virtType: this.deps.config.libvirt.virt_type,
      arch: rec.boot.arch,
      machine: rec.boot.machine,
      vcpus: rec.vcpus,
      memoryMb: rec.memoryMb,
      firmware: rec.firmware,
      nvramPath: rec.nvramPath,
      serialSocket: this.serialSocket(rec.name),
      baseXml: rec.baseXml,
    });
  }

  /** The instance as the API shows it; `nvram` when the caller already knows the store's info (it just wrote it). */
  async view(rec: Readonly<InstanceRecord>, warnings: string[] = [], nvram?: NvramInfo): Promise<InstanceView> {
    const info = await this.hv.getInfo(rec.name);
    return {
      instance_uuid: rec.uuid,
      instance_name: rec.name,
      power_state: info?.state ?? PowerState.NOSTATE,
      vm_state: rec.vmState,
      domain_xml: await this.hv.getXml(rec.name),
      firmware: rec.firmware,
      nvram: rec.nvramPath ? this.nvramView(rec.uuid, nvram ?? (await this.deps.nvram.cachedInfo(rec.nvramPath))) : null,
      system_metadata: rec.systemMetadata,
      warnings,
    };
  }

  /** The store's info with its replica state (`nvram.replica`) when replicas are configured. */
  private nvramView(uuid: string, info: NvramInfo | null): NvramView | null {
    if (!info) return null;
    return this.replicas ? { ...info, replica: this.replicas.view(uuid) } : info;
  }

  /** Every domain of the backend with its power state and, when this host has its record, its uuid. */
  async instances(): Promise<InstanceList> {
    const records = await this.deps.records.liveSummaries();
    const byName = new Map(records.map((r) => [r.name, r.uuid]));
    const names = await this.hv.list();
    const states = await this.powerStates(names);
    const instances = names.map((name, i) => ({ uuid: byName.get(name) ?? '', name, power_state: states[i] }));
    return { instances, names, uuids: instances.map((i) => i.uuid).filter(Boolean) };
  }

  /** Power state of each named domain (NOSTATE when gone), a few queries at a time. */
  async powerStates(names: readonly string[]): Promise<PowerStateCode[]> {
    const out = new Array<PowerStateCode>(names.length).fill(PowerState.NOSTATE);
    let next = 0;
    const worker = async () => {
      while (next < names.length) {
        const i = next++;
        out[i] = (await this.hv.getInfo(names[i]))?.state ?? PowerState.NOSTATE;
      }
    };
    await Promise.all(Array.from({ length: Math.min(STATE_QUERY_CONCURRENCY, names.length) }, worker));
    return out;
  }
}
