/**
 * @module replica/views
 * Replication as the API shows it: an instance's replica state (`nvram.replica` of get_info),
 * the generation a spawn restored, and one generation in the backups listing.
 */
import type { ReplicaStateName } from '../state/replicas';
import type { GenerationReason, ReplicaHeader } from './format';
import type { ReadResult } from './generations';

/** What get_info shows as `nvram.replica`. */
export interface ReplicaView {
  state: ReplicaStateName | 'none';
  generation: number | null;
  time: string | null;
  age_seconds: number | null;
  error?: string;
  owner?: string;
  restored?: RestoredView;
}

/** The generation a spawn restored (unshelve, evacuate): the recovery point. */
export interface RestoredView {
  generation: number;
  time: string;
  age_seconds: number;
  host: string;
  reason: string;
  skipped: { generation: number; error: string }[];
}

export interface BackupView {
  generation: number;
  sha256: string;
  size: number;
  time: string;
  host: string;
  reason: GenerationReason;
  key_id: string;
  stored_bytes: number;
  loader: string | null;
  nvram_template: string | null;
}

export function ageOf(time: string | null, now = Date.now()): number | null {
  return time ? Math.max(0, Math.round((now - Date.parse(time)) / 1000)) : null;
}

/** A generation's header as the backups listing shows it. */
export function backupView(h: ReplicaHeader, storedBytes: number): BackupView {
  return {
    generation: h.generation,
    sha256: h.sha256,
    size: h.size,
    time: h.time,
    host: h.host,
    reason: h.reason,
    key_id: h.key_id,
    stored_bytes: storedBytes,
    loader: h.firmware?.loader ?? null,
    nvram_template: h.firmware?.nvram_template ?? null,
  };
}

/** The generation a spawn restored (unshelve, evacuate), as its answer shows it. */
export function restoredView(r: ReadResult): RestoredView {
  return {
    generation: r.entry.generation,
    time: r.header.time,
    age_seconds: ageOf(r.header.time) ?? 0,
    host: r.header.host,
    reason: r.header.reason,
    skipped: r.skipped,
  };
}
