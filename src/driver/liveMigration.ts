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
 * digest equals its own. What a host answers its peer about an instance (its state, the digest
 * of an arriving store) is in driver/peerAnswers.
 */
import type { DriverCore, MigrationDeps } from './core';
import type {
  CheckDestinationArgs,
  CheckSourceArgs,
  CleanupArgs,
  Done,
  InstanceView,
  LiveMigrationArgs,
  LiveMigrationResult,
  LiveStepArgs,
  MigrateData,
  MigrateDataResult,
  PeerInstanceState,
  PreLiveMigrationArgs,
} from './contract';
import type { InstanceRecord } from '../state/records';
import type { DestJournal, LiveSourceJournal, SourceJournal } from '../state/journal';
import { isFinal } from '../state/journal';
import { coldBoot } from './coldBoot';
import { decodeNvram, decodeImage } from '../peer/transfer';
import { peerApi } from '../peer/protocol';
import { setNvramPath, setSerialSocketPath } from '../domainXml';
import { InstanceInvalidState, InstanceNotFound, InvalidInput, MigrationError, MigrationPreCheckError } from '../errors';
import type { ParsedInstance } from '../nova/instance';

/** Polls of the destination's store digest after the hand-over (QEMU writes it at the first resume). */
const VERIFY_POLLS = 20;
const VERIFY_POLL_MS = 250;

function ownMigrationUri(core: DriverCore): string {
  const c = core.deps.config;
  return c.libvirt.migration_uri || `qemu+tcp://${c.DEFAULT.host}/system`;
}

function keyOf(md: MigrateData | undefined, uuid: string): string {
  return md?.migration?.uuid ?? `live:${uuid}`;
}

export async function checkCanLiveMigrateDestination(core: DriverCore, md: MigrationDeps, uuid: string, a: CheckDestinationArgs): Promise<MigrateDataResult> {
  const src = a.instance.host;
  if (!src) throw new InvalidInput('instance.host', 'required (the source compute host)');
  md.peer.checkHost(src, 'instance.host');
  if (md.peer.isSelf(String(src), md.selfUrl)) throw new MigrationPreCheckError('Attempt to migrate guest to the same host');
  let state: PeerInstanceState;
  try {
    state = await peerApi(md.peer).instanceState(String(src), uuid, false);
  } catch (e) {
    throw new MigrationPreCheckError(`cannot read the guest's firmware from the source sidecar: ${(e as Error).message}`);
  }
  const fw = state.record.firmware;
  const storeSize = state.nvram_size;
  const why = await core.deps.firmware.whyCannotRun(fw, storeSize);
  if (why) throw new MigrationPreCheckError(`destination ${core.deps.config.DEFAULT.host} cannot run the same firmware build: ${why}`);
  const theirs = core.deps.nvram.pathFor(state.record.name);
  const mine = state.record.nvramPath;
  if (mine && mine !== theirs && !core.hv.destinationXmlFromSidecar) {
    throw new MigrationPreCheckError(
      `the guest's definition names its variable store ${mine}, this host keeps it at ${theirs}: the definition moves unchanged, so set [nvram] nvram_dir equal on both hosts`,
    );
  }
  if ((await core.deps.nvram.exists(theirs)) && !(await md.journals.get(uuid, 'dest'))) {
    throw new MigrationPreCheckError(`a variable store ${theirs} already exists on the destination`);
  }
  const inbound = core.deps.config.libvirt.live_migration_inbound_addr;
  return {
    migrate_data: {
      block_migration: a.block_migration ?? false,
      disk_over_commit: a.disk_over_commit ?? false,
      uefi_shim: {
        dest_host: core.deps.config.DEFAULT.host,
        migration_uri: ownMigrationUri(core),
        migrate_uri: inbound ? `tcp://${inbound}` : null,
        dest_serial_socket: core.serialSocket(state.record.name) ?? null,
        source_host: String(src),
        firmware: fw,
        nvram: storeSize !== null ? { size: storeSize, sha256: '' } : null,
      },
    },
  };
}

export async function checkCanLiveMigrateSource(core: DriverCore, _md: MigrationDeps, uuid: string, a: CheckSourceArgs): Promise<MigrateDataResult> {
  const rec = await core.mustRecord(uuid);
  const d = a.dest_check_data ?? {};
  const shim = d.uefi_shim;
  if (!shim)
    throw new MigrationPreCheckError('the destination did not report nova-uefi-shim data (check_can_live_migrate_destination must run on a shim host)');
  const mine = rec.firmware;
  const theirs = shim.firmware;
  if (mine && (!theirs || theirs.loader !== mine.loader || theirs.nvram_template !== mine.nvram_template)) {
    throw new MigrationPreCheckError(`destination ${shim.dest_host} accepted firmware ${theirs?.loader ?? 'none'}, the guest runs ${mine.loader}`);
  }
  const info = rec.nvramPath ? await core.deps.nvram.cachedInfo(rec.nvramPath) : null;
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

export async function preLiveMigration(core: DriverCore, md: MigrationDeps, p: ParsedInstance, a: PreLiveMigrationArgs): Promise<MigrateDataResult> {
  const { deps } = core;
  const uuid = p.uuid;
  const mdata = a.migrate_data ?? {};
  const shim = mdata.uefi_shim;
  if (!shim?.source_host) throw new InvalidInput('migrate_data.uefi_shim.source_host', 'required (from check_can_live_migrate_source)');
  md.peer.checkHost(shim.source_host, 'migrate_data.uefi_shim.source_host');
  const key = keyOf(mdata, uuid);
  const prepared = await md.journals.get(uuid, 'dest');
  if (prepared && prepared.key === key && prepared.status === 'live-staged') {
    return { migrate_data: { ...mdata, uefi_shim: { ...shim, dest_nvram_path: prepared.staged_path ?? null } } };
  }
  const state = await peerApi(md.peer).instanceState(shim.source_host, uuid, true);
  const name = p.name;
  if (name !== state.record.name)
    throw new MigrationError(`domain name differs between hosts (${state.record.name} vs ${name}): check [DEFAULT] instance_name_template`, { code: 400 });
  const why = await deps.firmware.whyCannotRun(state.record.firmware, state.nvram?.size ?? null);
  if (why) throw new MigrationPreCheckError(why);
  // As runs (a sparse image: a 64 MiB AAVMF store is never held whole), or whole from a
  // source that predates them.
  const sent = state.nvram && state.record.nvramPath ? state.nvram : null;
  const content = sent ? (sent.runs ? decodeImage(sent) : decodeNvram(sent)) : null;
  const live = content ? deps.nvram.pathFor(name) : null;
  const j: DestJournal = {
    instance_uuid: uuid,
    role: 'dest',
    kind: 'live',
    key,
    status: 'live-staging',
    name,
    same_host: false,
    peer: shim.source_host,
    staged_path: live ?? undefined,
    nvram: content && sent ? { size: sent.size, sha256: sent.sha256 } : null,
    firmware: state.record.firmware,
    record: state.record,
    history: [],
  };
  await md.journals.put(j, 'live-staging');
  // The file must exist, with the right size, before the incoming QEMU maps it; QEMU
  // rewrites it from the migration stream at the first resume.
  if (content && live) await (Buffer.isBuffer(content) ? deps.nvram.writeBytes(live, content) : deps.nvram.writeImage(live, content));
  if (content && live && sent) checkStagedCopy(core, uuid, live, sent.sha256);
  core.crashPoint('pre_live:written-before-journal');
  await md.journals.put(j, 'live-staged');
  return { migrate_data: { ...mdata, uefi_shim: { ...shim, dest_nvram_path: live } } };
}

/**
 * Destination: hash the copy pre_live_migration wrote, from the file, in the background while
 * Nova migrates, and log when it is not the store the source sent (the runs are decoded without
 * hashing their zeros: peer/transfer). The source's check after the hand-over decides (it keeps
 * its copy on a mismatch); the digest is then kept for it and for our own arrival, until the
 * file changes (QEMU writes it at the first resume).
 */
function checkStagedCopy(core: DriverCore, uuid: string, live: string, sha256: string): void {
  const { nvram, log } = core.deps;
  const written = nvram.stamp(live);
  void nvram.warmDigest(live).then((info) => {
    if (info && info.sha256 !== sha256 && nvram.stamp(live) === written) {
      log.warning('the staged copy of the variable store differs from the store the source sent', {
        instance_uuid: uuid,
        path: live,
        sha256: info.sha256,
        expected: sha256,
      });
    }
  });
}

/** The definition the destination persists: its own store path and serial socket. */
async function destinationXml(core: DriverCore, rec: InstanceRecord, j: SourceJournal, mdata: MigrateData): Promise<string | undefined> {
  const shim = mdata.uefi_shim;
  const original = (await core.hv.getXml(rec.name)) ?? j.domain_xml ?? undefined;
  let xml = original;
  if (xml && shim?.dest_nvram_path && shim.dest_nvram_path !== rec.nvramPath) xml = setNvramPath(xml, shim.dest_nvram_path);
  if (xml && shim?.dest_serial_socket) xml = setSerialSocketPath(xml, shim.dest_serial_socket);
  return xml !== original ? xml : undefined;
}

/** Source: does the destination's store equal ours? QEMU writes it at the first resume, so poll briefly. */
async function verifyDestination(core: DriverCore, md: MigrationDeps, uuid: string, dest: string, rec: InstanceRecord, j: SourceJournal): Promise<void> {
  const ask = () =>
    peerApi(md.peer)
      .nvramDigest(dest, uuid, rec.name)
      .catch(() => null);
  // Our digest and the destination's first answer at the same time: each host reads and hashes
  // its own store (a 64 MiB AAVMF store is a pass each), so neither waits for the other's.
  // Ours is reused from the last hash while the file keeps its stat identity (util/fileIdentity).
  const [mine, first] = await Promise.all([rec.nvramPath ? core.deps.nvram.cachedInfo(rec.nvramPath) : null, rec.nvramPath ? ask() : null]);
  if (mine) {
    let theirs: { sha256?: string | null } | null = first;
    for (let i = 1; i < VERIFY_POLLS && theirs?.sha256 !== mine.sha256; i++) {
      await new Promise((r) => setTimeout(r, VERIFY_POLL_MS));
      theirs = await ask();
    }
    j.nvram = { size: mine.size, sha256: mine.sha256 };
    if (theirs?.sha256 !== mine.sha256) {
      await md.journals.put(j, 'live-unverified');
      throw new MigrationError(`destination store digest ${theirs?.sha256 ?? 'unavailable'} differs from the source's ${mine.sha256}; the source copy is kept`);
    }
  }
  await md.journals.put(j, 'live-verified');
}

export async function liveMigration(core: DriverCore, md: MigrationDeps, uuid: string, a: LiveMigrationArgs): Promise<LiveMigrationResult> {
  const { hv, deps } = core;
  if (!a.dest) throw new InvalidInput('dest', 'required');
  // A configured peer, or refused before anything (libvirt's migration URI included) connects.
  md.peer.checkHost(a.dest, 'dest');
  const mdata = a.migrate_data ?? {};
  const shim = mdata.uefi_shim;
  if (!shim) throw new InvalidInput('migrate_data.uefi_shim', 'required (from the pre-checks)');
  const key = keyOf(mdata, uuid);
  let j = await md.journals.get(uuid, 'source');
  if (j && j.key !== key && !isFinal('source', j.status)) {
    throw new InstanceInvalidState(uuid, 'migration', `${j.kind} ${j.status}`, 'live_migration');
  }
  if (!j || j.key !== key) {
    const rec = await core.mustRecord(uuid);
    j = await md.journals.put<LiveSourceJournal>(
      {
        instance_uuid: uuid,
        role: 'source',
        kind: 'live',
        key,
        status: 'live-prepared',
        name: rec.name,
        same_host: false,
        peer: a.dest,
        record: rec,
        domain_xml: await hv.getXml(rec.name),
        firmware: rec.firmware,
        nvram: null,
        history: [],
      },
      'live-prepared',
    );
  }
  // A cold migration's open journal under the same key: this flow could not take a step of it.
  if (j.kind !== 'live') throw new InstanceInvalidState(uuid, 'migration', `${j.kind} ${j.status}`, 'live_migration');
  const rec = j.record;
  if (!rec) throw new MigrationError(`the live-migration journal of ${uuid} has no record`);
  core.crashPoint('live:prepared');
  if (j.status === 'live-prepared') {
    // A generation of the store before it leaves this host (queued, not awaited; read there
    // only if it changed since the last generation, so a 64 MiB store is not read here).
    if (rec.nvramPath && core.replicas) await core.announce({ kind: 'leaving', uuid, how: 'live' });
    // A domain already gone was handed over before a crash.
    if (await hv.getInfo(rec.name)) {
      await hv.liveMigrate(rec.name, {
        destHost: a.dest,
        destUri: shim.migration_uri,
        migrateUri: shim.migrate_uri ?? undefined,
        persistXml: await destinationXml(core, rec, j, mdata),
        timeoutSec: deps.config.peer.timeout * 10,
      });
    }
    core.crashPoint('live:migrated-before-journal');
    await md.journals.put(j, 'live-migrated');
  }
  // A retry after an unverified hand-over verifies again.
  if (j.status === 'live-migrated' || j.status === 'live-unverified') await verifyDestination(core, md, uuid, a.dest, rec, j);
  deps.log.info('live_migration done', { instance_uuid: uuid, dest: a.dest, nvram_sha256: j.nvram?.sha256 });
  return { migrate_data: mdata, nvram: j.nvram ?? null };
}

/** Source: remove the source copy once the destination's is verified; idempotent. */
async function dropSourceCopy(core: DriverCore, md: MigrationDeps, uuid: string, j: SourceJournal): Promise<boolean> {
  if (j.status !== 'live-verified' && j.status !== 'live-cleaned') {
    core.deps.log.warning('source copy kept: the destination store was not verified', { instance_uuid: uuid, status: j.status });
    return false;
  }
  if (j.status !== 'live-cleaned') await md.journals.put(j, 'live-cleaned');
  core.crashPoint('post_src:journalled');
  await core.hv.undefine(j.name, { keepNvram: true });
  if (j.record?.nvramPath) await core.deps.nvram.remove(j.record.nvramPath);
  await core.deps.records.delete(uuid);
  // The destination writes the generations now (it took the replicas over): this host keeps no
  // replica state for the instance (a move generation still being written finishes first).
  await core.announce({ kind: 'left', uuid });
  await md.journals.delete(uuid, 'source');
  return true;
}

export async function postLiveMigration(_core: DriverCore, md: MigrationDeps, uuid: string, _a: LiveStepArgs): Promise<Done> {
  const j = await md.journals.get(uuid, 'source');
  if (j && j.kind === 'live' && j.status === 'live-migrated') throw new MigrationError('live_migration did not finish verifying the destination store');
  return {};
}

export async function postLiveMigrationAtSource(core: DriverCore, md: MigrationDeps, uuid: string, _a: LiveStepArgs): Promise<Done> {
  const j = await md.journals.get(uuid, 'source');
  if (!j || j.kind !== 'live') return {};
  await dropSourceCopy(core, md, uuid, j);
  return {};
}

/** Nova's `cleanup`: after the domain is gone. With a live-migration journal it only removes a verified source copy. */
export async function cleanup(core: DriverCore, md: MigrationDeps, uuid: string, _a: CleanupArgs, destroy: () => Promise<unknown>): Promise<Done> {
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

export async function postLiveMigrationAtDestination(core: DriverCore, md: MigrationDeps, uuid: string, _a: LiveStepArgs): Promise<InstanceView> {
  const { deps } = core;
  const j = await md.journals.get(uuid, 'dest');
  if (!j || j.kind !== 'live' || !j.record) {
    const rec = await core.mustRecord(uuid);
    return core.view(rec);
  }
  const rec: InstanceRecord = { ...j.record, vmState: 'active', nvramPath: j.staged_path ?? null, lastMigration: j.key };
  if (!(await core.hv.getInfo(rec.name))) throw new InstanceNotFound(uuid, `Instance ${uuid} did not arrive on this host.`);
  await deps.records.put(rec);
  await md.journals.delete(uuid, 'dest');
  // The store's info for the answer before the takeover generation starts reading the store:
  // two passes over a 64 MiB AAVMF store at once share the event loop, and Nova waits for this one.
  const nvram = rec.nvramPath ? await deps.nvram.cachedInfo(rec.nvramPath) : null;
  // The guest runs here now: this host writes its generations from now on.
  if (rec.nvramPath) await core.announce({ kind: 'arrived', uuid, via: 'move' });
  deps.log.info('post_live_migration_at_destination done', { instance_uuid: uuid });
  return core.view(rec, [], nvram ?? undefined);
}

export async function rollbackLiveMigrationAtDestination(core: DriverCore, md: MigrationDeps, uuid: string, _a: LiveStepArgs): Promise<Done> {
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

export async function rollbackLiveMigrationAtSource(core: DriverCore, md: MigrationDeps, uuid: string, a: LiveStepArgs): Promise<Done> {
  const j = await md.journals.get(uuid, 'source');
  if (j && j.kind === 'live') await rollBackSourceJournal(core, uuid, md, j);
  // With a shared instance path Nova never calls the destination's rollback
  // (do_cleanup = not is_shared_instance_path): the copy pre_live_migration put there goes
  // through its sidecar from here. A destination that does not answer is logged: the guest
  // keeps running here either way.
  const dest = a.migrate_data?.uefi_shim?.dest_host;
  if (dest && dest !== core.deps.config.DEFAULT.host) {
    try {
      await peerApi(md.peer).rollbackLiveMigrationAtDestination(dest, uuid);
    } catch (e) {
      core.deps.log.warning('the destination sidecar did not roll back its copy of the store', {
        instance_uuid: uuid,
        dest,
        error: e instanceof Error ? e.message : String(e),
      });
    }
  }
  return {};
}

async function rollBackSourceJournal(core: DriverCore, uuid: string, md: MigrationDeps, j: SourceJournal): Promise<void> {
  // Once the destination's store is verified the guest runs there: booting it here too would
  // run it twice, and a later clean-up would delete the store it uses. Refuse before booting.
  if (j.status === 'live-verified' || j.status === 'live-cleaned') {
    throw new MigrationError(
      `the guest was handed over and its store verified on the destination (${j.status}); roll forward (post_live_migration_at_source) instead`,
      { code: 409 },
    );
  }
  // A hand-over that got as far as undefining the source: the guest boots here again.
  if (j.record && !(await core.hv.getInfo(j.name))) {
    await coldBoot(core, { rec: { ...j.record }, start: true, teardown: false, store: 'keep', xml: j.domain_xml ?? undefined });
  }
  await md.journals.put(j, 'rolled-back');
  await md.journals.delete(uuid, 'source');
  core.deps.log.info('rollback_live_migration_at_source done', { instance_uuid: uuid });
}
