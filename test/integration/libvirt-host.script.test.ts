/**
 * scripts/libvirt-host.sh with pidfiles that outlived their daemons. /run is not always a tmpfs
 * (it is not on these machines), so /run/libvirtd.pid can survive the daemon and, a reboot or
 * an image later, name a process that has nothing to do with libvirt. The script must then
 * start the daemon instead of waiting for an answer that never comes, and must never signal
 * the stranger. Skips like libvirt-backend.test.ts (fails under NUS_REQUIRE_LIBVIRT=1).
 */
import { strict as assert } from 'node:assert';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HOST_SCRIPT, SYSTEM_URI, libvirtPrereqs, skipOrFail, startHostA, startHostB, stopHostB, virshOn } from '../support/libvirtd';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function commOf(pidFile: string): string {
  const pid = fs.readFileSync(pidFile, 'utf8').trim();
  return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
}

describe('scripts/libvirt-host.sh: a pidfile naming a live process that is not the daemon', function () {
  this.timeout(600_000);
  let stranger: ChildProcess | undefined;
  const dirs: string[] = [];

  before(function () {
    const why = libvirtPrereqs();
    if (why) skipOrFail(this, why);
  });

  beforeEach(() => {
    stranger = spawn('sleep', ['600'], { stdio: 'ignore' });
  });

  afterEach(() => {
    stranger?.kill('SIGKILL');
  });

  after(async () => {
    for (const d of dirs) {
      await stopHostB(d).catch(() => undefined);
      fs.rmSync(d, { recursive: true, force: true });
    }
  });

  it('host B: starts its own daemons and leaves the stranger alone, at start and at stop', async () => {
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nus-libvirt-stale-'));
    dirs.push(stateDir);
    const pid = stranger!.pid!;
    fs.writeFileSync(path.join(stateDir, 'libvirtd.pid'), `${pid}\n`);
    fs.writeFileSync(path.join(stateDir, 'virtlogd.pid'), `${pid}\n`);

    const host = await startHostB(stateDir);
    assert.ok(isAlive(pid), 'start b signalled the process its stale pidfile named');
    assert.equal(commOf(path.join(stateDir, 'libvirtd.pid')), 'libvirtd');
    assert.equal(commOf(path.join(stateDir, 'virtlogd.pid')), 'virtlogd');
    assert.match(virshOn(host.uri, 'uri'), /qemu/);

    await stopHostB(stateDir);
    assert.ok(isAlive(pid), 'stop b signalled a process that was not its daemon');
  });

  it('host A: a stale /run/libvirtd.pid does not stop `start a` from starting the system daemon', async function () {
    await startHostA();
    execFileSync('/bin/bash', [HOST_SCRIPT, 'stop', 'a'], { stdio: 'ignore' });
    let stillAnswers = true;
    try {
      virshOn(SYSTEM_URI, 'version');
    } catch {
      stillAnswers = false;
    }
    // A daemon this script did not start (an operator's, systemd's) is never stopped by it.
    if (stillAnswers) skipOrFail(this, 'host A runs a libvirtd this script did not start; it is left alone');

    const pid = stranger!.pid!;
    fs.writeFileSync('/run/libvirtd.pid', `${pid}\n`);
    const host = await startHostA();
    assert.equal(host.uri, SYSTEM_URI);
    assert.ok(isAlive(pid), 'start a signalled the process the stale pidfile named');
    assert.equal(commOf('/run/libvirtd.pid'), 'libvirtd');
    assert.match(virshOn(SYSTEM_URI, 'version'), /QEMU|libvirt/i);
  });
});
