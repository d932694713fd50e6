/**
 * Baseline receiver: a tiny node:http server that takes an uncompressed `PUT /<name>` and
 * stores the body as durably as the sidecar stores a staged NVRAM copy (temp file, fsync,
 * rename, fsync directory), then answers 200 with the size.
 * Usage: node --import tsx bench/bare/receiver.ts PORT DIR
 */
import * as http from 'node:http';
import * as path from 'node:path';
import { durableWrite } from '../lib/durable';

const [port, dir] = process.argv.slice(2);

function store(name: string, body: Buffer): Promise<void> {
  return durableWrite(path.join(dir, path.basename(name) || 'upload'), body);
}

http
  .createServer((req, res) => {
    if (req.method === 'GET') return void res.end('ok');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      store(req.url ?? '/upload', body).then(
        () => {
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ size: body.length }));
        },
        (e: Error) => {
          res.statusCode = 500;
          res.end(e.message);
        },
      );
    });
  })
  .listen(Number(port), '127.0.0.1');
