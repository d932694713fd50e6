/**
 * Read a sidecar's GET /metrics the way Prometheus would: the text exposition format parsed
 * by a third-party parser (parse-prometheus-text-format), not by prom-client, so a test
 * proves the text is well formed as well as what it counts.
 *
 * NOTE: that parser folds every labelled series of a histogram into one unlabelled bucket
 * map and drops `_count`/`_sum` (its flattenMetrics assumes unlabelled histograms), so tests
 * read counters and gauges through it; histograms they check in-process through prom-client.
 */
import { strict as assert } from 'node:assert';
import type { AxiosInstance } from 'axios';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';

export type Families = ReturnType<typeof parsePrometheusTextFormat>;

export async function scrape(http: AxiosInstance, headers: Record<string, string> = {}): Promise<Families> {
  const r = await http.get('/metrics', { headers, responseType: 'text', transformResponse: [(d: unknown) => d] });
  assert.equal(r.status, 200, String(r.data));
  assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  return parsePrometheusTextFormat(String(r.data));
}

/** Sum of the samples of `name` whose labels include `labels` (0 when none). */
export function sample(families: Families, name: string, labels: Record<string, string> = {}): number {
  const fam = families.find((f) => f.name === name);
  if (!fam) return 0;
  let total = 0;
  for (const m of fam.metrics) {
    if (Object.entries(labels).every(([k, v]) => m.labels?.[k] === v)) total += Number(m.value ?? 0);
  }
  return total;
}

/** `sample` after minus before. */
export function delta(before: Families, after: Families, name: string, labels: Record<string, string> = {}): number {
  return sample(after, name, labels) - sample(before, name, labels);
}
