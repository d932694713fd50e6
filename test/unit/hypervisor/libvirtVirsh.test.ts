/**
 * The real `virshRunner` against a stand-in virsh executable: argv goes through execFile
 * untouched (no shell ever sees it), `-c URI -q` always come first, failures are classified,
 * and a hung virsh is killed at the timeout.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { virshRunner, virshArgv } from '../../../src/hypervisor/virsh';
import { HypervisorError } from '../../../src/errors';

describe('hypervisor/virsh runner', () => {
  let dir: string;
  let bin: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nus-virsh-'));
    bin = path.join(dir, 'virsh');
    // Prints its argv as JSON; "fail" makes it behave like a failing virsh; "hang" sleeps.
    fs.writeFileSync(
      bin,
      `#!${process.execPath}
const a = process.argv.slice(2);
if (a.includes('fail')) { process.stderr.write("error: failed to get domain 'x'\\n"); process.exit(1); }
if (a.includes('hang')) setTimeout(() => {}, 60000);
else process.stdout.write(JSON.stringify(a));
`,
      { mode: 0o755 },
    );
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('puts -c URI and -q before the command', () => {
    assert.deepEqual(virshArgv('qemu:///system', ['list', '--all']), ['-c', 'qemu:///system', '-q', 'list', '--all']);
  });

  it('passes shell metacharacters through as plain argv (no shell)', async () => {
    const marker = path.join(dir, 'pwned');
    const nasty = `x; touch ${marker} $(touch ${marker}) \`touch ${marker}\` | & > '"`;
    const out = await virshRunner('qemu:///system?socket=/a b/sock', bin)(['domstate', nasty]);
    assert.deepEqual(JSON.parse(out), ['-c', 'qemu:///system?socket=/a b/sock', '-q', 'domstate', nasty]);
    assert.equal(fs.existsSync(marker), false);
  });

  it('turns a failure into a classified HypervisorError', async () => {
    await assert.rejects(
      virshRunner('qemu:///system', bin)(['domstate', 'fail']),
      (e: unknown) => e instanceof HypervisorError && e.kind === 'no-domain' && /virsh domstate fail: failed to get domain 'x'/.test(e.message),
    );
  });

  it('kills a virsh that does not answer within the timeout', async () => {
    const t0 = Date.now();
    await assert.rejects(
      virshRunner('qemu:///system', bin)(['hang'], 300),
      (e: unknown) => e instanceof HypervisorError && /no answer within 300 ms/.test(e.message),
    );
    assert.ok(Date.now() - t0 < 5000);
  });

  it('reports a missing virsh binary as a connect error', async () => {
    await assert.rejects(
      virshRunner('qemu:///system', path.join(dir, 'nope'))(['version']),
      (e: unknown) => e instanceof HypervisorError && e.kind === 'connect',
    );
  });

  it('is built on execFile, never exec or a shell option', () => {
    const src = fs.readFileSync(path.join(__dirname, '../../../src/hypervisor/virsh.ts'), 'utf8');
    assert.match(src, /import \{ execFile \} from 'node:child_process'/);
    assert.doesNotMatch(src, /\bexec\(|execSync|\bspawn|shell:\s*true/);
  });
});
