/**
 * What a new operator trips over first, each fixed over HTTP: one spelling of power states in
 * every refusal (Nova's names), GUID aliases in the variable paths, JSON bodies without
 * `Content-Type` (read as JSON; another media type refused naming the header), the rotation's
 * `selection` short form refused with the accepted form, and `/readyz` checking the replica
 * store.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { startTestSidecar, instance, TOKEN, UEFI_Q35, type TestSidecar } from '../support/sidecar';
import { driverFirmware } from '../support/driverHarness';
import { tmpDir } from '../support/firmwareFixture';
import { EFI_GLOBAL_VARIABLE } from '../../src/varstore';

const SECURE = { properties: { hw_firmware_type: 'uefi', hw_machine_type: 'q35', os_secure_boot: 'required' } };

/** A raw HTTP request (axios always adds a Content-Type to a body). */
function raw(
  url: string,
  method: string,
  body: string,
  headers: Record<string, string>,
): Promise<{ status: number; json: { error?: { type: string; message: string } } }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method, headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Length': String(Buffer.byteLength(body)), ...headers } },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text || '{}') as { error?: { type: string; message: string } } }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('friction fixes over HTTP', function () {
  this.timeout(60000);
  let sc: TestSidecar;
  let root: string;
  let replicaDir: string;
  before(async () => {
    root = tmpDir('nus-friction-');
    const key = path.join(root, 'replica.key');
    fs.writeFileSync(key, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
    replicaDir = path.join(root, 'replicas');
    sc = await startTestSidecar({
      ...driverFirmware(path.join(root, 'fw')).map,
      replica: { backend: 'directory', path: replicaDir, encryption_key_file: key },
    });
  });
  after(async () => {
    await sc?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  async function spawned(powerOn: boolean, image: object = UEFI_Q35) {
    const inst = instance();
    const r = await sc.http.post(`/v1/instances/${inst.uuid}/spawn`, { instance: inst, image_meta: image, power_on: powerOn });
    assert.equal(r.status, 200, JSON.stringify(r.data));
    return inst;
  }

  it("refuses writes to a running guest with Nova's power-state name, the same in every refusal", async () => {
    const inst = await spawned(true, SECURE);
    const refusals = [
      await sc.http.put(`/v1/instances/${inst.uuid}/nvram/variables/${EFI_GLOBAL_VARIABLE}/Timeout`, { data: '0500' }),
      await sc.http.put(`/v1/instances/${inst.uuid}/nvram/secure-boot`, { dbx: ['ab'.repeat(32)], owner: EFI_GLOBAL_VARIABLE }),
      await sc.http.post(`/v1/instances/${inst.uuid}/nvram/reset`),
    ];
    for (const r of refusals) {
      assert.equal(r.status, 409, JSON.stringify(r.data));
      assert.equal(r.data.error.type, 'InstanceInvalidState');
      assert.match(r.data.error.message, /in power_state running\. Cannot /);
    }
  });

  it('takes a well-known GUID name in the variable path, as the CLI does; an unknown one is refused naming the field', async () => {
    const inst = await spawned(false);
    const base = `/v1/instances/${inst.uuid}/nvram/variables`;
    const put = await sc.http.put(`${base}/EfiGlobalVariable/Timeout`, { data: '0700' });
    assert.equal(put.status, 200, JSON.stringify(put.data));
    assert.equal(put.data.variable.guid, EFI_GLOBAL_VARIABLE);
    const list = await sc.http.get(base);
    assert.equal(list.data.variables.find((v: { name: string }) => v.name === 'Timeout').data, '0700');
    assert.equal((await sc.http.delete(`${base}/efiglobalvariable/Timeout`)).status, 200);
    const bad = await sc.http.put(`${base}/EfiNoSuchVariable/Timeout`, { data: '00' });
    assert.equal(bad.status, 400);
    assert.equal(bad.data.error.details.field, 'guid');
    assert.match(bad.data.error.message, /not a GUID or a well-known GUID name/);
  });

  it('reads a JSON body sent without Content-Type as JSON', async () => {
    const inst = instance();
    const r = await raw(`${sc.url}/v1/instances/${inst.uuid}/spawn`, 'POST', JSON.stringify({ instance: inst, image_meta: UEFI_Q35, power_on: false }), {});
    assert.equal(r.status, 200, JSON.stringify(r.json));
  });

  it('refuses a body of another media type with 415 naming the Content-Type header', async () => {
    const inst = instance();
    const body = JSON.stringify({ instance: inst, image_meta: UEFI_Q35 });
    for (const type of ['application/x-www-form-urlencoded', 'text/plain']) {
      const r = await raw(`${sc.url}/v1/instances/${inst.uuid}/spawn`, 'POST', body, { 'Content-Type': type });
      assert.equal(r.status, 415, JSON.stringify(r.json));
      assert.equal(r.json.error!.type, 'InvalidInput');
      assert.match(r.json.error!.message, /Content-Type: application\/json/);
    }
    assert.equal((await sc.http.get(`/v1/instances/${inst.uuid}`)).status, 404, 'nothing was spawned');
  });

  it('refuses the rotation selection "all" with a message showing the accepted form, and accepts that form', async () => {
    const r = await sc.http.post('/v1/host/secure-boot/rotations', { add: { keyset: 'debian' }, selection: 'all' });
    assert.equal(r.status, 400);
    assert.equal(r.data.error.details.field, 'selection');
    assert.match(r.data.error.message, /must be an object: \{"all": true\}/);
    const ok = await sc.http.post('/v1/host/secure-boot/rotations', { remove: { dbx: ['nothing-matches'] }, selection: { all: true } });
    assert.equal(ok.status, 202, JSON.stringify(ok.data));
  });

  it('checks the replica store in /readyz (named check "replica")', async () => {
    const ready = await sc.http.get('/readyz');
    assert.equal(ready.status, 200, JSON.stringify(ready.data));
    const check = ready.data.checks.find((c: { name: string }) => c.name === 'replica');
    assert.equal(check.ok, true);
    assert.match(check.detail, /is writable/);
    fs.renameSync(replicaDir, `${replicaDir}.moved`);
    fs.writeFileSync(replicaDir, 'not a directory');
    try {
      const r = await sc.http.get('/readyz');
      assert.equal(r.status, 503);
      assert.deepEqual(
        r.data.checks.filter((c: { ok: boolean }) => !c.ok).map((c: { name: string }) => c.name),
        ['replica'],
      );
    } finally {
      fs.rmSync(replicaDir);
      fs.renameSync(`${replicaDir}.moved`, replicaDir);
    }
  });
});
