/**
 * @module driver/core
 * Shared plumbing of the driver flows: dependencies, record lookup, name derivation, the
 * XML build from a record, and the instance view. Flows (lifecycle, migrations) use these
 * and never touch files or XML text themselves.
 */
import * as path from 'node:path';
import type { Config } from '../config';
import type { Hypervisor } from '../hypervisor/types';
import { PowerState } from '../hypervisor/types';
import type { NvramStore } from '../nvram/store';
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

export interface DriverDeps {
  config: Config;
  hypervisor: Hypervisor;
  nvram: NvramStore;
  records: RecordStore;
  firmware: FirmwareHost;
  log: Logger;
}

export class DriverCore {
  readonly locks = new KeyedMutex();
  constructor(readonly deps: DriverDeps) {}

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

  async view(rec: InstanceRecord, warnings: string[] = []): Promise<InstanceView> {
    const info = await this.hv.getInfo(rec.name);
    return {
      instance_uuid: rec.uuid,
      instance_name: rec.name,
      power_state: info?.state ?? PowerState.NOSTATE,
      vm_state: rec.vmState,
      domain_xml: await this.hv.getXml(rec.name),
      firmware: rec.firmware,
      nvram: rec.nvramPath ? await this.deps.nvram.info(rec.nvramPath) : null,
      system_metadata: rec.systemMetadata,
      warnings,
    };
  }
}
