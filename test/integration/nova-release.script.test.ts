/**
 * `scripts/nova-release.sh run` never leaves a mount behind: on a small real chroot (this host's
 * bash and the libraries it links, marked installed with the script's own stamps) under a
 * temporary NOVA_RELEASE_ROOT, a command that fails, a mount that fails halfway (no /sys in the
 * chroot) and a run killed by SIGTERM all end with nothing of the chroot left in /proc/mounts,
 * while the command itself saw /proc, /dev, /dev/pts, /sys and a tmpfs /tmp mounted. Run in the
 * host's mount namespace (NOVA_RELEASE_UNSHARE=0: the script's trap alone unmounts) and in the
 * default private namespace. `remove` refuses a chroot that still has a mount.
 *
 * Needs root (mount, chroot). Skips with the reason otherwise; NUS_REQUIRE_NOVA_RELEASE=1 (CI)
 * turns the skip into a failure.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const SCRIPT = path.resolve(__dirname, '../../scripts/nova-release.sh');
/** Environment switch: set to 1 (CI does) and this suite fails instead of skipping. */
const REQUIRE_ENV = 'NUS_REQUIRE_NOVA_RELEASE';

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
}

function mountsUnder(dir: string): string[] {
  return fs
    .readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m === dir || m.startsWith(`${dir}/`));
}

/** A chroot of release 31 at ROOT/trixie: bash, coreutils' sleep and their libraries. */
function buildChroot(root: string): string {
  const c = path.join(root, 'trixie');
  for (const d of ['proc', 'dev', 'sys', 'tmp', 'usr/local/bin', 'bin', 'etc']) fs.mkdirSync(path.join(c, d), { recursive: true });
  for (const bin of ['/bin/bash', '/bin/sleep', '/bin/grep']) {
    const real = fs.realpathSync(bin);
    fs.copyFileSync(real, path.join(c, 'bin', path.basename(bin)));
    fs.chmodSync(path.join(c, 'bin', path.basename(bin)), 0o755);
    const libs = execFileSync('ldd', [real], { encoding: 'utf8' })
      .split('\n')
      .map((l) => /(\/\S+)\s+\(0x/.exec(l)?.[1])
      .filter((l): l is string => !!l);
    for (const lib of libs) {
      const dest = path.join(c, lib);
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      if (!fs.existsSync(dest)) fs.copyFileSync(fs.realpathSync(lib), dest);
    }
  }
  fs.mkdirSync(path.join(root, 'trixie.stamps'));
  const steps = execFileSync('/bin/bash', [SCRIPT, 'steps', '31'], { encoding: 'utf8' }).trim().split(/\s+/);
  for (const step of steps) fs.writeFileSync(path.join(root, 'trixie.stamps', step), 'test\n');
  return c;
}

describe('scripts/nova-release.sh: mounts never outlive run', function () {
  this.timeout(60_000);
  let root = '';
  let chroot = '';

  before(function () {
    if (process.getuid?.() !== 0) {
      const why = 'mount and chroot need root';
      if (process.env[REQUIRE_ENV] === '1') throw new Error(`${REQUIRE_ENV}=1 but: ${why}`);
      console.log(`      skipped: ${why}`);
      this.skip();
    }
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'nova-release-test-'));
    chroot = buildChroot(root);
  });

  after(function () {
    if (!root) return;
    const left = mountsUnder(root);
    for (const m of left.reverse()) execFileSync('umount', ['-l', m]);
    // rm only once nothing is mounted below (a bound /dev would be deleted with it)
    if (mountsUnder(root).length === 0) fs.rmSync(root, { recursive: true, force: true });
  });

  function run(args: string[], env: Record<string, string>, kill?: (pid: number) => void): Promise<Run> {
    return new Promise((resolve) => {
      const child = spawn('/bin/bash', [SCRIPT, ...args], {
        env: { ...process.env, NOVA_RELEASE_ROOT: root, NOVA_RELEASE_MOUNT_WORK: '0', ...env },
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (kill && out.includes('READY')) {
          const k = kill;
          kill = undefined;
          k(child.pid!);
        }
      });
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      child.on('close', (code, signal) => resolve({ code, signal, out }));
    });
  }

  for (const unshare of ['0', '1']) {
    const where = unshare === '0' ? "host's namespace (the trap unmounts)" : 'a private mount namespace';
    describe(`in ${where}`, function () {
      it('a failing command: mounts were there for it, none after', async function () {
        const r = await run(['run', '31', '--', '/bin/bash', '-c', 'grep -c -E " /(proc|dev|dev/pts|sys|tmp) " /proc/self/mounts; exit 7'], {
          NOVA_RELEASE_UNSHARE: unshare,
        });
        assert.equal(r.code, 7, r.out);
        // inside, /proc/self/mounts names the chroot's own mount points (as the chroot sees them)
        assert.ok(Number(r.out.trim().split('\n')[0]) >= 5, `the command did not see its mounts:\n${r.out}`);
        assert.deepEqual(mountsUnder(root), []);
      });

      it('a mount failing halfway (no /sys in the chroot): the earlier mounts are undone', async function () {
        fs.rmdirSync(path.join(chroot, 'sys'));
        try {
          const r = await run(['run', '31', '--', '/bin/bash', '-c', 'echo should-not-run'], { NOVA_RELEASE_UNSHARE: unshare });
          assert.notEqual(r.code, 0, r.out);
          assert.ok(!r.out.includes('should-not-run'), r.out);
          assert.deepEqual(mountsUnder(root), []);
        } finally {
          fs.mkdirSync(path.join(chroot, 'sys'));
        }
      });

      it('a run killed by SIGTERM: no mount left', async function () {
        let seen: string[] = [];
        const r = await run(['run', '31', '--', '/bin/bash', '-c', 'echo READY; sleep 30'], { NOVA_RELEASE_UNSHARE: unshare }, (pid) => {
          seen = unshare === '0' ? mountsUnder(root) : ['(private namespace)'];
          process.kill(-pid, 'SIGTERM');
        });
        assert.ok(seen.length > 0, 'the mounts were not there while the command ran');
        assert.ok(r.code !== 0 || r.signal, r.out);
        assert.deepEqual(mountsUnder(root), []);
      });
    });
  }

  describe('remove', function () {
    it('refuses a chroot that still has a mount, and removes it once free', async function () {
      const tmp = path.join(chroot, 'tmp');
      execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', tmp]);
      try {
        const r = await run(['remove', '31'], {});
        assert.notEqual(r.code, 0, r.out);
        assert.match(r.out, /still has mounts/);
        assert.ok(fs.existsSync(path.join(chroot, 'bin', 'bash')));
      } finally {
        execFileSync('umount', [tmp]);
      }
      const r = await run(['remove', '31'], {});
      assert.equal(r.code, 0, r.out);
      assert.ok(!fs.existsSync(chroot));
    });
  });
});
