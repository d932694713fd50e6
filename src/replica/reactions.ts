/**
 * @module replica/reactions
 * What replication does about each announcement of the driver's flows (events): the one place
 * where "something happened to an instance" becomes "write, adopt, forget or delete its
 * replicas". The driver subscribes the listener once (`ShimDriver`) and never calls the
 * scheduler's verbs itself.
 *
 * Generations are queued, never awaited, except the shelve generation, read back before the
 * local store may go (a failure fails the shelve-offload, so the local store is kept).
 */
import type { InstanceEvent, Listener } from '../events';
import type { Logger } from '../util/log';
import type { ReplicaService } from './scheduler';

/** The listener replication subscribes to the driver's announcements with; `log` is the announcing request's. */
export function replicationListener(svc: ReplicaService): Listener {
  return async function reactToInstanceEvent(e: InstanceEvent, log: Logger): Promise<void> {
    switch (e.kind) {
      case 'store-changed':
        return svc.enqueue(e.uuid, e.why, e.why === 'restore' ? { force: true } : {});
      case 'rebuilt':
        return svc.enqueue(e.uuid, 'spawn');
      case 'leaving':
        // A generation of the final store before it leaves this host (cold: forced, it is the last one here).
        return svc.enqueue(e.uuid, 'move', e.how === 'cold' ? { content: e.content, force: true } : {});
      case 'arrived':
        // Nova put the instance here: this host writes its generations from now on.
        return svc.adopt(e.uuid, e.restored ?? null, e.via);
      case 'resize-reverted':
        // The destination took the replicas over when the migration finished there: this host,
        // the instance's home again, takes them back (a forced generation in the background).
        return svc.adopt(e.uuid, null, 'move');
      case 'shelving': {
        const w = await svc.writeNow(e.uuid, e.content, e.firmware, 'shelve');
        log.info('shelve generation written and read back', { instance_uuid: e.uuid, generation: w.generation, sha256: w.header.sha256 });
        return;
      }
      case 'left':
        return svc.forget(e.uuid);
      case 'destroyed':
        return destroyed(svc, e, log);
    }
  };
}

/** After a destroy: what becomes of the replicas. */
async function destroyed(svc: ReplicaService, e: Extract<InstanceEvent, { kind: 'destroyed' }>, log: Logger): Promise<void> {
  const uuid = e.uuid;
  if (e.why === 'delete') {
    if (svc.isFenced(uuid)) {
      log.warning('delete: replicas left alone, another host owns them', { instance_uuid: uuid });
      await svc.forget(uuid);
      return;
    }
    try {
      const n = await svc.deleteAll(uuid);
      log.info('nvram replicas deleted', { instance_uuid: uuid, objects: n });
    } catch (err) {
      // Nova's delete goes on; the deletion is remembered and retried until the store answers.
      log.error('nvram replicas could not be deleted yet; retried with back-off', {
        instance_uuid: uuid,
        error: (err as Error).message,
        backend: svc.backend,
      });
    }
    return;
  }
  if (e.why === 'evacuated-source') {
    log.info('destroy of an instance evacuated from here: its replicas and its store elsewhere are left alone', { instance_uuid: uuid, now_on: e.nowOn });
  }
  // A destroy Nova named no task for leaves replicas nobody asks for again: a tombstone lets
  // `replicas prune` tell them from replicas of an instance that lives elsewhere.
  if (e.why === 'other' && e.destroyDisks && e.untracked) {
    const t = await svc.recordDestroy(uuid).catch((err: unknown) => {
      log.warning('destroy without task state not recorded', { instance_uuid: uuid, error: (err as Error).message });
      return null;
    });
    if (t)
      log.info('destroy without task state recorded: its replicas are orphaned unless the instance comes back', {
        instance_uuid: uuid,
        generation: t.generation,
      });
  }
  // A rebuild's destroy keeps the replica state: the spawn that follows writes the next
  // generation as the same owner (forgotten, it would be fenced by its own history).
  if (e.destroyDisks && e.why !== 'rebuild') await svc.forget(uuid);
}
