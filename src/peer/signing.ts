/**
 * @module peer/signing
 * HMAC authentication of sidecar-to-sidecar calls. The signature covers the method, the
 * path (with query), the sha256 of the body as sent, a timestamp and a nonce, keyed with
 * `[peer] shared_secret`. The verifier refuses a missing or wrong signature, a timestamp
 * outside `[peer] max_clock_skew`, and a nonce it has already seen inside that window
 * (replay). The nonce cache is in memory; after a restart the timestamp window bounds replay.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { NovaError } from '../errors';

export const H_TIMESTAMP = 'x-shim-timestamp';
export const H_NONCE = 'x-shim-nonce';
export const H_SIGNATURE = 'x-shim-signature';
export const H_BODY_SHA256 = 'x-shim-body-sha256';

export class PeerAuthError extends NovaError {
  constructor(reason: string) {
    super('NotAuthorized', 401, `peer request refused: ${reason}`);
  }
}

export function bodyDigest(body: Buffer): string {
  return createHash('sha256').update(body).digest('hex');
}

function mac(secret: string, method: string, pathAndQuery: string, digest: string, ts: string, nonce: string): string {
  return createHmac('sha256', secret).update([method.toUpperCase(), pathAndQuery, digest, ts, nonce].join('\n')).digest('hex');
}

/** Headers for a signed request. */
export function signRequest(secret: string, method: string, pathAndQuery: string, body: Buffer, now = Date.now()): Record<string, string> {
  if (!secret) throw new NovaError('MigrationError', 500, 'Migration error: [peer] shared_secret is not set');
  const ts = String(Math.floor(now / 1000));
  const nonce = randomBytes(16).toString('hex');
  const digest = bodyDigest(body);
  return { [H_TIMESTAMP]: ts, [H_NONCE]: nonce, [H_BODY_SHA256]: digest, [H_SIGNATURE]: mac(secret, method, pathAndQuery, digest, ts, nonce) };
}

export class SignatureVerifier {
  private readonly seen = new Map<string, number>();
  constructor(
    private secret: string,
    private maxSkewSec: number,
  ) {}

  /** A reloaded `[peer] shared_secret` / `max_clock_skew`, for requests from now on. */
  reconfigure(secret: string, maxSkewSec: number): void {
    this.secret = secret;
    this.maxSkewSec = maxSkewSec;
  }

  /** Throws PeerAuthError unless the request is signed by a peer, fresh and not replayed. */
  verify(method: string, pathAndQuery: string, headers: Record<string, string | string[] | undefined>, body: Buffer, now = Date.now()): void {
    if (!this.secret) throw new PeerAuthError('[peer] shared_secret is not set on this host');
    const h = (k: string) => {
      const v = headers[k];
      return Array.isArray(v) ? v[0] : v;
    };
    const ts = h(H_TIMESTAMP);
    const nonce = h(H_NONCE);
    const sig = h(H_SIGNATURE);
    if (!ts || !nonce || !sig) throw new PeerAuthError('missing signature');
    const t = Number(ts);
    if (!Number.isInteger(t) || Math.abs(now / 1000 - t) > this.maxSkewSec) throw new PeerAuthError('stale or future timestamp');
    const digest = bodyDigest(body);
    const want = Buffer.from(mac(this.secret, method, pathAndQuery, digest, ts, nonce), 'hex');
    const got = Buffer.from(sig, 'hex');
    if (got.length !== want.length || !timingSafeEqual(got, want)) throw new PeerAuthError('wrong signature');
    this.prune(now);
    if (this.seen.has(nonce)) throw new PeerAuthError('replayed request');
    this.seen.set(nonce, t);
  }

  private prune(now: number): void {
    const floor = now / 1000 - this.maxSkewSec;
    for (const [n, t] of this.seen) if (t < floor) this.seen.delete(n);
  }
}
