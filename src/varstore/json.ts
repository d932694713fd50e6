/**
 * @module varstore/json
 * The version-2 JSON variable format shared by `virt-fw-vars --output-json/--set-json`, QEMU's
 * `uefi-vars` device and python-uefivars (reference §5.7):
 * `{"version": 2, "variables": [{"name", "guid", "attr", "data": hex, "time"?: 32 hex}]}`.
 * `time` (EFI_TIME) is written only when the timestamp is non-zero (time-based authenticated
 * variables). On import every field is validated and errors name it
 * (`variables[3].guid: not a GUID`); QEMU's `digest` and unknown keys are ignored.
 * Monotonic count and key index are not part of the format (import sets them to 0).
 */
import { VarStoreError } from './errors';
import { isZeroTime } from './efiTime';
import { variableKey, variableProblem } from './storable';
import type { Variable } from './types';

export const JSON_VERSION = 2;

export interface JsonVariable {
  name: string;
  guid: string;
  attr: number;
  data: string;
  time?: string;
}

export interface VarStoreJson {
  version: 2;
  variables: JsonVariable[];
}

export function exportJson(vars: readonly Variable[]): VarStoreJson {
  return {
    version: JSON_VERSION,
    variables: vars.map((v) => {
      const out: JsonVariable = { name: v.name, guid: v.guid.toLowerCase(), attr: v.attr, data: v.data.toString('hex') };
      if (v.timestamp && !isZeroTime(v.timestamp)) out.time = v.timestamp.toString('hex');
      return out;
    }),
  };
}

function bad(field: string, message: string): VarStoreError {
  return new VarStoreError('invalid-json', `${field}: ${message}`, { field });
}

const HEX = /^(?:[0-9a-fA-F]{2})*$/;

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Validate a version-2 document (parsed, or JSON text) and return its variables. */
export function importJson(doc: unknown): Variable[] {
  let root = doc;
  if (typeof doc === 'string' || Buffer.isBuffer(doc)) {
    try {
      root = JSON.parse(doc.toString());
    } catch (e) {
      throw bad('$', `not JSON (${(e as Error).message})`);
    }
  }
  if (!isObject(root)) throw bad('$', 'must be an object');
  if (root.version !== JSON_VERSION) throw bad('version', `must be ${JSON_VERSION}, found ${JSON.stringify(root.version) ?? 'nothing'}`);
  if (!Array.isArray(root.variables)) throw bad('variables', 'must be an array');
  const seen = new Map<string, number>();
  return root.variables.map((item: unknown, i: number): Variable => {
    const at = `variables[${i}]`;
    if (!isObject(item)) throw bad(at, 'must be an object');
    if (typeof item.name !== 'string') throw bad(`${at}.name`, 'must be a string');
    if (typeof item.guid !== 'string') throw bad(`${at}.guid`, 'not a GUID');
    if (typeof item.data !== 'string' || !HEX.test(item.data)) throw bad(`${at}.data`, 'must be a hex string of whole bytes');
    if (item.time !== undefined && (typeof item.time !== 'string' || !/^[0-9a-fA-F]{32}$/.test(item.time))) {
      throw bad(`${at}.time`, 'must be 32 hex characters (EFI_TIME)');
    }
    const v: Variable = {
      name: item.name,
      guid: item.guid.toLowerCase(),
      attr: item.attr as number,
      data: Buffer.from(item.data, 'hex'),
      timestamp: typeof item.time === 'string' ? Buffer.from(item.time, 'hex') : Buffer.alloc(16),
      monotonicCount: 0n,
      pubKeyIndex: 0,
    };
    const p = variableProblem(v);
    if (p) throw bad(`${at}.${p.field}`, p.message);
    const key = variableKey(v);
    const first = seen.get(key);
    if (first !== undefined) throw bad(at, `duplicate of variables[${first}] (${v.name}, ${v.guid})`);
    seen.set(key, i);
    return v;
  });
}
