/**
 * @module driver/recovery
 * Start-up recovery of the migration journals a stopped sidecar left open (SIGKILL, a host
 * crash, or a SIGTERM whose `[api] shutdown_timeout` cut a flow). Modelled on Nova's own
 * `ComputeManager._init_instance`, which on start reverts a resize caught in
 * RESIZE_MIGRATING ("we crashed during resize/migration, so roll back for safety"): what only
 * this host decides is finished or undone here, through the same flow code Nova's calls use;
 * what Nova may still be acting on is left for Nova's next call, which completes it from the
 * journal as every step already does.
 *
 * Cold migration, source side:
 * - `stashing`, `stashed`: migrate_disk_and_power_off never answered Nova, so no destination
 *   was told to finish: revert (the stash, byte-identical to the store at power-off, restored,
 *   the saved definition back, started when it was running). A guest still running in
 *   `stashing` was never stopped: only the journal is closed.
 * - `sent`: the destination holds a verified copy and Nova may be finishing there: left for
 *   confirm_migration or finish_revert_migration.
 * - `confirmed`: Nova confirmed; the source's clean-up is completed.
 * - `reverting`: Nova asked for the revert; it is completed.
 * - `reverted`: the stash and the journal are removed.
 * Destination side, and live migrations on either side: left for Nova's next call (or the
 * revert/rollback): finishing needs what only Nova has (image, flavor, migrate_data).
 */
import type { DriverCore, MigrationDeps } from './core';
import type { JournalStatus, MigrationKind, Role } from '../state/journal';
import { PowerState } from '../nova/powerState';
import { completeConfirm, revertSource } from './coldMigration';

/** What recovery did with one journal. */
export interface RecoveryOutcome {
  instance_uuid: string;
  role: Role;
  kind: MigrationKind;
  /** The status found at start. */
  status: JournalStatus;
  /** `reverted` / `confirmed`: completed here; `closed`: only leftovers removed; `left`: waits for Nova; `failed`: see detail. */
  action: 'reverted' | 'confirmed' | 'closed' | 'left' | 'failed';
  detail: string;
}

/** Recover one journal; the caller holds the instance's lock. */
export async function recoverJournal(core: DriverCore, md: MigrationDeps, uuid: string, role: Role): Promise<RecoveryOutcome | null> {
  const j = await md.journals.get(uuid, role);
  if (!j) return null;
  const found = j.status;
  const out = (action: RecoveryOutcome['action'], detail: string): RecoveryOutcome => ({
    instance_uuid: uuid,
    role,
    kind: j.kind,
    status: found,
    action,
    detail,
  });
  if (j.role !== 'source' || j.kind !== 'cold') return out('left', "waits for Nova's next call (finish, revert or rollback)");
  switch (j.status) {
    case 'stashing':
    case 'stashed': {
      if (j.status === 'stashing' && (await core.hv.getInfo(j.name))?.state === PowerState.RUNNING) {
        await md.journals.put(j, 'reverting');
        await md.journals.put(j, 'reverted');
        if (j.stash_path) await core.deps.nvram.remove(j.stash_path);
        await md.journals.delete(uuid, 'source');
        return out('closed', 'the guest was never stopped: journal closed, guest left running');
      }
      if (!j.record) return out('left', 'no saved record to revert to');
      await revertSource(core, md, uuid, j, j.record, j.record.vmState === 'active');
      return out('reverted', 'migrate_disk_and_power_off was cut before it answered: reverted to this host');
    }
    case 'confirmed':
      await completeConfirm(core, md, uuid, j, undefined, j.same_host);
      return out('confirmed', "Nova's confirm_migration completed");
    case 'reverting':
      if (!j.record) return out('left', 'no saved record to revert to');
      await revertSource(core, md, uuid, j, j.record, j.record.vmState === 'active');
      return out('reverted', "Nova's finish_revert_migration completed");
    case 'reverted':
      if (j.stash_path) await core.deps.nvram.remove(j.stash_path);
      await md.journals.delete(uuid, 'source');
      return out('closed', 'revert was complete: stash and journal removed');
    default:
      return out('left', 'the destination holds the store: waits for confirm_migration or finish_revert_migration');
  }
}

/**
 * Start-up recovery of every open migration journal, one at a time, each under its instance's
 * lock (`locked`: a Nova call for the instance waits for it). A journal that cannot be
 * recovered is logged and reported as `failed`; the others go on.
 */
export async function recoverJournals(
  core: DriverCore,
  md: MigrationDeps | undefined,
  locked: (uuid: string, fn: (uuid: string) => Promise<RecoveryOutcome | null>) => Promise<RecoveryOutcome | null>,
): Promise<RecoveryOutcome[]> {
  if (!md) return [];
  const out: RecoveryOutcome[] = [];
  for (const s of await md.journals.summaries()) {
    try {
      const r = await locked(s.instance_uuid, (u) => recoverJournal(core, md, u, s.role));
      if (r) out.push(r);
    } catch (e) {
      out.push({ ...s, action: 'failed', detail: (e as Error).message });
    }
  }
  for (const r of out) {
    const fields = { instance_uuid: r.instance_uuid, role: r.role, kind: r.kind, status: r.status, action: r.action, detail: r.detail };
    if (r.action === 'failed') core.deps.log.error('migration journal not recovered', fields);
    else core.deps.log[r.action === 'left' ? 'warning' : 'info']('migration journal recovered at start', fields);
  }
  return out;
}
