/**
 * @module varstore/write
 * Rebuild a variable store image with a new set of live variables (Buffer in, Buffer out; no
 * file I/O). The result has the size of the original; the firmware volume header, the store
 * header and everything after the store (event log, FTW working block, spare) stay
 * byte-identical.
 *
 * Strategy: write the way the firmware itself does (edk2 UpdateVariable), so that an unchanged
 * variable set reproduces the original bytes exactly and small edits touch few bytes:
 *  1. A live record whose variable is unchanged (same name, GUID, attributes, data, timestamp,
 *     monotonic count, key index) stays where it is, byte for byte, and so do all records that
 *     are already deleted.
 *  2. A changed or removed variable has its record(s) marked deleted in place
 *     (State &= ~VAR_DELETED: 0x3F → 0x3D, 0x3E → 0x3C), exactly as the firmware does.
 *  3. New and changed variables are appended after the last record, State 0x3F, 4-byte aligned,
 *     in the caller's order; the gap is 0xFF.
 *  4. Only when there is something to append and it does not fit (or the free space after the
 *     list is not erased), the record area is compacted like the firmware's reclaim: deleted
 *     records are dropped, kept records (State normalised to 0x3F) then new ones are laid out
 *     from the start, and the rest of the store is 0xFF.
 *     If even that does not fit: `VarStoreError('full')`.
 * So `writeVarStore(buf, parseVarStore(buf).variables)` returns a byte-identical copy, also for
 * Debian's templates that carry deleted records, and parsing the result always yields the kept
 * variables in their original order followed by the appended ones.
 *
 * The caller must only edit stores of VMs that are shut down cleanly: the FTW spare area of a
 * crashed VM may hold newer data than the store (reference §5.6). Not checked here.
 */
import { VarStoreError } from './errors';
import { guidToBytes } from './guids';
import {
  AUTH,
  AUTH_HEADER_SIZE,
  PLAIN,
  PLAIN_HEADER_SIZE,
  STATE_DELETED_MASK,
  STATE_LIVE,
  STATE_LIVE_IN_DELETED_TRANSITION,
  VARIABLE_START_ID,
  align4,
} from './layout';
import { parseVarStore } from './parse';
import { encodeName } from './ucs2';
import { keyProblem, variableKey, variableProblem } from './storable';
import type { StoreFormat, StoredVariable, Variable } from './types';

/** Serialise one live record (header + name + data, unaligned). */
export function encodeRecord(v: Variable, format: StoreFormat): Buffer {
  const name = encodeName(v.name);
  const auth = format === 'authenticated';
  const hdr = Buffer.alloc(auth ? AUTH_HEADER_SIZE : PLAIN_HEADER_SIZE);
  const F = auth ? AUTH : PLAIN;
  hdr.writeUInt16LE(VARIABLE_START_ID, F.startId);
  hdr[F.state] = STATE_LIVE;
  hdr.writeUInt32LE(v.attr >>> 0, F.attributes);
  hdr.writeUInt32LE(name.length, F.nameSize);
  hdr.writeUInt32LE(v.data.length, F.dataSize);
  guidToBytes(v.guid).copy(hdr, F.vendorGuid);
  if (auth) {
    hdr.writeBigUInt64LE(v.monotonicCount ?? 0n, AUTH.monotonicCount);
    if (v.timestamp) v.timestamp.copy(hdr, AUTH.timeStamp, 0, 16);
    hdr.writeUInt32LE(v.pubKeyIndex ?? 0, AUTH.pubKeyIndex);
  }
  return Buffer.concat([hdr, name, v.data]);
}

function sameTime(a: Buffer | undefined, b: Buffer | undefined): boolean {
  const za = !a || a.every((x) => x === 0);
  const zb = !b || b.every((x) => x === 0);
  if (za || zb) return za && zb;
  return a.equals(b);
}

/** Whether the stored record already holds exactly `v`. */
function unchanged(rec: StoredVariable, v: Variable): boolean {
  return (
    rec.attr === v.attr &&
    rec.data.equals(v.data) &&
    sameTime(rec.timestamp, v.timestamp) &&
    rec.monotonicCount === (v.monotonicCount ?? 0n) &&
    rec.pubKeyIndex === (v.pubKeyIndex ?? 0)
  );
}

/** Validate the desired set: well-formed keys, no duplicates, only live states. */
function checkDesired(variables: readonly Variable[]): Map<string, Variable> {
  const byKey = new Map<string, Variable>();
  variables.forEach((v, i) => {
    const p = keyProblem(v);
    if (p) throw new VarStoreError('invalid-variable', `variables[${i}].${p.field}: ${p.message}`, { field: `variables[${i}].${p.field}` });
    const state = (v as Partial<StoredVariable>).state;
    if (state !== undefined && state !== STATE_LIVE && state !== STATE_LIVE_IN_DELETED_TRANSITION) {
      throw new VarStoreError('invalid-variable', `variables[${i}] (${v.name}): record state 0x${state.toString(16)} is not live; pass live variables only`, {
        field: `variables[${i}].state`,
      });
    }
    const key = variableKey(v);
    if (byKey.has(key)) throw new VarStoreError('invalid-variable', `variables[${i}]: duplicate variable ${v.name} (${v.guid})`, { field: `variables[${i}]` });
    byKey.set(key, v);
  });
  return byKey;
}

/** Lay `blobs` out from `pos`, 4-byte aligned; returns the end or undefined when they pass `end`. */
function layout(out: Buffer, pos: number, end: number, blobs: Buffer[]): number | undefined {
  let p = pos;
  for (const b of blobs) {
    if (p + b.length > end) return undefined;
    b.copy(out, p);
    p = align4(p + b.length);
  }
  return p;
}

function totalAligned(blobs: Buffer[]): number {
  return blobs.reduce((n, b) => n + align4(b.length), 0);
}

/**
 * A new image of `original` whose live variables are exactly `variables` (see the module
 * header for how). Throws `VarStoreError` ('invalid-variable', 'full', or whatever
 * `parseVarStore` throws for the original).
 */
export function writeVarStore(original: Buffer, variables: readonly Variable[]): Buffer {
  const parsed = parseVarStore(original, { includeDeleted: true });
  const { store } = parsed;
  const desired = checkDesired(variables);

  const liveRecords = parsed.variables.filter((r) => r.live);
  const kept = new Set<string>();
  for (const rec of liveRecords) {
    const want = desired.get(variableKey(rec));
    if (want && unchanged(rec, want)) kept.add(variableKey(rec));
  }
  const blobs: Buffer[] = [];
  variables.forEach((v, i) => {
    if (kept.has(variableKey(v))) return;
    const p = variableProblem(v, store.format);
    if (p) throw new VarStoreError('invalid-variable', `variables[${i}].${p.field} (${v.name}): ${p.message}`, { field: `variables[${i}].${p.field}` });
    blobs.push(encodeRecord(v, store.format));
  });

  const out = Buffer.from(original);
  // 2. Mark superseded records deleted, as the firmware would.
  for (const rec of parsed.variables) {
    if ((rec.state === STATE_LIVE || rec.state === STATE_LIVE_IN_DELETED_TRANSITION) && !kept.has(variableKey(rec))) {
      out[rec.offset + 2] = rec.state & STATE_DELETED_MASK;
    }
  }
  // 3. Append in place when the erased tail has room (nothing to append: done, never compact).
  if (blobs.length === 0) return out;
  if (parsed.freeSpaceErased && layout(out, parsed.listEnd, store.end, blobs) !== undefined) return out;

  // 4. Compact: kept records (original bytes, State 0x3F) then the new ones.
  const keptBlobs = liveRecords
    .filter((r) => kept.has(variableKey(r)))
    .map((r) => {
      const b = Buffer.from(original.subarray(r.offset, r.offset + r.recordSize));
      b[2] = STATE_LIVE;
      return b;
    });
  const all = [...keptBlobs, ...blobs];
  const compacted = Buffer.from(original);
  compacted.fill(0xff, store.start, store.end);
  if (layout(compacted, store.start, store.end, all) === undefined) {
    const need = totalAligned(all);
    throw new VarStoreError(
      'full',
      `the variables need ${need} bytes but the store holds ${store.end - store.start} bytes of records (${variables.length} variables)`,
    );
  }
  return compacted;
}
