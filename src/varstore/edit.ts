/**
 * @module varstore/edit
 * Pure edits of a variable list (arrays in, new arrays out; the input is never mutated). Pair
 * them with `writeVarStore` to produce a new image:
 * `writeVarStore(buf, setVariable(parseVarStore(buf).variables, {...}))`.
 *
 * Boot option names follow UEFI 2.10 §3.1.1: `Boot` + four upper-case hex digits, under
 * EFI_GLOBAL_VARIABLE, attributes NV|BS|RT.
 */
import { VarStoreError } from './errors';
import { EFI_GLOBAL_VARIABLE } from './guids';
import { ATTR_NV_BS_RT } from './layout';
import { variableKey, variableProblem } from './storable';
import type { Variable } from './types';

export interface VariableUpdate {
  name: string;
  guid: string;
  attr: number;
  data: Buffer;
  /** EFI_TIME (16 bytes). Absent: keep the existing variable's timestamp, zero for a new one. */
  time?: Buffer;
}

/** `3` → `Boot0003`. */
export function bootOptionName(n: number): string {
  return `Boot${n.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** `Boot000A` → 10; anything else → undefined. */
export function bootOptionNumber(name: string): number | undefined {
  return /^Boot[0-9A-F]{4}$/.test(name) ? parseInt(name.slice(4), 16) : undefined;
}

export function findVariable<T extends Variable>(vars: readonly T[], name: string, guid: string): T | undefined {
  const key = variableKey({ name, guid });
  return vars.find((v) => variableKey(v) === key);
}

/**
 * Add or replace one variable. A replaced variable keeps its position, monotonic count and key
 * index (and its timestamp unless `time` is given); a new one is appended.
 */
export function setVariable(vars: readonly Variable[], update: VariableUpdate): Variable[] {
  const candidate: Variable = { name: update.name, guid: update.guid, attr: update.attr, data: update.data, timestamp: update.time };
  const p = variableProblem(candidate);
  if (p) throw new VarStoreError('invalid-variable', `${p.field}: ${p.message}`, { field: p.field });
  const guid = update.guid.toLowerCase();
  const key = variableKey(candidate);
  const idx = vars.findIndex((v) => variableKey(v) === key);
  if (idx < 0)
    return [
      ...vars,
      {
        name: update.name,
        guid,
        attr: update.attr,
        data: Buffer.from(update.data),
        timestamp: update.time ? Buffer.from(update.time) : Buffer.alloc(16),
        monotonicCount: 0n,
        pubKeyIndex: 0,
      },
    ];
  const old = vars[idx];
  const next: Variable = {
    name: old.name,
    guid: old.guid,
    attr: update.attr,
    data: Buffer.from(update.data),
    timestamp: update.time ? Buffer.from(update.time) : old.timestamp,
    monotonicCount: old.monotonicCount,
    pubKeyIndex: old.pubKeyIndex,
  };
  return vars.map((v, i) => (i === idx ? next : v));
}

/** Remove one variable; `VarStoreError('not-found')` when it does not exist. */
export function deleteVariable(vars: readonly Variable[], name: string, guid: string): Variable[] {
  const key = variableKey({ name, guid });
  const idx = vars.findIndex((v) => variableKey(v) === key);
  if (idx < 0) throw new VarStoreError('not-found', `variable ${name} (${guid}) does not exist`, { field: 'name' });
  return vars.filter((_, i) => i !== idx);
}

function checkBootNumber(vars: readonly Variable[], n: unknown, field: string): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 0xffff) {
    throw new VarStoreError('invalid-variable', `${field}: ${String(n)} is not a boot option number 0..0xFFFF`, { field });
  }
  if (!findVariable(vars, bootOptionName(n), EFI_GLOBAL_VARIABLE)) {
    throw new VarStoreError('not-found', `${field}: boot option ${bootOptionName(n)} does not exist`, { field });
  }
  return n;
}

function u16List(ns: readonly number[]): Buffer {
  const b = Buffer.alloc(ns.length * 2);
  ns.forEach((n, i) => b.writeUInt16LE(n, i * 2));
  return b;
}

/** Set BootOrder; every entry must exist as Boot#### and appear once. */
export function setBootOrder(vars: readonly Variable[], order: readonly number[]): Variable[] {
  // Checked through an `unknown` alias (callers from JavaScript): Array.isArray on the readonly
  // array itself would narrow it to any[].
  const given: unknown = order;
  if (!Array.isArray(given) || order.length === 0) {
    throw new VarStoreError('invalid-variable', 'BootOrder: must list at least one boot option', { field: 'BootOrder' });
  }
  const seen = new Set<number>();
  order.forEach((n, i) => {
    checkBootNumber(vars, n, `BootOrder[${i}]`);
    if (seen.has(n)) throw new VarStoreError('invalid-variable', `BootOrder[${i}]: ${bootOptionName(n)} is listed twice`, { field: `BootOrder[${i}]` });
    seen.add(n);
  });
  return setVariable(vars, { name: 'BootOrder', guid: EFI_GLOBAL_VARIABLE, attr: ATTR_NV_BS_RT, data: u16List(order) });
}

/** Set BootNext (one-shot boot option); the Boot#### entry must exist. */
export function setBootNext(vars: readonly Variable[], n: number): Variable[] {
  checkBootNumber(vars, n, 'BootNext');
  return setVariable(vars, { name: 'BootNext', guid: EFI_GLOBAL_VARIABLE, attr: ATTR_NV_BS_RT, data: u16List([n]) });
}
