/**
 * driver/secureBootOps: key sets at spawn (flavor extra spec, image property, system_metadata),
 * key changes through the API (written at once when shut off; 409, or queued with
 * queue=true, when running), the queue applied by the cold-boot hook exactly once, cancelled,
 * kept across a restart and carried by a cold migration; each bad input a 400 naming its field.
 */
import { strict as assert } from 'node:assert';
import { ShimDriver } from '../../../src/driver';
import { RecordStore } from '../../../src/state/records';
import { EFI_GLOBAL_VARIABLE } from '../../../src/varstore/guids';
import { SECURE, domainName, fileBytes, makeWorld, migration, newInstance, nova, type Host, type Inst, type World } from '../../support/driverHarness';
import { ecCert, OWNER, testCert } from '../../support/sbKeys';

const HASH = 'cd'.repeat(32);

function keysetConfig() {
  return {
    'secure_boot_keyset:lab': { pk: testCert('dr-pk').crt, kek: [testCert('dr-kek').crt], db: [testCert('dr-db').crt], dbx: [HASH], owner_guid: OWNER },
    'secure_boot_keyset:lab2': { db: [testCert('dr-db2').crt], owner_guid: OWNER },
  };
}

describe('driver/secureBootOps', () => {
  let w: World;
  let A: Host;
  let B: Host;
  before(function () {
    this.timeout(60000);
    for (const n of ['dr-pk', 'dr-kek', 'dr-db', 'dr-db2']) testCert(n);
  });
  beforeEach(async () => {
    w = await makeWorld({ hosts: ['compute1', 'compute2'], config: keysetConfig() });
    A = w.host('compute1');
    B = w.host('compute2');
  });
  afterEach(() => w.cleanup());

  async function spawnSecure(
    over: { extra?: Record<string, string>; props?: Record<string, string>; sm?: Record<string, string>; powerOn?: boolean } = {},
  ): Promise<Inst> {
    const inst = newInstance();
    const instance = { ...inst, flavor: { ...inst.flavor, extra_specs: over.extra ?? {} }, system_metadata: over.sm ?? {} };
    await A.driver.spawn(inst.uuid, { instance, image_meta: { properties: { ...SECURE.properties, ...(over.props ?? {}) } }, power_on: over.powerOn ?? true });
    return inst;
  }
  const sb = (h: Host, inst: Inst) => h.driver.nvramSecureBoot(inst.uuid);
  const storeOf = (h: Host, inst: Inst) => fileBytes(h.nvram.pathFor(domainName(inst))) as Buffer;
  const hardReboot = (h: Host, inst: Inst) => h.driver.reboot(inst.uuid, { instance: inst, reboot_type: 'HARD' });

  const SPAWN_FORMS: [string, Parameters<typeof spawnSecure>[0]][] = [
    ['the flavor extra spec os:secure_boot_keyset', { extra: { 'os:secure_boot_keyset': 'lab' } }],
    ['the image property os_secure_boot_keyset', { props: { os_secure_boot_keyset: 'lab' } }],
    ["system_metadata['image_os_secure_boot_keyset'] (Nova's ImageMeta drops the property)", { sm: { image_os_secure_boot_keyset: 'lab' } }],
  ];
  for (const [name, over] of SPAWN_FORMS) {
    it(`enrolls the key set named by ${name} before the guest first boots`, async () => {
      const inst = await spawnSecure(over);
      const s = await sb(A, inst);
      assert.equal(s.keyset, 'lab');
      assert.deepEqual(s.pending, []);
      assert.deepEqual([s.pk.certificates, s.kek.certificates, s.db.certificates, s.dbx.hash_count], [['CN=dr-pk'], ['CN=dr-kek'], ['CN=dr-db'], 1]);
      assert.equal(s.enabled, true);
    });
  }

  it('refuses an unknown key set at spawn (InvalidInput naming the field) and leaves nothing', async () => {
    const inst = newInstance();
    const instance = { ...inst, flavor: { ...inst.flavor, extra_specs: { 'os:secure_boot_keyset': 'nope' } } };
    await assert.rejects(
      A.driver.spawn(inst.uuid, { instance, image_meta: SECURE }),
      nova('InvalidInput', { field: 'flavor.extra_specs.os:secure_boot_keyset' }),
    );
    assert.equal(await A.records.get(inst.uuid), null);
    assert.deepEqual(A.nvramFiles(), []);
  });

  it('refuses a flavor and an image that name different key sets (FlavorImageConflict)', async () => {
    await assert.rejects(spawnSecure({ extra: { 'os:secure_boot_keyset': 'lab' }, props: { os_secure_boot_keyset: 'lab2' } }), nova('FlavorImageConflict'));
  });

  it('writes a shut-off guest at once and says when an entry was already there', async () => {
    const inst = await spawnSecure({ powerOn: false });
    const r = await A.driver.putNvramSecureBoot(inst.uuid, { keyset: 'lab' }, false);
    assert.equal(r.applied, true);
    assert.equal(r.changed, true);
    assert.equal(r.secure_boot.keyset, 'lab');
    const again = await A.driver.putNvramSecureBoot(inst.uuid, { add: { db: [testCert('dr-db').pem] }, owner: OWNER }, false);
    assert.equal(again.changed, false);
    assert.deepEqual(again.notes, ['db: 1 entry already present (no-op)']);
    assert.equal(again.nvram, undefined, 'nothing written');
  });

  it('refuses a change to a running guest without queue=true (409) and writes nothing', async () => {
    const inst = await spawnSecure();
    const before = storeOf(A, inst);
    await assert.rejects(A.driver.putNvramSecureBoot(inst.uuid, { keyset: 'lab' }, false), nova('InstanceInvalidState', { code: 409 }));
    assert.ok(storeOf(A, inst).equals(before));
  });

  it('queues a change for a running guest, applies it at the next hard reboot exactly once', async () => {
    const inst = await spawnSecure({ extra: { 'os:secure_boot_keyset': 'lab' } });
    const before = storeOf(A, inst);
    const q = await A.driver.putNvramSecureBoot(inst.uuid, { add: { db: [testCert('dr-db2').pem] }, owner: OWNER }, true);
    assert.equal(q.queued, true);
    assert.equal(q.change?.changes[0].entries[0].subject, 'CN=dr-db2');
    assert.ok(storeOf(A, inst).equals(before), 'nothing written while the guest runs');
    assert.equal((await sb(A, inst)).pending.length, 1);

    await hardReboot(A, inst);
    const s = await sb(A, inst);
    assert.deepEqual(s.pending, []);
    assert.deepEqual(s.db.certificates, ['CN=dr-db', 'CN=dr-db2']);
    const rec = await A.records.get(inst.uuid);
    assert.equal(rec?.secureBoot?.applied.at(-1)?.outcome, 'applied');
    const after = storeOf(A, inst);
    await hardReboot(A, inst);
    assert.ok(storeOf(A, inst).equals(after), 'a second cold boot changes nothing');
  });

  it('cancels a queued change; the next boot leaves the store alone', async () => {
    const inst = await spawnSecure({ extra: { 'os:secure_boot_keyset': 'lab' } });
    const q = await A.driver.putNvramSecureBoot(inst.uuid, { keyset: 'lab2' }, true);
    const id = q.change?.id as string;
    assert.deepEqual((await A.driver.cancelSecureBootChange(inst.uuid, id)).pending, []);
    await assert.rejects(A.driver.cancelSecureBootChange(inst.uuid, id), nova('NotFound', { code: 404 }));
    const before = storeOf(A, inst);
    await hardReboot(A, inst);
    assert.ok(storeOf(A, inst).equals(before));
  });

  it('keeps the queue across a sidecar restart (it lives in the record on disk)', async () => {
    const inst = await spawnSecure({ extra: { 'os:secure_boot_keyset': 'lab' } });
    await A.driver.putNvramSecureBoot(inst.uuid, { add: { dbx: ['ef'.repeat(32)] }, owner: OWNER }, true);
    const records = new RecordStore(A.config.hypervisor.state_dir);
    const restarted = new ShimDriver({ ...A.driver.core.deps, records });
    assert.equal((await restarted.nvramSecureBoot(inst.uuid)).pending.length, 1);
    await restarted.reboot(inst.uuid, { instance: inst, reboot_type: 'HARD' });
    assert.equal((await restarted.nvramSecureBoot(inst.uuid)).dbx.hash_count, 2);
  });

  it('applies the queued change on an earlier power-off write, in order, in one write', async () => {
    const inst = await spawnSecure({ extra: { 'os:secure_boot_keyset': 'lab' } });
    await A.driver.putNvramSecureBoot(inst.uuid, { add: { db: [testCert('dr-db2').pem] }, owner: OWNER }, true);
    await A.driver.powerOff(inst.uuid, { instance: inst });
    const r = await A.driver.putNvramSecureBoot(inst.uuid, { remove: { db: [testCert('dr-db').pem] } }, false);
    assert.equal(r.applied, true);
    assert.deepEqual(r.secure_boot.db.certificates, ['CN=dr-db2']);
    assert.deepEqual(r.secure_boot.pending, []);
  });

  it('carries a queued change through a cold migration and applies it at finish_migration', async () => {
    const inst = await spawnSecure({ extra: { 'os:secure_boot_keyset': 'lab' } });
    await A.driver.putNvramSecureBoot(inst.uuid, { add: { db: [testCert('dr-db2').pem] }, owner: OWNER }, true);
    const mig = migration('compute1', 'compute2');
    await A.driver.migrateDiskAndPowerOff(inst.uuid, { instance: inst, dest: 'compute2', migration: mig });
    const moved = { ...inst, host: 'compute2' };
    await B.driver.finishMigration(inst.uuid, { instance: moved, migration: mig, image_meta: SECURE });
    const s = await sb(B, inst);
    assert.deepEqual(s.pending, []);
    assert.deepEqual(s.db.certificates, ['CN=dr-db', 'CN=dr-db2']);
    assert.equal(s.keyset, 'lab');
  });

  const BAD: [string, () => Parameters<ShimDriver['putNvramSecureBoot']>[1], string, RegExp][] = [
    [
      'data that is not a certificate',
      () => ({ db: ['-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'], owner: OWNER }),
      'db[0]',
      /not an X\.509/,
    ],
    ['an RSA key edk2 cannot use (EC)', () => ({ add: { kek: [ecCert('dr-ec').pem] }, owner: OWNER }), 'add.kek[0]', /wrong key type: ec/],
    ['a dbx hash of the wrong length', () => ({ add: { dbx: ['abcd'] }, owner: OWNER }), 'add.dbx[0]', /not a PEM certificate or a SHA-256 hash/],
    ['an unknown key set', () => ({ keyset: 'nope' }), 'keyset', /unknown Secure Boot key set 'nope'/],
    ['certificates without an owner', () => ({ db: [testCert('dr-db').pem] }), 'owner', /required/],
  ];
  for (const [name, body, field, want] of BAD) {
    it(`refuses ${name} with InvalidInput naming ${field}, writing nothing`, async () => {
      const inst = await spawnSecure({ powerOn: false });
      const before = storeOf(A, inst);
      await assert.rejects(A.driver.putNvramSecureBoot(inst.uuid, body(), false), nova('InvalidInput', { code: 400, field, fragment: want }));
      assert.ok(storeOf(A, inst).equals(before));
    });
  }

  it('a rebuild with a fresh store enrolls the key set the new image names, and drops the old one', async () => {
    const inst = await spawnSecure({ props: { os_secure_boot_keyset: 'lab' } });
    await A.driver.rebuild(inst.uuid, { instance: inst, image_meta: { properties: { ...SECURE.properties, os_secure_boot_keyset: 'lab2' } } });
    const s = await sb(A, inst);
    assert.equal(s.keyset, 'lab2');
    assert.deepEqual([s.pk.present, s.db.certificates], [false, ['CN=dr-db2']], "lab's PK went with the old store");
    const plain = await spawnSecure({ props: { os_secure_boot_keyset: 'lab' } });
    await A.driver.rebuild(plain.uuid, { instance: plain, image_meta: SECURE });
    assert.equal((await sb(A, plain)).keyset, null);
    assert.equal((await sb(A, plain)).pk.present, false, 'the fresh template, in setup mode');
  });

  it('clears PK with pk: null (setup mode)', async () => {
    const inst = await spawnSecure({ extra: { 'os:secure_boot_keyset': 'lab' }, powerOn: false });
    const r = await A.driver.putNvramSecureBoot(inst.uuid, { pk: null }, false);
    assert.equal(r.secure_boot.setup_mode, true);
    assert.equal(r.secure_boot.pk.present, false);
    assert.ok(storeOf(A, inst).includes(Buffer.from('KEK', 'utf16le')));
    void EFI_GLOBAL_VARIABLE;
  });
});
