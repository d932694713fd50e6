/**
 * @module cli/client
 * The online CLI's HTTP client for a running sidecar (Node's fetch), and its exit codes: what
 * went wrong decides the code, so a script can tell an instance that is not there from a
 * refusal from a sidecar it cannot reach.
 *
 *   0  success
 *   1  the sidecar refused or failed the request (409 wrong state, 400 bad input, 5xx, ...)
 *   2  usage: the command line is wrong (nothing was sent)
 *   3  not found: the instance, generation, rotation or variable does not exist (404)
 *   4  not authorized: no token, or the wrong one (401, 403)
 *   5  unreachable: no answer (connection refused, name not resolved, TLS failure, timeout)
 */
import type { ClientSettings } from '../config/client';

export const EXIT = { OK: 0, REFUSED: 1, USAGE: 2, NOT_FOUND: 3, UNAUTHORIZED: 4, UNREACHABLE: 5 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A failure worded for the user, with its exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exit: ExitCode,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

interface ErrorBody {
  error?: { type?: string; message?: string };
}

export class SidecarClient {
  constructor(
    readonly settings: ClientSettings,
    private readonly timeoutMs = 30_000,
  ) {}

  /** One request; the JSON answer, or a `CliError` with the exit code for what went wrong. */
  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const { url, token } = this.settings;
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(`${url}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (e) {
      throw new CliError(`cannot reach the sidecar at ${url} (from ${this.settings.source}): ${reason(e, this.timeoutMs)}`, EXIT.UNREACHABLE);
    }
    const text = await res.text();
    let data: unknown;
    try {
      data = text ? JSON.parse(text) : {};
    } catch {
      throw new CliError(`${url}${path} answered ${res.status} with something that is not JSON (is ${url} a nova-uefi-shim sidecar?)`, EXIT.REFUSED);
    }
    if (res.ok) return data as T;
    const err = (data as ErrorBody).error;
    const what = err?.message ? `${err.type ?? 'Error'}: ${err.message}` : `HTTP ${res.status}`;
    if (res.status === 404) throw new CliError(what, EXIT.NOT_FOUND);
    if (res.status === 401 || res.status === 403) {
      throw new CliError(`${what} (give the sidecar's [api] auth_token with --token, NOVA_UEFI_SHIM_TOKEN or --config-file)`, EXIT.UNAUTHORIZED);
    }
    throw new CliError(what, EXIT.REFUSED);
  }
}

/** Why fetch failed, in one phrase (undici hides the system error in `cause`). */
function reason(e: unknown, timeoutMs: number): string {
  const err = e as Error & { cause?: NodeJS.ErrnoException & { message?: string } };
  if (err?.name === 'TimeoutError' || err?.name === 'AbortError') return `no answer within ${timeoutMs / 1000} s`;
  const cause = err?.cause;
  if (cause?.code) return `${cause.code}${cause.message && !cause.message.includes(cause.code) ? ` (${cause.message})` : ''}`;
  return cause?.message ?? err?.message ?? String(e);
}
