/**
 * 2. Request overhead: `get_info` (GET /v1/instances/<uuid>) through the full sidecar stack
 * (request id, auth, logging, per-instance lock, records, hypervisor, NVRAM info) against a
 * bare express route in another process serving the very same JSON body. Both servers are
 * separate processes on loopback; autocannon runs in this process with the same settings for
 * both, and every response time is kept (median and p95 are of individual requests).
 * The sidecar's own /healthz runs as a third, interleaved side for the breakdown: what every
 * request pays in the HTTP layer (request id, access log) before auth and driver work.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import autocannon from 'autocannon';
import { interleave, median, percentile, result, type Result } from './lib/stats';
import { IMAGES, SidecarProc, TOKEN, freePort, newInstance, tsProc, waitHealthy, type BenchFirmware } from './lib/env';

export interface OverheadSizes {
  rounds: number;
  seconds: number;
  connections: number;
}

interface Run {
  latencies: number[];
  rps: number;
  errors: number;
}

export function cannon(url: string, connections: number, seconds: number, headers: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const latencies: number[] = [];
    let bad = 0;
    const inst = autocannon({ url, connections, duration: seconds, headers, timeout: 30 }, (err, res) => {
      if (err) return reject(err);
      resolve({ latencies, rps: res.requests.total / res.duration, errors: res.errors + res.timeouts + res.non2xx + bad });
    });
    inst.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
      if (status !== 200) bad++;
      latencies.push(ms);
    });
  });
}

export async function benchOverhead(root: string, fw: BenchFirmware, sz: OverheadSizes, log: (s: string) => void): Promise<Result[]> {
  const dir = path.join(root, 'overhead');
  const sc = await SidecarProc.create({ name: 'compute1', dir: path.join(dir, 'sidecar'), fw });
  await sc.startAndWait();
  const inst = newInstance('compute1');
  await sc.nova(inst.uuid, 'spawn', { instance: inst, image_meta: IMAGES.x86, network_info: [] });
  const subjectUrl = `${sc.url}/v1/instances/${inst.uuid}`;
  const info = await sc.call('GET', `/v1/instances/${inst.uuid}`);
  if (info.status !== 200) throw new Error(`get_info: ${info.status}`);
  const bodies = path.join(dir, 'bodies.json');
  fs.writeFileSync(bodies, JSON.stringify({ '/v1/instances/:uuid': info.json() }));
  const barePort = await freePort();
  const bare = tsProc('bare-express', 'bare/express.ts', [String(barePort), bodies], path.join(dir, 'bare.log'));
  const t = performance.now();
  await waitHealthy(`http://127.0.0.1:${barePort}/healthz`, t, bare.start(), bare.logFile);
  const bareUrl = `http://127.0.0.1:${barePort}/v1/instances/${inst.uuid}`;
  const auth = { authorization: `Bearer ${TOKEN}` };
  try {
    // Warm-up: JIT both servers and the load generator.
    await cannon(subjectUrl, sz.connections, 1, auth);
    await cannon(bareUrl, sz.connections, 1, auth);
    const lat = { s: [] as number[], b: [] as number[], h: [] as number[] };
    const rps = { s: [] as number[], b: [] as number[] };
    let errors = 0;
    const one = async (url: string, into: 's' | 'b') => {
      const a = await cannon(url, 1, sz.seconds, auth);
      lat[into].push(...a.latencies);
      const b = await cannon(url, sz.connections, sz.seconds, auth);
      rps[into].push(b.rps);
      errors += a.errors + b.errors;
    };
    // Third side, for the breakdown only: the sidecar's own /healthz (request id, access log,
    // no auth, no driver) shows what every request pays before any driver work.
    const health = async () => {
      const a = await cannon(`${sc.url}/healthz`, 1, sz.seconds / 2);
      lat.h.push(...a.latencies);
      errors += a.errors;
    };
    await interleave(sz.rounds, [() => one(subjectUrl, 's'), () => one(bareUrl, 'b'), health]);
    if (errors) throw new Error(`${errors} failed requests during the overhead runs`);
    const bytes = info.body.length;
    const out = [
      result({
        id: 'overhead.latency',
        name: '2. get_info latency, 1 connection',
        unit: 'ms',
        subject: lat.s,
        baseline: lat.b,
        subjectLabel: 'GET /v1/instances/<uuid> (get_info) through the sidecar',
        baselineLabel: `bare express route returning the same ${bytes}-byte JSON body`,
        better: 'lower',
        target: 'median ≤ 1.3× baseline',
        met: null,
        extra: {
          response_bytes: bytes,
          seconds_per_round: sz.seconds,
          sidecar_healthz_ms: { median: median(lat.h), p95: percentile(lat.h, 95), n: lat.h.length },
        },
      }),
      result({
        id: 'overhead.throughput',
        name: `2. get_info throughput, ${sz.connections} connections`,
        unit: 'req/s',
        subject: rps.s,
        baseline: rps.b,
        subjectLabel: `get_info, ${sz.connections} keep-alive connections (autocannon)`,
        baselineLabel: 'bare express route, same body, same load',
        better: 'higher',
        target: '',
        met: null,
        extra: { seconds_per_round: sz.seconds },
      }),
    ];
    out[0].met = out[0].ratio <= 1.3;
    log(
      `get_info: ${median(lat.s).toFixed(3)} ms vs bare ${median(lat.b).toFixed(3)} ms (sidecar /healthz ${median(lat.h).toFixed(3)} ms); ${median(rps.s).toFixed(0)} vs ${median(rps.b).toFixed(0)} req/s`,
    );
    return out;
  } finally {
    await bare.stop();
    await sc.stop();
  }
}
