/**
 * @module state/journal
 * One small journal per migration per side (`<state_dir>/migrations/<uuid>.<role>.json`),
 * written atomically *before* the side effect each status announces, so a sidecar killed at
 * any step finds, on the next Nova call, what was done and what remains.
 *
 * Source: stashing → stashed → sent → confirmed | reverted   (cold)
 *         live-prepared → live-migrated → live-verified → live-cleaned | rolled-back   (live)
 * Destination: staged → active → removed (cold);  live-staged → live-active → removed (live)
 */
import * as path from 'node:path';
import { JsonDir } from './jsonDir';
import type { FirmwareSelection } from '../firmware/types';
import type { InstanceRecord } from './records';
import { validateUuid } from './records';

export type Role = 'source' | 'dest';

export interface MigrationJournal {
  instance_uuid: string;
  role: Role;
  kind: 'cold' | 'live';
  /** migration.uuid, or `dest:<dest>` for migrate_disk_and_power_off (Nova passes no migration). */
  key: string;
  status: string;
  name: string;
  same_host: boolean;
  /** Peer host name or IP as Nova gave it. */
  peer?: string;
  stash_path?: string;
  staged_path?: string;
  nvram?: { size: number; sha256: string } | null;
  firmware?: FirmwareSelection | null;
  /** The source's instance record at stash time (restored on revert). */
  record?: InstanceRecord;
  /** The source domain XML at stash time. */
  domain_xml?: string | null;
  history: { status: string; at: string }[];
  [k: string]: unknown;
}

export class JournalStore {
  private readonly docs: JsonDir<MigrationJournal>;
  constructor(stateDir: string) {
    this.docs = new JsonDir(path.join(path.resolve(stateDir), 'migrations'));
  }

  init(): Promise<void> {
    return this.docs.init();
  }

  private key(uuid: string, role: Role): string {
    return `${validateUuid(uuid)}.${role}`;
  }

  async get(uuid: string, role: Role): Promise<MigrationJournal | null> {
    return this.docs.read(this.key(uuid, role));
  }

  /** Record a new status (appended to history) atomically. */
  async put(j: MigrationJournal, status?: string): Promise<MigrationJournal> {
    if (status) {
      j.status = status;
      j.history = [...(j.history ?? []), { status, at: new Date().toISOString() }];
    }
    await this.docs.write(this.key(j.instance_uuid, j.role), j);
    return j;
  }

  async delete(uuid: string, role: Role): Promise<void> {
    await this.docs.remove(this.key(uuid, role));
  }

  async list(): Promise<MigrationJournal[]> {
    const out: MigrationJournal[] = [];
    for (const k of await this.docs.keys()) {
      const j = await this.docs.read(k).catch(() => null);
      if (j) out.push(j);
    }
    return out;
  }
}
