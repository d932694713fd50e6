/**
 * The sidecar's share of a Nova move, call by call: `node --import tsx bench/novaCalls.ts
 * [--arch aarch64|x86_64] [--rounds N] [--base REF] [--no-replicas]`.
 *
 * Two sidecars with `[hypervisor] backend = nova` (as beside nova-compute with
 * `UEFIShimDriver`), each in its own mount namespace with its own directory bind-mounted on the
 * shared `[nvram] nvram_dir` (as the functional suite runs them; root), Debian's firmware (AAVMF,
 * a 64 MiB store, or OVMF 4M), replicas in a shared directory. Each round makes the calls the
 * Python driver makes, in Nova's order, and times each: a live migration (pre-check, copy,
 * hand-over and verify, the source's clean-up, the arrival), a resize + confirm back, a delete.
 * `--base REF` runs the same rounds against a snapshot of REF (git archive) too, the two
 * alternating round by round, so a change is measured against the code before it under the
 * same load. Sidecars run from the TypeScript sources (tsx), as the functional suite runs them.
 * Prints one line per call: median, and every sample. Not part of `npm run bench` (it needs
 * root for the mount namespaces).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { median } from './lib/stats';
import axios from 'axios';
import { REPO, freePort, tmpRoot } from './lib/env';

/** Calls may take seconds each on a loaded machine: no client-side limit below two minutes. */
const http = axios.create({ timeout: 120_000, validateStatus: () => true });

const FIRMWARE: Record<string, Record<string, string>> = {
  aarch64: {
    loader: '/usr/share/AAVMF/AAVMF_CODE.fd',
    nvram_template: '/usr/share/AAVMF/AAVMF_VARS.fd',
    secure_loader: '/usr/share/AAVMF/AAVMF_CODE.ms.fd',
    secure_nvram_template: '/usr/share/AAVMF/AAVMF_VARS.ms.fd',
    secure_requires_smm: 'false',
  },
  x86_64: {
    loader: '/usr/share/OVMF/OVMF_CODE_4M.fd',
    nvram_template: '/usr/share/OVMF/OVMF_VARS_4M.fd',
    secure_loader: '/usr/share/OVMF/OVMF_CODE_4M.ms.fd',
    secure_nvram_template: '/usr/share/OVMF/OVMF_VARS_4M.ms.fd',
  },
};

function parseArgs(argv: string[]) {
  const o = { arch: 'aarch64', rounds: 3, base: '', replicas: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--arch') o.arch = argv[++i];
    else if (a === '--rounds') o.rounds = Number(argv[++i]);
    else if (a === '--base') o.base = argv[++i];
    else if (a === '--no-replicas') o.replicas = false;
    else throw new Error(`unknown argument '${a}'`);
  }
  if (!FIRMWARE[o.arch]) throw new Error(`--arch: aarch64 or x86_64, not '${o.arch}'`);
  if (!(o.rounds > 0)) throw new Error('--rounds: a positive number');
  return o;
}

interface Host {
  name: string;
  url: string;
  proc: ChildProcess;
}

/** One sidecar of `tree` (a repository root with node_modules), in its own mount namespace. */
async function startSidecar(
  tree: string,
  root: string,
  name: string,
  port: number,
  peers: Record<string, number>,
  arch: string,
  replicas: string | null,
): Promise<Host> {
  const base = path.join(root, name);
  fs.mkdirSync(path.join(base, 'nvram'), { recursive: true });
  const shared = path.join(root, 'nvram');
  const lines = [
    '[DEFAULT]',
    `host = ${name}`,
    'instance_name_template = instance-%08x',
    '[api]',
    'host = 127.0.0.1',
    `port = ${port}`,
    '[hypervisor]',
    'backend = nova',
    `state_dir = ${base}/state`,
    '[nvram]',
    `nvram_dir = ${shared}`,
    '[firmware]',
    `descriptor_dirs = ${base}/none`,
    'secure_boot = true',
    '[peer]',
    'shared_secret = bench-peer-secret-0123456789',
    `hosts = ${Object.entries(peers)
      .map(([h, p]) => `${h}=http://127.0.0.1:${p}`)
      .join(',')}`,
    'timeout = 30',
    ...(arch === 'x86_64' ? [] : ['[debug]', `host_arch = ${arch}`]),
    `[firmware:${arch}]`,
    ...Object.entries(FIRMWARE[arch]).map(([k, v]) => `${k} = ${v}`),
    'secure_enrolled_keys = true',
    ...(replicas
      ? ['[replica]', 'backend = directory', `path = ${replicas}`, `encryption_key_file = ${path.join(root, 'replica.key')}`, 'retry_interval = 1']
      : []),
  ];
  fs.writeFileSync(path.join(base, 'conf'), lines.join('\n') + '\n');
  const log = fs.openSync(path.join(base, 'log'), 'a');
  const proc = spawn(
    'unshare',
    [
      '--mount',
      '--propagation',
      'private',
      'sh',
      '-c',
      `mount --bind "$0" "$1" && shift && exec "$@"`,
      path.join(base, 'nvram'),
      shared,
      process.execPath,
      // NUS_BENCH_PROF=DIR: each sidecar writes a V8 CPU profile there when it exits.
      ...(process.env.NUS_BENCH_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.NUS_BENCH_PROF}`] : []),
      '--import',
      'tsx',
      'src/main.ts',
      '--config-file',
      path.join(base, 'conf'),
    ],
    { cwd: tree, stdio: ['ignore', log, log] },
  );
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    const r = await http.get(`${url}/healthz`).catch(() => null);
    if (r?.status === 200) break;
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`sidecar ${name} of ${tree} did not start (see ${base}/log)`);
    await new Promise((res) => setTimeout(res, 100));
  }
  return { name, url, proc };
}

/** A cloud of two sidecars running `tree`'s code. */
async function cloud(tree: string, arch: string, withReplicas: boolean) {
  const root = tmpRoot('nus-novacalls-');
  fs.mkdirSync(path.join(root, 'nvram'));
  const replicas = withReplicas ? path.join(root, 'replicas') : null;
  if (replicas) fs.mkdirSync(replicas);
  fs.writeFileSync(path.join(root, 'replica.key'), randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
  const ports = { compute1: await freePort(), compute2: await freePort() };
  const A = await startSidecar(tree, root, 'compute1', ports.compute1, ports, arch, replicas);
  const B = await startSidecar(tree, root, 'compute2', ports.compute2, ports, arch, replicas);
  const stop = () => {
    for (const h of [A, B]) h.proc.kill('SIGTERM');
    setTimeout(() => fs.rmSync(root, { recursive: true, force: true }), 2000).unref();
  };
  return { A, B, stop };
}

type Times = Record<string, number[]>;

async function call(times: Times, h: Host, uuid: string, method: string, body: object): Promise<unknown> {
  const started = performance.now();
  const r = await http.post(`${h.url}/v1/instances/${uuid}/${method}`, body);
  (times[`${h.name} ${method}`] ??= []).push(performance.now() - started);
  if (r.status !== 200) throw new Error(`${h.name} ${method}: ${r.status} ${JSON.stringify(r.data)}`);
  return r.data;
}

let nextId = 0x100;

/** One instance through a live migration A→B, a resize back B→A and a delete, in the Python driver's calls. */
async function round(times: Times, A: Host, B: Host, arch: string): Promise<void> {
  const image =
    arch === 'x86_64'
      ? { properties: { hw_firmware_type: 'uefi', hw_machine_type: 'q35' } }
      : { properties: { hw_firmware_type: 'uefi', hw_machine_type: 'virt', hw_architecture: arch } };
  const flavor = { name: 'small', flavorid: '1', vcpus: 1, memory_mb: 512, root_gb: 1, extra_specs: {} };
  const uuid = randomUUID();
  const id = nextId++;
  const inst = (host: string, extra: object = {}) => ({
    uuid,
    id,
    name: `instance-${id.toString(16).padStart(8, '0')}`,
    host,
    vcpus: 1,
    memory_mb: 512,
    vm_state: 'active',
    flavor,
    ...extra,
  });
  const total = async (label: string, fn: () => Promise<void>) => {
    const started = performance.now();
    await fn();
    (times[`= ${label}`] ??= []).push(performance.now() - started);
  };
  await call(times, A, uuid, 'spawn', { instance: inst(A.name), image_meta: image, flavor, power_on: true });
  await total('live migration (all calls)', async () => {
    const md = { uefi_shim: { source_host: A.name, dest_host: B.name, migration_uri: '' } };
    await call(times, B, uuid, 'check_can_live_migrate_destination', { instance: inst(A.name), block_migration: false });
    await call(times, B, uuid, 'pre_live_migration', { instance: inst(A.name), migrate_data: md });
    await call(times, A, uuid, 'live_migration', { instance: inst(A.name), dest: B.name, migrate_data: md });
    await call(times, A, uuid, 'post_live_migration', { instance: inst(A.name) });
    await call(times, A, uuid, 'post_live_migration_at_source', { instance: inst(A.name) });
    await call(times, A, uuid, 'cleanup', { instance: inst(A.name), destroy_disks: true, migrate_data: md });
    await call(times, B, uuid, 'post_live_migration_at_destination', { instance: inst(B.name) });
  });
  await total('resize + confirm (all calls)', async () => {
    const mig = { uuid: randomUUID(), id, source_compute: B.name, dest_compute: A.name, migration_type: 'resize', status: 'migrating' };
    await call(times, B, uuid, 'migrate_disk_and_power_off', { instance: inst(B.name), dest: A.name, migration: mig, flavor });
    await call(times, A, uuid, 'finish_migration', {
      instance: inst(A.name, { task_state: 'resize_finish' }),
      migration: mig,
      image_meta: image,
      power_on: true,
    });
    await call(times, B, uuid, 'confirm_migration', { instance: inst(A.name), migration: { ...mig, status: 'confirming' } });
  });
  await total('delete', async () => {
    await call(times, A, uuid, 'destroy', { instance: inst(A.name, { vm_state: 'deleted' }), destroy_disks: true });
  });
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const trees: [string, string][] = [['work tree', REPO]];
  let snapshot: string | null = null;
  if (o.base) {
    snapshot = tmpRoot('nus-novacalls-base-');
    execFileSync('sh', ['-c', `git -C "$0" archive "$1" src package.json tsconfig.json openapi | tar -x -C "$2"`, REPO, o.base, snapshot]);
    fs.symlinkSync(path.join(REPO, 'node_modules'), path.join(snapshot, 'node_modules'));
    trees.unshift([o.base, snapshot]);
  }
  const clouds: (Awaited<ReturnType<typeof cloud>> & { label: string; times: Times })[] = [];
  // Interrupted: the sidecars go too (they run in their own namespaces, not in our process group).
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.once(sig, () => {
      for (const c of clouds) c.stop();
      process.exit(130);
    });
  for (const [label, tree] of trees) clouds.push({ label, times: {}, ...(await cloud(tree, o.arch, o.replicas)) });
  try {
    for (let r = 0; r < o.rounds; r++) {
      const order = r % 2 === 0 ? clouds : [...clouds].reverse();
      for (const c of order) await round(c.times, c.A, c.B, o.arch);
    }
  } finally {
    for (const c of clouds) c.stop();
    if (snapshot) fs.rmSync(snapshot, { recursive: true, force: true });
  }
  process.stdout.write(`${o.arch}, ${o.rounds} rounds, replicas ${o.replicas ? 'on' : 'off'}\n`);
  for (const c of clouds) {
    process.stdout.write(`\n${c.label}\n`);
    for (const [k, v] of Object.entries(c.times).sort())
      process.stdout.write(`  ${k.padEnd(48)} median ${median(v).toFixed(0).padStart(6)} ms  (${v.map((x) => x.toFixed(0)).join(', ')})\n`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`novaCalls failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
