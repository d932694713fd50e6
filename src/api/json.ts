/**
 * @module api/json
 * `sendJson`: the sidecar's one way to answer with JSON. Same bytes and headers as express's
 * `res.json` with our settings (no ETag, no replacer, no indentation), without its per-call
 * work (settings lookups, content-type parsing to add the charset, freshness check): this is
 * on the path of every call, and `get_info` is the one Nova makes most. `jsonBody`: how a
 * request's JSON body is read (and when its `Content-Type` refuses it).
 */
import express, { type Request, type RequestHandler, type Response } from 'express';
import { NovaError } from '../errors';

export function sendJson(res: Response, body: unknown, status = 200): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

/**
 * A JSON body parser for the API's routes; the body's `Content-Type` is `jsonContentType`'s
 * rule. Charsets are body-parser's (a foreign one answers 415).
 */
export function jsonBody(limit: string, strict: boolean): RequestHandler {
  const parse = express.json({ limit, strict });
  return function json(req, res, next) {
    const refused = jsonContentType(req);
    if (refused) return next(refused);
    parse(req, res, next);
  };
}

/**
 * A body sent without `Content-Type` is read as JSON (curl's examples without `-H`, the
 * commonest slip): the header is set to `application/json`. One whose `Content-Type` names
 * another media type is refused: 415 naming the header to send, never read as an empty body
 * (which used to surface as `body: must be object`).
 */
export function jsonContentType(req: Request): NovaError | undefined {
  const ct = req.headers['content-type'];
  if (!hasBody(req)) return undefined;
  if (ct === undefined || ct === '') {
    req.headers['content-type'] = 'application/json';
    return undefined;
  }
  if (isJsonType(ct)) return undefined;
  // The same answer as a foreign charset's: InvalidInput, 415, naming what to send.
  return new NovaError(
    'InvalidInput',
    415,
    `Invalid input received: Content-Type: '${ct.split(';')[0].trim()}' is not JSON; send the body with the header 'Content-Type: application/json'`,
    { details: { field: 'Content-Type' } },
  );
}

function isJsonType(ct: string): boolean {
  const type = ct.split(';')[0].trim().toLowerCase();
  return type === 'application/json' || /^application\/[a-z0-9.+-]*\+json$/.test(type);
}

function hasBody(req: Request): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}
