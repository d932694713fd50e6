/**
 * state/records: instance records on disk, and the tombstone a destroy without its disks leaves,
 * hidden behind the live reads (`live`, `peekLive`, `liveSummaries`, `isLive`).
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { RecordStore, TOMBSTONE, isLive, type InstanceRecord, type VmState } from '../../../src/state/records';

function record(uuid: string, vmState: VmState): InstanceRecord {
  const now = new Date().toISOString();
  return {
    uuid,
    name: `instance-${uuid.slice(0, 8)}`,
    vmState,
    firmware: null,
    nvramPath: null,
    boot: { arch: 'x86_64', machine: 'q35', firmwareType: 'bios', secureBoot: 'disabled', stateless: false, warnings: [] },
    imageProps: {},
    flavorExtraSpecs: {},
    vcpus: 1,
    memoryMb: 256,
    systemMetadata: {},
    createdAt: now,
    updatedAt: now,
  };
}

describe('state/records', () => {
  let dir: string;
  let store: RecordStore;
  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nus-records-'));
    store = new RecordStore(dir);
    await store.init();
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const CASES: [string, VmState | null, boolean][] = [
    ['a running instance is live', 'active', true],
    ['a stopped instance is live', 'stopped', true],
    ['a rescued instance is live', 'rescued', true],
    ['the tombstone is not', TOMBSTONE, false],
    ['no record is not', null, false],
  ];
  for (const [name, state, live] of CASES) {
    it(`${name}, through every live read`, async () => {
      const uuid = randomUUID();
      if (state) await store.put(record(uuid, state));
      assert.equal(isLive(await store.get(uuid)), live);
      assert.equal((await store.live(uuid))?.uuid ?? null, live ? uuid : null);
      assert.equal((await store.peekLive(uuid))?.uuid ?? null, live ? uuid : null);
      assert.deepEqual(
        (await store.liveSummaries()).map((r) => r.uuid),
        live ? [uuid] : [],
      );
      assert.equal((await store.get(uuid))?.uuid ?? null, state ? uuid : null, 'get still sees the tombstone');
    });
  }

  it('keep() turns a record into the tombstone, on disk', async () => {
    const uuid = randomUUID();
    const rec = record(uuid, 'stopped');
    await store.put(rec);
    await store.keep(rec);
    assert.equal((await new RecordStore(dir).get(uuid))?.vmState, TOMBSTONE);
    assert.equal(await store.live(uuid), null);
    assert.deepEqual(
      (await store.summaries()).map((r) => r.uuid),
      [uuid],
      'summaries list every record',
    );
  });
});
