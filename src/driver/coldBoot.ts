/**
 * @module driver/coldBoot
 * The one path by which a domain is (re)created: spawn, power_on, hard reboot, soft reboot
 * (after the guest's own shutdown, or as the hard fallback), rescue and unrescue, rebuild,
 * finish_migration, finish_revert_migration, and later unshelve and evacuate. Nothing else
 * in the driver defines or starts a domain from a record.
 *
 * In order:
 * 1. teardown: power off and undefine a domain already defined under the name, always
 *    keeping the store (`keepNvram: true`: a temporary undefine never loses variables, the
 *    bug Nova fixed only in 2026.1);
 * 2. firmware re-selection, only by Nova's rules (`firmware/pinning`): the pinned build is
 *    kept unless its files vanished from this host;
 * 3. the flow's own store step (`prepareStore`: install a received store, restore a stash),
 *    run after teardown, so no QEMU holds the file;
 * 4. the store made ready for the firmware it boots with (`store`): a fresh copy of the
 *    template, or the existing one kept, created when missing and reset (with a warning)
 *    when its size no longer fits the code build;
 * 5. the queued store changes (`StoreChangeHook`s, e.g. Secure Boot key changes), applied
 *    while no QEMU holds the store, every time the path runs; a hook that empties its queue
 *    in the record gets the record written again after the store;
 * 6. the definition and the record written (at once with steps 4–5: libvirt opens the store
 *    only at start), then the domain started when asked.
 *
 * On failure with `undoOnFailure` (spawn) everything this call created is removed (Nova: a
 * failed spawn leaves nothing). Otherwise the record keeps its previous vm state and the
 * store is never removed: a retry of the same call completes it.
 */
import type { DriverCore } from './core';
import type { InstanceRecord, VmState } from '../state/records';
import type { NvramInfo } from '../nvram/store';
import { reuseOrReselect } from '../firmware';

/**
 * What happens to the store before the guest boots:
 * - `fresh`: a new copy of the pinned template (spawn, rebuild without preserve_nvram);
 * - `keep`: the store as it is; created from the template when missing, reset when its size
 *   no longer fits the template (hard reboot rules);
 * - `none`: the booted definition maps no store (a legacy BIOS rescue); the store waits.
 */
export type StorePlan = 'fresh' | 'keep' | 'none';

/** What happened to the store: kept as it was, created from the template, or reset because it no longer fit. */
export type StoreOutcome = 'kept' | 'created' | 'reset' | null;

export interface ColdBootPlan {
  /** The instance as it will boot: its firmware, store path and inputs. Written as the record. */
  rec: InstanceRecord;
  /** Start the guest after defining it. */
  start: boolean;
  /** The vm state recorded (default: `active` when started, else `stopped`). */
  vmState?: VmState;
  /** Power off and undefine (keeping NVRAM) a domain defined under the name first. */
  teardown: boolean;
  /** Re-select firmware when the pinned build vanished (power on, hard reboot). */
  reselect?: boolean;
  store: StorePlan;
  /** The flow's own store step, after teardown and before the store is checked. */
  prepareStore?: () => Promise<void>;
  /** Define this XML instead of the record's (rescue images, unrescue, the saved definition on revert). */
  xml?: string;
  /** Spawn: remove what this call created when any step fails. */
  undoOnFailure?: boolean;
}

export interface ColdBootResult {
  warnings: string[];
  store: StoreOutcome;
  /** The store's info when this call wrote it (fresh or reset), for the answer. */
  nvram?: NvramInfo;
}

/** Step 2: keep the pinned firmware unless Nova's rules re-select it. */
function reselectFirmware(core: DriverCore, rec: InstanceRecord, warnings: string[]): void {
  if (!rec.firmware) return;
  const fw = core.deps.firmware;
  const r = reuseOrReselect(rec.firmware, rec.boot, fw.refresh(), fw.host(), (p) => fw.exists(p));
  if (!r.reselected) return;
  core.deps.log.warning('firmware re-selected', { instance_uuid: rec.uuid, reason: r.reason, old_loader: rec.firmware.loader, new_loader: r.selection.loader });
  warnings.push(`firmware re-selected: ${r.reason ?? ''}`.trim());
  rec.firmware = r.selection;
  rec.nvramPath = core.storePathFor(r.selection, rec.name);
}

/** Step 4: the store ready for the firmware it boots with. */
async function readyStore(core: DriverCore, rec: InstanceRecord, plan: StorePlan, out: ColdBootResult): Promise<void> {
  const { nvram, firmware } = core.deps;
  const template = rec.firmware?.nvram_template;
  if (plan === 'none' || !rec.nvramPath || !template) return;
  if (plan === 'fresh') {
    out.nvram = await nvram.createFromTemplate(rec.nvramPath, template);
    out.store = 'created';
    return;
  }
  const [have, want] = await Promise.all([nvram.sizeOf(rec.nvramPath), firmware.fileSize(template)]);
  if (have !== null && (want === null || have === want)) {
    out.store = 'kept';
    return;
  }
  // A store that no longer fits the code build cannot be mapped; start from the template.
  if (have !== null) out.warnings.push(`variable store reset: ${have} bytes does not fit the template (${want} bytes)`);
  out.nvram = await nvram.createFromTemplate(rec.nvramPath, template);
  out.store = have === null ? 'created' : 'reset';
}

/**
 * Step 5: the queued changes, in registration order. Answers whether a hook changed the
 * record (it then has to be written again, after the store).
 */
async function applyQueued(core: DriverCore, rec: InstanceRecord, plan: StorePlan, out: ColdBootResult): Promise<boolean> {
  if (plan === 'none' || !rec.nvramPath || core.storeHooks.length === 0) return false;
  const before = JSON.stringify(rec);
  for (const hook of core.storeHooks) out.warnings.push(...(await hook(core, rec, rec.nvramPath)));
  return JSON.stringify(rec) !== before;
}

export async function coldBoot(core: DriverCore, plan: ColdBootPlan): Promise<ColdBootResult> {
  const { hv, deps } = core;
  const { rec } = plan;
  const out: ColdBootResult = { warnings: [], store: null };
  const previousState = rec.vmState;
  let defined = false;
  let recorded = false;
  try {
    if (plan.teardown) {
      await hv.destroy(rec.name);
      await hv.undefine(rec.name, { keepNvram: true });
    }
    if (plan.reselect) reselectFirmware(core, rec, out.warnings);
    if (plan.prepareStore) await plan.prepareStore();
    rec.vmState = plan.vmState ?? (plan.start ? 'active' : 'stopped');
    const xml = plan.xml ?? core.xmlFor(rec);
    // Store, definition and record do not depend on one another (libvirt opens the store only
    // at start), so the durable writes run at once and start waits for all of them.
    // The record is serialised when put() is called: the first write still holds what the
    // hooks are about to apply, so a crash before the second write re-applies (idempotent).
    let hooksChangedRecord = false;
    const steps = await Promise.allSettled([
      readyStore(core, rec, plan.store, out)
        .then(() => applyQueued(core, rec, plan.store, out))
        .then((changed) => (hooksChangedRecord = changed)),
      hv.define(xml).then(() => (defined = true)),
      deps.records.put(rec).then(() => (recorded = true)),
    ]);
    for (const s of steps) if (s.status === 'rejected') throw s.reason;
    if (hooksChangedRecord) await deps.records.put(rec);
    if (plan.start) await hv.start(rec.name);
  } catch (e) {
    if (plan.undoOnFailure) {
      deps.log.error('boot failed, removing what it created', { instance_uuid: rec.uuid, instance_name: rec.name, error: (e as Error).message });
      if (defined) {
        await hv.destroy(rec.name).catch(() => undefined);
        await hv.undefine(rec.name, { keepNvram: true }).catch(() => undefined);
      }
      if (out.store === 'created' && rec.nvramPath) await deps.nvram.remove(rec.nvramPath).catch(() => undefined);
      await deps.records.delete(rec.uuid).catch(() => undefined);
    } else if (recorded && rec.vmState !== previousState) {
      rec.vmState = previousState;
      await deps.records.put(rec).catch(() => undefined);
    }
    throw e;
  }
  return out;
}
