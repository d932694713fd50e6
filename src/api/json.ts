/**
 * @module api/json
 * `sendJson`: the sidecar's one way to answer with JSON. Same bytes and headers as express's
 * `res.json` with our settings (no ETag, no replacer, no indentation), without its per-call
 * work (settings lookups, content-type parsing to add the charset, freshness check): this is
 * on the path of every call, and `get_info` is the one Nova makes most. `jsonBody`: how a
 * request's JSON body is read (and when its `Content-Type` refuses it).
 */
import express, { type Request, type RequestHandler, type Response } from 'express';
import { InvalidInput } from '../errors';

/** Signs an answer (status, body) to an authenticated peer request: the header to set. */
export type AnswerSigner = (status: number, body: Buffer) => [header: string, value: string];

/** Answers to a peer request are signed (api/peerRoutes sets the signer once the request is authenticated). */
export function signAnswers(res: Response, signer: AnswerSigner): void {
  res.locals.answerSigner = signer;
}

export function sendJson(res: Response, body: unknown, status = 200): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  const signer = res.locals.answerSigner as AnswerSigner | undefined;
  if (signer) {
    const bytes = Buffer.from(text, 'utf8');
    res.setHeader(...signer(status, bytes));
    res.setHeader('Content-Length', bytes.length);
    res.end(bytes);
    return;
  }
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

/**
 * A JSON body parser for the API's routes; the body's `Content-Type` is `jsonContentType`'s
 * rule. A charset other than UTF-8 is refused (415: RFC 8259 §8.1, JSON between systems is
 * UTF-8; body-parser alone would take UTF-16 too), and the nesting depth is checked on the
 * raw bytes before JSON.parse (`verify`: 400 beyond MAX_JSON_DEPTH).
 */
export function jsonBody(limit: string, strict: boolean): RequestHandler {
  const parse = express.json({ limit, strict, verify: (_req, _res, buf) => checkJsonDepth(buf) });
  return function json(req, res, next) {
    const refused = jsonContentType(req);
    if (refused) return next(refused);
    const m = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(req.headers['content-type'] ?? '');
    if (m && !/^utf-?8$/i.test(m[1])) return next(new InvalidInput('body', `charset '${m[1].slice(0, 32)}' (JSON bodies are UTF-8)`, 415));
    parse(req, res, next);
  };
}

/**
 * A body sent without `Content-Type` is read as JSON (curl's examples without `-H`, the
 * commonest slip): the header is set to `application/json`. One whose `Content-Type` names
 * another media type is refused: 415 naming the header to send, never read as an empty body
 * (which used to surface as `body: must be object`).
 */
export function jsonContentType(req: Request): InvalidInput | undefined {
  const ct = req.headers['content-type'];
  if (!hasBody(req)) return undefined;
  if (ct === undefined || ct === '') {
    req.headers['content-type'] = 'application/json';
    return undefined;
  }
  if (isJsonType(ct)) return undefined;
  // The same answer as a foreign charset's: InvalidInput, 415, naming what to send.
  return new InvalidInput('Content-Type', `'${ct.split(';')[0].trim()}' is not JSON; send the body with the header 'Content-Type: application/json'`, 415);
}

function isJsonType(ct: string): boolean {
  const type = ct.split(';')[0].trim().toLowerCase();
  return type === 'application/json' || /^application\/[a-z0-9.+-]*\+json$/.test(type);
}

function hasBody(req: Request): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

/** Deepest nesting of arrays and objects a JSON body may have (Nova's deepest body is under 10). */
export const MAX_JSON_DEPTH = 64;

/**
 * Throws InvalidInput (400) when the JSON text nests arrays/objects deeper than `max`: a scan
 * of the raw bytes before anything parses or walks the value recursively (a deep body would
 * otherwise exhaust the stack of the parser or of the validator, a 500).
 */
export function checkJsonDepth(raw: Buffer, max = MAX_JSON_DEPTH): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) throw new InvalidInput('body', `nests deeper than ${max} levels`);
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
}

/** A JSON body (UTF-8) as the peer routes take it: depth-checked, then parsed; InvalidInput otherwise. */
export function parseJsonBody(raw: Buffer): unknown {
  if (!raw.length) return undefined;
  checkJsonDepth(raw);
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch {
    throw new InvalidInput('body', 'malformed JSON');
  }
}
