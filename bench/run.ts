/**
 * `npm run bench [-- --quick] [-- --out FILE] [-- --only spawn,overhead,transfer,footprint,scale,secureboot,replica,metrics,nova]`
 *
 * What the sidecar costs against what an operator would otherwise do, measured in one run
 * with every subject and its baseline alternating (ABBA rounds) so that noise from the
 * machine (2 vCPUs, a neighbour's QEMU) lands on both:
 *   1. spawn (x86_64 4M UEFI, embedded backend) vs an atomic copy of the template with fsync
 *   2. get_info through the full stack vs a bare express route (autocannon)
 *   3. NVRAM transfer between two sidecars (528 KiB OVMF, 64 MiB AAVMF) vs an uncompressed PUT
 *   4. disk footprint of 100 aarch64 stores vs 100 dense copies
 *   5. 10,000 registered instances: start-up, resident memory, list_instances
 *   6. Secure Boot: a fleet rotation over 1,000 shut-off instances (wall and sidecar CPU) vs
 *      the same edit in-process; the inventory of 10,000 after the first read vs that read
 *   7. NVRAM replicas: a generation of the 528 KiB and 64 MiB stores vs a plain PUT, catch-up of
 *      1,000 changed stores after an outage (time, peak memory), spawn with a replica backend vs none
 *   8. get_info with Prometheus metrics vs the same build with metrics off
 *   9. Nova's operations with UEFIShimDriver vs the stock LibvirtDriver of the same release on
 *      Nova's functional framework, per release (`--nova-releases`, default 26,31,33; a release
 *      not installed is skipped with the reason), aarch64 live migration included
 * Prints a table and writes JSON (median, p95, n per side, ratio, target, met, machine) to
 * `--out` (default bench/results/latest.json). `--quick`: every measurement, smaller sizes,
 * under two minutes. Sidecars run the compiled build (dist/, rebuilt first when stale), as
 * installed. Uses the real Debian firmware and QEMU descriptors when present,
 * synthetic files of the same sizes otherwise. Not a test: nothing here asserts a target.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { table, type Result } from './lib/stats';
import { REPO, benchFirmware, buildDist, killAll, machineInfo, tmpRoot } from './lib/env';
import { benchSpawn } from './spawn';
import { benchOverhead } from './overhead';
import { benchTransfer } from './transfer';
import { benchFootprint } from './footprint';
import { benchScale } from './scale';
import { benchSecureBoot } from './secureBoot';
import { benchReplica } from './replica';
import { benchMetrics } from './metrics';
import { benchNova, NOVA_RELEASES } from './nova';

const ALL = ['spawn', 'overhead', 'transfer', 'footprint', 'scale', 'secureboot', 'replica', 'metrics', 'nova'] as const;

function parseArgs(argv: string[]) {
  const o = {
    quick: false,
    out: path.join(REPO, 'bench', 'results', 'latest.json'),
    only: [...ALL] as string[],
    keep: false,
    novaReleases: [...NOVA_RELEASES] as string[],
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => (a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i]);
    if (a === '--quick') o.quick = true;
    else if (a === '--keep') o.keep = true;
    else if (a === '--out' || a.startsWith('--out=')) o.out = path.resolve(val());
    else if (a === '--only' || a.startsWith('--only='))
      o.only = val()
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    else if (a === '--nova-releases' || a.startsWith('--nova-releases='))
      o.novaReleases = val()
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    else if (a === '-h' || a === '--help') {
      process.stdout.write(
        'usage: npm run bench -- [--quick] [--out FILE] [--only spawn,overhead,transfer,footprint,scale,secureboot,replica,metrics,nova] [--nova-releases 26,31,33] [--keep]\n',
      );
      process.exit(0);
    } else throw new Error(`unknown argument '${a}'`);
  }
  for (const r of o.novaReleases)
    if (!(NOVA_RELEASES as readonly string[]).includes(r)) throw new Error(`--nova-releases: unknown release '${r}' (${NOVA_RELEASES.join(', ')})`);
  for (const x of o.only) if (!(ALL as readonly string[]).includes(x)) throw new Error(`--only: unknown measurement '${x}' (${ALL.join(', ')})`);
  return o;
}

const SIZES = {
  full: {
    spawn: { rounds: 10, perRound: 30, tpRounds: 4, tpOps: (c: number) => Math.max(96, c * 6), concurrency: [1, 8, 32] },
    overhead: { rounds: 6, seconds: 4, connections: 16 },
    transfer: { small: 40, large: 12 },
    footprint: 100,
    scale: { instances: 10_000, rounds: 5, lists: 5 },
    secureboot: { rotationInstances: 1_000, rotationRounds: 2, inventoryInstances: 10_000, inventoryReads: 5 },
    replica: { small: 20, large: 6, catchUp: 1000, spawnRounds: 6, spawnPerRound: 10 },
    metrics: { rounds: 8, seconds: 4, connections: 16 },
    // Sixteen timed server pairs a round (after the untimed warm-up pair): 64 samples per
    // operation and driver. With 24 or 32, one cell in 21 moved by a little more than ±0.1×
    // between two runs.
    nova: { rounds: 4, servers: 16 },
  },
  quick: {
    spawn: { rounds: 2, perRound: 15, tpRounds: 2, tpOps: (c: number) => Math.max(32, c * 2), concurrency: [1, 8, 32] },
    overhead: { rounds: 2, seconds: 1, connections: 16 },
    transfer: { small: 6, large: 2 },
    footprint: 10,
    scale: { instances: 1_000, rounds: 2, lists: 3 },
    secureboot: { rotationInstances: 200, rotationRounds: 1, inventoryInstances: 1_000, inventoryReads: 3 },
    replica: { small: 4, large: 2, catchUp: 100, spawnRounds: 2, spawnPerRound: 8 },
    metrics: { rounds: 2, seconds: 1, connections: 16 },
    nova: { rounds: 2, servers: 1 },
  },
};

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const sz = args.quick ? SIZES.quick : SIZES.full;
  buildDist();
  const started = performance.now();
  const root = tmpRoot();
  const machine = machineInfo(root);
  const fw = benchFirmware(root);
  const log = (s: string) => process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${s}\n`);
  log(
    `${args.quick ? 'quick' : 'full'} run in ${root} (${machine.bench_dir_fs}), ${machine.cpu_model} × ${machine.nproc}, node ${machine.node}, firmware: ${fw.real ? 'Debian files' : 'synthetic'}`,
  );
  const results: Result[] = [];
  const timings: Record<string, number> = {};
  /** Sections that could not run here, with the reason. */
  const skipped: Record<string, string> = {};
  const steps: Record<string, () => Promise<Result[]>> = {
    spawn: () => benchSpawn(root, fw, sz.spawn, log),
    overhead: () => benchOverhead(root, fw, sz.overhead, log),
    transfer: () => benchTransfer(root, fw, machine, sz.transfer, log),
    footprint: () => benchFootprint(root, fw, sz.footprint, log),
    scale: () => benchScale(root, fw, sz.scale, log),
    secureboot: () => benchSecureBoot(root, fw, sz.secureboot, log),
    replica: () => benchReplica(root, fw, sz.replica, log),
    metrics: () => benchMetrics(root, fw, sz.metrics, log),
    nova: () =>
      benchNova(root, sz.nova, args.novaReleases, log, (release, why) => {
        skipped[`nova ${release}`] = why;
        log(`nova ${release}: skipped: ${why}`);
      }),
  };
  let failed = true;
  try {
    for (const name of ALL) {
      if (!args.only.includes(name)) continue;
      const t = performance.now();
      results.push(...(await steps[name]()));
      timings[name] = (performance.now() - t) / 1000;
    }
    failed = false;
  } finally {
    killAll();
    // After a failure the sidecars' logs and state stay for inspection.
    if (failed) log(`kept ${root} (sidecar logs: */sidecar.log)`);
    else if (!args.keep) fs.rmSync(root, { recursive: true, force: true });
  }
  const duration = (performance.now() - started) / 1000;
  const md =
    table(results) +
    Object.entries(skipped)
      .map(([k, why]) => `\n\n${k}: skipped (${why})`)
      .join('');
  process.stdout.write(
    `\n${md}\n\n${args.quick ? 'quick' : 'full'} run: ${duration.toFixed(0)} s on ${machine.cpu_model} × ${machine.nproc}, ${machine.os}, kernel ${machine.kernel}, node ${machine.node}, ${machine.bench_dir_fs} on ${machine.bench_dir_device}\n`,
  );
  const doc = {
    schema: 1,
    generated_at: new Date().toISOString(),
    command: `npm run bench${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}`,
    mode: args.quick ? 'quick' : 'full',
    duration_s: Math.round(duration),
    step_seconds: Object.fromEntries(Object.entries(timings).map(([k, v]) => [k, Math.round(v)])),
    skipped,
    machine,
    firmware: { real: fw.real, descriptor_dirs: fw.descriptorDirs, templates: fw.templates },
    method:
      'subject and baseline alternate in ABBA rounds within one run; median and p95 are nearest-rank over all samples of a side; ratio = subject median / baseline median (footprint: total / total)',
    results,
    table_markdown: md,
  };
  fs.mkdirSync(path.dirname(args.out), { recursive: true });
  fs.writeFileSync(args.out, JSON.stringify(doc, null, 2) + '\n');
  process.stdout.write(`wrote ${path.relative(process.cwd(), args.out) || args.out}\n`);
}

main().catch((e) => {
  killAll();
  process.stderr.write(`bench failed: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
