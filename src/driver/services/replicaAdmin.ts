/**
 * @module driver/services/replicaAdmin
 * The replicas of a store off this host through the API (`/v1/instances/{uuid}/nvram/backups`):
 * list, write one now, restore one; orphaned replicas (`/v1/host/replicas/orphans`). Implemented by
 * replica/admin (listing, backing up now, orphans) and driver/restore (a restore rewrites the local store).
 */
import type { NvramInfo } from '../../nvram/store';
import type { BackupView } from '../../replica/views';
import type { OrphanList, PruneResult } from '../../replica/admin';

export interface ReplicaAdmin {
  /** The generations in the replica store, newest first; `Invalid` (409) when replicas are not configured. */
  listNvramBackups(uuid: string): Promise<{ backups: BackupView[] }>;
  /** Write a generation now and answer once it was read back; `ReplicaUnavailable` (503) when the store fails. */
  createNvramBackup(uuid: string): Promise<{ backup: BackupView }>;
  /**
   * Replace the store with generation `generation`, verified before anything is written; shut
   * off only (`InstanceInvalidState`); `NotFound` for an unknown generation, `ReplicaCorrupt`
   * when it fails its checks, `Invalid` when its size does not fit the firmware. An instance
   * with no store here: the generation is pinned for its next unshelve or evacuate instead
   * (`pinned`, `nvram` null).
   */
  restoreNvram(uuid: string, generation: number): Promise<{ restored: BackupView; nvram: NvramInfo | null; pinned?: boolean }>;
  /** Instances in the replica store that no longer exist anywhere, and the ones kept with why (replica/admin). */
  listOrphanedReplicas(): Promise<OrphanList>;
  /** Remove orphaned replicas (`dryRun` only lists them); each re-checked under its instance's lock, each removal logged. */
  pruneOrphanedReplicas(opts: { dryRun: boolean; instances?: readonly string[] }): Promise<PruneResult>;
}
