/**
 * @module driver/lifecycle
 * Instance lifecycle flows: spawn, destroy, reboot, power off/on, rebuild, rescue/unrescue.
 * Each flow orchestrates firmware selection, the NVRAM store, the XML layer and the
 * hypervisor; the per-instance lock is taken by the caller (`driver/index`).
 *
 * NVRAM rules (Nova 2026.1 plus what Nova still lacks): created by us from the template
 * before the guest starts; byte-identical across soft/hard reboot, power off/on and rescue/unrescue
 * (every temporary undefine keeps NVRAM); deleted by `destroy(destroy_disks=true)`, kept by
 * `destroy_disks=false`; reset by rebuild unless `preserve_nvram`.
 */
import { promises as fsp, accessSync } from 'node:fs';
import type { DriverCore } from './core';
import type { DestroyArgs, InstanceArgs, InstanceView, PowerOffArgs, RebootArgs, RebuildArgs, RescueArgs, SpawnArgs } from './contract';
import type { InstanceRecord } from '../state/records';
import type { NvramInfo } from '../nvram/store';
import type { BootRequest, FirmwareSelection } from '../firmware/types';
import { resolveBootRequest, selectFirmware, reuseOrReselect } from '../firmware';
import { PowerState } from '../hypervisor/types';
import { InstanceInvalidState, InstanceNotFound, NovaError } from '../errors';
import type { NovaImageMeta, NovaInstance } from '../nova/objects';

function existsSync(p: string): boolean {
  try {
    accessSync(p);
    return true;
  } catch {
    return false;
  }
}

async function fileSize(p: string | null): Promise<number | null> {
  if (!p) return null;
  const st = await fsp.stat(p).catch(() => null);
  return st ? st.size : null;
}

/** Resolve image + flavor + host into a boot request and a firmware selection (pure parts in firmware/). */
export function chooseFirmware(core: DriverCore, image: NovaImageMeta | undefined, extraSpecs: Record<string, string>): { boot: BootRequest; firmware: FirmwareSelection | null } {
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

function systemMetadata(instance: NovaInstance, image: NovaImageMeta | undefined, boot: BootRequest): Record<string, string> {
  const props = image?.properties ?? {};
  const sm: Record<string, string> = {};
  for (const [k, v] of Object.entries(instance.system_metadata ?? {})) if (v !== null && v !== undefined) sm[k] = String(v);
  for (const [k, v] of Object.entries(props)) if (v !== null && v !== undefined && typeof v !== 'object') sm[`image_${k}`] = String(v);
  // Nova writes image_hw_machine_type when the image lacked it, so later operations keep it.
  if (boot.firmwareType === 'uefi' || props.hw_machine_type) sm.image_hw_machine_type = boot.machine;
  return sm;
}

export async function spawn(core: DriverCore, uuid: string, a: SpawnArgs): Promise<InstanceView> {
  const { hv, deps } = core;
  core.checkUuid(uuid, a.instance);
  const name = core.nameOf(a.instance);
  const existing = await deps.records.get(uuid);
  if (existing && existing.vmState !== 'deleted-kept') throw new NovaError('InstanceExists', 409, `Instance ${existing.name} already exists.`);
  if (!existing && (await hv.getInfo(name))) throw new NovaError('InstanceExists', 409, `Instance ${name} already exists.`);
  const sizing = core.sizing(a.instance, a.flavor);
  const { boot, firmware } = chooseFirmware(core, a.image_meta, sizing.extraSpecs);
  const nvramPath = firmware && !firmware.stateless ? deps.nvram.pathFor(name) : null;
  const now = new Date().toISOString();
  const rec: InstanceRecord = {
    uuid,
    id: a.instance.id,
    name,
    vmState: a.power_on === false ? 'stopped' : 'active',
    firmware,
    nvramPath,
    boot,
    imageProps: { ...(a.image_meta?.properties ?? {}) },
    flavorExtraSpecs: sizing.extraSpecs,
    vcpus: sizing.vcpus,
    memoryMb: sizing.memoryMb,
    systemMetadata: systemMetadata(a.instance, a.image_meta, boot),
    baseXml: a.domain_xml,
    createdAt: now,
    updatedAt: now,
  };
  const warnings = [...boot.warnings];
  // A store kept by destroy(destroy_disks=False) is reused when it fits the new template
  // (libvirt would use an existing file as is); anything else starts from the template.
  let created: NvramInfo | null = null;
  let defined = false;
  const makeStore = async () => {
    if (!nvramPath || !firmware?.nvram_template) return;
    const keptSize = existing?.vmState === 'deleted-kept' ? await fileSize(nvramPath) : null;
    if (keptSize === null || keptSize !== (await fileSize(firmware.nvram_template))) {
      created = await deps.nvram.createFromTemplate(nvramPath, firmware.nvram_template);
    } else {
      warnings.push(`reused the variable store kept by an earlier destroy: ${nvramPath}`);
    }
  };
  try {
    // Store, definition and record do not depend on one another (libvirt does not open the
    // store before start), so the three durable writes run at once and start waits for all
    // of them. A crash before the answer leaves some of them: the instance never spawned for
    // Nova, and destroy removes whatever exists (it works from the record, the domain name or
    // a leftover store alike); a new spawn replaces a leftover store.
    const steps = await Promise.allSettled([makeStore(), hv.define(core.xmlFor(rec)).then(() => (defined = true)), deps.records.put(rec)]);
    for (const s of steps) if (s.status === 'rejected') throw s.reason;
    if (a.power_on !== false) await hv.start(name);
  } catch (e) {
    deps.log.error('spawn failed, cleaning up', { instance_uuid: uuid, instance_name: name, error: (e as Error).message });
    if (defined) {
      await hv.destroy(name).catch(() => undefined);
      await hv.undefine(name, { keepNvram: true }).catch(() => undefined);
    }
    if (created && nvramPath) await deps.nvram.remove(nvramPath).catch(() => undefined);
    await deps.records.delete(uuid).catch(() => undefined);
    throw e;
  }
  deps.log.info('spawned', { instance_uuid: uuid, instance_name: name, firmware: firmware?.loader ?? 'bios', secure: firmware?.secure ?? false, source: firmware?.source });
  // The answer describes the store as this call wrote it; a guest already running may have
  // changed it since (get_info reads it as it is then).
  return core.view(rec, warnings, created ?? undefined);
}

export async function destroy(core: DriverCore, uuid: string, a: DestroyArgs): Promise<Record<string, never>> {
  const { hv, deps } = core;
  const destroyDisks = a.destroy_disks !== false;
  const rec = await deps.records.get(uuid);
  let name = rec?.name;
  if (!name && a.instance?.id !== undefined) name = core.nameOf(a.instance);
  if (!rec && (!name || !(await hv.getInfo(name)))) {
    // No record and no domain: a store under this instance's name can only be a leftover
    // (e.g. a destination killed between installing the store and defining the domain).
    const leftover = name && destroyDisks ? await deps.nvram.remove(deps.nvram.pathFor(name)) : false;
    deps.log.warning('destroy: instance not found on this host', { instance_uuid: uuid, removed_leftover_nvram: leftover });
    return {};
  }
  await hv.destroy(name!);
  await hv.undefine(name!, { keepNvram: !destroyDisks });
  if (destroyDisks) {
    const p = rec?.nvramPath ?? deps.nvram.pathFor(name!);
    await deps.nvram.remove(p);
    if (rec) await deps.records.delete(uuid);
  } else if (rec) {
    rec.vmState = 'deleted-kept';
    await deps.records.put(rec);
  }
  deps.log.info('destroyed', { instance_uuid: uuid, instance_name: name, destroy_disks: destroyDisks });
  return {};
}

/**
 * libvirt's `_hard_reboot`: power off, undefine keeping NVRAM, regenerate the XML with the
 * pinned firmware (re-selected only by Nova's rules), define, start. Returns warnings.
 */
export async function hardReboot(core: DriverCore, rec: InstanceRecord, opts: { start: boolean }): Promise<string[]> {
  const { hv, deps } = core;
  const warnings: string[] = [];
  await hv.destroy(rec.name);
  await hv.undefine(rec.name, { keepNvram: true });
  if (rec.firmware) {
    const fwHost = deps.firmware;
    const r = reuseOrReselect(rec.firmware, rec.boot, fwHost.refresh(), fwHost.host(), existsSync);
    let fw: FirmwareSelection = rec.firmware;
    if (r.reselected) {
      deps.log.warning('firmware re-selected', { instance_uuid: rec.uuid, reason: r.reason, old_loader: rec.firmware.loader, new_loader: r.selection.loader });
      warnings.push(`firmware re-selected: ${r.reason ?? ''}`.trim());
      fw = r.selection;
      rec.firmware = fw;
      rec.nvramPath = fw.stateless ? null : deps.nvram.pathFor(rec.name);
    }
    if (rec.nvramPath && fw.nvram_template) {
      const have = await fileSize(rec.nvramPath);
      const want = await fileSize(fw.nvram_template);
      if (have === null || (want !== null && have !== want)) {
        // A store that no longer fits the code build cannot be mapped; start from the template.
        if (have !== null) warnings.push(`variable store reset: ${have} bytes does not fit the template (${want} bytes)`);
        await deps.nvram.createFromTemplate(rec.nvramPath, fw.nvram_template);
      }
    }
  }
  await hv.define(core.xmlFor(rec));
  if (opts.start) await hv.start(rec.name);
  rec.vmState = opts.start ? 'active' : 'stopped';
  await deps.records.put(rec);
  return warnings;
}

function requireNotRescued(rec: InstanceRecord, method: string): void {
  if (rec.vmState === 'rescued') throw new InstanceInvalidState(rec.uuid, 'vm_state', 'rescued', method);
}

export async function reboot(core: DriverCore, uuid: string, a: RebootArgs): Promise<InstanceView> {
  core.checkUuid(uuid, a.instance);
  const rec = await core.mustRecord(uuid);
  requireNotRescued(rec, 'reboot');
  const info = await core.hv.getInfo(rec.name);
  if (a.reboot_type === 'SOFT' && info?.state === PowerState.RUNNING) {
    // Nova's libvirt `_soft_reboot`: ACPI shutdown, wait up to wait_soft_reboot_seconds, then
    // start the same definition again (store untouched). A guest that ignores ACPI (the UEFI
    // shell, a hung OS) gets a hard reboot, as in Nova.
    const wait = core.deps.config.libvirt.wait_soft_reboot_seconds;
    if (await core.hv.shutdown(rec.name, wait)) {
      await core.hv.start(rec.name);
      rec.vmState = 'active';
      await core.deps.records.put(rec);
      return core.view(rec);
    }
    const hard = await hardReboot(core, rec, { start: true });
    return core.view(rec, [`guest did not shut down within ${wait} s of the ACPI request: hard reboot performed`, ...hard]);
  }
  // Nova's libvirt driver falls back to a hard reboot when a soft one cannot be done.
  return core.view(rec, await hardReboot(core, rec, { start: true }));
}

export async function powerOff(core: DriverCore, uuid: string, a: PowerOffArgs): Promise<InstanceView> {
  core.checkUuid(uuid, a.instance);
  const rec = await core.mustRecord(uuid);
  const timeout = a.timeout ?? 0;
  const clean = timeout > 0 ? await core.hv.shutdown(rec.name, timeout) : false;
  if (!clean) await core.hv.destroy(rec.name);
  if (rec.vmState !== 'rescued') rec.vmState = 'stopped';
  await core.deps.records.put(rec);
  return core.view(rec);
}

export async function powerOn(core: DriverCore, uuid: string, a: InstanceArgs): Promise<InstanceView> {
  core.checkUuid(uuid, a.instance);
  const rec = await core.mustRecord(uuid);
  requireNotRescued(rec, 'power_on');
  return core.view(rec, await hardReboot(core, rec, { start: true }));
}

export async function rebuild(core: DriverCore, uuid: string, a: RebuildArgs): Promise<InstanceView> {
  const { hv, deps } = core;
  core.checkUuid(uuid, a.instance);
  const rec = await core.mustRecord(uuid);
  const wasRunning = (await hv.getInfo(rec.name))?.state === PowerState.RUNNING;
  const sizing = core.sizing(a.instance, a.flavor ?? { extra_specs: rec.flavorExtraSpecs, vcpus: rec.vcpus, memory_mb: rec.memoryMb });
  // Select before touching anything: a refused image leaves the guest as it was.
  const { boot, firmware } = chooseFirmware(core, a.image_meta, sizing.extraSpecs);
  const warnings = [...boot.warnings];
  await hv.destroy(rec.name);
  await hv.undefine(rec.name, { keepNvram: true });
  const oldPath = rec.nvramPath;
  const newPath = firmware && !firmware.stateless ? deps.nvram.pathFor(rec.name) : null;
  if (newPath && firmware?.nvram_template) {
    const keep = a.preserve_nvram === true && oldPath === newPath && (await fileSize(oldPath)) === (await fileSize(firmware.nvram_template));
    if (keep) warnings.push('variable store preserved (preserve_nvram)');
    else await deps.nvram.createFromTemplate(newPath, firmware.nvram_template);
  }
  if (oldPath && oldPath !== newPath) await deps.nvram.remove(oldPath);
  Object.assign(rec, {
    boot,
    firmware,
    nvramPath: newPath,
    imageProps: { ...(a.image_meta?.properties ?? {}) },
    flavorExtraSpecs: sizing.extraSpecs,
    vcpus: sizing.vcpus,
    memoryMb: sizing.memoryMb,
    systemMetadata: systemMetadata(a.instance, a.image_meta, boot),
    baseXml: a.domain_xml ?? rec.baseXml,
    unrescueXml: undefined,
  });
  const start = a.power_on ?? wasRunning;
  await hv.define(core.xmlFor(rec));
  if (start) await hv.start(rec.name);
  rec.vmState = start ? 'active' : 'stopped';
  await deps.records.put(rec);
  return core.view(rec, warnings);
}

/**
 * Stable rescue keeps the pinned firmware and NVRAM (Nova since Ussuri). A rescue image that
 * asks for BIOS without `hw_rescue_device`/`hw_rescue_bus` is a legacy rescue: the rescue
 * domain follows the image (no loader, no <nvram>) and the store waits untouched on disk.
 */
export async function rescue(core: DriverCore, uuid: string, a: RescueArgs): Promise<InstanceView> {
  const { hv, deps } = core;
  core.checkUuid(uuid, a.instance);
  const rec = await core.mustRecord(uuid);
  requireNotRescued(rec, 'rescue');
  const original = await hv.getXml(rec.name);
  if (!original) throw new InstanceNotFound(uuid);
  const props = a.image_meta?.properties ?? {};
  const legacyBios = props.hw_firmware_type === 'bios' && !props.hw_rescue_device && !props.hw_rescue_bus;
  await hv.destroy(rec.name);
  await hv.undefine(rec.name, { keepNvram: true });
  rec.unrescueXml = original;
  const rescueRec: InstanceRecord = legacyBios ? { ...rec, firmware: null, nvramPath: null, baseXml: undefined } : rec;
  await hv.define(core.xmlFor(rescueRec));
  await hv.start(rec.name);
  rec.vmState = 'rescued';
  await deps.records.put(rec);
  return core.view(rec, legacyBios ? ['legacy rescue: BIOS rescue image, variable store kept for unrescue'] : []);
}

export async function unrescue(core: DriverCore, uuid: string, a: InstanceArgs): Promise<InstanceView> {
  const { hv, deps } = core;
  core.checkUuid(uuid, a.instance);
  const rec = await core.mustRecord(uuid);
  if (rec.vmState !== 'rescued' || !rec.unrescueXml) throw new InstanceInvalidState(uuid, 'vm_state', rec.vmState, 'unrescue');
  await hv.destroy(rec.name);
  await hv.undefine(rec.name, { keepNvram: true });
  await hv.define(rec.unrescueXml);
  await hv.start(rec.name);
  rec.unrescueXml = undefined;
  rec.vmState = 'active';
  await deps.records.put(rec);
  return core.view(rec);
}
