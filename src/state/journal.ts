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
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic, unlinkDurable, sweepTempFiles } from '../util/atomicFile';
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
  private readonly dir: string;
  constructor(stateDir: string) {
    this.dir = path.join(path.resolve(stateDir), 'migrations');
  }

  async init(): Promise<void> {
    await fsp.mkdir(this.dir, { recursive: true, mode: 0o700 });
    await sweepTempFiles(this.dir);
  }

  private file(uuid: string, role: Role): string {
    return path.join(this.dir, `${validateUuid(uuid)}.${role}.json`);
  }

  async get(uuid: string, role: Role): Promise<MigrationJournal | null> {
    try {
      return JSON.parse(await fsp.readFile(this.file(uuid, role), 'utf8')) as MigrationJournal;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  }

  /** Record a new status (appended to history) atomically. */
  async put(j: MigrationJournal, status?: string): Promise<MigrationJournal> {
    if (status) {
      j.status = status;
      j.history = [...(j.history ?? []), { status, at: new Date().toISOString() }];
    }
    await writeFileAtomic(this.file(j.instance_uuid, j.role), JSON.stringify(j, null, 2) + '\n', { mode: 0o600, sparse: false });
    return j;
  }

  async delete(uuid: string, role: Role): Promise<void> {
    await unlinkDurable(this.file(uuid, role));
  }

  async list(): Promise<MigrationJournal[]> {
    const names = await fsp.readdir(this.dir).catch(() => [] as string[]);
    const out: MigrationJournal[] = [];
    for (const n of names.sort()) {
      const m = /^(.+)\.(source|dest)\.json$/.exec(n);
      if (!m) continue;
      const j = await this.get(m[1], m[2] as Role).catch(() => null);
      if (j) out.push(j);
    }
    return out;
  }
}
