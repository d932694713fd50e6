/**
 * @module driver/contract
 * The ComputeDriver contract as the sidecar implements it: Nova's method names in camelCase,
 * Nova's keyword-argument names in the argument objects (already unwrapped from versioned
 * objects). Postconditions are stated here; types live only in the signatures.
 */
import type { NovaFlavor, NovaImageMeta, NovaInstance } from '../nova/objects';
import type { FirmwareSelection } from '../firmware/types';
import type { NvramInfo } from '../nvram/store';
import type { PowerStateCode } from '../hypervisor/types';

export interface InstanceView {
  instance_uuid: string;
  instance_name: string;
  power_state: PowerStateCode;
  vm_state: string;
  domain_xml: string | null;
  firmware: FirmwareSelection | null;
  nvram: NvramInfo | null;
  system_metadata: Record<string, string>;
  warnings: string[];
}

export interface SpawnArgs {
  instance: NovaInstance;
  image_meta: NovaImageMeta;
  flavor?: NovaFlavor;
  power_on?: boolean;
  domain_xml?: string;
  [k: string]: unknown;
}
export interface DestroyArgs {
  instance: NovaInstance;
  destroy_disks?: boolean;
  [k: string]: unknown;
}
export interface RebootArgs {
  instance: NovaInstance;
  reboot_type: 'SOFT' | 'HARD';
  [k: string]: unknown;
}
export interface PowerOffArgs {
  instance: NovaInstance;
  timeout?: number;
  retry_interval?: number;
  [k: string]: unknown;
}
export interface InstanceArgs {
  instance: NovaInstance;
  [k: string]: unknown;
}
export interface RebuildArgs {
  instance: NovaInstance;
  image_meta: NovaImageMeta;
  flavor?: NovaFlavor;
  power_on?: boolean;
  preserve_nvram?: boolean;
  domain_xml?: string;
  [k: string]: unknown;
}
export interface RescueArgs {
  instance: NovaInstance;
  image_meta?: NovaImageMeta;
  [k: string]: unknown;
}

export interface ComputeDriverLifecycle {
  /** RUNNING when `power_on` (default), else SHUTDOWN. On failure: no domain, no NVRAM, no record left. */
  spawn(uuid: string, a: SpawnArgs): Promise<InstanceView>;
  /** Succeeds for an unknown instance. `destroy_disks` (default true) deletes NVRAM; false keeps it. */
  destroy(uuid: string, a: DestroyArgs): Promise<Record<string, never>>;
  /** SOFT: ACPI shutdown, wait up to [libvirt] wait_soft_reboot_seconds, start again; falls back to HARD (with a warning) when the guest ignores it or is not running, as Nova's libvirt driver does. HARD: redefine with pinned firmware. The sidecar never rewrites the store. */
  reboot(uuid: string, a: RebootArgs): Promise<InstanceView>;
  /** SHUTDOWN afterwards; graceful first when timeout > 0. NVRAM untouched. */
  powerOff(uuid: string, a: PowerOffArgs): Promise<InstanceView>;
  /** RUNNING afterwards, via a hard-reboot style redefine with the pinned firmware. */
  powerOn(uuid: string, a: InstanceArgs): Promise<InstanceView>;
  /** destroy + spawn with the new image: firmware re-selected, NVRAM reset unless `preserve_nvram`. */
  rebuild(uuid: string, a: RebuildArgs): Promise<InstanceView>;
  /** RUNNING in rescue; the original definition is kept for unrescue; NVRAM untouched. */
  rescue(uuid: string, a: RescueArgs): Promise<InstanceView>;
  /** Back to the original definition, RUNNING; NVRAM untouched. */
  unrescue(uuid: string, a: InstanceArgs): Promise<InstanceView>;
  /** `get_info`: raises InstanceNotFound when neither a record nor a domain exists. */
  getInfo(uuid: string): Promise<InstanceView>;
}
