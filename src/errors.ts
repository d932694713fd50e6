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
  /** 400; 415 for a body whose media type, charset or coding is not taken (RFC 9110 §15.5.16). */
  constructor(field: string, reason: string, status: 400 | 415 = 400) {
    super('InvalidInput', status, `Invalid input received: ${field}: ${reason}`, { details: { field } });
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

/** HTTP 405: the path exists but does not take this method (the answer's `Allow` names those it takes). */
export class MethodNotAllowed extends NovaError {
  constructor(message: string) {
    super('MethodNotAllowed', 405, message);
  }
}

/** The sidecar cannot serve now (shutting down): 503, retry later. */
export class ServiceUnavailable extends NovaError {
  constructor(message: string) {
    super('ServiceUnavailable', 503, message);
  }
}

/** What a storage errno means, in the words of strerror(3). */
const ERRNO_WORDS: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EIO: 'input/output error',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOENT: 'no such file or directory',
  ENOTDIR: 'not a directory',
  EISDIR: 'is a directory',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in system',
  EFBIG: 'file too large',
  EXDEV: 'cross-device link',
  ENAMETOOLONG: 'file name too long',
};

/** The failed step, as the message says it. */
const STEP_WORDS: Record<string, string> = {
  open: 'create a temporary file for',
  write: 'write',
  sync: 'flush',
  verify: 'verify',
  rename: 'rename into place',
  link: 'link into place',
  'sync-dir': 'flush the directory entry of',
  mkdir: 'create the directory',
  unlink: 'remove',
};

/**
 * Nova `StorageError` ("Storage error: %(reason)s"): a file the sidecar had to write (a store,
 * a state file, a replica object) could not be written, renamed into place or made durable.
 * The old file is untouched unless `step` is `sync-dir` (the new file is in place, its
 * durability unknown). Every such failure answers HTTP 507 Insufficient Storage, whatever the
 * errno (ENOSPC and EDQUOT: full; EROFS: remounted read-only; EIO: the device failed): the
 * client must not retry before an operator fixes the filesystem, and `details.errno` says which.
 */
export class StorageError extends NovaError {
  /** The file or directory concerned (absolute). */
  readonly path: string;
  /** The system error code (`ENOSPC`, `EROFS`, ...), `EIO` when there was none. */
  readonly errno: string;
  /** The step that failed: open, write, sync, verify, rename, link, sync-dir, mkdir, unlink. */
  readonly step: string;
  constructor(file: string, step: string, errno: string, detail?: string, options?: { cause?: unknown }) {
    const words = ERRNO_WORDS[errno] ?? detail ?? errno;
    const extra = detail && detail !== words ? ` (${detail})` : '';
    super('StorageError', 507, `Storage error: cannot ${STEP_WORDS[step] ?? step} ${file}: ${words} [${errno}]${extra}`, {
      cause: options?.cause,
      details: { path: file, errno, step },
    });
    this.path = file;
    this.errno = errno;
    this.step = step;
  }
}

/** `e` as a `StorageError` about `file` at `step` (kept as is when it already is one). */
export function storageError(file: string, step: string, e: unknown): StorageError {
  if (e instanceof StorageError) return e;
  const errno = (e as NodeJS.ErrnoException)?.code;
  const code = typeof errno === 'string' && /^E[A-Z0-9]+$/.test(errno) ? errno : 'EIO';
  const msg = e instanceof Error ? e.message : String(e);
  // Node's own messages repeat the code and the path ("ENOSPC: no space left on device, write"): keep only a stranger's.
  const detail = typeof errno === 'string' && msg.startsWith(`${errno}:`) ? undefined : msg;
  return new StorageError(file, step, code, detail, { cause: e });
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
