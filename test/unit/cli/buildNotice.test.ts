/**
 * `npm start` says what it is doing before tsc compiles (the first build printed nothing for
 * about 40 s): scripts/build-notice.mjs runs first and writes one line on stderr.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..', '..');
const NOTICE = path.join(ROOT, 'scripts', 'build-notice.mjs');

describe('npm start: a line before the build', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nus-notice-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('runs the notice before tsc, in the start script', () => {
    const start = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.start;
    assert.match(start, /^node scripts\/build-notice\.mjs && npm run --silent build && /);
  });

  it('says the first build takes a while when dist/ is not built, on stderr only', () => {
    const r = spawnSync(process.execPath, [NOTICE], { cwd: dir, encoding: 'utf8' });
    assert.equal(r.status, 0);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^nova-uefi-shim: first start: compiling src\/ into dist\/ with tsc \(about 40 s; .*\)\.\.\.\n$/);
  });

  it('says it brings dist/ up to date once it was built', () => {
    fs.mkdirSync(path.join(dir, 'dist'));
    fs.writeFileSync(path.join(dir, 'dist', 'main.js'), '');
    fs.writeFileSync(path.join(dir, 'dist', '.tsbuildinfo'), '{}');
    const err = execFileSync(process.execPath, [NOTICE], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    assert.equal(err, '');
    const r = spawnSync(process.execPath, [NOTICE], { cwd: dir, encoding: 'utf8' });
    assert.equal(r.stderr, 'nova-uefi-shim: bringing dist/ up to date (tsc -b)...\n');
  });
});
