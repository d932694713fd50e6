/**
 * NVRAM that outlives its host, end to end: two (and a third) sidecar processes on the
 * embedded backend sharing the real Swift all-in-one (s3api) as their replica store. Markers
 * are variables written through the variable API while the guest is shut off, as a guest's
 * firmware would have written them. Covers shelve-offload on A → unshelve on B, evacuation
 * after SIGKILL of A (the recovery point reported), A coming back and destroying its leftover,
 * point-in-time restore, Swift stopped during shelve-offload and while guests run, a tampered
 * object and a wrong key.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { S3ReplicaStore } from '../../src/replica/s3';
import { makeHosts, type SidecarProcess } from '../support/processes';
import { call, newInstance, storesFor, UEFI, type Inst } from '../support/novaFlows';
import { ObjectStore } from '../support/objectStore';
import { driverFirmware } from '../support/driverHarness';

const VENDOR = '8be4df61-93ca-11d2-aa0d-00e098032b8c'.replace('8be4df61', '5f3c2e1d');

async function setVar(h: SidecarProcess, inst: Inst, name: string, value: string) {
  const r = await h.http.put(`/v1/instances/${inst.uuid}/nvram/variables/${VENDOR}/${name}`, { data: Buffer.from(value).toString('hex') });
  assert.equal(r.status, 200, JSON.stringify(r.data));
}

async function getVar(h: SidecarProcess, inst: Inst, name: string): Promise<string | null> {
  const r = await h.http.get(`/v1/instances/${inst.uuid}/nvram/variables`);
  assert.equal(r.status, 200, JSON.stringify(r.data));
  const v = (r.data.variables as { name: string; guid: string; data: string }[]).find((x) => x.name === name && x.guid === VENDOR);
  return v ? Buffer.from(v.data, 'hex').toString() : null;
}

async function replica(h: SidecarProcess, inst: Inst) {
  const r = await h.http.get(`/v1/instances/${inst.uuid}`);
  assert.equal(r.status, 200, JSON.stringify(r.data));
  return r.data.nvram.replica as { state: string; generation: number | null; age_seconds: number | null; error?: string };
}

async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function backups(h: SidecarProcess, inst: Inst) {
  const r = await h.http.get(`/v1/instances/${inst.uuid}/nvram/backups`);
  assert.equal(r.status, 200, JSON.stringify(r.data));
  return r.data.backups as { generation: number; host: string; reason: string; sha256: string }[];
}

describe('replicas across hosts (two sidecars + Swift)', function () {
  this.timeout(300_000);
  const os = new ObjectStore();
  let A: SidecarProcess, B: SidecarProcess, C: SidecarProcess;
  let cleanup: () => Promise<void> = async () => undefined;
  let s3: S3ReplicaStore;
  const bucket = `nus-flows-${randomBytes(4).toString('hex')}`;

  before(async function () {
    const ep = await os.acquire(this);
    const keyDir = fs.mkdtempSync('/tmp/nus-keys-');
    const key = path.join(keyDir, 'key');
    const other = path.join(keyDir, 'other');
    fs.writeFileSync(key, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
    fs.writeFileSync(other, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
    const replicaConf = (k: string) => `[replica]
backend = s3
endpoint = ${ep.endpoint}
bucket = ${bucket}
region = ${ep.region}
access_key = ${ep.accessKey}
secret_key = ${ep.secretKey}
encryption_key_file = ${k}
interval = 2
retry_interval = 1
timeout = 5
`;
    // Templates that are real edk2 stores, so markers go through the variable API.
    const fw = driverFirmware(path.join(keyDir, 'fw'));
    const made = await makeHosts([
      { name: 'compute1', fw, extra: replicaConf(key) },
      { name: 'compute2', fw, extra: replicaConf(key) },
      { name: 'compute3', fw, extra: replicaConf(other) },
    ]);
    [A, B, C] = made.hosts;
    cleanup = async () => {
      await made.cleanup();
      fs.rmSync(keyDir, { recursive: true, force: true });
    };
    await Promise.all([A.start(), B.start(), C.start()]);
    s3 = new S3ReplicaStore({
      endpoint: ep.endpoint,
      bucket,
      region: ep.region,
      accessKey: ep.accessKey,
      secretKey: ep.secretKey,
      forcePathStyle: true,
      timeoutMs: 10_000,
    });
  });
  after(async () => {
    await cleanup();
    if (s3) for (const k of await s3.list('').catch(() => [])) await s3.delete(k).catch(() => undefined);
    await os.release();
  });

  /** Spawn on `h`, shut off, write a marker variable; waits until a generation holds it. */
  async function spawnWithMarker(h: SidecarProcess, inst: Inst, marker: string) {
    await call(h, inst.uuid, 'spawn', { instance: inst, image_meta: UEFI });
    await call(h, inst.uuid, 'power_off', { instance: inst });
    await setVar(h, inst, 'NusMarker', marker);
    // The edit's own generation (or the periodic scan, [replica] interval = 2) writes the changed store.
    await until('a generation with the marker', async () => (await replica(h, inst)).state === 'current' && (await backups(h, inst)).length >= 2);
  }

  it('shelve-offload on A, unshelve on B: the marker variable is intact and B reports the generation restored', async () => {
    const inst = newInstance('compute1');
    await spawnWithMarker(A, inst, 'shelved-on-A');
    await call(A, inst.uuid, 'destroy', { instance: { ...inst, task_state: 'shelving_offloading', vm_state: 'shelved' } });
    assert.deepEqual(storesFor(A, inst), [], 'the local store went after the shelve generation read back');
    const shelve = (await backups(A, inst))[0];
    assert.equal(shelve.reason, 'shelve');
    const v = await call(B, inst.uuid, 'spawn', {
      instance: { ...inst, host: 'compute2', task_state: 'unshelving', vm_state: 'shelved_offloaded' },
      image_meta: UEFI,
    });
    assert.equal(v.nvram.replica.restored.generation, shelve.generation);
    assert.equal(v.nvram.replica.restored.host, 'compute1');
    await call(B, inst.uuid, 'power_off', { instance: { ...inst, host: 'compute2' } });
    assert.equal(await getVar(B, inst, 'NusMarker'), 'shelved-on-A');
    await until('B writes the unshelve generation', async () => (await backups(B, inst)).some((b) => b.reason === 'unshelve' && b.host === 'compute2'));
  });

  it('evacuate: SIGKILL of A, spawn with evacuate on B restores the last generation and reports its age; A coming back leaves B alone', async () => {
    const inst = newInstance('compute1');
    await spawnWithMarker(A, inst, 'before-the-crash');
    await call(A, inst.uuid, 'power_on', { instance: inst });
    await A.stop(); // SIGKILL: the host is gone
    await new Promise((r) => setTimeout(r, 1200));
    const moved = { ...inst, host: 'compute2' };
    const v = await call(B, inst.uuid, 'spawn', { instance: moved, image_meta: UEFI, evacuate: true });
    const restored = v.nvram.replica.restored;
    assert.ok(restored.generation >= 2);
    assert.ok(restored.age_seconds >= 1, `recovery point age ${restored.age_seconds} s`);
    assert.ok(B.log.includes('"msg":"nvram restored from replica"'), 'the log names the restore');
    await call(B, inst.uuid, 'power_off', { instance: moved });
    assert.equal(await getVar(B, inst, 'NusMarker'), 'before-the-crash');
    await until('B takes the replicas over', async () => (await backups(B, inst))[0]?.host === 'compute2');
    const onB = await backups(B, inst);
    const storeOnB = fs.readFileSync(path.join(B.nvramDir, storesFor(B, inst)[0]));
    // A comes back: Nova's _destroy_evacuated_instances destroys its leftover, the instance now on compute2.
    await A.start();
    await call(A, inst.uuid, 'destroy', { instance: moved, destroy_disks: true });
    assert.deepEqual(storesFor(A, inst), []);
    assert.deepEqual(await backups(B, inst), onB, "B's replicas untouched");
    assert.ok(fs.readFileSync(path.join(B.nvramDir, storesFor(B, inst)[0])).equals(storeOnB), "B's store untouched");
  });

  it('restore an older generation while shut off', async () => {
    const inst = newInstance('compute2');
    await spawnWithMarker(B, inst, 'first');
    const gen = (await backups(B, inst))[0].generation;
    await setVar(B, inst, 'NusMarker', 'second');
    const b = await B.http.post(`/v1/instances/${inst.uuid}/nvram/backups`);
    assert.equal(b.status, 200, JSON.stringify(b.data));
    // After gen: the edit's own generation (queued by setVar) may come first.
    assert.ok(b.data.backup.generation > gen, JSON.stringify(b.data));
    assert.equal(b.data.backup.reason, 'manual');
    const r = await B.http.post(`/v1/instances/${inst.uuid}/nvram/restore`, { generation: gen });
    assert.equal(r.status, 200, JSON.stringify(r.data));
    assert.equal(await getVar(B, inst, 'NusMarker'), 'first');
    const bad = await B.http.post(`/v1/instances/${inst.uuid}/nvram/restore`, { generation: 'x' });
    assert.equal(bad.status, 400);
  });

  it('a tampered newest object stops the unshelve naming it; the previous generation is restored only on an operator choice, logged and counted; a wrong key is a clear error', async () => {
    const inst = newInstance('compute2');
    await spawnWithMarker(B, inst, 'good-older');
    const good = (await backups(B, inst))[0].generation;
    await setVar(B, inst, 'NusMarker', 'tampered-newer');
    // The edit's generation and the shelve generation hold 'tampered-newer'; `good` holds
    // 'good-older'. Every object after `good` is tampered with.
    await call(B, inst.uuid, 'destroy', { instance: { ...inst, task_state: 'shelving_offloading' } });
    const keys = (await s3.list(`nvram/${inst.uuid}/gen/`)).sort();
    const newer = keys.filter((k) => Number(/gen\/(\d+)\./.exec(k)?.[1]) > good);
    assert.ok(newer.length >= 1, keys.join(' '));
    for (const k of newer) {
      const obj = (await s3.get(k))!;
      obj[obj.length - 50] ^= 0x01;
      await s3.put(k, obj);
    }
    // compute3 holds another key: refused, nothing created there.
    const wrong = await C.http.post(`/v1/instances/${inst.uuid}/spawn`, {
      instance: { ...inst, host: 'compute3', task_state: 'unshelving' },
      image_meta: UEFI,
    });
    assert.equal(wrong.status, 409, JSON.stringify(wrong.data));
    assert.equal(wrong.data.error.type, 'ReplicaKeyError');
    assert.match(wrong.data.error.message, /encryption_key_file/);
    assert.deepEqual(storesFor(C, inst), []);
    const unshelve = { instance: { ...inst, host: 'compute1', task_state: 'unshelving' }, image_meta: UEFI };
    const refused = await A.http.post(`/v1/instances/${inst.uuid}/spawn`, unshelve);
    assert.equal(refused.status, 422, JSON.stringify(refused.data));
    assert.equal(refused.data.error.type, 'ReplicaCorrupt');
    assert.match(
      refused.data.error.message,
      new RegExp(`the newest generation ${Math.max(...newer.map((k) => Number(/gen\/(\d+)\./.exec(k)![1])))} cannot be restored`),
    );
    assert.deepEqual(storesFor(A, inst), []);
    // The operator chooses the older generation explicitly.
    const pin = await A.http.post(`/v1/instances/${inst.uuid}/nvram/restore`, { generation: good });
    assert.equal(pin.status, 200, JSON.stringify(pin.data));
    assert.equal(pin.data.pinned, true);
    const v = await call(A, inst.uuid, 'spawn', unshelve);
    assert.ok(
      v.warnings.some((w: string) => /passed over: generation \d+ was chosen by restore_nvram on compute1 at .*; restored generation/.test(w)),
      v.warnings.join('\n'),
    );
    const metrics = (await A.http.get('/metrics')).data as string;
    assert.match(metrics, /^nova_uefi_shim_replica_older_restores_total\{kind="pinned"\} 1$/m);
    await call(A, inst.uuid, 'power_off', { instance: { ...inst, host: 'compute1' } });
    assert.equal(await getVar(A, inst, 'NusMarker'), 'good-older');
  });

  it('Swift stopped: shelve-offload is refused with nothing lost; running guests go stale and catch up once it is back', async () => {
    const inst = newInstance('compute1');
    await spawnWithMarker(A, inst, 'keep-through-outage');
    const others = [newInstance('compute1'), newInstance('compute1')];
    for (const o of others) await call(A, o.uuid, 'spawn', { instance: o, image_meta: UEFI });
    await until('others replicated', async () => {
      for (const o of others) if ((await replica(A, o)).state !== 'current') return false;
      return true;
    });
    await os.stop();
    try {
      const r = await A.http.post(`/v1/instances/${inst.uuid}/destroy`, { instance: { ...inst, task_state: 'shelving_offloading' } });
      assert.equal(r.status, 503, JSON.stringify(r.data));
      assert.match(r.data.error.message, /shelve-offload .* refused: .* is kept/);
      assert.equal(storesFor(A, inst).length, 1, 'the local store is kept');
      assert.equal(await getVar(A, inst, 'NusMarker'), 'keep-through-outage');
      for (const o of others) {
        await call(A, o.uuid, 'power_off', { instance: o });
        await setVar(A, o, 'NusMarker', `changed-in-outage-${o.id}`);
      }
      await until('stale while Swift is down', async () => {
        for (const o of others) if ((await replica(A, o)).state !== 'stale') return false;
        return true;
      });
    } finally {
      await os.start();
    }
    await until(
      'caught up after Swift is back',
      async () => {
        for (const o of others) if ((await replica(A, o)).state !== 'current') return false;
        return true;
      },
      60_000,
    );
    await call(A, inst.uuid, 'destroy', { instance: { ...inst, task_state: 'shelving_offloading' } });
    assert.deepEqual(storesFor(A, inst), []);
    // Deleting an instance removes its replicas.
    const o = others[0];
    await call(A, o.uuid, 'destroy', { instance: { ...o, task_state: 'deleting' } });
    assert.deepEqual(await s3.list(`nvram/${o.uuid}/`), []);
  });
});
