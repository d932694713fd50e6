/**
 * 6. NVRAM replicas (`[replica]`), against the Swift all-in-one of scripts/object-store.sh
 * when it runs or can be started (else a directory standing in for a shared mount):
 *  - one generation of the 528 KiB OVMF and the 64 MiB AAVMF store written by the replica log
 *    (claim, brotli, AES-256-GCM, PUT, read back byte for byte, retention) against a plain PUT
 *    of the uncompressed store to the same bucket: time, and bytes stored per generation;
 *  - catch-up after an outage: 1,000 stores (528 KiB each) that changed while the store was
 *    down, written by the replica service with `[replica] concurrency` 4 against 1, each run in a
 *    process of its own (bench/replicaCatchup.ts): time and the peak resident memory it gained;
 *  - spawn latency through two sidecar processes, one with a replica backend and one without,
 *    alternating: spaced (each spawn measured after the previous one's generation is written:
 *    the spawn path itself, which never waits for a replica) and back to back (the background
 *    generations of earlier spawns compete for the CPU, Swift's included on this machine).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { alternate, median, result, timed, type Result } from './lib/stats';
import { IMAGES, SidecarProc, newInstance, REPO, type BenchFirmware } from './lib/env';
import { S3ReplicaStore, type S3StoreOptions } from '../src/replica/s3';
import { DirectoryReplicaStore } from '../src/replica/directory';
import { ReplicaLog } from '../src/replica/generations';
import { makeKeyring, parseKey } from '../src/replica/keys';
import type { ReplicaStore } from '../src/replica/types';
import { RecordStore, type InstanceRecord } from '../src/state/records';
import { NvramStore } from '../src/nvram/store';

export interface ReplicaSizes {
  small: number;
  large: number;
  catchUp: number;
  spawnRounds: number;
  spawnPerRound: number;
}

interface Backend {
  kind: 's3' | 'directory';
  store: () => ReplicaStore;
  conf: string;
  label: string;
  /** For the catch-up child process. */
  spec: { s3?: S3StoreOptions; directory?: string };
  /** Stops what this bench started (the Swift all-in-one), nothing else. */
  release: () => void;
}

/** The running store, or one started now (`started`: stop it at the end); null when neither works. */
function swift(): { endpoint: string; accessKey: string; secretKey: string; region: string; started: boolean } | null {
  const script = path.join(REPO, 'scripts', 'object-store.sh');
  for (const arg of ['status', 'start']) {
    try {
      const out = execFileSync('/bin/bash', [script, arg], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 150_000 });
      const kv = Object.fromEntries([...out.matchAll(/^(S3_[A-Z_]+)=(.*)$/gm)].map((m) => [m[1], m[2]]));
      if (kv.S3_ENDPOINT)
        return {
          endpoint: kv.S3_ENDPOINT,
          accessKey: kv.S3_ACCESS_KEY,
          secretKey: kv.S3_SECRET_KEY,
          region: kv.S3_REGION ?? 'us-east-1',
          started: arg === 'start',
        };
    } catch {
      // not running / cannot start: try the next, then fall back to a directory
    }
  }
  return null;
}

function backend(root: string, keyFile: string): Backend {
  const sw = swift();
  const bucket = `nus-bench-${randomBytes(4).toString('hex')}`;
  const common = `encryption_key_file = ${keyFile}\nconcurrency = 4\n`;
  if (sw) {
    const o = { endpoint: sw.endpoint, bucket, region: sw.region, accessKey: sw.accessKey, secretKey: sw.secretKey, forcePathStyle: true, timeoutMs: 60_000 };
    return {
      kind: 's3',
      label: `Swift s3api ${sw.endpoint}`,
      store: () => new S3ReplicaStore(o),
      spec: { s3: o },
      release: () => {
        if (sw.started) execFileSync('/bin/bash', [path.join(REPO, 'scripts', 'object-store.sh'), 'stop'], { stdio: 'ignore', timeout: 120_000 });
      },
      conf: `[replica]\nbackend = s3\nendpoint = ${o.endpoint}\nbucket = ${bucket}\nregion = ${o.region}\naccess_key = ${o.accessKey}\nsecret_key = ${o.secretKey}\n${common}`,
    };
  }
  const dir = path.join(root, 'replica-dir');
  return {
    kind: 'directory',
    label: `directory ${dir}`,
    store: () => new DirectoryReplicaStore(dir),
    spec: { directory: dir },
    release: () => undefined,
    conf: `[replica]\nbackend = directory\npath = ${dir}\n${common}`,
  };
}

export async function benchReplica(root: string, fw: BenchFirmware, sz: ReplicaSizes, log: (s: string) => void): Promise<Result[]> {
  const dir = path.join(root, 'replica');
  fs.mkdirSync(dir, { recursive: true });
  const keyFile = path.join(dir, 'key');
  fs.writeFileSync(keyFile, randomBytes(32).toString('hex'), { mode: 0o600 });
  const keys = makeKeyring(parseKey(fs.readFileSync(keyFile, 'utf8'), keyFile));
  const be = backend(root, keyFile);
  log(`replicas: ${be.label}`);
  try {
    return await measure(be, keys, keyFile, dir, fw, sz, log);
  } finally {
    be.release();
  }
}

async function measure(
  be: Backend,
  keys: ReturnType<typeof makeKeyring>,
  keyFile: string,
  dir: string,
  fw: BenchFirmware,
  sz: ReplicaSizes,
  log: (s: string) => void,
): Promise<Result[]> {
  const store = be.store();
  await store.init();
  const results: Result[] = [];

  // ---- one generation of each store vs a plain PUT ----
  const rlog = new ReplicaLog(store, keys, { prefix: 'bench/', host: 'bench', keep: 5 });
  for (const [id, label, file, n] of [
    ['ovmf', '528 KiB OVMF', fw.templates.ovmf4m, sz.small],
    ['aavmf', '64 MiB AAVMF', fw.templates.aavmf, sz.large],
  ] as const) {
    const content = fs.readFileSync(file);
    const uuid = randomUUID();
    let base = 0;
    let stored = 0;
    const sub: number[] = [];
    const plain: number[] = [];
    await alternate(
      n,
      async () => {
        sub.push(
          await timed(async () => {
            const w = await rlog.write({ uuid, store: content, firmware: null, reason: 'manual', base });
            base = w.generation;
            stored = w.objectBytes;
          }),
        );
      },
      async () => {
        plain.push(await timed(() => store.put(`bench-plain/${uuid}`, content)));
      },
    );
    results.push(
      result({
        id: `replica.write.${id}`,
        name: `replica write, ${label} store (${be.kind})`,
        unit: 'ms',
        subject: sub,
        baseline: plain,
        target: '',
        met: null,
        subjectLabel: 'claim + compress + encrypt + PUT + read back + retention',
        baselineLabel: 'plain PUT of the uncompressed store',
        better: 'lower',
        extra: { store_bytes: content.length, stored_bytes_per_generation: stored, stored_ratio: stored / content.length },
      }),
    );
    log(`replica write ${label}: ${median(sub).toFixed(1)} ms (plain PUT ${median(plain).toFixed(1)} ms), ${stored} bytes stored for ${content.length}`);
    await rlog.deleteAll(uuid);
    await store.delete(`bench-plain/${uuid}`);
  }

  // ---- catch-up of N changed stores after an outage ----
  const cu = path.join(dir, 'catchup');
  const nvram = new NvramStore({ dir: path.join(cu, 'nvram'), mode: 0o600 });
  await nvram.init();
  const records = new RecordStore(path.join(cu, 'state'));
  await records.init();
  const template = fs.readFileSync(fw.templates.ovmf4m);
  const now = new Date().toISOString();
  for (let i = 0; i < sz.catchUp; i++) {
    const name = `instance-${(0x10000 + i).toString(16)}`;
    const p = nvram.pathFor(name);
    const b = Buffer.from(template);
    b.write(`changed during the outage ${i}`, 0x1800);
    fs.writeFileSync(p, b);
    const rec: InstanceRecord = {
      uuid: randomUUID(),
      name,
      vmState: 'active',
      firmware: null,
      nvramPath: p,
      boot: {} as InstanceRecord['boot'],
      imageProps: {},
      flavorExtraSpecs: {},
      vcpus: 1,
      memoryMb: 256,
      systemMetadata: {},
      createdAt: now,
      updatedAt: now,
    };
    await records.put(rec);
  }
  const catchUp = (concurrency: number): { ms: number; peak: number; queued: number } => {
    const args = {
      backend: be.spec,
      keyFile,
      nvramDir: path.join(cu, 'nvram'),
      stateDir: path.join(cu, 'state'),
      replicaStateDir: path.join(cu, `states-${concurrency}-${randomBytes(3).toString('hex')}`),
      concurrency,
      prefix: `catchup-${concurrency}/`,
    };
    const out = execFileSync(process.execPath, ['--import', 'tsx', path.join(REPO, 'bench', 'replicaCatchup.ts'), JSON.stringify(args)], {
      encoding: 'utf8',
      timeout: 900_000,
      maxBuffer: 1 << 20,
    });
    const r = JSON.parse(out.trim().split('\n').pop() as string) as { ms: number; queued: number; rss_before: number; rss_peak: number };
    if (r.queued !== sz.catchUp) throw new Error(`catch-up queued ${r.queued}, expected ${sz.catchUp}`);
    return { ms: r.ms, peak: r.rss_peak - r.rss_before, queued: r.queued };
  };
  const c1 = catchUp(1);
  const c4 = catchUp(4);
  results.push(
    result({
      id: 'replica.catchup',
      name: `catch-up of ${sz.catchUp} changed 528 KiB stores (${be.kind})`,
      unit: 'ms',
      subject: [c4.ms],
      baseline: [c1.ms],
      target: '',
      met: null,
      subjectLabel: 'concurrency 4',
      baselineLabel: 'concurrency 1',
      better: 'lower',
      extra: { peak_rss_gain_bytes_c4: c4.peak, peak_rss_gain_bytes_c1: c1.peak, stores: sz.catchUp },
    }),
  );
  log(
    `catch-up ${sz.catchUp}: ${(c4.ms / 1000).toFixed(1)} s at concurrency 4 (+${(c4.peak / 2 ** 20).toFixed(0)} MiB peak RSS), ${(c1.ms / 1000).toFixed(1)} s at 1`,
  );

  // ---- spawn latency with and without a replica backend ----
  const withR = await SidecarProc.create({ name: 'compute1', dir: path.join(dir, 'with'), fw, extraConf: be.conf });
  const without = await SidecarProc.create({ name: 'compute2', dir: path.join(dir, 'without'), fw });
  await Promise.all([withR.startAndWait(), without.startAndWait()]);
  const spawnOn = (sc: SidecarProc, host: string) => async () => {
    const inst = newInstance(host);
    await sc.nova(inst.uuid, 'spawn', { instance: inst, image_meta: IMAGES.x86, network_info: [], power_on: true });
  };
  for (let i = 0; i < 3; i++) {
    await spawnOn(withR, 'compute1')();
    await spawnOn(without, 'compute2')();
  }
  // (a) back to back: each spawn competes with the generations of the spawns before it (the
  // sidecar's own work and, on this machine, Swift's processes on the same two cores).
  const a: number[] = [];
  const b: number[] = [];
  await alternate(
    sz.spawnRounds,
    async () => {
      for (let i = 0; i < sz.spawnPerRound; i++) a.push(await timed(spawnOn(withR, 'compute1')));
    },
    async () => {
      for (let i = 0; i < sz.spawnPerRound; i++) b.push(await timed(spawnOn(without, 'compute2')));
    },
  );
  // (b) spaced: before each measured spawn the previous one's generation is written (get_info
  // polled until its replica is current), so the spawn path alone is timed.
  const settle = async (sc: SidecarProc, uuid: string) => {
    for (let i = 0; i < 500; i++) {
      const r = await sc.call('GET', `/v1/instances/${uuid}`);
      const st = r.json<{ nvram?: { replica?: { state: string } } }>().nvram?.replica?.state;
      if (st === undefined || st === 'current') return;
      await new Promise((res) => setTimeout(res, 10));
    }
    throw new Error(`replica of ${uuid} never became current`);
  };
  const spacedOn = (sc: SidecarProc, host: string, into: number[]) => async () => {
    for (let i = 0; i < sz.spawnPerRound; i++) {
      const inst = newInstance(host);
      into.push(await timed(() => sc.nova(inst.uuid, 'spawn', { instance: inst, image_meta: IMAGES.x86, network_info: [], power_on: true })));
      await settle(sc, inst.uuid);
    }
  };
  const sa: number[] = [];
  const sb: number[] = [];
  await alternate(sz.spawnRounds, spacedOn(withR, 'compute1', sa), spacedOn(without, 'compute2', sb));
  await Promise.all([withR.stop(), without.stop()]);
  results.push(
    result({
      id: 'replica.spawn.spaced',
      name: `spawn latency with replicas (${be.kind}) vs none, spaced`,
      unit: 'ms',
      subject: sa,
      baseline: sb,
      target: 'no measurable change (ratio ~1)',
      met: median(sa) / median(sb) < 1.15,
      subjectLabel: `[replica] backend = ${be.kind}`,
      baselineLabel: '[replica] backend = none',
      better: 'lower',
    }),
    result({
      id: 'replica.spawn.burst',
      name: `spawn latency with replicas (${be.kind}) vs none, back to back`,
      unit: 'ms',
      subject: a,
      baseline: b,
      target: '',
      met: null,
      subjectLabel: `[replica] backend = ${be.kind}`,
      baselineLabel: '[replica] backend = none',
      better: 'lower',
    }),
  );
  log(
    `spawn: spaced ${median(sa).toFixed(1)} ms with replicas, ${median(sb).toFixed(1)} ms without; back to back ${median(a).toFixed(1)} / ${median(b).toFixed(1)} ms`,
  );
  for (const k of await store.list('').catch(() => [])) await store.delete(k).catch(() => undefined);
  return results;
}
