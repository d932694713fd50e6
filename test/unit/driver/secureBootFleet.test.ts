/**
 * driver/secureBootFleet: a rotation writes shut-off instances at once, queues running ones
 * (shown applied after their cold boot), skips setup-mode, non-selected and store-less ones,
 * adds nothing twice; the inventory lists every store with a host summary.
 */
import { strict as assert } from 'node:assert';
import { BIOS, SECURE, makeWorld, newInstance, nova, type Host, type Inst, type World } from '../../support/driverHarness';
import { OWNER, testCert } from '../../support/sbKeys';

describe('driver/secureBootFleet', () => {
  let w: World;
  let A: Host;
  before(function () {
    this.timeout(60000);
    for (const n of ['fl-pk', 'fl-kek', 'fl-db', 'fl-db23']) testCert(n);
  });
  beforeEach(async () => {
    w = await makeWorld({
      config: {
        'secure_boot_keyset:old': { pk: testCert('fl-pk').crt, kek: [testCert('fl-kek').crt], db: [testCert('fl-db').crt], owner_guid: OWNER },
        'secure_boot_keyset:new': { db: [testCert('fl-db23').crt], owner_guid: OWNER },
      },
    });
    A = w.host('compute1');
  });
  afterEach(() => w.cleanup());

  async function spawn(keyset: string | null, powerOn: boolean, image: typeof SECURE | typeof BIOS = SECURE): Promise<Inst> {
    const inst = newInstance();
    const extra: Record<string, string> = keyset ? { 'os:secure_boot_keyset': keyset } : {};
    await A.driver.spawn(inst.uuid, { instance: { ...inst, flavor: { ...inst.flavor, extra_specs: extra } }, image_meta: image, power_on: powerOn });
    return inst;
  }

  it('rotates shut-off instances at once, queues running ones, skips the rest, and adds nothing twice', async () => {
    const off = await spawn('old', false);
    const on = await spawn('old', true);
    const setup = await spawn(null, false);
    const bios = await spawn(null, false, BIOS);
    const req = { rotation_id: 'r1', add: { keyset: 'new', databases: ['db' as const] }, selection: { all: true as const } };
    await A.driver.startSecureBootRotation(req);
    await A.driver.secureBootFleet.settled('r1');
    const r = await A.driver.getSecureBootRotation('r1');
    const by = Object.fromEntries(r.instances.map((o) => [o.instance_uuid, `${o.outcome}: ${o.detail ?? ''}`]));
    assert.equal(r.status, 'done');
    assert.equal(r.total, 4);
    assert.match(by[off.uuid], /^applied/);
    assert.match(by[on.uuid], /^queued: running/);
    assert.match(by[setup.uuid], /^skipped: setup mode/);
    assert.match(by[bios.uuid], /^skipped: no variable store/);
    assert.deepEqual((await A.driver.nvramSecureBoot(off.uuid)).db.certificates, ['CN=fl-db', 'CN=fl-db23']);

    // The same id answers the same rotation; another run adds nothing twice.
    assert.equal((await A.driver.startSecureBootRotation(req)).done, 4);
    await A.driver.startSecureBootRotation({ ...req, rotation_id: 'r2' });
    await A.driver.secureBootFleet.settled('r2');
    const r2 = await A.driver.getSecureBootRotation('r2');
    assert.equal(r2.instances.find((o) => o.instance_uuid === off.uuid)?.outcome, 'unchanged');

    await A.driver.reboot(on.uuid, { instance: on, reboot_type: 'HARD' });
    const after = await A.driver.getSecureBootRotation('r1');
    assert.equal(after.instances.find((o) => o.instance_uuid === on.uuid)?.outcome, 'applied');
    assert.deepEqual((await A.driver.nvramSecureBoot(on.uuid)).db.certificates, ['CN=fl-db', 'CN=fl-db23']);
  });

  it('starts a rotation once when the same rotation_id arrives concurrently; every caller gets that rotation', async () => {
    const off = await spawn('old', false);
    const req = { rotation_id: 'same', add: { keyset: 'new', databases: ['db' as const] }, selection: { all: true as const } };
    const answers = await Promise.all(Array.from({ length: 6 }, () => A.driver.startSecureBootRotation(req)));
    await A.driver.secureBootFleet.settled('same');
    assert.deepEqual(new Set(answers.map((a) => a.rotation_id)), new Set(['same']));
    const started = A.log.lines.filter((l) => l.msg === 'Secure Boot rotation started' && l.rotation === 'same');
    assert.equal(started.length, 1, JSON.stringify(started));
    const finished = A.log.lines.filter((l) => l.msg === 'Secure Boot rotation finished' && l.rotation === 'same');
    assert.equal(finished.length, 1);
    const r = await A.driver.getSecureBootRotation('same');
    assert.equal(r.status, 'done');
    assert.deepEqual(r.counts, { applied: 1 });
    assert.deepEqual((await A.driver.nvramSecureBoot(off.uuid)).db.certificates, ['CN=fl-db', 'CN=fl-db23']);
  });

  it('selects by a predicate on current keys and removes certificates by subject', async () => {
    const a = await spawn('old', false);
    const b = await spawn('old', false);
    await A.driver.putNvramSecureBoot(b.uuid, { add: { db: [testCert('fl-db23').pem] }, owner: OWNER }, false);
    await A.driver.startSecureBootRotation({ rotation_id: 'rm', remove: { db: ['CN=fl-db'] }, selection: { where: { db_lacks: 'fl-db23' } } });
    await A.driver.secureBootFleet.settled('rm');
    const r = await A.driver.getSecureBootRotation('rm');
    assert.deepEqual(r.counts, { applied: 1, skipped: 1 });
    assert.deepEqual((await A.driver.nvramSecureBoot(a.uuid)).db.certificates, []);
    assert.deepEqual((await A.driver.nvramSecureBoot(b.uuid)).db.certificates, ['CN=fl-db', 'CN=fl-db23']);
  });

  it('shows a rotation cut short by a restart as interrupted, and resumes it for the instances it had not reached', async () => {
    const a = await spawn('old', false);
    const b = await spawn('old', false);
    const request = { rotation_id: 'cut', add: { keyset: 'new' }, selection: { all: true as const } };
    const targets = [a.uuid, b.uuid].sort();
    // What a sidecar killed after the first instance left on disk.
    await A.driver.core.deps.rotations.put({
      rotation_id: 'cut',
      status: 'running',
      created_at: new Date().toISOString(),
      finished_at: null,
      request,
      targets,
      instances: [{ instance_uuid: targets[0], outcome: 'applied', at: new Date().toISOString() }],
    });
    assert.equal((await A.driver.getSecureBootRotation('cut')).status, 'interrupted');
    await A.driver.startSecureBootRotation({ ...request, remove: { db: ['x'] } });
    await A.driver.secureBootFleet.settled('cut');
    const r = await A.driver.getSecureBootRotation('cut');
    assert.equal(r.status, 'done');
    assert.deepEqual(r.counts, { applied: 2 });
    assert.equal(r.request.remove, undefined, 'resumed with the request it was started with');
    assert.deepEqual((await A.driver.nvramSecureBoot(targets[0])).db.certificates, ['CN=fl-db'], 'the first instance is not touched again');
    assert.deepEqual((await A.driver.nvramSecureBoot(targets[1])).db.certificates, ['CN=fl-db', 'CN=fl-db23']);
  });

  it('refuses an unknown key set and an empty change', async () => {
    await assert.rejects(
      A.driver.startSecureBootRotation({ add: { keyset: 'nope' }, selection: { all: true } }),
      nova('InvalidInput', { field: 'add.keyset' }),
    );
    await assert.rejects(A.driver.getSecureBootRotation('missing'), nova('NotFound', { code: 404 }));
  });

  it('lists every store in the inventory with keys, expiry and a host summary', async () => {
    const on = await spawn('old', true);
    await spawn(null, false);
    await A.driver.putNvramSecureBoot(on.uuid, { add: { db: [testCert('fl-db23').pem] }, owner: OWNER }, true);
    const inv = await A.driver.secureBootInventory();
    assert.equal(inv.host, 'compute1');
    assert.deepEqual(
      { ...inv.summary },
      {
        instances: 2,
        secure_boot_on: 1,
        setup_mode: 1,
        pending_changes: 1,
        expired_kek_only: 0,
        expired_db_only: 0,
        trust_only_2011_cas: 0,
        keysets: { old: 1 },
      },
    );
    const e = inv.instances.find((i) => i.instance_uuid === on.uuid);
    assert.equal(e?.pk_subject, 'CN=fl-pk');
    assert.deepEqual(
      e?.db?.map((c) => [c.subject, c.expired]),
      [['CN=fl-db', false]],
    );
    assert.equal(e?.pending, 1);
  });

  it("logs a rotation started through a request with that request's id, to its last line", async () => {
    const off = await spawn('old', false);
    const driver = A.driver.forRequest('req-rotation-1');
    const before = A.log.lines.length;
    await driver.startSecureBootRotation({ rotation_id: 'r-log', add: { keyset: 'new', databases: ['db' as const] }, selection: { all: true as const } });
    await driver.secureBootFleet.settled('r-log');
    const lines = A.log.lines.slice(before).filter((l) => typeof l.msg === 'string' && l.msg.startsWith('Secure Boot rotation'));
    assert.deepEqual(
      lines.map((l) => [l.msg, l.request_id]),
      [
        ['Secure Boot rotation started', 'req-rotation-1'],
        ['Secure Boot rotation finished', 'req-rotation-1'],
      ],
    );
    assert.equal((await A.driver.getSecureBootRotation('r-log')).instances.find((o) => o.instance_uuid === off.uuid)?.outcome, 'applied');
  });
});
