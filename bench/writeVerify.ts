/**
 * `node --import tsx bench/writeVerify.ts [--rounds N] [--per-round N] [--dir DIR]`
 *
 * What reading a file back before it replaces the old one costs (util/atomicFile's
 * `verify`), against the same all-or-nothing write without it: temp file, every byte,
 * fsync, rename, directory fsync. Sides alternate (ABBA rounds) on the same directory
 * (default: a directory under /var/tmp, i.e. the root filesystem, where the NVRAM and state
 * directories live on a compute host; tmpfs has no fsync cost and would inflate the ratio).
 * Files: the 528 KiB OVMF 4M store (dense, 0xFF), the 64 MiB AAVMF store (sparse: a few
 * data blocks, the rest zeros), and a 2 KiB JSON state document. Prints the medians and the
 * verification's cost in per cent of the write alone, then in per cent of the operation an
 * operator waits for: a one-variable PUT through an in-process sidecar (its store on the same
 * filesystem; it reads the store back, as shipped). Not a test: nothing here asserts a target.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeFileAtomic } from '../src/util/atomicFile';
import { alternate, median, percentile, timed } from './lib/stats';
import { startTestSidecar, instance, UEFI_Q35 } from '../test/support/sidecar';
import { driverFirmware } from '../test/support/driverHarness';

/** Median ms of a one-variable PUT (shut-off guest, the 528 KiB OVMF store). */
async function putVariableMs(n: number): Promise<number> {
  const fw = driverFirmware();
  const sc = await startTestSidecar(fw.map);
  try {
    const inst = instance();
    const sp = await sc.http.post(`/v1/instances/${inst.uuid}/spawn`, { instance: inst, image_meta: UEFI_Q35, power_on: false });
    if (sp.status !== 200) throw new Error(`spawn: ${sp.status} ${JSON.stringify(sp.data)}`);
    const url = `/v1/instances/${inst.uuid}/nvram/variables/5f3c2e1d-93ca-11d2-aa0d-00e098032b8c/NusBench`;
    const ms: number[] = [];
    for (let i = 0; i < n; i++) {
      ms.push(
        await timed(async () => {
          const r = await sc.http.put(url, { data: (i & 0xff).toString(16).padStart(2, '0') });
          if (r.status !== 200) throw new Error(`PUT variable: ${r.status} ${JSON.stringify(r.data)}`);
        }),
      );
    }
    return median(ms);
  } finally {
    await sc.stop();
    fs.rmSync(fw.dir, { recursive: true, force: true });
  }
}

function args(argv: string[]) {
  const o = { rounds: 8, perRound: 20, dir: '' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--rounds') o.rounds = Number(argv[++i]);
    else if (a === '--per-round') o.perRound = Number(argv[++i]);
    else if (a === '--dir') o.dir = argv[++i];
    else throw new Error(`unknown argument '${a}'`);
  }
  return o;
}

function files(): [string, Buffer, boolean][] {
  const ovmf = Buffer.alloc(540_672, 0xff);
  ovmf.write('OVMF store', 0x100);
  const aavmf = Buffer.alloc(64 * 1024 * 1024);
  for (let off = 0; off < 0x40000; off += 4096) aavmf.fill(0x5a, off, off + 512);
  const json = Buffer.from(JSON.stringify({ uuid: '6f1c0e9e-0000-4000-8000-000000000000', pad: 'x'.repeat(1900) }, null, 2) + '\n');
  return [
    ['OVMF 4M store, 528 KiB dense', ovmf, true],
    ['AAVMF store, 64 MiB sparse', aavmf, true],
    ['JSON state document, 2 KiB', json, false],
  ];
}

async function main(): Promise<void> {
  const o = args(process.argv.slice(2));
  const dir = o.dir || fs.mkdtempSync(path.join('/var/tmp', 'nus-bench-verify-'));
  fs.mkdirSync(dir, { recursive: true });
  console.log(`directory ${dir} (${os.cpus().length} CPUs, ${o.rounds} rounds x ${o.perRound} writes per side)`);
  try {
    let ovmfCost = 0;
    for (const [name, data, sparse] of files()) {
      const target = path.join(dir, 'target');
      const plain: number[] = [];
      const verified: number[] = [];
      const side = (into: number[], verify: boolean) => async () => {
        for (let i = 0; i < o.perRound; i++) {
          data[0x200] = i & 0xff; // a different file each time, as a real edit
          into.push(await timed(() => writeFileAtomic(target, data, { sparse, verify })));
        }
      };
      await alternate(o.rounds, side(verified, true), side(plain, false));
      const m0 = median(plain);
      const m1 = median(verified);
      if (name.startsWith('OVMF')) ovmfCost = m1 - m0;
      console.log(
        `${name.padEnd(32)} without ${m0.toFixed(3)} ms (p95 ${percentile(plain, 95).toFixed(3)})  ` +
          `with ${m1.toFixed(3)} ms (p95 ${percentile(verified, 95).toFixed(3)})  cost ${(((m1 - m0) / m0) * 100).toFixed(1)}% (${(m1 - m0).toFixed(3)} ms)`,
      );
    }
    const op = await putVariableMs(o.rounds * o.perRound);
    console.log(`PUT one variable (API, 528 KiB store) median ${op.toFixed(3)} ms: the store's read-back is ${((ovmfCost / op) * 100).toFixed(1)}% of it`);
  } finally {
    if (!o.dir) fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
