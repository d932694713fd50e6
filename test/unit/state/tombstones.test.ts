/**
 * state/tombstones: a destroy recorded per instance uuid, kept across restarts, removed on
 * request; anything that is not a uuid is refused before a path is built from it.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InvalidInput } from '../../../src/errors';
import { TombstoneStore, type Tombstone } from '../../../src/state/tombstones';

const UUID = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';
const stone: Tombstone = { uuid: UUID, host: 'compute-1', time: '2026-12-05T11:00:00.000Z', generation: 4 };

describe('state/tombstones', () => {
  let dir: string;
  let store: TombstoneStore;
  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nus-tombstones-'));
    store = new TombstoneStore(dir);
    await store.init();
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('writes <state_dir>/tombstones/<uuid>.json and reads it back', async () => {
    await store.put(stone);
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'tombstones', `${UUID}.json`), 'utf8')), stone);
    assert.deepEqual(await store.get(UUID), stone);
  });

  it('answers null for an instance never destroyed here', async () => {
    assert.equal(await store.get('00000000-0000-4000-8000-000000000000'), null);
  });

  it('survives a restart', async () => {
    await store.put(stone);
    const again = new TombstoneStore(dir);
    await again.init();
    assert.deepEqual(await again.get(UUID), stone);
  });

  it('a uuid in upper case names the same tombstone', async () => {
    await store.put({ ...stone, uuid: UUID.toUpperCase() });
    assert.equal((await store.get(UUID))?.generation, 4);
    await store.delete(UUID.toUpperCase());
    assert.equal(await store.get(UUID), null);
  });

  it('a later put replaces the earlier tombstone', async () => {
    await store.put(stone);
    await store.put({ ...stone, generation: 9, host: 'compute-2' });
    assert.equal((await store.get(UUID))?.generation, 9);
  });

  it('delete removes it, and deleting a missing one is fine', async () => {
    await store.put(stone);
    await store.delete(UUID);
    assert.equal(await store.get(UUID), null);
    assert.equal(fs.existsSync(path.join(dir, 'tombstones', `${UUID}.json`)), false);
    await store.delete(UUID);
  });

  for (const bad of ['../../etc/passwd', 'not-a-uuid', '', `${UUID}/x`]) {
    it(`refuses '${bad}' as a uuid on get, put and delete`, async () => {
      const isInvalid = (e: unknown) => e instanceof InvalidInput && e.details?.field === 'instance_uuid';
      await assert.rejects(async () => store.get(bad), isInvalid);
      await assert.rejects(async () => store.put({ ...stone, uuid: bad }), isInvalid);
      await assert.rejects(async () => store.delete(bad), isInvalid);
      assert.deepEqual(fs.readdirSync(path.join(dir, 'tombstones')), []);
    });
  }
});
