/**
 * @module driver/liveMigration
 * Live migration in Nova's order: dest `check_can_live_migrate_destination` → src
 * `check_can_live_migrate_source` → dest `pre_live_migration` → src `live_migration` → src
 * `post_live_migration` → src `post_live_migration_at_source` → src `cleanup` → dest
 * `post_live_migration_at_destination`; on failure `rollback_live_migration_at_*`.
 *
 * QEMU carries pflash contents in the migration stream and rewrites the destination file at
 * the first resume, but only if the destination can map a file of the same size from the
 * same code build: the pre-checks refuse anything else before a byte moves. The
 * destination gets a copy of the store in pre_live_migration (so the file exists when the
 * guest arrives); the source deletes its copy only after it has verified the destination's
 * digest equals its own.
 */
import { promises as fsp } from 'node:fs';
import type { DriverCore } from './core';
import type { InstanceView } from './contract';
import type { NovaInstance } from '../nova/objects';
import type { InstanceRecord } from '../state/records';
import type { MigrationJournal } from '../state/journal';
import type { FirmwareSelection } from '../firmware/types';
import type { MigrationDeps } from './coldMigration';
import { encodeNvram, decodeNvram, type NvramPayload } from '../peer/transfer';
import { crashPoint } from './faults';
import { setNvramPath, setSerialSocketPath } from '../domainXml';
import { InstanceInvalidState, InvalidInput, MigrationError, MigrationPreCheckError, NovaError } from '../errors';
import { PowerState } from '../hypervisor/types';

type MigrateData = Record<string, unknown> & { uefi_shim?: ShimMigrateData; migration?: { uuid?: string } };

/** What the sidecars add to Nova's migrate_data (Nova's LibvirtLiveMigrateData has no firmware field). */
export interface ShimMigrateData {
  dest_host: string;
  /** libvirt URI the destination reported from its own config. */
  migration_uri: string;
  source_host?: string;
  firmware?: FirmwareSelection | null;
  nvram?: { size: number; sha256: string } | null;
  dest_nvram_path?: string | null;
  /** QEMU migration stream address on the destination (`[libvirt] live_migration_inbound_addr`). */
  migrate_uri?: string | null;
  /** Serial console socket the destination binds for this guest, when it has one. */
  dest_serial_socket?: string | null;
}

export interface PeerInstanceState {
  record: InstanceRecord;
  domain_xml: string | null;
  power_state: number;
  nvram_size: number | null;
  nvram: NvramPayload | null;
}

async function size(p: string | null | undefined): Promise<number | null> {
  if (!p) return null;
  const st = await fsp.stat(p).catch(() => null);
  return st ? st.size : null;
}

function ownMigrationUri(core: DriverCore): string {
  const c = core.deps.config;
  return c.libvirt.migration_uri || `qemu+tcp://${c.DEFAULT.host}/system`;
}

function keyOf(md: MigrateData | undefined, uuid: string): string {
  return md?.migration?.uuid ?? `live:${uuid}`;
}

/**
 * Can this host run `fw` with a store of `storeSize` bytes? It must list the same loader in
 * its own firmware (map or descriptors), with a template of the same size (same build).
 * Returns the reason when not.
 */
export async function cannotRun(core: DriverCore, fw: FirmwareSelection | null | undefined, storeSize: number | null | undefined): Promise<string | null> {
  if (!fw) return null;
  const inv = core.deps.firmware.refresh();
  const mine = inv.entries.filter((e) => e.executable === fw.loader && e.stateless === fw.stateless);
  if (!mine.length) return `loader ${fw.loader} is not in this host's firmware map or descriptors`;
  if (fw.stateless) return null;
  const sizes = await Promise.all(mine.map((e) => size(e.nvramTemplate)));
  if (storeSize !== null && storeSize !== undefined && !sizes.includes(storeSize)) {
    return `this host pairs ${fw.loader} with ${sizes.filter((x) => x !== null).join('/') || 'no'}-byte templates, the guest's store is ${storeSize} bytes (different firmware build)`;
  }
  return null;
}

/** Peer endpoint: the source's record, XML, power state and (optionally) its live store. */
export async function peerInstanceState(core: DriverCore, uuid: string, withNvram: boolean): Promise<PeerInstanceState> {
  const rec = await core.mustRecord(uuid);
  const info = await core.hv.getInfo(rec.name);
  const store = rec.nvramPath ? await core.deps.nvram.info(rec.nvramPath) : null;
  const data = withNvram && store ? encodeNvram(await core.deps.nvram.read(store.path)) : null;
  return { record: rec, domain_xml: await core.hv.getXml(rec.name), power_state: info?.state ?? PowerState.NOSTATE, nvram_size: store?.size ?? null, nvram: data };
}

export async function checkCanLiveMigrateDestination(core: DriverCore, md: MigrationDeps, uuid: string, a: { instance: NovaInstance; block_migration?: boolean; disk_over_commit?: boolean }): Promise<{ migrate_data: MigrateData }> {
  core.checkUuid(uuid, a.instance);
  const src = a.instance.host;
  if (!src) throw new InvalidInput('instance.host', 'required (the source compute host)');
  if (md.peer.isSelf(String(src), md.selfUrl)) throw new MigrationPreCheckError('Attempt to migrate guest to the same host');
  let state: PeerInstanceState;
  try {
    state = await md.peer.call<PeerInstanceState>(String(src), 'GET', `/v1/peer/instances/${uuid}/state`);
  } catch (e) {
    throw new MigrationPreCheckError(`cannot read the guest's firmware from the source sidecar: ${(e as Error).message}`);
  }
  const fw = state.record.firmware;
  const storeSize = state.nvram_size;
  const why = await cannotRun(core, fw, storeSize);
  if (why) throw new MigrationPreCheckError(`destination ${core.deps.config.DEFAULT.host} cannot run the same firmware build: ${why}`);
  const theirs = core.deps.nvram.pathFor(state.record.name);
  if ((await core.deps.nvram.exists(theirs)) && !(await md.journals.get(uuid, 'dest'))) {
    throw new MigrationPreCheckError(`a variable store ${theirs} already exists on the destination`);
  }
  return {
    migrate_data: {
      block_migration: a.block_migration ?? false,
      disk_over_commit: a.disk_over_commit ?? false,
      uefi_shim: {
        dest_host: core.deps.config.DEFAULT.host,
        migration_uri: ownMigrationUri(core),
        migrate_uri: core.deps.config.libvirt.live_migration_inbound_addr ? `tcp://${core.deps.config.libvirt.live_migration_inbound_addr}` : null,
        dest_serial_socket: core.serialSocket(state.record.name) ?? null,
        source_host: String(src),
        firmware: fw, nvram: storeSize !== null ? { size: storeSize, sha256: '' } : null },
    },
  };
}

export async function checkCanLiveMigrateSource(core: DriverCore, _md: MigrationDeps, uuid: string, a: { instance: NovaInstance; dest_check_data?: MigrateData }): Promise<{ migrate_data: MigrateData }> {
  core.checkUuid(uuid, a.instance);
  const rec = await core.mustRecord(uuid);
  const d = a.dest_check_data ?? {};
  const shim = d.uefi_shim;
  if (!shim) throw new MigrationPreCheckError('the destination did not report nova-uefi-shim data (check_can_live_migrate_destination must run on a shim host)');
  const mine = rec.firmware;
  const theirs = shim.firmware;
  if (mine && (!theirs || theirs.loader !== mine.loader || theirs.nvram_template !== mine.nvram_template)) {
    throw new MigrationPreCheckError(`destination ${shim.dest_host} accepted firmware ${theirs?.loader ?? 'none'}, the guest runs ${mine.loader}`);
  }
  const info = rec.nvramPath ? await core.deps.nvram.info(rec.nvramPath) : null;
  if (info && shim.nvram && shim.nvram.size && shim.nvram.size !== info.size) {
    throw new MigrationPreCheckError(`destination ${shim.dest_host} expects a ${shim.nvram.size}-byte store, the guest's is ${info.size} bytes`);
  }
  return {
    migrate_data: {
      ...d,
      is_shared_block_storage: false,
      is_shared_instance_path: false,
      uefi_shim: { ...shim, source_host: core.deps.config.DEFAULT.host, firmware: mine, nvram: info ? { size: info.size, sha256: info.sha256 } : null },
    },
  };
}

export async function preLiveMigration(core: DriverCore, md: MigrationDeps, uuid: string, a: { instance: NovaInstance; migrate_data?: MigrateData }): Promise<{ migrate_data: MigrateData }> {
  const { deps } = core;
  core.checkUuid(uuid, a.instance);
  const mdata = a.migrate_data ?? {};
  const shim = mdata.uefi_shim;
  if (!shim?.source_host) throw new InvalidInput('migrate_data.uefi_shim.source_host', 'required (from check_can_live_migrate_source)');
  const key = keyOf(mdata, uuid);
  let j = await md.journals.get(uuid, 'dest');
  if (j && j.key === key && ['live-staged', 'live-active'].includes(j.status)) {
    return { migrate_data: { ...mdata, uefi_shim: { ...shim, dest_nvram_path: j.staged_path ?? null } } };
  }
  const state = await md.peer.call<PeerInstanceState>(shim.source_host, 'GET', `/v1/peer/instances/${uuid}/state?nvram=1`);
  const name = core.nameOf(a.instance);
  if (name !== state.record.name) throw new MigrationError(`domain name differs between hosts (${state.record.name} vs ${name}): check [DEFAULT] instance_name_template`, { code: 400 });
  const why = await cannotRun(core, state.record.firmware, state.nvram?.size ?? null);
  if (why) throw new MigrationPreCheckError(why);
  let live: string | null = null;
  if (state.nvram && state.record.nvramPath) {
    const content = decodeNvram(state.nvram);
    live = deps.nvram.pathFor(name);
    j = {
      instance_uuid: uuid, role: 'dest', kind: 'live', key, status: 'live-staging', name, same_host: false, peer: shim.source_host,
      staged_path: live, nvram: { size: content.length, sha256: state.nvram.sha256 }, firmware: state.record.firmware, record: state.record, history: [],
    } as MigrationJournal;
    await md.journals.put(j, 'live-staging');
    // The file must exist, with the right size, before the incoming QEMU maps it; QEMU
    // rewrites it from the migration stream at the first resume.
    await deps.nvram.writeBytes(live, content);
  } else {
    j = { instance_uuid: uuid, role: 'dest', kind: 'live', key, status: 'live-staging', name, same_host: false, peer: shim.source_host, staged_path: undefined, nvram: null, firmware: state.record.firmware, record: state.record, history: [] } as MigrationJournal;
  }
  crashPoint(core, 'pre_live:written-before-journal');
  await md.journals.put(j, 'live-staged');
  return { migrate_data: { ...mdata, uefi_shim: { ...shim, dest_nvram_path: live } } };
}

/** Embedded backend's stand-in for QEMU: the destination defines and starts the arriving guest with the final store. */
export async function peerLiveArrive(core: DriverCore, md: MigrationDeps, uuid: string, body: { key: string; domain_xml: string; nvram: NvramPayload | null }): Promise<{ arrived: boolean }> {
  const j = await md.journals.get(uuid, 'dest');
  if (!j || j.key !== body.key) throw new MigrationError(`no live migration of ${uuid} prepared here (pre_live_migration must run first)`, { code: 409 });
  if (body.nvram && j.staged_path) {
    await core.deps.nvram.writeBytes(j.staged_path, decodeNvram(body.nvram));
  }
  // The store lives in this host's nvram_dir (the same path on every host in production).
  await core.hv.define(j.staged_path ? setNvramPath(body.domain_xml, j.staged_path) : body.domain_xml);
  const info = await core.hv.getInfo(j.name);
  if (info?.state !== PowerState.RUNNING) await core.hv.start(j.name);
  if (j.status !== 'live-active') await md.journals.put(j, 'live-active');
  return { arrived: true };
}

export async function liveMigration(core: DriverCore, md: MigrationDeps, uuid: string, a: { instance: NovaInstance; dest: string; migrate_data?: MigrateData; block_migration?: boolean }): Promise<{ migrate_data: MigrateData; nvram: unknown }> {
  const { hv, deps } = core;
  core.checkUuid(uuid, a.instance);
  if (!a.dest) throw new InvalidInput('dest', 'required');
  const mdata = a.migrate_data ?? {};
  const shim = mdata.uefi_shim;
  if (!shim) throw new InvalidInput('migrate_data.uefi_shim', 'required (from the pre-checks)');
  const key = keyOf(mdata, uuid);
  let j = await md.journals.get(uuid, 'source');
  if (j && j.key !== key && !['live-cleaned', 'rolled-back', 'confirmed', 'reverted'].includes(j.status)) {
    throw new InstanceInvalidState(uuid, 'migration', `${j.kind} ${j.status}`, 'live_migration');
  }
  if (!j || j.key !== key) {
    const rec = await core.mustRecord(uuid);
    j = await md.journals.put(
      { instance_uuid: uuid, role: 'source', kind: 'live', key, status: 'live-prepared', name: rec.name, same_host: false, peer: a.dest, record: rec, domain_xml: await hv.getXml(rec.name), firmware: rec.firmware, nvram: null, history: [] },
      'live-prepared',
    );
  }
  const rec = j.record!;
  crashPoint(core, 'live:prepared');
  if (j.status === 'live-prepared') {
    if (hv.kind === 'libvirt') {
      if (await hv.getInfo(rec.name)) {
        // libvirt keeps the source's <nvram> path; rewrite it when the destination's differs.
        const destPath = shim.dest_nvram_path;
        let xml = (await hv.getXml(rec.name)) ?? j.domain_xml ?? undefined;
        const original = xml;
        if (xml && destPath && destPath !== rec.nvramPath) xml = setNvramPath(xml, destPath);
        if (xml && shim.dest_serial_socket) xml = setSerialSocketPath(xml, shim.dest_serial_socket);
        await hv.liveMigrate!(rec.name, {
          destUri: shim.migration_uri,
          migrateUri: shim.migrate_uri ?? undefined,
          persistXml: xml !== original ? xml : undefined,
          timeoutSec: deps.config.peer.timeout * 10,
        });
      }
    } else {
      // Simulated migration: the final store travels with the "RAM stream", the destination
      // defines and starts the guest, then the source domain is undefined (--undefinesource).
      const payload = rec.nvramPath && (await deps.nvram.exists(rec.nvramPath)) ? encodeNvram(await deps.nvram.read(rec.nvramPath)) : null;
      if (await hv.getInfo(rec.name)) {
        await md.peer.call(a.dest, 'POST', `/v1/peer/instances/${uuid}/live_arrive`, { key, domain_xml: j.domain_xml, nvram: payload });
        crashPoint(core, 'live:arrived-before-undefine');
        await hv.destroy(rec.name);
        await hv.undefine(rec.name, { keepNvram: true });
      }
    }
    crashPoint(core, 'live:migrated-before-journal');
    await md.journals.put(j, 'live-migrated');
  }
  if (j.status === 'live-migrated') {
    const mine = rec.nvramPath ? await deps.nvram.info(rec.nvramPath) : null;
    if (mine) {
      // QEMU writes the destination file at the first resume; poll briefly for it.
      let theirs: { sha256?: string } | null = null;
      for (let i = 0; i < 20; i++) {
        theirs = await md.peer.call<{ sha256?: string }>(a.dest, 'GET', `/v1/peer/instances/${uuid}/nvram_digest?name=${encodeURIComponent(rec.name)}`).catch(() => null);
        if (theirs?.sha256 === mine.sha256) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      j.nvram = { size: mine.size, sha256: mine.sha256 };
      if (theirs?.sha256 !== mine.sha256) {
        await md.journals.put(j, 'live-unverified');
        throw new MigrationError(`destination store digest ${theirs?.sha256 ?? 'unavailable'} differs from the source's ${mine.sha256}; the source copy is kept`);
      }
    }
    await md.journals.put(j, 'live-verified');
  }
  deps.log.info('live_migration done', { instance_uuid: uuid, dest: a.dest, nvram_sha256: j.nvram?.sha256 });
  return { migrate_data: mdata, nvram: j.nvram ?? null };
}

/** Source: remove the source copy once the destination's is verified; idempotent. */
async function dropSourceCopy(core: DriverCore, md: MigrationDeps, uuid: string, j: MigrationJournal): Promise<boolean> {
  if (!['live-verified', 'live-cleaned'].includes(j.status)) {
    core.deps.log.warning('source copy kept: the destination store was not verified', { instance_uuid: uuid, status: j.status });
    return false;
  }
  if (j.status !== 'live-cleaned') await md.journals.put(j, 'live-cleaned');
  crashPoint(core, 'post_src:journalled');
  await core.hv.undefine(j.name, { keepNvram: true });
  if (j.record?.nvramPath) await core.deps.nvram.remove(j.record.nvramPath);
  await core.deps.records.delete(uuid);
  await md.journals.delete(uuid, 'source');
  return true;
}

export async function postLiveMigration(core: DriverCore, md: MigrationDeps, uuid: string, a: { instance: NovaInstance }): Promise<Record<string, never>> {
  core.checkUuid(uuid, a.instance);
  const j = await md.journals.get(uuid, 'source');
  if (j && j.kind === 'live' && j.status === 'live-migrated') throw new MigrationError('live_migration did not finish verifying the destination store');
  return {};
}

export async function postLiveMigrationAtSource(core: DriverCore, md: MigrationDeps, uuid: string, a: { instance: NovaInstance }): Promise<Record<string, never>> {
  core.checkUuid(uuid, a.instance);
  const j = await md.journals.get(uuid, 'source');
  if (!j || j.kind !== 'live') return {};
  await dropSourceCopy(core, md, uuid, j);
  return {};
}

/** Nova's `cleanup`: after the domain is gone. With a live-migration journal it only removes a verified source copy. */
export async function cleanup(core: DriverCore, md: MigrationDeps, uuid: string, a: { instance: NovaInstance; destroy_disks?: boolean }, destroy: () => Promise<unknown>): Promise<Record<string, never>> {
  core.checkUuid(uuid, a.instance);
  const j = await md.journals.get(uuid, 'source');
  if (j && j.kind === 'live') {
    await dropSourceCopy(core, md, uuid, j);
    return {};
  }
  const rec = await core.deps.records.get(uuid);
  if (!rec) return {};
  await destroy();
  return {};
}

export async function postLiveMigrationAtDestination(core: DriverCore, md: MigrationDeps, uuid: string, a: { instance: NovaInstance }): Promise<InstanceView> {
  const { deps } = core;
  core.checkUuid(uuid, a.instance);
  const j = await md.journals.get(uuid, 'dest');
  if (!j || j.kind !== 'live' || !j.record) {
    const rec = await core.mustRecord(uuid);
    return core.view(rec);
  }
  const rec: InstanceRecord = { ...j.record, vmState: 'active', nvramPath: j.staged_path ?? null, lastMigration: j.key };
  if (!(await core.hv.getInfo(rec.name))) throw new NovaError('InstanceNotFound', 404, `Instance ${uuid} did not arrive on this host.`);
  await deps.records.put(rec);
  await md.journals.delete(uuid, 'dest');
  deps.log.info('post_live_migration_at_destination done', { instance_uuid: uuid });
  return core.view(rec);
}

export async function rollbackLiveMigrationAtDestination(core: DriverCore, md: MigrationDeps, uuid: string, a: { instance: NovaInstance }): Promise<Record<string, never>> {
  core.checkUuid(uuid, a.instance);
  const j = await md.journals.get(uuid, 'dest');
  if (!j || j.kind !== 'live') return {};
  if ((await core.hv.getInfo(j.name)) && !(await core.deps.records.get(uuid))) {
    await core.hv.destroy(j.name);
    await core.hv.undefine(j.name, { keepNvram: true });
  }
  if (j.staged_path) await core.deps.nvram.remove(j.staged_path);
  await md.journals.delete(uuid, 'dest');
  core.deps.log.info('rollback_live_migration_at_destination done', { instance_uuid: uuid });
  return {};
}

export async function rollbackLiveMigrationAtSource(core: DriverCore, md: MigrationDeps, uuid: string, a: { instance: NovaInstance }): Promise<Record<string, never>> {
  const { hv } = core;
  core.checkUuid(uuid, a.instance);
  const j = await md.journals.get(uuid, 'source');
  if (!j || j.kind !== 'live') return {};
  if (j.status === 'live-cleaned') throw new MigrationError('the source copy was already removed after a verified migration; roll forward instead');
  // If the simulated hand-over got as far as undefining the source, put the guest back.
  if (j.record && !(await hv.getInfo(j.name))) {
    await hv.define(j.domain_xml ?? core.xmlFor(j.record));
    await hv.start(j.name);
  }
  await md.journals.put(j, 'rolled-back');
  await md.journals.delete(uuid, 'source');
  core.deps.log.info('rollback_live_migration_at_source done', { instance_uuid: uuid });
  return {};
}

/** Destination peer endpoint: digest of the store the arriving guest uses. */
export async function peerNvramDigest(core: DriverCore, md: MigrationDeps, uuid: string, name: string): Promise<{ sha256: string | null; size: number | null }> {
  const j = await md.journals.get(uuid, 'dest');
  const p = j?.staged_path ?? core.deps.nvram.pathFor(name);
  const info = await core.deps.nvram.info(p);
  return { sha256: info?.sha256 ?? null, size: info?.size ?? null };
}
