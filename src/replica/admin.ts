/**
 * @module replica/admin
 * Replica administration through the API, in replication's own room: the backups of one
 * instance (listed, one written now) and orphaned replicas (listed, removed). What it needs of
 * the host (records, the instance's lock, a snapshot of its store) comes through `HostAccess`,
 * which the driver hands it; the driver's restore of a generation is a flow of the driver's
 * (driver/restore), since it rewrites the local store.
 *
 * Orphaned replicas: generations (and claims) in the replica store whose instance no longer
 * exists anywhere, listed and, on request, removed.
 *
 * An instance in the store is orphaned when all of these hold:
 *   - this host has no record of it (not even a store kept by `destroy_disks=False`) and keeps
 *     no replica state for it, except `deleting` (a delete whose removal is still pending);
 *   - its newest generation is not a shelve generation (a shelved-offloaded instance lives in
 *     Nova alone: unshelve restores it);
 *   - a tombstone says it was destroyed without Nova's task state (on this host, or on any
 *     host sharing the store: `replica/generations` keeps them there) and no generation was
 *     claimed after it (a later claim means the instance lives again, wherever that is).
 * Anything else is kept, with the reason: an instance that merely lives on another host, or
 * that was destroyed before tombstones were recorded, is never guessed to be gone. A Nova
 * delete removes its replicas itself and leaves no orphan.
 *
 * `prune` re-checks each instance under its lock just before removing it, removes every
 * generation, claim and tombstone (`ReplicaLog.deleteAll`), drops this host's tombstone and
 * logs each removal. Without `dryRun: false` it only says what it would remove.
 */
import { Invalid, InstanceNotFound } from '../errors';
import type { FirmwareSelection } from '../firmware/types';
import type { InstanceRecord, RecordStore } from '../state/records';
import type { Logger } from '../util/log';
import type { KeyedMutex } from '../util/mutex';
import type { ReplicaService } from './scheduler';
import { backupView, type BackupView } from './views';

/** What replica administration needs of the host: given by the driver (one per request: `log` is the request's). */
export interface HostAccess {
  records: RecordStore;
  /** The driver's per-instance locks (a removal is re-checked under the instance's). */
  locks: KeyedMutex;
  /** The instance's store as it is now, with its pinned firmware (`NotFound` without a store). */
  snapshot(uuid: string): Promise<{ content: Buffer; firmware: FirmwareSelection | null }>;
  log: Logger;
}

export interface OrphanView {
  instance_uuid: string;
  generations: number[];
  claims: number[];
  /** The host that claimed the newest generation. */
  owner: string | null;
  why: string;
}

export interface KeptView {
  instance_uuid: string;
  why: string;
}

export interface OrphanList {
  backend: string;
  orphans: OrphanView[];
  kept: KeptView[];
}

export interface PruneResult {
  dry_run: boolean;
  orphans: OrphanView[];
  removed: { instance_uuid: string; objects: number }[];
}

/** The replica service, or `Invalid` (409) when `[replica] backend = none`. */
export function replicasOrRefuse<S>(svc: S | null | undefined): S {
  if (!svc) throw new Invalid('NVRAM replicas are not configured on this host ([replica] backend = none)', undefined, 409);
  return svc;
}

/** One instance: orphaned (with its generations and claims) or kept (with why). */
async function judge(host: HostAccess, svc: ReplicaService, uuid: string): Promise<OrphanView | KeptView> {
  const rec: Readonly<InstanceRecord> | null = await host.records.peek(uuid).catch(() => null);
  if (rec) return { instance_uuid: uuid, why: `this host has a record of it (${rec.vmState})` };
  const state = svc.stateName(uuid);
  if (state && state !== 'deleting') return { instance_uuid: uuid, why: `this host replicates it (${state})` };
  const log = svc.generations;
  const [gens, claims, stones, local] = await Promise.all([log.list(uuid), log.claims(uuid), log.tombstones(uuid), svc.localTombstone(uuid)]);
  const top = claims.reduce((n, c) => Math.max(n, c.generation), 0);
  const newest = gens[gens.length - 1];
  const owner = claims.find((c) => c.generation === top)?.owners[0] ?? newest?.host ?? null;
  const base = { instance_uuid: uuid, generations: gens.map((g) => g.generation), claims: claims.map((c) => c.generation), owner };
  if (state === 'deleting') return { ...base, why: 'deleted on this host; the removal of its replicas is still pending' };
  if (newest?.reason === 'shelve') return { instance_uuid: uuid, why: `shelved (generation ${newest.generation} by ${newest.host}): unshelve restores it` };
  const all = [...stones, ...(local ? [local] : [])];
  const dead = all.filter((t) => t.generation >= top).sort((a, b) => (a.time < b.time ? 1 : -1))[0];
  if (dead) return { ...base, why: `destroyed on ${dead.host} at ${dead.time} without Nova's task state; nothing claimed since` };
  if (all.length)
    return { instance_uuid: uuid, why: `destroyed without task state, but generation ${top} was claimed later (by ${owner ?? '?'}): it lives again` };
  return { instance_uuid: uuid, why: `no record on this host and no tombstone: it may live on ${owner ?? 'another host'} or be shelved` };
}

const isOrphan = (v: OrphanView | KeptView): v is OrphanView => 'generations' in v;

/** Every instance in the replica store: orphaned, or kept with why. */
export async function listOrphans(svc: ReplicaService, host: HostAccess): Promise<OrphanList> {
  const out: OrphanList = { backend: svc.backend, orphans: [], kept: [] };
  for (const uuid of await svc.generations.instances()) {
    const v = await judge(host, svc, uuid);
    if (isOrphan(v)) out.orphans.push(v);
    else out.kept.push(v);
  }
  return out;
}

/** Remove the orphans (only `instances` when given); each re-checked under the instance's lock. */
export async function pruneOrphans(svc: ReplicaService, host: HostAccess, opts: { dryRun: boolean; instances?: readonly string[] }): Promise<PruneResult> {
  const listed = await listOrphans(svc, host);
  const wanted = opts.instances ? new Set(opts.instances) : null;
  if (wanted) {
    const known = new Set(listed.orphans.map((o) => o.instance_uuid));
    const notOrphan = [...wanted].filter((u) => !known.has(u));
    if (notOrphan.length) {
      const why = (u: string) => listed.kept.find((k) => k.instance_uuid === u)?.why ?? 'nothing of it in the replica store';
      throw new Invalid(`not orphaned: ${notOrphan.map((u) => `${u} (${why(u)})`).join('; ')}`, undefined, 409);
    }
  }
  const orphans = listed.orphans.filter((o) => !wanted || wanted.has(o.instance_uuid));
  const result: PruneResult = { dry_run: opts.dryRun, orphans, removed: [] };
  if (opts.dryRun) return result;
  const log = host.log;
  for (const o of orphans) {
    await host.locks.run(o.instance_uuid, async () => {
      const again = await judge(host, svc, o.instance_uuid);
      if (!isOrphan(again)) {
        log.warning('orphaned replicas not removed: no longer orphaned', { instance_uuid: o.instance_uuid, why: again.why });
        return;
      }
      const objects = await svc.deleteAll(o.instance_uuid);
      await svc.dropTombstone(o.instance_uuid);
      log.info('orphaned replicas removed', {
        instance_uuid: o.instance_uuid,
        generations: again.generations,
        claims: again.claims,
        objects,
        why: again.why,
        backend: svc.backend,
      });
      result.removed.push({ instance_uuid: o.instance_uuid, objects });
    });
  }
  return result;
}

/** The generations in the replica store, newest first (also for an instance shelved off this host). */
export async function listBackups(svc: ReplicaService, host: HostAccess, uuid: string): Promise<{ backups: BackupView[] }> {
  const backups = await svc.list(uuid);
  // A shelved-offloaded instance has no record here but has backups: list them anyway.
  if (!backups.length && !(await host.records.peekLive(uuid))) throw new InstanceNotFound(uuid);
  return { backups };
}

/** Write a generation of the store now; answers once it was read back. */
export async function createBackup(svc: ReplicaService, host: HostAccess, uuid: string): Promise<{ backup: BackupView }> {
  const { content, firmware } = await host.snapshot(uuid);
  const w = await svc.writeNow(uuid, content, firmware, 'manual');
  return { backup: backupView(w.header, w.objectBytes) };
}

/** Every instance with replicas in the replica store (any host's); none when replicas are not configured. */
export async function replicaInstances(svc: Pick<ReplicaService, 'instances'> | null): Promise<{ configured: boolean; instances: string[] }> {
  return svc ? { configured: true, instances: await svc.instances() } : { configured: false, instances: [] };
}
