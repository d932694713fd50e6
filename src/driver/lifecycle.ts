/**
 * @module driver/lifecycle
 * Instance lifecycle flows: spawn, destroy, reboot, power off/on, rebuild, rescue/unrescue.
 * Each decides what the guest boots with and hands the boot to `coldBoot`; the per-instance
 * lock and the uuid check are the caller's (`driver/index`).
 *
 * NVRAM rules (Nova 2026.1 plus what Nova still lacks): created by us from the template
 * before the guest starts; byte-identical across soft/hard reboot, power off/on and
 * rescue/unrescue (every temporary undefine keeps NVRAM); deleted by `destroy(destroy_disks=true)`,
 * kept by `destroy_disks=false`; reset by rebuild unless `preserve_nvram`.
 */
import type { DriverCore } from './core';
import type { DestroyArgs, Done, InstanceView, PowerOffArgs, PowerOnArgs, RebootArgs, RebuildArgs, RescueArgs, SpawnArgs, UnrescueArgs } from './contract';
import { isLive, type InstanceRecord } from '../state/records';
import type { BootRequest, FirmwareSelection } from '../firmware/types';
import { coldBoot } from './coldBoot';
import { resolveBootRequest, selectFirmware } from '../firmware';
import { PowerState } from '../nova/powerState';
import { InstanceExists, InstanceInvalidState, InstanceNotFound, MigrationError } from '../errors';
import type { NovaImageMeta, NovaInstance } from '../nova/objects';
import type { ParsedInstance } from '../nova/instance';
import { keysForFreshStore, queueKeysetAtSpawn, requestedKeyset } from './secureBootOps';

/** Resolve image + flavor + host into a boot request and a firmware selection (pure parts in firmware/). */
export function chooseFirmware(
  core: DriverCore,
  image: NovaImageMeta | undefined,
  extraSpecs: Record<string, string>,
): { boot: BootRequest; firmware: FirmwareSelection | null } {
  const fwHost = core.deps.firmware;
  const boot = resolveBootRequest({
    imageProps: { ...(image?.properties ?? {}) },
    flavorExtraSpecs: extraSpecs,
    hostArch: fwHost.arch,
    machineDefaults: { ...core.deps.config.libvirt.hw_machine_type },
  });
  const firmware = selectFirmware(fwHost.inventory(), boot, fwHost.host());
  return { boot, firmware };
}

/**
 * Firmware on this host for a store that came from another: the source's pinned firmware
 * when its files exist here and the template size equals the store's; otherwise a fresh
 * selection, which must use a template of the same size (same code build).
 */
export async function firmwareForIncoming(
  core: DriverCore,
  pinned: FirmwareSelection | null | undefined,
  image: NovaImageMeta | undefined,
  extraSpecs: Record<string, string>,
  storeSize: number | null,
) {
  const fwHost = core.deps.firmware;
  const { boot, firmware } = chooseFirmware(core, image, extraSpecs);
  if (!pinned) return { boot, firmware, reselected: false, reason: undefined as string | undefined };
  const why = await fwHost.whyCannotRun(pinned, storeSize);
  if (!why) return { boot, firmware: pinned, reselected: false, reason: undefined };
  if (!firmware) throw new MigrationError('the image asks for BIOS on this host but the guest has UEFI variables', { code: 400 });
  const newSize = await fwHost.fileSize(firmware.nvram_template);
  if (storeSize !== null && newSize !== storeSize) {
    throw new MigrationError(
      `no firmware build on this host matches the guest's variable store (${storeSize} bytes; selected template ${firmware.nvram_template} is ${newSize} bytes)`,
      { code: 400 },
    );
  }
  return { boot, firmware, reselected: true, reason: why };
}

function systemMetadata(instance: NovaInstance, image: NovaImageMeta | undefined, boot: BootRequest): Record<string, string> {
  const props = image?.properties ?? {};
  const sm: Record<string, string> = {};
  for (const [k, v] of Object.entries(instance.system_metadata ?? {})) if (v !== null && v !== undefined) sm[k] = String(v);
  for (const [k, v] of Object.entries(props)) if (v !== null && v !== undefined && typeof v !== 'object') sm[`image_${k}`] = String(v);
  // Nova writes image_hw_machine_type when the image lacked it, so later operations keep it.
  if (boot.firmwareType === 'uefi' || props.hw_machine_type) sm.image_hw_machine_type = boot.machine;
  return sm;
}

/** A store the spawn boots with instead of a template copy (a replica restored on unshelve or evacuate). */
export interface IncomingStore {
  store: Buffer;
  /** The firmware it was written under: kept when this host can run it (`firmwareForIncoming`). */
  firmware: FirmwareSelection | null;
}

export async function spawn(core: DriverCore, p: ParsedInstance, a: SpawnArgs, incoming?: IncomingStore): Promise<InstanceView> {
  const { hv, deps } = core;
  const { uuid, name, sizing } = p;
  const existing = await deps.records.get(uuid);
  // A store kept by destroy(destroy_disks=False) (the record's tombstone) is reused when it
  // fits the new template (libvirt would use an existing file as is); anything else, a
  // crash's leftover included, starts from the template.
  const kept = existing !== null && !isLive(existing);
  if (existing && !kept) throw new InstanceExists(existing.name);
  if (!existing && (await hv.getInfo(name))) throw new InstanceExists(name);
  const picked = incoming
    ? await firmwareForIncoming(core, incoming.firmware, a.image_meta, sizing.extraSpecs, incoming.store.length)
    : { ...chooseFirmware(core, a.image_meta, sizing.extraSpecs), reselected: false, reason: undefined };
  const { boot, firmware } = picked;
  const keyset = requestedKeyset(core, a.image_meta, sizing.extraSpecs, a.instance);
  const now = new Date().toISOString();
  const rec: InstanceRecord = {
    uuid,
    id: p.id,
    name,
    vmState: 'stopped',
    firmware,
    nvramPath: core.storePathFor(firmware, name),
    boot,
    imageProps: { ...p.imageProps },
    flavorExtraSpecs: sizing.extraSpecs,
    vcpus: sizing.vcpus,
    memoryMb: sizing.memoryMb,
    systemMetadata: systemMetadata(a.instance, a.image_meta, boot),
    baseXml: a.domain_xml,
    createdAt: now,
    updatedAt: now,
  };
  const install = incoming && rec.nvramPath ? incoming.store : null;
  // The key set is enrolled by the cold-boot path's store hook, into the store before it boots;
  // a restored store (unshelve, evacuate) keeps the keys it had.
  if (!install) queueKeysetAtSpawn(core, rec, keyset);
  let installed = false;
  let booted;
  try {
    booted = await coldBoot(core, {
      rec,
      start: a.power_on !== false,
      teardown: false,
      store: kept || install ? 'keep' : 'fresh',
      // The restored store is written before the definition, as a received one is (finish_migration).
      prepareStore: install
        ? async () => {
            await deps.nvram.writeBytes(rec.nvramPath as string, install);
            installed = true;
          }
        : undefined,
      undoOnFailure: true,
    });
  } catch (e) {
    // coldBoot removes stores it created; a restored one is this call's to remove.
    if (installed && rec.nvramPath) await deps.nvram.remove(rec.nvramPath).catch(() => undefined);
    throw e;
  }
  const warnings = [...boot.warnings, ...booted.warnings];
  if (keyset && !firmware?.secure) warnings.push(`Secure Boot key set '${keyset}' ignored: the instance does not boot with Secure Boot firmware`);
  if (picked.reselected) warnings.push(`firmware re-selected: ${picked.reason ?? ''}`.trim());
  if (incoming && !rec.nvramPath) warnings.push('the restored variable store is not used: the guest boots without a store (BIOS or stateless firmware)');
  if (booted.store === 'kept' && !install) warnings.push(`reused the variable store kept by an earlier destroy: ${rec.nvramPath}`);
  deps.log.info('spawned', {
    instance_uuid: uuid,
    instance_name: name,
    firmware: firmware?.loader ?? 'bios',
    secure: firmware?.secure ?? false,
    source: firmware?.source,
  });
  // The answer describes the store as this call wrote it; a guest already running may have
  // changed it since (get_info reads it as it is then).
  return core.view(rec, warnings, booted.nvram);
}

export async function destroy(core: DriverCore, p: ParsedInstance, a: DestroyArgs): Promise<Done> {
  const { hv, deps } = core;
  const uuid = p.uuid;
  const destroyDisks = a.destroy_disks !== false;
  const rec = await deps.records.get(uuid);
  let name = rec?.name;
  if (!name) name = p.nameIfKnown ?? undefined;
  if (!rec && (!name || !(await hv.getInfo(name)))) {
    // No record and no domain: a store under this instance's name can only be a leftover
    // (e.g. a destination killed between installing the store and defining the domain).
    const leftover = name && destroyDisks ? await deps.nvram.remove(deps.nvram.pathFor(name)) : false;
    deps.log.warning('destroy: instance not found on this host', { instance_uuid: uuid, removed_leftover_nvram: leftover });
    return {};
  }
  const domain = name as string;
  await hv.destroy(domain);
  await hv.undefine(domain, { keepNvram: !destroyDisks });
  if (destroyDisks) {
    await deps.nvram.remove(rec?.nvramPath ?? deps.nvram.pathFor(domain));
    if (rec) await deps.records.delete(uuid);
  } else if (rec) {
    await deps.records.keep(rec);
  }
  deps.log.info('destroyed', { instance_uuid: uuid, instance_name: domain, destroy_disks: destroyDisks });
  return {};
}

/** libvirt's `_hard_reboot`, through the cold-boot path: the pinned firmware, re-selected only by Nova's rules. */
async function hardReboot(core: DriverCore, rec: InstanceRecord, warnings: string[] = []): Promise<InstanceView> {
  const booted = await coldBoot(core, { rec, start: true, teardown: true, reselect: true, store: 'keep' });
  return core.view(rec, [...warnings, ...booted.warnings], booted.nvram);
}

function requireNotRescued(rec: InstanceRecord, method: string): void {
  if (rec.vmState === 'rescued') throw new InstanceInvalidState(rec.uuid, 'vm_state', 'rescued', method);
}

export async function reboot(core: DriverCore, uuid: string, a: RebootArgs): Promise<InstanceView> {
  const rec = await core.mustRecord(uuid);
  requireNotRescued(rec, 'reboot');
  if (a.reboot_type === 'SOFT' && (await core.hv.getInfo(rec.name))?.state === PowerState.RUNNING) {
    // Nova's libvirt `_soft_reboot`: ACPI shutdown, wait up to wait_soft_reboot_seconds, then
    // boot the same definition again (store untouched). A guest that ignores ACPI (the UEFI
    // shell, a hung OS) gets a hard reboot, as in Nova.
    const wait = core.deps.config.libvirt.wait_soft_reboot_seconds;
    if (await core.hv.shutdown(rec.name, wait)) {
      const booted = await coldBoot(core, { rec, start: true, teardown: false, store: 'keep' });
      return core.view(rec, booted.warnings);
    }
    return hardReboot(core, rec, [`guest did not shut down within ${wait} s of the ACPI request: hard reboot performed`]);
  }
  // Nova's libvirt driver falls back to a hard reboot when a soft one cannot be done.
  return hardReboot(core, rec);
}

export async function powerOff(core: DriverCore, uuid: string, a: PowerOffArgs): Promise<InstanceView> {
  const rec = await core.mustRecord(uuid);
  const timeout = a.timeout ?? 0;
  const clean = timeout > 0 ? await core.hv.shutdown(rec.name, timeout) : false;
  if (!clean) await core.hv.destroy(rec.name);
  if (rec.vmState !== 'rescued') rec.vmState = 'stopped';
  await core.deps.records.put(rec);
  return core.view(rec);
}

export async function powerOn(core: DriverCore, uuid: string, _a: PowerOnArgs): Promise<InstanceView> {
  const rec = await core.mustRecord(uuid);
  requireNotRescued(rec, 'power_on');
  return hardReboot(core, rec);
}

export async function rebuild(core: DriverCore, p: ParsedInstance, a: RebuildArgs): Promise<InstanceView> {
  const { hv, deps } = core;
  const rec = await core.mustRecord(p.uuid);
  const wasRunning = (await hv.getInfo(rec.name))?.state === PowerState.RUNNING;
  const sizing = p.sizingOr({ extra_specs: rec.flavorExtraSpecs, vcpus: rec.vcpus, memory_mb: rec.memoryMb });
  // Select before touching anything: a refused image leaves the guest as it was.
  const { boot, firmware } = chooseFirmware(core, a.image_meta, sizing.extraSpecs);
  const keyset = requestedKeyset(core, a.image_meta, sizing.extraSpecs, a.instance);
  const oldPath = rec.nvramPath;
  Object.assign(rec, {
    boot,
    firmware,
    nvramPath: core.storePathFor(firmware, rec.name),
    imageProps: { ...p.imageProps },
    flavorExtraSpecs: sizing.extraSpecs,
    vcpus: sizing.vcpus,
    memoryMb: sizing.memoryMb,
    systemMetadata: systemMetadata(a.instance, a.image_meta, boot),
    baseXml: a.domain_xml ?? rec.baseXml,
    unrescueXml: undefined,
  });
  const preserve = a.preserve_nvram === true && oldPath === rec.nvramPath;
  if (!preserve) keysForFreshStore(core, rec, keyset);
  const booted = await coldBoot(core, {
    rec,
    start: a.power_on ?? wasRunning,
    teardown: true,
    store: preserve ? 'keep' : 'fresh',
    // A store the new firmware does not use (BIOS or stateless now) goes with the old image.
    prepareStore: async () => {
      if (oldPath && oldPath !== rec.nvramPath) await deps.nvram.remove(oldPath);
    },
  });
  const warnings = [...boot.warnings, ...booted.warnings];
  if (booted.store === 'kept') warnings.push('variable store preserved (preserve_nvram)');
  return core.view(rec, warnings);
}

/**
 * Stable rescue keeps the pinned firmware and NVRAM (Nova since Ussuri). A rescue image that
 * asks for BIOS without `hw_rescue_device`/`hw_rescue_bus` is a legacy rescue: the rescue
 * domain follows the image (no loader, no <nvram>) and the store waits untouched on disk.
 */
export async function rescue(core: DriverCore, uuid: string, a: RescueArgs): Promise<InstanceView> {
  const rec = await core.mustRecord(uuid);
  requireNotRescued(rec, 'rescue');
  const original = await core.hv.getXml(rec.name);
  if (!original) throw new InstanceNotFound(uuid);
  const props = a.image_meta?.properties ?? {};
  const legacyBios = props.hw_firmware_type === 'bios' && !props.hw_rescue_device && !props.hw_rescue_bus;
  rec.unrescueXml = original;
  const booted = await coldBoot(core, {
    rec,
    start: true,
    vmState: 'rescued',
    teardown: true,
    store: legacyBios ? 'none' : 'keep',
    xml: legacyBios ? core.xmlFor({ ...rec, firmware: null, nvramPath: null, baseXml: undefined }) : undefined,
  });
  return core.view(rec, legacyBios ? ['legacy rescue: BIOS rescue image, variable store kept for unrescue'] : booted.warnings);
}

export async function unrescue(core: DriverCore, uuid: string, _a: UnrescueArgs): Promise<InstanceView> {
  const rec = await core.mustRecord(uuid);
  const original = rec.unrescueXml;
  if (rec.vmState !== 'rescued' || !original) throw new InstanceInvalidState(uuid, 'vm_state', rec.vmState, 'unrescue');
  rec.unrescueXml = undefined;
  const booted = await coldBoot(core, { rec, start: true, teardown: true, store: 'keep', xml: original });
  return core.view(rec, booted.warnings);
}
