/**
 * @module driver/restore
 * The flows that need a store from off this host: shelve-offload (the shelve generation is
 * written and read back before the local store goes), unshelve and evacuate (the newest good
 * generation restored through spawn, and so through the cold-boot path), a point-in-time
 * restore of one generation, and the backups listing. Which destroy is which comes from
 * Nova's instance as the proxy sends it (`task_state`, `vm_state`, `host`).
 *
 * Nova's compute manager (nova-integration.md §2): shelve-offload calls `destroy`; unshelve
 * calls `spawn` on whatever host the scheduler picks; evacuate spawns on the new host
 * (`_rebuild_default_impl`, evacuate=True) while the source is down; when the source comes
 * back, `_destroy_evacuated_instances` calls `destroy` there with `instance.host` naming the
 * new host. A real delete runs with task_state `deleting`.
 */
import type { DriverCore } from './core';
import type { DestroyArgs, Done, InstanceView, SpawnArgs } from './contract';
import { backupView, restoredView, type BackupView } from '../replica/views';
import { replicasOrRefuse, type HostAccess } from '../replica/admin';
import type { InstanceToDestroy } from '../nova/objects';
import type { ParsedInstance } from '../nova/instance';
import type { NvramInfo } from '../nvram/store';
import { Invalid, NotFound, isNovaError } from '../errors';
import { ReplicaUnavailable } from '../replica';
import * as lifecycle from './lifecycle';
import { requireShutOff, storeOf } from './nvramOps';
import type { DestroyKind } from '../events';

/** Nova task and vm states the flows below key on (nova/compute/task_states.py, vm_states.py). */
const SHELVING_OFFLOADING = 'shelving_offloading';
const UNSHELVING = 'unshelving';
const SHELVED_OFFLOADED = 'shelved_offloaded';
const DELETING = 'deleting';
const DELETED = 'deleted';
const REBUILDING = 'rebuilding';

export type { DestroyKind } from '../events';

/** What a destroy is for, from the instance Nova passed. */
export function destroyKind(instance: InstanceToDestroy | undefined, thisHost: string): DestroyKind {
  const host = instance?.host;
  if (host && host !== thisHost) return 'evacuated-source';
  if (instance?.task_state === SHELVING_OFFLOADING) return 'shelve-offload';
  if (instance?.task_state === DELETING || instance?.vm_state === DELETED) return 'delete';
  // Nova's default rebuild destroys, then spawns here again: this host stays the writer.
  if (instance?.task_state === REBUILDING) return 'rebuild';
  return 'other';
}

/** Whether a spawn restores a replica, and why. */
export function spawnRestores(a: SpawnArgs): 'unshelve' | 'evacuate' | null {
  if (a.evacuate === true) return 'evacuate';
  if (a.instance.task_state === UNSHELVING || a.instance.vm_state === SHELVED_OFFLOADED) return 'unshelve';
  return null;
}

/** What replica administration (replica/admin) may use of this host, with the request's log. */
export function hostAccess(core: DriverCore): HostAccess {
  return {
    records: core.deps.records,
    locks: core.locks,
    log: core.deps.log,
    async snapshot(uuid) {
      const { rec, path } = await storeOf(core, uuid);
      return { content: await core.deps.nvram.read(path), firmware: rec.firmware };
    },
  };
}

/**
 * Unshelve or evacuate: the newest generation that decodes becomes the store the guest boots
 * with. Refused with nothing created when the replica store cannot be read or holds only
 * objects this host cannot decrypt; a spawn from the template (with a warning) when the
 * instance has no replica at all.
 */
export async function spawnRestoring(core: DriverCore, p: ParsedInstance, a: SpawnArgs, kind: 'unshelve' | 'evacuate'): Promise<InstanceView> {
  const uuid = p.uuid;
  const svc = core.replicas;
  if (!svc) return lifecycle.spawn(core, p, a);
  const log = core.deps.log;
  const r = await svc.newest(uuid);
  if (!r) {
    const view = await lifecycle.spawn(core, p, a);
    await core.announce({ kind: 'arrived', uuid, via: kind, restored: null });
    log.warning('no nvram replica to restore: the store starts from the template', { instance_uuid: uuid, kind, backend: svc.backend });
    view.warnings.push(`no replica of the variable store in ${svc.backend}: it starts from the template`);
    return view;
  }
  if (r.pinned) {
    log.warning("nvram restore: an older generation than the newest, at an operator's request", {
      instance_uuid: uuid,
      kind,
      generation: r.entry.generation,
      passed_over: r.skipped.map((s) => s.generation),
      pinned_by: r.pinned.by,
      pinned_at: r.pinned.time,
    });
    svc.countOlderRestore('pinned');
  }
  const view = await lifecycle.spawn(core, p, a, { store: r.store, firmware: r.header.firmware });
  await core.announce({ kind: 'arrived', uuid, via: kind, restored: r });
  const restored = restoredView(r);
  log.info('nvram restored from replica', {
    instance_uuid: uuid,
    kind,
    generation: restored.generation,
    age_seconds: restored.age_seconds,
    written_by: restored.host,
    written_at: restored.time,
    sha256: r.header.sha256,
  });
  view.warnings.push(
    ...r.skipped.map((s) => `replica generation ${s.generation} ${s.error}; restored generation ${r.entry.generation} instead`),
    `variable store restored from replica generation ${restored.generation} written by ${restored.host} at ${restored.time} (${restored.age_seconds} s ago)`,
  );
  if (view.nvram) view.nvram.replica = { ...svc.view(uuid), restored };
  return view;
}

/**
 * Shelve-offload: the domain stops, the shelve generation is written and read back, then the
 * local store, domain and record go (`lifecycle.destroy`). When the generation cannot be
 * written the destroy is refused and everything local is kept.
 */
export async function shelveOffload(core: DriverCore, p: ParsedInstance, a: DestroyArgs): Promise<Done> {
  const uuid = p.uuid;
  replicasOrRefuse(core.replicas); // Invalid (409) when replicas are not configured
  const rec = await core.deps.records.live(uuid);
  if (rec?.nvramPath) {
    // QEMU must not write the store while its last generation is taken.
    await core.hv.destroy(rec.name);
    const content = await core.deps.nvram.read(rec.nvramPath).catch(() => null);
    if (content) {
      try {
        await core.announce({ kind: 'shelving', uuid, content, firmware: rec.firmware });
      } catch (e) {
        const why = `shelve-offload of ${uuid} refused: the final generation of its variable store could not be written and read back (${(e as Error).message}); the local store ${rec.nvramPath} is kept`;
        throw isNovaError(e) ? e.restated(why) : new ReplicaUnavailable(why, { cause: e });
      }
      core.crashPoint('shelve:written-before-destroy');
    }
  }
  const done = await lifecycle.destroy(core, p, a);
  await core.announce({ kind: 'left', uuid });
  return done;
}

/** After a destroy: announced, so replication decides what becomes of the replicas. */
export async function afterDestroy(core: DriverCore, uuid: string, a: DestroyArgs, kind: DestroyKind): Promise<void> {
  await core.announce({
    kind: 'destroyed',
    uuid,
    why: kind,
    destroyDisks: a.destroy_disks !== false,
    nowOn: a.instance.host ?? undefined,
    // Nova's own destroys name their task; one without (an operator's call, an old proxy) does not.
    untracked: !a.instance?.task_state && a.instance?.vm_state !== 'deleted',
  });
}

/**
 * Point-in-time restore of one generation while the guest is shut off. For an instance with no
 * store on this host (shelved-offloaded, or waiting for an evacuation), the operator's choice
 * is recorded instead (`pinned`): the next unshelve or evacuate, on whichever host, restores
 * that generation. A generation older than the newest is logged and counted either way.
 */
export async function restoreGeneration(
  core: DriverCore,
  uuid: string,
  generation: number,
): Promise<{ restored: BackupView; nvram: NvramInfo | null; pinned?: boolean }> {
  const svc = replicasOrRefuse(core.replicas);
  const log = core.deps.log;
  const rec = await core.deps.records.get(uuid);
  if (!rec) {
    const r = await svc.pin(uuid, generation, `restore_nvram on ${core.deps.config.DEFAULT.host}`);
    log.warning("nvram restore pinned: the next unshelve or evacuate restores this generation, at an operator's request", {
      instance_uuid: uuid,
      generation,
      newer: r.skipped.map((s) => s.generation),
    });
    return { restored: backupView(r.header, r.storedBytes), nvram: null, pinned: true };
  }
  const { path } = await storeOf(core, uuid);
  await requireShutOff(core, rec, 'restore the variable store');
  const got = await svc.read(uuid, generation);
  if (!got) throw new NotFound(`Instance ${uuid} has no replica generation ${generation}.`);
  const cur = await core.deps.nvram.sizeOf(path);
  if (cur !== null && cur !== got.header.size) {
    throw new Invalid(
      `replica generation ${generation} holds a ${got.header.size}-byte store; the instance's firmware maps ${cur} bytes (another firmware build)`,
      undefined,
      409,
    );
  }
  const highest = await svc.highest(uuid);
  await core.deps.nvram.writeBytes(path, got.store);
  const info = (await core.deps.nvram.info(path)) as NvramInfo;
  if (generation < highest) {
    log.warning("variable store restored from an older replica generation than the newest, at an operator's request", {
      instance_uuid: uuid,
      generation,
      newest: highest,
      written_at: got.header.time,
    });
    svc.countOlderRestore('point-in-time');
  } else log.info('variable store restored from replica', { instance_uuid: uuid, generation, written_at: got.header.time, sha256: got.header.sha256 });
  await core.announce({ kind: 'store-changed', uuid, why: 'restore' });
  return { restored: backupView(got.header, got.storedBytes), nvram: info };
}
