/**
 * Secure Boot keys over HTTP on the embedded backend: status codes (200 written, 202 queued,
 * 409 running without queue=true, 400 naming the field, 404 for an unknown queued change),
 * the host inventory and rotations, key sets checked at start and on reload.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startTestSidecar, instance, type TestSidecar } from '../support/sidecar';
import { driverFirmware } from '../support/driverHarness';
import { keyDir, OWNER, testCert } from '../support/sbKeys';

const SECURE = { properties: { hw_firmware_type: 'uefi', hw_machine_type: 'q35', os_secure_boot: 'required' } };

describe('Secure Boot keys over HTTP', () => {
  let sc: TestSidecar;
  const fw = driverFirmware();
  const keysets = () => ({
    'secure_boot_keyset:lab': { pk: testCert('api-pk').crt, kek: [testCert('api-kek').crt], db: [testCert('api-db').crt], owner_guid: OWNER },
  });
  before(async function () {
    this.timeout(60000);
    sc = await startTestSidecar({ ...fw.map, ...keysets() });
  });
  after(async () => sc?.stop());

  async function spawn(powerOn: boolean, extra: Record<string, string> = {}) {
    const inst = instance({ flavor: { name: 'f', vcpus: 1, memory_mb: 256, extra_specs: extra } });
    const r = await sc.http.post(`/v1/instances/${inst.uuid}/spawn`, { instance: inst, image_meta: SECURE, power_on: powerOn });
    assert.equal(r.status, 200, JSON.stringify(r.data));
    return inst;
  }
  const put = (uuid: string, body: object, queue?: boolean) => sc.http.put(`/v1/instances/${uuid}/nvram/secure-boot${queue ? '?queue=true' : ''}`, body);

  it('answers 200 for a shut-off guest, 409 for a running one without queue=true, 202 with it; a queued change is cancellable once', async () => {
    const off = await spawn(false);
    const w = await put(off.uuid, { keyset: 'lab' });
    assert.equal(w.status, 200, JSON.stringify(w.data));
    assert.deepEqual([w.data.applied, w.data.secure_boot.keyset, w.data.secure_boot.pk.certificates], [true, 'lab', ['CN=api-pk']]);
    const on = await spawn(true);
    const refused = await put(on.uuid, { keyset: 'lab' });
    assert.equal(refused.status, 409);
    assert.equal(refused.data.error.type, 'InstanceInvalidState');
    const q = await put(on.uuid, { keyset: 'lab' }, true);
    assert.equal(q.status, 202, JSON.stringify(q.data));
    const got = await sc.http.get(`/v1/instances/${on.uuid}/nvram/secure-boot`);
    assert.equal(got.data.pending[0].id, q.data.change.id);
    assert.equal((await sc.http.delete(`/v1/instances/${on.uuid}/nvram/secure-boot/pending/${q.data.change.id}`)).status, 200);
    assert.equal((await sc.http.delete(`/v1/instances/${on.uuid}/nvram/secure-boot/pending/${q.data.change.id}`)).status, 404);
  });

  const BAD: [string, object, string][] = [
    ['an unknown key set', { keyset: 'nope' }, 'keyset'],
    ['a wrong-length dbx hash', { add: { dbx: ['abcd'] }, owner: OWNER }, 'add.dbx[0]'],
    ['data that is not a certificate', { db: ['hello'], owner: OWNER }, 'db[0]'],
  ];
  for (const [name, body, field] of BAD) {
    it(`answers 400 naming ${field} for ${name}`, async () => {
      const inst = await spawn(false);
      const r = await put(inst.uuid, body);
      assert.equal(r.status, 400, JSON.stringify(r.data));
      assert.equal(r.data.error.details.field, field);
    });
  }

  it('refuses a body the schema does not allow (400)', async () => {
    const inst = await spawn(false);
    const r = await put(inst.uuid, { colour: 'blue' });
    assert.equal(r.status, 400);
  });

  it('serves the inventory and a rotation with per-instance outcomes', async () => {
    const inv = await sc.http.get('/v1/host/secure-boot');
    assert.equal(inv.status, 200);
    assert.ok(inv.data.summary.instances >= 1);
    const post = await sc.http.post('/v1/host/secure-boot/rotations', {
      rotation_id: 'http-1',
      add: { keyset: 'lab', databases: ['db'] },
      selection: { all: true },
    });
    assert.equal(post.status, 202, JSON.stringify(post.data));
    let r = post.data;
    for (let i = 0; i < 50 && r.status === 'running'; i++) {
      await new Promise((res) => setTimeout(res, 50));
      r = (await sc.http.get('/v1/host/secure-boot/rotations/http-1')).data;
    }
    assert.equal(r.status, 'done');
    assert.equal(r.done, r.total);
    assert.equal((await sc.http.get('/v1/host/secure-boot/rotations')).data.rotations[0].rotation_id, 'http-1');
    assert.equal((await sc.http.get('/v1/host/secure-boot/rotations/nope')).status, 404);
  });

  it('reloads key sets with the configuration (SIGHUP), refusing the whole file when a key set is broken', async () => {
    const more = sc.writeConfig({ ...sc.sections, 'secure_boot_keyset:extra': { db: [testCert('api-db').crt], owner_guid: OWNER } });
    const ok = await sc.reload(more);
    assert.ok(ok.ok, JSON.stringify(ok));
    assert.ok(sc.driver.core.deps.keysets.names().includes('extra'));
    const junk = path.join(keyDir(), 'junk.pem');
    fs.writeFileSync(junk, 'junk');
    const broken = sc.writeConfig({ ...sc.sections, 'secure_boot_keyset:extra': { db: [junk], owner_guid: OWNER } });
    const refused = await sc.reload(broken);
    assert.ok(!refused.ok);
    assert.match(refused.problems[0], /\[secure_boot_keyset:extra\] db: .*junk\.pem/);
    assert.ok(sc.driver.core.deps.keysets.names().includes('extra'), 'the previous key sets stay');
  });

  it('refuses to start with a broken key set, listing every problem with its option', async () => {
    await assert.rejects(
      startTestSidecar({ ...fw.map, 'secure_boot_keyset:bad': { pk: '/nonexistent.crt', kek: ['/nonexistent2.crt'], owner_guid: OWNER } }),
      (e: Error) => /invalid Secure Boot key sets/.test(e.message) && /\] pk: cannot read/.test(e.message) && /\] kek: cannot read/.test(e.message),
    );
  });
});
