/**
 * The README's quickstart, run as a reader would: every ```sh block under the "## Quickstart"
 * heading, in order, in one bash process started in the repository (so `npm start` builds
 * dist/ there, as it does for a reader), with errexit and pipefail, and TMPDIR pointing at a
 * fresh directory so its `mktemp -d` lands where this test cleans up. A failing command ends
 * the run; the test then fails naming that command, its block and the output before it (and
 * the sidecar's log when there is one). Whatever the blocks started (the sidecar behind
 * `npm start`) is killed with the bash process group at the end, pass or fail.
 *
 * Needs Debian's OVMF firmware and descriptors (package `ovmf`), curl, jq and openssl, and
 * the quickstart's port free. Without them it skips with the reason;
 * `NUS_REQUIRE_QUICKSTART=1` (CI sets it) turns the skip into a failure.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { tmpDir } from '../support/firmwareFixture';

const REPO = path.resolve(__dirname, '..', '..');
const README = path.join(REPO, 'README.md');
const REQUIRE_ENV = 'NUS_REQUIRE_QUICKSTART';
const NEEDS = ['/usr/share/OVMF/OVMF_CODE_4M.ms.fd', '/usr/share/OVMF/OVMF_VARS_4M.ms.fd', '/usr/share/qemu/firmware/40-edk2-x86_64-secure-enrolled.json'];
const TOOLS = ['curl', 'jq', 'openssl'];

/** The ```sh blocks of the README section under `heading` (up to the next `## ` heading), in order. */
export function shellBlocks(markdown: string, heading: string): string[] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => l.trim() === heading);
  if (start < 0) return [];
  const blocks: string[] = [];
  let current: string[] | null = null;
  for (const line of lines.slice(start + 1)) {
    if (current === null && /^## /.test(line)) break;
    if (current === null && /^```sh\s*$/.test(line)) current = [];
    else if (current !== null && /^```\s*$/.test(line)) {
      blocks.push(current.join('\n'));
      current = null;
    } else if (current !== null) current.push(line);
  }
  return blocks;
}

function onPath(tool: string): boolean {
  return (process.env.PATH ?? '/usr/bin:/bin').split(':').some((d) => fs.existsSync(path.join(d, tool)));
}

function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(true));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(false)));
  });
}

/** Kill the process group led by `pid` (bash and everything it started), then make sure. */
async function killGroup(pid: number): Promise<void> {
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    try {
      process.kill(-pid, signal);
    } catch {
      return; // ESRCH: nothing of the group is left
    }
    await new Promise((r) => setTimeout(r, 1500));
  }
}

function findFile(dir: string, name: string): string | null {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isFile() && entry.name === name) return p;
    if (entry.isDirectory()) {
      const found = findFile(p, name);
      if (found) return found;
    }
  }
  return null;
}

const tail = (text: string, n: number) => text.split('\n').slice(-n).join('\n');

describe('README quickstart', function () {
  this.timeout(400_000);
  const blocks = shellBlocks(fs.readFileSync(README, 'utf8'), '## Quickstart');

  it('has its commands in ```sh blocks under "## Quickstart"', () => {
    assert.ok(blocks.length >= 5, `found ${blocks.length} \`\`\`sh blocks under "## Quickstart" in README.md`);
    const all = blocks.join('\n');
    for (const step of ['npm start', '/spawn', '/nvram/variables', '/nvram/secure-boot', '/power_off', '/nvram/backups', '/destroy', 'kill $SIDECAR']) {
      assert.ok(all.includes(step), `the quickstart no longer shows ${step}`);
    }
  });

  it('runs as written: spawn, variables, Secure Boot state, stop, edit, key set, backup, destroy', async function () {
    const missing = [...NEEDS.filter((f) => !fs.existsSync(f)), ...TOOLS.filter((t) => !onPath(t)).map((t) => `${t} (not on PATH)`)];
    const port = Number(/^port = (\d+)$/m.exec(blocks.join('\n'))?.[1]);
    assert.ok(port > 0, 'the quickstart configuration sets no [api] port');
    if (missing.length) {
      const why = `${missing.join(', ')} missing (Debian: apt-get install ovmf curl jq openssl)`;
      if (process.env[REQUIRE_ENV] === '1') throw new Error(`the quickstart is required here (${REQUIRE_ENV}=1) but: ${why}`);
      console.log(`      skipped: ${why}`);
      this.skip();
    }
    // A sidecar already on the port would answer the quickstart's requests instead of its own.
    assert.equal(await portInUse(port), false, `port ${port} (the quickstart's [api] port) is in use: stop what listens there`);

    const tmp = tmpDir('nus-quickstart-');
    const markers = blocks.map((_, i) => `=== quickstart block ${i + 1} ===`);
    const script = [
      'set -eEuo pipefail',
      `trap 'echo "=== FAILED (exit $?): $BASH_COMMAND" >&2' ERR`,
      ...blocks.flatMap((b, i) => [`echo '${markers[i]}'`, b]),
      "echo '=== quickstart done ==='",
    ].join('\n');
    const child = spawn('bash', ['-c', script], {
      cwd: REPO,
      // The child gets no loader hooks from this mocha process (`--import tsx`): it runs as a reader's shell.
      env: { ...process.env, NODE_OPTIONS: '', TMPDIR: tmp },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => void killGroup(child.pid!), 360_000);
      child.on('close', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    const sidecarLog = findFile(tmp, 'sidecar.log');
    const sidecarTail = sidecarLog ? tail(fs.readFileSync(sidecarLog, 'utf8'), 20) : '';
    await killGroup(child.pid!);
    fs.rmSync(tmp, { recursive: true, force: true });

    if (code !== 0 || !out.includes('=== quickstart done ===')) {
      const failed = /=== FAILED \(exit (\d+)\): (.*)/.exec(out);
      const reached = markers.filter((m) => out.includes(m)).length;
      assert.fail(
        [
          `README quickstart failed in block ${reached} (bash exit ${code})` + (failed ? ` at: ${failed[2]} (exit ${failed[1]})` : ' (timed out or killed)'),
          `--- block ${reached} ---`,
          blocks[reached - 1] ?? '(none)',
          '--- output (last 40 lines) ---',
          tail(out.trimEnd(), 40),
          ...(sidecarTail ? ['--- sidecar.log (last 20 lines) ---', sidecarTail] : []),
        ].join('\n'),
      );
    }
    // What a reader is told to expect: the Secure Boot build was picked, the key set's
    // certificate is in db, a manual generation was written, and nothing was left behind.
    assert.match(out, /OVMF_CODE_4M\.ms\.fd/);
    assert.match(out, /CN=Quickstart db key/);
    assert.match(out, /"reason":\s*"manual"/);
    assert.match(out, /no variable store left/);
  });
});
