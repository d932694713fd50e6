/**
 * In-process HTTP servers on loopback for tests: `listenLoopback` serves a request handler (an
 * express app, a plain listener) or a server the test made itself (to count its connections)
 * on 127.0.0.1 at a port the kernel picks; `closedPort` is a loopback port that nothing
 * listens on, for "connection refused".
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Loopback {
  server: http.Server;
  port: number;
  /** `http://127.0.0.1:PORT`, without a trailing slash. */
  base: string;
  /**
   * Stop listening; resolves once the server is closed (also when it already was). `close`
   * alone waits for open connections to end; `dropConnections` ends them first (keep-alive
   * sockets of a client the test does not own, answers still streaming).
   */
  close: (opts?: { dropConnections?: boolean }) => Promise<void>;
}

export async function listenLoopback(handlerOrServer: http.RequestListener | http.Server): Promise<Loopback> {
  const server = typeof handlerOrServer === 'function' ? http.createServer(handlerOrServer) : handlerOrServer;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    base: `http://127.0.0.1:${port}`,
    close: ({ dropConnections = false } = {}) => {
      if (dropConnections) server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A loopback port that was just free and is closed again: connecting to it is refused. */
export async function closedPort(): Promise<number> {
  const l = await listenLoopback(http.createServer());
  await l.close();
  return l.port;
}
