/**
 * Statistics and result records shared by the bench measurements. Every measurement runs its
 * subject and its baseline alternately (ABBA order over rounds) so machine noise lands on both.
 */
import { performance } from 'node:perf_hooks';

export interface Summary {
  median: number;
  p95: number;
  n: number;
}

export interface Result {
  /** Stable id, e.g. `spawn.latency`. */
  id: string;
  name: string;
  unit: string;
  subject: Summary;
  baseline: Summary;
  /** subject.median / baseline.median. */
  ratio: number;
  /** Human-readable target, or '' when the row only informs. */
  target: string;
  /** Whether the target is met; null for rows without a target. */
  met: boolean | null;
  subjectLabel: string;
  baselineLabel: string;
  /** Whether a lower value is better (times, bytes) or a higher one (throughput). */
  better: 'lower' | 'higher';
  extra?: Record<string, unknown>;
}

/** Nearest-rank percentile (p in 0..100) of unsorted samples. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * s.length);
  return s[Math.min(s.length - 1, Math.max(0, rank - 1))];
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function summarize(xs: readonly number[]): Summary {
  return { median: median(xs), p95: percentile(xs, 95), n: xs.length };
}

export function result(r: Omit<Result, 'ratio' | 'subject' | 'baseline'> & { subject: number[] | Summary; baseline: number[] | Summary }): Result {
  const subject = Array.isArray(r.subject) ? summarize(r.subject) : r.subject;
  const baseline = Array.isArray(r.baseline) ? summarize(r.baseline) : r.baseline;
  return { ...r, subject, baseline, ratio: subject.median / baseline.median };
}

/**
 * Run `rounds` rounds; in each, both sides run once, the order alternating (ABBA...) so that
 * neither side always runs first (warm caches, thermal state, a neighbour's QEMU burst).
 */
export async function alternate(rounds: number, subject: (round: number) => Promise<void>, baseline: (round: number) => Promise<void>): Promise<void> {
  for (let r = 0; r < rounds; r++) {
    if (r % 2 === 0) {
      await subject(r);
      await baseline(r);
    } else {
      await baseline(r);
      await subject(r);
    }
  }
}

/**
 * `alternate` for any number of sides: every round runs each side once; the order rotates
 * from round to round and reverses every other round, so no side keeps a position.
 */
export async function interleave(rounds: number, sides: ((round: number) => Promise<void>)[]): Promise<void> {
  const n = sides.length;
  for (let r = 0; r < rounds; r++) {
    const order = Array.from({ length: n }, (_, i) => (i + Math.floor(r / 2)) % n);
    if (r % 2 === 1) order.reverse();
    for (const i of order) await sides[i](r);
  }
}

/** Milliseconds taken by `fn`. */
export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

/** Run `total` tasks with `concurrency` workers; returns the wall time in ms. */
export async function pool(total: number, concurrency: number, task: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, total) }, async () => {
      while (next < total) await task(next++);
    }),
  );
  return performance.now() - t;
}

export function fmt(x: number, unit: string): string {
  if (!Number.isFinite(x)) return String(x);
  if (unit === 'bytes') return fmtBytes(x);
  const a = Math.abs(x);
  const digits = a >= 1000 ? 0 : a >= 100 ? 1 : a >= 10 ? 2 : 3;
  return x.toFixed(digits);
}

export function fmtBytes(b: number): string {
  const a = Math.abs(b);
  if (a >= 1024 * 1024 * 1024) return `${(b / 1024 ** 3).toFixed(2)} GiB`;
  if (a >= 1024 * 1024) return `${(b / 1024 ** 2).toFixed(2)} MiB`;
  if (a >= 1024) return `${(b / 1024).toFixed(1)} KiB`;
  return `${b} B`;
}

export function fmtRatio(r: number): string {
  if (!Number.isFinite(r) || r === 0) return String(r);
  return r < 0.01 ? r.toExponential(2) : r.toFixed(r < 1 ? 4 : 2);
}

/** Markdown table of results. */
export function table(results: readonly Result[]): string {
  const head = ['measurement', 'unit', 'subject median', 'subject p95', 'baseline median', 'baseline p95', 'ratio', 'target', 'met'];
  const rows = results.map((r) => [
    `${r.name}`,
    r.unit,
    fmt(r.subject.median, r.unit),
    fmt(r.subject.p95, r.unit),
    fmt(r.baseline.median, r.unit),
    fmt(r.baseline.p95, r.unit),
    fmtRatio(r.ratio),
    r.target || '—',
    r.met === null ? '—' : r.met ? 'yes' : '**no**',
  ]);
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}
