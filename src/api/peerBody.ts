/**
 * @module api/peerBody
 * Authenticate, then read: the body of a peer request is read only after its signed headers
 * checked out (`SignatureVerifier.verifyHeaders`: key, destination, clock, nonce), its
 * declared length is within the limit and a body slot is free. A refused request is answered
 * (401, 413, 503) at once with `Connection: close`, and not one of its bytes is read by the
 * sidecar; the
 * `peer_body_bytes_read_total` counter says so.
 *
 * The body is streamed: its sha256 and length are computed as it arrives and compared with
 * the signed ones; more bytes than declared stop the read at once. A gzip body (the only
 * Content-Encoding accepted) is inflated after it was authenticated, bounded by the largest
 * body accepted and by `maxRatio` times its compressed size. At most `maxConcurrent` bodies
 * are read at a time; the next one is answered 503 (Retry-After) without reading.
 *
 * What it does not do: parse JSON or decide routes (api/peerRoutes).
 */
import type { NextFunction, Request, Response } from 'express';
import { createHash } from 'node:crypto';
import { gunzip } from 'node:zlib';
import { NovaError, InvalidInput } from '../errors';
import { checkBody, type SignatureVerifier, type VerifiedRequest } from '../peer/signing';

export interface PeerBodyLimits {
  /** Largest body accepted, as sent and once inflated. */
  maxBytes: number;
  /** Largest inflated size as a multiple of the compressed one. */
  maxRatio: number;
  /** Bodies read at the same time; the next request is answered 503. */
  maxConcurrent: number;
}

/**
 * A stage request carries the store brotli-compressed in base64 (peer/transfer): a 64 MiB
 * AAVMF store is under 20 KiB of it. The bound is the largest store the sidecar accepts
 * (replica/format MAX_STORE, 256 MiB) as if it did not compress at all.
 */
export const DEFAULT_PEER_BODY_LIMITS: PeerBodyLimits = { maxBytes: 256 * 1024 * 1024, maxRatio: 64, maxConcurrent: 4 };

export class PeerBodyTooLarge extends NovaError {
  constructor(what: string) {
    super('InvalidInput', 413, `peer request refused: ${what}`);
  }
}

/** A peer body in a content coding other than identity or gzip (415, RFC 9110 §15.5.16). */
export class PeerEncodingRefused extends NovaError {
  constructor(encoding: string) {
    super('InvalidInput', 415, `peer request refused: Content-Encoding '${encoding.slice(0, 32)}' (identity or gzip only)`);
  }
}

export class PeerBusy extends NovaError {
  constructor() {
    super('ServiceUnavailable', 503, 'peer request refused: too many peer bodies in flight; retry');
  }
}

/** What the peer middleware leaves on the request for the routes and the answer's signature. */
export interface PeerRequestState {
  verified: VerifiedRequest;
  body: Buffer;
}

export function peerState(req: Request): PeerRequestState | undefined {
  return (req as Request & { peer?: PeerRequestState }).peer;
}

/** Bytes of peer bodies read, for the `peer_body_bytes_read_total` counter. */
export type BytesRead = (n: number) => void;

function readVerified(req: Request, v: VerifiedRequest, onBytes: BytesRead): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    const chunks: Buffer[] = [];
    let got = 0;
    let done = false;
    const finish = (e: Error | null, b?: Buffer) => {
      if (done) return;
      done = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
      if (e) {
        req.pause();
        reject(e);
      } else resolve(b!);
    };
    const onData = (c: Buffer) => {
      got += c.length;
      onBytes(c.length);
      if (got > v.length) return finish(new PeerBodyTooLarge(`more than the ${v.length} bytes the signature declares`));
      hash.update(c);
      chunks.push(c);
    };
    const onEnd = () => {
      try {
        checkBody(v, got, hash.digest('hex'));
      } catch (e) {
        return finish(e as Error);
      }
      finish(null, Buffer.concat(chunks, got));
    };
    const onError = (e: Error) => finish(new InvalidInput('body', `could not be read (${e.message})`));
    const onAborted = () => finish(new InvalidInput('body', 'the peer closed the connection before the end of the body'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}

function inflate(raw: Buffer, limits: PeerBodyLimits): Promise<Buffer> {
  const max = Math.min(limits.maxBytes, raw.length * limits.maxRatio);
  return new Promise((resolve, reject) =>
    gunzip(raw, { maxOutputLength: Math.max(1, max) }, (e, out) => {
      if (!e) return resolve(out);
      if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || /Cannot create a Buffer larger|too large/i.test(e.message))
        return reject(new PeerBodyTooLarge(`the gzip body inflates beyond ${max} bytes`));
      reject(new InvalidInput('body', 'is not valid gzip'));
    }),
  );
}

/**
 * A refusal is answered at once and closes the connection (`Connection: close`): the rest of
 * the body is never read into memory. A client still sending may meet the reset before it
 * reads the answer; that is the price of not reading what an unauthenticated caller sends.
 */
function refuse(res: Response, next: NextFunction, e: unknown): void {
  if (e instanceof PeerBusy) res.setHeader('Retry-After', '1');
  res.setHeader('Connection', 'close');
  next(e);
}

/**
 * The middleware in front of every `/v1/peer/` route: authenticate the headers, then read
 * the body (see the module header). Leaves `peerState(req)`.
 */
export function authenticatedPeerBody(verifier: SignatureVerifier, limits: PeerBodyLimits, onBytes: BytesRead) {
  let inFlight = 0;
  return async function peerBody(req: Request, res: Response, next: NextFunction): Promise<void> {
    let verified: VerifiedRequest;
    try {
      verified = verifier.verifyHeaders(req.method, req.originalUrl, req.headers);
      if (verified.length > limits.maxBytes) throw new PeerBodyTooLarge(`a ${verified.length}-byte body is over the limit of ${limits.maxBytes}`);
      const cl = req.headers['content-length'];
      if (cl !== undefined && Number(cl) !== verified.length)
        throw new InvalidInput('body', `Content-Length ${cl} is not the signed length ${verified.length}`);
      const enc = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
      if (enc !== 'identity' && enc !== 'gzip') throw new PeerEncodingRefused(enc);
      if (inFlight >= limits.maxConcurrent) throw new PeerBusy();
    } catch (e) {
      return refuse(res, next, e);
    }
    inFlight++;
    try {
      let body = verified.length === 0 ? Buffer.alloc(0) : await readVerified(req, verified, onBytes);
      if ((req.headers['content-encoding'] ?? '').toLowerCase() === 'gzip' && body.length) body = await inflate(body, limits);
      (req as Request & { peer?: PeerRequestState }).peer = { verified, body };
    } catch (e) {
      return refuse(res, next, e);
    } finally {
      inFlight--;
    }
    next();
  };
}
