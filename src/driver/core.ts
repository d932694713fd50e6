/**
 * @module driver/core
 * Shared plumbing of the driver flows: dependencies, record lookup, name derivation, the
 * XML build from a record, and the instance view. Flows (lifecycle, migrations) use these
 * and never touch files or XML text themselves.
 */
import * as path from 'node:path';
import { statSync } from 'node:fs';
import type { Config } from '../config';
import type { Hypervisor } from '../hypervisor/types';
import { PowerState, type PowerStateCode } from '../hypervisor/types';
import type { NvramInfo, NvramStore } from '../nvram/store';
import type { RecordStore, InstanceRecord } from '../state/records';
import type { Logger } from '../util/log';
import type { FirmwareHost } from './firmwareHost';
import type { InstanceView } from './contract';
import type { NovaFlavor, NovaInstance } from '../nova/objects';
import { instanceName } from '../nova/naming';
import { validateDomainName } from '../nvram/paths';
import { buildDomainXml } from '../domainXml';
import { InstanceNotFound, InvalidInput } from '../errors';
import { KeyedMutex } from './locks';
import { StatCache } from '../util/fileIdentity';

export interface DriverDeps {
  config: Config;
  hypervisor: Hypervisor;
  nvram: NvramStore;
  records: RecordStore;
  firmware: FirmwareHost;
  log: Logger;
}

/** Domain state queries in flight at once when listing (files, or virsh processes). */
const STATE_QUERY_CONCURRENCY = 8;
/** Variable stores whose digest is remembered (most recently used). */
const DIGEST_CACHE_ENTRIES = 4096;

export class DriverCore {
  readonly locks = new KeyedMutex();
  /** path → the store's info as last hashed (see `nvramInfo`). */
  private readonly digests = new StatCache<NvramInfo>(DIGEST_CACHE_ENTRIES);
  constructor(readonly deps: DriverDeps) {}

  /**
   * This core with `deps.log` replaced (a request's child logger): a view that shares the
   * locks, the digest cache and every other dependency with this one.
   */
  withLog(log: Logger): DriverCore {
    const view = Object.create(this) as DriverCore;
    Object.defineProperty(view, 'deps', { value: { ...this.deps, log }, enumerable: true });
    return view;
  }

  get hv(): Hypervisor {
    return this.deps.hypervisor;
  }

  /** Domain name from `[DEFAULT] instance_name_template`, validated as one file-name component. */
  nameOf(instance: NovaInstance): string {
    return validateDomainName(instanceName(this.deps.config.DEFAULT.instance_name_template, instance), 'instance name');
  }

  /** The path parameter and `instance.uuid` must agree. */
  checkUuid(uuid: string, instance: NovaInstance | undefined): void {
    if (!instance || typeof instance !== 'object') throw new InvalidInput('instance', 'required');
    if (String(instance.uuid).toLowerCase() !== uuid.toLowerCase()) {
      throw new InvalidInput('instance.uuid', `'${String(instance.uuid)}' does not match the path's instance_uuid '${uuid}'`);
    }
  }

  async mustRecord(uuid: string): Promise<InstanceRecord> {
    const rec = await this.deps.records.get(uuid);
    if (!rec || rec.vmState === 'deleted-kept') throw new InstanceNotFound(uuid);
    return rec;
  }

  /** `mustRecord` for reading only: the shared frozen record (see `RecordStore.peek`). */
  async peekRecord(uuid: string): Promise<Readonly<InstanceRecord>> {
    const rec = await this.deps.records.peek(uuid);
    if (!rec || rec.vmState === 'deleted-kept') throw new InstanceNotFound(uuid);
    return rec;
  }

  /** vCPUs and memory: explicit flavor arg, then instance.flavor, then instance fields. */
  sizing(instance: NovaInstance, flavor?: NovaFlavor): { vcpus: number; memoryMb: number; extraSpecs: Record<string, string> } {
    const f = flavor ?? instance.flavor ?? {};
    return {
      vcpus: Number(f.vcpus ?? instance.vcpus ?? 1),
      memoryMb: Number(f.memory_mb ?? instance.memory_mb ?? 512),
      extraSpecs: { ...(f.extra_specs ?? {}) },
    };
  }

  serialSocket(name: string): string | undefined {
    const dir = this.deps.config.libvirt.serial_socket_dir;
    return dir ? path.join(dir, `${name}.sock`) : undefined;
  }

  /** Domain XML for a record (its pinned firmware, its NVRAM path). */
  xmlFor(rec: InstanceRecord): string {
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
      nvram: rec.nvramPath ? (nvram ?? (await this.nvramInfo(rec.nvramPath))) : null,
      system_metadata: rec.systemMetadata,
      warnings,
    };
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

  /**
   * `NvramStore.info` (size, sha256, allocation) without re-reading and re-hashing an
   * unchanged store on every view: the digest is reused under the rule of util/fileIdentity
   * (same stat identity, settled when hashed). Allocation always comes from the fresh stat.
   */
  async nvramInfo(p: string): Promise<NvramInfo | null> {
    const full = this.deps.nvram.checkPath(p);
    let st;
    try {
      // One local stat: synchronously, a thread-pool round trip costs more than the call.
      st = statSync(full);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      this.digests.forget(full);
      return null;
    }
    const hit = this.digests.get(full, st);
    if (hit) return { ...hit, allocated: st.blocks * 512 };
    const readAt = Date.now();
    const info = await this.deps.nvram.info(full);
    if (info) this.digests.remember(full, st, readAt, info.size, { ...info });
    else this.digests.forget(full);
    return info;
  }
}
