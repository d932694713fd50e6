/**
 * 9. Nova's operations with `compute_driver = uefi_shim.UEFIShimDriver` (and a sidecar per host)
 * against the stock `LibvirtDriver` of the same release, on Nova's own functional framework
 * (API, conductor, scheduler, placement, compute hosts on Nova's fake libvirt), release by
 * release: 26 is this host's python3-nova, 31 and 33 run in the chroots of
 * `scripts/nova-release.sh` (`run`). Runs `nova-driver/nova_uefi_shim_tests/functional/bench.py`,
 * which starts one cloud per round with both drivers in it (two hosts each, an availability
 * zone each) and times create, hard reboot, resize + confirm, cold migrate + confirm, live
 * migrate and delete for a UEFI server per driver, the two taking each operation in turn (ABBA),
 * after one untimed warm-up pair; then a live migration between aarch64 hosts (64 MiB AAVMF
 * store). The sidecars run compiled (dist/), as `npm start` runs them. The
 * subject's extra time is the sidecar's HTTP calls and store work: the target is
 * ≤ 1.25× per operation on every release. A release that is not importable or not installed
 * is skipped with the reason.
 */
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { result, type Result } from './lib/stats';
import { REPO } from './lib/env';

const PYTHON = process.env.PYTHON ?? '/usr/bin/python3';
const DRIVER_DIR = path.join(REPO, 'nova-driver');
const TARGET = 1.25;

interface BenchDoc {
  samples: { driver: 'stock' | 'uefi_shim'; op: string; ms: number }[];
  operations: string[];
  nova_version?: string;
  skipped: string | null;
  errors: string[];
}

export interface NovaBenchSizes {
  rounds: number;
  servers: number;
}

/** Nova majors the bench runs on: 26 on this host, the others in scripts/nova-release.sh's chroots. */
export const NOVA_RELEASES = ['26', '31', '33'] as const;
const RELEASE_SCRIPT = path.join(REPO, 'scripts', 'nova-release.sh');

/** The command that runs `argv` (python first) on `release`: as is on 26, through `nova-release.sh run` otherwise. */
function onRelease(release: string, argv: string[]): string[] {
  if (release === '26') return argv;
  // In the chroot the sidecars run from this tree with the host's node (bind-mounted there).
  const inner = `cd ${JSON.stringify(DRIVER_DIR)} && PYTHONPATH=${JSON.stringify(DRIVER_DIR)} NOVA_UEFI_SHIM_NODE=/usr/local/bin/node NOVA_UEFI_SHIM_SIDECAR=dist exec "$@"`;
  return [RELEASE_SCRIPT, 'run', release, '--', '/bin/bash', '-c', inner, 'bench', '/usr/bin/python3', ...argv.slice(1)];
}

function novaMissing(release: string): Promise<string | null> {
  return new Promise((resolve) => {
    if (release !== '26') {
      if (process.getuid?.() !== 0) return resolve(`release ${release} runs in a chroot, which needs root`);
      execFile(RELEASE_SCRIPT, ['status', release], { timeout: 600_000 }, (err) =>
        resolve(err ? `release ${release} is not installed (scripts/nova-release.sh install ${release})` : null),
      );
      return;
    }
    execFile(PYTHON, ['-c', 'import nova.tests.functional.libvirt.base'], { timeout: 600_000 }, (err) =>
      resolve(err ? `python3-nova with its tests is not importable by ${PYTHON}` : null),
    );
  });
}

function run(release: string, args: string[], log: (s: string) => void): Promise<number | null> {
  return new Promise((resolve) => {
    const cmd = onRelease(release, [PYTHON, '-m', 'nova_uefi_shim_tests.functional.bench', ...args]);
    const child = spawn(cmd[0], cmd.slice(1), {
      cwd: DRIVER_DIR,
      // The sidecars run compiled (dist/, which bench/run.ts builds first), as `npm start` runs them.
      env: { ...process.env, PYTHONPATH: DRIVER_DIR, NOVA_UEFI_SHIM_SIDECAR: 'dist' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let tail = '';
    child.stderr.on('data', (d: Buffer) => (tail = (tail + d.toString()).slice(-4000)));
    child.on('close', (code) => {
      if (code !== 0) log(`nova: bench.py exited ${code}: ${tail.split('\n').slice(-15).join('\n')}`);
      resolve(code);
    });
  });
}

export async function benchNova(
  root: string,
  sz: NovaBenchSizes,
  releases: readonly string[],
  log: (s: string) => void,
  skip: (release: string, reason: string) => void,
): Promise<Result[]> {
  const out: Result[] = [];
  for (const release of releases) out.push(...(await benchRelease(root, release, sz, log, (why) => skip(release, why))));
  return out;
}

async function benchRelease(root: string, release: string, sz: NovaBenchSizes, log: (s: string) => void, skip: (reason: string) => void): Promise<Result[]> {
  const missing = await novaMissing(release);
  if (missing) {
    skip(missing);
    return [];
  }
  // Under the repository, not /tmp: the chroots of 31 and 33 mount their own /tmp (and /work).
  const dir = release === '26' ? root : fs.mkdtempSync(path.join(REPO, 'bench', 'results', '.nova-'));
  const out = path.join(dir, `nova-bench-${release}.json`);
  try {
    log(
      `nova ${release}: ${sz.rounds} clouds with both drivers, ${sz.servers} UEFI servers a driver in each (after a warm-up one), the two taking turns; then aarch64 live migrations`,
    );
    await run(release, ['--rounds', String(sz.rounds), '--servers', String(sz.servers), '--out', out], log);
    if (!fs.existsSync(out)) throw new Error(`nova ${release}: bench.py wrote no results`);
    const doc = JSON.parse(fs.readFileSync(out, 'utf8')) as BenchDoc;
    if (doc.skipped) {
      skip(doc.skipped);
      return [];
    }
    if (doc.errors.length) throw new Error(`nova ${release}: a round failed:\n${doc.errors[0]}`);
    const version = doc.nova_version ?? release;
    const of = (driver: string, op: string) => doc.samples.filter((s) => s.driver === driver && s.op === op).map((s) => s.ms);
    return doc.operations.map((op) => {
      const r = result({
        id: `nova${release === '26' ? '' : release}.${op.replace(/[^a-z0-9]+/g, '_').replace(/_+$/, '')}`,
        name: `Nova ${version}: ${op} (functional framework)`,
        unit: 'ms',
        subject: of('uefi_shim', op),
        baseline: of('stock', op),
        target: `≤ ${TARGET}×`,
        met: null,
        subjectLabel: 'UEFIShimDriver + sidecar',
        baselineLabel: `LibvirtDriver (stock ${version})`,
        better: 'lower',
        extra: { release, nova_version: version, rounds: sz.rounds, servers: sz.servers },
      });
      return { ...r, met: r.ratio <= TARGET };
    });
  } finally {
    if (dir !== root) fs.rmSync(dir, { recursive: true, force: true });
  }
}
