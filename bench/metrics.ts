/**
 * 8. What the Prometheus metrics cost `get_info`: the same build run twice, with metrics (the
 * default: the request counter and histogram, the driver operation counter and histogram,
 * the lock-wait histogram on every call) and with `[api] metrics_enabled = false` (none of
 * them recorded, no middleware). A second sidecar without metrics runs as a third side, so
 * the table also shows the noise floor: the ratio between two identical sidecars.
 * Each sidecar is a process on loopback serving its own instance; autocannon runs in this
 * process with the same settings for each side, interleaved over rounds.
 */
import * as path from 'node:path';
import { cannon } from './overhead';
import { interleave, median, result, type Result } from './lib/stats';
import { IMAGES, SidecarProc, TOKEN, newInstance, type BenchFirmware } from './lib/env';

export interface MetricsSizes {
  rounds: number;
  seconds: number;
  connections: number;
}

export async function benchMetrics(root: string, fw: BenchFirmware, sz: MetricsSizes, log: (s: string) => void): Promise<Result[]> {
  const dir = path.join(root, 'metrics');
  const sides = {
    on: await SidecarProc.create({ name: 'compute1', dir: path.join(dir, 'on'), fw }),
    off: await SidecarProc.create({ name: 'compute1', dir: path.join(dir, 'off'), fw, api: { metrics_enabled: 'false' } }),
    off2: await SidecarProc.create({ name: 'compute1', dir: path.join(dir, 'off2'), fw, api: { metrics_enabled: 'false' } }),
  };
  const all = Object.values(sides);
  try {
    await Promise.all(all.map((s) => s.startAndWait()));
    const urls = {} as Record<keyof typeof sides, string>;
    for (const [k, sc] of Object.entries(sides) as [keyof typeof sides, SidecarProc][]) {
      const inst = newInstance('compute1');
      await sc.nova(inst.uuid, 'spawn', { instance: inst, image_meta: IMAGES.x86, network_info: [] });
      urls[k] = `${sc.url}/v1/instances/${inst.uuid}`;
    }
    if ((await sides.on.call('GET', '/metrics')).status !== 200) throw new Error('the sidecar with metrics serves no /metrics');
    if ((await sides.off.call('GET', '/metrics')).status !== 404) throw new Error('the sidecar without metrics serves /metrics');
    const auth = { authorization: `Bearer ${TOKEN}` };
    for (const u of Object.values(urls)) await cannon(u, sz.connections, 1, auth); // warm-up: JIT each process
    const lat = { on: [] as number[], off: [] as number[], off2: [] as number[] };
    const rps = { on: [] as number[], off: [] as number[], off2: [] as number[] };
    let errors = 0;
    const side = (k: keyof typeof sides) => async () => {
      const a = await cannon(urls[k], 1, sz.seconds, auth);
      lat[k].push(...a.latencies);
      const b = await cannon(urls[k], sz.connections, sz.seconds, auth);
      rps[k].push(b.rps);
      errors += a.errors + b.errors;
    };
    await interleave(sz.rounds, [side('on'), side('off'), side('off2')]);
    if (errors) throw new Error(`${errors} failed requests during the metrics runs`);
    const noise = { latency: median(lat.off2) / median(lat.off), throughput: median(rps.off2) / median(rps.off) };
    const out = [
      result({
        id: 'metrics.latency',
        name: '8. get_info latency with metrics, 1 connection',
        unit: 'ms',
        subject: lat.on,
        baseline: lat.off,
        subjectLabel: 'get_info, metrics recorded (default)',
        baselineLabel: 'get_info, same build with [api] metrics_enabled = false',
        better: 'lower',
        target: 'median ≤ 1.05× baseline',
        met: null,
        extra: {
          seconds_per_round: sz.seconds,
          noise_ratio_without_metrics: noise.latency,
          metrics_off_again_ms: { median: median(lat.off2), n: lat.off2.length },
        },
      }),
      result({
        id: 'metrics.throughput',
        name: `8. get_info throughput with metrics, ${sz.connections} connections`,
        unit: 'req/s',
        subject: rps.on,
        baseline: rps.off,
        subjectLabel: `get_info, metrics recorded, ${sz.connections} keep-alive connections`,
        baselineLabel: 'same build without metrics, same load',
        better: 'higher',
        target: '≥ 0.95× baseline',
        met: null,
        extra: { seconds_per_round: sz.seconds, noise_ratio_without_metrics: noise.throughput },
      }),
    ];
    out[0].met = out[0].ratio <= 1.05;
    out[1].met = out[1].ratio >= 0.95;
    log(
      `metrics: get_info ${median(lat.on).toFixed(3)} ms with vs ${median(lat.off).toFixed(3)} ms without (${out[0].ratio.toFixed(3)}×; two sidecars without: ${noise.latency.toFixed(3)}×); ` +
        `${median(rps.on).toFixed(0)} vs ${median(rps.off).toFixed(0)} req/s (${out[1].ratio.toFixed(3)}×; noise ${noise.throughput.toFixed(3)}×)`,
    );
    return out;
  } finally {
    await Promise.all(all.map((s) => s.stop()));
  }
}
