/**
 * A counting TCP proxy on 127.0.0.1: every byte between the client and the target crosses it,
 * so "bytes on the wire" are measured at the socket level (TCP payload, both directions,
 * HTTP headers included), not computed from payload sizes. Runs in the bench process.
 */
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';

export class CountingProxy {
  up = 0;
  down = 0;
  /** performance.now() of the first client byte and of the last byte either way since reset(). */
  first = NaN;
  last = NaN;
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  constructor(
    private readonly targetPort: number,
    private readonly targetHost = '127.0.0.1',
  ) {}

  async listen(): Promise<number> {
    this.server = net.createServer((client) => {
      const upstream = net.connect(this.targetPort, this.targetHost);
      client.setNoDelay(true);
      upstream.setNoDelay(true);
      this.sockets.add(client).add(upstream);
      client.on('data', (c: Buffer) => {
        if (Number.isNaN(this.first)) this.first = performance.now();
        this.up += c.length;
        this.last = performance.now();
        if (!upstream.write(c)) client.pause();
      });
      upstream.on('drain', () => client.resume());
      upstream.on('data', (c: Buffer) => {
        this.down += c.length;
        this.last = performance.now();
        if (!client.write(c)) upstream.pause();
      });
      client.on('drain', () => upstream.resume());
      const close = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('end', () => upstream.end());
      upstream.on('end', () => client.end());
      client.on('error', close);
      upstream.on('error', close);
      client.on('close', close);
      upstream.on('close', close);
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this.port;
  }

  reset(): void {
    this.up = 0;
    this.down = 0;
    this.first = NaN;
    this.last = NaN;
  }

  get bytes(): number {
    return this.up + this.down;
  }

  /** ms from the first request byte to the last response byte since reset(). */
  get windowMs(): number {
    return this.last - this.first;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
