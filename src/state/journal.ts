/**
 * @module state/journal
 * One small journal per migration per side (`<state_dir>/migrations/<uuid>.<role>.json`),
 * written atomically *before* the side effect each status announces, so a sidecar killed at
 * any step finds, on the next Nova call, what was done and what remains.
 *
 * The statuses and their order are `TRANSITIONS` below, enforced by `JournalStore.put`: a
 * write that does not follow the table is a bug and throws `JournalTransitionError`. A new
 * entry starts at its kind's `INITIAL` status; a status with no successor is final (the flow
 * removes the entry next, and a later migration may replace it). Re-announcing the current
 * status is allowed (a retried step). The lines below are `describeTransitions()`; a unit test
 * keeps them equal.
 *
 * source: stashing → stashed | reverting
 * source: stashed → sent | reverting
 * source: sent → confirmed | reverting
 * source: confirmed (final)
 * source: reverting → reverted
 * source: reverted (final)
 * source: live-prepared → live-migrated | rolled-back
 * source: live-migrated → live-verified | live-unverified | rolled-back
 * source: live-unverified → live-verified | rolled-back
 * source: live-verified → live-cleaned
 * source: live-cleaned (final)
 * source: rolled-back (final)
 * dest: staged → installing
 * dest: installing (final)
 * dest: live-staging → live-staged
 * dest: live-staged (final)
 */
import * as path from 'node:path';
import { JsonDir } from '../util/jsonDir';
import type { FirmwareSelection } from '../firmware/types';
import type { InstanceRecord } from './records';
import { validateUuid } from '../nova/ids';
import type { Metrics } from '../metrics';

export type Role = 'source' | 'dest';
export type MigrationKind = 'cold' | 'live';

/**
 * Every status a journal can hold, per kind and role, with the statuses that may follow it.
 * Cold and live migrations are separate machines: no status is shared and no transition
 * crosses from one kind to the other, so each kind has its own status type.
 */
export const KIND_TRANSITIONS = {
  cold: {
    source: {
      stashing: ['stashed', 'reverting'],
      stashed: ['sent', 'reverting'],
      sent: ['confirmed', 'reverting'],
      confirmed: [],
      reverting: ['reverted'],
      reverted: [],
    },
    dest: {
      staged: ['installing'],
      installing: [],
    },
  },
  live: {
    source: {
      'live-prepared': ['live-migrated', 'rolled-back'],
      'live-migrated': ['live-verified', 'live-unverified', 'rolled-back'],
      'live-unverified': ['live-verified', 'rolled-back'],
      'live-verified': ['live-cleaned'],
      'live-cleaned': [],
      'rolled-back': [],
    },
    dest: {
      'live-staging': ['live-staged'],
      'live-staged': [],
    },
  },
} as const;

/** Both kinds' statuses of each role in one table (the module header's lines, metrics, recovery). */
export const TRANSITIONS = {
  source: { ...KIND_TRANSITIONS.cold.source, ...KIND_TRANSITIONS.live.source },
  dest: { ...KIND_TRANSITIONS.cold.dest, ...KIND_TRANSITIONS.live.dest },
} as const;

/** The statuses of role `R` in migrations of kind `K` (both kinds when `K` is left out). */
export type StatusOf<R extends Role, K extends MigrationKind = MigrationKind> = StatusTable[K][R];
type StatusTable = { [K in MigrationKind]: { [R in Role]: keyof (typeof KIND_TRANSITIONS)[K][R] } };
export type SourceStatus = StatusOf<'source'>;
export type DestStatus = StatusOf<'dest'>;
export type ColdSourceStatus = StatusOf<'source', 'cold'>;
export type LiveSourceStatus = StatusOf<'source', 'live'>;
export type ColdDestStatus = StatusOf<'dest', 'cold'>;
export type LiveDestStatus = StatusOf<'dest', 'live'>;
/** Any status of any journal. */
export type JournalStatus = SourceStatus | DestStatus;

/** The status a new entry starts with, per role and kind. */
export const INITIAL: { readonly [R in Role]: { readonly [K in MigrationKind]: StatusOf<R, K> } } = {
  source: { cold: 'stashing', live: 'live-prepared' },
  dest: { cold: 'staged', live: 'live-staging' },
};

/** The statuses that may follow `status` in a `kind` migration's `role` journal; undefined for a status outside that table. */
function successors(role: Role, status: JournalStatus, kind?: MigrationKind): readonly JournalStatus[] | undefined {
  const table: Readonly<Partial<Record<JournalStatus, readonly JournalStatus[]>>> = kind ? KIND_TRANSITIONS[kind][role] : TRANSITIONS[role];
  return Object.prototype.hasOwnProperty.call(table, status) ? table[status] : undefined;
}

/** True for a status with no successor: the flow removes the entry next. */
export function isFinal(role: Role, status: JournalStatus): boolean {
  return successors(role, status)?.length === 0;
}

/** The table as the module header shows it, one line per status. */
export function describeTransitions(): string[] {
  const lines: string[] = [];
  for (const role of Object.keys(TRANSITIONS) as Role[]) {
    for (const [from, to] of Object.entries(TRANSITIONS[role]) as [string, readonly string[]][]) {
      lines.push(to.length ? `${role}: ${from} → ${to.join(' | ')}` : `${role}: ${from} (final)`);
    }
  }
  return lines;
}

/** What a final status means for the migration on this side (the `migrations_finished_total` outcome). */
const FINAL_OUTCOME: Readonly<Partial<Record<JournalStatus, string>>> = {
  confirmed: 'completed',
  reverted: 'reverted',
  'live-cleaned': 'completed',
  'rolled-back': 'rolled-back',
  installing: 'completed',
  'live-staged': 'completed',
};

/** A journal write that the transition table does not allow: a bug in a flow, never bad input. */
export class JournalTransitionError extends Error {
  constructor(role: Role, from: JournalStatus | null, to: JournalStatus) {
    super(from === null ? `a new ${role} migration journal cannot start at '${to}'` : `${role} migration journal: '${from}' → '${to}' is not a transition`);
    this.name = 'JournalTransitionError';
  }
}

interface JournalBase<R extends Role, K extends MigrationKind> {
  instance_uuid: string;
  role: R;
  kind: K;
  status: StatusOf<R, K>;
  /** migration.uuid, or `dest:<dest>` for migrate_disk_and_power_off (Nova passes no migration). */
  key: string;
  name: string;
  same_host: boolean;
  /** Peer host name or IP as Nova gave it. */
  peer?: string;
  nvram?: { size: number; sha256: string } | null;
  firmware?: FirmwareSelection | null;
  /** Source: the instance record at stash time (restored on revert). Dest: the source's record, sent with the store. */
  record?: InstanceRecord;
  history: { status: StatusOf<R, K>; at: string }[];
}

/**
 * A source journal of a `K` migration: `SourceJournal<'cold'>` holds only cold statuses. Left
 * without `K` it is either kind (what a new entry is built as before its kind is known to the
 * type checker); `get` answers the union of the two kinds, so testing `kind` narrows `status`.
 */
export interface SourceJournal<K extends MigrationKind = MigrationKind> extends JournalBase<'source', K> {
  /** The copy of the store kept for a revert until confirm. */
  stash_path?: string;
  /** The source domain XML at stash time. */
  domain_xml?: string | null;
}

export interface DestJournal<K extends MigrationKind = MigrationKind> extends JournalBase<'dest', K> {
  /** Where the received store waits (cold), or the live path it was written to (live). */
  staged_path?: string;
}

export type ColdSourceJournal = SourceJournal<'cold'>;
export type LiveSourceJournal = SourceJournal<'live'>;
export type ColdDestJournal = DestJournal<'cold'>;
export type LiveDestJournal = DestJournal<'live'>;
/** Any journal, its kind and status told apart (what `get` and `list` answer). */
export type MigrationJournal = ColdSourceJournal | LiveSourceJournal | ColdDestJournal | LiveDestJournal;
/** A journal as `put` takes it: a narrowed one, or one whose kind the type checker does not know. */
type WritableJournal = SourceJournal | DestJournal;
type JournalOf<R extends Role> = R extends 'source' ? ColdSourceJournal | LiveSourceJournal : ColdDestJournal | LiveDestJournal;

/** Who, what and where of an open entry. */
export interface JournalSummary {
  instance_uuid: string;
  role: Role;
  kind: MigrationKind;
  status: JournalStatus;
}

/**
 * An entry as read back: only `put` writes entries, and it admits only the statuses of the
 * entry's own kind, so a kind and its status agree on disk.
 */
function told(j: WritableJournal): MigrationJournal {
  return j as MigrationJournal;
}

export class JournalStore {
  private readonly docs: JsonDir<WritableJournal>;
  /**
   * `metrics`: every status written is a migration step, and a final one (or the removal of
   * an entry that never reached one) closes the migration on this side. This is the one place
   * statuses change, so the counts cannot miss a flow.
   */
  constructor(
    stateDir: string,
    private readonly metrics?: Metrics,
  ) {
    this.docs = new JsonDir(path.join(path.resolve(stateDir), 'migrations'));
  }

  init(): Promise<void> {
    return this.docs.init();
  }

  private key(uuid: string, role: Role): string {
    return `${validateUuid(uuid)}.${role}`;
  }

  async get<R extends Role>(uuid: string, role: R): Promise<JournalOf<R> | null> {
    return (await this.docs.read(this.key(uuid, role))) as JournalOf<R> | null;
  }

  /**
   * Record `status` (appended to history) atomically. A new entry (empty history) must start
   * at its kind's initial status; an existing one must follow its kind's table
   * (`KIND_TRANSITIONS`) or repeat its current status. Anything else throws
   * `JournalTransitionError` and writes nothing.
   */
  async put<J extends WritableJournal>(j: J, status: J['status']): Promise<J> {
    const fresh = !j.history?.length;
    if (fresh ? INITIAL[j.role][j.kind] !== status : status !== j.status && !successors(j.role, j.status, j.kind)?.includes(status)) {
      throw new JournalTransitionError(j.role, fresh ? null : j.status, status);
    }
    j.status = status;
    j.history = [...(j.history ?? []), { status, at: new Date().toISOString() }] as J['history'];
    await this.docs.write(this.key(j.instance_uuid, j.role), j);
    if (this.metrics) {
      this.metrics.migrationSteps.inc({ kind: j.kind, role: j.role, step: status });
      if (isFinal(j.role, status)) this.metrics.migrationsFinished.inc({ kind: j.kind, role: j.role, outcome: FINAL_OUTCOME[status] ?? status });
    }
    return j;
  }

  async delete(uuid: string, role: Role): Promise<void> {
    const key = this.key(uuid, role);
    const closing = this.metrics ? await this.docs.peek(key).catch(() => null) : null;
    await this.docs.remove(key);
    if (closing && !isFinal(closing.role, closing.status)) this.metrics?.migrationsFinished.inc({ kind: closing.kind, role: closing.role, outcome: 'dropped' });
  }

  /** Who, what and where of every open entry, without copying the documents (metrics, readiness, recovery). */
  async summaries(): Promise<JournalSummary[]> {
    const docs = await this.docs.readMany(await this.docs.keys(), (j) => ({ instance_uuid: j.instance_uuid, role: j.role, kind: j.kind, status: j.status }));
    return docs.filter((d) => d !== null);
  }

  async list(): Promise<MigrationJournal[]> {
    const out: MigrationJournal[] = [];
    for (const k of await this.docs.keys()) {
      const j = await this.docs.read(k).catch(() => null);
      if (j) out.push(told(j));
    }
    return out;
  }
}
