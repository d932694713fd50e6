/** StatCache: a value is answered only while the file is as it was read, and only if it had settled. */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FINE_SETTLED_MS, SETTLED_MS, StatCache, settleWindowOf } from '../../../src/util/fileIdentity';

describe('util/fileIdentity StatCache', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nus-statcache-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, body: string) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, body);
    return p;
  };
  const later = () => Date.now() + SETTLED_MS + 1000;

  it('answers a settled value until the file changes', () => {
    const c = new StatCache<string>(4);
    const p = file('a', 'one');
    const st = fs.statSync(p);
    c.remember(p, st, later(), 3, 'v1');
    assert.equal(c.get(p, fs.statSync(p)), 'v1');
    fs.writeFileSync(p, 'two');
    fs.utimesSync(p, new Date(0), new Date(0));
    assert.equal(c.get(p, fs.statSync(p)), undefined, 'a rewrite changes ctime even when mtime is put back');
  });

  it('keeps nothing read in the same moment as a write, or from part of the file', () => {
    const c = new StatCache<string>(4);
    const p = file('a', 'one');
    const st = fs.statSync(p);
    c.remember(p, st, Date.now(), 3, 'racy');
    assert.equal(c.get(p, st), undefined);
    c.remember(p, st, later(), 2, 'short');
    assert.equal(c.get(p, st), undefined);
  });

  it('keeps the most recently used entries up to its capacity, and forgets on request', () => {
    const c = new StatCache<string>(2);
    const [a, b, d] = ['a', 'b', 'd'].map((n) => file(n, n));
    for (const p of [a, b]) c.remember(p, fs.statSync(p), later(), 1, p);
    assert.equal(c.get(a, fs.statSync(a)), a); // a is now the most recent
    c.remember(d, fs.statSync(d), later(), 1, d);
    assert.equal(c.get(b, fs.statSync(b)), undefined, 'b was the least recently used');
    assert.equal(c.get(a, fs.statSync(a)), a);
    c.forget(a);
    assert.equal(c.get(a, fs.statSync(a)), undefined);
  });

  it("keeps a value read once the file's filesystem window has passed, not before", () => {
    const c = new StatCache<string>(4, FINE_SETTLED_MS);
    const p = file('a', 'one');
    const st = fs.statSync(p);
    c.remember(p, st, st.ctimeMs + FINE_SETTLED_MS / 2, 3, 'inside the window');
    assert.equal(c.get(p, st), undefined);
    c.remember(p, st, st.ctimeMs + FINE_SETTLED_MS + 1, 3, 'after it');
    assert.equal(c.get(p, st), 'after it');
  });
});

describe('util/fileIdentity settleWindowOf', () => {
  it('gives the fine window on the local filesystems Linux stamps with its clock, the long one elsewhere', () => {
    assert.equal(settleWindowOf('/dev/shm'), FINE_SETTLED_MS, 'tmpfs');
    assert.equal(settleWindowOf('/proc'), SETTLED_MS, 'procfs is not one of them');
    assert.equal(settleWindowOf(path.join(os.tmpdir(), 'nus-no-such-dir', 'x')), SETTLED_MS, 'a path that cannot be told');
  });
});
