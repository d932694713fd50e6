/**
 * @module tempest-compat/lib/runner
 * Loads test modules, builds tempest-form test ids, runs classes in order (class stages,
 * then each test with LIFO cleanups), and reports to a human stream and optionally a subunit
 * v2 stream. It does not start sidecars (see sidecars.ts) or parse the command line (run.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CONF } from './config';
import { RestClientException, SkipException } from './exceptions';
import { SubunitWriter } from './subunit';
import { BaseTestCase, getTestMeta, methodSkipReason, testMethodsOf, type TestMeta } from './test';

export const SUITE_ROOT = path.resolve(__dirname, '..');

export interface TestCaseRef {
  id: string;
  module: string;
  cls: new () => BaseTestCase;
  method: string;
  meta: TestMeta;
}

/** `tempest_compat.api.compute.test_uefi_boot` for tempest-compat/api/compute/test_uefi_boot.ts. */
export function moduleName(file: string): string {
  const rel = path.relative(SUITE_ROOT, file).replace(/\.ts$/, '');
  return ['tempest_compat', ...rel.split(path.sep)].join('.');
}

export function testId(module: string, cls: string, method: string, meta: TestMeta): string {
  const tags = [meta.idempotentId ? `id-${meta.idempotentId}` : null, ...[...meta.attrs].sort()].filter(Boolean);
  return `${module}.${cls}.${method}${tags.length ? `[${tags.join(',')}]` : ''}`;
}

export function findTestFiles(dir = SUITE_ROOT): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory() && e.name !== 'lib' && e.name !== 'node_modules') out.push(...findTestFiles(p));
    else if (e.isFile() && /^test_.*\.ts$/.test(e.name)) out.push(p);
  }
  return out.sort();
}

export async function discover(files = findTestFiles()): Promise<TestCaseRef[]> {
  const refs: TestCaseRef[] = [];
  for (const f of files) {
    const mod = (await import(f)) as Record<string, unknown>;
    const module = moduleName(f);
    for (const [name, exp] of Object.entries(mod)) {
      if (typeof exp !== 'function' || !(exp.prototype instanceof BaseTestCase)) continue;
      const cls = exp as new () => BaseTestCase;
      for (const method of testMethodsOf(cls)) {
        const fn = (cls.prototype as Record<string, object>)[method];
        const meta = getTestMeta(fn);
        refs.push({ id: testId(module, name, method, meta), module, cls, method, meta });
      }
    }
  }
  return refs;
}

export interface Result {
  id: string;
  status: 'success' | 'fail' | 'skip';
  reason?: string;
  details?: string;
  seconds: number;
}

export interface Reporter {
  start(t: TestCaseRef): void;
  done(t: TestCaseRef, r: Result): void;
}

/** Failure text: the error with its stack, and for REST failures the request id and body. */
export function describeError(e: unknown): string {
  if (e instanceof RestClientException) {
    return `${e.name}: ${e.message}\n${e.stack?.split('\n').slice(1).join('\n') ?? ''}`;
  }
  if (e instanceof Error) {
    const extra: string[] = [];
    const cause = (e as { cause?: unknown }).cause;
    if (cause instanceof RestClientException) extra.push(`Caused by ${cause.name}: ${cause.message}`);
    return [e.stack ?? `${e.name}: ${e.message}`, ...extra].join('\n');
  }
  return String(e);
}

function withTimeout<T>(p: Promise<T>, seconds: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<T>((_, rej) => {
      t = setTimeout(() => rej(new Error(`${what}: timed out after ${seconds} s ([uefi] test_timeout)`)), seconds * 1000);
    }),
  ]).finally(() => clearTimeout(t));
}

export async function runTests(refs: TestCaseRef[], reporter: Reporter): Promise<Result[]> {
  const results: Result[] = [];
  const conf = CONF.get();
  const byClass = new Map<TestCaseRef['cls'], TestCaseRef[]>();
  for (const r of refs) byClass.set(r.cls, [...(byClass.get(r.cls) ?? []), r]);
  for (const [cls, tests] of byClass) {
    const classObj = new cls();
    const t0 = Date.now();
    let classSkip: string | null = null;
    let classError: unknown = null;
    try {
      await classObj.skipChecks();
    } catch (e) {
      if (e instanceof SkipException) classSkip = e.message;
      else classError = e;
    }
    if (!classSkip && !classError) {
      try {
        await withTimeout(
          (async () => {
            await classObj.setupCredentials();
            await classObj.setupClients();
            await classObj.resourceSetup();
          })(),
          conf.uefi.test_timeout,
          `${cls.name} set-up`,
        );
      } catch (e) {
        classError = e;
      }
    }
    for (const t of tests) {
      reporter.start(t);
      const start = Date.now();
      const finish = (r: Omit<Result, 'id' | 'seconds'>) => {
        const res: Result = { id: t.id, seconds: (Date.now() - start) / 1000, ...r };
        results.push(res);
        reporter.done(t, res);
      };
      if (classSkip) {
        finish({ status: 'skip', reason: classSkip });
        continue;
      }
      if (classError) {
        finish({ status: 'fail', details: `setUpClass (${cls.name}) failed:\n${describeError(classError)}` });
        continue;
      }
      const methodSkip = methodSkipReason(t.meta, conf);
      if (methodSkip) {
        finish({ status: 'skip', reason: methodSkip });
        continue;
      }
      const test = Object.create(classObj) as BaseTestCase;
      BaseTestCase._resetTestState(test);
      test.testName = t.method;
      const errors: unknown[] = [];
      let skip: string | null = null;
      try {
        await withTimeout(
          (async () => {
            await test.setUp();
            await (test as unknown as Record<string, () => Promise<void>>)[t.method].call(test);
          })(),
          conf.uefi.test_timeout,
          t.id,
        );
      } catch (e) {
        if (e instanceof SkipException) skip = e.message;
        else errors.push(e);
      }
      try {
        await test.tearDown();
      } catch (e) {
        errors.push(e);
      }
      errors.push(...(await BaseTestCase._runCleanups(test, 'test')));
      if (errors.length) finish({ status: 'fail', details: errors.map(describeError).join('\n\n--- next error ---\n') });
      else if (skip) finish({ status: 'skip', reason: skip });
      else finish({ status: 'success' });
    }
    if (!classSkip) {
      const errs = await BaseTestCase._runCleanups(classObj, 'class');
      try {
        await classObj.resourceCleanup();
      } catch (e) {
        errs.push(e instanceof Error ? e : new Error(String(e)));
      }
      if (errs.length) {
        // tempest reports tearDownClass errors as a separate failed id.
        const id = `${tests[0].module}.${cls.name}.tearDownClass`;
        const fake = { ...tests[0], id, method: 'tearDownClass' };
        reporter.start(fake);
        const res: Result = { id, status: 'fail', details: errs.map(describeError).join('\n\n'), seconds: (Date.now() - t0) / 1000 };
        results.push(res);
        reporter.done(fake, res);
      }
    }
  }
  return results;
}

export class HumanReporter implements Reporter {
  constructor(private readonly out: (s: string) => void) {}
  start(_t: TestCaseRef): void {}
  done(t: TestCaseRef, r: Result): void {
    const secs = `${r.seconds.toFixed(2)}s`;
    if (r.status === 'success') this.out(`{0} ${t.id} ... ok (${secs})`);
    else if (r.status === 'skip') this.out(`{0} ${t.id} ... SKIPPED: ${r.reason}`);
    else this.out(`{0} ${t.id} ... FAILED (${secs})\n${indent(r.details ?? '')}`);
  }
}

function indent(s: string): string {
  return s
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}

export class SubunitReporter implements Reporter {
  private readonly w: SubunitWriter;
  constructor(write: (b: Buffer) => void) {
    this.w = new SubunitWriter(write);
  }
  start(t: TestCaseRef): void {
    this.w.status({ testId: t.id, status: 'inprogress', tags: ['worker-0'] });
  }
  done(t: TestCaseRef, r: Result): void {
    if (r.status === 'skip') this.w.attach(t.id, 'reason', 'text/plain;charset=utf8', Buffer.from(r.reason ?? '', 'utf8'));
    if (r.status === 'fail') this.w.attach(t.id, 'traceback', 'text/x-traceback;charset=utf8', Buffer.from(r.details ?? '', 'utf8'));
    this.w.status({ testId: t.id, status: r.status, tags: ['worker-0'] });
  }
}

export function summary(results: Result[]): string {
  const n = (s: Result['status']) => results.filter((r) => r.status === s).length;
  return `${n('success')} passed, ${n('fail')} failed, ${n('skip')} skipped`;
}
