/**
 * @module varstore/storable
 * What makes a variable storable, checked before the writer lays out a new record and by the
 * edit helpers and the JSON importer. Returns a problem naming the field instead of throwing,
 * so each caller can prefix its own path (`variables[3].guid`).
 *
 * Rules (edk2 VariableServiceSetVariable): a non-empty name without NUL; a GUID; attributes a
 * u32 with NON_VOLATILE set (only non-volatile variables live in the store), RUNTIME_ACCESS only
 * with BOOTSERVICE_ACCESS, no bits above ENHANCED_AUTHENTICATED_ACCESS; data non-empty (a
 * zero-length SetVariable deletes); EFI_TIME exactly 16 bytes. A plain (non-authenticated)
 * store cannot hold a timestamp, monotonic count or public-key index.
 */
import { isGuid } from './guids';
import { ATTR } from './layout';
import { nameProblem } from './ucs2';
import type { StoreFormat, Variable } from './types';

export interface Problem {
  field: string;
  message: string;
}

const KNOWN_ATTR_BITS = 0xff;

export function attrProblem(attr: unknown): string | undefined {
  if (typeof attr !== 'number' || !Number.isInteger(attr) || attr < 0 || attr > 0xffffffff) return 'must be an integer 0..0xffffffff';
  if (attr & ~KNOWN_ATTR_BITS) return `0x${attr.toString(16)} has bits outside the EFI_VARIABLE_* set (0xff)`;
  if (!(attr & ATTR.NON_VOLATILE)) return `0x${attr.toString(16)} lacks NON_VOLATILE (0x1): only non-volatile variables live in the store`;
  if (attr & ATTR.RUNTIME_ACCESS && !(attr & ATTR.BOOTSERVICE_ACCESS)) return `0x${attr.toString(16)} has RUNTIME_ACCESS without BOOTSERVICE_ACCESS`;
  return undefined;
}

/** Key fields only (enough to index a variable): name and GUID. */
export function keyProblem(v: { name?: unknown; guid?: unknown }): Problem | undefined {
  const n = nameProblem(v.name);
  if (n) return { field: 'name', message: n };
  if (!isGuid(v.guid)) return { field: 'guid', message: 'not a GUID' };
  return undefined;
}

/** Everything the writer needs to lay out a new record. */
export function variableProblem(v: Variable, format: StoreFormat = 'authenticated'): Problem | undefined {
  const k = keyProblem(v);
  if (k) return k;
  const a = attrProblem(v.attr);
  if (a) return { field: 'attr', message: a };
  if (!Buffer.isBuffer(v.data)) return { field: 'data', message: 'must be bytes' };
  if (v.data.length === 0) return { field: 'data', message: 'must not be empty (a zero-length write deletes a variable)' };
  if (v.timestamp !== undefined && (!Buffer.isBuffer(v.timestamp) || v.timestamp.length !== 16)) {
    return { field: 'time', message: 'must be 16 bytes (EFI_TIME)' };
  }
  if (v.monotonicCount !== undefined && (typeof v.monotonicCount !== 'bigint' || v.monotonicCount < 0n || v.monotonicCount >= 1n << 64n)) {
    return { field: 'monotonicCount', message: 'must be a u64' };
  }
  if (v.pubKeyIndex !== undefined && (!Number.isInteger(v.pubKeyIndex) || v.pubKeyIndex < 0 || v.pubKeyIndex > 0xffffffff)) {
    return { field: 'pubKeyIndex', message: 'must be a u32' };
  }
  if (format === 'plain') {
    if (v.timestamp && v.timestamp.some((b) => b !== 0)) return { field: 'time', message: 'a plain (non-authenticated) store cannot hold a timestamp' };
    if (v.monotonicCount) return { field: 'monotonicCount', message: 'a plain store cannot hold a monotonic count' };
    if (v.pubKeyIndex) return { field: 'pubKeyIndex', message: 'a plain store cannot hold a public-key index' };
  }
  return undefined;
}

/** Identity of a variable: GUID (lower case) + name. */
export function variableKey(v: { name: string; guid: string }): string {
  return `${v.guid.toLowerCase()}\0${v.name}`;
}
