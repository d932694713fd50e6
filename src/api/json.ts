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
 * A JSON body parser for the API's routes. A body sent without `Content-Type` is read as JSON
 * (curl's `-d` sends `application/x-www-form-urlencoded`, and a missing header is the commonest
 * slip); one whose `Content-Type` names another media type is refused with 415 naming the header,
 * never silently read as an empty body (which used to surface as `body: must be object`).
 * Charsets are body-parser's rule (a foreign one answers 415).
 */
export function jsonBody(opts: { limit: string; strict: boolean }): RequestHandler {
  const parse = express.json({
    ...opts,
    type: (req) => {
      const ct = req.headers['content-type'];
      return ct === undefined || ct === '' || isJsonType(ct);
    },
  });
  return (req, res, next) => {
    const ct = req.headers['content-type'];
    if (ct && !isJsonType(ct) && hasBody(req)) {
      next(
        new NovaError(
          'UnsupportedMediaType',
          415,
          `Content-Type '${ct.split(';')[0].trim()}' is not JSON: send the body with the header 'Content-Type: application/json'`,
        ),
      );
      return;
    }
    parse(req, res, next);
  };
}

function isJsonType(ct: string | string[]): boolean {
  const type = String(ct).split(';')[0].trim().toLowerCase();
  return type === 'application/json' || /^application\/[a-z0-9.+-]*\+json$/.test(type);
}

function hasBody(req: Request): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}
