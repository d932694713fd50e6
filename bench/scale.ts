/**
 * 5. Scale: N instances registered on one sidecar (x86_64 UEFI guests spawned through the API
 * by 32 concurrent clients, each with its record, domain and 528 KiB store). Then, alternately
 * with an empty sidecar of the same configuration: start-up of a fresh process (the compiled
 * build, `bin/nova-uefi-shim` → dist/main.js, as installed) until /healthz answers, resident memory (VmRSS from /proc/PID/status) after start-up and after the
 * list_instances calls, and list_instances latency (the first call after start-up separately)
 * against a bare express route serving the very same body.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { alternate, median, pool, result, timed, type Result } from './lib/stats';
import { IMAGES, SidecarProc, freePort, newInstance, procMem, request, tsProc, waitHealthy, type BenchFirmware } from './lib/env';

export interface ScaleSizes {
  instances: number;
  rounds: number;
  lists: number;
}

const MiB = 1024;

export async function benchScale(root: string, fw: BenchFirmware, sz: ScaleSizes, log: (s: string) => void): Promise<Result[]> {
  const dir = path.join(root, 'scale');
  const S = await SidecarProc.create({ name: 'compute1', dir: path.join(dir, 'full'), fw });
  const E = await SidecarProc.create({ name: 'compute1', dir: path.join(dir, 'empty'), fw });
  const barePort = await freePort();
  const bodies = path.join(dir, 'bodies.json');
  const bare = tsProc('bare-express', 'bare/express.ts', [String(barePort), bodies], path.join(dir, 'bare.log'));
  try {
    // Populate through the API.
    await S.startAndWait();
    const populateMs = await pool(sz.instances, 32, async () => {
      const inst = newInstance('compute1');
      await S.nova(inst.uuid, 'spawn', { instance: inst, image_meta: IMAGES.x86, network_info: [] });
    });
    log(`scale: ${sz.instances} instances spawned in ${(populateMs / 1000).toFixed(1)} s`);
    const listed = await S.call('GET', '/v1/instances');
    const body = listed.json<{ instances: unknown[] }>();
    if (body.instances.length !== sz.instances) throw new Error(`list_instances returned ${body.instances.length}`);
    fs.writeFileSync(bodies, JSON.stringify({ '/v1/instances': body }));
    await S.stop();
    const t = performance.now();
    await waitHealthy(`http://127.0.0.1:${barePort}/healthz`, t, bare.start(), bare.logFile);

    const m = {
      startS: [] as number[],
      startE: [] as number[],
      rssStartS: [] as number[],
      rssStartE: [] as number[],
      rssS: [] as number[],
      rssE: [] as number[],
      hwmS: [] as number[],
      firstS: [] as number[],
      firstBare: [] as number[],
      listS: [] as number[],
      listBare: [] as number[],
    };
    const list = async (url: string) =>
      timed(async () => {
        const r = await request(url, 'GET', undefined, { authorization: 'Bearer bench-token' });
        if (r.status !== 200) throw new Error(`list: ${r.status}`);
      });
    await alternate(
      sz.rounds,
      async () => {
        m.startS.push(await S.startAndWait());
        m.rssStartS.push(procMem(S.pid).rssKiB / MiB);
        m.firstS.push(await list(`${S.url}/v1/instances`));
        for (let i = 0; i < sz.lists; i++) m.listS.push(await list(`${S.url}/v1/instances`));
        const mem = procMem(S.pid);
        m.rssS.push(mem.rssKiB / MiB);
        m.hwmS.push(mem.hwmKiB / MiB);
        await S.stop();
      },
      async () => {
        m.startE.push(await E.startAndWait());
        m.rssStartE.push(procMem(E.pid).rssKiB / MiB);
        await list(`${E.url}/v1/instances`);
        m.rssE.push(procMem(E.pid).rssKiB / MiB);
        await E.stop();
        m.firstBare.push(await list(`http://127.0.0.1:${barePort}/v1/instances`));
        for (let i = 0; i < sz.lists; i++) m.listBare.push(await list(`http://127.0.0.1:${barePort}/v1/instances`));
      },
    );
    const n = sz.instances.toLocaleString('en-US');
    const out: Result[] = [
      result({
        id: 'scale.startup',
        name: `5. start-up with ${n} instances (until /healthz answers)`,
        unit: 'ms',
        subject: m.startS,
        baseline: m.startE,
        subjectLabel: `fresh sidecar process over ${n} registered instances`,
        baselineLabel: 'fresh sidecar process, empty state',
        better: 'lower',
        target: 'median < 500 ms',
        met: median(m.startS) < 500,
        extra: { populate_seconds: populateMs / 1000 },
      }),
      result({
        id: 'scale.rss',
        name: `5. resident memory with ${n} instances (after list_instances)`,
        unit: 'MiB',
        subject: m.rssS,
        baseline: m.rssE,
        subjectLabel: 'VmRSS after start-up and the list_instances calls',
        baselineLabel: 'VmRSS of the empty sidecar after start-up and one list_instances',
        better: 'lower',
        target: 'median < 200 MiB',
        met: median(m.rssS) < 200,
        extra: { rss_after_startup_mib: { subject: median(m.rssStartS), baseline: median(m.rssStartE) }, peak_vmhwm_mib: Math.max(...m.hwmS) },
      }),
      result({
        id: 'scale.list.first',
        name: `5. list_instances with ${n}, first call after start-up`,
        unit: 'ms',
        subject: m.firstS,
        baseline: m.firstBare,
        subjectLabel: 'GET /v1/instances, first call (reads every record and domain from disk)',
        baselineLabel: 'bare express route, the same body',
        better: 'lower',
        target: '',
        met: null,
        extra: { response_bytes: listed.body.length },
      }),
      result({
        id: 'scale.list',
        name: `5. list_instances with ${n}, later calls`,
        unit: 'ms',
        subject: m.listS,
        baseline: m.listBare,
        subjectLabel: 'GET /v1/instances after the first call',
        baselineLabel: 'bare express route, the same body',
        better: 'lower',
        target: '',
        met: null,
        extra: { response_bytes: listed.body.length },
      }),
    ];
    log(
      `scale: start-up ${median(m.startS).toFixed(0)} vs ${median(m.startE).toFixed(0)} ms, RSS ${median(m.rssS).toFixed(0)} vs ${median(m.rssE).toFixed(0)} MiB, list ${median(m.firstS).toFixed(0)} / ${median(m.listS).toFixed(0)} vs ${median(m.listBare).toFixed(0)} ms`,
    );
    return out;
  } finally {
    await Promise.all([S.stop(), E.stop(), bare.stop()]);
  }
}
