import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DomainBook } from '../../../src/hypervisor/domainBook';
import { StorageError } from '../../../src/errors';

describe('hypervisor/domainBook', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nus-book-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('defines all or nothing: when the state file cannot be written, the definition written beside it is removed again', async () => {
    const book = new DomainBook(dir);
    await book.init();
    // The run directory becomes a file: creating the state file fails (ENOTDIR), the definition would succeed.
    const run = path.join(dir, 'run', 'domains');
    fs.rmSync(run, { recursive: true });
    fs.writeFileSync(run, 'not a directory');
    const e = await book.write('instance-00000001', '<domain/>').catch((x: unknown) => x);
    assert.ok(e instanceof StorageError, String(e));
    assert.equal(e.code, 507);
    assert.equal(await book.load('instance-00000001'), null, 'no half-made domain (a retry would answer InstanceExists)');
    assert.deepEqual(await book.keys(), []);
    fs.rmSync(run);
    fs.mkdirSync(run);
    await book.write('instance-00000001', '<domain/>');
    assert.equal((await book.load('instance-00000001'))?.xml, '<domain/>');
  });
});
