/**
 * @module varstore/enroll
 * Offline edits of PK, KEK, db and dbx (variables in, variables out; pair with
 * `writeVarStore`), written the way edk2 leaves them after an authenticated write, so the
 * firmware cannot tell an offline enrollment from its own:
 *
 *  - PK, KEK (EFI_GLOBAL_VARIABLE) and db, dbx (EFI_IMAGE_SECURITY_DATABASE) are time-based
 *    authenticated variables: attributes NV|BS|RT|AT (0x27), MonotonicCount 0, PubKeyIndex 0,
 *    as in OVMF's own enrolled templates (`OVMF_VARS_4M.ms.fd`, checked by a unit test).
 *  - TimeStamp: edk2 stores the EFI_VARIABLE_AUTHENTICATION_2 time of the last write and
 *    refuses a later non-append write whose time is not newer (replay protection,
 *    `VerifyTimeBasedPayload`). A changed variable gets the time of the edit (UTC, whole
 *    seconds, Pad1/Nanosecond/TimeZone/Daylight/Pad2 zero), never earlier than the time it
 *    had, so an old signed update cannot be replayed over the offline change. An unchanged
 *    variable keeps its record byte for byte (no new time).
 *  - certdb (gEfiCertDbGuid) records signers of *private* authenticated variables only
 *    (AuthVarTypePriv); PK/KEK/db/dbx never enter it, so it is not touched, except that it is
 *    created empty (NV|BS|RT|AT, a u32 list size of 4) when missing, as OVMF's templates hold it.
 *  - VendorKeysNv (NV|BS|AT) = 0, VENDOR_KEYS_MODIFIED: what edk2's `VendorKeyIsModified`
 *    writes when the keys change other than by the platform vendor.
 *  - A platform-mode change follows edk2's `UpdatePlatformMode`: enrolling a PK into a store
 *    in setup mode creates SecureBootEnable = 1 (NV|BS); clearing PK deletes it. Otherwise
 *    SecureBootEnable is left alone (an operator's "off" stays off across a key rotation).
 *  - An emptied database is deleted (a zero-length SetVariable deletes).
 * Changes are idempotent: applying the same list twice changes nothing the second time
 * (adds skip entries already present, removes skip absent ones, sets compare bytes).
 */
import { VarStoreError } from './errors';
import { EFI_CERT_DB, EFI_GLOBAL_VARIABLE, EFI_IMAGE_SECURITY_DATABASE, EFI_SECURE_BOOT_ENABLE_DISABLE, EFI_VENDOR_KEYS_NV } from './guids';
import { compareEfiTime, efiTimeFromDate } from './efiTime';
import { ATTR } from './layout';
import { deleteVariable, findVariable, setVariable } from './edit';
import { encodeSignatureLists, readSignatureLists, type RawSignatureList } from './signatureList';
import { certificateInfo, itemTypeGuid, sameItem, typeProblem, type KeyDbName, type SignatureItem } from './secureBootKeys';
import type { Variable } from './types';

/** NV|BS|RT|AT: PK, KEK, db, dbx, certdb. */
export const ATTR_AUTH_DB = ATTR.NON_VOLATILE | ATTR.BOOTSERVICE_ACCESS | ATTR.RUNTIME_ACCESS | ATTR.TIME_BASED_AUTHENTICATED_WRITE_ACCESS;
/** NV|BS|AT: VendorKeysNv. */
const ATTR_VENDOR_KEYS = ATTR.NON_VOLATILE | ATTR.BOOTSERVICE_ACCESS | ATTR.TIME_BASED_AUTHENTICATED_WRITE_ACCESS;
const ATTR_NV_BS = ATTR.NON_VOLATILE | ATTR.BOOTSERVICE_ACCESS;
const SHA256_SIGNATURE_SIZE = 16 + 32;

/** One change of one database; JSON-friendly, so it can be queued and persisted as is. */
export type KeyChange =
  /** Replace the database with `items` (none: delete it; for PK: back to setup mode). */
  | { op: 'set'; db: KeyDbName; items: SignatureItem[] }
  /** Add entries not already present (same type and data). */
  | { op: 'add'; db: KeyDbName; items: SignatureItem[] }
  /** Remove entries with the same type and data (the owner is not compared). */
  | { op: 'remove'; db: KeyDbName; items: Array<Pick<SignatureItem, 'type' | 'data'>> }
  /** Remove every certificate whose subject contains `subject_contains` (fleet rotations: "drop the 2011 CA"). */
  | { op: 'remove-where'; db: KeyDbName; subject_contains: string };

export interface KeyChangeReport {
  db: KeyDbName;
  op: KeyChange['op'];
  added: number;
  removed: number;
  /** Entries to add that were already there (no-op). */
  duplicates: number;
  /** Entries to remove that were not there (no-op). */
  missing: number;
}

export interface EnrollResult {
  variables: Variable[];
  /** Per change, in order. */
  reports: KeyChangeReport[];
  /** Whether any database's bytes changed. */
  changed: boolean;
  /** The databases whose bytes changed. */
  changedDbs: KeyDbName[];
}

export function dbGuid(db: KeyDbName): string {
  return db === 'PK' || db === 'KEK' ? EFI_GLOBAL_VARIABLE : EFI_IMAGE_SECURITY_DATABASE;
}

function fromRaw(lists: RawSignatureList[]): SignatureItem[] {
  const out: SignatureItem[] = [];
  for (const l of lists) {
    const type = l.type === itemTypeGuid('x509') ? 'x509' : l.type === itemTypeGuid('sha256') ? 'sha256' : undefined;
    if (!type) continue;
    for (const e of l.entries) out.push({ type, owner: e.owner, data: e.data.toString('hex') });
  }
  return out;
}

/** Lists of a database value; a malformed stored value is refused (never silently replaced by an edit). */
function storedLists(v: Variable | undefined, db: KeyDbName): RawSignatureList[] {
  if (!v) return [];
  try {
    return readSignatureLists(v.data);
  } catch (e) {
    throw new VarStoreError('corrupt', `${db}: the stored signature lists are malformed (${(e as Error).message})`, { field: db });
  }
}

/** Append `it` the way cert-to-efi-sig-list / edk2 lay lists out: one list per certificate, hashes share one list. */
function appendItem(lists: RawSignatureList[], it: SignatureItem): void {
  const entry = { owner: it.owner, data: Buffer.from(it.data, 'hex') };
  if (it.type === 'sha256') {
    const l = [...lists].reverse().find((x) => x.type === itemTypeGuid('sha256') && x.signatureSize === SHA256_SIGNATURE_SIZE && x.header.length === 0);
    if (l) {
      l.entries.push(entry);
      return;
    }
  }
  lists.push({ type: itemTypeGuid(it.type), header: Buffer.alloc(0), signatureSize: 16 + entry.data.length, entries: [entry] });
}

function fresh(items: SignatureItem[]): RawSignatureList[] {
  const lists: RawSignatureList[] = [];
  for (const it of items) appendItem(lists, it);
  return lists;
}

/** Lists after one change, with its report. */
function applyOne(lists: RawSignatureList[], c: KeyChange): { lists: RawSignatureList[]; report: KeyChangeReport } {
  const report: KeyChangeReport = { db: c.db, op: c.op, added: 0, removed: 0, duplicates: 0, missing: 0 };
  const present = fromRaw(lists);
  if (c.op === 'set') {
    const unique: SignatureItem[] = [];
    for (const it of c.items) if (!unique.some((u) => sameItem(u, it))) unique.push(it);
    report.added = unique.filter((it) => !present.some((p) => sameItem(p, it))).length;
    report.removed = present.filter((p) => !unique.some((it) => sameItem(p, it))).length;
    return { lists: fresh(unique), report };
  }
  const next = lists.map((l) => ({ ...l, entries: [...l.entries] }));
  if (c.op === 'add') {
    const seen = [...present];
    for (const it of c.items) {
      if (seen.some((p) => sameItem(p, it))) {
        report.duplicates++;
        continue;
      }
      appendItem(next, it);
      seen.push(it);
      report.added++;
    }
    return { lists: next, report };
  }
  if (c.op === 'remove-where') {
    const out = next.map((l) => {
      if (l.type !== itemTypeGuid('x509')) return l;
      const entries = l.entries.filter(
        (e) => !certificateInfo({ type: 'x509', owner: e.owner, data: e.data.toString('hex') })?.subject.includes(c.subject_contains),
      );
      report.removed += l.entries.length - entries.length;
      return { ...l, entries };
    });
    return { lists: out.filter((l) => l.entries.length > 0), report };
  }
  for (const it of c.items) {
    const guid = itemTypeGuid(it.type);
    let hit = false;
    for (const l of next) {
      if (l.type !== guid) continue;
      const before = l.entries.length;
      l.entries = l.entries.filter((e) => e.data.toString('hex') !== it.data);
      if (l.entries.length !== before) hit = true;
    }
    if (hit) report.removed++;
    else report.missing++;
  }
  return { lists: next.filter((l) => l.entries.length > 0), report };
}

/**
 * Apply `changes` in order to a store's live variables (see the module header for the rules).
 * `VarStoreError('invalid-variable')` (naming the database) for an entry type a database
 * cannot hold or a PK with more than one certificate; nothing is applied then.
 */
export function applyKeyChanges(vars: readonly Variable[], changes: readonly KeyChange[], opts: { now: Date }): EnrollResult {
  const work = new Map<KeyDbName, RawSignatureList[]>();
  const reports: KeyChangeReport[] = [];
  for (const c of changes) {
    if (c.op === 'set' || c.op === 'add') {
      // Types only: validity and key checks belong to whoever accepted the material.
      const p = typeProblem(c.items, c.db);
      if (p) throw new VarStoreError('invalid-variable', `${c.db}: ${p}`, { field: c.db });
    }
    const cur = work.get(c.db) ?? storedLists(findVariable(vars, c.db, dbGuid(c.db)), c.db);
    const r = applyOne(cur, c);
    work.set(c.db, r.lists);
    reports.push(r.report);
  }
  const pkItems = work.has('PK') ? fromRaw(work.get('PK') as RawSignatureList[]) : undefined;
  if (pkItems && pkItems.length > 1)
    throw new VarStoreError('invalid-variable', `PK: holds exactly one certificate, the change leaves ${pkItems.length}`, { field: 'PK' });

  let out: Variable[] = [...vars];
  const changedDbs: KeyDbName[] = [];
  const now = efiTimeFromDate(opts.now);
  const hadPk = findVariable(vars, 'PK', EFI_GLOBAL_VARIABLE) !== undefined;
  for (const [db, lists] of work) {
    const guid = dbGuid(db);
    const old = findVariable(out, db, guid);
    const data = encodeSignatureLists(lists);
    if (old ? old.data.equals(data) : data.length === 0) continue;
    changedDbs.push(db);
    if (data.length === 0) {
      out = deleteVariable(out, db, guid);
      continue;
    }
    const time = old?.timestamp && compareEfiTime(old.timestamp, now) > 0 ? old.timestamp : now;
    out = setVariable(out, { name: db, guid, attr: ATTR_AUTH_DB, data, time });
  }
  if (changedDbs.length === 0) return { variables: out, reports, changed: false, changedDbs };

  if (!findVariable(out, 'certdb', EFI_CERT_DB)) {
    out = setVariable(out, { name: 'certdb', guid: EFI_CERT_DB, attr: ATTR_AUTH_DB, data: Buffer.from([4, 0, 0, 0]) });
  }
  const vk = findVariable(out, 'VendorKeysNv', EFI_VENDOR_KEYS_NV);
  if (!vk || vk.attr !== ATTR_VENDOR_KEYS || !vk.data.equals(Buffer.from([0]))) {
    out = setVariable(out, { name: 'VendorKeysNv', guid: EFI_VENDOR_KEYS_NV, attr: ATTR_VENDOR_KEYS, data: Buffer.from([0]) });
  }
  const hasPk = findVariable(out, 'PK', EFI_GLOBAL_VARIABLE) !== undefined;
  const sbe = findVariable(out, 'SecureBootEnable', EFI_SECURE_BOOT_ENABLE_DISABLE);
  if (!hadPk && hasPk) out = setVariable(out, { name: 'SecureBootEnable', guid: EFI_SECURE_BOOT_ENABLE_DISABLE, attr: ATTR_NV_BS, data: Buffer.from([1]) });
  else if (hadPk && !hasPk && sbe) out = deleteVariable(out, 'SecureBootEnable', EFI_SECURE_BOOT_ENABLE_DISABLE);
  return { variables: out, reports, changed: true, changedDbs };
}

/** The entries of one database as items (x509 and sha256 only). */
export function databaseItems(vars: readonly Variable[], db: KeyDbName): SignatureItem[] {
  return fromRaw(storedLists(findVariable(vars, db, dbGuid(db)), db));
}
