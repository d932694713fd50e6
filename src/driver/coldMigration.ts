/**
 * @module driver/coldMigration
 * Resize and cold migration with the NVRAM carried byte for byte, following Nova's call
 * order: source `migrate_disk_and_power_off` → destination `finish_migration` → source
 * `confirm_migration`, or destination `destroy` → source `finish_revert_migration`.
 *
 * The vTPM pattern (nova `save_and_migrate_vtpm_dir`): the source stashes its store before
 * anything moves and keeps it until confirm; the destination receives a verified copy as a
 * staged file and makes it live only in finish_migration. Every status is journalled
 * before its side effect, so a retried call (or a call after a SIGKILL) completes or
 * reverts with exactly one live copy. Same-host resize (`source_compute == dest_compute`)
 * keeps the live file in place and only stashes.
 */
import type { DriverCore, MigrationDeps } from './core';
import type {
  ConfirmMigrationArgs,
  Done,
  FinishMigrationArgs,
  FinishRevertArgs,
  InstanceView,
  MigrateDiskArgs,
  MigrateDiskResult,
  StageRequest,
  StageResult,
} from './contract';
import type { NovaMigration } from '../nova/objects';
import { isLive, type InstanceRecord } from '../state/records';
import { isFinal, type ColdSourceJournal, type DestJournal, type SourceJournal } from '../state/journal';
import { encodeNvram, decodeNvram, type NvramPayload } from '../peer/transfer';
import { peerApi } from '../peer/protocol';
import { firmwareForIncoming } from './lifecycle';
import { coldBoot } from './coldBoot';
import { InstanceInvalidState, InvalidInput, MigrationError } from '../errors';
import { validateDomainName } from '../nvram/paths';
import type { ParsedInstance } from '../nova/instance';
import { sha256 } from '../nvram/store';

function migrationUuid(m: NovaMigration | undefined, field: string): string {
  const u = m?.uuid;
  if (!u || typeof u !== 'string') throw new InvalidInput(`${field}.uuid`, 'required');
  return u;
}

function sameHost(m: NovaMigration | undefined): boolean | undefined {
  if (!m || !m.source_compute || !m.dest_compute) return undefined;
  return m.source_compute === m.dest_compute;
}

export async function migrateDiskAndPowerOff(core: DriverCore, md: MigrationDeps, uuid: string, a: MigrateDiskArgs): Promise<MigrateDiskResult> {
  const { hv, deps } = core;
  if (!a.dest || typeof a.dest !== 'string') throw new InvalidInput('dest', 'required');
  // A configured peer, or refused before anything connects anywhere (peer/hosts).
  md.peer.checkHost(a.dest, 'dest');
  const key = a.migration?.uuid ?? `dest:${a.dest}`;
  let j = await md.journals.get(uuid, 'source');
  if (j && !isFinal('source', j.status) && j.key !== key && !(j.key.startsWith('dest:') && j.peer === a.dest)) {
    // A migration that failed before its store was sent (a peer down, Nova's migration in
    // error) left the live store untouched and only a stash beside it: a new migration (Nova's
    // retry after reset-state) takes over from it. Anything sent may be live elsewhere.
    if (j.kind !== 'cold' || (j.status !== 'stashing' && j.status !== 'stashed')) {
      throw new InstanceInvalidState(uuid, 'migration', `${j.kind} ${j.status} (${j.key})`, 'migrate_disk_and_power_off');
    }
    deps.log.warning('migrate_disk_and_power_off: a new migration takes over from one that never sent the store', {
      instance_uuid: uuid,
      abandoned: j.key,
      abandoned_status: j.status,
      migration: key,
    });
    j = null;
  }
  if (j && isFinal('source', j.status)) j = null;
  // A live migration's open journal under the same key: this flow could not take a step of it.
  if (j && j.kind !== 'cold') throw new InstanceInvalidState(uuid, 'migration', `${j.kind} ${j.status} (${j.key})`, 'migrate_disk_and_power_off');
  const result = (jj: ColdSourceJournal): MigrateDiskResult => ({
    disk_info: '[]',
    nvram: jj.nvram ? { size: jj.nvram.size, sha256: jj.nvram.sha256, firmware: jj.firmware ?? null } : null,
  });
  if (j?.status === 'sent') return result(j);

  const rec = j?.record ?? (await core.mustRecord(uuid));
  const same = sameHost(a.migration) ?? md.peer.isSelf(a.dest, md.selfUrl);
  if (!j) {
    j = await md.journals.put<ColdSourceJournal>(
      {
        instance_uuid: uuid,
        role: 'source',
        kind: 'cold',
        key,
        status: 'stashing',
        name: rec.name,
        same_host: same,
        peer: a.dest,
        // Deterministic, so a crash before the 'stashed' entry still finds (and removes) it.
        stash_path: rec.nvramPath ? deps.nvram.auxPathFor('stash', rec.name, uuid) : undefined,
        record: rec,
        domain_xml: await hv.getXml(rec.name),
        firmware: rec.firmware,
        nvram: null,
        history: [],
      },
      'stashing',
    );
  }
  core.crashPoint('mdpo:stashing');
  // What this call stashed, kept for the send step so the store is read and hashed once
  // (a 64 MiB AAVMF store costs ~0.1 s per pass). A resumed call reads the stash instead.
  let stashed: { content: Buffer; payload?: NvramPayload } | undefined;
  if (j.status === 'stashing') {
    const timeout = a.timeout ?? 0;
    const clean = timeout > 0 ? await hv.shutdown(rec.name, timeout) : false;
    if (!clean) await hv.destroy(rec.name);
    if (rec.nvramPath) {
      // The guest is off: the live store is final. The stash is an atomic copy beside it.
      const stash = j.stash_path ?? deps.nvram.auxPathFor('stash', rec.name, uuid);
      const content = await deps.nvram.read(rec.nvramPath);
      await deps.nvram.writeBytes(stash, content);
      // The wire form carries the digest of the same bytes: compute it once for both.
      const payload = same ? undefined : encodeNvram(content);
      stashed = { content, payload };
      j.stash_path = stash;
      j.nvram = { size: content.length, sha256: payload?.sha256 ?? sha256(content) };
    }
    core.crashPoint('mdpo:stashed-before-journal');
    await md.journals.put(j, 'stashed');
    // A generation of the final store before it leaves this host (queued, not awaited).
    if (!same && stashed) await core.announce({ kind: 'leaving', uuid, how: 'cold', content: stashed.content });
  }
  if (j.status === 'stashed') {
    if (!same && j.stash_path) {
      const nvram = stashed?.payload ?? encodeNvram(stashed?.content ?? (await deps.nvram.read(j.stash_path)));
      const body: StageRequest = { kind: 'cold', key, name: rec.name, source_host: deps.config.DEFAULT.host, firmware: rec.firmware, nvram, record: rec };
      await peerApi(md.peer).stageNvram(a.dest, uuid, body);
    }
    core.crashPoint('mdpo:sent-before-journal');
    await md.journals.put(j, 'sent');
  }
  deps.log.info('migrate_disk_and_power_off done', { instance_uuid: uuid, dest: a.dest, same_host: same, nvram_sha256: j.nvram?.sha256 });
  return result(j);
}

/** Destination side of the peer PUT: verify, then stage next to the target (not live). */
export async function stageNvram(core: DriverCore, md: MigrationDeps, uuid: string, body: StageRequest): Promise<StageResult> {
  const { deps } = core;
  const name = validateDomainName(body?.name, 'name');
  const content = decodeNvram(body.nvram);
  const existing = await md.journals.get(uuid, 'dest');
  // A store being installed for the same migration is not replaced by a re-sent copy.
  if (existing && existing.key === body.key && existing.status === 'installing') {
    return { staged: false, sha256: body.nvram.sha256, size: body.nvram.size };
  }
  const staged = deps.nvram.auxPathFor('staged', name, uuid);
  await deps.nvram.writeBytes(staged, content);
  core.crashPoint('stage:written-before-journal');
  await md.journals.put<DestJournal>(
    {
      instance_uuid: uuid,
      role: 'dest',
      kind: body.kind,
      key: body.key,
      status: 'staged',
      name,
      same_host: false,
      peer: body.source_host,
      staged_path: staged,
      nvram: { size: content.length, sha256: body.nvram.sha256 },
      firmware: body.firmware,
      record: body.record,
      history: existing?.key === body.key ? existing.history : [],
    },
    'staged',
  );
  deps.log.info('NVRAM staged', { instance_uuid: uuid, from: body.source_host, size: content.length, sha256: body.nvram.sha256 });
  return { staged: true, sha256: body.nvram.sha256, size: content.length };
}

/** Same-host resize: the live store never moved; redefine with the new flavor. */
async function finishInPlace(core: DriverCore, p: ParsedInstance, mig: string, a: FinishMigrationArgs): Promise<InstanceView> {
  const rec = await core.mustRecord(p.uuid);
  const sizing = p.sizing;
  Object.assign(rec, { vcpus: sizing.vcpus, memoryMb: sizing.memoryMb, flavorExtraSpecs: sizing.extraSpecs, lastMigration: mig });
  const booted = await coldBoot(core, { rec, start: a.power_on !== false, teardown: true, store: 'keep' });
  return core.view(rec, booted.warnings);
}

export async function finishMigration(core: DriverCore, md: MigrationDeps, p: ParsedInstance, a: FinishMigrationArgs): Promise<InstanceView> {
  const { deps } = core;
  const uuid = p.uuid;
  const mig = migrationUuid(a.migration, 'migration');
  if (sameHost(a.migration)) return finishInPlace(core, p, mig, a);
  const j = await md.journals.get(uuid, 'dest');
  // Done when the record is this migration's and its journal is gone (removed last).
  const existing = await deps.records.get(uuid);
  if (!j && existing && existing.lastMigration === mig && isLive(existing)) return core.view(existing);
  const { sizing, name } = p;
  const live = deps.nvram.pathFor(name);
  const { boot, firmware, reselected, reason } = await firmwareForIncoming(core, j?.firmware, a.image_meta, sizing.extraSpecs, j?.nvram?.size ?? null);
  const nvramPath = core.storePathFor(firmware, name);
  if (nvramPath && !j)
    throw new MigrationError(`no variable store was received for instance ${uuid}; migrate_disk_and_power_off must run first`, { code: 409 });
  const now = new Date().toISOString();
  const source = j?.record;
  const rec: InstanceRecord = {
    uuid,
    id: a.instance.id,
    name,
    vmState: 'stopped',
    firmware,
    nvramPath,
    boot,
    imageProps: { ...(a.image_meta?.properties ?? source?.imageProps ?? {}) },
    flavorExtraSpecs: sizing.extraSpecs,
    vcpus: sizing.vcpus,
    memoryMb: sizing.memoryMb,
    systemMetadata: source?.systemMetadata ?? {},
    // Queued Secure Boot changes travel with the instance; the cold-boot hook applies them here.
    ...(source?.secureBoot ? { secureBoot: source.secureBoot } : {}),
    // Nova's base guest XML given at spawn describes the guest's devices (disks): it moves too.
    ...(source?.baseXml ? { baseXml: source.baseXml } : {}),
    lastMigration: mig,
    createdAt: source?.createdAt ?? now,
    updatedAt: now,
  };
  /** The received store becomes the live one: journalled, so a retry after a crash finds it installed. */
  const install = async () => {
    if (!j) return;
    if (j.status === 'staged') await md.journals.put(j, 'installing');
    const stagedThere = j.staged_path ? await deps.nvram.exists(j.staged_path) : false;
    if (stagedThere && j.staged_path) {
      await deps.nvram.rename(j.staged_path, live);
    } else {
      const cur = await deps.nvram.info(live);
      if (!cur || cur.sha256 !== j.nvram?.sha256)
        throw new MigrationError(`staged variable store for ${uuid} is missing and the live one does not match`, { code: 409 });
    }
    core.crashPoint('finish:installed-before-define');
  };
  const booted = await coldBoot(core, { rec, start: a.power_on !== false, teardown: true, store: 'keep', prepareStore: install });
  if (j) await md.journals.delete(uuid, 'dest');
  // The store's info for the answer before the takeover generation starts reading the store
  // (two passes over a 64 MiB AAVMF store at once share the event loop; Nova waits for this one).
  const nvram = nvramPath ? await deps.nvram.cachedInfo(nvramPath) : null;
  // Nova moved the instance here: this host writes its generations from now on.
  if (nvramPath) await core.announce({ kind: 'arrived', uuid, via: 'move' });
  deps.log.info('finish_migration done', { instance_uuid: uuid, migration: mig, loader: firmware?.loader, reselected });
  const warnings = [...boot.warnings, ...booted.warnings];
  if (reselected) warnings.push(`firmware re-selected: ${reason}`);
  return core.view(rec, warnings, nvram ?? undefined);
}

export async function confirmMigration(core: DriverCore, md: MigrationDeps, uuid: string, a: ConfirmMigrationArgs): Promise<Done> {
  const { deps } = core;
  const j = await md.journals.get(uuid, 'source');
  if (!j || j.kind !== 'cold') {
    deps.log.warning('confirm_migration: no migration in progress here, nothing to do', { instance_uuid: uuid });
    return {};
  }
  if (j.status !== 'sent' && j.status !== 'confirmed') {
    // Confirming before the destination has the store would drop the only copy.
    throw new InstanceInvalidState(uuid, 'migration', `${j.kind} ${j.status}`, 'confirm_migration');
  }
  await completeConfirm(core, md, uuid, j, a.migration?.uuid, sameHost(a.migration) ?? j.same_host);
  return {};
}

/**
 * The source's side of a confirmed migration (confirm_migration, and start-up recovery of a
 * confirm that was cut): journalled, then the source domain, record, live store and stash
 * go. `migrationUuid` tells the destination's record apart when both roles share this
 * host's state; without it the record is dropped only while it is still the one saved at
 * stash time.
 */
export async function completeConfirm(
  core: DriverCore,
  md: MigrationDeps,
  uuid: string,
  j: SourceJournal,
  migrationUuid: string | undefined,
  same: boolean,
): Promise<void> {
  const { hv, deps } = core;
  if (j.status !== 'confirmed') await md.journals.put(j, 'confirmed');
  core.crashPoint('confirm:journalled');
  if (!same) {
    await hv.destroy(j.name);
    await hv.undefine(j.name, { keepNvram: true });
    const rec = await deps.records.get(uuid);
    // The source record may already be the destination's if both roles share a host via
    // a [peer] alias; only drop it when it is still the pre-migration one.
    const stillSource = rec && (migrationUuid !== undefined ? rec.lastMigration !== migrationUuid : rec.lastMigration === j.record?.lastMigration);
    if (stillSource) await deps.records.delete(uuid);
    if (j.record?.nvramPath) await deps.nvram.remove(j.record.nvramPath);
    await core.announce({ kind: 'left', uuid });
  }
  if (j.stash_path) await deps.nvram.remove(j.stash_path);
  await md.journals.delete(uuid, 'source');
  deps.log.info('confirm_migration done', { instance_uuid: uuid, same_host: same });
}

export async function finishRevertMigration(core: DriverCore, md: MigrationDeps, uuid: string, a: FinishRevertArgs): Promise<InstanceView> {
  const { deps } = core;
  const j = await md.journals.get(uuid, 'source');
  if (!j || !j.record) {
    const rec = await core.mustRecord(uuid);
    deps.log.warning('finish_revert_migration: no migration journal, instance already reverted', { instance_uuid: uuid });
    return core.view(rec);
  }
  const { rec, warnings } = await revertSource(core, md, uuid, j, j.record, a.power_on !== false);
  return core.view(rec, warnings);
}

/**
 * The source back as it was when the store was stashed (finish_revert_migration, and
 * start-up recovery of a migration cut on the source): journalled, the stash restored over
 * the live store through the cold-boot path with the saved definition, then the stash and
 * the journal removed. `record` is `j.record`.
 */
export async function revertSource(
  core: DriverCore,
  md: MigrationDeps,
  uuid: string,
  j: SourceJournal,
  record: InstanceRecord,
  powerOn: boolean,
): Promise<{ rec: InstanceRecord; warnings: string[] }> {
  const { deps } = core;
  if (j.status !== 'reverted') await md.journals.put(j, 'reverting');
  const rec: InstanceRecord = { ...record };
  const stash = j.stash_path;
  /** Byte-identical to the store at power-off, whatever ran on a same-host "destination". */
  const restore = async () => {
    if (stash && rec.nvramPath && (await deps.nvram.exists(stash))) await deps.nvram.copy(stash, rec.nvramPath);
    core.crashPoint('revert:restored-before-define');
  };
  const booted = await coldBoot(core, {
    rec,
    start: powerOn,
    teardown: true,
    store: 'keep',
    prepareStore: restore,
    xml: j.domain_xml ?? undefined,
  });
  await md.journals.put(j, 'reverted');
  if (stash) await deps.nvram.remove(stash);
  // Home again: replication takes the replicas back from the destination.
  if (rec.nvramPath) await core.announce({ kind: 'resize-reverted', uuid });
  await md.journals.delete(uuid, 'source');
  deps.log.info('finish_revert_migration done', { instance_uuid: uuid });
  return { rec, warnings: booted.warnings };
}

/** Called from destroy(): drop anything staged for this instance on this (destination) host, journalled or not. */
export async function dropStaged(core: DriverCore, md: MigrationDeps, p: ParsedInstance): Promise<void> {
  const uuid = p.uuid;
  const j = await md.journals.get(uuid, 'dest');
  if (j?.staged_path && j.kind === 'cold') await core.deps.nvram.remove(j.staged_path);
  const name = p.nameIfKnown;
  if (name) await core.deps.nvram.remove(core.deps.nvram.auxPathFor('staged', name, uuid));
  if (j) await md.journals.delete(uuid, 'dest');
}
