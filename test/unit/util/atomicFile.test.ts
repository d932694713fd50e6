import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeFileAtomic, sweepTempFiles, allocatedBytes } from '../../../src/util/atomicFile';

describe('util/atomicFile', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nus-atomic-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('replaces the target with the new content and mode', async () => {
    const t = path.join(dir, 'f');
    fs.writeFileSync(t, 'old');
    await writeFileAtomic(t, Buffer.from('new content'), { mode: 0o640 });
    assert.equal(fs.readFileSync(t, 'utf8'), 'new content');
    assert.equal(fs.statSync(t).mode & 0o777, 0o640);
    assert.deepEqual(fs.readdirSync(dir), ['f']);
  });

  for (const step of ['temp-written', 'temp-synced'] as const) {
    it(`leaves the old content when the write dies at ${step}`, async () => {
      const t = path.join(dir, 'f');
      fs.writeFileSync(t, 'old');
      await assert.rejects(
        writeFileAtomic(t, Buffer.from('new'), {
          onStep: (s) => {
            if (s === step) throw new Error('crash');
          },
        }),
        /crash/,
      );
      assert.equal(fs.readFileSync(t, 'utf8'), 'old');
      assert.deepEqual(fs.readdirSync(dir), ['f']);
    });
  }

  it('sweeps temp files a crash left behind and nothing else', async () => {
    fs.writeFileSync(path.join(dir, 'a_VARS.fd.tmp-abc123'), 'x');
    fs.writeFileSync(path.join(dir, 'keep_VARS.fd'), 'y');
    assert.deepEqual(await sweepTempFiles(dir), ['a_VARS.fd.tmp-abc123']);
    assert.deepEqual(fs.readdirSync(dir), ['keep_VARS.fd']);
  });

  it('writes zero blocks as holes with identical content', async () => {
    const size = 8 * 1024 * 1024;
    const data = Buffer.alloc(size);
    data.write('DATA', 0);
    data.write('TAIL', size - 10);
    const t = path.join(dir, 'sparse');
    await writeFileAtomic(t, data);
    assert.ok(fs.readFileSync(t).equals(data));
    const alloc = await allocatedBytes(t);
    assert.ok(alloc <= 64 * 1024, `allocated ${alloc}`);
  });

  it('keeps 0xFF-filled content dense and identical', async () => {
    const data = Buffer.alloc(540_672, 0xff);
    const t = path.join(dir, 'dense');
    await writeFileAtomic(t, data);
    assert.ok(fs.readFileSync(t).equals(data));
    assert.ok((await allocatedBytes(t)) >= data.length);
  });
});
