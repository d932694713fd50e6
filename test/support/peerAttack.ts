/**
 * An unauthenticated attack on a sidecar's peer link, for the load test and the bench: N
 * parallel PUTs to `/v1/peer/instances/{uuid}/nvram`, alternating gzip bombs (a small gzip
 * body that inflates to `bombInflatedBytes`) and large plain bodies (`plainBytes`), each
 * unsigned, signed with a wrong secret, or signed for another host. Each request records the
 * status it got and how many body bytes were written before the answer arrived. Loopback only.
 */
import * as http from 'node:http';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { randomUUID } from 'node:crypto';
import { signRequest } from '../../src/peer/signing';

export interface AttackOptions {
  port: number;
  /** Parallel requests. */
  count: number;
  bombInflatedBytes: number;
  plainBytes: number;
  /** The real peer secret, for requests signed for another host (a captured request). */
  secret: string;
}

export interface AttackOutcome {
  /** The request path (a fresh instance uuid each): how the sidecar's log names it. */
  path: string;
  kind: 'bomb' | 'plain';
  auth: 'unsigned' | 'wrong-secret' | 'other-host';
  status: number | null;
  /** Body bytes the client had handed to the socket when the answer arrived. */
  sentBeforeAnswer: number;
  bodyBytes: number;
  error?: string;
}

const CHUNK = 1024 * 1024;

function one(o: AttackOptions, kind: 'bomb' | 'plain', auth: AttackOutcome['auth'], body: Buffer, gz: boolean): Promise<AttackOutcome> {
  return new Promise((resolve) => {
    const p = `/v1/peer/instances/${randomUUID()}/nvram`;
    const signed =
      auth === 'unsigned'
        ? {}
        : signRequest(
            auth === 'wrong-secret' ? 'not-the-peer-secret-at-all' : o.secret,
            'PUT',
            p,
            auth === 'other-host' ? 'compute9' : 'compute1',
            body.subarray(0, 0),
          );
    // A signature over an empty body but a large one sent: what a captured request would give.
    const headers: http.OutgoingHttpHeaders = { ...signed, 'content-type': 'application/json', 'content-length': body.length };
    if (gz) headers['content-encoding'] = 'gzip';
    let sent = 0;
    let answered: number | null = null;
    let sentAt = 0;
    let done = false;
    const finish = (status: number | null, error?: string) => {
      if (done) return;
      done = true;
      resolve({ path: p, kind, auth, status, sentBeforeAnswer: sentAt, bodyBytes: body.length, ...(error ? { error } : {}) });
    };
    const req = http.request({ host: '127.0.0.1', port: o.port, method: 'PUT', path: p, headers, agent: false });
    // The status line as it arrives on the socket: when the sidecar cuts a connection whose
    // body it refused, a write can fail (EPIPE) before Node's parser hands over the answer.
    req.on('socket', (sock) =>
      sock.on('data', (d: Buffer) => {
        const m = /^HTTP\/1\.1 (\d{3})/.exec(d.subarray(0, 16).toString('latin1'));
        if (m && answered === null) {
          answered = Number(m[1]);
          sentAt = sent;
        }
      }),
    );
    req.on('response', (res) => {
      if (answered === null) sentAt = sent;
      answered = res.statusCode ?? 0;
      res.resume();
      res.on('end', () => finish(answered));
      res.on('error', () => finish(answered));
    });
    req.on('error', (e) => {
      if (answered !== null) finish(answered);
      else setTimeout(() => finish(answered, (e as NodeJS.ErrnoException).code ?? e.message), 200);
    });
    const pump = () => {
      while (sent < body.length && answered === null) {
        const chunk = body.subarray(sent, Math.min(sent + CHUNK, body.length));
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      if (answered === null) req.end();
    };
    pump();
  });
}

/** A gzip body that inflates to `inflated` bytes (zeros): about inflated / 1000 bytes. */
export function gzipBomb(inflated: number): Buffer {
  return gzipSync(Buffer.alloc(inflated), { level: 9 });
}

export async function peerAttack(o: AttackOptions): Promise<AttackOutcome[]> {
  const bomb = gzipBomb(o.bombInflatedBytes);
  const plain = Buffer.alloc(o.plainBytes, 0x7b);
  const auths: AttackOutcome['auth'][] = ['unsigned', 'wrong-secret', 'other-host'];
  return Promise.all(
    Array.from({ length: o.count }, (_, i) => (i % 2 ? one(o, 'plain', auths[i % 3], plain, false) : one(o, 'bomb', auths[i % 3], bomb, true))),
  );
}

/** Resident memory of process `pid` in bytes (/proc/PID/status VmRSS). */
export function rssOf(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}
