/**
 * @module driver/locks
 * Per-key serialization: calls for the same instance never interleave (Nova takes a lock
 * per instance uuid in the compute manager; the sidecar must not rely on that), calls for
 * different instances run in parallel.
 */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  /**
   * Run `fn` after every earlier call with the same key has settled. An idle key (the common
   * case: one call per instance at a time) starts `fn` at once, with no promise hops before it.
   */
  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    if (this.tails.has(key)) return this.queue(key, fn);
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
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }

  /** Keys with a call running or queued (for tests and health). */
  busyKeys(): string[] {
    return [...this.tails.keys()];
  }
}
