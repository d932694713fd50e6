/**
 * @module firmware/request
 * Turn image properties, flavor extra specs and host defaults into a `BootRequest`, with
 * Nova's semantics (`nova/virt/hardware.py`, `_configure_guest_by_virt_type`):
 * `hw_firmware_type` unset ⇒ UEFI on aarch64 (Queens), BIOS elsewhere; flavor
 * `os:secure_boot` and image `os_secure_boot` must agree (`FlavorImageConflict`); machine
 * from the image, else `[libvirt] hw_machine_type`, else `pc` (x86) / `virt` (Arm);
 * `hw_firmware_stateless` with BIOS is ignored with a warning (bug 2158967).
 */
import type { ImageProps } from '../nova/objects';
import type { BootRequest } from './types';
import { FlavorImageConflict, Invalid, InvalidInput, SecureBootNotSupported, UEFINotSupported } from '../errors';

/** Inputs of `resolveBootRequest`; `machineDefaults` is `[libvirt] hw_machine_type` as arch ⇒ machine. */
export interface RequestInput {
  imageProps: ImageProps;
  flavorExtraSpecs?: Record<string, string>;
  hostArch: string;
  machineDefaults: Record<string, string>;
}

const ARCH_RE = /^[a-z0-9_]+$/;
/** Nova's built-in machine defaults when neither the image nor `[libvirt] hw_machine_type` has one. */
const DEFAULT_MACHINE: Record<string, string> = { x86_64: 'pc', i686: 'pc', aarch64: 'virt', armv7l: 'virt' };

/** Image-property booleans arrive as JSON booleans or oslo-style strings. */
function bool(v: unknown, field: string): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v === 'boolean') return v;
  const s = String(v).toLowerCase();
  if (['true', 'yes', '1', 'on'].includes(s)) return true;
  if (['false', 'no', '0', 'off'].includes(s)) return false;
  throw new InvalidInput(field, `'${String(v)}' is not a boolean`);
}

/**
 * @throws Invalid for enum values outside their sets (naming the field), InvalidInput for a
 *   malformed architecture or boolean, FlavorImageConflict when flavor and image disagree on
 *   Secure Boot, SecureBootNotSupported for required Secure Boot with BIOS, UEFINotSupported
 *   for UEFI on an architecture without any known machine type.
 */
export function resolveBootRequest(input: RequestInput): BootRequest {
  const p = input.imageProps ?? {};
  const warnings: string[] = [];
  // The guest architecture as Nova's libvirt driver writes it (`_check_emulation_arch`): the
  // emulated one first, then the image's, then the host's.
  const archField = p.hw_emulation_architecture ? 'hw_emulation_architecture' : 'hw_architecture';
  const arch = String(p.hw_emulation_architecture || p.hw_architecture || input.hostArch).toLowerCase();
  if (!ARCH_RE.test(arch)) throw new InvalidInput(`image_meta.properties.${archField}`, `'${arch}' is not an architecture`);

  let firmwareType: 'bios' | 'uefi';
  if (p.hw_firmware_type === undefined || p.hw_firmware_type === null) firmwareType = arch === 'aarch64' ? 'uefi' : 'bios';
  else if (p.hw_firmware_type === 'bios' || p.hw_firmware_type === 'uefi') firmwareType = p.hw_firmware_type;
  else
    throw new Invalid(`Invalid hw_firmware_type '${String(p.hw_firmware_type)}': image_meta.properties.hw_firmware_type must be bios or uefi`, {
      field: 'image_meta.properties.hw_firmware_type',
    });

  const img = p.os_secure_boot;
  if (img !== undefined && img !== null && !['required', 'optional', 'disabled'].includes(String(img))) {
    throw new Invalid(`Invalid os_secure_boot '${String(img)}': image_meta.properties.os_secure_boot must be required, optional or disabled`, {
      field: 'image_meta.properties.os_secure_boot',
    });
  }
  const flv = input.flavorExtraSpecs?.['os:secure_boot'];
  if (flv !== undefined && flv !== null && !['required', 'disabled'].includes(String(flv))) {
    throw new Invalid(`Invalid os:secure_boot '${String(flv)}': flavor.extra_specs.os:secure_boot must be required or disabled`, {
      field: 'flavor.extra_specs.os:secure_boot',
    });
  }
  if (img && flv && img !== flv) throw new FlavorImageConflict('os_secure_boot', String(flv), String(img));
  let secureBoot = (img ?? flv ?? 'disabled') as BootRequest['secureBoot'];

  let stateless = bool(p.hw_firmware_stateless, 'image_meta.properties.hw_firmware_stateless');
  if (firmwareType === 'bios') {
    // Nova bug 2158967: Nova ignores the property for BIOS guests; say so instead of failing.
    if (stateless) warnings.push('hw_firmware_stateless is ignored for BIOS guests');
    stateless = false;
    if (secureBoot === 'required') throw new SecureBootNotSupported('Secure Boot requires UEFI firmware (hw_firmware_type=uefi)');
    secureBoot = 'disabled';
  }

  let machine = p.hw_machine_type || input.machineDefaults[arch] || DEFAULT_MACHINE[arch];
  if (!machine) {
    if (firmwareType === 'uefi') throw new UEFINotSupported(`no machine type known for architecture ${arch}`);
    machine = '';
  }
  return { firmwareType, arch, machine, secureBoot, stateless, warnings };
}
