/** test/support/loopback: servers on 127.0.0.1 that tests start, reach at `base`, and close. */
import { strict as assert } from 'node:assert';
import * as http from 'node:http';
import * as net from 'node:net';
import { closedPort, listenLoopback } from '../../support/loopback';

/** Connect to 127.0.0.1:port; resolves 'connected' or the error code of a failed connect. */
function connect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

describe('test/support/loopback', () => {
  it('serves a request handler at base, on 127.0.0.1 and the port it reports', async () => {
    const l = await listenLoopback((req, res) => res.end(`you asked ${req.method} ${req.url}`));
    try {
      assert.equal(l.base, `http://127.0.0.1:${l.port}`);
      assert.deepEqual(l.server.address(), { address: '127.0.0.1', family: 'IPv4', port: l.port });
      const r = await fetch(`${l.base}/some/path?x=1`);
      assert.equal(r.status, 200);
      assert.equal(await r.text(), 'you asked GET /some/path?x=1');
    } finally {
      await l.close();
    }
  });

  it('listens with a server the caller made, whose events the caller still sees', async () => {
    const server = http.createServer((_req, res) => res.end('ok'));
    let connections = 0;
    server.on('connection', () => connections++);
    const l = await listenLoopback(server);
    try {
      assert.equal(l.server, server);
      assert.equal(await (await fetch(l.base, { headers: { connection: 'close' } })).text(), 'ok');
      assert.equal(connections, 1);
    } finally {
      await l.close();
    }
  });

  it('close() resolves once the port refuses connections', async () => {
    const l = await listenLoopback((_req, res) => res.end());
    assert.equal(await connect(l.port), 'connected');
    await l.close();
    assert.equal(l.server.listening, false);
    assert.equal(await connect(l.port), 'ECONNREFUSED');
  });

  it('close({ dropConnections }) ends a held answer instead of waiting for it', async () => {
    const l = await listenLoopback(() => undefined); // never answers
    const req = http.get(l.base);
    const ended = new Promise<string>((resolve) => req.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message)));
    await new Promise<void>((resolve) => l.server.once('request', () => resolve()));
    await l.close({ dropConnections: true });
    assert.equal(await ended, 'ECONNRESET');
  });

  it('closedPort() is a loopback port that refuses a connection', async () => {
    const port = await closedPort();
    assert.ok(port > 0 && port < 65536, String(port));
    assert.equal(await connect(port), 'ECONNREFUSED');
  });
});
