/**
 * Nova's call sequences for moves, as the compute manager issues them, against sidecar
 * processes. Each step asserts HTTP 200 unless the caller asks for the raw answer.
 */
import { strict as assert } from 'node:assert';
import { createHash, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { SidecarProcess } from './processes';

export const UEFI = { properties: { hw_firmware_type: 'uefi', hw_machine_type: 'q35' } };
export const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let nextId = 0x100;
export function newInstance(host: string) {
  return { uuid: randomUUID(), id: nextId++, host, vcpus: 1, memory_mb: 256, flavor: { name: 'small', vcpus: 1, memory_mb: 256, extra_specs: {} } };
}
export type Inst = ReturnType<typeof newInstance>;

export async function call(h: SidecarProcess, uuid: string, method: string, body: object, want = 200) {
  const r = await h.http.post(`/v1/instances/${uuid}/${method}`, body);
  assert.equal(r.status, want, `${h.name} ${method}: ${r.status} ${JSON.stringify(r.data)}`);
  return r.data;
}

export function nvramPath(h: SidecarProcess, inst: Inst): string {
  return path.join(h.nvramDir, `instance-${inst.id.toString(16).padStart(8, '0')}_VARS.fd`);
}

/** Spawn, then write a marker while shut off (as a guest would have written a variable). Returns the store's sha256. */
export async function spawnWithMarker(h: SidecarProcess, inst: Inst): Promise<string> {
  await call(h, inst.uuid, 'spawn', { instance: inst, image_meta: UEFI });
  await call(h, inst.uuid, 'power_off', { instance: inst });
  const r = await h.http.get(`/v1/instances/${inst.uuid}/nvram`, { responseType: 'arraybuffer' });
  assert.equal(r.status, 200);
  const data = Buffer.from(r.data);
  data.write(`marker-${inst.uuid}`, 0x1800);
  const put = await h.http.put(`/v1/instances/${inst.uuid}/nvram`, data, { headers: { 'Content-Type': 'application/octet-stream' } });
  assert.equal(put.status, 200, JSON.stringify(put.data));
  await call(h, inst.uuid, 'power_on', { instance: inst });
  return sha(data);
}

export function migration(src: string, dst: string, type = 'resize') {
  return { uuid: randomUUID(), source_compute: src, dest_compute: dst, migration_type: type, status: 'migrating' };
}

/** Only the live store and nothing staged or stashed: the files an idle host should hold for this instance. */
export function storesFor(h: SidecarProcess, inst: Inst): string[] {
  const name = `instance-${inst.id.toString(16).padStart(8, '0')}`;
  return h.nvramFiles().filter((f) => f.includes(name));
}

export function fileSha(p: string): string | null {
  return fs.existsSync(p) ? sha(fs.readFileSync(p)) : null;
}

export async function coldMove(src: SidecarProcess, dst: SidecarProcess, inst: Inst, mig = migration(src.name, dst.name)) {
  const out = await call(src, inst.uuid, 'migrate_disk_and_power_off', { instance: inst, dest: dst.name, flavor: inst.flavor, network_info: [] });
  const moved = { ...inst, host: dst.name };
  await call(dst, inst.uuid, 'finish_migration', {
    migration: mig,
    instance: moved,
    disk_info: out.disk_info,
    image_meta: UEFI,
    resize_instance: true,
    power_on: true,
    network_info: [],
  });
  return { mig, moved, out };
}

export async function liveMove(src: SidecarProcess, dst: SidecarProcess, inst: Inst) {
  const mig = migration(src.name, dst.name, 'live-migration');
  const d = await call(dst, inst.uuid, 'check_can_live_migrate_destination', {
    instance: inst,
    src_compute_info: {},
    dst_compute_info: {},
    block_migration: false,
  });
  const s = await call(src, inst.uuid, 'check_can_live_migrate_source', { instance: inst, dest_check_data: { ...d.migrate_data, migration: mig } });
  const p = await call(dst, inst.uuid, 'pre_live_migration', {
    instance: inst,
    block_device_info: {},
    network_info: [],
    disk_info: null,
    migrate_data: s.migrate_data,
  });
  return { mig, migrate_data: p.migrate_data };
}

export async function liveFinish(src: SidecarProcess, dst: SidecarProcess, inst: Inst, migrate_data: object) {
  await call(src, inst.uuid, 'live_migration', { instance: inst, dest: dst.name, migrate_data, block_migration: false });
  await call(src, inst.uuid, 'post_live_migration', { instance: inst, block_device_info: {}, migrate_data });
  await call(src, inst.uuid, 'post_live_migration_at_source', { instance: inst, network_info: [] });
  await call(src, inst.uuid, 'cleanup', { instance: inst, network_info: [], destroy_disks: true, migrate_data });
  await call(dst, inst.uuid, 'post_live_migration_at_destination', { instance: { ...inst, host: dst.name }, network_info: [], block_migration: false });
}
