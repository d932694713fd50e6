/**
 * api/nvramRoutes through the app on loopback over an in-memory host (replicas on): what the
 * routes check themselves (path parameters, query values, an empty body) and what they carry
 * to and from the driver (the raw store with its size and digest headers, a same-size store
 * written back, a variable by a well-known GUID name, 202 for a queued Secure Boot change,
 * backups written and listed).
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { createApp } from '../../../src/api/app';
import { listenLoopback, type Loopback } from '../../support/loopback';
import { MemoryReplicaStore } from '../../support/memoryReplicaStore';
import { makeWorld, markStore, newInstance, storeOn, UEFI, SECURE, type Host, type Inst, type World } from '../../support/driverHarness';

type ErrBody = { error: { type: string; code: number; message: string } };

describe('api/nvramRoutes', () => {
  let w: World;
  let A: Host;
  let srv: Loopback;
  let base: string;
  let i: Inst;

  beforeEach(async () => {
    w = await makeWorld({ replicaStore: new MemoryReplicaStore() });
    [A] = w.hosts;
    const app = createApp({ driver: A.driver, log: A.log, settings: () => ({ auth_token: '', metrics_open: false }), host: 'compute1', backend: 'embedded' });
    srv = await listenLoopback(app);
    base = srv.base;
    i = newInstance();
    await A.driver.spawn(i.uuid, { instance: i, image_meta: UEFI });
    await A.replicas!.idle();
  });
  afterEach(async () => {
    await srv.close();
    w.cleanup();
  });

  const req = (method: string, p: string, body?: unknown, raw?: Buffer) =>
    fetch(base + p, {
      method,
      headers: raw ? { 'content-type': 'application/octet-stream' } : body === undefined ? {} : { 'content-type': 'application/json' },
      body: raw ? new Uint8Array(raw) : body === undefined ? undefined : JSON.stringify(body),
    });
  const refused = async (r: Response, status: number, type: string, msg: RegExp) => {
    assert.equal(r.status, status);
    const e = ((await r.json()) as ErrBody).error;
    assert.equal(e.type, type);
    assert.match(e.message, msg);
  };
  const nv = () => `/v1/instances/${i.uuid}/nvram`;

  it('GET the raw store with its size and sha256 in headers', async () => {
    const r = await req('GET', nv());
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'application/octet-stream');
    const bytes = Buffer.from(await r.arrayBuffer());
    const onDisk = fs.readFileSync(storeOn(A, i));
    assert.ok(bytes.equals(onDisk));
    assert.equal(r.headers.get('x-nvram-size'), String(onDisk.length));
    assert.equal(r.headers.get('x-nvram-sha256'), createHash('sha256').update(onDisk).digest('hex'));
  });

  it('PUT a same-size store while shut off writes it; running, it is 409; an empty body is InvalidInput naming body', async () => {
    const original = fs.readFileSync(storeOn(A, i));
    const running = await req('PUT', nv(), undefined, original);
    await refused(running, 409, 'InstanceInvalidState', /./);
    await A.driver.powerOff(i.uuid, { instance: i });
    const changed = markStore(storeOn(A, i), 'edited-through-api');
    fs.writeFileSync(storeOn(A, i), original);
    const r = await req('PUT', nv(), undefined, changed);
    assert.equal(r.status, 200);
    const b = (await r.json()) as { nvram: { sha256: string; size: number } };
    assert.equal(b.nvram.sha256, createHash('sha256').update(changed).digest('hex'));
    assert.ok(fs.readFileSync(storeOn(A, i)).equals(changed));
    await refused(await req('PUT', nv(), undefined, Buffer.alloc(0)), 400, 'InvalidInput', /body: variable store bytes required/);
  });

  it('lists variables decoded or as v2; another format is InvalidInput naming format', async () => {
    const d = (await (await req('GET', `${nv()}/variables`)).json()) as { variables: { name: string }[] };
    assert.ok(Array.isArray(d.variables));
    const v2 = (await (await req('GET', `${nv()}/variables?format=v2`)).json()) as { version: number };
    assert.equal(v2.version, 2);
    await refused(await req('GET', `${nv()}/variables?format=xml`), 400, 'InvalidInput', /format: must be 'decoded' or 'v2'/);
  });

  it('writes and deletes a variable named by a well-known GUID name; refuses an unknown GUID name and a bad body', async () => {
    await A.driver.powerOff(i.uuid, { instance: i });
    const put = await req('PUT', `${nv()}/variables/EfiGlobalVariable/Timeout`, { data: '0500' });
    assert.equal(put.status, 200);
    const vars = (await (await req('GET', `${nv()}/variables`)).json()) as { variables: { name: string; guid: string; data: string }[] };
    const t = vars.variables.find((v) => v.name === 'Timeout');
    assert.equal(t?.guid, '8be4df61-93ca-11d2-aa0d-00e098032b8c');
    assert.equal(t?.data, '0500');
    assert.equal((await req('DELETE', `${nv()}/variables/8BE4DF61-93CA-11D2-AA0D-00E098032B8C/Timeout`)).status, 200);
    const after = (await (await req('GET', `${nv()}/variables`)).json()) as { variables: { name: string }[] };
    assert.ok(!after.variables.some((v) => v.name === 'Timeout'));
    await refused(await req('PUT', `${nv()}/variables/NoSuchVendor/Timeout`, { data: '05' }), 400, 'InvalidInput', /guid: 'NoSuchVendor' is not a GUID/);
    await refused(await req('PUT', `${nv()}/variables/EfiGlobalVariable/Timeout`, { data: 5 }), 400, 'InvalidInput', /Invalid input received: data/);
  });

  it('refuses a bad instance uuid, a bad queue value and a bad change id, naming each', async () => {
    await refused(await req('GET', '/v1/instances/not-a-uuid/nvram'), 400, 'InvalidInput', /uuid/i);
    await refused(await req('PUT', `${nv()}/secure-boot?queue=yes`, { keyset: 'x' }), 400, 'InvalidInput', /queue: must be 'true' or 'false'/);
    await refused(await req('DELETE', `${nv()}/secure-boot/pending/42`), 400, 'InvalidInput', /change_id: '42' is not a change id/);
  });

  it('a Secure Boot change on a running guest is 202 with queue=true and 409 without', async () => {
    const s = newInstance();
    await A.driver.spawn(s.uuid, { instance: s, image_meta: SECURE });
    const p = `/v1/instances/${s.uuid}/nvram/secure-boot`;
    const sb = (await (await req('GET', p)).json()) as { enabled: boolean };
    assert.equal(typeof sb.enabled, 'boolean');
    const body = { dbx: [] as string[] };
    await refused(await req('PUT', p, body), 409, 'InstanceInvalidState', /./);
    const q = await req('PUT', `${p}?queue=true`, body);
    assert.equal(q.status, 202, JSON.stringify(await q.clone().json()));
    assert.equal(((await q.json()) as { queued: boolean }).queued, true);
  });

  it('backups: one written now appears first in the listing; a restore body is checked', async () => {
    const made = await req('POST', `${nv()}/backups`);
    assert.equal(made.status, 200);
    assert.equal(((await made.json()) as { backup: { generation: number; reason: string } }).backup.reason, 'manual');
    const list = (await (await req('GET', `${nv()}/backups`)).json()) as { backups: { generation: number; reason: string }[] };
    assert.deepEqual(
      list.backups.map((b) => `${b.generation}.${b.reason}`),
      ['2.manual', '1.spawn'],
    );
    await refused(await req('POST', `${nv()}/restore`, { generation: 0 }), 400, 'InvalidInput', /generation/);
  });
});
