/**
 * driver/recovery: the journals a stopped sidecar left behind, recovered at the next start as
 * Nova's own `_init_instance` recovers a resize: a cold migration cut on the source before it
 * answered is reverted byte for byte, a confirm or revert that Nova had asked for is
 * completed, and anything Nova may still act on (the store sent, the destination side, live
 * migrations) is left for its next call. Flows are cut with injected faults.
 */
import { strict as assert } from 'node:assert';
import { PowerState } from '../../../src/nova/powerState';
import { HypervisorError } from '../../../src/errors';
import {
  UEFI,
  domainName,
  fileBytes,
  makeWorld,
  markStore,
  migration,
  newInstance,
  type Host,
  type Inst,
  type World,
  storeOn,
} from '../../support/driverHarness';

describe('driver/recovery', () => {
  let w: World;
  let A: Host;
  let B: Host;
  beforeEach(async () => {
    w = await makeWorld({ hosts: ['compute1', 'compute2'] });
    [A, B] = w.hosts;
  });
  afterEach(() => w.cleanup());

  const status = async (h: Host, inst: Inst, role: 'source' | 'dest' = 'source') => (await h.journals.get(inst.uuid, role))?.status ?? null;

  async function guestWithMarker(inst: Inst): Promise<Buffer> {
    await A.driver.spawn(inst.uuid, { instance: inst, image_meta: UEFI });
    await A.driver.powerOff(inst.uuid, { instance: inst });
    const bytes = markStore(storeOn(A, inst), `marker-${inst.uuid}`);
    await A.driver.powerOn(inst.uuid, { instance: inst });
    return bytes;
  }

  /** Only the live store on A, the guest running there with it, no journal left. */
  async function backOnA(inst: Inst, bytes: Buffer) {
    assert.deepEqual(fileBytes(storeOn(A, inst)), bytes);
    assert.deepEqual(
      A.nvramFiles().filter((f) => f.includes(domainName(inst))),
      [`${domainName(inst)}_VARS.fd`],
    );
    assert.equal(A.hv.stateOf(domainName(inst)), PowerState.RUNNING);
    assert.equal(await A.journals.get(inst.uuid, 'source'), null);
  }

  const mdpo = (inst: Inst) => A.driver.migrateDiskAndPowerOff(inst.uuid, { instance: inst, dest: 'compute2' });

  it('reverts a migration cut after the stash, before the destination was told (stashed)', async () => {
    const inst = newInstance();
    const bytes = await guestWithMarker(inst);
    w.net.down.add('compute2');
    await assert.rejects(mdpo(inst));
    assert.equal(await status(A, inst), 'stashed');
    const out = await A.driver.recoverJournals();
    assert.deepEqual(
      out.map((o) => [o.instance_uuid, o.status, o.action]),
      [[inst.uuid, 'stashed', 'reverted']],
    );
    await backOnA(inst, bytes);
  });

  it('only closes the journal of a guest that was never stopped (stashing, still running)', async () => {
    const inst = newInstance();
    const bytes = await guestWithMarker(inst);
    A.hv.failNext('destroy');
    await assert.rejects(mdpo(inst), HypervisorError);
    assert.equal(await status(A, inst), 'stashing');
    const before = A.hv.events.length;
    const [o] = await A.driver.recoverJournals();
    assert.equal(o.action, 'closed');
    assert.deepEqual(A.hv.events.slice(before), [], 'the running guest is not touched');
    await backOnA(inst, bytes);
  });

  it('leaves a migration whose store was sent, and the destination side, for Nova', async () => {
    const inst = newInstance();
    const bytes = await guestWithMarker(inst);
    await mdpo(inst);
    const [a] = await A.driver.recoverJournals();
    const [b] = await B.driver.recoverJournals();
    assert.deepEqual([a.status, a.action], ['sent', 'left']);
    assert.deepEqual([b.role, b.status, b.action], ['dest', 'staged', 'left']);
    assert.equal(await status(A, inst), 'sent');
    // Nova's next call finishes it as if nothing had happened.
    const mig = migration('compute1', 'compute2');
    await B.driver.finishMigration(inst.uuid, { instance: { ...inst, host: 'compute2' }, migration: mig, image_meta: UEFI });
    await A.driver.confirmMigration(inst.uuid, { instance: { ...inst, host: 'compute2' }, migration: mig });
    assert.deepEqual(fileBytes(storeOn(B, inst)), bytes);
    assert.deepEqual(A.nvramFiles(), []);
  });

  it('completes a confirm Nova asked for (confirmed) and a revert it asked for (reverting)', async () => {
    const gone = newInstance();
    const bytes = await guestWithMarker(gone);
    await mdpo(gone);
    const mig = migration('compute1', 'compute2');
    await B.driver.finishMigration(gone.uuid, { instance: { ...gone, host: 'compute2' }, migration: mig, image_meta: UEFI });
    A.hv.failNext('destroy');
    await assert.rejects(A.driver.confirmMigration(gone.uuid, { instance: { ...gone, host: 'compute2' }, migration: mig }));
    assert.equal(await status(A, gone), 'confirmed');

    const back = newInstance();
    const backBytes = await guestWithMarker(back);
    await mdpo(back);
    await B.driver.destroy(back.uuid, { instance: { ...back, host: 'compute2' }, destroy_disks: true });
    A.hv.failNext('define');
    await assert.rejects(A.driver.finishRevertMigration(back.uuid, { instance: back, migration: migration('compute1', 'compute2') }));
    assert.equal(await status(A, back), 'reverting');

    const out = await A.driver.recoverJournals();
    assert.deepEqual(out.map((o) => [o.instance_uuid, o.status, o.action]).sort(), [
      ...[
        [gone.uuid, 'confirmed', 'confirmed'],
        [back.uuid, 'reverting', 'reverted'],
      ].sort(),
    ]);
    assert.equal(await A.records.get(gone.uuid), null, 'the confirmed source record is gone');
    assert.equal(await A.hv.getInfo(domainName(gone)), null, 'the source domain is gone');
    assert.deepEqual(fileBytes(storeOn(B, gone)), bytes);
    await backOnA(back, backBytes);
  });

  it('reports a journal it cannot recover and goes on with the others', async () => {
    const stuck = newInstance();
    const stuckBytes = await guestWithMarker(stuck);
    const fine = newInstance();
    const fineBytes = await guestWithMarker(fine);
    w.net.down.add('compute2');
    await assert.rejects(mdpo(stuck));
    await assert.rejects(mdpo(fine));
    A.hv.failNext('define');
    const out = await A.driver.recoverJournals();
    assert.deepEqual(out.map((o) => o.action).sort(), ['failed', 'reverted']);
    const failed = out.find((o) => o.action === 'failed')!;
    assert.match(failed.detail, /injected define failure/);
    assert.ok(A.log.lines.some((l) => l.msg === 'migration journal not recovered' && l.instance_uuid === failed.instance_uuid));
    const [done, left] = out.find((o) => o.action === 'reverted')!.instance_uuid === fine.uuid ? [fine, stuck] : [stuck, fine];
    await backOnA(done, done === fine ? fineBytes : stuckBytes);
    // The failed one is still journalled, for Nova's revert or the next start.
    assert.equal(await status(A, left), 'reverting');
  });
});
