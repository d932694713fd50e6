/**
 * @module varstore/errors
 * The one error type of the varstore library. Every failure (unreadable store, bad variable,
 * full store, bad JSON) is a `VarStoreError` with a machine-readable `reason`, so the HTTP
 * layer and the CLI never match message strings.
 *
 * The Nova-style `type` is `InvalidNVRAM` for every reason (a Nova `Invalid` subclass in
 * spirit, like `InvalidDiskInfo`); the HTTP status depends on the reason, see
 * `VARSTORE_ERROR_STATUS`: the request was fine but the stored file cannot be processed → 422;
 * the caller sent a bad variable or document → 400; the named variable does not exist → 404;
 * the change does not fit in the store → 409 (a conflict with the store's fixed size; the
 * caller can delete variables and retry).
 */
import { NovaError } from '../errors';

export type VarStoreErrorReason =
  /** The file is a qcow2 image (magic `QFI\xfb`): convert it with qemu-img first. */
  | 'qcow2'
  /** All 0x00 (or all 0xFF) with no firmware volume: the firmware formats it on first boot. */
  | 'unformatted'
  /** No edk2 NvData firmware volume found. */
  | 'not-edk2'
  /** An edk2 NvData volume whose variable store has an unknown signature. */
  | 'unsupported'
  /** Structurally broken: bad checksum, sizes out of bounds, truncated, bad name. */
  | 'corrupt'
  /** The variables do not fit in the store, even after dropping deleted records. */
  | 'full'
  /** A variable given to the writer or an edit helper is invalid (names the field). */
  | 'invalid-variable'
  /** The variable to delete (or a Boot#### entry referenced) does not exist. */
  | 'not-found'
  /** A JSON import document is invalid (names the field). */
  | 'invalid-json';

/** HTTP status per reason (see the module header for the reasoning). */
export const VARSTORE_ERROR_STATUS: Readonly<Record<VarStoreErrorReason, number>> = Object.freeze({
  qcow2: 422,
  unformatted: 422,
  'not-edk2': 422,
  unsupported: 422,
  corrupt: 422,
  full: 409,
  'invalid-variable': 400,
  'not-found': 404,
  'invalid-json': 400,
});

export interface VarStoreErrorOptions {
  /** Absolute byte offset in the file where the problem is, when there is one. */
  offset?: number;
  /** The failing field (`variables[3].guid`, `attr`, ...), when there is one. */
  field?: string;
  cause?: unknown;
}

export class VarStoreError extends NovaError {
  readonly reason: VarStoreErrorReason;
  readonly offset?: number;
  readonly field?: string;

  constructor(reason: VarStoreErrorReason, message: string, options: VarStoreErrorOptions = {}) {
    const details: Record<string, unknown> = { reason };
    if (options.offset !== undefined) details.offset = options.offset;
    if (options.field !== undefined) details.field = options.field;
    super('InvalidNVRAM', VARSTORE_ERROR_STATUS[reason], message, { cause: options.cause, details });
    this.reason = reason;
    this.offset = options.offset;
    this.field = options.field;
  }
}

export function isVarStoreError(e: unknown): e is VarStoreError {
  return e instanceof VarStoreError;
}

/** `0x1a2b` formatting for messages. */
export function hex(n: number): string {
  return `0x${n.toString(16)}`;
}
