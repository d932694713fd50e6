/**
 * @module driver/secureBootFleet
 * Secure Boot across every instance of this host: the inventory (`GET /v1/host/secure-boot`)
 * and fleet rotations (`POST /v1/host/secure-boot/rotations`).
 *
 * A rotation adds the KEK/db/dbx entries of a key set and/or removes certificates by subject
 * from a selection (all, a list, or a predicate on the keys an instance holds now). Each
 * instance is changed under its lock through `secureBootOps.changeKeys`: a shut-off one at
 * once, a running one queued for its next cold boot. Instances in setup mode or without
 * Secure Boot are skipped unless asked. Idempotent: an entry already present is not added
 * again, an instance that already has this rotation queued is not queued twice, and a known
 * `rotation_id` answers the existing rotation (one cut short by a restart runs again).
 * Starts with the same `rotation_id` run one after another, so concurrent requests start it
 * once and the others answer that rotation.
 *
 * The inventory reads each store once per change: the derived summary is cached by the
 * store's stat identity (nvram/store `cachedDerived`), so a large host answers quickly after
 * the first read. Expiry is judged at answer time.
 */
import { randomUUID } from 'node:crypto';
import { InvalidInput, NotFound, isNovaError } from '../errors';
import { StatCache } from '../util/fileIdentity';
import type { RotationDoc, RotationOutcome, RotationRequest, RotationStore } from '../state/rotations';
import type { InstanceRecord } from '../state/records';
import { parseVarStore, secureBootSummary, type CertificateDetail, type KeyChange, type KeyDbName, type SecureBootSummary } from '../varstore';
import type { Schemas } from '../wire';
import type { SecureBootInventory, SecureBootRotation } from './contract';
import type { DriverCore } from './core';
import { changeKeys } from './secureBootOps';

type InventoryEntry = Schemas['InventoryEntry'];

/** Instances changed at once during a rotation (each store: read, parse, write, fsync). */
const ROTATION_CONCURRENCY = 4;
/** Progress is written every this many instances (and at the end). */
const PROGRESS_EVERY = 50;
/** Store summaries kept for the inventory (most recently used). */
const INVENTORY_CACHE_ENTRIES = 65536;

/** What the inventory keeps per store: the summary and each KEK/db certificate's notAfter in ms. */
type StoreSummary = { s: SecureBootSummary; kekAfter: number[]; dbAfter: number[] } | { error: string };

/** What every request's view of the fleet shares: the summary cache, the rotations running and those starting. */
interface FleetState {
  readonly summaries: StatCache<StoreSummary>;
  /** Rotations running in this process, by id. */
  readonly running: Map<string, Promise<void>>;
  /** Starts in progress, by rotation id (concurrent starts of one id wait for the first). */
  readonly starting: Map<string, Promise<unknown>>;
}

export class SecureBootFleet {
  private readonly summaries: StatCache<StoreSummary>;
  private readonly running: Map<string, Promise<void>>;
  private readonly starting: Map<string, Promise<unknown>>;

  constructor(
    private readonly core: DriverCore,
    private readonly rotations: RotationStore,
    private readonly state: FleetState = { summaries: new StatCache<StoreSummary>(INVENTORY_CACHE_ENTRIES), running: new Map(), starting: new Map() },
  ) {
    this.summaries = state.summaries;
    this.running = state.running;
    this.starting = state.starting;
  }

  /**
   * The fleet as one request sees it (`core` is the request's): a rotation it starts logs
   * with the request's id to the end, while the cache and the running rotations are shared.
   */
  forCore(core: DriverCore): SecureBootFleet {
    return new SecureBootFleet(core, this.rotations, this.state);
  }

  // ---- inventory ----

  private async summaryOf(path: string): Promise<StoreSummary | null> {
    return this.core.deps.nvram.cachedDerived(path, this.summaries, (data) => {
      try {
        const s = secureBootSummary(parseVarStore(data).variables);
        const after = (ds: CertificateDetail[]) => ds.map((d) => Date.parse(d.not_after));
        return { s, kekAfter: after(s.kek.details), dbAfter: after(s.db.details) };
      } catch (e) {
        return { error: (e as Error).message };
      }
    });
  }

  async inventory(): Promise<SecureBootInventory> {
    const now = new Date();
    const recs = await this.core.deps.records.secureBootSummaries();
    const nowMs = now.getTime();
    // The cached details keep the flag of the moment they were read: copy only those that changed since.
    const expiredNow = (ds: CertificateDetail[], after: number[]) =>
      ds.map((d, i) => (d.expired === after[i] < nowMs ? d : { ...d, expired: after[i] < nowMs }));
    const summary = {
      instances: 0,
      secure_boot_on: 0,
      setup_mode: 0,
      pending_changes: 0,
      expired_kek_only: 0,
      expired_db_only: 0,
      trust_only_2011_cas: 0,
      keysets: {} as Record<string, number>,
    };
    const instances: InventoryEntry[] = [];
    for (const r of recs) {
      if (!r.nvramPath) continue;
      const cached = await this.summaryOf(r.nvramPath);
      const base = { instance_uuid: r.uuid, instance_name: r.name, keyset: r.keyset, pending: r.pending };
      summary.instances++;
      if (r.pending) summary.pending_changes++;
      if (r.keyset) summary.keysets[r.keyset] = (summary.keysets[r.keyset] ?? 0) + 1;
      if (!cached || 'error' in cached) {
        instances.push({ ...base, secure_boot: false, setup_mode: false, error: cached ? cached.error : 'the variable store is missing' });
        continue;
      }
      const s = cached.s;
      const kek = expiredNow(s.kek.details, cached.kekAfter);
      const db = expiredNow(s.db.details, cached.dbAfter);
      if (s.enabled) summary.secure_boot_on++;
      if (s.setup_mode) summary.setup_mode++;
      if (s.enabled && kek.length && kek.every((c) => c.expired)) summary.expired_kek_only++;
      if (s.enabled && db.length && db.every((c) => c.expired)) summary.expired_db_only++;
      const ms = [...kek, ...db].filter((c) => /Microsoft/.test(c.subject));
      if (ms.length && ms.every((c) => /2011\b/.test(c.subject))) summary.trust_only_2011_cas++;
      instances.push({
        ...base,
        secure_boot: s.enabled,
        setup_mode: s.setup_mode,
        pk_subject: s.pk.certificates[0] ?? null,
        kek,
        db,
        db_hash_count: s.db.hash_count,
        dbx_count: s.dbx.hash_count + s.dbx.certificates.length,
      });
    }
    return { host: this.core.deps.config.DEFAULT.host, summary, instances };
  }

  // ---- rotations ----

  /** The changes a rotation makes (the same for every instance). */
  private changesFor(req: RotationRequest): KeyChange[] {
    const changes: KeyChange[] = [];
    if (req.add) {
      const ks = this.core.deps.keysets.get(req.add.keyset);
      if (!ks)
        throw new InvalidInput(
          'add.keyset',
          `unknown Secure Boot key set '${req.add.keyset}' (this host has: ${this.core.deps.keysets.names().join(', ') || 'none'})`,
        );
      const want = req.add.databases ?? ['KEK', 'db', 'dbx'];
      const from: Record<'KEK' | 'db' | 'dbx', typeof ks.db> = { KEK: ks.kek, db: ks.db, dbx: ks.dbx };
      for (const db of want) if (from[db].length) changes.push({ op: 'add', db, items: from[db] });
      if (!changes.length) throw new InvalidInput('add.databases', `key set '${ks.name}' holds nothing for ${want.join(', ')}`);
    }
    const dbs: Array<['kek' | 'db' | 'dbx', KeyDbName]> = [
      ['kek', 'KEK'],
      ['db', 'db'],
      ['dbx', 'dbx'],
    ];
    for (const [f, db] of dbs) for (const subject of req.remove?.[f] ?? []) changes.push({ op: 'remove-where', db, subject_contains: subject });
    if (!changes.length) throw new InvalidInput('body', 'a rotation needs add or remove');
    return changes;
  }

  /** Start a rotation (or answer the one with the same id); runs in the background. */
  start(body: RotationRequest): Promise<SecureBootRotation> {
    const id = body.rotation_id ?? randomUUID();
    const prev = this.starting.get(id) ?? Promise.resolve();
    const next = prev.then(
      () => this.startOnce(id, body),
      () => this.startOnce(id, body),
    );
    const tail = next.catch(() => undefined);
    this.starting.set(id, tail);
    void tail.then(() => {
      if (this.starting.get(id) === tail) this.starting.delete(id);
    });
    return next;
  }

  private async startOnce(id: string, body: RotationRequest): Promise<SecureBootRotation> {
    const known = await this.rotations.get(id);
    if (known && (known.status === 'done' || this.running.has(id))) return this.view(known);
    // A rotation cut short resumes with the request it was started with.
    const req = known?.request ?? body;
    const changes = this.changesFor(req);
    const sel = req.selection;
    let targets: string[];
    if (sel.instances) targets = [...new Set(sel.instances.map((u) => u.toLowerCase()))];
    else targets = (await this.core.deps.records.liveSummaries()).map((r) => r.uuid);
    const doc: RotationDoc = known
      ? { ...known, status: 'running', finished_at: null }
      : { rotation_id: id, status: 'running', created_at: new Date().toISOString(), finished_at: null, request: req, targets, instances: [] };
    await this.rotations.put(doc);
    this.core.deps.log.info('Secure Boot rotation started', { rotation: id, targets: doc.targets.length, resumed: known !== null });
    const run = this.run(doc, changes).finally(() => this.running.delete(id));
    this.running.set(id, run);
    return this.view(doc);
  }

  /** Wait for a rotation running in this process (tests, bench). */
  async settled(id: string): Promise<void> {
    await this.running.get(id);
  }

  private async run(doc: RotationDoc, changes: KeyChange[]): Promise<void> {
    const done = new Map(doc.instances.map((o) => [o.instance_uuid, o]));
    const todo = doc.targets.filter((u) => !done.has(u));
    let next = 0;
    let sinceWrite = 0;
    const worker = async () => {
      while (next < todo.length) {
        const uuid = todo[next++];
        const o = await this.core.locks.run(uuid, () => this.one(uuid, doc, changes));
        done.set(uuid, o);
        doc.instances = doc.targets.filter((u) => done.has(u)).map((u) => done.get(u) as RotationOutcome);
        if (++sinceWrite >= PROGRESS_EVERY) {
          sinceWrite = 0;
          await this.rotations.put(doc);
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(ROTATION_CONCURRENCY, todo.length) }, worker));
      doc.status = 'done';
      doc.finished_at = new Date().toISOString();
    } catch (e) {
      doc.status = 'interrupted';
      this.core.deps.log.error('Secure Boot rotation interrupted', { rotation: doc.rotation_id, error: (e as Error).message });
    }
    await this.rotations.put(doc);
    this.core.deps.log.info('Secure Boot rotation finished', { rotation: doc.rotation_id, status: doc.status, instances: doc.instances.length });
  }

  /** One instance (under its lock). */
  private async one(uuid: string, doc: RotationDoc, changes: KeyChange[]): Promise<RotationOutcome> {
    const at = () => new Date().toISOString();
    const req = doc.request;
    const rec = await this.core.deps.records.live(uuid);
    if (!rec) return { instance_uuid: uuid, outcome: 'skipped', detail: 'not an instance of this host', at: at() };
    const out = (outcome: RotationOutcome['outcome'], detail?: string, change_id?: string): RotationOutcome => ({
      instance_uuid: uuid,
      instance_name: rec.name,
      outcome,
      ...(detail ? { detail } : {}),
      ...(change_id ? { change_id } : {}),
      at: at(),
    });
    if (!rec.nvramPath) return out('skipped', 'no variable store (BIOS or stateless firmware)');
    const already = rec.secureBoot?.pending.find((p) => p.rotation === doc.rotation_id);
    if (already) return out('queued', 'already queued by this rotation', already.id);
    try {
      const s = secureBootSummary(parseVarStore(await this.core.deps.nvram.read(rec.nvramPath)).variables);
      if (s.setup_mode && !req.include_setup_mode) return out('skipped', 'setup mode (no PK): include_setup_mode not set');
      if (!s.setup_mode && !s.enabled && !req.include_secure_boot_off) return out('skipped', 'Secure Boot off: include_secure_boot_off not set');
      const why = notSelected(s, req.selection.where);
      if (why) return out('skipped', why);
      const r = await changeKeys(this.core, rec, changes, { keyset: null, queue: true, source: 'rotation', rotation: doc.rotation_id });
      if (r.queued) return out('queued', 'running: applied at the next cold boot', r.change?.id);
      return out(r.changed ? 'applied' : 'unchanged', r.changed ? undefined : 'every entry already as asked');
    } catch (e) {
      if (isNovaError(e)) return out('failed', e.message);
      throw e;
    }
  }

  /** A rotation as the API shows it: queued outcomes resolved against the instances' records now. */
  async view(doc: RotationDoc): Promise<SecureBootRotation> {
    const instances: RotationOutcome[] = [];
    for (const o of doc.instances) {
      if (o.outcome !== 'queued' || !o.change_id) {
        instances.push(o);
        continue;
      }
      const rec: Readonly<InstanceRecord> | null = await this.core.deps.records.peek(o.instance_uuid);
      const sb = rec?.secureBoot;
      const applied = sb?.applied.find((x) => x.id === o.change_id);
      if (sb?.pending.some((p) => p.id === o.change_id)) instances.push(o);
      else if (applied)
        instances.push({
          ...o,
          outcome: applied.outcome === 'failed' ? 'failed' : 'applied',
          detail: applied.detail ?? 'applied at a cold boot',
          at: applied.at,
        });
      else instances.push({ ...o, outcome: 'cancelled', detail: 'the queued change was cancelled (or its instance left this host)' });
    }
    const counts: Record<string, number> = {};
    for (const o of instances) counts[o.outcome] = (counts[o.outcome] ?? 0) + 1;
    const status = doc.status === 'running' && !this.running.has(doc.rotation_id) ? 'interrupted' : doc.status;
    return {
      rotation_id: doc.rotation_id,
      status,
      created_at: doc.created_at,
      finished_at: doc.finished_at,
      request: doc.request,
      total: doc.targets.length,
      done: doc.instances.length,
      counts,
      instances,
    };
  }

  async get(id: string): Promise<SecureBootRotation> {
    const doc = await this.rotations.get(id);
    if (!doc) throw new NotFound(`No Secure Boot rotation ${id} on this host.`);
    return this.view(doc);
  }

  async list(): Promise<{ rotations: SecureBootRotation[] }> {
    return { rotations: await Promise.all((await this.rotations.list()).map((d) => this.view(d))) };
  }
}

/** Why the `where` predicate does not select a store (undefined: selected). */
function notSelected(s: SecureBootSummary, where: RotationRequest['selection']['where']): string | undefined {
  if (!where) return undefined;
  const has = (subjects: string[], part: string) => subjects.some((x) => x.includes(part));
  if (where.kek_contains && !has(s.kek.certificates, where.kek_contains)) return `not selected: no KEK certificate contains '${where.kek_contains}'`;
  if (where.db_contains && !has(s.db.certificates, where.db_contains)) return `not selected: no db certificate contains '${where.db_contains}'`;
  if (where.kek_lacks && has(s.kek.certificates, where.kek_lacks)) return `not selected: a KEK certificate contains '${where.kek_lacks}'`;
  if (where.db_lacks && has(s.db.certificates, where.db_lacks)) return `not selected: a db certificate contains '${where.db_lacks}'`;
  return undefined;
}
