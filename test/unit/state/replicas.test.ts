/**
 * state/replicas: the replica states are one transition table, enforced when a state is
 * written: every allowed step lands on disk, a step the table refuses writes nothing.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { REPLICA_TRANSITIONS, ReplicaStateStore, ReplicaTransitionError, freshState, type ReplicaStateName } from '../../../src/state/replicas';

const NAMES: ReplicaStateName[] = ['current', 'pending', 'stale', 'fenced', 'deleting'];

describe('state/replicas', () => {
  let dir: string;
  let store: ReplicaStateStore;
  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nus-replica-state-'));
    store = new ReplicaStateStore(dir);
    await store.init();
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  for (const from of ['none', ...NAMES] as const) {
    for (const to of NAMES) {
      const allowed = REPLICA_TRANSITIONS[from].includes(to);
      it(`${allowed ? 'writes' : 'refuses'} ${from} -> ${to}`, async () => {
        const uuid = randomUUID();
        if (from !== 'none') await store.put({ ...freshState(uuid), state: from }, 'none');
        const write = store.put({ ...freshState(uuid), state: to, generation: 7 }, from);
        if (allowed) {
          await write;
          assert.equal((await store.get(uuid))?.state, to);
          assert.equal((await store.get(uuid))?.generation, 7);
        } else {
          await assert.rejects(write, (e: unknown) => e instanceof ReplicaTransitionError && e.from === from && e.to === to);
          assert.equal((await store.get(uuid))?.state ?? 'none', from, 'nothing was written');
        }
      });
    }
  }

  it('a fenced host never goes stale or fenced again by a write of its own', () => {
    assert.deepEqual(
      NAMES.filter((n) => !REPLICA_TRANSITIONS.fenced.includes(n)),
      ['stale', 'fenced'],
    );
  });

  it('lists and deletes states', async () => {
    const a = randomUUID();
    const b = randomUUID();
    await store.put(freshState(a), 'none');
    await store.put({ ...freshState(b), state: 'current' }, 'none');
    assert.deepEqual((await store.list()).map((s) => s.uuid).sort(), [a, b].sort());
    await store.delete(a);
    assert.equal(await store.get(a), null);
  });
});
