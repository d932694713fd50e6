/**
 * util/faults: an armed crash point kills the process with SIGKILL right there (checked in a
 * child process, after a warning line naming the step); an unarmed one does nothing.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { FaultPoints } from '../../../src/util/faults';
import { memoryLogger } from '../../../src/util/log';

const ROOT = path.resolve(__dirname, '../../..');

describe('util/faults', () => {
  it('does nothing at a step that is not armed', () => {
    const log = memoryLogger();
    new FaultPoints(['after-rename'], log).hit('before-rename');
    new FaultPoints([], log).hit('after-rename');
    assert.deepEqual(log.lines, []);
  });

  it('kills the process with SIGKILL at an armed step, logging the step first, and runs nothing after it', () => {
    const script = `
      const { FaultPoints } = require('./src/util/faults');
      const { createLogger } = require('./src/util/log');
      const f = new FaultPoints(['after-rename'], createLogger({}));
      f.hit('before-rename');
      process.stdout.write('passed unarmed\\n');
      f.hit('after-rename');
      process.stdout.write('still alive\\n');
    `;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.signal, 'SIGKILL', `stderr: ${r.stderr}`);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines[0], 'passed unarmed');
    const warn = JSON.parse(lines[1]) as Record<string, unknown>;
    assert.equal(warn.level, 'warning');
    assert.equal(warn.step, 'after-rename');
    assert.equal(lines.length, 2, 'nothing after the crash point ran');
  });
});
