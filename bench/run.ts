/**
 * Benchmarks, reported as ratios against a baseline measured in the same run:
 *  1. NVRAM store creation: our atomic sparse copy vs a plain dense copy (what libvirt does).
 *  2. Wire encoding of a store between sidecars: brotli (ours) vs gzip -6.
 *  3. spawn + destroy through HTTP (embedded backend) vs GET /healthz on the same server.
 * Uses the real Debian firmware files when present, synthetic ones of the same size otherwise.
 * Run: npm run bench   (prints a table; no assertion, nothing timed inside unit tests)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { performance } from 'node:perf_hooks';
import { writeFileAtomic, allocatedBytes } from '../src/util/atomicFile';
import { encodeNvram } from '../src/peer/transfer';
import { firmwareTree, tmpDir } from '../test/support/firmwareFixture';
import { startTestSidecar, instance, UEFI_Q35 } from '../test/support/sidecar';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function timeIt(n: number, fn: (i: number) => Promise<unknown> | unknown): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn(i);
    xs.push(performance.now() - t);
  }
  return median(xs);
}

async function main(): Promise<void> {
  const dir = tmpDir('nus-bench-');
  const synth = firmwareTree(path.join(dir, 'fw'));
  const pick = (real: string, fallback: string) => (fs.existsSync(real) ? real : fallback);
  const files: [string, string][] = [
    ['OVMF_VARS_4M.ms.fd', pick('/usr/share/OVMF/OVMF_VARS_4M.ms.fd', synth.files.secVars)],
    ['AAVMF_VARS.fd (64 MiB)', pick('/usr/share/AAVMF/AAVMF_VARS.fd', synth.files.aaVars)],
    ['AAVMF_VARS.ms.fd (64 MiB)', pick('/usr/share/AAVMF/AAVMF_VARS.ms.fd', synth.files.aaVars)],
  ];
  console.log('# 1. store creation: atomic sparse copy (ours) vs dense copyFile (baseline)');
  console.log('file | ours ms | baseline ms | time ratio | ours allocated | baseline allocated');
  for (const [label, f] of files) {
    const data = fs.readFileSync(f);
    const ours = await timeIt(7, (i) => writeFileAtomic(path.join(dir, `o${i}`), data));
    const base = await timeIt(7, (i) => fs.promises.copyFile(f, path.join(dir, `b${i}`)));
    const oa = await allocatedBytes(path.join(dir, 'o0'));
    const ba = await allocatedBytes(path.join(dir, 'b0'));
    console.log(`${label} | ${ours.toFixed(2)} | ${base.toFixed(2)} | ${(ours / base).toFixed(2)} | ${oa} | ${ba}`);
  }
  console.log('\n# 2. wire encoding: brotli q5 (ours) vs gzip -6 (baseline)');
  console.log('file | ours bytes | gzip bytes | size ratio | ours ms | gzip ms | time ratio');
  for (const [label, f] of files) {
    const data = fs.readFileSync(f);
    let ob = 0;
    let gb = 0;
    const ot = await timeIt(5, () => (ob = Buffer.from(encodeNvram(data).data, 'base64').length));
    const gt = await timeIt(5, () => (gb = gzipSync(data, { level: 6 }).length));
    console.log(`${label} | ${ob} | ${gb} | ${(ob / gb).toFixed(4)} | ${ot.toFixed(1)} | ${gt.toFixed(1)} | ${(ot / gt).toFixed(2)}`);
  }
  console.log('\n# 3. HTTP: spawn+destroy (UEFI, embedded backend) vs GET /healthz');
  const sc = await startTestSidecar();
  try {
    const health = await timeIt(50, () => sc.http.get('/healthz'));
    const cycle = await timeIt(30, async () => {
      const inst = instance();
      const r = await sc.http.post(`/v1/instances/${inst.uuid}/spawn`, { instance: inst, image_meta: UEFI_Q35 });
      if (r.status !== 200) throw new Error(JSON.stringify(r.data));
      await sc.http.post(`/v1/instances/${inst.uuid}/destroy`, { instance: inst });
    });
    console.log(`healthz median ${health.toFixed(2)} ms | spawn+destroy median ${cycle.toFixed(2)} ms | ratio ${(cycle / health).toFixed(1)}`);
  } finally {
    await sc.stop();
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

void main();
