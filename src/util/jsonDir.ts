/**
 * @module util/jsonDir
 * A directory of JSON documents, one file per key, each written all or nothing by
 * util/atomicFile (temp, every byte, fsync, rename, fsync dir) so it survives a crash, a
 * restart or a full disk (a `StorageError`, the old document unchanged). Shared by instance records,
 * migration journals and the embedded backend's domains; callers choose and validate keys.
 *
 * The sidecar is the only writer of its state directory, so documents are also kept in
 * memory as the JSON text on disk (write-through): a read after the first one costs a
 * JSON.parse instead of open/read/close, and every read still returns a fresh object that
 * the caller may mutate. A document is cached only when the bytes are known to be on disk
 * (after the atomic write returned, or as read back); a write in flight drops the entry and
 * a read that raced a write does not cache what it read. Read-only callers (views) `peek`:
 * one parsed, deep-frozen object per cached document, shared until the document changes,
 * kept for the `FROZEN_ENTRIES` most recently peeked keys (the text cache holds every key:
 * parsed objects are several times larger than their text).
 */
import { promises as fsp, existsSync } from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic, unlinkDurable, sweepTempFiles, mkdirDurable } from './atomicFile';

/** Documents whose frozen parse is kept (most recently peeked). */
export const FROZEN_ENTRIES = 1024;

/** Concurrent file reads of `readMany` (libuv runs 4 at a time by default; more only queues). */
const READ_CONCURRENCY = 16;

export class JsonDir<T> {
  readonly dir: string;
  /** key → the document's JSON text as on disk. */
  private readonly cache = new Map<string, { text: string }>();
  /** key → the frozen parse of the cache entry it was made from, most recently peeked last. */
  private readonly frozen = new Map<string, { from: { text: string }; doc: Readonly<T> }>();
  /** Reads of a key that missed the cache and are in flight; a change marks them stale. */
  private readonly reading = new Map<string, Set<{ stale: boolean }>>();
  /** Writes/removes of a key in flight, each marked when another one overlapped it. */
  private readonly changing = new Map<string, Set<{ overlapped: boolean }>>();

  constructor(dir: string) {
    this.dir = path.resolve(dir);
  }

  /** Create the directory (0700, fsynced in its parent) and remove temp files a crash left. */
  async init(): Promise<void> {
    await mkdirDurable(this.dir, 0o700);
    await sweepTempFiles(this.dir);
  }

  private file(key: string): string {
    return path.join(this.dir, `${key}.json`);
  }

  /**
   * Run a change of `key`; `done(alone)` learns whether no other change of it overlapped this
   * one at any moment. With overlap, which rename won on disk is not known from completion
   * order (a later rename can finish its directory fsync first), so nothing is cached.
   */
  private async change(key: string, fn: () => Promise<unknown>, done: (alone: boolean) => void): Promise<void> {
    this.cache.delete(key);
    this.frozen.delete(key);
    for (const t of this.reading.get(key) ?? []) t.stale = true;
    let active = this.changing.get(key);
    if (!active) this.changing.set(key, (active = new Set()));
    const mine = { overlapped: active.size > 0 };
    for (const other of active) other.overlapped = true;
    active.add(mine);
    try {
      await fn();
      done(!mine.overlapped);
    } finally {
      active.delete(mine);
      if (active.size === 0 && this.changing.get(key) === active) this.changing.delete(key);
    }
  }

  /**
   * The document, or null. Whether the file exists is asked synchronously (one local stat,
   * no thrown ENOENT): a missing document, which every spawn asks about three times, does not
   * queue in libuv's thread pool behind the fsyncs of concurrent writes. An existing one is
   * read asynchronously, so that reading thousands (a first list) keeps the loop responsive.
   */
  async read(key: string): Promise<T | null> {
    return this.readVia(key, (f) => (existsSync(f) ? fsp.readFile(f, 'utf8') : Promise.resolve(null)));
  }

  /** `readText` answers null (or throws ENOENT) for a missing file. */
  private async readVia(key: string, readText: (file: string) => Promise<string | null>): Promise<T | null> {
    const hit = this.cache.get(key);
    if (hit !== undefined) return JSON.parse(hit.text) as T;
    // A read that overlaps a change of the key may see either version: return it, never cache it.
    const tok = { stale: this.changing.has(key) };
    let set = this.reading.get(key);
    if (!set) this.reading.set(key, (set = new Set()));
    set.add(tok);
    let text: string | null;
    try {
      text = await readText(this.file(key));
      if (text === null) return null;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    } finally {
      set.delete(tok);
      if (set.size === 0 && this.reading.get(key) === set) this.reading.delete(key);
    }
    const doc = JSON.parse(text) as T;
    if (!tok.stale) this.cache.set(key, { text });
    return doc;
  }

  /**
   * The document for reading only: deep-frozen, and for a cached document the same object on
   * every call until the document changes (no parse per call). Mutating it throws.
   */
  async peek(key: string): Promise<Readonly<T> | null> {
    const hit = this.cache.get(key);
    if (hit !== undefined) {
      const f = this.frozen.get(key);
      this.frozen.delete(key);
      // An entry made from an older cache entry (the document changed since) is not reused.
      const doc = f && f.from === hit ? f.doc : deepFreeze(JSON.parse(hit.text) as T);
      this.frozen.set(key, { from: hit, doc });
      if (this.frozen.size > FROZEN_ENTRIES) this.frozen.delete(this.frozen.keys().next().value as string);
      return doc;
    }
    const doc = await this.read(key);
    return doc === null ? null : deepFreeze(doc);
  }

  async write(key: string, doc: T): Promise<void> {
    const text = JSON.stringify(doc, null, 2) + '\n';
    await this.change(
      key,
      () => writeFileAtomic(this.file(key), text, { mode: 0o600, sparse: false }),
      (alone) => {
        // With overlapping writes the last rename wins on disk: leave it to the next read.
        if (alone) this.cache.set(key, { text });
      },
    );
  }

  /** Remove a document; a missing one is fine. */
  async remove(key: string): Promise<void> {
    await this.change(
      key,
      () => unlinkDurable(this.file(key)),
      () => undefined,
    );
  }

  /** Per pick function: what it returned for a cache entry (dropped with the entry when the document changes). */
  private readonly picked = new Map<(doc: T) => unknown, WeakMap<{ text: string }, unknown>>();

  /**
   * `readMany` that remembers `pick(doc)` per cached document until the document changes, so
   * listing many unchanged documents again parses none of them. `pick` must be one function
   * (a module-level constant) and its result must not be mutated by callers.
   */
  async readManyPicked<R>(keys: readonly string[], pick: (doc: T) => R): Promise<(R | null)[]> {
    let memo = this.picked.get(pick) as WeakMap<{ text: string }, R> | undefined;
    if (!memo) this.picked.set(pick, (memo = new WeakMap()));
    const out = new Array<R | null>(keys.length).fill(null);
    const misses: string[] = [];
    const at: number[] = [];
    keys.forEach((k, i) => {
      const hit = this.cache.get(k);
      const r = hit && memo.get(hit);
      if (r !== undefined) out[i] = r;
      else {
        misses.push(k);
        at.push(i);
      }
    });
    const read = await this.readMany(misses, pick);
    read.forEach((r, j) => {
      out[at[j]] = r;
      const entry = this.cache.get(misses[j]);
      // Remember only what was picked from the entry now cached (a racing write dropped it).
      if (r !== null && entry) memo.set(entry, r);
    });
    return out;
  }

  /** Keys present, sorted. */
  async keys(): Promise<string[]> {
    const names = await fsp.readdir(this.dir).catch(() => [] as string[]);
    return names
      .filter((n) => n.endsWith('.json'))
      .map((n) => n.slice(0, -5))
      .sort();
  }

  /**
   * `pick(doc)` for each of `keys`, in the same order (null where the document is missing or
   * unreadable), read with bounded concurrency instead of one file after another. Each
   * document is dropped right after `pick`, so listing many keeps only what `pick` returns.
   */
  readMany(keys: readonly string[]): Promise<(T | null)[]>;
  readMany<R>(keys: readonly string[], pick: (doc: T) => R): Promise<(R | null)[]>;
  async readMany(keys: readonly string[], pick: (doc: T) => unknown = (d) => d): Promise<unknown[]> {
    const out = new Array<unknown>(keys.length).fill(null);
    const misses: number[] = [];
    keys.forEach((k, i) => {
      const hit = this.cache.get(k);
      if (hit === undefined) misses.push(i);
      else out[i] = pick(JSON.parse(hit.text) as T);
    });
    let next = 0;
    const worker = async () => {
      while (next < misses.length) {
        const i = misses[next++];
        const doc = await this.readVia(keys[i], (f) => fsp.readFile(f, 'utf8')).catch(() => null);
        out[i] = doc === null ? null : pick(doc);
      }
    };
    await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, misses.length) }, worker));
    return out;
  }
}

function deepFreeze<D>(v: D): D {
  if (v && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}
