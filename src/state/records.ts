/**
 * @module state/records
 * The sidecar's own per-instance records (pinned firmware, NVRAM path, vm state, the request
 * inputs needed to regenerate XML), one JSON file per instance under `<state_dir>/instances`,
 * written atomically so they survive a sidecar restart or crash.
 */
import * as path from 'node:path';
import { JsonDir } from '../util/jsonDir';
import type { FirmwareSelection, BootRequest } from '../firmware/types';
import type { ImageProps } from '../nova/objects';
import { validateUuid } from '../nova/ids';
import type { KeyChange } from '../varstore';

/**
 * The states a record is in, each set by a flow: `active` (running), `stopped`, `rescued`,
 * and `deleted-kept`, the tombstone `destroy(destroy_disks=False)` leaves (the record and
 * store kept for a later spawn; not an instance). Readers that want instances read through
 * the live reads (`live`, `peekLive`, `liveSummaries`, `isLive`), never the state itself.
 */
export type VmState = 'active' | 'stopped' | 'rescued' | typeof TOMBSTONE;
/** The state of a kept record (see `VmState`). */
export const TOMBSTONE = 'deleted-kept';

/** True when `r` is an instance of this host (a record, and not the tombstone). */
export function isLive<R extends Pick<InstanceRecord, 'vmState'>>(r: R | null | undefined): r is R {
  return !!r && r.vmState !== TOMBSTONE;
}

export interface InstanceRecord {
  uuid: string;
  id?: number;
  name: string;
  vmState: VmState;
  /** null for BIOS guests. */
  firmware: FirmwareSelection | null;
  /** Absolute NVRAM path; null for BIOS and stateless guests. */
  nvramPath: string | null;
  boot: BootRequest;
  imageProps: ImageProps;
  flavorExtraSpecs: Record<string, string>;
  vcpus: number;
  memoryMb: number;
  systemMetadata: Record<string, string>;
  /** Nova's base guest XML if the proxy sent one. */
  baseXml?: string;
  /** XML to restore on unrescue. */
  unrescueXml?: string;
  /** The migration that brought the instance here (finish_migration, post_live_migration_at_destination). */
  lastMigration?: string;
  /** Secure Boot key set and queued key changes (driver/secureBootOps). */
  secureBoot?: SecureBootState;
  createdAt: string;
  updatedAt: string;
}

/** A Secure Boot key change waiting for the instance's next cold boot (queued while it ran). */
export interface PendingKeyChange {
  id: string;
  queued_at: string;
  /** Who asked: the API, spawn (the flavor's or image's key set), or a fleet rotation. */
  source: 'api' | 'spawn' | 'rotation';
  /** The key set this change enrolls, if it does. */
  keyset: string | null;
  rotation: string | null;
  changes: KeyChange[];
}

/** What happened to a queued change (kept for rotations' progress; the newest few). */
export interface AppliedKeyChange {
  id: string;
  rotation: string | null;
  at: string;
  outcome: 'applied' | 'unchanged' | 'failed';
  detail?: string;
}

/** The instance's Secure Boot keys as the sidecar manages them. Travels with the record. */
export interface SecureBootState {
  /** The key set last enrolled; null when keys were set otherwise. */
  keyset: string | null;
  /** Changes for the next cold boot, in order. */
  pending: PendingKeyChange[];
  /** The latest applied (or failed) queued changes, newest last. */
  applied: AppliedKeyChange[];
}

export type RecordSummary = Pick<InstanceRecord, 'uuid' | 'name' | 'vmState'>;
export type SecureBootRecordSummary = RecordSummary & {
  nvramPath: string | null;
  secure: boolean;
  keyset: string | null;
  /** Queued changes, and when the oldest of them was queued (ISO; null when none). */
  pending: number;
  pendingSince: string | null;
};

function secureBootSummaryOf(r: InstanceRecord): SecureBootRecordSummary {
  return Object.freeze({
    uuid: r.uuid,
    name: r.name,
    vmState: r.vmState,
    nvramPath: r.nvramPath,
    secure: r.firmware?.secure ?? false,
    keyset: r.secureBoot?.keyset ?? null,
    pending: r.secureBoot?.pending.length ?? 0,
    pendingSince: r.secureBoot?.pending.reduce<string | null>((a, p) => (a === null || p.queued_at < a ? p.queued_at : a), null) ?? null,
  });
}

export class RecordStore {
  private readonly docs: JsonDir<InstanceRecord>;
  constructor(stateDir: string) {
    this.docs = new JsonDir(path.join(path.resolve(stateDir), 'instances'));
  }

  init(): Promise<void> {
    return this.docs.init();
  }

  get(uuid: string): Promise<InstanceRecord | null> {
    return this.docs.read(validateUuid(uuid));
  }

  /** The record for reading only (deep-frozen, shared while unchanged: see `JsonDir.peek`). */
  peek(uuid: string): Promise<Readonly<InstanceRecord> | null> {
    return this.docs.peek(validateUuid(uuid));
  }

  /** The instance's record; null when there is none or only the tombstone. */
  async live(uuid: string): Promise<InstanceRecord | null> {
    const r = await this.get(uuid);
    return isLive(r) ? r : null;
  }

  /** `live` for reading only (see `peek`). */
  async peekLive(uuid: string): Promise<Readonly<InstanceRecord> | null> {
    const r = await this.peek(uuid);
    return isLive(r) ? r : null;
  }

  /** Keep `rec` as the tombstone (destroy without its disks): the store stays for a later spawn. */
  keep(rec: InstanceRecord): Promise<void> {
    rec.vmState = TOMBSTONE;
    return this.put(rec);
  }

  async put(rec: InstanceRecord): Promise<void> {
    rec.updatedAt = new Date().toISOString();
    await this.docs.write(validateUuid(rec.uuid), rec);
  }

  delete(uuid: string): Promise<void> {
    return this.docs.remove(validateUuid(uuid));
  }

  /** Every readable record, in key order (unreadable ones are skipped). */
  async list(): Promise<InstanceRecord[]> {
    const docs = await this.docs.readMany(await this.docs.keys());
    return docs.filter((r): r is InstanceRecord => r !== null);
  }

  /** What the Secure Boot inventory needs of every readable record, in key order (remembered per unchanged record). */
  async secureBootSummaries(): Promise<SecureBootRecordSummary[]> {
    const docs = await this.docs.readManyPicked(await this.docs.keys(), secureBootSummaryOf);
    return docs.filter((r): r is SecureBootRecordSummary => isLive(r));
  }

  /** `summaries` of the instances (tombstones left out). */
  async liveSummaries(): Promise<RecordSummary[]> {
    return (await this.summaries()).filter((r) => isLive(r));
  }

  /** uuid, name and vm state of every readable record, in key order: `list` without holding whole records. */
  async summaries(): Promise<RecordSummary[]> {
    const docs = await this.docs.readMany(await this.docs.keys(), (r): RecordSummary => ({ uuid: r.uuid, name: r.name, vmState: r.vmState }));
    return docs.filter((r): r is RecordSummary => r !== null);
  }
}
