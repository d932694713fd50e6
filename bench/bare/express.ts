/**
 * Baseline server: a bare express app on loopback, no middleware, serving the same JSON bodies
 * the sidecar returned (read once from a file) with res.json, like any minimal route.
 * Usage: node --import tsx bench/bare/express.ts PORT BODIES.json   (BODIES: {"path": body})
 */
import express from 'express';
import * as fs from 'node:fs';

const [port, file] = process.argv.slice(2);
const bodies = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
const app = express();
app.disable('x-powered-by');
app.set('etag', false);
app.get('/healthz', (_req, res) => {
  res.json({ status: 'ok' });
});
app.get('/v1/instances', (_req, res) => {
  res.json(bodies['/v1/instances'] ?? {});
});
app.get('/v1/instances/:uuid', (_req, res) => {
  res.json(bodies['/v1/instances/:uuid'] ?? {});
});
app.listen(Number(port), '127.0.0.1');
