/**
 * @module errors
 * Typed errors that carry the Nova exception class name, so that the compute proxy can
 * re-raise the same exception (`nova/exception.py`). One base class; the API layer maps
 * any `NovaError` to `{"error": {"type", "code", "message"}}` and everything else to 500.
 * Library code throws these and never exits the process.
 */

export class NovaError extends Error {
  /** Nova exception class name, e.g. `UEFINotSupported`. */
  readonly type: string;
  /** HTTP status the API answers with. */
  readonly code: number;
  /** Optional machine-readable detail (the failing field, ...). */
  readonly details?: Record<string, unknown>;

  constructor(type: string, code: number, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = type;
    this.type = type;
    this.code = code;
    this.details = options?.details;
  }

  /**
   * The same Nova exception (type, status, details) said with `message`, this one as its
   * cause: a flow adds what it was doing without changing what Nova re-raises.
   */
  restated(message: string): NovaError {
    return new NovaError(this.type, this.code, message, { cause: this, details: this.details });
  }
}

/** Nova `NotFound` (404): a resource that is not an instance (a generation, a rotation, a route). */
export class NotFound extends NovaError {
  constructor(message: string) {
    super('NotFound', 404, message);
  }
}

/**
 * Nova `Invalid`: an enum value outside its set and similar (400), or a request this host
 * cannot serve in its present state (`code` 409: replicas not configured, a template gone).
 */
export class Invalid extends NovaError {
  constructor(message: string, details?: Record<string, unknown>, code: 400 | 409 = 400) {
    super('Invalid', code, message, { details });
  }
}

/** Nova `InvalidInput` (400): "Invalid input received: %(reason)s". Names the field. */
export class InvalidInput extends NovaError {
  constructor(field: string, reason: string) {
    super('InvalidInput', 400, `Invalid input received: ${field}: ${reason}`, { details: { field } });
  }
}

export class UEFINotSupported extends NovaError {
  constructor(reason?: string) {
    super('UEFINotSupported', 400, reason ? `UEFI is not supported: ${reason}` : 'UEFI is not supported');
  }
}

export class SecureBootNotSupported extends NovaError {
  constructor(reason?: string) {
    super('SecureBootNotSupported', 400, reason ? `Secure Boot is not supported by host: ${reason}` : 'Secure Boot is not supported by host');
  }
}

export class FlavorImageConflict extends NovaError {
  constructor(setting: string, flavorVal: string, imageVal: string) {
    super('FlavorImageConflict', 400, `Conflicting values for ${setting} found in the flavor (${flavorVal}) and the image (${imageVal}).`, {
      details: { setting, flavor_val: flavorVal, image_val: imageVal },
    });
  }
}

export class InstanceNotFound extends NovaError {
  /** @param message Nova's text unless given (e.g. a guest that did not arrive on this host). */
  constructor(instanceId: string, message = `Instance ${instanceId} could not be found.`) {
    super('InstanceNotFound', 404, message, { details: { instance_id: instanceId } });
  }
}

/** Nova `InstanceExists` (409): "Instance %(name)s already exists." */
export class InstanceExists extends NovaError {
  constructor(name: string) {
    super('InstanceExists', 409, `Instance ${name} already exists.`);
  }
}

export class InstanceInvalidState extends NovaError {
  constructor(instanceUuid: string, attr: string, state: string, method: string) {
    super('InstanceInvalidState', 409, `Instance ${instanceUuid} in ${attr} ${state}. Cannot ${method} while the instance is in this state.`);
  }
}

export class Unauthorized extends NovaError {
  constructor(message = 'Not authorized.') {
    super('NotAuthorized', 401, message);
  }
}

export class MigrationPreCheckError extends NovaError {
  constructor(reason: string) {
    super('MigrationPreCheckError', 400, `Migration pre-check error: ${reason}`);
  }
}

export class MigrationError extends NovaError {
  constructor(reason: string, options?: { cause?: unknown; code?: number }) {
    super('MigrationError', options?.code ?? 500, `Migration error: ${reason}`, { cause: options?.cause });
  }
}

/** A hypervisor (libvirt) failure, classified once in `hypervisor/` so callers never match strings. */
export class HypervisorError extends NovaError {
  /** libvirt-ish classification: `no-domain`, `operation-invalid`, `connect`, `other`. */
  readonly kind: string;
  constructor(kind: string, message: string, options?: { cause?: unknown }) {
    super('InternalError', 500, message, { cause: options?.cause });
    this.kind = kind;
  }
}

/** The sidecar cannot serve now (shutting down): 503, retry later. */
export class ServiceUnavailable extends NovaError {
  constructor(message: string) {
    super('ServiceUnavailable', 503, message);
  }
}

/** Nova `InternalError`: a known internal failure with a message that is safe to show. */
export class InternalError extends NovaError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('InternalError', 500, message, options);
  }
}

export function isNovaError(e: unknown): e is NovaError {
  return e instanceof NovaError;
}
