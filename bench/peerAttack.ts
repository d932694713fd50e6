/**
 * `node --import tsx bench/peerAttack.ts [--rounds N]`
 *
 * /healthz latency of a sidecar process while its peer link is under an unauthenticated
 * attack (test/support/peerAttack: 32 parallel gzip bombs inflating to 1 GiB and 64 MiB plain
 * bodies, unsigned, wrongly signed or signed for another host), against the same sidecar at
 * rest, in one run: rounds alternate baseline and attack. Prints the median and p95 of each,
 * their ratio, the peak resident memory (VmRSS) of the sidecar, and the refusals seen.
 * Target: median under 50 ms during the attack. Not a test: nothing here asserts.
 */
import { performance } from 'node:perf_hooks';
import axios from 'axios';
import { Agent } from 'node:http';

/** A fresh connection per probe: a kept-alive one the server closed while idle would fail the probe, not the sidecar. */
const agent = new Agent({ keepAlive: false });
import { makeHosts, SECRET } from '../test/support/processes';
import { peerAttack, rssOf } from '../test/support/peerAttack';

const MiB = 1024 * 1024;

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

async function probe(url: string, until: () => boolean, out: number[]): Promise<void> {
  while (!until()) {
    const t = performance.now();
    await axios.get(`${url}/healthz`, { timeout: 10_000, httpAgent: agent });
    out.push(performance.now() - t);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[process.argv.indexOf('--rounds') + 1]) || 3;
  const made = await makeHosts([{ name: 'compute1' }]);
  const host = made.hosts[0];
  try {
    await host.start();
    const pid = host.proc!.pid!;
    const base: number[] = [];
    const attack: number[] = [];
    let peak = 0;
    const statuses = new Map<string, number>();
    for (let r = 0; r < rounds; r++) {
      // Baseline: the same number of probes over about the same time, nothing else running.
      const t0 = performance.now();
      await probe(host.url, () => performance.now() - t0 > 3000, base);
      let over = false;
      const sampler = setInterval(() => (peak = Math.max(peak, rssOf(pid))), 20);
      const run = peerAttack({ port: host.port, count: 32, bombInflatedBytes: 1024 * MiB, plainBytes: 64 * MiB, secret: SECRET }).finally(() => (over = true));
      await probe(host.url, () => over, attack);
      clearInterval(sampler);
      for (const o of await run) statuses.set(String(o.status ?? o.error), (statuses.get(String(o.status ?? o.error)) ?? 0) + 1);
    }
    const ms = (x: number) => Number(x.toFixed(2));
    const bm = pct(base, 50);
    const am = pct(attack, 50);
    const report = {
      rounds,
      baseline: { n: base.length, median_ms: ms(bm), p95_ms: ms(pct(base, 95)) },
      attack: { n: attack.length, median_ms: ms(am), p95_ms: ms(pct(attack, 95)) },
      ratio: Number((am / bm).toFixed(2)),
      target_median_ms: 50,
      met: am < 50,
      peak_rss_mib: Number((peak / MiB).toFixed(1)),
      refusals: Object.fromEntries(statuses),
    };
    console.log(JSON.stringify(report, null, 2));
  } finally {
    await made.cleanup();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
