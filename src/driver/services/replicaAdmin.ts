/**
 * @module driver/services/replicaAdmin
 * The replicas of a store off this host through the API (`/v1/instances/{uuid}/nvram/backups`):
 * list, write one now, restore one. Implemented by driver/restore over the replica service.
 */
import type { NvramInfo } from '../../nvram/store';
import type { BackupView } from '../replicas';

export interface ReplicaAdmin {
  /** The generations in the replica store, newest first; `Invalid` (409) when replicas are not configured. */
  listNvramBackups(uuid: string): Promise<{ backups: BackupView[] }>;
  /** Write a generation now and answer once it was read back; `ReplicaUnavailable` (503) when the store fails. */
  createNvramBackup(uuid: string): Promise<{ backup: BackupView }>;
  /**
   * Replace the store with generation `generation`, verified before anything is written; shut
   * off only (`InstanceInvalidState`); `NotFound` for an unknown generation, `ReplicaCorrupt`
   * when it fails its checks, `Invalid` when its size does not fit the firmware.
   */
  restoreNvram(uuid: string, generation: number): Promise<{ restored: BackupView; nvram: NvramInfo }>;
}
