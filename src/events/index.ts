/**
 * @module events
 * What happened to an instance, as the driver's flows announce it: its store changed, it
 * arrived on this host (a finished migration, an unshelve or an evacuation), it is leaving or
 * left, it was deleted, rebuilt, or a resize was reverted home. Cross-cutting concerns
 * (replication today) subscribe and react from their own room (`replicationListener` in
 * replica/reactions); a flow only says what it did, so a new flow cannot forget them. A test
 * (test/unit/driver/events.test.ts) checks that every flow that changes where an instance
 * lives announces it. The vocabulary sits below the driver and replication so that both may
 * name it and neither imports the other.
 *
 * Listeners run in subscription order and are awaited: a flow that announces `arrived` goes
 * on once its subscribers took note (their background work, e.g. writing a generation, is
 * theirs to queue). A listener's failure is the announcing flow's failure, except where the
 * event says it is only a note.
 *
 * Deliberately not here: what any subscriber does.
 */
import type { FirmwareSelection } from '../firmware/types';
import type { Logger } from '../util/log';

/** What a destroy is for (driver/restore `destroyKind` tells them apart from the instance Nova passed). */
export type DestroyKind = 'shelve-offload' | 'delete' | 'evacuated-source' | 'rebuild' | 'other';

/**
 * The generation a store was restored from (unshelve, evacuate), as replication needs it to take
 * the replicas over: a `replica` ReadResult satisfies it.
 */
export interface RestoredGeneration {
  entry: { generation: number };
  header: { sha256: string; time: string };
}

/** Why an instance's store changed in place (the generation reason replication records). */
export type StoreChange = 'spawn' | 'stop' | 'edit' | 'restore';

export type InstanceEvent =
  /** The store changed here (a spawn, a stop, an edit through the API, a restore from a replica). */
  | { kind: 'store-changed'; uuid: string; why: StoreChange }
  /** A rebuild redefined the instance (its store reset or kept). */
  | { kind: 'rebuilt'; uuid: string }
  /**
   * The instance lives here now: a finished cold or live migration (`restored` absent), an
   * unshelve or an evacuation (`restored`: the generation its store came from, null when
   * there was none).
   */
  | { kind: 'arrived'; uuid: string; via: 'move' | 'unshelve' | 'evacuate'; restored?: RestoredGeneration | null }
  /**
   * The store before it leaves this host (`how`: the migration carrying it). A cold migration
   * gives the stashed content (its last one here); a live migration gives none: the guest runs
   * on, and the store is read only if it changed since the last generation.
   */
  | { kind: 'leaving'; uuid: string; how: 'cold'; content: Buffer }
  | { kind: 'leaving'; uuid: string; how: 'live' }
  /**
   * Shelve-offload: the store's final state, which must be kept off this host before the
   * local copy goes (a subscriber that cannot keep it fails the announcement).
   */
  | { kind: 'shelving'; uuid: string; content: Buffer; firmware: FirmwareSelection | null }
  /** The instance left this host (moved away, shelved): its local store is gone. */
  | { kind: 'left'; uuid: string }
  /** A resize was reverted: the instance is home again on this host, its stash restored. */
  | { kind: 'resize-reverted'; uuid: string }
  /** A destroy finished (`why` tells a delete from the destroy of a rebuild, an evacuated source ...). */
  | {
      kind: 'destroyed';
      uuid: string;
      why: DestroyKind;
      destroyDisks: boolean;
      nowOn?: string;
      /** Nova named no task for it (an operator's call, an old proxy): nobody will ask for its replicas again. */
      untracked?: boolean;
    };

export type InstanceEventKind = InstanceEvent['kind'];
/** A subscriber; `log` is the announcing request's logger, so its lines carry the request's id. */
export type Listener = (e: InstanceEvent, log: Logger) => Promise<void> | void;

/** The announcements of one driver (shared by every request's view of it). */
export class InstanceEvents {
  private readonly listeners: Listener[] = [];

  subscribe(l: Listener): void {
    this.listeners.push(l);
  }

  async announce(e: InstanceEvent, log: Logger): Promise<void> {
    for (const l of this.listeners) await l(e, log);
  }
}
