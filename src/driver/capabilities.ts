/**
 * @module driver/capabilities
 * Nova's `ComputeDriver.capabilities` keys this driver speaks for, in one `as const` map, and
 * the placement traits they imply (`nova/virt/driver.py` CAPABILITY_TRAITS_MAP). The
 * firmware-dependent keys are filled from the discovered firmware at request time; every
 * branch that depends on a capability reads it from here. A key is true only where the
 * driver serves it (test/unit/driver/capabilities exercises each true one).
 */
import type { FirmwareHost } from '../firmware/host';
import { hostFirmwareCapabilities } from '../firmware';
import type { HostCapabilities } from './contract';
export const STATIC_CAPABILITIES = {
  has_imagecache: false,
  /**
   * Nova checks it on the destination of an evacuation (`rebuild_instance`): the spawn (or
   * rebuild) with `evacuate` builds the guest here, with the newest replica of its store when
   * replicas are configured, else from the template (as Nova's libvirt driver without shared
   * storage).
   */
  supports_evacuate: true,
  /** A resize to the same host keeps the live store in place and a stash for revert. */
  supports_migrate_to_same_host: true,
  supports_attach_interface: false,
  supports_device_tagging: false,
  supports_multiattach: false,
  supports_vtpm: false,
} as const;

/** Capability keys whose value comes from the firmware inventory of this host. */
export const FIRMWARE_CAPABILITIES = ['supports_secure_boot', 'supports_stateless_firmware'] as const;
export type FirmwareCapability = (typeof FIRMWARE_CAPABILITIES)[number];

export const CAPABILITY_TRAITS: Readonly<Record<FirmwareCapability, string>> = {
  supports_secure_boot: 'COMPUTE_SECURITY_UEFI_SECURE_BOOT',
  supports_stateless_firmware: 'COMPUTE_SECURITY_STATELESS_FIRMWARE',
};

export function traitsFor(caps: Record<string, boolean>): string[] {
  return (Object.keys(CAPABILITY_TRAITS) as FirmwareCapability[])
    .filter((k) => caps[k])
    .map((k) => CAPABILITY_TRAITS[k])
    .sort();
}

/** The host's capabilities as `GET /v1/host/capabilities` serves them: the static map with the firmware-dependent keys filled now. */
export function hostCapabilities(fw: FirmwareHost, host: string, hypervisorType: string): HostCapabilities {
  const caps = hostFirmwareCapabilities(fw.inventory(), { secureBootEnabled: fw.secureBootEnabled, hostArch: fw.arch });
  const all: Record<string, boolean> = {
    ...STATIC_CAPABILITIES,
    supports_secure_boot: caps.supports_secure_boot,
    supports_stateless_firmware: caps.supports_stateless_firmware,
  };
  return { host, hypervisor_type: hypervisorType, capabilities: all, traits: traitsFor(all), architectures: caps.architectures };
}
