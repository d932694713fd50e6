/**
 * @module nova/objects
 * Accept Nova objects in either wire form: plain JSON, or oslo.versionedobjects primitives
 * exactly as `obj_to_primitive()` emits them (`nova_object.name`, `.namespace`, `.version`,
 * `.data`, `.changes`, nested at any depth). `unwrap` turns both into plain JSON; the name
 * of the outermost object is kept so a handler can check it got what it expected.
 *
 * Does not validate fields: the OpenAPI schema (request validation) and the driver do.
 */

export const OBJ_SERIAL_NAMESPACE = 'nova_object';

export function isPrimitive(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v) && `${OBJ_SERIAL_NAMESPACE}.name` in (v as object) && `${OBJ_SERIAL_NAMESPACE}.data` in (v as object);
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

/** Nova's Instance as far as the sidecar reads it. */
export interface NovaInstance {
  uuid: string;
  id?: number;
  host?: string | null;
  node?: string | null;
  vcpus?: number;
  memory_mb?: number;
  flavor?: NovaFlavor;
  system_metadata?: Record<string, string>;
  image_ref?: string;
  display_name?: string;
  [k: string]: unknown;
}

export interface NovaFlavor {
  name?: string;
  flavorid?: string;
  vcpus?: number;
  memory_mb?: number;
  root_gb?: number;
  extra_specs?: Record<string, string>;
  [k: string]: unknown;
}

/** Image properties the sidecar reads (ImageMetaProps field names). */
export interface ImageProps {
  hw_firmware_type?: string;
  os_secure_boot?: string;
  hw_machine_type?: string;
  hw_firmware_stateless?: boolean | string;
  hw_architecture?: string;
  hw_emulation_architecture?: string;
  hw_rescue_device?: string;
  hw_rescue_bus?: string;
  [k: string]: unknown;
}

export interface NovaImageMeta {
  id?: string;
  name?: string;
  properties?: ImageProps;
  [k: string]: unknown;
}

export interface NovaMigration {
  uuid?: string;
  id?: number;
  source_compute?: string;
  dest_compute?: string;
  source_node?: string;
  dest_node?: string;
  migration_type?: string;
  status?: string;
  [k: string]: unknown;
}
