/**
 * driver/liveMigration in Nova's order (dest check → source check → pre_live_migration →
 * live_migration → post_live_migration → post_live_migration_at_source → cleanup →
 * post_live_migration_at_destination), with the hand-over done by MemoryHypervisor: the store
 * moves, the source verifies the destination's digest, and only then drops its own copy; a
 * mismatch keeps the source copy; a rollback gives the guest back to the source.
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { PowerState } from '../../../src/nova/powerState';
import { NovaError } from '../../../src/errors';
import type { MigrateData } from '../../../src/driver/contract';
import {
  UEFI,
  domainName,
  fileBytes,
  makeWorld,
  markStore,
  migration,
  newInstance,
  nova,
  withFastTimers,
  type Host,
  type Inst,
  type World,
  storeOn,
} from '../../support/driverHarness';

const sha = (b: Buffer | null) => (b ? createHash('sha256').update(b).digest('hex') : null);

describe('driver/liveMigration', () => {
  let w: World;
  let A: Host;
  let B: Host;
  beforeEach(async () => {
    w = await makeWorld({ hosts: ['compute1', 'compute2'] });
    [A, B] = w.hosts;
  });
  afterEach(() => w.cleanup());

  const step = (inst: Inst) => ({ instance: inst });

  /** A running guest on A with a marker in its store, through the pre-checks and pre_live_migration. */
  async function prepared(inst: Inst): Promise<{ bytes: Buffer; migrate_data: MigrateData }> {
    await A.driver.spawn(inst.uuid, { instance: inst, image_meta: UEFI });
    await A.driver.powerOff(inst.uuid, step(inst));
    const bytes = markStore(storeOn(A, inst), `marker-${inst.uuid}`);
    await A.driver.powerOn(inst.uuid, step(inst));
    const mig = migration('compute1', 'compute2', 'live-migration');
    const d = await B.driver.checkCanLiveMigrateDestination(inst.uuid, { instance: inst, block_migration: false });
    assert.equal(d.migrate_data.uefi_shim?.firmware?.loader, w.fw.files.code);
    assert.equal(d.migrate_data.uefi_shim?.nvram?.size, bytes.length);
    const s = await A.driver.checkCanLiveMigrateSource(inst.uuid, { instance: inst, dest_check_data: { ...d.migrate_data, migration: mig } });
    assert.equal(s.migrate_data.uefi_shim?.nvram?.sha256, sha(bytes));
    const p = await B.driver.preLiveMigration(inst.uuid, { instance: inst, migrate_data: s.migrate_data });
    assert.equal(p.migrate_data.uefi_shim?.dest_nvram_path, storeOn(B, inst));
    assert.deepEqual(fileBytes(storeOn(B, inst)), bytes, 'the destination holds a copy before the guest arrives');
    return { bytes, migrate_data: p.migrate_data };
  }

  const live = (inst: Inst, migrate_data: MigrateData) => A.driver.liveMigration(inst.uuid, { instance: inst, dest: 'compute2', migrate_data });
  /** The destination's store is changed between the hand-over and the source's check. */
  const tamperOnArrival = () => (B.hv.afterArrive = (_n, p) => void (p && markStore(p, 'not-what-the-guest-had')));

  async function nothingFor(h: Host, inst: Inst): Promise<void> {
    assert.deepEqual(h.nvramFiles(), [], `${h.name} holds no store`);
    assert.equal(await h.records.get(inst.uuid), null, `${h.name} holds no record`);
    assert.deepEqual(await h.hv.list(), [], `${h.name} defines no domain`);
    assert.deepEqual(await h.journals.list(), [], `${h.name} holds no journal`);
  }

  it('moves the store, verifies its digest on the destination, and removes the source copy only after that', async () => {
    const inst = newInstance();
    const { bytes, migrate_data } = await prepared(inst);
    let callsAtArrival = -1;
    B.hv.afterArrive = () => void (callsAtArrival = w.net.calls.length);
    const out = await live(inst, migrate_data);
    assert.deepEqual(out.nvram, { size: bytes.length, sha256: sha(bytes) });
    assert.deepEqual(A.hv.eventsFor(domainName(inst)).slice(-1), ['liveMigrate:compute2']);
    assert.equal(B.hv.stateOf(domainName(inst)), PowerState.RUNNING);
    assert.match((await B.hv.getXml(domainName(inst))) ?? '', new RegExp(storeOn(B, inst)), 'the destination maps its own path');
    assert.ok(
      w.net.calls.slice(callsAtArrival).some((c) => c.to === 'compute2' && c.path.includes('/nvram_digest?name=')),
      'the digest was read from the destination after the hand-over',
    );
    assert.equal((await A.journals.get(inst.uuid, 'source'))?.status, 'live-verified');
    assert.deepEqual(fileBytes(storeOn(A, inst)), bytes, 'the source copy stays until post_live_migration_at_source');

    await A.driver.postLiveMigration(inst.uuid, { ...step(inst), migrate_data });
    await A.driver.postLiveMigrationAtSource(inst.uuid, step(inst));
    await A.driver.cleanup(inst.uuid, { ...step(inst), migrate_data });
    const v = await B.driver.postLiveMigrationAtDestination(inst.uuid, step({ ...inst, host: 'compute2' }));
    assert.equal(v.power_state, PowerState.RUNNING);
    assert.equal(v.vm_state, 'active');
    assert.equal(v.nvram?.sha256, sha(bytes));
    await nothingFor(A, inst);
    assert.deepEqual(await B.journals.list(), []);
    assert.deepEqual(B.nvramFiles(), [`${domainName(inst)}_VARS.fd`]);
  });

  it('a digest mismatch is a MigrationError that keeps the source copy; a retry after the fix verifies', async () => {
    const inst = newInstance();
    const { bytes, migrate_data } = await prepared(inst);
    tamperOnArrival();
    await withFastTimers(() => assert.rejects(live(inst, migrate_data), nova('MigrationError', { fragment: 'the source copy is kept' })));
    assert.equal((await A.journals.get(inst.uuid, 'source'))?.status, 'live-unverified');
    await A.driver.postLiveMigrationAtSource(inst.uuid, step(inst));
    assert.deepEqual(fileBytes(storeOn(A, inst)), bytes, 'post_live_migration_at_source keeps an unverified source copy');
    assert.ok(A.log.lines.some((l) => l.msg === 'source copy kept: the destination store was not verified'));

    fs.writeFileSync(storeOn(B, inst), bytes);
    const out = await live(inst, migrate_data);
    assert.equal(out.nvram?.sha256, sha(bytes));
    assert.equal((await A.journals.get(inst.uuid, 'source'))?.status, 'live-verified');
    await A.driver.postLiveMigrationAtSource(inst.uuid, step(inst));
    await nothingFor(A, inst);
  });

  it('checks the copy it staged from the file, in the background: one that is not the source store is logged, and the hand-over decides', async () => {
    const inst = newInstance();
    await A.driver.spawn(inst.uuid, { instance: inst, image_meta: UEFI });
    await A.driver.powerOff(inst.uuid, step(inst));
    const bytes = markStore(storeOn(A, inst), `marker-${inst.uuid}`);
    await A.driver.powerOn(inst.uuid, step(inst));
    const d = await B.driver.checkCanLiveMigrateDestination(inst.uuid, { instance: inst, block_migration: false });
    const mig = migration('compute1', 'compute2', 'live-migration');
    const s = await A.driver.checkCanLiveMigrateSource(inst.uuid, { instance: inst, dest_check_data: { ...d.migrate_data, migration: mig } });
    // The source describes its store wrongly (a byte of its first run flipped), with its own digest.
    const readImage = A.nvram.readImage.bind(A.nvram);
    A.nvram.readImage = async (p) => {
      const read = await readImage(p);
      if (!read) return read;
      const [first, ...rest] = read.image.segments;
      const data = Buffer.from(first.data);
      data[0] ^= 0xff;
      return { ...read, image: { ...read.image, segments: [{ ...first, data }, ...rest] } };
    };
    const p = await B.driver.preLiveMigration(inst.uuid, { instance: inst, migrate_data: s.migrate_data });
    const staged = fileBytes(storeOn(B, inst));
    assert.ok(staged && !staged.equals(bytes), 'the copy was written as sent');
    const logged = () => B.log.lines.find((l) => l.msg === 'the staged copy of the variable store differs from the store the source sent');
    for (let i = 0; i < 200 && !logged(); i++) await new Promise((r) => setTimeout(r, 25));
    assert.deepEqual({ sha256: logged()?.sha256, expected: logged()?.expected }, { sha256: sha(staged), expected: sha(bytes) });
    // The hand-over writes the guest's own store there (QEMU from the migration stream): verified.
    const out = await live(inst, p.migrate_data);
    assert.equal(out.nvram?.sha256, sha(bytes));
    assert.deepEqual(fileBytes(storeOn(B, inst)), bytes);
  });

  describe('a rollback at both ends gives the guest back to the source', () => {
    const CASES: [string, { handedOver: boolean }][] = [
      ['when the hand-over failed', { handedOver: false }],
      ['when the guest was handed over but its store did not verify', { handedOver: true }],
    ];
    for (const [name, c] of CASES) {
      it(name, async () => {
        const inst = newInstance();
        const { bytes, migrate_data } = await prepared(inst);
        if (c.handedOver) {
          tamperOnArrival();
          await withFastTimers(() => assert.rejects(live(inst, migrate_data), nova('MigrationError')));
          assert.equal(A.hv.stateOf(domainName(inst)), null);
        } else {
          A.hv.failNext('liveMigrate');
          await assert.rejects(live(inst, migrate_data), /injected liveMigrate failure/);
        }
        await B.driver.rollbackLiveMigrationAtDestination(inst.uuid, step(inst));
        await A.driver.rollbackLiveMigrationAtSource(inst.uuid, step(inst));
        await nothingFor(B, inst);
        assert.equal(A.hv.stateOf(domainName(inst)), PowerState.RUNNING);
        assert.deepEqual(fileBytes(storeOn(A, inst)), bytes);
        const v = await A.driver.getInfo(inst.uuid);
        assert.equal(v.vm_state, 'active');
        assert.match(v.domain_xml ?? '', new RegExp(storeOn(A, inst)));
        assert.deepEqual(await A.journals.list(), []);
      });
    }
  });

  // The HTTP answer of a verified live_migration can be lost; Nova then rolls back. The
  // contract: the guest is given back here unless the source copy was removed.
  it('a rollback at the source after a verified hand-over either gives the guest back or refuses before booting it', async () => {
    const inst = newInstance();
    const { migrate_data } = await prepared(inst);
    await live(inst, migrate_data);
    const err = await A.driver.rollbackLiveMigrationAtSource(inst.uuid, step(inst)).then(
      () => null,
      (e: unknown) => e as Error,
    );
    if (err) {
      assert.ok(err instanceof NovaError, `a typed Nova error, not ${err.name}: ${err.message}`);
      assert.equal(A.hv.stateOf(domainName(inst)), null, 'nothing booted on the source');
    } else {
      assert.equal(A.hv.stateOf(domainName(inst)), PowerState.RUNNING);
      assert.deepEqual(await A.journals.list(), []);
    }
  });

  describe('the pre-checks refuse (MigrationPreCheckError)', () => {
    const CASES: [string, (inst: Inst) => Promise<unknown>, string | RegExp][] = [
      ['a move to the same host', (i) => A.driver.checkCanLiveMigrateDestination(i.uuid, { instance: i }), 'same host'],
      [
        'a destination that already holds a store under the name',
        (i) => (fs.writeFileSync(storeOn(B, i), Buffer.alloc(8)), B.driver.checkCanLiveMigrateDestination(i.uuid, { instance: i })),
        'already exists on the destination',
      ],
      [
        'a destination that accepted another loader',
        async (i) => {
          const d = await B.driver.checkCanLiveMigrateDestination(i.uuid, { instance: i });
          const shim = d.migrate_data.uefi_shim;
          assert.ok(shim?.firmware);
          const other = { ...d.migrate_data, uefi_shim: { ...shim, firmware: { ...shim.firmware, loader: w.fw.files.secCode } } };
          return A.driver.checkCanLiveMigrateSource(i.uuid, { instance: i, dest_check_data: other });
        },
        /accepted firmware .*secboot/,
      ],
      [
        'a source whose sidecar cannot be reached',
        (i) => (w.net.down.add('compute1'), B.driver.checkCanLiveMigrateDestination(i.uuid, { instance: i })),
        'unreachable',
      ],
    ];
    for (const [name, when, fragment] of CASES) {
      it(name, async () => {
        const inst = newInstance();
        await A.driver.spawn(inst.uuid, { instance: inst, image_meta: UEFI });
        await assert.rejects(when(inst), nova('MigrationPreCheckError', { code: 400, fragment }));
        assert.equal(A.hv.stateOf(domainName(inst)), PowerState.RUNNING);
      });
    }
  });

  it('post_live_migration_at_destination of a guest that did not arrive is InstanceNotFound', async () => {
    const inst = newInstance();
    await prepared(inst);
    await assert.rejects(B.driver.postLiveMigrationAtDestination(inst.uuid, step(inst)), nova('InstanceNotFound', { code: 404 }));
  });

  it('pre_live_migration is idempotent', async () => {
    const inst = newInstance();
    const { migrate_data } = await prepared(inst);
    const calls = w.net.calls.length;
    const again = await B.driver.preLiveMigration(inst.uuid, { instance: inst, migrate_data });
    assert.equal(again.migrate_data.uefi_shim?.dest_nvram_path, storeOn(B, inst));
    assert.equal(w.net.calls.length, calls, 'the store is not fetched again');
  });
});
