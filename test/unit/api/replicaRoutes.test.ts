/**
 * api/replicaRoutes through the app on loopback over in-memory hosts sharing a replica store:
 * the orphans listed, a prune that is a dry run unless `dry_run` is false, a body that does not
 * fit the schema refused naming the field, and 409 on a host without replicas.
 */
import { strict as assert } from 'node:assert';
import { createApp } from '../../../src/api/app';
import { listenLoopback, type Loopback } from '../../support/loopback';
import { MemoryReplicaStore } from '../../support/memoryReplicaStore';
import { makeWorld, newInstance, UEFI, type Host, type World } from '../../support/driverHarness';

function serve(h: Host): Promise<Loopback> {
  const app = createApp({ driver: h.driver, log: h.log, settings: () => ({ auth_token: '', metrics_open: false }), host: h.name, backend: 'embedded' });
  return listenLoopback(app);
}

type Orphans = { backend: string; orphans: { instance_uuid: string; generations: number[]; owner: string }[]; kept: { instance_uuid: string; why: string }[] };
type Pruned = { dry_run: boolean; orphans: { instance_uuid: string }[]; removed: { instance_uuid: string; objects: number }[] };

describe('api/replicaRoutes', () => {
  let w: World;
  let A: Host;
  let srv: Loopback;
  afterEach(async () => {
    await srv.close();
    w.cleanup();
  });

  describe('with replicas', () => {
    let live: string, gone: string;
    beforeEach(async () => {
      w = await makeWorld({ replicaStore: new MemoryReplicaStore() });
      [A] = w.hosts;
      const i = newInstance();
      const j = newInstance();
      [live, gone] = [i.uuid, j.uuid];
      for (const x of [i, j]) await A.driver.spawn(x.uuid, { instance: x, image_meta: UEFI });
      await A.replicas!.idle();
      // Destroyed without Nova's task state: a tombstone makes its replicas orphans.
      await A.driver.destroy(j.uuid, { instance: j, destroy_disks: true });
      await A.replicas!.idle();
      srv = await serve(A);
    });
    const prune = (body: unknown) =>
      fetch(`${srv.base}/v1/replicas/orphans/prune`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

    it('GET /v1/replicas/orphans lists the orphan and keeps the live instance with why', async () => {
      const r = await fetch(`${srv.base}/v1/replicas/orphans`);
      assert.equal(r.status, 200);
      const b = (await r.json()) as Orphans;
      assert.deepEqual(
        b.orphans.map((o) => [o.instance_uuid, o.generations, o.owner]),
        [[gone, [1], 'compute1']],
      );
      assert.deepEqual(
        b.kept.map((k) => k.instance_uuid),
        [live],
      );
      assert.match(b.kept[0].why, /^this host has a record of it/);
    });

    it('a prune is a dry run unless dry_run is false; then it removes the orphan only', async () => {
      const dry = (await (await prune({})).json()) as Pruned;
      assert.equal(dry.dry_run, true);
      assert.deepEqual(
        dry.orphans.map((o) => o.instance_uuid),
        [gone],
      );
      assert.deepEqual(dry.removed, []);
      assert.deepEqual((await A.replicas!.instances()).sort(), [live, gone].sort());
      const real = await prune({ dry_run: false, instances: [gone] });
      assert.equal(real.status, 200);
      const b = (await real.json()) as Pruned;
      assert.equal(b.dry_run, false);
      assert.deepEqual(
        b.removed.map((x) => x.instance_uuid),
        [gone],
      );
      assert.deepEqual(await A.replicas!.instances(), [live]);
    });

    it('refuses a body that does not fit the schema naming the field, and a named instance that is not orphaned (409)', async () => {
      for (const [body, field] of [
        [{ dry_run: 'no' }, 'dry_run'],
        [{ instances: [] }, 'instances'],
        [{ instances: ['not-a-uuid'] }, 'instances'],
        [{ everything: true }, 'everything'],
      ] as const) {
        const r = await prune(body);
        assert.equal(r.status, 400, JSON.stringify(body));
        const e = ((await r.json()) as { error: { type: string; message: string } }).error;
        assert.equal(e.type, 'InvalidInput');
        assert.match(e.message, new RegExp(`Invalid input received: ${field}`), e.message);
      }
      const r = await prune({ dry_run: false, instances: [live] });
      assert.equal(r.status, 409);
      assert.match(((await r.json()) as { error: { message: string } }).error.message, new RegExp(`not orphaned: ${live}`));
      assert.deepEqual((await A.replicas!.instances()).sort(), [live, gone].sort(), 'nothing removed');
    });
  });

  it('a host without replicas answers 409 Invalid on both routes', async () => {
    w = await makeWorld();
    [A] = w.hosts;
    srv = await serve(A);
    for (const r of [
      await fetch(`${srv.base}/v1/replicas/orphans`),
      await fetch(`${srv.base}/v1/replicas/orphans/prune`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }),
    ]) {
      assert.equal(r.status, 409);
      const e = ((await r.json()) as { error: { type: string; message: string } }).error;
      assert.equal(e.type, 'Invalid');
      assert.match(e.message, /\[replica\] backend = none/);
    }
  });
});
