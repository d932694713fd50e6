/**
 * metrics: one registry per sidecar, scrape-time gauges read from their owners (and reset,
 * so a closed journal disappears), replica gauges only once enabled and as aggregates, the
 * queued Secure Boot changes read once per scrape. The exposition is read with a third-party
 * parser, as Prometheus would.
 */
import { strict as assert } from 'node:assert';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { Metrics, outcomeOf } from '../../../src/metrics';
import { InstanceNotFound } from '../../../src/errors';

type Families = ReturnType<typeof parsePrometheusTextFormat>;

async function scrape(m: Metrics): Promise<Families> {
  const { contentType, text } = await m.exposition();
  assert.match(contentType, /^text\/plain; version=0\.0\.4/);
  return parsePrometheusTextFormat(text);
}
function series(f: Families, name: string): Array<{ labels: Record<string, string>; value: number }> {
  const fam = f.find((x) => x.name === name);
  return (fam?.metrics ?? []).map((m) => ({ labels: m.labels ?? {}, value: Number(m.value) }));
}
const value = (f: Families, name: string, labels: Record<string, string> = {}) =>
  series(f, name).find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

describe('metrics', () => {
  describe('outcomeOf', () => {
    const cases: Array<[string, unknown, string]> = [
      ['a Nova error', new InstanceNotFound('u'), 'InstanceNotFound'],
      ['a plain Error', new Error('x'), 'InternalError'],
      ['null', null, 'InternalError'],
      ['a type with spaces or symbols', { type: 'Not Found' }, 'InternalError'],
      ['a type of 65 letters', { type: 'A'.repeat(65) }, 'InternalError'],
      ['a non-string type', { type: 404 }, 'InternalError'],
    ];
    for (const [title, e, want] of cases) it(`labels ${title} '${want}'`, () => assert.equal(outcomeOf(e), want));
  });

  it('keeps each sidecar in its own registry', async () => {
    const a = new Metrics({ defaultMetrics: false });
    const b = new Metrics({ defaultMetrics: false });
    a.reloads.inc({ outcome: 'success' });
    assert.equal(value(await scrape(a), 'nova_uefi_shim_config_reloads_total', { outcome: 'success' }), 1);
    assert.equal(value(await scrape(b), 'nova_uefi_shim_config_reloads_total', { outcome: 'success' }), undefined);
  });

  it('adds the process metrics unless told not to', async () => {
    assert.ok((await scrape(new Metrics())).some((f) => f.name === 'process_cpu_user_seconds_total'));
    assert.ok(!(await scrape(new Metrics({ defaultMetrics: false }))).some((f) => f.name.startsWith('process_')));
  });

  it('starts with a successful reload and zero firmware problems of each severity', async () => {
    const f = await scrape(new Metrics({ defaultMetrics: false }));
    assert.equal(value(f, 'nova_uefi_shim_config_last_reload_successful'), 1);
    assert.equal(value(f, 'nova_uefi_shim_firmware_problems', { severity: 'warning' }), 0);
    assert.equal(value(f, 'nova_uefi_shim_firmware_problems', { severity: 'error' }), 0);
  });

  it('counts firmware problems by severity at scrape time, back to zero when they are gone', async () => {
    const m = new Metrics({ defaultMetrics: false });
    let problems = [{ severity: 'error' }, { severity: 'warning' }, { severity: 'warning' }];
    m.setSources({ firmwareProblems: () => problems });
    let f = await scrape(m);
    assert.equal(value(f, 'nova_uefi_shim_firmware_problems', { severity: 'warning' }), 2);
    assert.equal(value(f, 'nova_uefi_shim_firmware_problems', { severity: 'error' }), 1);
    problems = [];
    f = await scrape(m);
    assert.equal(value(f, 'nova_uefi_shim_firmware_problems', { severity: 'warning' }), 0);
    assert.equal(value(f, 'nova_uefi_shim_firmware_problems', { severity: 'error' }), 0);
  });

  it('counts open journals by kind, role and status, and drops the series of one that closed', async () => {
    const m = new Metrics({ defaultMetrics: false });
    let open = [
      { kind: 'cold', role: 'source', status: 'stashed' },
      { kind: 'cold', role: 'source', status: 'stashed' },
      { kind: 'live', role: 'dest', status: 'prepared' },
    ];
    m.setSources({ journals: () => Promise.resolve(open) });
    let f = await scrape(m);
    assert.equal(value(f, 'nova_uefi_shim_migration_journals_open', { kind: 'cold', role: 'source', status: 'stashed' }), 2);
    assert.equal(value(f, 'nova_uefi_shim_migration_journals_open', { kind: 'live', role: 'dest', status: 'prepared' }), 1);
    open = [];
    f = await scrape(m);
    assert.deepEqual(series(f, 'nova_uefi_shim_migration_journals_open'), []);
  });

  it('setSources adds to the sources already set', async () => {
    const m = new Metrics({ defaultMetrics: false });
    m.setSources({ firmwareProblems: () => [{ severity: 'error' }] });
    m.setSources({ journals: () => Promise.resolve([]) });
    assert.equal(value(await scrape(m), 'nova_uefi_shim_firmware_problems', { severity: 'error' }), 1);
  });

  describe('replicas', () => {
    it('exposes no replica series until enabled', async () => {
      const f = await scrape(new Metrics({ defaultMetrics: false }));
      assert.ok(!f.some((x) => x.name.startsWith('nova_uefi_shim_replica_')));
    });

    it('enableReplicas registers once and returns the same counters', () => {
      const m = new Metrics({ defaultMetrics: false });
      assert.equal(m.enableReplicas(), m.enableReplicas());
    });

    it('exposes every replica state, zero when no instance is in it, and states it does not know too', async () => {
      const m = new Metrics({ defaultMetrics: false });
      m.enableReplicas();
      m.setSources({ replicas: () => ({ states: { current: 7, stale: 1, odd: 2 }, oldestUnreplicated: null }) });
      const f = await scrape(m);
      const got = Object.fromEntries(series(f, 'nova_uefi_shim_replica_instances').map((s) => [s.labels.state, s.value]));
      assert.deepEqual(got, { current: 7, pending: 0, stale: 1, fenced: 0, deleting: 0, odd: 2 });
      assert.equal(value(f, 'nova_uefi_shim_replica_lag_seconds'), 0);
    });

    it('reports the lag as the age of the oldest unreplicated change', async () => {
      const m = new Metrics({ defaultMetrics: false });
      m.enableReplicas();
      m.setSources({ replicas: () => ({ states: {}, oldestUnreplicated: Date.now() - 90_000 }) });
      const lag = value(await scrape(m), 'nova_uefi_shim_replica_lag_seconds') ?? -1;
      assert.ok(lag >= 90 && lag < 120, String(lag));
    });

    it('a change noticed in the future (clock step) is no negative lag', async () => {
      const m = new Metrics({ defaultMetrics: false });
      m.enableReplicas();
      m.setSources({ replicas: () => ({ states: {}, oldestUnreplicated: Date.now() + 60_000 }) });
      assert.equal(value(await scrape(m), 'nova_uefi_shim_replica_lag_seconds'), 0);
    });

    it('counts generations by reason and outcome', async () => {
      const m = new Metrics({ defaultMetrics: false });
      const r = m.enableReplicas();
      r.generations.inc({ reason: 'spawn', outcome: 'success' });
      r.generations.inc({ reason: 'spawn', outcome: 'success' });
      r.generations.inc({ reason: 'periodic', outcome: 'ReplicaUnavailable' });
      const f = await scrape(m);
      assert.equal(value(f, 'nova_uefi_shim_replica_generations_total', { reason: 'spawn', outcome: 'success' }), 2);
      assert.equal(value(f, 'nova_uefi_shim_replica_generations_total', { reason: 'periodic', outcome: 'ReplicaUnavailable' }), 1);
    });
  });

  describe('queued Secure Boot changes', () => {
    it('reads the source once per scrape for its three gauges', async () => {
      const m = new Metrics({ defaultMetrics: false });
      let reads = 0;
      m.setSources({
        secureBootPending: () => {
          reads++;
          return Promise.resolve({ instances: 3, changes: 5, oldestQueuedAt: Date.now() - 10_000 });
        },
      });
      const f = await scrape(m);
      assert.equal(reads, 1);
      assert.equal(value(f, 'nova_uefi_shim_secure_boot_instances_pending'), 3);
      assert.equal(value(f, 'nova_uefi_shim_secure_boot_changes_pending'), 5);
      const age = value(f, 'nova_uefi_shim_secure_boot_oldest_pending_seconds') ?? -1;
      assert.ok(age >= 10 && age < 40, String(age));
      await scrape(m);
      assert.equal(reads, 2, 'read afresh on the next scrape');
    });

    it('answers zeros when the source fails or is not set', async () => {
      const m = new Metrics({ defaultMetrics: false });
      let f = await scrape(m);
      assert.equal(value(f, 'nova_uefi_shim_secure_boot_changes_pending'), 0);
      m.setSources({ secureBootPending: () => Promise.reject(new Error('records unreadable')) });
      f = await scrape(m);
      assert.equal(value(f, 'nova_uefi_shim_secure_boot_instances_pending'), 0);
      assert.equal(value(f, 'nova_uefi_shim_secure_boot_oldest_pending_seconds'), 0);
    });
  });
});
