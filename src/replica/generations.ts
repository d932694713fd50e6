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
 *   `index`                      the signed index (replica/signedIndex): the highest
 *                                generation completely written, and an operator's pin
 *
 * Reading never goes backwards silently: the newest generation is restored or the restore
 * stops with an error naming it (`ReplicaCorrupt`): when it does not decode (GCM tag, digest,
 * header naming this instance and generation), when the signed index records a newer one
 * that is gone (deleted), when generations exist but the index does not, or when the index
 * does not verify. An older generation is restored only when an operator pinned it
 * (`pin`, through the restore API or the CLI); the pin holds until the next generation is
 * written. A key this host lacks stops the restore too (`ReplicaKeyError`).
 *
 * Retention (`toPrune`, pure): the newest `keep` generations, plus the newest shelve
 * generation until a later generation was written by an unshelve.
 */
import type { FirmwareSelection } from '../firmware/types';
import type { Keyring } from './keys';
import type { ReplicaStore } from './types';
import { checkOwner } from './types';
import {
  decodeReplica,
  encodeReplica,
  readHeader,
  sealReplica,
  sha256Hex,
  ReplicaPacker,
  REASONS,
  type GenerationReason,
  type PackedStore,
  type ReplicaHeader,
} from './format';
import { ReplicaCorrupt, ReplicaFenced, ReplicaUnavailable } from './errors';
import { openIndex, sealIndex, type ReplicaIndex } from './signedIndex';
import { NotFound } from '../errors';

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
  /** The store's bytes, or the store packed as it was read (`packer`; then `sha256` is required). */
  store: Buffer | PackedStore;
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
  /** The store's SHA-256, when the caller has it already (a 64 MiB store is not hashed again). */
  sha256?: string;
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
  /** Bytes of the object as stored. */
  storedBytes: number;
  /** Newer generations passed over (only when an operator pinned an older one). */
  skipped: Skipped[];
  /** The operator's pin this restore follows, when it does. */
  pinned?: { generation: number; time: string; by: string };
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

  /** A packer for a store read piece by piece (replica/format), under the key new generations use. */
  packer(sizeHint = 0): ReplicaPacker {
    return new ReplicaPacker(this.keys, sizeHint);
  }

  /** Write one generation: claim, encrypt, put, read back, prune (when more than `keep` exist). */
  async write(req: WriteRequest): Promise<WriteResult> {
    if (!Buffer.isBuffer(req.store) && !req.sha256) throw new Error(`a generation of ${req.uuid} from a packed store needs the store's sha256`);
    const { generation, claims } = await this.claimNext(req);
    const time = (req.time ?? new Date()).toISOString();
    const input = { instance_uuid: req.uuid, generation, reason: req.reason, firmware: req.firmware, host: this.host, time };
    const obj = Buffer.isBuffer(req.store) ? encodeReplica(req.store, input, this.keys) : sealReplica(req.store, input, this.keys);
    const key = `${this.dir(req.uuid)}gen/${pad(generation)}.${req.reason}.${this.host}`;
    await this.store.put(key, obj);
    let header: ReplicaHeader;
    if (req.verify === false) {
      const { sha256: _v1, ...stored } = readHeader(obj, key).header;
      header = { ...stored, sha256: req.sha256 ?? sha256Hex(req.store as Buffer) };
    } else {
      const back = await this.store.get(key);
      if (!back || !back.equals(obj))
        throw new ReplicaUnavailable(`generation ${generation} of ${req.uuid} did not read back as written (${back ? `${back.length} bytes` : 'missing'})`);
      header = decodeReplica(back, this.keys, key, { instanceUuid: req.uuid, generation }).header;
    }
    // The generation is whole: the index's high-water mark rises to it (never falls) and an
    // operator's pin, now behind us, is dropped. An unreadable index is replaced.
    const before = await this.readIndex(req.uuid).catch(() => null);
    await this.writeIndex(req.uuid, { generation: Math.max(before?.generation ?? 0, generation) });
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

  indexKey(uuid: string): string {
    return `${this.dir(uuid)}index`;
  }

  /** The instance's signed index, verified; null when there is none. ReplicaCorrupt when forged. */
  async readIndex(uuid: string): Promise<ReplicaIndex | null> {
    const obj = await this.store.get(this.indexKey(uuid));
    return obj ? openIndex(obj, this.keys, this.indexKey(uuid), uuid) : null;
  }

  private async writeIndex(uuid: string, i: Pick<ReplicaIndex, 'generation' | 'pin'>): Promise<void> {
    const index: ReplicaIndex = { v: 1, instance_uuid: uuid, generation: i.generation, ...(i.pin ? { pin: i.pin } : {}), time: new Date().toISOString() };
    await this.store.put(this.indexKey(uuid), sealIndex(index, this.keys));
  }

  /**
   * The generation a restore uses: the newest, or the one an operator pinned; null when the
   * instance has no replica at all. Throws ReplicaCorrupt naming the generation (or the
   * index) when that is not possible (see the module header); `ReplicaKeyError` and
   * `ReplicaUnavailable` propagate.
   */
  async newest(uuid: string): Promise<ReadResult | null> {
    const entries = await this.list(uuid);
    const index = await this.readIndex(uuid);
    const how = `an older generation is restored only on an operator's explicit choice (POST /v1/instances/${uuid}/nvram/restore {"generation": N}, or nova-uefi-shim replica pin)`;
    const top = entries[entries.length - 1];
    if (!top) {
      if (index && index.generation > 0)
        throw new ReplicaCorrupt(this.indexKey(uuid), `the signed index records generation ${index.generation}, but no generation is left (deleted?)`);
      return null;
    }
    if (!index) throw new ReplicaCorrupt(this.indexKey(uuid), `generations up to ${top.generation} exist but their signed index is missing (deleted?); ${how}`);
    if (index.pin) {
      const pin = index.pin;
      const chosen = entries.find((e) => e.generation === pin.generation);
      if (!chosen) throw new ReplicaCorrupt(this.indexKey(uuid), `generation ${pin.generation}, pinned by ${pin.by}, is gone`);
      const skipped = entries
        .filter((e) => e.generation > chosen.generation)
        .map((e) => ({ generation: e.generation, error: `passed over: generation ${chosen.generation} was chosen by ${pin.by} at ${pin.time}` }));
      return { entry: chosen, ...(await this.read(uuid, chosen)), skipped, pinned: pin };
    }
    if (index.generation > top.generation) {
      throw new ReplicaCorrupt(
        `${this.dir(uuid)}gen/${pad(index.generation)}`,
        `generation ${index.generation}, the newest the signed index records, is missing (deleted?); the newest left is ${top.generation}; ${how}`,
      );
    }
    try {
      return { entry: top, ...(await this.read(uuid, top)), skipped: [] };
    } catch (e) {
      if (!(e instanceof ReplicaCorrupt)) throw e;
      throw new ReplicaCorrupt(top.key, `the newest generation ${top.generation} cannot be restored (${e.reason}); ${how}`, { cause: e });
    }
  }

  /**
   * An operator's choice: the next restore uses `generation` (which must decode), older than
   * the newest. Recorded in the signed index until the next generation is written.
   */
  async pin(uuid: string, generation: number, by: string): Promise<ReadResult> {
    const entries = await this.list(uuid);
    const chosen = entries.find((e) => e.generation === generation);
    if (!chosen) throw new NotFound(`Instance ${uuid} has no replica generation ${generation}.`);
    const got = await this.read(uuid, chosen);
    const index = await this.readIndex(uuid).catch(() => null);
    const high = Math.max(index?.generation ?? 0, entries[entries.length - 1].generation);
    const pin = { generation, time: new Date().toISOString(), by };
    await this.writeIndex(uuid, { generation: high, pin });
    return {
      entry: chosen,
      ...got,
      skipped: entries.filter((e) => e.generation > generation).map((e) => ({ generation: e.generation, error: 'passed over' })),
      pinned: pin,
    };
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

  /**
   * Remove every generation and claim of the instance, all at once (Nova's delete waits for
   * this: one object after the other cost an fsync each in a directory store). Every removal
   * is let finish before the first failure is thrown, so a retry starts from a settled store.
   */
  async deleteAll(uuid: string): Promise<number> {
    const [keys, claims] = await Promise.all([this.store.list(this.dir(uuid)), this.claims(uuid)]);
    const done = await Promise.allSettled([
      ...keys.map((k) => this.store.delete(k)),
      ...claims.map((c) => this.store.dropClaim(this.claimKey(uuid, c.generation))),
    ]);
    const failed = done.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    return keys.length;
  }
}
