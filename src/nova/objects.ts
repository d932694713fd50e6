/**
 * @module nova/objects
 * Accept Nova objects in either wire form: plain JSON, or oslo.versionedobjects primitives
 * exactly as `obj_to_primitive()` emits them (`nova_object.name`, `.namespace`, `.version`,
 * `.data`, `.changes`, nested at any depth). `unwrap` turns both into plain JSON; the name
 * of the outermost object is kept so a handler can check it got what it expected.
 *
 * Does not validate fields: the OpenAPI schema (request validation) and the driver do.
 */

import type { Schemas, Unwrapped } from '../wire';

export const OBJ_SERIAL_NAMESPACE = 'nova_object';

export function isPrimitive(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v) && `${OBJ_SERIAL_NAMESPACE}.name` in v && `${OBJ_SERIAL_NAMESPACE}.data` in v;
}

/** Recursively replace versioned-object primitives by their `data`. */
export function unwrap(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(unwrap);
  if (isPrimitive(v)) return unwrap(v[`${OBJ_SERIAL_NAMESPACE}.data`]);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, val] of Object.entries(v as Record<string, unknown>)) out[k] = unwrap(val);
    return out;
  }
  return v;
}

/** The `nova_object.name` of a primitive, or undefined for plain JSON. */
export function objectName(v: unknown): string | undefined {
  return isPrimitive(v) ? String(v[`${OBJ_SERIAL_NAMESPACE}.name`]) : undefined;
}

/*
 * Nova's objects as far as the sidecar reads them: the plain-JSON forms of the request
 * schemas (`wire`), so the type a flow reads is the one the request was validated against.
 * Fields Nova sends beyond these pass through at run time and are not typed.
 */
export type NovaInstance = Unwrapped<Schemas['Instance']>;
/**
 * The instance destroy and cleanup take (InstanceToDestroy): its uuid, and those fields of
 * Instance that were well-formed (`RequestValidator.wellFormedInstance` leaves the others out).
 */
export type InstanceToDestroy = Partial<NovaInstance> & Unwrapped<Schemas['InstanceToDestroy']>;
export type NovaFlavor = Unwrapped<Schemas['Flavor']>;
/** Image properties the sidecar reads (ImageMetaProps field names). */
export type ImageProps = Unwrapped<Schemas['ImageMetaProps']>;
export type NovaImageMeta = Unwrapped<Schemas['ImageMeta']>;
export type NovaMigration = Unwrapped<Schemas['Migration']>;
