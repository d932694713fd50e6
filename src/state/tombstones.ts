/**
 * @module state/tombstones
 * Destroys this host recorded without Nova's task state (`<state_dir>/tombstones/<uuid>.json`):
 * Nova's own deletes say `deleting` and take the replicas with them, shelve-offload says
 * `shelving_offloading` and keeps them; a destroy that says nothing (an operator's call, an old
 * proxy, a failed build's clean-up) leaves replicas nobody will ask for again. The tombstone is
 * what lets `replicas prune` tell such an instance from one that merely lives elsewhere. The
 * same record is written into the replica store (replica/generations `tombstone`) so that every
 * sidecar sharing it can tell; this copy covers a store that did not answer at the time.
 */
import * as path from 'node:path';
import { JsonDir } from '../util/jsonDir';
import { validateUuid } from '../nova/ids';

export interface Tombstone {
  uuid: string;
  /** The host that destroyed it. */
  host: string;
  /** When (ISO). */
  time: string;
  /** The newest generation claimed when it was destroyed; a later claim means it lives again. */
  generation: number;
}

export class TombstoneStore {
  private readonly docs: JsonDir<Tombstone>;
  constructor(stateDir: string) {
    this.docs = new JsonDir(path.join(path.resolve(stateDir), 'tombstones'));
  }
  init(): Promise<void> {
    return this.docs.init();
  }
  get(uuid: string): Promise<Tombstone | null> {
    return this.docs.read(validateUuid(uuid));
  }
  put(t: Tombstone): Promise<void> {
    return this.docs.write(validateUuid(t.uuid), t);
  }
  delete(uuid: string): Promise<void> {
    return this.docs.remove(validateUuid(uuid));
  }
}
