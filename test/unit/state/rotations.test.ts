/**
 * state/rotations: one JSON document per fleet rotation, on disk so a restart finds it again;
 * ids outside the API's pattern never reach the filesystem; the list is newest first.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RotationStore, type RotationDoc } from '../../../src/state/rotations';

function doc(id: string, created: string, extra: Partial<RotationDoc> = {}): RotationDoc {
  return {
    rotation_id: id,
    status: 'running',
    created_at: created,
    finished_at: null,
    request: { rotation_id: id, add: { keyset: 'ms-2023', databases: ['KEK', 'db'] }, selection: { all: true } },
    targets: ['11111111-1111-4111-8111-111111111111'],
    instances: [],
    ...extra,
  };
}

describe('state/rotations', () => {
  let dir: string;
  let store: RotationStore;
  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nus-rotations-'));
    store = new RotationStore(dir);
    await store.init();
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('keeps a rotation under <state_dir>/rotations/<id>.json, readable by the sidecar only', async () => {
    const d = doc('ms-2023-ca', '2026-12-05T10:00:00.000Z');
    await store.put(d);
    const file = path.join(dir, 'rotations', 'ms-2023-ca.json');
    assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')), d);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.equal(fs.statSync(path.join(dir, 'rotations')).mode & 0o777, 0o700);
  });

  it('reads back what was put, and the progress written later', async () => {
    const d = doc('r1', '2026-12-05T10:00:00.000Z');
    await store.put(d);
    assert.deepEqual(await store.get('r1'), d);
    const done: RotationDoc = {
      ...d,
      status: 'done',
      finished_at: '2026-12-05T10:05:00.000Z',
      instances: [{ instance_uuid: d.targets[0], outcome: 'applied', change_id: 'c1' }],
    };
    await store.put(done);
    assert.deepEqual(await store.get('r1'), done);
  });

  it('survives a restart: a new store over the same directory finds the rotation', async () => {
    await store.put(doc('r1', '2026-12-05T10:00:00.000Z', { status: 'interrupted' }));
    const again = new RotationStore(dir);
    await again.init();
    assert.equal((await again.get('r1'))?.status, 'interrupted');
  });

  it('answers null for an unknown id', async () => {
    assert.equal(await store.get('never-started'), null);
  });

  const ids: Array<[string, boolean]> = [
    ['ms-2023-ca', true],
    ['A.b_c-9', true],
    ['x'.repeat(64), true],
    ['x'.repeat(65), false],
    ['', false],
    ['../escape', false],
    ['a/b', false],
    ['with space', false],
  ];
  for (const [id, ok] of ids) {
    it(`validId ${ok ? 'accepts' : 'refuses'} '${id.length > 20 ? `${id.slice(0, 8)}… (${id.length})` : id}'`, () =>
      assert.equal(RotationStore.validId(id), ok));
  }

  it('get answers null for an id outside the pattern without touching the filesystem outside rotations/', async () => {
    fs.writeFileSync(path.join(dir, 'escape.json'), JSON.stringify(doc('escape', 'x')));
    assert.equal(await store.get('../escape'), null);
  });

  it('lists every rotation, newest first', async () => {
    await store.put(doc('old', '2026-12-01T00:00:00.000Z'));
    await store.put(doc('new', '2026-12-05T00:00:00.000Z'));
    await store.put(doc('mid', '2026-12-03T00:00:00.000Z'));
    assert.deepEqual(
      (await store.list()).map((d) => d.rotation_id),
      ['new', 'mid', 'old'],
    );
  });

  it('lists nothing before the first rotation', async () => {
    assert.deepEqual(await store.list(), []);
  });
});
