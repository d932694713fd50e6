/**
 * 6. Secure Boot keys across a host (issue 16). One sidecar (the compiled build) with a key set
 * made here with openssl (a 2023-style KEK and db certificate):
 *  - rotation: N shut-off Secure Boot instances (Debian's .ms template), a fleet rotation that
 *    adds the key set's KEK and db (POST, polled until done), then one that removes them again,
 *    alternating; wall time and the sidecar's CPU time (/proc/PID/stat) per rotation, against
 *    the bare work done in this process with the same library (read, edit, atomic write with
 *    fsync) over the same files;
 *  - inventory: M instances, GET /v1/host/secure-boot after the first read (stores cached by
 *    stat identity) against that first read after start-up (every store read and parsed).
 * Needs the real Debian .ms template (the synthetic fallback holds no keys): skipped without it.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pool, result, type Result } from './lib/stats';
import { IMAGES, SidecarProc, newInstance, procCpuMs, type BenchFirmware } from './lib/env';
import { applyKeyChanges, parseKeyMaterial, parseVarStore, writeVarStore, type KeyChange } from '../src/varstore';
import { writeFileAtomic } from '../src/util/atomicFile';

export interface SecureBootSizes {
  rotationInstances: number;
  rotationRounds: number;
  inventoryInstances: number;
  inventoryReads: number;
}

const OWNER = '77fa9abd-0359-4d32-bd60-28f4e78f784b';

function cert(dir: string, cn: string): string {
  const crt = path.join(dir, `${cn}.crt`);
  execFileSync(
    'openssl',
    [
      'req',
      '-new',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-sha256',
      '-days',
      '3650',
      '-subj',
      `/CN=${cn}/`,
      '-keyout',
      path.join(dir, `${cn}.key`),
      '-out',
      crt,
    ],
    { stdio: 'ignore' },
  );
  return crt;
}

async function populate(S: SidecarProc, n: number): Promise<string[]> {
  const uuids: string[] = [];
  await pool(n, 32, async () => {
    const inst = newInstance('compute1');
    await S.nova(inst.uuid, 'spawn', { instance: inst, image_meta: IMAGES.x86Enrolled, network_info: [], power_on: false });
    uuids.push(inst.uuid);
  });
  return uuids;
}

async function rotate(S: SidecarProc, body: object): Promise<{ ms: number; cpuMs: number; counts: Record<string, number> }> {
  const cpu0 = procCpuMs(S.pid);
  const t = performance.now();
  const r = await S.call('POST', '/v1/host/secure-boot/rotations', body);
  if (r.status !== 202) throw new Error(`rotation: ${r.status} ${r.body.toString().slice(0, 300)}`);
  const id = r.json<{ rotation_id: string }>().rotation_id;
  for (;;) {
    const g = (await S.call('GET', `/v1/host/secure-boot/rotations/${id}`)).json<{ status: string; counts: Record<string, number> }>();
    if (g.status !== 'running') {
      const ms = performance.now() - t;
      const cpu1 = procCpuMs(S.pid);
      return { ms, cpuMs: cpu1.user + cpu1.system - cpu0.user - cpu0.system, counts: g.counts };
    }
    await new Promise((res) => setTimeout(res, 50));
  }
}

/** The same edit without the sidecar: this process reads, edits and writes every store. */
async function bareRotation(dir: string, changes: KeyChange[]): Promise<number> {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('_VARS.fd'));
  const t = performance.now();
  await pool(files.length, 4, async (i) => {
    const f = path.join(dir, files[i]);
    const buf = fs.readFileSync(f);
    const r = applyKeyChanges(parseVarStore(buf).variables, changes, { now: new Date() });
    if (r.changed) await writeFileAtomic(f, writeVarStore(buf, r.variables), { mode: 0o600, sparse: true });
  });
  return performance.now() - t;
}

export async function benchSecureBoot(root: string, fw: BenchFirmware, sz: SecureBootSizes, log: (s: string) => void): Promise<Result[]> {
  if (!fw.real) {
    log('secureboot: skipped (needs the Debian .ms template with enrolled keys)');
    return [];
  }
  const dir = path.join(root, 'secureboot');
  fs.mkdirSync(dir, { recursive: true });
  const kek = cert(dir, 'Bench KEK CA 2023');
  const db = cert(dir, 'Bench UEFI CA 2023');
  const extraConf = `[secure_boot_keyset:bench-2023]\nkek = ${kek}\ndb = ${db}\nowner_guid = ${OWNER}\n`;
  const out: Result[] = [];

  // Rotation over shut-off instances.
  const R = await SidecarProc.create({ name: 'compute1', dir: path.join(dir, 'rotation'), fw, extraConf });
  try {
    await R.startAndWait();
    await populate(R, sz.rotationInstances);
    log(`secureboot: ${sz.rotationInstances} shut-off Secure Boot instances spawned`);
    const add = { add: { keyset: 'bench-2023', databases: ['KEK', 'db'] }, selection: { all: true } };
    const remove = { remove: { kek: ['Bench KEK CA 2023'], db: ['Bench UEFI CA 2023'] }, selection: { all: true } };
    const toItems = (file: string, which: 'KEK' | 'db') => {
      const m = parseKeyMaterial(fs.readFileSync(file), which, OWNER, { now: new Date() });
      if ('problem' in m) throw new Error(m.problem);
      return m.items;
    };
    const bareAdd: KeyChange[] = [
      { op: 'add', db: 'KEK', items: toItems(kek, 'KEK') },
      { op: 'add', db: 'db', items: toItems(db, 'db') },
    ];
    const bareRemove: KeyChange[] = [
      { op: 'remove-where', db: 'KEK', subject_contains: 'Bench KEK CA 2023' },
      { op: 'remove-where', db: 'db', subject_contains: 'Bench UEFI CA 2023' },
    ];
    const wall: number[] = [];
    const cpu: number[] = [];
    const bare: number[] = [];
    for (let round = 0; round < sz.rotationRounds; round++) {
      for (const [body, changes] of [
        [add, bareAdd],
        [remove, bareRemove],
      ] as const) {
        const r = await rotate(R, body);
        if ((r.counts.applied ?? 0) !== sz.rotationInstances) throw new Error(`rotation outcome ${JSON.stringify(r.counts)}`);
        wall.push(r.ms);
        cpu.push(r.cpuMs);
        log(`secureboot: rotation over ${sz.rotationInstances}: ${(r.ms / 1000).toFixed(2)} s wall, ${(r.cpuMs / 1000).toFixed(2)} s sidecar CPU`);
        // Undo with the bare loop, then redo the sidecar's step with it: same files, same edit.
        await R.stop();
        const inverse = changes === bareAdd ? bareRemove : bareAdd;
        await bareRotation(R.nvramDir, inverse);
        bare.push(await bareRotation(R.nvramDir, changes));
        await R.startAndWait();
      }
    }
    out.push(
      result({
        id: 'secureboot.rotation',
        name: `fleet rotation over ${sz.rotationInstances} shut-off instances (sidecar API) vs the same edit in-process`,
        unit: 'ms',
        subject: wall,
        baseline: bare,
        subjectLabel: 'sidecar rotation (API)',
        baselineLabel: 'in-process library loop',
        better: 'lower',
        target: '',
        met: null,
        extra: { instances: sz.rotationInstances },
      }),
      result({
        id: 'secureboot.rotation_cpu',
        name: `sidecar CPU time per rotation over ${sz.rotationInstances} instances vs the in-process edit's wall time`,
        unit: 'ms',
        subject: cpu,
        baseline: bare,
        subjectLabel: 'sidecar CPU (user+system)',
        baselineLabel: 'in-process loop wall',
        better: 'lower',
        target: '',
        met: null,
      }),
    );
  } finally {
    await R.stop();
  }

  // Inventory.
  const I = await SidecarProc.create({ name: 'compute1', dir: path.join(dir, 'inventory'), fw, extraConf });
  try {
    await I.startAndWait();
    await populate(I, sz.inventoryInstances);
    log(`secureboot: ${sz.inventoryInstances} instances for the inventory`);
    await I.stop();
    // Stores are cached once settled (util/fileIdentity: 2 s after their last change).
    await new Promise((res) => setTimeout(res, 2500));
    const cold: number[] = [];
    const warm: number[] = [];
    for (let round = 0; round < 2; round++) {
      await I.startAndWait();
      let t = performance.now();
      const first = await I.call('GET', '/v1/host/secure-boot');
      cold.push(performance.now() - t);
      const n = first.json<{ summary: { instances: number } }>().summary.instances;
      if (n !== sz.inventoryInstances) throw new Error(`inventory lists ${n}`);
      for (let i = 0; i < sz.inventoryReads; i++) {
        t = performance.now();
        await I.call('GET', '/v1/host/secure-boot');
        warm.push(performance.now() - t);
      }
      await I.stop();
    }
    out.push(
      result({
        id: 'secureboot.inventory',
        name: `GET /v1/host/secure-boot over ${sz.inventoryInstances} instances after the first read vs the first read`,
        unit: 'ms',
        subject: warm,
        baseline: cold,
        subjectLabel: 'after the first read',
        baselineLabel: 'first read after start-up',
        better: 'lower',
        target: '< 1000 ms',
        met: warm.every((x) => x < 1000),
      }),
    );
  } finally {
    await I.stop();
  }
  return out;
}
