/**
 * Nothing lost: SIGKILL of either sidecar at each journalled step of cold and live
 * migration, then a restart and the next Nova call (a retry) or the revert/rollback, must end
 * with the original NVRAM content and exactly one live copy. Tampered, unsigned, replayed
 * and undeliverable transfers are refused with typed errors and lose nothing.
 */
import { strict as assert } from 'node:assert';
import axios from 'axios';
import { makeHosts, SECRET, type SidecarProcess } from '../support/processes';
import { call, fileSha, liveFinish, liveMove, migration, newInstance, nvramPath, spawnWithMarker, storesFor, UEFI, type Inst } from '../support/novaFlows';
import { signRequest } from '../../src/peer/signing';
import { encodeNvram } from '../../src/peer/transfer';

describe('migration fault tolerance', function () {
  this.timeout(180000);
  let A: SidecarProcess, B: SidecarProcess;
  let cleanup: () => Promise<void>;
  before(async () => {
    const made = await makeHosts([{ name: 'compute1' }, { name: 'compute2' }, { name: 'compute9' }]);
    [A, B] = made.hosts;
    cleanup = made.cleanup; // compute9 is never started: an unreachable peer
    await Promise.all([A.start(), B.start()]);
  });
  after(async () => cleanup());

  /** Fire `step`, expect the armed host to die, restart it clean. */
  async function crashOn(host: SidecarProcess, point: string, step: () => Promise<unknown>) {
    await host.stop();
    await host.start([point]);
    await step().catch(() => undefined);
    assert.equal(await host.waitExit(), 'SIGKILL', `${host.name} should have died at ${point}`);
    await host.start();
  }

  function assertOnlyOn(owner: SidecarProcess, other: SidecarProcess, inst: Inst, want: string) {
    assert.equal(fileSha(nvramPath(owner, inst)), want, `content on ${owner.name}`);
    assert.deepEqual(storesFor(owner, inst), [nvramPath(owner, inst).split('/').pop()], `only the live store on ${owner.name}`);
    assert.deepEqual(storesFor(other, inst), [], `nothing left on ${other.name}`);
  }

  const coldPoints: [string, 'A' | 'B', 'retry-confirm' | 'revert'][] = [
    ['mdpo:stashing', 'A', 'retry-confirm'],
    ['mdpo:stashed-before-journal', 'A', 'revert'],
    ['mdpo:sent-before-journal', 'A', 'retry-confirm'],
    ['stage:written-before-journal', 'B', 'retry-confirm'],
    ['stage:written-before-journal', 'B', 'revert'],
    ['finish:installed-before-define', 'B', 'retry-confirm'],
    ['finish:installed-before-define', 'B', 'revert'],
    ['confirm:journalled', 'A', 'retry-confirm'],
    ['revert:restored-before-define', 'A', 'revert'],
  ];
  for (const [point, who, then] of coldPoints) {
    it(`cold migration: SIGKILL of ${who === 'A' ? 'the source' : 'the destination'} at ${point}, then ${then}`, async () => {
      const inst = newInstance('compute1');
      const want = await spawnWithMarker(A, inst);
      const mig = migration('compute1', 'compute2');
      const moved = { ...inst, host: 'compute2' };
      const mdpo = () => call(A, inst.uuid, 'migrate_disk_and_power_off', { instance: inst, dest: 'compute2', flavor: inst.flavor });
      const finish = () =>
        call(B, inst.uuid, 'finish_migration', { migration: mig, instance: moved, disk_info: '[]', image_meta: UEFI, resize_instance: true });
      const confirm = () => call(A, inst.uuid, 'confirm_migration', { migration: mig, instance: moved });
      const revert = async () => {
        await call(B, inst.uuid, 'destroy', { instance: moved, destroy_disks: true });
        await call(A, inst.uuid, 'finish_revert_migration', { instance: inst, migration: mig });
      };
      const host = who === 'A' ? A : B;
      const steps: [string, () => Promise<unknown>][] = [
        ['mdpo', mdpo],
        ['finish', finish],
        ['confirm', confirm],
      ];
      const crashStep =
        point.startsWith('mdpo') || point.startsWith('stage')
          ? 'mdpo'
          : point.startsWith('finish')
            ? 'finish'
            : point.startsWith('confirm')
              ? 'confirm'
              : 'revert';
      if (crashStep === 'revert') {
        await mdpo();
        await finish();
        await call(B, inst.uuid, 'destroy', { instance: moved, destroy_disks: true });
        await crashOn(host, point, () => call(A, inst.uuid, 'finish_revert_migration', { instance: inst, migration: mig }));
        await call(A, inst.uuid, 'finish_revert_migration', { instance: inst, migration: mig });
        assertOnlyOn(A, B, inst, want);
        return;
      }
      for (const [name, fn] of steps) {
        if (name === crashStep) {
          await crashOn(host, point, fn);
          if (then === 'revert') {
            await revert();
            assertOnlyOn(A, B, inst, want);
            return;
          }
          await fn(); // Nova retries the step that failed
        } else {
          await fn();
        }
      }
      assertOnlyOn(B, A, inst, want);
    });
  }

  const livePoints: [string, 'A' | 'B', 'retry' | 'rollback'][] = [
    ['pre_live:written-before-journal', 'B', 'retry'],
    ['live:prepared', 'A', 'retry'],
    ['live:arrived-before-undefine', 'A', 'rollback'],
    ['live:migrated-before-journal', 'A', 'retry'],
    ['post_src:journalled', 'A', 'retry'],
  ];
  for (const [point, who, then] of livePoints) {
    it(`live migration: SIGKILL of ${who === 'A' ? 'the source' : 'the destination'} at ${point}, then ${then}`, async () => {
      const inst = newInstance('compute1');
      const want = await spawnWithMarker(A, inst);
      const host = who === 'A' ? A : B;
      if (point.startsWith('pre_live')) {
        await B.stop();
        await B.start([point]);
        await liveMove(A, B, inst).catch(() => undefined);
        assert.equal(await B.waitExit(), 'SIGKILL');
        await B.start();
        const { migrate_data } = await liveMove(A, B, inst);
        await liveFinish(A, B, inst, migrate_data);
        assertOnlyOn(B, A, inst, want);
        return;
      }
      const { migrate_data } = await liveMove(A, B, inst);
      const lm = () => call(A, inst.uuid, 'live_migration', { instance: inst, dest: 'compute2', migrate_data });
      if (point.startsWith('post_src')) {
        await lm();
        await call(A, inst.uuid, 'post_live_migration', { instance: inst, migrate_data });
        await crashOn(host, point, () => call(A, inst.uuid, 'post_live_migration_at_source', { instance: inst }));
        await call(A, inst.uuid, 'post_live_migration_at_source', { instance: inst });
        await call(A, inst.uuid, 'cleanup', { instance: inst, destroy_disks: true, migrate_data });
        await call(B, inst.uuid, 'post_live_migration_at_destination', { instance: { ...inst, host: 'compute2' } });
        assertOnlyOn(B, A, inst, want);
        return;
      }
      await crashOn(host, point, lm);
      if (then === 'rollback') {
        await call(B, inst.uuid, 'rollback_live_migration_at_destination', { instance: inst, migrate_data });
        await call(A, inst.uuid, 'rollback_live_migration_at_source', { instance: inst, migrate_data });
        assertOnlyOn(A, B, inst, want);
        const g = await A.http.get(`/v1/instances/${inst.uuid}`);
        assert.equal(g.data.power_state, 1);
        return;
      }
      await liveFinish(A, B, inst, migrate_data);
      assertOnlyOn(B, A, inst, want);
    });
  }

  describe('refused transfers', () => {
    async function peerPut(host: SidecarProcess, uuid: string, body: object, secret = SECRET, reuse?: Record<string, string>) {
      const p = `/v1/peer/instances/${uuid}/nvram`;
      const raw = Buffer.from(JSON.stringify(body));
      const headers = reuse ?? signRequest(secret, 'PUT', p, host.name, raw);
      const r = await axios.put(host.url + p, raw, {
        headers: { ...headers, 'content-type': 'application/json' },
        validateStatus: () => true,
        transformRequest: [(d) => d],
      });
      return { r, headers };
    }
    const content = Buffer.alloc(540_672, 0xff);

    it('refuses a tampered store (digest mismatch) and stages nothing', async () => {
      const inst = newInstance('compute1');
      const payload = encodeNvram(content);
      payload.sha256 = '0'.repeat(64);
      const { r } = await peerPut(B, inst.uuid, { kind: 'cold', key: 'k', name: 'instance-0000ffff', source_host: 'compute1', firmware: null, nvram: payload });
      assert.equal(r.status, 400, JSON.stringify(r.data));
      assert.equal(r.data.error.type, 'MigrationError');
      assert.match(r.data.error.message, /digest mismatch/);
      assert.deepEqual(
        B.nvramFiles().filter((f) => f.includes('0000ffff')),
        [],
      );
    });

    it('refuses a wrong signature and a replayed one', async () => {
      const inst = newInstance('compute1');
      const body = { kind: 'cold', key: 'k2', name: 'instance-0000fffe', source_host: 'compute1', firmware: null, nvram: encodeNvram(content) };
      const bad = await peerPut(B, inst.uuid, body, 'not-the-secret');
      assert.equal(bad.r.status, 401);
      assert.equal(bad.r.data.error.type, 'NotAuthorized');
      const ok = await peerPut(B, inst.uuid, body);
      assert.equal(ok.r.status, 200, JSON.stringify(ok.r.data));
      const again = await peerPut(B, inst.uuid, body, SECRET, ok.headers);
      assert.equal(again.r.status, 401);
      assert.match(again.r.data.error.message, /replayed/);
      await call(B, inst.uuid, 'destroy', { instance: inst }); // drops the staged copy
      assert.deepEqual(
        B.nvramFiles().filter((f) => f.includes('0000fffe')),
        [],
      );
    });

    it('reports an unreachable peer as MigrationError and keeps the source copy and domain; revert restores it', async () => {
      const inst = newInstance('compute1');
      const want = await spawnWithMarker(A, inst);
      const r = await A.http.post(`/v1/instances/${inst.uuid}/migrate_disk_and_power_off`, { instance: inst, dest: 'compute9', flavor: inst.flavor });
      assert.equal(r.status, 502, JSON.stringify(r.data));
      assert.equal(r.data.error.type, 'MigrationError');
      assert.match(r.data.error.message, /compute9/);
      assert.equal(fileSha(nvramPath(A, inst)), want);
      const g = await A.http.get(`/v1/instances/${inst.uuid}`);
      assert.equal(g.status, 200);
      await call(A, inst.uuid, 'finish_revert_migration', { instance: inst, migration: migration('compute1', 'compute9') });
      assertOnlyOn(A, B, inst, want);
      assert.equal((await A.http.get(`/v1/instances/${inst.uuid}`)).data.power_state, 1);
    });
  });
});
