/**
 * driver/coldMigration: resize and cold migration carry the store byte for byte, in Nova's
 * call order, with exactly one live copy at the end and nothing left behind (no stash, no
 * staged copy, no journal). Two hosts on a MemoryHypervisor each, linked by a MemoryPeer.
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { PowerState } from '../../../src/nova/powerState';
import {
  UEFI,
  domainName,
  fileBytes,
  makeWorld,
  markStore,
  migration,
  newInstance,
  nova,
  type Host,
  type Inst,
  type World,
  storeOn,
} from '../../support/driverHarness';

const sha = (b: Buffer | null) => (b ? createHash('sha256').update(b).digest('hex') : null);

describe('driver/coldMigration', () => {
  let w: World;
  let A: Host;
  let B: Host;
  beforeEach(async () => {
    w = await makeWorld({ hosts: ['compute1', 'compute2'] });
    [A, B] = w.hosts;
  });
  afterEach(() => w.cleanup());

  /** A running UEFI guest on A whose store holds a marker, as a guest that wrote a variable. */
  async function guestWithMarker(inst: Inst): Promise<Buffer> {
    await A.driver.spawn(inst.uuid, { instance: inst, image_meta: UEFI });
    await A.driver.powerOff(inst.uuid, { instance: inst });
    const bytes = markStore(storeOn(A, inst), `marker-${inst.uuid}`);
    await A.driver.powerOn(inst.uuid, { instance: inst });
    return bytes;
  }

  async function nothingFor(h: Host, inst: Inst): Promise<void> {
    assert.deepEqual(h.nvramFiles(), [], `${h.name} holds no store, stash or staged copy`);
    assert.equal(await h.records.get(inst.uuid), null, `${h.name} holds no record`);
    assert.deepEqual(await h.hv.list(), [], `${h.name} defines no domain`);
    assert.deepEqual(await h.journals.list(), [], `${h.name} holds no journal`);
  }

  const mdpo = (inst: Inst, dest = 'compute2') => A.driver.migrateDiskAndPowerOff(inst.uuid, { instance: inst, dest });
  const finish = (h: Host, inst: Inst, mig: ReturnType<typeof migration>) =>
    h.driver.finishMigration(inst.uuid, { instance: { ...inst, host: mig.dest_compute }, migration: mig, image_meta: UEFI });

  it('resize to another host + confirm: the destination runs the same bytes and the source keeps nothing', async () => {
    const inst = newInstance();
    const bytes = await guestWithMarker(inst);
    const out = await mdpo(inst);
    assert.deepEqual(out.nvram && { size: out.nvram.size, sha256: out.nvram.sha256 }, { size: bytes.length, sha256: sha(bytes) });
    assert.equal(out.nvram?.firmware?.loader, w.fw.files.code);
    assert.equal(A.hv.stateOf(domainName(inst)), PowerState.SHUTDOWN, 'the source is powered off');
    assert.equal(B.nvramFiles().filter((f) => f.startsWith('.staged-')).length, 1, 'the destination staged the copy');
    const mig = migration('compute1', 'compute2');
    const v = await finish(B, inst, mig);
    assert.equal(v.power_state, PowerState.RUNNING);
    assert.equal(v.nvram?.sha256, sha(bytes));
    assert.deepEqual(fileBytes(storeOn(B, inst)), bytes);
    assert.deepEqual(B.nvramFiles(), [`${domainName(inst)}_VARS.fd`], 'the staged copy became the live one');
    await A.driver.confirmMigration(inst.uuid, { instance: { ...inst, host: 'compute2' }, migration: mig });
    await nothingFor(A, inst);
    assert.deepEqual(await B.journals.list(), []);
    assert.deepEqual(fileBytes(storeOn(B, inst)), bytes);
  });

  it('resize to another host + revert: the source gets its bytes back and the destination keeps nothing', async () => {
    const inst = newInstance();
    const bytes = await guestWithMarker(inst);
    await mdpo(inst);
    const mig = migration('compute1', 'compute2');
    await finish(B, inst, mig);
    markStore(storeOn(B, inst), 'written-on-the-destination');
    await B.driver.destroy(inst.uuid, { instance: { ...inst, host: 'compute2' } });
    const v = await A.driver.finishRevertMigration(inst.uuid, { instance: inst, migration: mig });
    assert.equal(v.power_state, PowerState.RUNNING);
    assert.deepEqual(fileBytes(storeOn(A, inst)), bytes);
    assert.deepEqual(A.nvramFiles(), [`${domainName(inst)}_VARS.fd`], 'no stash left');
    assert.deepEqual(await A.journals.list(), []);
    await nothingFor(B, inst);
  });

  it('a revert before finish_migration drops the staged copy on the destination', async () => {
    const inst = newInstance();
    const bytes = await guestWithMarker(inst);
    await mdpo(inst);
    await B.driver.destroy(inst.uuid, { instance: { ...inst, host: 'compute2' } });
    await nothingFor(B, inst);
    await A.driver.finishRevertMigration(inst.uuid, { instance: inst, migration: migration('compute1', 'compute2') });
    assert.deepEqual(fileBytes(storeOn(A, inst)), bytes);
  });

  describe('a same-host resize', () => {
    const CASES: [string, { confirm: boolean }][] = [
      ['keeps the live store in place and drops only the stash on confirm', { confirm: true }],
      ['restores the stash byte for byte on revert, whatever ran meanwhile', { confirm: false }],
    ];
    for (const [name, c] of CASES) {
      it(name, async () => {
        const inst = newInstance();
        const bytes = await guestWithMarker(inst);
        await mdpo(inst, 'compute1');
        assert.equal(w.net.calls.length, 0, 'nothing is sent to a peer');
        assert.equal(A.nvramFiles().filter((f) => f.startsWith('.stash-')).length, 1);
        const mig = migration('compute1', 'compute1');
        const v = await finish(A, inst, { ...mig, dest_compute: 'compute1' });
        assert.equal(v.power_state, PowerState.RUNNING);
        markStore(storeOn(A, inst), 'written-after-the-resize');
        const after = fileBytes(storeOn(A, inst));
        if (c.confirm) await A.driver.confirmMigration(inst.uuid, { instance: inst, migration: mig });
        else await A.driver.finishRevertMigration(inst.uuid, { instance: inst, migration: mig });
        assert.deepEqual(A.nvramFiles(), [`${domainName(inst)}_VARS.fd`]);
        assert.deepEqual(fileBytes(storeOn(A, inst)), c.confirm ? after : bytes);
        assert.ok(await A.records.get(inst.uuid), 'the record stays');
        assert.deepEqual(await A.journals.list(), []);
      });
    }
  });

  it('an unreachable peer fails with MigrationError; the source keeps its store; confirm is refused; a retry resumes', async () => {
    const inst = newInstance();
    const bytes = await guestWithMarker(inst);
    w.net.down.add('compute2');
    await assert.rejects(mdpo(inst), nova('MigrationError', { fragment: 'unreachable' }));
    assert.deepEqual(fileBytes(storeOn(A, inst)), bytes, 'the source keeps its store');
    assert.equal((await A.journals.get(inst.uuid, 'source'))?.status, 'stashed');
    await assert.rejects(
      A.driver.confirmMigration(inst.uuid, { instance: inst, migration: migration('compute1', 'compute2') }),
      nova('InstanceInvalidState', { code: 409 }),
      'confirming before the destination has the store would drop the only copy',
    );
    w.net.down.delete('compute2');
    A.hv.events.length = 0;
    const out = await mdpo(inst);
    assert.equal(out.nvram?.sha256, sha(bytes));
    assert.deepEqual(A.hv.events, [], 'the retry neither powers off again nor re-stashes');
    const j = await A.journals.get(inst.uuid, 'source');
    assert.deepEqual(
      j?.history.map((h) => h.status),
      ['stashing', 'stashed', 'sent'],
    );
    const again = await mdpo(inst);
    assert.deepEqual(again, out, 'a retry after it was sent answers the same');
    assert.equal(w.net.calls.filter((c) => c.method === 'PUT').length, 2, 'one refused send, one send: nothing sent twice');
  });

  it('an unknown peer host is a MigrationError naming the options to set', async () => {
    const inst = newInstance();
    await guestWithMarker(inst);
    await assert.rejects(mdpo(inst, 'compute9'), nova('MigrationError', { code: 400, fragment: '[peer] hosts' }));
  });

  it('a copy corrupted on the way is refused by the destination with its own typed error; the source keeps its store', async () => {
    const inst = newInstance();
    const bytes = await guestWithMarker(inst);
    const stage = B.driver.peerStage.bind(B.driver);
    B.driver.peerStage = (u, body) => stage(u, { ...body, nvram: { ...body.nvram, sha256: '0'.repeat(64) } });
    await assert.rejects(mdpo(inst), nova('MigrationError', { code: 400, fragment: /peer compute2: .*digest mismatch/ }));
    assert.deepEqual(fileBytes(storeOn(A, inst)), bytes);
    assert.equal((await A.journals.get(inst.uuid, 'source'))?.status, 'stashed');
    assert.deepEqual(B.nvramFiles(), [], 'nothing staged from a corrupt copy');
  });

  it('migrate_disk_and_power_off is refused while another migration of the instance is open', async () => {
    const inst = newInstance();
    await guestWithMarker(inst);
    await mdpo(inst);
    await assert.rejects(
      A.driver.migrateDiskAndPowerOff(inst.uuid, { instance: inst, dest: 'compute3', migration: migration('compute1', 'compute3') }),
      nova('InstanceInvalidState', { code: 409 }),
    );
  });

  it('a new migration takes over from one that failed before it sent the store (Nova retries after reset-state)', async () => {
    const inst = newInstance();
    const bytes = await guestWithMarker(inst);
    const first = migration('compute1', 'compute2');
    w.net.down.add('compute2');
    await assert.rejects(A.driver.migrateDiskAndPowerOff(inst.uuid, { instance: inst, dest: 'compute2', migration: first }), nova('MigrationError'));
    assert.equal((await A.journals.get(inst.uuid, 'source'))?.key, first.uuid);
    w.net.down.delete('compute2');
    const second = migration('compute1', 'compute2');
    const out = await A.driver.migrateDiskAndPowerOff(inst.uuid, { instance: inst, dest: 'compute2', migration: second });
    assert.equal(out.nvram?.sha256, sha(bytes));
    const j = await A.journals.get(inst.uuid, 'source');
    assert.equal(j?.key, second.uuid);
    assert.deepEqual(
      j?.history.map((h) => h.status),
      ['stashing', 'stashed', 'sent'],
    );
    await finish(B, inst, second);
    await A.driver.confirmMigration(inst.uuid, { instance: { ...inst, host: 'compute2' }, migration: second });
    await nothingFor(A, inst);
    assert.deepEqual(fileBytes(storeOn(B, inst)), bytes);
  });

  it('finish_migration of a UEFI guest without a received store is a MigrationError (409)', async () => {
    const inst = newInstance('compute2');
    await assert.rejects(finish(B, inst, migration('compute1', 'compute2')), nova('MigrationError', { code: 409 }));
    await nothingFor(B, inst);
  });

  it('finish_migration and confirm_migration are idempotent per migration', async () => {
    const inst = newInstance();
    const bytes = await guestWithMarker(inst);
    await mdpo(inst);
    const mig = migration('compute1', 'compute2');
    await finish(B, inst, mig);
    B.hv.events.length = 0;
    const again = await finish(B, inst, mig);
    assert.equal(again.power_state, PowerState.RUNNING);
    assert.deepEqual(B.hv.events, [], 'the second call changes nothing');
    const confirm = () => A.driver.confirmMigration(inst.uuid, { instance: { ...inst, host: 'compute2' }, migration: mig });
    await confirm();
    await confirm();
    await nothingFor(A, inst);
    assert.deepEqual(fileBytes(storeOn(B, inst)), bytes);
  });
});
