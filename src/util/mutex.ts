/**
 * @module util/mutex
 * The one mutex type of the project: per-key serialization. Calls with the same key never
 * interleave, calls with different keys run in parallel. The driver holds one keyed by
 * instance uuid (Nova takes a lock per instance uuid in the compute manager; the sidecar must
 * not rely on that); replication holds its own, so that the generations of one instance are
 * written one after another (the generation log's `base` rule) without waiting for a Nova call.
 * How long each call waited for its key is reported to an optional observer (the lock wait
 * metric). A call runs after every earlier call with its key settled, whether it succeeded or not.
 */

/** Receives each call's wait for its key, in seconds (0 for an idle key). */
export interface LockWaitObserver {
  observe(seconds: number): void;
}

export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();
  private readonly idleWaiters = new Set<() => void>();

  constructor(private readonly waits?: LockWaitObserver) {}

  /**
   * Run `fn` after every earlier call with the same key has settled. An idle key (the common
   * case: one call per instance at a time) starts `fn` at once, with no promise hops before it.
   */
  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    if (this.tails.has(key)) return this.queue(key, fn);
    this.waits?.observe(0);
    let release!: () => void;
    const tail = new Promise<void>((r) => (release = r));
    this.tails.set(key, tail); // before fn: a call fn makes for the same key queues behind it
    let result: Promise<T>;
    try {
      result = fn();
    } catch (e) {
      result = Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    const done = () => {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
      this.notifyIdle();
    };
    result.then(done, done);
    return result;
  }

  /** Behind a busy key: wait for the current tail, then run. */
  private async queue<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = prev.then(() => mine);
    this.tails.set(key, tail);
    const queued = this.waits ? performance.now() : 0;
    await prev;
    this.waits?.observe((performance.now() - queued) / 1000);
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
      this.notifyIdle();
    }
  }

  /** Resolves once no call holds or waits for any key (graceful stop). */
  idle(): Promise<void> {
    if (this.tails.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.add(resolve));
  }

  private notifyIdle(): void {
    if (this.tails.size !== 0 || this.idleWaiters.size === 0) return;
    for (const w of this.idleWaiters) w();
    this.idleWaiters.clear();
  }

  /** True while a call holds or waits for `key`. */
  busy(key: string): boolean {
    return this.tails.has(key);
  }

  /** Keys with a call running or queued (for tests and health). */
  busyKeys(): string[] {
    return [...this.tails.keys()];
  }
}
