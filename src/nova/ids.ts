/**
 * @module nova/ids
 * Identifiers as Nova hands them over: instance UUIDs (path parameters and `instance.uuid`)
 * and `instance.id`, the database id that `[DEFAULT] instance_name_template` turns into the
 * domain name and so into the NVRAM file name. Checks only; no I/O.
 */
import { InvalidInput } from '../errors';

const UUID_RE = /^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$/;

/** The UUID in lower case, or InvalidInput naming `field`. */
export function validateUuid(uuid: string, field = 'instance_uuid'): string {
  if (typeof uuid !== 'string' || !UUID_RE.test(uuid)) throw new InvalidInput(field, `'${String(uuid)}' is not a UUID`);
  return uuid.toLowerCase();
}

/**
 * Largest `instance.id` accepted: 2^53 - 1. Nova's ids are database integers, but above this
 * a JSON number loses precision in JavaScript, so two different ids could name one domain and
 * one NVRAM file.
 */
export const MAX_INSTANCE_ID = Number.MAX_SAFE_INTEGER;

/** `instance.id` when present: an integer in 1 … 2^53 - 1, or InvalidInput naming `instance.id`. */
export function validateInstanceId(id: unknown, field = 'instance.id'): number | undefined {
  if (id === undefined || id === null) return undefined;
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1) {
    throw new InvalidInput(field, `must be an integer from 1 to ${MAX_INSTANCE_ID}, got ${String(id)}`);
  }
  return id;
}
