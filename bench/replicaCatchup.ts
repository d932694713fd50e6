/**
 * One catch-up after an outage, in a process of its own so that its resident memory is its own:
 * every store under `nvramDir` whose record is in `stateDir` changed since its newest generation
 * (none was written while the replica store was down); the replica service writes them all with
 * `concurrency` in flight. Prints `{"ms", "queued", "rss_before", "rss_peak"}` as JSON.
 *
 *   node --import tsx bench/replicaCatchup.ts '<json: backend, keyFile, nvramDir, stateDir, concurrency, prefix>'
 */
import { performance } from 'node:perf_hooks';
import * as fs from 'node:fs';
import { S3ReplicaStore, type S3StoreOptions } from '../src/replica/s3';
import { DirectoryReplicaStore } from '../src/replica/directory';
import { ReplicaLog } from '../src/replica/generations';
import { makeKeyring, parseKey } from '../src/replica/keys';
import { ReplicaService } from '../src/replica/scheduler';
import { ReplicaStateStore } from '../src/state/replicas';
import { RecordStore } from '../src/state/records';
import { NvramStore } from '../src/nvram/store';
import { createLogger } from '../src/util/log';

interface Args {
  backend: { s3?: S3StoreOptions; directory?: string };
  keyFile: string;
  nvramDir: string;
  stateDir: string;
  replicaStateDir: string;
  concurrency: number;
  prefix: string;
}

async function main(): Promise<void> {
  const a = JSON.parse(process.argv[2]) as Args;
  const store = a.backend.s3 ? new S3ReplicaStore(a.backend.s3) : new DirectoryReplicaStore(a.backend.directory as string);
  const keys = makeKeyring(parseKey(fs.readFileSync(a.keyFile, 'utf8'), a.keyFile));
  const nvram = new NvramStore({ dir: a.nvramDir, mode: 0o600 });
  const records = new RecordStore(a.stateDir);
  await records.init();
  const svc = new ReplicaService({
    log: new ReplicaLog(store, keys, { prefix: a.prefix, host: 'bench', keep: 5 }),
    states: new ReplicaStateStore(a.replicaStateDir),
    nvram,
    records,
    logger: createLogger({ level: 'error' }),
    options: { interval: 300, concurrency: a.concurrency, retryInterval: 10 },
  });
  await svc.init();
  await svc.ensureStore();
  const rssBefore = process.memoryUsage().rss;
  let peak = rssBefore;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
  const t = performance.now();
  const queued = await svc.scan();
  await svc.idle();
  const ms = performance.now() - t;
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  process.stdout.write(JSON.stringify({ ms, queued, rss_before: rssBefore, rss_peak: peak }) + '\n');
  await svc.stop();
}

main().catch((e) => {
  process.stderr.write(`catch-up failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
