/**
 * 9. Nova's operations with `compute_driver = uefi_shim.UEFIShimDriver` (and a sidecar per host)
 * against the stock `LibvirtDriver`, on Nova's own functional framework (Debian's python3-nova:
 * API, conductor, scheduler, placement, two compute hosts on Nova's fake libvirt). Runs
 * `nova-driver/nova_uefi_shim_tests/functional/bench.py`, which starts a fresh cloud per driver
 * per round, alternating (ABBA), and times create, hard reboot, resize + confirm, cold migrate +
 * confirm, live migrate and delete for a few UEFI servers. The subject's extra time is the
 * sidecar's HTTP calls and store work: the target is ≤ 1.25× per operation.
 * Skipped with the reason when python3-nova (with its tests) is not importable.
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
  skipped: string | null;
  errors: string[];
}

export interface NovaBenchSizes {
  rounds: number;
  servers: number;
}

function novaMissing(): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(PYTHON, ['-c', 'import nova.tests.functional.libvirt.base'], { timeout: 60_000 }, (err) =>
      resolve(err ? `python3-nova with its tests is not importable by ${PYTHON}` : null),
    );
  });
}

function run(args: string[], log: (s: string) => void): Promise<number | null> {
  return new Promise((resolve) => {
    const child = spawn(PYTHON, ['-m', 'nova_uefi_shim_tests.functional.bench', ...args], {
      cwd: DRIVER_DIR,
      env: { ...process.env, PYTHONPATH: DRIVER_DIR },
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

export async function benchNova(root: string, sz: NovaBenchSizes, log: (s: string) => void, skip: (reason: string) => void): Promise<Result[]> {
  const missing = await novaMissing();
  if (missing) {
    skip(missing);
    return [];
  }
  const out = path.join(root, 'nova-bench.json');
  log(`nova: ${sz.rounds} rounds per driver (alternating), ${sz.servers} UEFI servers each`);
  await run(['--rounds', String(sz.rounds), '--servers', String(sz.servers), '--out', out], log);
  if (!fs.existsSync(out)) throw new Error('nova: bench.py wrote no results');
  const doc = JSON.parse(fs.readFileSync(out, 'utf8')) as BenchDoc;
  if (doc.skipped) {
    skip(doc.skipped);
    return [];
  }
  if (doc.errors.length) throw new Error(`nova: a round failed:\n${doc.errors[0]}`);
  const of = (driver: string, op: string) => doc.samples.filter((s) => s.driver === driver && s.op === op).map((s) => s.ms);
  return doc.operations.map((op) => {
    const r = result({
      id: `nova.${op.replace(/[^a-z]+/g, '_').replace(/_+$/, '')}`,
      name: `Nova ${op} (functional framework)`,
      unit: 'ms',
      subject: of('uefi_shim', op),
      baseline: of('stock', op),
      target: `≤ ${TARGET}×`,
      met: null,
      subjectLabel: 'UEFIShimDriver + sidecar',
      baselineLabel: 'LibvirtDriver (stock 26.2.2)',
      better: 'lower',
      extra: { rounds: sz.rounds, servers: sz.servers },
    });
    return { ...r, met: r.ratio <= TARGET };
  });
}
