/**
 * @module peer/signing
 * HMAC authentication of sidecar-to-sidecar calls, keyed with `[peer] shared_secret`.
 *
 * A request's signature covers the method, the path (with query), the DESTINATION (the name
 * the caller knows the receiving sidecar by: its `[DEFAULT] host`, or one of the names it
 * answers to), a timestamp, a nonce, and the sha256 and length of the body as sent. All of
 * it travels in headers, so the receiver checks the signature, the destination, the clock
 * and the nonce before it reads one byte of the body (`verifyHeaders`), then streams the
 * body and compares its digest and length (`checkBody`). A request signed for host A is
 * refused by host B (the destination is not B's), and a nonce is accepted once inside the
 * `[peer] max_clock_skew` window (the cache is in memory; after a restart the timestamp
 * window bounds replay).
 *
 * Answers a caller acts on are signed by the responder (`signResponse`): the MAC covers the
 * request's nonce and destination, the status and the body's digest, so an answer cannot be
 * forged, replayed from another request, or taken from another host; `verifyResponse` is the
 * client's check. Request and response MACs are domain-separated (a first line that differs),
 * so one can never pass for the other.
 *
 * What it does not do: read bodies (api/peerBody) or decide which names are this host's
 * (server.ts gives the verifier that list).
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { MigrationError, NovaError } from '../errors';

export const H_TIMESTAMP = 'x-shim-timestamp';
export const H_NONCE = 'x-shim-nonce';
export const H_SIGNATURE = 'x-shim-signature';
export const H_BODY_SHA256 = 'x-shim-body-sha256';
export const H_BODY_LENGTH = 'x-shim-body-length';
export const H_DESTINATION = 'x-shim-destination';
export const H_RESPONSE_SIGNATURE = 'x-shim-response-signature';

const REQUEST_LABEL = 'nova-uefi-shim peer request v2';
const RESPONSE_LABEL = 'nova-uefi-shim peer response v2';

export class PeerAuthError extends NovaError {
  constructor(reason: string) {
    super('NotAuthorized', 401, `peer request refused: ${reason}`);
  }
}

export function bodyDigest(body: Buffer): string {
  return createHash('sha256').update(body).digest('hex');
}

function hmac(secret: string, fields: readonly string[]): string {
  return createHmac('sha256', secret).update(fields.join('\n')).digest('hex');
}

function sameHex(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length > 0 && a.length === x.length * 2 && timingSafeEqual(x, y);
}

type Headers = Record<string, string | string[] | undefined>;

function header(headers: Headers, k: string): string | undefined {
  const v = headers[k];
  return Array.isArray(v) ? v[0] : v;
}

/** What a verified request's headers promise about its body, and what its answer is bound to. */
export interface VerifiedRequest {
  nonce: string;
  destination: string;
  sha256: string;
  length: number;
}

/** Headers for a signed request to the sidecar known as `destination`. */
export function signRequest(secret: string, method: string, pathAndQuery: string, destination: string, body: Buffer, now = Date.now()): Record<string, string> {
  if (!secret) throw new MigrationError('[peer] shared_secret is not set');
  const ts = String(Math.floor(now / 1000));
  const nonce = randomBytes(16).toString('hex');
  const digest = bodyDigest(body);
  const length = String(body.length);
  return {
    [H_TIMESTAMP]: ts,
    [H_NONCE]: nonce,
    [H_DESTINATION]: destination,
    [H_BODY_SHA256]: digest,
    [H_BODY_LENGTH]: length,
    [H_SIGNATURE]: hmac(secret, [REQUEST_LABEL, method.toUpperCase(), pathAndQuery, destination, ts, nonce, digest, length]),
  };
}

const NONCE_RE = /^[0-9a-f]{16,64}$/;
const DIGEST_RE = /^[0-9a-f]{64}$/;

export class SignatureVerifier {
  private readonly seen = new Map<string, number>();
  /**
   * `names`: the names this sidecar answers to as a destination ([DEFAULT] host and its
   * aliases); read on every request, so a reload takes effect at once.
   */
  constructor(
    private secret: string,
    private maxSkewSec: number,
    private names: () => readonly string[],
  ) {}

  /** A reloaded `[peer] shared_secret` / `max_clock_skew`, for requests from now on. */
  reconfigure(secret: string, maxSkewSec: number): void {
    this.secret = secret;
    this.maxSkewSec = maxSkewSec;
  }

  /**
   * Everything that can be checked before the body is read: the signature over the headers,
   * the destination, the clock, the nonce. Throws PeerAuthError; returns what the body must be.
   */
  verifyHeaders(method: string, pathAndQuery: string, headers: Headers, now = Date.now()): VerifiedRequest {
    if (!this.secret) throw new PeerAuthError('[peer] shared_secret is not set on this host');
    const ts = header(headers, H_TIMESTAMP);
    const nonce = header(headers, H_NONCE);
    const sig = header(headers, H_SIGNATURE);
    const destination = header(headers, H_DESTINATION);
    const digest = header(headers, H_BODY_SHA256);
    const lengthText = header(headers, H_BODY_LENGTH);
    if (!ts || !nonce || !sig || destination === undefined || !digest || lengthText === undefined) throw new PeerAuthError('missing signature');
    if (!NONCE_RE.test(nonce) || !DIGEST_RE.test(digest) || !/^\d{1,12}$/.test(lengthText)) throw new PeerAuthError('malformed signature headers');
    const t = Number(ts);
    if (!/^\d{1,12}$/.test(ts) || Math.abs(now / 1000 - t) > this.maxSkewSec) throw new PeerAuthError('stale or future timestamp');
    const want = hmac(this.secret, [REQUEST_LABEL, method.toUpperCase(), pathAndQuery, destination, ts, nonce, digest, lengthText]);
    if (!sameHex(sig, want)) throw new PeerAuthError('wrong signature');
    // Signed, so the destination is what the caller meant: another host's request is not ours.
    if (!this.names().includes(destination)) throw new PeerAuthError(`signed for another host ('${destination.slice(0, 64)}')`);
    this.prune(now);
    if (this.seen.has(nonce)) throw new PeerAuthError('replayed request');
    this.seen.set(nonce, t);
    return { nonce, destination, sha256: digest, length: Number(lengthText) };
  }

  /** `verifyHeaders` and `checkBody` in one (a body already in memory). */
  verify(method: string, pathAndQuery: string, headers: Headers, body: Buffer, now = Date.now()): VerifiedRequest {
    const v = this.verifyHeaders(method, pathAndQuery, headers, now);
    checkBody(v, body.length, bodyDigest(body));
    return v;
  }

  private prune(now: number): void {
    const floor = now / 1000 - this.maxSkewSec;
    for (const [n, t] of this.seen) if (t < floor) this.seen.delete(n);
  }
}

/** The body read matches what the signed headers promised (length and sha256), or PeerAuthError. */
export function checkBody(v: VerifiedRequest, length: number, sha256: string): void {
  if (length !== v.length || !sameHex(sha256, v.sha256)) throw new PeerAuthError('the body does not match its signature');
}

/** The signature header of an answer to the verified request `req`. */
export function signResponse(secret: string, req: Pick<VerifiedRequest, 'nonce' | 'destination'>, status: number, body: Buffer): string {
  return hmac(secret, [RESPONSE_LABEL, req.nonce, req.destination, String(status), bodyDigest(body), String(body.length)]);
}

/**
 * The answer to our request (nonce `nonce`, sent to `destination`) was signed by a peer
 * holding the secret, for this request, with this status and body. Throws PeerAuthError.
 */
export function verifyResponse(secret: string, req: { nonce: string; destination: string }, status: number, headers: Headers, body: Buffer): void {
  const sig = header(headers, H_RESPONSE_SIGNATURE);
  if (!sig) throw new PeerAuthError('the answer is not signed');
  if (!sameHex(sig, signResponse(secret, req, status, body))) throw new PeerAuthError('the answer carries a wrong signature');
}
