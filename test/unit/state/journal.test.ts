import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { JournalStore, type MigrationJournal } from '../../../src/state/journal';

describe('state/journal', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nus-journal-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('keeps source and destination journals of one instance apart and records history', async () => {
    const s = new JournalStore(dir);
    await s.init();
    const uuid = randomUUID();
    const base = { instance_uuid: uuid, kind: 'cold', key: 'm', name: 'instance-1', same_host: true, history: [] } as unknown as MigrationJournal;
    await s.put({ ...base, role: 'source', status: '' }, 'stashing');
    const j = (await s.get(uuid, 'source'))!;
    await s.put(j, 'stashed');
    await s.put({ ...base, role: 'dest', status: '' }, 'staged');
    assert.deepEqual((await s.get(uuid, 'source'))!.history.map((h) => h.status), ['stashing', 'stashed']);
    assert.equal((await s.get(uuid, 'dest'))!.status, 'staged');
    assert.equal((await s.list()).length, 2);
    await s.delete(uuid, 'source');
    assert.equal(await s.get(uuid, 'source'), null);
    assert.equal((await s.get(uuid, 'dest'))!.status, 'staged');
  });

  it('refuses a key that is not a UUID (no path tricks in file names)', async () => {
    const s = new JournalStore(dir);
    await s.init();
    await assert.rejects(s.get('../../etc/passwd', 'source'), /not a UUID/);
  });
});
