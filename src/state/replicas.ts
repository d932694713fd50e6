/**
 * @module state/replicas
 * This host's view of each instance's replicas (`<state_dir>/replicas/<uuid>.json`): the newest
 * generation it wrote or restored, the digest of the store at that generation (so a changed
 * store is told from an unchanged one without the replica store), whether replicas are current,
 * pending, stale (the store failed; retried with back-off) or fenced (another host owns them
 * now), and whether Nova just moved the instance here (`takeover`: the next write claims past
 * another host's generations). Written atomically; kept apart from the instance record so that
 * background replica writes never race a flow's record update.
 */
import * as path from 'node:path';
import { JsonDir } from '../util/jsonDir';
import { validateUuid } from '../nova/ids';

/** `deleting`: the instance was deleted while the replica store failed; its replicas are removed when it answers. */
export type ReplicaStateName = 'current' | 'pending' | 'stale' | 'fenced' | 'deleting';

/**
 * Which state may follow which when a state is written (`none`: no state yet), as the
 * replica scheduler moves them:
 * - a generation written (or an unchanged store found) makes `current`; one the store refused
 *   makes `stale` (retried with back-off); one another host claimed makes `fenced`;
 * - Nova putting the instance here (`adopt`) makes `pending` with a takeover, from any state;
 * - a delete the store refused makes `deleting` (retried until it answers).
 * A `fenced` host writes nothing until it adopts the instance again, so `fenced` never
 * becomes `stale` or `fenced` again by a write of its own.
 */
export const REPLICA_TRANSITIONS: { readonly [F in ReplicaStateName | 'none']: readonly ReplicaStateName[] } = {
  none: ['pending', 'current', 'stale', 'fenced', 'deleting'],
  pending: ['pending', 'current', 'stale', 'fenced', 'deleting'],
  current: ['current', 'pending', 'stale', 'fenced', 'deleting'],
  stale: ['stale', 'pending', 'current', 'fenced', 'deleting'],
  fenced: ['pending', 'current', 'deleting'],
  deleting: ['deleting', 'pending', 'current', 'stale', 'fenced'],
};

/** A state write the table does not allow: a defect of the scheduler, never an operator's problem. */
export class ReplicaTransitionError extends Error {
  constructor(
    readonly uuid: string,
    readonly from: ReplicaStateName | 'none',
    readonly to: ReplicaStateName,
  ) {
    super(`replica state of ${uuid} cannot go from ${from} to ${to}`);
    this.name = 'ReplicaTransitionError';
  }
}

/** Throws `ReplicaTransitionError` unless `REPLICA_TRANSITIONS` allows `from` → `to`. */
export function checkReplicaTransition(uuid: string, from: ReplicaStateName | 'none', to: ReplicaStateName): void {
  if (!REPLICA_TRANSITIONS[from].includes(to)) throw new ReplicaTransitionError(uuid, from, to);
}

export interface ReplicaState {
  uuid: string;
  /** Newest generation this host wrote or restored; 0 for none. */
  generation: number;
  /** sha256 of the store at `generation`. */
  sha256: string | null;
  /** When `generation` was written (its header's time). */
  time: string | null;
  state: ReplicaStateName;
  /** Nova moved the instance here: the next write takes the replicas over. */
  takeover: boolean;
  /** Failed attempts in a row (back-off), and the last failure. */
  failures: number;
  error?: string;
  /** Not before this time (ISO) is a stale generation retried. */
  retryAt?: string;
  /** The host that owns the replicas when fenced. */
  owner?: string;
  /**
   * Pending or stale: when this host noticed a store change no generation holds yet (ISO);
   * kept through retries, dropped once a generation is written (the replica lag metric).
   */
  since?: string;
}

export function freshState(uuid: string): ReplicaState {
  return { uuid, generation: 0, sha256: null, time: null, state: 'pending', takeover: false, failures: 0 };
}

export class ReplicaStateStore {
  private readonly docs: JsonDir<ReplicaState>;
  constructor(stateDir: string) {
    this.docs = new JsonDir(path.join(path.resolve(stateDir), 'replicas'));
  }
  init(): Promise<void> {
    return this.docs.init();
  }
  get(uuid: string): Promise<ReplicaState | null> {
    return this.docs.read(validateUuid(uuid));
  }
  /** Write `s`, which follows state `from` (`none` when there was none): refused unless the table allows it. */
  async put(s: ReplicaState, from: ReplicaStateName | 'none'): Promise<void> {
    checkReplicaTransition(s.uuid, from, s.state);
    await this.docs.write(validateUuid(s.uuid), s);
  }
  delete(uuid: string): Promise<void> {
    return this.docs.remove(validateUuid(uuid));
  }
  async list(): Promise<ReplicaState[]> {
    return (await this.docs.readMany(await this.docs.keys())).filter((s): s is ReplicaState => s !== null);
  }
}
