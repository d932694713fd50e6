/**
 * @module tempest-compat/lib/test
 * The tempest test-class model: `idempotentId` and `attr` decorators (tempest.lib.decorators),
 * a method-level `requiresFeature` (tempest's `skipUnless(CONF.compute_feature_enabled.x)`),
 * and `BaseTestCase` with the class stages `skipChecks` → `setupCredentials` → `setupClients`
 * → `resourceSetup`, then `resourceCleanup`, plus LIFO `addCleanup` / `addClassResourceCleanup`
 * that run even when the test or set-up failed. Running is the runner's job, not this module's.
 *
 * Decorators are TC39 (TS 5 standard) method decorators; metadata is stored per method
 * function in a WeakMap so the order in which decorators apply does not matter.
 */
import * as assert from 'node:assert/strict';
import { CONF, featureSkipReason, type Feature, type TempestConfig } from './config';
import { SkipException } from './exceptions';

export type AttrType = 'smoke' | 'slow' | 'multinode' | 'negative';

export interface TestMeta {
  idempotentId?: string;
  attrs: Set<string>;
  features: Feature[];
  minComputeNodes?: number;
}

const META = new WeakMap<object, TestMeta>();

function metaOf(fn: object): TestMeta {
  let m = META.get(fn);
  if (!m) {
    m = { attrs: new Set(), features: [] };
    META.set(fn, m);
  }
  return m;
}

export function getTestMeta(fn: object): TestMeta {
  return META.get(fn) ?? { attrs: new Set(), features: [] };
}

type TestMethod = (this: unknown) => Promise<void> | void;

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** `@decorators.idempotent_id('<uuid4>')`: adds attr `id-<uuid>`. */
export function idempotentId(id: string) {
  if (!UUID_RE.test(id)) throw new Error(`idempotentId: not a lower-case uuid4: ${id}`);
  return function (value: TestMethod, _ctx: ClassMethodDecoratorContext): void {
    const m = metaOf(value);
    if (m.idempotentId) throw new Error(`duplicate idempotentId on one test: ${id}`);
    m.idempotentId = id;
  };
}

/** `@decorators.attr(type=...)`. */
export function attr(...types: AttrType[]) {
  return function (value: TestMethod, _ctx: ClassMethodDecoratorContext): void {
    for (const t of types) metaOf(value).attrs.add(t);
  };
}

/** `@testtools.skipUnless(CONF.compute_feature_enabled.<flag>, ...)`. */
export function requiresFeature(...flags: Feature[]) {
  return function (value: TestMethod, _ctx: ClassMethodDecoratorContext): void {
    metaOf(value).features.push(...flags);
  };
}

/** Skip below `[compute] min_compute_nodes` (tempest's multinode guard; configuration, not discovery). */
export function requiresComputeNodes(n: number) {
  return function (value: TestMethod, _ctx: ClassMethodDecoratorContext): void {
    metaOf(value).minComputeNodes = n;
  };
}

/** Reason a method is skipped by configuration, or null. */
export function methodSkipReason(meta: TestMeta, conf: TempestConfig): string | null {
  for (const f of meta.features) if (!conf.features[f]) return featureSkipReason(f);
  if (meta.minComputeNodes !== undefined && conf.compute.min_compute_nodes < meta.minComputeNodes) {
    return `[compute] min_compute_nodes is ${conf.compute.min_compute_nodes}, test needs ${meta.minComputeNodes}`;
  }
  return null;
}

type Cleanup = { fn: (...a: unknown[]) => unknown; args: unknown[]; label: string };

/**
 * `tempest.test.BaseTestCase`. One object per class runs the class stages; each test runs on
 * an object whose prototype is that class object (so `this.serversClient` set in
 * `setupClients` is visible), with its own cleanup list.
 */
export abstract class BaseTestCase {
  /** Services the test touches (`@utils.services`), informative only. */
  static services: string[] = ['compute'];

  /** Set by the runner: the configuration (tempest's CONF). */
  get conf(): TempestConfig {
    return CONF.get();
  }

  private _cleanups: Cleanup[] = [];
  private _classCleanups: Cleanup[] = [];
  /** Name of the running test method (null during class stages). */
  testName: string | null = null;

  // ---- class stages (tempest order) ----
  /** Raise SkipException here when configuration disables the class. */
  async skipChecks(): Promise<void> {}
  async setupCredentials(): Promise<void> {}
  async setupClients(): Promise<void> {}
  async resourceSetup(): Promise<void> {}
  async resourceCleanup(): Promise<void> {}
  // ---- per test ----
  async setUp(): Promise<void> {}
  async tearDown(): Promise<void> {}

  /** Registers `fn(...args)` to run after the test, last registered first, even on failure. */
  addCleanup<A extends unknown[]>(fn: (...a: A) => unknown, ...args: A): void {
    this._cleanups.push({ fn: fn as Cleanup['fn'], args, label: fn.name || 'cleanup' });
  }

  /** `addClassResourceCleanup`: runs LIFO after the class's last test. */
  addClassResourceCleanup<A extends unknown[]>(fn: (...a: A) => unknown, ...args: A): void {
    this._classCleanups.push({ fn: fn as Cleanup['fn'], args, label: fn.name || 'cleanup' });
  }

  /** Runner hook: fresh per-test cleanup list on a test object. */
  static _resetTestState(t: BaseTestCase): void {
    t._cleanups = [];
  }

  /** Runs cleanups LIFO; returns the errors (each cleanup runs even if an earlier one failed). */
  static async _runCleanups(t: BaseTestCase, which: 'test' | 'class'): Promise<Error[]> {
    const list = which === 'test' ? t._cleanups : t._classCleanups;
    const errors: Error[] = [];
    while (list.length) {
      const c = list.pop()!;
      try {
        await c.fn(...c.args);
      } catch (e) {
        const err = e instanceof Error ? e : new Error(String(e));
        err.message = `cleanup ${c.label} failed: ${err.message}`;
        errors.push(err);
      }
    }
    return errors;
  }

  skipException(reason: string): never {
    throw new SkipException(reason);
  }

  /** Skip unless a `[compute-feature-enabled]` flag is set (method-level use inside a test). */
  skipUnlessFeature(f: Feature): void {
    if (!this.conf.features[f]) throw new SkipException(featureSkipReason(f));
  }

  // ---- testtools-style assertions ----
  assertEqual<T>(actual: T, expected: T, msg?: string): void {
    assert.deepStrictEqual(actual, expected, msg);
  }
  assertNotEqual<T>(actual: T, expected: T, msg?: string): void {
    assert.notDeepStrictEqual(actual, expected, msg);
  }
  assertTrue(v: unknown, msg?: string): void {
    assert.ok(v, msg);
  }
  assertFalse(v: unknown, msg?: string): void {
    assert.ok(!v, msg);
  }
  assertIsNone(v: unknown, msg?: string): void {
    assert.ok(v === null || v === undefined, msg ?? `expected None, got ${JSON.stringify(v)}`);
  }
  assertIsNotNone(v: unknown, msg?: string): asserts v {
    assert.ok(v !== null && v !== undefined, msg ?? 'expected a value, got None');
  }
  assertEmpty(v: unknown[] | Record<string, unknown>, msg?: string): void {
    const n = Array.isArray(v) ? v.length : Object.keys(v).length;
    assert.ok(n === 0, msg ?? `expected empty, got ${JSON.stringify(v)}`);
  }
  assertIn(needle: string, hay: string | string[], msg?: string): void {
    assert.ok(hay.includes(needle), msg ?? `${JSON.stringify(needle)} not in ${JSON.stringify(hay)}`);
  }
  async assertRaises<E extends Error>(cls: abstract new (...a: never[]) => E, fn: () => Promise<unknown>, msg?: string): Promise<E> {
    try {
      await fn();
    } catch (e) {
      if (e instanceof cls) return e;
      throw e;
    }
    assert.fail(msg ?? `${cls.name} not raised`);
  }
}

export type TestClass = (abstract new () => BaseTestCase) & { services?: string[] };

/** True for concrete subclasses that define at least one `test_*` method. */
export function testMethodsOf(cls: abstract new (...a: never[]) => unknown): string[] {
  const names = new Set<string>();
  for (let p = cls.prototype; p && p !== BaseTestCase.prototype; p = Object.getPrototypeOf(p)) {
    for (const n of Object.getOwnPropertyNames(p)) if (n.startsWith('test_') && typeof p[n] === 'function') names.add(n);
  }
  return [...names].sort();
}
