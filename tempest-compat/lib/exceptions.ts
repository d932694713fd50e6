/**
 * @module tempest-compat/lib/exceptions
 * Exceptions named after tempest's (`tempest.lib.exceptions`, `tempest.exceptions`): REST
 * failures carry the request id and the server's error body so that a failing case prints both;
 * waiter failures name the status and task state they waited for. This module does not decide
 * whether a test fails or skips; the runner does.
 */

/** `testtools.TestCase.skipException`: raised by skip checks; the message names the flag. */
export class SkipException extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'SkipException';
  }
}

export interface ServerErrorBody {
  type?: string;
  code?: number;
  message?: string;
  [k: string]: unknown;
}

/** `tempest.lib.exceptions.RestClientException` and its HTTP-status subclasses. */
export class RestClientException extends Error {
  readonly status: number;
  readonly requestId: string | null;
  readonly method: string;
  readonly url: string;
  /** Parsed JSON body when the server sent JSON, else the raw text. */
  readonly body: unknown;
  /** `body.error` when the server followed the error contract. */
  readonly error: ServerErrorBody | null;

  constructor(opts: { status: number; requestId: string | null; method: string; url: string; body: unknown }) {
    const err = extractError(opts.body);
    const bodyText = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    super(
      `${opts.method} ${opts.url} -> HTTP ${opts.status}` +
        `${err?.type ? ` ${err.type}` : ''}` +
        `\nRequest ID: ${opts.requestId ?? '(none)'}\nResponse body: ${bodyText}`,
    );
    this.name = classNameFor(opts.status);
    this.status = opts.status;
    this.requestId = opts.requestId;
    this.method = opts.method;
    this.url = opts.url;
    this.body = opts.body;
    this.error = err;
  }

  /** Nova exception name from the error body (`UEFINotSupported`, ...). */
  get type(): string | undefined {
    return this.error?.type;
  }
}

function extractError(body: unknown): ServerErrorBody | null {
  if (body && typeof body === 'object' && 'error' in body) {
    const e = body.error;
    if (e && typeof e === 'object') return e as ServerErrorBody;
  }
  return null;
}

function classNameFor(status: number): string {
  switch (status) {
    case 400:
      return 'BadRequest';
    case 401:
      return 'Unauthorized';
    case 403:
      return 'Forbidden';
    case 404:
      return 'NotFound';
    case 409:
      return 'Conflict';
    default:
      return status >= 500 ? 'ServerFault' : 'UnexpectedResponseCode';
  }
}

/** `tempest.exceptions.BuildErrorException`: the server went to ERROR; carries the fault. */
export class BuildErrorException extends Error {
  readonly serverId: string;
  readonly fault: { code?: number; message?: string; details?: string } | null;
  constructor(serverId: string, fault: { code?: number; message?: string; details?: string } | null) {
    super(`Server ${serverId} failed to build and is in ERROR status\nDetails: Fault: ${JSON.stringify(fault)}.`);
    this.name = 'BuildErrorException';
    this.serverId = serverId;
    this.fault = fault;
  }
}

/** `tempest.lib.exceptions.TimeoutException`. */
export class TimeoutException extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TimeoutException';
  }
}

/** `tempest.lib.exceptions.DeleteErrorException`. */
export class DeleteErrorException extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeleteErrorException';
  }
}

/** Server-side migration ended in `error`/`failed` (whitebox `wait_for_server_migration_complete`). */
export class MigrationErrorException extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MigrationErrorException';
  }
}

/** Raised by the in-process compute API emulation where Nova's API would answer 4xx. */
export class ComputeApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = classNameFor(status);
    this.status = status;
  }
}
