/**
 * @module state/rotations
 * Fleet Secure Boot rotations, one JSON document per rotation under `<state_dir>/rotations`,
 * written atomically as they progress, so a rotation's request and the outcome of every
 * instance it reached survive a sidecar restart (a rotation cut short is resumed by posting it
 * again with its id: each step is idempotent).
 */
import * as path from 'node:path';
import { JsonDir } from '../util/jsonDir';
import type { Schemas } from '../wire';

export type RotationRequest = Schemas['SecureBootRotationRequest'];
export type RotationOutcome = Schemas['RotationOutcome'];

export interface RotationDoc {
  rotation_id: string;
  status: 'running' | 'done' | 'interrupted';
  created_at: string;
  finished_at: string | null;
  request: RotationRequest;
  /** The instances selected when the rotation started, in order. */
  targets: string[];
  /** Outcome per reached instance, in target order. */
  instances: RotationOutcome[];
}

const ID_RE = /^[A-Za-z0-9_.-]{1,64}$/;

export class RotationStore {
  private readonly docs: JsonDir<RotationDoc>;
  constructor(stateDir: string) {
    this.docs = new JsonDir(path.join(path.resolve(stateDir), 'rotations'));
  }

  init(): Promise<void> {
    return this.docs.init();
  }

  static validId(id: string): boolean {
    return ID_RE.test(id);
  }

  get(id: string): Promise<RotationDoc | null> {
    return ID_RE.test(id) ? this.docs.read(id) : Promise.resolve(null);
  }

  put(doc: RotationDoc): Promise<void> {
    return this.docs.write(doc.rotation_id, doc);
  }

  async list(): Promise<RotationDoc[]> {
    const docs = await this.docs.readMany(await this.docs.keys());
    return docs.filter((d): d is RotationDoc => d !== null).sort((a, b) => b.created_at.localeCompare(a.created_at));
  }
}
