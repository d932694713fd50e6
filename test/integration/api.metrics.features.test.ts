/**
 * GET /metrics for the features that came after the metrics: replica generations, states and
 * lag with the directory replica backend (no object store needed), exposed only when a replica
 * backend is configured; queued Secure Boot changes on a running guest, counted while queued
 * and gone once a hard reboot applied them. Read through the Prometheus text-format parser.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { delta, sample, scrape, type Families } from '../support/metrics';
import { instance, startTestSidecar, UEFI_Q35, type TestSidecar } from '../support/sidecar';
import { driverFirmware } from '../support/driverHarness';
import { OWNER, testCert } from '../support/sbKeys';
import { tmpDir } from '../support/firmwareFixture';

async function until(what: string, fn: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const names = (m: Families) => m.map((f) => f.name);

describe('GET /metrics: replicas and queued Secure Boot changes', function () {
  this.timeout(60_000);
  let sc: TestSidecar | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await sc?.stop();
    sc = undefined;
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('has no replica metrics without a replica backend, and the Secure Boot gauges at 0', async () => {
    sc = await startTestSidecar();
    const m = await scrape(sc.http);
    assert.deepEqual(
      names(m).filter((n) => n.includes('replica')),
      [],
    );
    for (const n of ['secure_boot_instances_pending', 'secure_boot_changes_pending', 'secure_boot_oldest_pending_seconds']) {
      assert.ok(names(m).includes(`nova_uefi_shim_${n}`), n);
      assert.equal(sample(m, `nova_uefi_shim_${n}`), 0, n);
    }
  });

  it('counts generations, instances per state and the lag of a store the replica directory refuses', async () => {
    dir = tmpDir('nus-metrics-replica-');
    const key = path.join(dir, 'replica.key');
    fs.writeFileSync(key, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
    const store = path.join(dir, 'replicas');
    // Templates that are real edk2 stores, so the variable API can change one.
    const fw = driverFirmware(path.join(dir, 'fw'));
    sc = await startTestSidecar({ ...fw.map, replica: { backend: 'directory', path: store, encryption_key_file: key, interval: 1, retry_interval: 1 } });
    const m0 = await scrape(sc.http);
    assert.equal(sample(m0, 'nova_uefi_shim_replica_lag_seconds'), 0);
    assert.equal(sample(m0, 'nova_uefi_shim_replica_instances', { state: 'stale' }), 0, 'every state is exposed, at 0');

    const inst = instance();
    assert.equal((await sc.http.post(`/v1/instances/${inst.uuid}/spawn`, { instance: inst, image_meta: UEFI_Q35 })).status, 200);
    await sc.driver.core.deps.replicas!.idle();
    const m1 = await scrape(sc.http);
    const gens = 'nova_uefi_shim_replica_generations_total';
    assert.equal(delta(m0, m1, gens, { reason: 'spawn', outcome: 'success' }), 1);
    assert.ok(delta(m0, m1, 'nova_uefi_shim_replica_bytes_written_total') > 0);
    assert.equal(sample(m1, 'nova_uefi_shim_replica_instances', { state: 'current' }), 1);
    assert.equal(sample(m1, 'nova_uefi_shim_replica_instances', { state: 'pending' }), 0);
    assert.equal(sample(m1, 'nova_uefi_shim_replica_lag_seconds'), 0);

    // The store goes away (a file where the directory was: refused even to root), and the
    // guest's store changes: the stop generation fails, the instance is stale and lags.
    fs.renameSync(store, `${store}.away`);
    fs.writeFileSync(store, 'not a directory');
    const varName = 'NusMetricsMarker';
    assert.equal((await sc.http.post(`/v1/instances/${inst.uuid}/power_off`, { instance: inst })).status, 200);
    const put = await sc.http.put(`/v1/instances/${inst.uuid}/nvram/variables/5f3c2e1d-93ca-11d2-aa0d-00e098032b8c/${varName}`, { data: '01' });
    assert.equal(put.status, 200, JSON.stringify(put.data));
    let m2: Families = m1;
    await until('a failed generation and a stale instance', async () => {
      m2 = await scrape(sc!.http);
      return sample(m2, 'nova_uefi_shim_replica_instances', { state: 'stale' }) === 1;
    });
    assert.ok(delta(m1, m2, gens, { outcome: 'ReplicaUnavailable' }) >= 1);
    assert.equal(delta(m1, m2, gens, { outcome: 'success' }), 0);
    await new Promise((r) => setTimeout(r, 1100));
    const m3 = await scrape(sc.http);
    assert.ok(sample(m3, 'nova_uefi_shim_replica_lag_seconds') >= 1, `lag ${sample(m3, 'nova_uefi_shim_replica_lag_seconds')}`);

    // Back: the retry writes the newest store; nothing lags.
    fs.rmSync(store);
    fs.renameSync(`${store}.away`, store);
    let m4: Families = m3;
    // The state is saved before the generation is counted: wait for both, as a scrape may fall between.
    await until('the retried generation', async () => {
      m4 = await scrape(sc!.http);
      return sample(m4, 'nova_uefi_shim_replica_instances', { state: 'current' }) === 1 && delta(m1, m4, gens, { outcome: 'success' }) >= 1;
    });
    assert.equal(sample(m4, 'nova_uefi_shim_replica_lag_seconds'), 0);
    assert.equal(sample(m4, 'nova_uefi_shim_replica_instances', { state: 'stale' }), 0);
  });

  it('counts a queued Secure Boot change while the guest runs, and none once a hard reboot applied it', async () => {
    const fw = driverFirmware();
    sc = await startTestSidecar(fw.map);
    const http = sc.http;
    const inst = instance();
    const secure = { properties: { hw_firmware_type: 'uefi', hw_machine_type: 'q35', os_secure_boot: 'required' } };
    const spawned = await sc.http.post(`/v1/instances/${inst.uuid}/spawn`, { instance: inst, image_meta: secure, power_on: true });
    assert.equal(spawned.status, 200, JSON.stringify(spawned.data));
    const m0 = await scrape(sc.http);
    assert.equal(sample(m0, 'nova_uefi_shim_secure_boot_instances_pending'), 0);

    for (const cn of ['m-db2', 'm-db3']) {
      const q = await http.put(`/v1/instances/${inst.uuid}/nvram/secure-boot?queue=true`, { add: { db: [testCert(cn).pem] }, owner: OWNER });
      assert.equal(q.status, 202, JSON.stringify(q.data));
    }
    const m1 = await scrape(sc.http);
    assert.equal(sample(m1, 'nova_uefi_shim_secure_boot_instances_pending'), 1);
    assert.equal(sample(m1, 'nova_uefi_shim_secure_boot_changes_pending'), 2);
    assert.ok(sample(m1, 'nova_uefi_shim_secure_boot_oldest_pending_seconds') >= 0);
    await new Promise((r) => setTimeout(r, 1100));
    assert.ok(sample(await scrape(sc.http), 'nova_uefi_shim_secure_boot_oldest_pending_seconds') >= 1, 'the oldest queued change ages');

    const r = await sc.http.post(`/v1/instances/${inst.uuid}/reboot`, { instance: inst, reboot_type: 'HARD' });
    assert.equal(r.status, 200, JSON.stringify(r.data));
    const after = await sc.http.get(`/v1/instances/${inst.uuid}/nvram/secure-boot`);
    assert.equal(after.data.pending.length, 0, 'applied by the cold boot');
    const m2 = await scrape(sc.http);
    assert.equal(sample(m2, 'nova_uefi_shim_secure_boot_instances_pending'), 0);
    assert.equal(sample(m2, 'nova_uefi_shim_secure_boot_changes_pending'), 0);
    assert.equal(sample(m2, 'nova_uefi_shim_secure_boot_oldest_pending_seconds'), 0);
  });
});
