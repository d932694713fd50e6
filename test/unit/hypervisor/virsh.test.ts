/**
 * hypervisor/virsh: the runner executes a real program (a stand-in `virsh` script written
 * here) with `-c <uri> -q` first and the arguments as argv, never through a shell, in the C
 * locale, and turns a missing binary, a hang and libvirt's stderr into classified errors.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HypervisorError } from '../../../src/errors';
import { DEFAULT_VIRSH_TIMEOUT_MS, virshArgv, virshRunner } from '../../../src/hypervisor/virsh';

describe('hypervisor/virsh', () => {
  let dir: string;
  let fake: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nus-virsh-'));
    fake = path.join(dir, 'virsh');
    // Prints each argument on its own line, then LC_ALL; behaves by the 4th argument (the first after -c URI -q).
    fs.writeFileSync(
      fake,
      [
        '#!/bin/sh',
        'case "$4" in',
        '  fail) echo "error: failed to get domain \'$5\'" >&2; exit 1 ;;',
        '  hang) exec sleep 30 ;;',
        'esac',
        'for a in "$@"; do printf "%s\\n" "$a"; done',
        'printf "LC_ALL=%s\\n" "$LC_ALL"',
      ].join('\n'),
      { mode: 0o755 },
    );
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('puts -c <uri> -q before the arguments', () => {
    assert.deepEqual(virshArgv('qemu:///system', ['start', 'x']), ['-c', 'qemu:///system', '-q', 'start', 'x']);
  });

  it('waits two minutes by default', () => assert.equal(DEFAULT_VIRSH_TIMEOUT_MS, 120_000));

  it('passes arguments as argv, uninterpreted, in the C locale, and resolves to stdout', async () => {
    const run = virshRunner('qemu:///system', fake);
    const tricky = ["instance-0001'; rm -rf /", '$(touch pwned)', 'a b', '*'];
    const out = await run(['dominfo', ...tricky]);
    assert.deepEqual(out.trimEnd().split('\n'), ['-c', 'qemu:///system', '-q', 'dominfo', ...tricky, 'LC_ALL=C']);
    assert.equal(fs.existsSync(path.join(process.cwd(), 'pwned')), false);
  });

  it('classifies libvirt stderr (a missing domain is no-domain)', async () => {
    const run = virshRunner('qemu:///system', fake);
    await assert.rejects(run(['fail', 'instance-9']), (e: unknown) => e instanceof HypervisorError && e.kind === 'no-domain');
  });

  it('says a missing virsh is a connect problem naming the path and the option', async () => {
    const missing = path.join(dir, 'no-virsh');
    await assert.rejects(
      virshRunner('qemu:///system', missing)(['list']),
      (e: unknown) =>
        e instanceof HypervisorError &&
        e.kind === 'connect' &&
        e.message === `virsh not found at '${missing}' (install libvirt-clients or set [libvirt] virsh_path)`,
    );
  });

  it('kills a virsh that does not answer within the timeout, and says so', async () => {
    await assert.rejects(
      virshRunner('qemu:///system', fake)(['hang'], 300),
      (e: unknown) => e instanceof HypervisorError && e.kind === 'other' && e.message === 'virsh hang: no answer within 300 ms (killed)',
    );
  });
});
