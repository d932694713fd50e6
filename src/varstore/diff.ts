/**
 * @module varstore/diff
 * Compare two variable sets by name+GUID: added, removed, and changed (which of attributes,
 * data, timestamp differ). Order within a set is ignored.
 */
import { variableKey } from './storable';
import type { Variable } from './types';

export type ChangedField = 'attr' | 'data' | 'time';

export interface VariableChange {
  name: string;
  guid: string;
  fields: ChangedField[];
  before: Variable;
  after: Variable;
}

export interface VariableDiff {
  added: Variable[];
  removed: Variable[];
  changed: VariableChange[];
}

function timeOf(v: Variable): Buffer {
  return v.timestamp ?? Buffer.alloc(16);
}

export function diffVariables(a: readonly Variable[], b: readonly Variable[]): VariableDiff {
  const before = new Map(a.map((v) => [variableKey(v), v] as const));
  const after = new Map(b.map((v) => [variableKey(v), v] as const));
  const out: VariableDiff = { added: [], removed: [], changed: [] };
  for (const [k, v] of before) if (!after.has(k)) out.removed.push(v);
  for (const [k, w] of after) {
    const v = before.get(k);
    if (!v) {
      out.added.push(w);
      continue;
    }
    const fields: ChangedField[] = [];
    if (v.attr !== w.attr) fields.push('attr');
    if (!v.data.equals(w.data)) fields.push('data');
    if (!timeOf(v).equals(timeOf(w))) fields.push('time');
    if (fields.length) out.changed.push({ name: w.name, guid: w.guid.toLowerCase(), fields, before: v, after: w });
  }
  return out;
}

export function isEmptyDiff(d: VariableDiff): boolean {
  return d.added.length === 0 && d.removed.length === 0 && d.changed.length === 0;
}
