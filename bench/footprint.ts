/**
 * 4. Disk footprint of N aarch64 instances: bytes allocated on disk (st_blocks × 512) by the
 * variable stores the sidecar creates on spawn (sparse atomic copies), against N dense copies
 * of the same template, which is what libvirt's own copy does (read/write of every byte).
 * Two templates: Debian's plain AAVMF_VARS.fd (all zeros) and the enrolled-keys
 * AAVMF_VARS.ms.fd (768 KiB of variables, the rest zeros).
 */
import { promises as fsp } from 'node:fs';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { alternate, result, type Result } from './lib/stats';
import { IMAGES, SidecarProc, allocated, newInstance, type BenchFirmware } from './lib/env';
import { durableWrite } from './lib/durable';

/** A dense copy, every byte written and fsynced (every zero block allocated). */
async function denseCopy(template: string, target: string): Promise<void> {
  await durableWrite(target, await fsp.readFile(template));
}

export async function benchFootprint(root: string, fw: BenchFirmware, n: number, log: (s: string) => void): Promise<Result[]> {
  const dir = path.join(root, 'footprint');
  const sc = await SidecarProc.create({ name: 'compute1', dir: path.join(dir, 'sidecar'), fw });
  const dense = path.join(dir, 'dense');
  fs.mkdirSync(dense, { recursive: true });
  await sc.startAndWait();
  const out: Result[] = [];
  try {
    const kinds = [
      { id: 'plain', label: 'AAVMF_VARS.fd', image: IMAGES.aarch64, template: fw.templates.aavmf },
      { id: 'enrolled', label: 'AAVMF_VARS.ms.fd', image: IMAGES.aarch64Enrolled, template: fw.templates.aavmfEnrolled },
    ];
    for (const k of kinds) {
      const size = fs.statSync(k.template).size;
      const s: number[] = [];
      const b: number[] = [];
      let i = 0;
      let j = 0;
      // Alternate in batches of 10 so both sides see the same disk state over time.
      const batch = Math.min(10, n);
      await alternate(
        Math.ceil(n / batch) * 2,
        async () => {
          for (let x = 0; x < batch && i < n; x++, i++) {
            const inst = newInstance('compute1');
            const v = await sc.nova(inst.uuid, 'spawn', { instance: inst, image_meta: k.image, network_info: [] });
            if (v.nvram?.size !== size) throw new Error(`unexpected store ${JSON.stringify(v.nvram)}`);
            s.push(allocated(v.nvram.path));
          }
        },
        async () => {
          for (let x = 0; x < batch && j < n; x++, j++) {
            const f = path.join(dense, `${k.id}-${j}_VARS.fd`);
            await denseCopy(k.template, f);
            b.push(allocated(f));
          }
        },
      );
      const sum = (xs: number[]) => xs.reduce((a, c) => a + c, 0);
      const r = result({
        id: `footprint.${k.id}`,
        name: `4. footprint, ${n} aarch64 stores (${k.label}), per store`,
        unit: 'bytes',
        subject: s,
        baseline: b,
        subjectLabel: `allocated bytes (st_blocks × 512) of each of ${n} stores created by spawn (sparse atomic copy)`,
        baselineLabel: `allocated bytes of each of ${n} dense copies (libvirt-style full copy)`,
        better: 'lower',
        target: '< 5% of the dense copies',
        met: null,
        extra: { total_subject_bytes: sum(s), total_baseline_bytes: sum(b), apparent_size_each: size, template_allocated: allocated(k.template) },
      });
      // The target is about the totals.
      r.ratio = sum(s) / sum(b);
      r.met = r.ratio < 0.05;
      out.push(r);
      log(`footprint ${k.id}: ${sum(s)} B vs ${sum(b)} B (${(r.ratio * 100).toFixed(2)}%)`);
      for (const f of await fsp.readdir(dense)) await fsp.rm(path.join(dense, f));
    }
    return out;
  } finally {
    await sc.stop();
  }
}
