/**
 * @module api/json
 * `sendJson`: the sidecar's one way to answer with JSON. Same bytes and headers as express's
 * `res.json` with our settings (no ETag, no replacer, no indentation), without its per-call
 * work (settings lookups, content-type parsing to add the charset, freshness check): this is
 * on the path of every call, and `get_info` is the one Nova makes most.
 */
import type { Response } from 'express';

export function sendJson(res: Response, body: unknown, status = 200): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}
