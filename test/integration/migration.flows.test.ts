/**
 * Moves between two or three sidecar processes (embedded backend): the NVRAM must arrive
 * byte for byte on the host that owns the instance, and no stray copy may stay behind.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { makeHosts, type SidecarProcess } from '../support/processes';
import { firmwareTree, makeFile, SIZES } from '../support/firmwareFixture';
import { call, coldMove, fileSha, liveFinish, liveMove, migration, newInstance, nvramPath, spawnWithMarker, storesFor, UEFI } from '../support/novaFlows';

describe('migrations between sidecar processes', function () {
  this.timeout(120000);
  let A: SidecarProcess, B: SidecarProcess, C: SidecarProcess;
  let cleanup: () => Promise<void>;

  before(async () => {
    // compute3 has a different code build (2M OVMF): live migration must be refused there.
    const made = await makeHosts([{ name: 'compute1' }, { name: 'compute2' }, { name: 'compute3', fw: undefined }]);
    [A, B, C] = made.hosts;
    const other = firmwareTree(path.join(made.root, 'fw-2m'));
    other.map['firmware:x86_64'] = {
      loader: makeFile(path.join(made.root, 'fw-2m', 'OVMF_CODE.fd'), SIZES.ovmf2mCode, 0xff, 'CODE2M'),
      nvram_template: makeFile(path.join(made.root, 'fw-2m', 'OVMF_VARS.fd'), SIZES.ovmf2mVars, 0xff, 'VARS2M'),
    };
    (C as { fw: unknown }).fw = other;
    const conf = fs
      .readFileSync(C.confFile, 'utf8')
      .replace(
        /\[firmware:x86_64\][^[]*/s,
        `[firmware:x86_64]\nloader = ${other.map['firmware:x86_64'].loader}\nnvram_template = ${other.map['firmware:x86_64'].nvram_template}\n`,
      );
    fs.writeFileSync(C.confFile, conf);
    cleanup = made.cleanup;
    await Promise.all([A.start(), B.start(), C.start()]);
  });
  after(async () => cleanup());

  it('resize + confirm carries the store to the destination and leaves nothing on the source', async () => {
    const inst = newInstance('compute1');
    const want = await spawnWithMarker(A, inst);
    const { mig, moved, out } = await coldMove(A, B, inst);
    assert.equal(out.nvram.sha256, want);
    assert.equal(typeof out.disk_info, 'string');
    assert.equal(fileSha(nvramPath(B, inst)), want);
    const g = await B.http.get(`/v1/instances/${inst.uuid}`);
    assert.equal(g.data.power_state, 1);
    assert.equal(g.data.nvram.sha256, want);
    await call(A, inst.uuid, 'confirm_migration', { migration: mig, instance: moved, network_info: [] });
    assert.deepEqual(storesFor(A, inst), []);
    assert.deepEqual(storesFor(B, inst), [path.basename(nvramPath(B, inst))]);
    assert.equal((await A.http.get(`/v1/instances/${inst.uuid}`)).status, 404);
  });

  it("carries the caller's request id through the flow and on to the destination sidecar's log", async () => {
    const inst = newInstance('compute1');
    await spawnWithMarker(A, inst);
    const rid = `req-${randomUUID()}`;
    const r = await A.http.post(
      `/v1/instances/${inst.uuid}/migrate_disk_and_power_off`,
      { instance: inst, dest: B.name, flavor: inst.flavor, network_info: [] },
      { headers: { 'X-OpenStack-Request-ID': rid } },
    );
    assert.equal(r.status, 200, JSON.stringify(r.data));
    const lines = (h: SidecarProcess) =>
      h.log
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(lines(A).some((l) => l.msg === 'migrate_disk_and_power_off done' && l.instance_uuid === inst.uuid && l.request_id === rid));
    assert.ok(lines(B).some((l) => l.msg === 'NVRAM staged' && l.instance_uuid === inst.uuid && l.request_id === rid));
    const mig = migration(A.name, B.name);
    const moved = { ...inst, host: B.name };
    await call(B, inst.uuid, 'finish_migration', {
      migration: mig,
      instance: moved,
      disk_info: r.data.disk_info,
      image_meta: UEFI,
      resize_instance: true,
      power_on: true,
      network_info: [],
    });
    await call(A, inst.uuid, 'confirm_migration', { migration: mig, instance: moved, network_info: [] });
  });

  it('resize + revert restores the source store byte-identical and leaves nothing on the destination', async () => {
    const inst = newInstance('compute1');
    const want = await spawnWithMarker(A, inst);
    const { mig, moved } = await coldMove(A, B, inst);
    await call(B, inst.uuid, 'destroy', { instance: moved, network_info: [], destroy_disks: true });
    await call(A, inst.uuid, 'finish_revert_migration', { instance: inst, network_info: [], migration: mig, power_on: true });
    assert.equal(fileSha(nvramPath(A, inst)), want);
    assert.deepEqual(storesFor(A, inst), [path.basename(nvramPath(A, inst))]);
    assert.deepEqual(storesFor(B, inst), []);
    const g = await A.http.get(`/v1/instances/${inst.uuid}`);
    assert.equal(g.data.power_state, 1);
  });

  it('cold migration + confirm, then back with revert, keeps the content', async () => {
    const inst = newInstance('compute2');
    const want = await spawnWithMarker(B, inst);
    const first = await coldMove(B, A, inst, migration('compute2', 'compute1', 'migration'));
    await call(B, inst.uuid, 'confirm_migration', { migration: first.mig, instance: first.moved });
    assert.equal(fileSha(nvramPath(A, inst)), want);
    assert.deepEqual(storesFor(B, inst), []);
    const back = await coldMove(A, B, first.moved, migration('compute1', 'compute2', 'migration'));
    await call(B, inst.uuid, 'destroy', { instance: back.moved, destroy_disks: true });
    await call(A, inst.uuid, 'finish_revert_migration', { instance: first.moved, migration: back.mig });
    assert.equal(fileSha(nvramPath(A, inst)), want);
    assert.deepEqual(storesFor(B, inst), []);
  });

  it('same-host resize keeps the live store, confirm drops only the stash, revert restores it', async () => {
    const inst = newInstance('compute1');
    const want = await spawnWithMarker(A, inst);
    const mig = migration('compute1', 'compute1');
    await call(A, inst.uuid, 'migrate_disk_and_power_off', { instance: inst, dest: 'compute1', flavor: inst.flavor });
    assert.equal(storesFor(A, inst).length, 2, 'live store + stash');
    const bigger = { ...inst, flavor: { ...inst.flavor, vcpus: 2, memory_mb: 512 } };
    const f = await call(A, inst.uuid, 'finish_migration', { migration: mig, instance: bigger, disk_info: '[]', image_meta: UEFI, resize_instance: true });
    assert.match(f.domain_xml, /<vcpu[^>]*>2<\/vcpu>/);
    assert.equal(fileSha(nvramPath(A, inst)), want);
    await call(A, inst.uuid, 'confirm_migration', { migration: mig, instance: bigger });
    assert.deepEqual(storesFor(A, inst), [path.basename(nvramPath(A, inst))]);
    assert.equal(fileSha(nvramPath(A, inst)), want);
    // And a same-host revert: destroy on the "destination" (same host), then revert from the stash.
    const mig2 = migration('compute1', 'compute1');
    await call(A, inst.uuid, 'migrate_disk_and_power_off', { instance: bigger, dest: 'compute1', flavor: inst.flavor });
    await call(A, inst.uuid, 'finish_migration', { migration: mig2, instance: inst, disk_info: '[]', image_meta: UEFI, resize_instance: true });
    await call(A, inst.uuid, 'destroy', { instance: inst, destroy_disks: true });
    await call(A, inst.uuid, 'finish_revert_migration', { instance: bigger, migration: mig2 });
    assert.equal(fileSha(nvramPath(A, inst)), want);
    assert.deepEqual(storesFor(A, inst), [path.basename(nvramPath(A, inst))]);
  });

  it('live migration moves the guest and its store and cleans up the source', async () => {
    const inst = newInstance('compute1');
    const want = await spawnWithMarker(A, inst);
    const { migrate_data } = await liveMove(A, B, inst);
    await liveFinish(A, B, inst, migrate_data);
    assert.equal(fileSha(nvramPath(B, inst)), want);
    assert.deepEqual(storesFor(A, inst), []);
    const g = await B.http.get(`/v1/instances/${inst.uuid}`);
    assert.equal(g.status, 200);
    assert.equal(g.data.power_state, 1);
    assert.equal(g.data.nvram.sha256, want);
    assert.equal((await A.http.get(`/v1/instances/${inst.uuid}`)).status, 404);
  });

  it('refuses live migration to a host with a different firmware build before anything moves', async () => {
    const inst = newInstance('compute1');
    const want = await spawnWithMarker(A, inst);
    const r = await C.http.post(`/v1/instances/${inst.uuid}/check_can_live_migrate_destination`, {
      instance: inst,
      src_compute_info: {},
      dst_compute_info: {},
    });
    assert.equal(r.status, 400, JSON.stringify(r.data));
    assert.equal(r.data.error.type, 'MigrationPreCheckError');
    assert.deepEqual(storesFor(C, inst), []);
    assert.equal(fileSha(nvramPath(A, inst)), want);
  });

  it('live migration rollback keeps the source running with its store and leaves nothing on the destination', async () => {
    const inst = newInstance('compute1');
    const want = await spawnWithMarker(A, inst);
    const { migrate_data } = await liveMove(A, B, inst);
    assert.equal(storesFor(B, inst).length, 1, 'pre_live_migration put a copy in place');
    await call(B, inst.uuid, 'rollback_live_migration_at_destination', {
      instance: inst,
      network_info: [],
      block_device_info: {},
      destroy_disks: true,
      migrate_data,
    });
    await call(A, inst.uuid, 'rollback_live_migration_at_source', { instance: inst, migrate_data });
    assert.deepEqual(storesFor(B, inst), []);
    assert.equal(fileSha(nvramPath(A, inst)), want);
    const g = await A.http.get(`/v1/instances/${inst.uuid}`);
    assert.equal(g.data.power_state, 1);
  });
});
