/**
 * @module replica/scheduler
 * When generations of an instance's store are written to the replica store, and what this host
 * knows about them (`ReplicaService`): the queue, the timers, back-off and fencing. The
 * driver's flows never call it to write: they announce what happened (events) and
 * replica/reactions turns that into the verbs below. Besides reactions, only the replica
 * administration (replica/admin: list, back up now, orphans), the driver's restores (reads and
 * pins) and start-up call it; it never defines or boots anything.
 *
 * Written:
 * - after spawn, after every stop, before a cross-host move, for running guests whose store
 *   changed (a stop or a scan whose store equals the newest generation writes nothing: an
 *   identical generation would only push an older one out of retention) (checked every `[replica] interval` through `NvramStore.cachedInfo`, a stat and a
 *   cached digest, the same cost as get_info), and on the restore paths (the first generation
 *   a new owner writes): queued, never awaited by the flow;
 * - before shelve-offload and on demand: awaited (`writeNow`), the generation read back byte for
 *   byte first (background generations trust the store's answer to the PUT).
 *
 * The queue holds instance ids, not stores: a store is read when its turn comes, and at most
 * `[replica] concurrency` are in flight, which bounds the memory of a catch-up after an outage.
 * A write the store refuses marks the instance `stale` and is retried after
 * `retry_interval` seconds, doubled per failure up to `interval`. A write refused because
 * another host owns the replicas now marks it `fenced`: nothing more is written from here.
 * Calls for one instance run one after another (the generation log's `base` rule needs it).
 *
 * Metrics: each generation sent to the store is counted by reason and outcome; `summary` gives
 * the scrape-time gauges the instances per state and the oldest change not yet in a generation
 * (`since`: set when a current instance's generation is queued, kept through retries).
 */
import type { Logger } from '../util/log';
import { KeyedMutex } from '../util/mutex';
import type { NvramStore } from '../nvram/store';
import { sha256 } from '../nvram/store';
import { isLive, type RecordStore } from '../state/records';
import { ReplicaStateStore, checkReplicaTransition, freshState, type ReplicaState, type ReplicaStateName } from '../state/replicas';
import { TombstoneStore, type Tombstone } from '../state/tombstones';
import type { Config } from '../config';
import type { FirmwareSelection } from '../firmware/types';
import type { RestoredGeneration } from '../events';
import { ReplicaCorrupt, ReplicaFenced, ReplicaKeyError } from './errors';
import type { GenerationEntry, ReadResult, ReplicaLog, WriteResult } from './generations';
import type { GenerationReason, PackedStore, ReplicaHeader } from './format';
import { backupView, ageOf, type BackupView, type ReplicaView } from './views';
import { outcomeOf, type ReplicaMetrics, type ReplicaSummary } from '../metrics';

export interface ReplicaOptions {
  /** Seconds between checks of changed stores (and the longest retry back-off). */
  interval: number;
  concurrency: number;
  /** Seconds before the first retry of a failed generation. */
  retryInterval: number;
}

export interface ReplicaServiceDeps {
  log: ReplicaLog;
  states: ReplicaStateStore;
  nvram: NvramStore;
  records: RecordStore;
  logger: Logger;
  options: ReplicaOptions;
  /** Generations counted by reason and outcome (`Metrics.enableReplicas`). */
  metrics?: ReplicaMetrics;
  /** Destroys without Nova's task state, recorded on this host (orphan pruning). */
  tombstones?: TombstoneStore;
}

interface Job {
  reason: GenerationReason;
  /** The store as the flow read it (a move's stash); otherwise read when the job runs. */
  content?: Buffer;
  force: boolean;
}

/**
 * The replica service `[replica]` asks for over `replicaLog` (openReplicas): states and
 * tombstones in `[hypervisor] state_dir`, loaded; the store created when missing (an
 * unreachable store is logged, and generations are retried until it answers). Not started.
 */
export async function openReplication(
  config: Config,
  replicaLog: ReplicaLog,
  d: Pick<ReplicaServiceDeps, 'nvram' | 'records' | 'logger' | 'metrics'>,
): Promise<ReplicaService> {
  const r = config.replica;
  const svc = new ReplicaService({
    ...d,
    log: replicaLog,
    states: new ReplicaStateStore(config.hypervisor.state_dir),
    tombstones: new TombstoneStore(config.hypervisor.state_dir),
    options: { interval: r.interval, concurrency: r.concurrency, retryInterval: r.retry_interval },
  });
  await svc.init();
  await svc
    .ensureStore()
    .catch((e: Error) => d.logger.warning('nvram replica store unavailable at start-up; generations will be retried', { error: e.message }));
  return svc;
}

/**
 * What the driver's flows may do with replication: read (the state a view shows, the newest
 * generation, one generation), pin a generation for the next restore, count a restore. Writing,
 * adopting, forgetting and deleting are the reactions' (replica/reactions), so a flow cannot
 * call them: the type checker refuses it.
 */
export type ReplicaReads = Pick<ReplicaService, 'backend' | 'view' | 'newest' | 'pin' | 'read' | 'highest' | 'countOlderRestore' | 'instances'>;

export class ReplicaService {
  private readonly states = new Map<string, ReplicaState>();
  private readonly queue = new Map<string, Job>();
  /** Calls for one instance run one after another (the generation log's `base` rule). */
  private readonly serial = new KeyedMutex();
  private running = 0;
  private idleWaiters: (() => void)[] = [];
  private timers: NodeJS.Timeout[] = [];
  private lastScan = 0;
  private scanning = false;

  /** The store's `init` (bucket or directory created), once it succeeded. */
  private ready: Promise<void> | null = null;

  constructor(private readonly d: ReplicaServiceDeps) {}

  /** Make the replica store usable (created when missing); retried by the next write after a failure. */
  ensureStore(): Promise<void> {
    this.ready ??= this.d.log.store.init().catch((e: unknown) => {
      this.ready = null;
      throw e;
    });
    return this.ready;
  }

  get backend(): string {
    return this.d.log.store.describe();
  }

  /**
   * Does the replica store answer now (readiness)? Its description and what it said; throws
   * when it does not answer within `timeoutSec`, refuses, or its bucket or directory is gone.
   */
  async probe(timeoutSec: number): Promise<string> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const p = await Promise.race([
        this.d.log.probe(),
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${timeoutSec} s`)), timeoutSec * 1000))),
      ]);
      // Created at start-up: missing now means an unmounted share or a deleted bucket.
      if (!p.exists) throw new Error(`${this.backend}: ${p.detail}`);
      return `${this.backend}: ${p.detail}`;
    } finally {
      clearTimeout(timer);
    }
  }

  /** The generation log (orphan listing and pruning read it directly). */
  get generations(): ReplicaLog {
    return this.d.log;
  }

  /** This host's replica state of the instance, if it keeps one. */
  stateName(uuid: string): ReplicaStateName | null {
    return this.states.get(uuid)?.state ?? null;
  }

  /** The tombstone this host recorded for the instance, if any. */
  localTombstone(uuid: string): Promise<Tombstone | null> {
    return this.d.tombstones?.get(uuid) ?? Promise.resolve(null);
  }

  /**
   * The instance was destroyed here without Nova's task state: record it (state_dir, and in the
   * replica store for every sidecar sharing it) with the newest generation claimed, so that its
   * replicas can be told orphaned later. The store's copy is best effort (a warning when it
   * does not answer); the local one is written atomically.
   */
  async recordDestroy(uuid: string): Promise<Tombstone> {
    const known = this.states.get(uuid)?.generation ?? 0;
    const claimed = await this.d.log.claims(uuid).then(
      (cs) => cs.reduce((n, c) => Math.max(n, c.generation), 0),
      () => 0,
    );
    const t: Tombstone = { uuid, host: this.d.log.host, time: new Date().toISOString(), generation: Math.max(known, claimed) };
    await this.d.tombstones?.put(t);
    await this.d.log
      .tombstone(uuid, t.generation, new Date(t.time))
      .catch((e: unknown) =>
        this.d.logger.warning('tombstone not written to the replica store (kept on this host)', { instance_uuid: uuid, error: (e as Error).message }),
      );
    return t;
  }

  /** Forget this host's tombstone of the instance (its replicas were pruned). */
  async dropTombstone(uuid: string): Promise<void> {
    await this.d.tombstones?.delete(uuid);
  }

  /** Load the states and queue what was pending or stale when the sidecar stopped. */
  async init(): Promise<void> {
    await this.d.states.init();
    await this.d.tombstones?.init();
    for (const s of await this.d.states.list()) {
      this.states.set(s.uuid, s);
      if (s.state === 'pending' || s.state === 'stale') this.enqueue(s.uuid, 'periodic', { force: s.takeover });
      // 'deleting' ones are retried by the tick.
    }
  }

  /** Start the timers: retries every second that are due, the change scan every `interval`. */
  start(): void {
    const tick = setInterval(() => {
      this.tick().catch((e: unknown) => this.d.logger.warning('nvram replica scan failed', { error: (e as Error).message }));
    }, 1000);
    tick.unref();
    this.timers.push(tick);
  }

  /** Stop the timers and wait for writes in flight (queued ones stay pending for the next start). */
  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.queue.clear();
    await this.serial.idle();
  }

  /** Resolves when nothing is queued or running (tests, bench). */
  idle(): Promise<void> {
    if (!this.queue.size && !this.running) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  view(uuid: string): ReplicaView {
    const s = this.states.get(uuid);
    if (!s) return { state: 'none', generation: null, time: null, age_seconds: null };
    const v: ReplicaView = { state: s.state, generation: s.generation || null, time: s.time, age_seconds: ageOf(s.time) };
    if (s.error) v.error = s.error;
    if (s.owner) v.owner = s.owner;
    return v;
  }

  /** Instances per state and the oldest change not yet in a generation (the metrics, at scrape time). */
  summary(): ReplicaSummary {
    const states: Record<string, number> = {};
    let oldest: number | null = null;
    for (const s of this.states.values()) {
      states[s.state] = (states[s.state] ?? 0) + 1;
      if ((s.state === 'pending' || s.state === 'stale') && s.since) {
        const t = Date.parse(s.since);
        if (oldest === null || t < oldest) oldest = t;
      }
    }
    return { states, oldestUnreplicated: oldest };
  }

  /** Write the instance's state, checked against the transition table (state/replicas) first. */
  private async save(s: ReplicaState): Promise<void> {
    const from = this.states.get(s.uuid)?.state ?? 'none';
    checkReplicaTransition(s.uuid, from, s.state);
    this.states.set(s.uuid, s);
    await this.d.states.put(s, from);
  }

  /**
   * `save` while reporting a failed generation: the state is kept in memory either way, and a
   * state file that cannot be written (the same full disk, often) must not replace the error
   * being reported.
   */
  private async saveAfterFailure(s: ReplicaState): Promise<void> {
    await this.save(s).catch((e: unknown) => this.d.logger.warning('nvram replica state not saved', { instance_uuid: s.uuid, error: (e as Error).message }));
  }

  private stateOf(uuid: string): ReplicaState {
    return { ...(this.states.get(uuid) ?? freshState(uuid)) };
  }

  /** Queue a generation (not awaited by the caller). A later request for the same instance replaces a queued one. */
  enqueue(uuid: string, reason: GenerationReason, opts: { content?: Buffer; force?: boolean } = {}): void {
    const prev = this.queue.get(uuid);
    this.queue.delete(uuid);
    this.queue.set(uuid, { reason, content: opts.content ?? prev?.content, force: (opts.force ?? false) || (prev?.force ?? false) });
    const s = this.states.get(uuid);
    const now = new Date().toISOString();
    if (!s) this.states.set(uuid, { ...freshState(uuid), since: now });
    else if (s.state === 'current') this.states.set(uuid, { ...s, state: 'pending', since: now });
    else if ((s.state === 'pending' || s.state === 'stale') && !s.since) this.states.set(uuid, { ...s, since: now });
    this.pump();
  }

  private pump(): void {
    while (this.running < this.d.options.concurrency && this.queue.size) {
      const [uuid, job] = this.queue.entries().next().value as [string, Job];
      this.queue.delete(uuid);
      this.running++;
      void this.serial
        .run(uuid, () => this.runJob(uuid, job))
        .catch(() => undefined)
        .finally(() => {
          this.running--;
          this.pump();
          if (!this.queue.size && !this.running) for (const w of this.idleWaiters.splice(0)) w();
        });
    }
  }

  private async runJob(uuid: string, job: Job): Promise<void> {
    // Not before the next turn of the event loop: the call that queued the job (a spawn) has
    // written its answer by then, so compression and encryption never delay it.
    await new Promise<void>((r) => setImmediate(r));
    const rec = await this.d.records.peek(uuid).catch(() => null);
    if (!isLive(rec) || !rec.nvramPath) {
      // The instance left this host (or has no store): nothing to write, nothing to retry.
      if (!rec && this.states.has(uuid) && this.states.get(uuid)?.state !== 'deleting') {
        this.states.delete(uuid);
        await this.d.states.delete(uuid).catch(() => undefined);
      } else if (rec) this.nothingToWrite(uuid);
      return;
    }
    if (!job.content && !job.force) {
      // The store's digest as the store keeps it (reused while the file is unchanged): an
      // unchanged store is not read at all (a 64 MiB AAVMF store costs a fresh buffer and a hash).
      const info = await this.d.nvram.cachedInfo(rec.nvramPath).catch(() => null);
      const s = this.states.get(uuid);
      if (info && s && this.unchanged(s, info.sha256, false)) {
        await this.save({ ...s, state: 'current', since: undefined });
        return;
      }
    }
    // The flow's copy as it is; else the store read piece by piece, hashed and packed in the
    // same pass (never held whole: a 64 MiB AAVMF store read into one buffer cost a fresh
    // 64 MiB and its digests and compression in one stretch of the event loop).
    const read = job.content ? { data: job.content, sha256: undefined } : await this.readPacked(rec.nvramPath);
    if (!read) return;
    await this.write(uuid, read.data, rec.firmware, job.reason, job.force, false, read.sha256).catch(() => undefined);
  }

  /** The store at `path` packed for a generation with its SHA-256; null when it is gone or cannot be read. */
  private async readPacked(path: string): Promise<{ data: PackedStore; sha256: string } | null> {
    const packer = this.d.log.packer((await this.d.nvram.sizeOf(path).catch(() => null)) ?? 0);
    try {
      const read = await this.d.nvram.readPieces(path, (piece) => packer.update(piece));
      if (!read) {
        packer.abort();
        return null;
      }
      const data = await packer.finish();
      if (data.size !== read.size) throw new Error(`packed ${data.size} bytes of a ${read.size}-byte store`);
      return { data, sha256: read.sha256 };
    } catch {
      packer.abort();
      return null;
    }
  }

  /**
   * A queued generation found no store to write (an instance without UEFI, or one kept after
   * delete): undo what `enqueue` marked in memory, so it is not counted as waiting for ever.
   */
  private nothingToWrite(uuid: string): void {
    const s = this.states.get(uuid);
    if (!s || s.state !== 'pending' || s.takeover) return;
    if (s.generation > 0) this.states.set(uuid, { ...s, state: 'current', since: undefined });
    else this.states.delete(uuid);
  }

  /**
   * Write one generation now (shelve-offload, on demand): resolves once it was read back.
   * Throws `ReplicaUnavailable` (the instance is then stale and retried) or `ReplicaFenced`.
   */
  writeNow(uuid: string, content: Buffer, firmware: FirmwareSelection | null, reason: GenerationReason): Promise<WriteResult> {
    return this.serial.run(uuid, async () => (await this.write(uuid, content, firmware, reason, true, true)) as WriteResult);
  }

  /** Whether a store whose digest is `digest` needs no new generation: not forced, not taken over, not stale, same as the last one. */
  private unchanged(s: ReplicaState, digest: string, force: boolean): boolean {
    return !force && !s.takeover && s.state !== 'stale' && s.sha256 === digest && s.generation > 0;
  }

  /**
   * Write unless unchanged since the last generation (forced writes always go); `verify`: read
   * it back first; `known`: the content's SHA-256 when the caller has it. Null when skipped.
   */
  private async write(
    uuid: string,
    content: Buffer | PackedStore,
    firmware: FirmwareSelection | null,
    reason: GenerationReason,
    force: boolean,
    verify: boolean,
    known?: string,
  ): Promise<WriteResult | null> {
    const s = this.stateOf(uuid);
    if (!known && !Buffer.isBuffer(content)) throw new Error(`a generation of ${uuid} from a packed store needs the store's sha256`);
    const digest = known ?? sha256(content as Buffer);
    if (this.unchanged(s, digest, force)) {
      await this.save({ ...s, state: 'current', since: undefined });
      return null;
    }
    if (s.state === 'fenced' && !s.takeover) throw new ReplicaFenced(uuid, s.generation, s.owner ?? '?');
    try {
      await this.ensureStore();
      const r = await this.d.log.write({ uuid, store: content, firmware, reason, base: s.generation, takeover: s.takeover, verify, sha256: digest });
      await this.save({ uuid, generation: r.generation, sha256: r.header.sha256, time: r.header.time, state: 'current', takeover: false, failures: 0 });
      this.d.metrics?.generations.inc({ reason, outcome: 'success' });
      this.d.metrics?.bytesWritten.inc(r.objectBytes);
      this.d.logger.info('nvram replica written', { instance_uuid: uuid, generation: r.generation, reason, bytes: r.objectBytes, pruned: r.pruned });
      return r;
    } catch (e) {
      this.d.metrics?.generations.inc({ reason, outcome: outcomeOf(e) });
      if (e instanceof ReplicaFenced) {
        await this.saveAfterFailure({ ...s, state: 'fenced', owner: e.owner, error: e.message, takeover: false, since: undefined });
        this.d.logger.warning('nvram replica fenced: another host owns the replicas', { instance_uuid: uuid, owner: e.owner, generation: e.generation });
      } else {
        const failures = s.failures + 1;
        const wait = Math.min(this.d.options.retryInterval * 2 ** (failures - 1), this.d.options.interval);
        const since = s.since ?? new Date().toISOString();
        await this.saveAfterFailure({
          ...s,
          state: 'stale',
          failures,
          error: (e as Error).message,
          retryAt: new Date(Date.now() + wait * 1000).toISOString(),
          since,
        });
        this.d.logger.warning('nvram replica stale', { instance_uuid: uuid, reason, error: (e as Error).message, retry_in_s: wait });
      }
      throw e;
    }
  }

  /** Retries that are due, and every `interval` the scan for changed stores. */
  private async tick(now = Date.now()): Promise<void> {
    for (const s of [...this.states.values()]) {
      const due = !s.retryAt || Date.parse(s.retryAt) <= now;
      if (s.state === 'stale' && due && !this.queue.has(s.uuid)) this.enqueue(s.uuid, 'periodic', { force: s.takeover });
      if (s.state === 'deleting' && due && !this.serial.busy(s.uuid)) {
        this.deleteAll(s.uuid).then(
          (n) => this.d.logger.info('nvram replicas deleted (retried)', { instance_uuid: s.uuid, objects: n }),
          () => undefined,
        );
      }
    }
    if (now - this.lastScan >= this.d.options.interval * 1000) {
      this.lastScan = now;
      await this.scan();
    }
  }

  /** Queue a generation for each store that changed since its newest one (a stat and a cached digest each). */
  async scan(): Promise<number> {
    if (this.scanning) return 0;
    this.scanning = true;
    let queued = 0;
    try {
      for (const r of await this.d.records.liveSummaries()) {
        if (this.queue.has(r.uuid)) continue;
        const s = this.states.get(r.uuid);
        if (s?.state === 'fenced' || s?.state === 'stale' || s?.state === 'deleting') continue;
        const rec = await this.d.records.peek(r.uuid).catch(() => null);
        if (!rec?.nvramPath) continue;
        const info = await this.d.nvram.cachedInfo(rec.nvramPath).catch(() => null);
        if (info && info.sha256 !== s?.sha256) {
          this.enqueue(r.uuid, 'periodic');
          queued++;
        }
      }
    } finally {
      this.scanning = false;
    }
    return queued;
  }

  // ---- reading ----

  /** The generation a restore uses: the newest, or an operator's pin (`ReplicaCorrupt` names it otherwise). */
  newest(uuid: string): Promise<ReadResult | null> {
    return this.d.log.newest(uuid);
  }

  /** An operator chose an older generation for the next restore of `uuid` (logged and counted by the caller). */
  pin(uuid: string, generation: number, by: string): Promise<ReadResult> {
    return this.serial.run(uuid, () => this.d.log.pin(uuid, generation, by));
  }

  /** The highest generation listed for `uuid` (0: none). */
  async highest(uuid: string): Promise<number> {
    const all = await this.d.log.list(uuid);
    return all.length ? all[all.length - 1].generation : 0;
  }

  /** Count an older generation restored at an operator's request. */
  countOlderRestore(kind: string): void {
    this.d.metrics?.olderRestores.inc({ kind });
  }

  async read(uuid: string, generation: number): Promise<{ entry: GenerationEntry; header: ReplicaHeader; store: Buffer; storedBytes: number } | null> {
    const entry = (await this.d.log.list(uuid)).find((e) => e.generation === generation);
    if (!entry) return null;
    return { entry, ...(await this.d.log.read(uuid, entry)) };
  }

  /**
   * Every generation that decodes, with its header, newest first. Decoded (not only the header
   * read): the header holds no plaintext digest, so the sha256 shown is computed from the store.
   */
  async list(uuid: string): Promise<BackupView[]> {
    const out: BackupView[] = [];
    for (const e of (await this.d.log.list(uuid)).reverse()) {
      let r: { header: ReplicaHeader; storedBytes: number };
      try {
        r = await this.d.log.read(uuid, e);
      } catch (err) {
        if (err instanceof ReplicaCorrupt || err instanceof ReplicaKeyError) continue;
        throw err;
      }
      out.push(backupView(r.header, r.storedBytes));
    }
    return out;
  }

  // ---- ownership ----

  /**
   * Nova put the instance here with the store of `restored` (unshelve, evacuate) or moved it here
   * (a finished migration: `restored` null): the next generation, written now in the background
   * with `reason`, takes the replicas over.
   */
  async adopt(uuid: string, restored: RestoredGeneration | null, reason: GenerationReason): Promise<void> {
    const s = this.stateOf(uuid);
    await this.save({
      uuid,
      generation: restored?.entry.generation ?? s.generation,
      sha256: restored?.header.sha256 ?? null,
      time: restored?.header.time ?? null,
      state: 'pending',
      takeover: true,
      failures: 0,
      since: new Date().toISOString(),
    });
    this.enqueue(uuid, reason, { force: true });
  }

  /** The local store is gone (moved away, shelved, evacuated from here): forget, keep the replicas. */
  async forget(uuid: string): Promise<void> {
    this.queue.delete(uuid);
    await this.serial.run(uuid, async () => {
      this.states.delete(uuid);
      await this.d.states.delete(uuid);
    });
  }

  /** True when another host owns the instance's replicas (this host was fenced). */
  isFenced(uuid: string): boolean {
    return this.states.get(uuid)?.state === 'fenced';
  }

  /** Every instance with replicas in the store (any host's). */
  async instances(): Promise<string[]> {
    await this.ensureStore();
    return this.d.log.instances();
  }

  /** The instance was deleted: remove its replicas (after the local store is gone) and its state. */
  async deleteAll(uuid: string): Promise<number> {
    this.queue.delete(uuid);
    return this.serial.run(uuid, async () => {
      try {
        const n = await this.d.log.deleteAll(uuid);
        this.states.delete(uuid);
        await this.d.states.delete(uuid);
        return n;
      } catch (e) {
        // Remembered (durably) and retried with back-off until the store answers.
        const s = this.stateOf(uuid);
        const failures = s.state === 'deleting' ? s.failures + 1 : 1;
        const wait = Math.min(this.d.options.retryInterval * 2 ** (failures - 1), this.d.options.interval);
        await this.save({
          ...s,
          state: 'deleting',
          failures,
          error: (e as Error).message,
          retryAt: new Date(Date.now() + wait * 1000).toISOString(),
          since: undefined,
        });
        throw e;
      }
    });
  }
}
