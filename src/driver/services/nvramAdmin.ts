/**
 * @module driver/services/nvramAdmin
 * NVRAM administration through the API (`/v1/instances/{uuid}/nvram...`): the raw store, its
 * variables, boot order, per-instance Secure Boot keys and reset. Not Nova's: Nova has no call
 * for a guest's variable store. Implemented by the flows in driver/nvramOps and
 * driver/secureBootOps; every method runs under the instance's lock.
 */
import type { NvramInfo } from '../../nvram/store';
import type {
  InstanceSecureBoot,
  NvramBootWrite,
  NvramEditResult,
  NvramVariableWrite,
  NvramVariables,
  PendingKeyChangeView,
  SecureBootWrite,
  SecureBootWriteResult,
} from '../contract';

export interface NvramAdmin {
  /** The raw store, a snapshot (allowed while running). `NotFound` for BIOS and stateless guests. */
  getNvram(uuid: string): Promise<{ data: Buffer; info: NvramInfo }>;
  /** Replace the store atomically: shut off only (`InstanceInvalidState`), same size only (`InvalidInput`). */
  putNvram(uuid: string, data: Buffer): Promise<NvramInfo>;
  /** Variables decoded, or in the v2 interchange format. `InvalidNVRAM` when the store does not parse. */
  listNvramVariables(uuid: string, format: 'decoded' | 'v2'): Promise<NvramVariables>;
  /** Secure Boot state and keys as the store holds them, the instance's key set and its queued changes. */
  nvramSecureBoot(uuid: string): Promise<InstanceSecureBoot>;
  /**
   * Change PK/KEK/db/dbx (key set, set, add, remove, in that order). Shut off: written at once
   * (with changes still queued before it), atomic and same size, `InvalidNVRAM` reason `full`
   * and nothing written when it does not fit. Running: `InstanceInvalidState` (409) unless
   * `queue`, then queued in the record (survives restarts, travels with cold migrations) and
   * applied by the cold-boot path before QEMU opens the store. Each bad entry is
   * `InvalidInput` naming its field; an entry already present is a no-op named in `notes`.
   */
  putNvramSecureBoot(uuid: string, body: SecureBootWrite, queue: boolean): Promise<SecureBootWriteResult>;
  /** Cancel a queued change; `NotFound` when it is not queued (unknown or already applied). */
  cancelSecureBootChange(uuid: string, changeId: string): Promise<{ pending: PendingKeyChangeView[] }>;
  /** Set one variable; shut off only; the store's size is unchanged (`InvalidNVRAM` reason `full` when it does not fit). */
  putNvramVariable(uuid: string, guid: string, name: string, body: NvramVariableWrite): Promise<NvramEditResult>;
  /** Delete one variable; shut off only. */
  deleteNvramVariable(uuid: string, guid: string, name: string): Promise<NvramEditResult>;
  /** Set BootOrder and/or BootNext; shut off only. */
  setNvramBoot(uuid: string, body: NvramBootWrite): Promise<NvramEditResult>;
  /** Back to a fresh copy of the pinned template; shut off only; `Invalid` (409) when the template is gone. */
  resetNvram(uuid: string): Promise<{ nvram: NvramInfo; template: string }>;
}
