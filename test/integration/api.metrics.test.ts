/**
 * GET /metrics and GET /readyz as an operator's Prometheus and load balancer see them: the
 * text format parsed by a Prometheus text-format parser after a spawn, a failed spawn and a
 * cold migration between two sidecar processes; readiness that follows a broken and a
 * repaired NVRAM directory.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import axios from 'axios';
import { makeHosts, type SidecarProcess } from '../support/processes';
import { call, coldMove, migration, newInstance, spawnWithMarker } from '../support/novaFlows';
import { delta, sample, scrape } from '../support/metrics';
import { instance, startTestSidecar, UEFI_Q35, type TestSidecar } from '../support/sidecar';

describe('GET /metrics (Prometheus text format)', function () {
  this.timeout(120000);
  let A: SidecarProcess, B: SidecarProcess;
  let cleanup: () => Promise<void>;
  before(async () => {
    const made = await makeHosts([{ name: 'compute1' }, { name: 'compute2' }]);
    [A, B] = made.hosts;
    cleanup = made.cleanup;
    await Promise.all([A.start(), B.start()]);
  });
  after(async () => cleanup());

  it('needs the bearer token by default', async () => {
    const r = await axios.get(`${A.url}/metrics`, { validateStatus: () => true });
    assert.equal(r.status, 401);
    assert.equal(r.data.error.type, 'NotAuthorized');
  });

  it('includes the default process metrics', async () => {
    const m = await scrape(A.http);
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds']) {
      assert.ok(
        m.some((f) => f.name === name),
        `${name} missing`,
      );
    }
    assert.equal(sample(m, 'nova_uefi_shim_config_last_reload_successful'), 1);
    assert.equal(sample(m, 'nova_uefi_shim_firmware_problems', { severity: 'error' }), 0);
  });

  it('counts a spawn, a failed spawn and a cold migration on both hosts', async () => {
    const [a0, b0] = await Promise.all([scrape(A.http), scrape(B.http)]);
    const inst = newInstance('compute1');
    await spawnWithMarker(A, inst); // spawn, power_off, PUT nvram, power_on
    const again = await A.http.post(`/v1/instances/${inst.uuid}/spawn`, { instance: inst, image_meta: { properties: { hw_firmware_type: 'uefi' } } });
    assert.equal(again.status, 409);
    const { mig, moved } = await coldMove(A, B, inst);
    const mid = await scrape(A.http);
    assert.equal(sample(mid, 'nova_uefi_shim_migration_journals_open', { kind: 'cold', role: 'source', status: 'sent' }), 1, 'open until confirm');
    await call(A, inst.uuid, 'confirm_migration', { migration: mig, instance: moved });
    const [a1, b1] = await Promise.all([scrape(A.http), scrape(B.http)]);

    const ops = 'nova_uefi_shim_driver_operations_total';
    assert.equal(delta(a0, a1, ops, { operation: 'spawn', outcome: 'success' }), 1);
    assert.equal(delta(a0, a1, ops, { operation: 'spawn', outcome: 'InstanceExists' }), 1);
    assert.equal(delta(a0, a1, ops, { operation: 'migrate_disk_and_power_off', outcome: 'success' }), 1);
    assert.equal(delta(a0, a1, ops, { operation: 'confirm_migration', outcome: 'success' }), 1);
    assert.equal(delta(b0, b1, ops, { operation: 'finish_migration', outcome: 'success' }), 1);
    assert.equal(delta(b0, b1, ops, { operation: 'peer_stage', outcome: 'success' }), 1);

    const req = 'nova_uefi_shim_http_requests_total';
    assert.equal(delta(a0, a1, req, { method: 'POST', route: '/v1/instances/:uuid/:method', status: '409' }), 1);
    assert.ok(delta(a0, a1, req, { method: 'POST', route: '/v1/instances/:uuid/:method', status: '200' }) >= 5);
    assert.equal(delta(a0, a1, req, { method: 'PUT', route: '/v1/instances/:uuid/nvram', status: '200' }), 1);
    assert.equal(delta(b0, b1, req, { method: 'PUT', route: '/v1/peer/instances/:uuid/nvram', status: '200' }), 1);

    const steps = 'nova_uefi_shim_migration_steps_total';
    for (const step of ['stashing', 'stashed', 'sent', 'confirmed']) assert.equal(delta(a0, a1, steps, { kind: 'cold', role: 'source', step }), 1, step);
    for (const step of ['staged', 'installing']) assert.equal(delta(b0, b1, steps, { kind: 'cold', role: 'dest', step }), 1, step);
    const fin = 'nova_uefi_shim_migrations_finished_total';
    assert.equal(delta(a0, a1, fin, { kind: 'cold', role: 'source', outcome: 'completed' }), 1);
    assert.equal(delta(b0, b1, fin, { kind: 'cold', role: 'dest', outcome: 'completed' }), 1);
    assert.equal(sample(a1, 'nova_uefi_shim_migration_journals_open'), 0);
    assert.equal(sample(b1, 'nova_uefi_shim_migration_journals_open'), 0);

    const store = 540_672; // the synthetic 4M OVMF template's size
    assert.equal(delta(a0, a1, 'nova_uefi_shim_nvram_bytes_sent_total'), store);
    assert.equal(delta(b0, b1, 'nova_uefi_shim_nvram_bytes_sent_total'), 0);
    // A: the new store, the marker PUT, the stash. B: the staged copy (made live by rename).
    assert.equal(delta(a0, a1, 'nova_uefi_shim_nvram_bytes_written_total'), 3 * store);
    assert.equal(delta(b0, b1, 'nova_uefi_shim_nvram_bytes_written_total'), store);
    assert.equal(delta(a0, a1, 'nova_uefi_shim_peer_request_failures_total'), 0);
  });

  it('counts a failed peer call by reason', async () => {
    const m0 = await scrape(A.http);
    const inst = newInstance('compute1');
    await call(A, inst.uuid, 'spawn', { instance: inst, image_meta: UEFI_Q35 });
    await B.stop();
    try {
      const r = await A.http.post(`/v1/instances/${inst.uuid}/migrate_disk_and_power_off`, { instance: inst, dest: 'compute2', flavor: inst.flavor });
      assert.equal(r.status, 502);
    } finally {
      await B.start();
    }
    const m1 = await scrape(A.http);
    assert.equal(delta(m0, m1, 'nova_uefi_shim_peer_request_failures_total', { peer: 'compute2', reason: 'unreachable' }), 1);
    assert.equal(delta(m0, m1, 'nova_uefi_shim_driver_operations_total', { operation: 'migrate_disk_and_power_off', outcome: 'MigrationError' }), 1);
    assert.equal(sample(m1, 'nova_uefi_shim_migration_journals_open', { kind: 'cold', role: 'source', status: 'stashed' }), 1);
    await call(A, inst.uuid, 'finish_revert_migration', { instance: inst, migration: migration('compute1', 'compute2') });
    const m2 = await scrape(A.http);
    assert.equal(delta(m1, m2, 'nova_uefi_shim_migrations_finished_total', { kind: 'cold', role: 'source', outcome: 'reverted' }), 1);
    assert.equal(sample(m2, 'nova_uefi_shim_migration_journals_open'), 0);
  });
});

describe('GET /metrics options and histograms (in-process)', function () {
  this.timeout(30000);
  let sc: TestSidecar | undefined;
  afterEach(async () => {
    await sc?.stop();
    sc = undefined;
  });

  it('serves /metrics without the token when [api] metrics_open = true', async () => {
    sc = await startTestSidecar({ api: { metrics_open: true } });
    const r = await axios.get(`${sc.url}/metrics`, { validateStatus: () => true });
    assert.equal(r.status, 200);
    assert.equal((await axios.get(`${sc.url}/v1/instances`, { validateStatus: () => true })).status, 401, 'the rest still needs it');
  });

  it('serves no /metrics and records nothing when [api] metrics_enabled = false', async () => {
    sc = await startTestSidecar({ api: { metrics_enabled: false } });
    assert.equal(sc.metrics, undefined);
    assert.equal((await sc.http.get('/metrics')).status, 404);
  });

  it('times requests, operations and lock waits (read through prom-client)', async () => {
    sc = await startTestSidecar();
    const inst = instance();
    assert.equal((await sc.http.post(`/v1/instances/${inst.uuid}/spawn`, { instance: inst, image_meta: UEFI_Q35 })).status, 200);
    await Promise.all([1, 2, 3].map(() => sc!.http.get(`/v1/instances/${inst.uuid}`)));
    const m = sc.metrics!;
    const count = async (
      metric: { get(): Promise<{ values: { labels: Record<string, unknown>; value: number; metricName?: string }[] }> },
      labels: Record<string, string>,
    ) =>
      (await metric.get()).values
        .filter((v) => v.metricName?.endsWith('_count') && Object.entries(labels).every(([k, x]) => v.labels[k] === x))
        .reduce((a, v) => a + v.value, 0);
    assert.equal(await count(m.httpDuration, { method: 'GET', route: '/v1/instances/:uuid', status: '200' }), 3);
    assert.equal(await count(m.driverDuration, { operation: 'get_info', outcome: 'success' }), 3);
    assert.equal(await count(m.lockWait, {}), 4);
  });
});

describe('GET /readyz', function () {
  this.timeout(30000);
  let sc: TestSidecar;
  before(async () => {
    sc = await startTestSidecar();
  });
  after(async () => sc.stop());

  it('answers 200 without a token, listing every check', async () => {
    const r = await axios.get(`${sc.url}/readyz`, { validateStatus: () => true });
    assert.equal(r.status, 200, JSON.stringify(r.data));
    assert.equal(r.data.status, 'ready');
    assert.deepEqual(
      r.data.checks.map((c: { name: string }) => c.name),
      ['config', 'nvram_dir', 'state_dir', 'firmware', 'hypervisor', 'recovery', 'replica'],
    );
    assert.deepEqual(r.data.not_ready, []);
  });

  it('answers 503 naming the NVRAM directory while it is broken, and 200 once it is fixed', async () => {
    const moved = `${sc.nvramDir}.away`;
    fs.renameSync(sc.nvramDir, moved);
    fs.writeFileSync(sc.nvramDir, 'not a directory');
    try {
      const r = await sc.http.get('/readyz');
      assert.equal(r.status, 503);
      assert.equal(r.data.status, 'not ready');
      assert.equal(r.data.not_ready.length, 1, JSON.stringify(r.data.not_ready));
      assert.match(r.data.not_ready[0], /^nvram_dir: cannot create a file in .*ENOTDIR.*\[nvram\] nvram_dir/);
      assert.equal((await sc.http.get('/healthz')).status, 200, 'liveness is not readiness');
    } finally {
      fs.rmSync(sc.nvramDir);
      fs.renameSync(moved, sc.nvramDir);
    }
    const r = await sc.http.get('/readyz');
    assert.equal(r.status, 200, JSON.stringify(r.data));
  });

  it('without the token says ready or not and which check failed, never a path, a config value or a message', async () => {
    // A refused reload whose problems quote the mistyped line, and a broken NVRAM directory.
    const bad = sc.writeConfig({ ...sc.sections, peer: { timeout: 'hunter2-typed-into-the-wrong-line' } });
    const refused = await sc.reload(bad);
    assert.equal(refused.ok, false);
    const moved = `${sc.nvramDir}.away`;
    fs.renameSync(sc.nvramDir, moved);
    fs.writeFileSync(sc.nvramDir, 'not a directory');
    try {
      const anon = await axios.get(`${sc.url}/readyz`, { validateStatus: () => true });
      assert.equal(anon.status, 503);
      assert.deepEqual(anon.data, {
        status: 'not ready',
        not_ready: ['nvram_dir'],
        checks: ['config', 'nvram_dir', 'state_dir', 'firmware', 'hypervisor', 'recovery', 'replica'].map((name) => ({ name, ok: name !== 'nvram_dir' })),
      });
      const text = JSON.stringify(anon.data);
      for (const leak of ['hunter2', sc.root, 'ENOTDIR', '[nvram]', 'compute1']) assert.ok(!text.includes(leak), `${leak} in ${text}`);
      const wrong = await axios.get(`${sc.url}/readyz`, { headers: { Authorization: 'Bearer not-the-token' }, validateStatus: () => true });
      assert.equal(JSON.stringify(wrong.data), text, 'a wrong token is no token');
      // With the token: the details, the refused reload included.
      const op = await sc.http.get('/readyz');
      assert.equal(op.status, 503);
      assert.match(op.data.checks[0].detail, /the last reload was refused.*hunter2/);
      assert.match(op.data.not_ready[0], /^nvram_dir: cannot create a file in /);
    } finally {
      fs.rmSync(sc.nvramDir);
      fs.renameSync(moved, sc.nvramDir);
      await sc.reload(sc.writeConfig(sc.sections));
    }
  });

  it('answers 503 when no usable UEFI firmware is left for the host', async () => {
    const loaders = [sc.fw.files.code, sc.fw.files.secCode];
    for (const f of loaders) fs.renameSync(f, `${f}.keep`);
    try {
      const r = await sc.http.get('/readyz');
      assert.equal(r.status, 503);
      assert.match(r.data.not_ready.join('\n'), /^firmware: no usable UEFI firmware for x86_64/m);
    } finally {
      for (const f of loaders) fs.renameSync(`${f}.keep`, f);
    }
    assert.equal((await sc.http.get('/readyz')).status, 200);
  });
});
