/**
 * @module driver/secureBootOps
 * Secure Boot keys of one instance: the key set chosen at spawn (flavor extra spec
 * `os:secure_boot_keyset`, image property `os_secure_boot_keyset`, also read from
 * `system_metadata['image_os_secure_boot_keyset']` because Nova's ImageMeta drops properties it
 * does not know), changes through the API, and the queue of changes for the next cold boot.
 *
 * Offline only, never lost: a shut-off guest's store is written at once (with any changes
 * still queued before it, in order); a running guest's change is queued in its record
 * (persisted atomically, carried by cold migrations with the record) and applied by the
 * cold-boot path's store hook (`applyQueuedSecureBootChanges`) while no QEMU holds the store. Applying is
 * idempotent (varstore/enroll), so a crash between the store write and the record write
 * re-applies to no effect: the change lands exactly once. Callers hold the instance lock.
 *
 * Does not touch files itself: the store through `NvramStore`, the edits through varstore.
 */
import { randomUUID } from 'node:crypto';
import { FlavorImageConflict, InstanceInvalidState, InvalidInput, NotFound, NovaError } from '../errors';
import { PowerState, powerStateName } from '../nova/powerState';
import type { NovaImageMeta, NovaInstance } from '../nova/objects';
import type { NvramInfo } from '../nvram/store';
import type { AppliedKeyChange, InstanceRecord, PendingKeyChange, SecureBootState } from '../state/records';
import { keyChangesFor } from '../firmware/keysets';
import {
  applyKeyChanges,
  certificateInfo,
  parseKeyMaterial,
  parseVarStore,
  secureBootSummary,
  writeVarStore,
  isVarStoreError,
  type EnrollResult,
  type KeyChange,
  type KeyChangeReport,
  type KeyDbName,
  type SignatureItem,
} from '../varstore';
import type { InstanceSecureBoot, PendingKeyChangeView, SecureBootWrite, SecureBootWriteResult } from './contract';
import type { DriverCore, StoreChangeHook } from './core';
import { noStore } from './nvramOps';

export const KEYSET_EXTRA_SPEC = 'os:secure_boot_keyset';
export const KEYSET_IMAGE_PROPERTY = 'os_secure_boot_keyset';
/** Applied changes remembered per instance (for rotations' progress). */
const APPLIED_KEPT = 20;

export function emptyState(): SecureBootState {
  return { keyset: null, pending: [], applied: [] };
}

/** The key set an instance asks for at spawn: flavor or image (either form), which must agree. */
export function requestedKeyset(core: DriverCore, image: NovaImageMeta | undefined, extraSpecs: Record<string, string>, instance: NovaInstance): string | null {
  const flavor = extraSpecs[KEYSET_EXTRA_SPEC] || undefined;
  const img = image?.properties?.os_secure_boot_keyset || instance.system_metadata?.[`image_${KEYSET_IMAGE_PROPERTY}`] || undefined;
  if (flavor && img && flavor !== img) throw new FlavorImageConflict(KEYSET_EXTRA_SPEC, flavor, img);
  const name = flavor ?? img;
  if (!name) return null;
  if (!core.deps.keysets.get(name)) {
    const field = flavor ? `flavor.extra_specs.${KEYSET_EXTRA_SPEC}` : `image_meta.properties.${KEYSET_IMAGE_PROPERTY}`;
    throw new InvalidInput(field, `unknown Secure Boot key set '${name}' (this host has: ${core.deps.keysets.names().join(', ') || 'none'})`);
  }
  return name;
}

function pending(source: PendingKeyChange['source'], changes: KeyChange[], keyset: string | null, rotation: string | null = null): PendingKeyChange {
  return { id: randomUUID(), queued_at: new Date().toISOString(), source, keyset, rotation, changes };
}

/** Spawn: queue the key set's enrollment, applied by the cold-boot hook into the fresh store. */
export function queueKeysetAtSpawn(core: DriverCore, rec: InstanceRecord, keyset: string | null): void {
  if (!keyset || !rec.firmware?.secure || !rec.nvramPath) return;
  const ks = core.deps.keysets.get(keyset);
  if (!ks) return;
  rec.secureBoot = { ...emptyState(), pending: [pending('spawn', keyChangesFor(ks), keyset)] };
}

/**
 * Rebuild with a fresh store: the keys it had are gone with the old store, so the key set
 * recorded is dropped and the one the new image/flavor names is queued (before any change still
 * waiting, which then applies to the fresh store as it would have to the old one).
 */
export function keysForFreshStore(core: DriverCore, rec: InstanceRecord, keyset: string | null): void {
  const old = rec.secureBoot ?? emptyState();
  const ks = keyset && rec.firmware?.secure && rec.nvramPath ? core.deps.keysets.get(keyset) : undefined;
  const first = ks ? [pending('spawn', keyChangesFor(ks), ks.name)] : [];
  if (!rec.secureBoot && !first.length) return;
  rec.secureBoot = { keyset: null, pending: [...first, ...old.pending], applied: old.applied };
}

/** The request body as changes, each bad entry a 400 naming its field. */
export function changesFromBody(core: DriverCore, body: SecureBootWrite): { changes: KeyChange[]; keyset: string | null } {
  const now = new Date();
  const allowExpired = body.allow_expired === true;
  const changes: KeyChange[] = [];
  let keyset: string | null = null;
  if (body.keyset !== undefined) {
    const ks = core.deps.keysets.get(body.keyset);
    if (!ks)
      throw new InvalidInput('keyset', `unknown Secure Boot key set '${body.keyset}' (this host has: ${core.deps.keysets.names().join(', ') || 'none'})`);
    changes.push(...keyChangesFor(ks));
    keyset = ks.name;
  }
  const items = (list: readonly string[], db: KeyDbName, field: string, owner: string | undefined, expiredOk: boolean): SignatureItem[] =>
    list.flatMap((text, i) => {
      if (!owner) throw new InvalidInput('owner', `required with ${field} (the SignatureOwner GUID written with the entries)`);
      const r = parseKeyMaterial(text, db, owner, { now, allowExpired: expiredOk });
      if ('problem' in r) throw new InvalidInput(`${field}[${i}]`, r.problem);
      return r.items;
    });
  const owner = body.owner?.toLowerCase();
  if (body.pk === null) changes.push({ op: 'set', db: 'PK', items: [] });
  else if (body.pk !== undefined) changes.push({ op: 'set', db: 'PK', items: items([body.pk], 'PK', 'pk', owner, allowExpired) });
  const dbs: Array<['kek' | 'db' | 'dbx', KeyDbName]> = [
    ['kek', 'KEK'],
    ['db', 'db'],
    ['dbx', 'dbx'],
  ];
  for (const [f, db] of dbs) {
    const list = body[f];
    if (list) changes.push({ op: 'set', db, items: items(list, db, f, owner, allowExpired) });
  }
  for (const [f, db] of dbs) {
    const list = body.add?.[f];
    if (list) changes.push({ op: 'add', db, items: items(list, db, `add.${f}`, owner, allowExpired) });
  }
  for (const [f, db] of dbs) {
    const list = body.remove?.[f];
    // Removal matches content only: any owner, expired certificates included.
    if (list) changes.push({ op: 'remove', db, items: items(list, db, `remove.${f}`, owner ?? '00000000-0000-0000-0000-000000000000', true) });
  }
  if (changes.length === 0) throw new InvalidInput('body', 'no key change given');
  return { changes, keyset };
}

/** What a change looks like in answers: entries by fingerprint and subject, never the raw bytes. */
export function changeView(p: PendingKeyChange): PendingKeyChangeView {
  return {
    id: p.id,
    queued_at: p.queued_at,
    source: p.source,
    keyset: p.keyset,
    rotation: p.rotation,
    changes: p.changes.map((c) => {
      if (c.op === 'remove-where') return { op: c.op, db: c.db, subject_contains: c.subject_contains, entries: [] };
      return {
        op: c.op,
        db: c.db,
        entries: c.items.map((it) => {
          const info = certificateInfo({ owner: '', ...it });
          return info
            ? { type: it.type, ...('owner' in it ? { owner: it.owner } : {}), subject: info.subject, not_after: info.not_after, sha256: info.sha256 }
            : { type: it.type, ...('owner' in it ? { owner: it.owner } : {}), sha256: it.data };
        }),
      };
    }),
  };
}

/** 404 for BIOS and stateless guests, worded as the other store operations word it. */
function noStoreFor(rec: Readonly<InstanceRecord>): NovaError {
  return noStore(rec.uuid, rec.firmware ? 'stateless firmware' : 'BIOS');
}

/** Notes for the answer: the no-ops, said so. */
function notesFor(reports: readonly KeyChangeReport[]): string[] {
  const out: string[] = [];
  for (const r of reports) {
    if (r.duplicates) out.push(`${r.db}: ${r.duplicates} entr${r.duplicates === 1 ? 'y' : 'ies'} already present (no-op)`);
    if (r.missing) out.push(`${r.db}: ${r.missing} entr${r.missing === 1 ? 'y' : 'ies'} to remove not present (no-op)`);
  }
  return out;
}

/**
 * Apply `changes` to the store at `path` and write it when the keys changed (atomic, same
 * size; `InvalidNVRAM` and nothing written when it does not fit). The store must not be held
 * by a QEMU (callers: a shut-off guest, the cold-boot hook).
 */
export async function applyToStore(
  core: DriverCore,
  path: string,
  changes: readonly KeyChange[],
  opts: { info?: boolean } = {},
): Promise<EnrollResult & { info?: NvramInfo }> {
  const before = await core.deps.nvram.read(path);
  const r = applyKeyChanges(parseVarStore(before).variables, changes, { now: new Date() });
  if (!r.changed) return r;
  await core.deps.nvram.writeBytes(path, writeVarStore(before, r.variables));
  // The new file's digest only when the answer shows it (a rotation over 1,000 stores does not).
  return opts.info ? { ...r, info: (await core.deps.nvram.info(path)) ?? undefined } : r;
}

async function summaryOf(core: DriverCore, rec: Readonly<InstanceRecord>, path: string): Promise<InstanceSecureBoot> {
  const s = secureBootSummary(parseVarStore(await core.deps.nvram.read(path)).variables);
  return { ...s, keyset: rec.secureBoot?.keyset ?? null, pending: (rec.secureBoot?.pending ?? []).map(changeView) };
}

export async function getSecureBoot(core: DriverCore, uuid: string): Promise<InstanceSecureBoot> {
  const rec = await core.peekRecord(uuid);
  if (!rec.nvramPath) throw noStoreFor(rec);
  return summaryOf(core, rec, rec.nvramPath);
}

/** Remember what happened to applied queue entries (newest last, bounded). */
function remember(state: SecureBootState, done: PendingKeyChange[], outcome: AppliedKeyChange['outcome'], detail?: string): void {
  const at = new Date().toISOString();
  state.applied = [...state.applied, ...done.map((p) => ({ id: p.id, rotation: p.rotation, at, outcome, ...(detail ? { detail } : {}) }))].slice(-APPLIED_KEPT);
}

/** Whether the guest runs (anything but shut off counts: QEMU may hold the store). */
export async function isRunning(core: DriverCore, name: string): Promise<boolean> {
  const info = await core.hv.getInfo(name);
  return info !== null && info.state !== PowerState.SHUTDOWN;
}

/**
 * Write (shut off) or queue (running, `queue`) `changes` for `rec`, recording the key set when
 * the change enrolls one. Used by the API and by fleet rotations.
 */
export async function changeKeys(
  core: DriverCore,
  rec: InstanceRecord,
  changes: KeyChange[],
  opts: { keyset: string | null; queue: boolean; source: PendingKeyChange['source']; rotation?: string; info?: boolean },
): Promise<{ applied: boolean; queued: boolean; changed: boolean; change?: PendingKeyChange; reports: KeyChangeReport[]; info?: NvramInfo }> {
  if (!rec.nvramPath) throw noStoreFor(rec);
  const state = rec.secureBoot ?? emptyState();
  const entry = pending(opts.source, changes, opts.keyset, opts.rotation ?? null);
  if (await isRunning(core, rec.name)) {
    if (!opts.queue) throw new InstanceInvalidState(rec.uuid, 'power_state', powerStateName(PowerState.RUNNING), 'change Secure Boot keys without queue=true');
    // Check now what can be checked without the store (types, PK cardinality), so a bad change never waits in the queue.
    applyKeyChanges([], changes, { now: new Date() });
    rec.secureBoot = { ...state, pending: [...state.pending, entry] };
    await core.deps.records.put(rec);
    core.deps.log.info('Secure Boot change queued for the next cold boot', { instance_uuid: rec.uuid, change: entry.id, source: entry.source });
    return { applied: false, queued: true, changed: false, change: entry, reports: [] };
  }
  // Shut off: the earlier queued changes first, in order, then this one; one write.
  const all = [...state.pending, entry];
  const r = await applyToStore(
    core,
    rec.nvramPath,
    all.flatMap((p) => p.changes),
    { info: opts.info },
  );
  const next: SecureBootState = { ...state, pending: [] };
  for (const p of all) if (p.keyset) next.keyset = p.keyset;
  if (state.pending.length) remember(next, state.pending, 'applied');
  // Nothing to record when nothing changed (a rotation's second run over a host).
  if (r.changed || state.pending.length || next.keyset !== state.keyset) {
    rec.secureBoot = next;
    await core.deps.records.put(rec);
  }
  core.deps.log.info('Secure Boot keys written', { instance_uuid: rec.uuid, changed: r.changed, databases: r.changedDbs, with_queued: state.pending.length });
  const own = r.reports.slice(r.reports.length - changes.length);
  return { applied: true, queued: false, changed: r.changed, reports: own, info: r.info };
}

export async function putSecureBoot(core: DriverCore, uuid: string, body: SecureBootWrite, queue: boolean): Promise<SecureBootWriteResult> {
  const rec = await core.mustRecord(uuid);
  if (!rec.nvramPath) throw noStoreFor(rec);
  const { changes, keyset } = changesFromBody(core, body);
  const r = await changeKeys(core, rec, changes, { keyset, queue, source: 'api', info: true });
  return {
    applied: r.applied,
    queued: r.queued,
    changed: r.changed,
    ...(r.change ? { change: changeView(r.change) } : {}),
    reports: r.reports,
    notes: notesFor(r.reports),
    secure_boot: await summaryOf(core, rec, rec.nvramPath),
    ...(r.info ? { nvram: r.info } : {}),
  };
}

export async function cancelChange(core: DriverCore, uuid: string, id: string): Promise<{ pending: PendingKeyChangeView[] }> {
  const rec = await core.mustRecord(uuid);
  const state = rec.secureBoot;
  if (!state?.pending.some((p) => p.id === id)) throw new NotFound(`No queued Secure Boot change ${id} for instance ${uuid}.`);
  rec.secureBoot = { ...state, pending: state.pending.filter((p) => p.id !== id) };
  await core.deps.records.put(rec);
  core.deps.log.info('queued Secure Boot change cancelled', { instance_uuid: uuid, change: id });
  return { pending: rec.secureBoot.pending.map(changeView) };
}

/**
 * The cold-boot hook: apply the queue to the store (no QEMU holds it now), then empty the
 * queue in the record (coldBoot writes the record again). A change the store cannot take
 * (`InvalidNVRAM`, e.g. `full`) does not stop the boot: it is dropped with a warning and its
 * outcome recorded as failed.
 */
export const applyQueuedSecureBootChanges: StoreChangeHook = async function applyQueuedSecureBootChanges(core, rec, path) {
  const state = rec.secureBoot;
  if (!state?.pending.length) return [];
  const queued = state.pending;
  const next: SecureBootState = { ...state, pending: [] };
  try {
    const r = await applyToStore(
      core,
      path,
      queued.flatMap((p) => p.changes),
    );
    for (const p of queued) if (p.keyset) next.keyset = p.keyset;
    remember(next, queued, r.changed ? 'applied' : 'unchanged');
    rec.secureBoot = next;
    core.deps.log.info('queued Secure Boot changes applied', { instance_uuid: rec.uuid, changes: queued.map((p) => p.id), changed: r.changed });
    return [];
  } catch (e) {
    if (!isVarStoreError(e)) throw e;
    remember(next, queued, 'failed', e.message);
    rec.secureBoot = next;
    core.deps.log.error('queued Secure Boot changes not applied', { instance_uuid: rec.uuid, changes: queued.map((p) => p.id), error: e.message });
    return [`queued Secure Boot changes not applied (${e.message}); the store is unchanged`];
  }
};
