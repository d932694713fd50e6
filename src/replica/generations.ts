/**
 * @module replica/generations
 * The generations of each instance's store in a `ReplicaStore`, and the rule that two hosts
 * never both publish the newest one.
 *
 * Layout under `<prefix><instance uuid>/`:
 *   `claim/<N>`                  the claim of generation N (create-only: `ReplicaStore.claim`)
 *   `gen/<N>.<reason>.<host>`    the object of generation N (replica/format), written only by
 *                                the host that won claim N; N is 12 digits, so keys sort by N
 *   `tombstone/<host>`           `{host, time, generation}` (JSON, not encrypted: it holds no
 *                                variable): the host destroyed the instance without Nova's task
 *                                state when generation `generation` was the newest claimed
 *
 * Writing generation N: read the claims; N is one more than the highest. A host may claim only
 * while no *other* host claimed a generation above `base` (the newest one this host wrote or
 * restored): if one did, the instance's replicas moved on without this host (it was evacuated,
 * or its instance lives elsewhere now) and it writes nothing (`ReplicaFenced`). A host Nova
 * moved the instance to (unshelve, evacuate, a finished migration) writes with `takeover`,
 * which skips that check once. Claims are create-only, so generation N has at most one writer;
 * a lost claim means another writer got there first: re-read (takeover) or stop (fenced).
 * The object is then written and read back byte for byte before the write counts.
 *
 * Reading: the newest generation that decodes (GCM tag, digest, header naming this instance
 * and generation); a corrupt one is skipped with its reason, so the caller can warn naming
 * both. A key this host lacks stops the search (`ReplicaKeyError`): an older generation under
 * a known key would silently lose the newer variables.
 *
 * Retention (`toPrune`, pure): the newest `keep` generations, plus the newest shelve
 * generation until a later generation was written by an unshelve.
 */
import type { FirmwareSelection } from '../firmware/types';
import type { Keyring } from './keys';
import type { ReplicaStore } from './types';
import { checkOwner } from './types';
import { decodeReplica, encodeReplica, readHeader, REASONS, type GenerationReason, type ReplicaHeader } from './format';
import { ReplicaCorrupt, ReplicaFenced, ReplicaUnavailable } from './errors';

const DIGITS = 12;
/** Attempts at a claim before a takeover gives up (each loses only to another live writer). */
const CLAIM_ATTEMPTS = 8;

export interface GenerationEntry {
  generation: number;
  reason: GenerationReason;
  host: string;
  key: string;
}

export interface WriteRequest {
  uuid: string;
  store: Buffer;
  firmware: FirmwareSelection | null;
  reason: GenerationReason;
  /** The newest generation this host wrote or restored for the instance; 0 for none. */
  base: number;
  /** Nova moved the instance here: write even though another host claimed past `base`. */
  takeover?: boolean;
  /**
   * Read the object back and compare it byte for byte before the write counts (default true).
   * Background generations skip it (the PUT's success is the store's word that it is durable);
   * a generation that replaces the local copy (shelve-offload) never does.
   */
  verify?: boolean;
  /** When it was written (default now). */
  time?: Date;
}

export interface WriteResult {
  generation: number;
  header: ReplicaHeader;
  /** Bytes stored (the encrypted, compressed object). */
  objectBytes: number;
  /** Generations retention removed. */
  pruned: number[];
}

export interface Skipped {
  generation: number;
  error: string;
}

export interface ReadResult {
  entry: GenerationEntry;
  header: ReplicaHeader;
  store: Buffer;
  /** Newer generations that failed to decode, newest first. */
  skipped: Skipped[];
}

export interface ReplicaLogOptions {
  prefix: string;
  /** This host ([DEFAULT] host): the owner of its claims, part of its object keys. */
  host: string;
  keep: number;
  /** Between a lost claim and the next attempt (tests make it 0). */
  backoffMs?: (attempt: number) => number;
}

function pad(n: number): string {
  return String(n).padStart(DIGITS, '0');
}

/** Parse `<N>.<reason>.<host>`; null for anything else. */
export function parseGenerationName(name: string): Omit<GenerationEntry, 'key'> | null {
  const m = /^(\d{12})\.([a-z]+)\.(.+)$/.exec(name);
  if (!m || !REASONS.includes(m[2] as GenerationReason)) return null;
  const generation = Number(m[1]);
  return generation > 0 ? { generation, reason: m[2] as GenerationReason, host: m[3] } : null;
}

/** Which generations retention removes, given all of them (any order). */
export function toPrune(entries: readonly GenerationEntry[], keep: number): GenerationEntry[] {
  const desc = [...entries].sort((a, b) => b.generation - a.generation);
  const shelve = desc.find((e) => e.reason === 'shelve');
  const unshelvedAfter = shelve && desc.some((e) => e.generation > shelve.generation && e.reason === 'unshelve');
  return desc.slice(Math.max(1, keep)).filter((e) => !(e === shelve && !unshelvedAfter));
}

export class ReplicaLog {
  readonly host: string;
  constructor(
    readonly store: ReplicaStore,
    private readonly keys: Keyring,
    private readonly opts: ReplicaLogOptions,
  ) {
    this.host = checkOwner(opts.host);
  }

  private dir(uuid: string): string {
    return `${this.opts.prefix}${uuid}/`;
  }

  private claimKey(uuid: string, n: number): string {
    return `${this.dir(uuid)}claim/${pad(n)}`;
  }

  /** Whether the store answers (`ReplicaStore.probe` under this log's prefix); throws `ReplicaUnavailable`. */
  probe(): Promise<{ exists: boolean; detail: string }> {
    return this.store.probe(this.opts.prefix);
  }

  /** The instance uuids that have anything (generations, claims, tombstones) under the prefix. */
  async instances(): Promise<string[]> {
    const prefix = this.opts.prefix;
    const keys = [...(await this.store.list(prefix)), ...(await this.store.claims(prefix)).map((c) => c.key)];
    const out = new Set<string>();
    for (const k of keys) {
      const id = k.slice(prefix.length).split('/')[0];
      if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id)) out.add(id);
    }
    return [...out].sort();
  }

  /** Record that this host destroyed the instance without Nova's task state (see the module header). */
  async tombstone(uuid: string, generation: number, time = new Date()): Promise<void> {
    const doc = { host: this.host, time: time.toISOString(), generation };
    await this.store.put(`${this.dir(uuid)}tombstone/${this.host}`, Buffer.from(JSON.stringify(doc)));
  }

  /** Every tombstone of the instance (unreadable ones skipped). */
  async tombstones(uuid: string): Promise<{ host: string; time: string; generation: number }[]> {
    const out: { host: string; time: string; generation: number }[] = [];
    for (const key of await this.store.list(`${this.dir(uuid)}tombstone/`)) {
      try {
        const t = JSON.parse(((await this.store.get(key)) ?? Buffer.from('null')).toString('utf8')) as {
          host?: unknown;
          time?: unknown;
          generation?: unknown;
        } | null;
        if (t && typeof t.host === 'string' && typeof t.time === 'string' && Number.isSafeInteger(t.generation)) {
          out.push({ host: t.host, time: t.time, generation: t.generation as number });
        }
      } catch {
        // A torn or foreign object is no tombstone.
      }
    }
    return out;
  }

  /** Every generation of the instance, oldest first. */
  async list(uuid: string): Promise<GenerationEntry[]> {
    const keys = await this.store.list(`${this.dir(uuid)}gen/`);
    const out: GenerationEntry[] = [];
    for (const key of keys) {
      const e = parseGenerationName(key.slice(key.lastIndexOf('/') + 1));
      if (e) out.push({ ...e, key });
    }
    return out.sort((a, b) => a.generation - b.generation);
  }

  /** Claims of the instance as (generation, claimants), oldest first. */
  async claims(uuid: string): Promise<{ generation: number; owners: string[] }[]> {
    const entries = await this.store.claims(`${this.dir(uuid)}claim/`);
    return entries
      .map((c) => ({ generation: Number(c.key.slice(c.key.lastIndexOf('/') + 1)), owners: c.owners }))
      .filter((c) => Number.isSafeInteger(c.generation) && c.generation > 0)
      .sort((a, b) => a.generation - b.generation);
  }

  /** Claim the next generation for this host (see the module header); also how many claims there were. */
  private async claimNext(req: WriteRequest): Promise<{ generation: number; claims: number }> {
    for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
      const claims = await this.claims(req.uuid);
      const foreign = claims.filter((c) => c.generation > req.base && c.owners.some((o) => o !== this.host));
      if (foreign.length && !req.takeover) {
        const last = foreign[foreign.length - 1];
        throw new ReplicaFenced(req.uuid, last.generation, last.owners.find((o) => o !== this.host) ?? '?');
      }
      const top = claims.length ? claims[claims.length - 1].generation : 0;
      const n = Math.max(top, req.base) + 1;
      if (await this.store.claim(this.claimKey(req.uuid, n), this.host)) return { generation: n, claims: claims.length };
      const wait = this.opts.backoffMs?.(attempt) ?? 20 + Math.floor(Math.random() * 80) * (attempt + 1);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    throw new ReplicaUnavailable(`no generation of ${req.uuid} could be claimed in ${CLAIM_ATTEMPTS} attempts (other writers kept winning)`);
  }

  /** Write one generation: claim, encrypt, put, read back, prune (when more than `keep` exist). */
  async write(req: WriteRequest): Promise<WriteResult> {
    const { generation, claims } = await this.claimNext(req);
    const time = (req.time ?? new Date()).toISOString();
    const obj = encodeReplica(req.store, { instance_uuid: req.uuid, generation, reason: req.reason, firmware: req.firmware, host: this.host, time }, this.keys);
    const key = `${this.dir(req.uuid)}gen/${pad(generation)}.${req.reason}.${this.host}`;
    await this.store.put(key, obj);
    let header: ReplicaHeader;
    if (req.verify === false) {
      header = readHeader(obj, key).header;
    } else {
      const back = await this.store.get(key);
      if (!back || !back.equals(obj))
        throw new ReplicaUnavailable(`generation ${generation} of ${req.uuid} did not read back as written (${back ? `${back.length} bytes` : 'missing'})`);
      header = decodeReplica(back, this.keys, key, { instanceUuid: req.uuid, generation }).header;
    }
    let pruned: number[] = [];
    // Claims are pruned with their generations, so their count says whether retention has work.
    if (claims + 1 > this.opts.keep) {
      try {
        pruned = await this.prune(req.uuid);
      } catch {
        // Retention runs again after the next generation; the new one is safely written.
      }
    }
    return { generation, header, objectBytes: obj.length, pruned };
  }

  /** One generation, decoded and verified. */
  async read(uuid: string, entry: GenerationEntry): Promise<{ header: ReplicaHeader; store: Buffer; storedBytes: number }> {
    const obj = await this.store.get(entry.key);
    if (!obj) throw new ReplicaCorrupt(entry.key, 'object is gone');
    return { ...decodeReplica(obj, this.keys, entry.key, { instanceUuid: uuid, generation: entry.generation }), storedBytes: obj.length };
  }

  /**
   * The newest generation that decodes (at most `atMost` when given); null when there is none.
   * Corrupt ones are skipped and reported; `ReplicaKeyError` and `ReplicaUnavailable` propagate.
   */
  async newest(uuid: string, atMost?: number): Promise<ReadResult | null> {
    const skipped: Skipped[] = [];
    const entries = (await this.list(uuid)).filter((e) => atMost === undefined || e.generation <= atMost).reverse();
    for (const entry of entries) {
      try {
        return { entry, ...(await this.read(uuid, entry)), skipped };
      } catch (e) {
        if (!(e instanceof ReplicaCorrupt)) throw e;
        skipped.push({ generation: entry.generation, error: e.message });
      }
    }
    if (skipped.length) throw new ReplicaCorrupt(`${this.dir(uuid)}gen/`, `no generation decodes: ${skipped.map((s) => s.error).join('; ')}`);
    return null;
  }

  /** Apply retention; returns the generations removed. */
  async prune(uuid: string): Promise<number[]> {
    const all = await this.list(uuid);
    const gone = toPrune(all, this.opts.keep);
    for (const e of gone) await this.store.delete(e.key);
    const oldestKept = Math.min(...all.filter((e) => !gone.includes(e)).map((e) => e.generation));
    for (const c of await this.claims(uuid)) if (c.generation < oldestKept) await this.store.dropClaim(this.claimKey(uuid, c.generation));
    return gone.map((e) => e.generation);
  }

  /** Remove every generation and claim of the instance. */
  async deleteAll(uuid: string): Promise<number> {
    const keys = await this.store.list(this.dir(uuid));
    for (const k of keys) await this.store.delete(k);
    for (const c of await this.claims(uuid)) await this.store.dropClaim(this.claimKey(uuid, c.generation));
    return keys.length;
  }
}
