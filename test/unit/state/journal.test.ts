import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import {
  INITIAL,
  JournalStore,
  JournalTransitionError,
  TRANSITIONS,
  describeTransitions,
  isFinal,
  type DestJournal,
  type Role,
  type SourceJournal,
} from '../../../src/state/journal';
import { Metrics } from '../../../src/metrics';

describe('state/journal', () => {
  let dir: string;
  let store: JournalStore;
  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nus-journal-'));
    store = new JournalStore(dir);
    await store.init();
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const source = (uuid: string): SourceJournal => ({
    instance_uuid: uuid,
    role: 'source',
    kind: 'cold',
    key: 'm',
    status: 'stashing',
    name: 'instance-1',
    same_host: true,
    history: [],
  });
  const dest = (uuid: string): DestJournal => ({
    instance_uuid: uuid,
    role: 'dest',
    kind: 'cold',
    key: 'm',
    status: 'staged',
    name: 'instance-1',
    same_host: false,
    history: [],
  });

  it('keeps source and destination journals of one instance apart and records history', async () => {
    const uuid = randomUUID();
    await store.put(source(uuid), 'stashing');
    const j = (await store.get(uuid, 'source'))!;
    await store.put(j, 'stashed');
    await store.put(dest(uuid), 'staged');
    assert.deepEqual(
      (await store.get(uuid, 'source'))!.history.map((h) => h.status),
      ['stashing', 'stashed'],
    );
    assert.equal((await store.get(uuid, 'dest'))!.status, 'staged');
    assert.equal((await store.list()).length, 2);
    await store.delete(uuid, 'source');
    assert.equal(await store.get(uuid, 'source'), null);
    assert.equal((await store.get(uuid, 'dest'))!.status, 'staged');
  });

  it('counts every status written as a step and closes the migration at a final status or on removal', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    const counted = new JournalStore(dir, metrics);
    const value = async (c: { get(): Promise<{ values: { labels: Record<string, unknown>; value: number }[] }> }, labels: Record<string, string>) =>
      (await c.get()).values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((a, v) => a + v.value, 0);
    const a = randomUUID();
    const j = await counted.put(source(a), 'stashing');
    await counted.put(j, 'stashed');
    await counted.put(j, 'stashed'); // a retried step is written, and counted, again
    await counted.put(j, 'reverting');
    await counted.put(j, 'reverted');
    await counted.delete(a, 'source');
    const b = randomUUID();
    await counted.put(dest(b), 'staged');
    await counted.delete(b, 'dest'); // a revert drops the staged copy before it was installed
    assert.equal(await value(metrics.migrationSteps, { kind: 'cold', role: 'source', step: 'stashed' }), 2);
    assert.equal(await value(metrics.migrationSteps, { role: 'source' }), 5);
    assert.equal(await value(metrics.migrationsFinished, { role: 'source', outcome: 'reverted' }), 1);
    assert.equal(await value(metrics.migrationsFinished, { role: 'dest', outcome: 'dropped' }), 1);
    assert.equal(await value(metrics.migrationsFinished, {}), 2, 'removing a closed entry does not count it twice');
  });

  it('refuses a key that is not a UUID (no path tricks in file names)', async () => {
    await assert.rejects(store.get('../../etc/passwd', 'source'), /not a UUID/);
  });

  describe('transitions', () => {
    it("walks every path of the table from its kind's initial status", async () => {
      const walk = async (role: Role, kind: 'cold' | 'live', path: string[]) => {
        const uuid = randomUUID();
        const j = role === 'source' ? { ...source(uuid), kind } : { ...dest(uuid), kind };
        for (const status of path) await store.put(j, status as never);
        assert.deepEqual(
          (await store.get(uuid, role))!.history.map((h) => h.status),
          path,
        );
      };
      await walk('source', 'cold', ['stashing', 'stashed', 'sent', 'confirmed']);
      await walk('source', 'cold', ['stashing', 'stashed', 'reverting', 'reverted']);
      await walk('source', 'live', ['live-prepared', 'live-migrated', 'live-unverified', 'live-verified', 'live-cleaned']);
      await walk('source', 'live', ['live-prepared', 'rolled-back']);
      await walk('dest', 'cold', ['staged', 'installing']);
      await walk('dest', 'live', ['live-staging', 'live-staged']);
    });

    const illegal: [string, Role, 'cold' | 'live', string[], string][] = [
      ['confirming before the store was sent would drop the only copy', 'source', 'cold', ['stashing', 'stashed'], 'confirmed'],
      ['a new cold entry cannot start past its first step', 'source', 'cold', [], 'sent'],
      ['a new live entry cannot start at a cold status', 'source', 'live', [], 'stashing'],
      ['a final status has no successor', 'source', 'cold', ['stashing', 'stashed', 'sent', 'confirmed'], 'reverting'],
      ['a verified source cannot go back to migrated', 'source', 'live', ['live-prepared', 'live-migrated', 'live-verified'], 'live-migrated'],
      ['a cleaned source cannot be rolled back', 'source', 'live', ['live-prepared', 'live-migrated', 'live-verified', 'live-cleaned'], 'rolled-back'],
      ['a destination cannot go from installing back to staged', 'dest', 'cold', ['staged', 'installing'], 'staged'],
    ];
    for (const [why, role, kind, before, next] of illegal) {
      it(`throws JournalTransitionError and writes nothing: ${why}`, async () => {
        const uuid = randomUUID();
        const j = role === 'source' ? { ...source(uuid), kind } : { ...dest(uuid), kind };
        for (const status of before) await store.put(j, status as never);
        await assert.rejects(store.put(j, next as never), JournalTransitionError);
        const onDisk = await store.get(uuid, role);
        assert.equal(onDisk?.status ?? null, before.length ? before[before.length - 1] : null);
      });
    }

    it('allows a retried step to announce its status again', async () => {
      const uuid = randomUUID();
      const j = source(uuid);
      await store.put(j, 'stashing');
      await store.put(j, 'stashing');
      assert.deepEqual(
        (await store.get(uuid, 'source'))!.history.map((h) => h.status),
        ['stashing', 'stashing'],
      );
    });

    it('names only known statuses as successors, and every initial status is in the table', () => {
      for (const role of Object.keys(TRANSITIONS) as Role[]) {
        const states = Object.keys(TRANSITIONS[role]);
        for (const to of Object.values(TRANSITIONS[role]).flat()) assert.ok(states.includes(to), `${role}: ${to}`);
        for (const kind of ['cold', 'live'] as const) assert.ok(states.includes(INITIAL[role][kind]), `${role} ${kind}`);
      }
      assert.equal(isFinal('source', 'confirmed'), true);
      assert.equal(isFinal('source', 'sent'), false);
    });

    it('the module header lists exactly the table (derived lines, in order)', () => {
      const src = fs.readFileSync(path.join(__dirname, '../../../src/state/journal.ts'), 'utf8');
      const header = src.slice(0, src.indexOf('*/'));
      const listed = header
        .split('\n')
        .map((l) => l.replace(/^\s*\*\s?/, ''))
        .filter((l) => /^(source|dest): /.test(l));
      assert.deepEqual(listed, describeTransitions());
    });
  });
});
