/**
 * Nothing lost on a full or read-only disk, on real filesystems: two sidecar processes whose
 * nvram_dir and state_dir (and, for the first, the directory replica store) live on small
 * tmpfs mounts. For every kind of write (spawn, a variable edit, Secure Boot enrollment, a
 * raw store upload, migration receive, a replica generation, journal and record updates, the
 * CLI's `nvram set`) at several fill levels (nothing free, a few KiB, just under one store):
 * a 507 `StorageError` naming the path and the cause, every store that existed byte-identical,
 * every state document still whole JSON, no temp file left; then, with the space back, the
 * same request succeeds. A read-only remount between two steps of a cold migration loses
 * nothing, and after `remount,rw` the retry (or the revert) completes.
 *
 * Needs root to mount (CI runs as root with NUS_REQUIRE_ROOT_FS=1, where a skip fails).
 * Device-mapper is not used: an EIO from a real device needs dm-error, which the CI kernel
 * may not have; util/atomicFile's unit tests cover EIO at write and fsync.
 */
import { strict as assert } from 'node:assert';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AxiosResponse } from 'axios';
import { makeHosts, type SidecarProcess } from '../support/processes';
import { call, migration, newInstance, nvramPath, UEFI, type Inst } from '../support/novaFlows';
import { driverFirmware } from '../support/driverHarness';
import { firmwareMapIni, tmpDir } from '../support/firmwareFixture';
import { OWNER, testCert } from '../support/sbKeys';
import { requireRootFs, tempFilesUnder, Tmpfs } from '../support/tmpfs';
import { runNvramCli } from '../../src/cli/nvram';

const STORE = 540_672;
const VENDOR = '5f3c2e1d-93ca-11d2-aa0d-00e098032b8c';
const SECURE = { properties: { hw_firmware_type: 'uefi', hw_machine_type: 'q35', os_secure_boot: 'required' } };
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

const LEVELS: [string, number][] = [
  ['0 bytes free', 0],
  ['8 KiB free', 8 * 1024],
  ['just under one store free', STORE - 4096],
];

/** Every file under `root` but the fillers: relative path → sha256. */
function snapshot(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const visit = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) visit(p);
      else if (e.isFile() && !e.name.startsWith('filler-')) out.set(path.relative(root, p), sha(fs.readFileSync(p)));
    }
  };
  visit(root);
  return out;
}

/** No temp file under `dir` once writes in flight (a replica generation's claim) have ended. */
async function noTempsLeft(dir: string, what: string): Promise<void> {
  const end = Date.now() + 10_000;
  while (tempFilesUnder(dir).length && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(tempFilesUnder(dir), [], what);
}

/**
 * After a refused write: every store that existed is byte-identical (a new file may exist only
 * if it is whole JSON, e.g. a journal written before the store write failed), every JSON
 * document parses, and no temp file is left.
 */
async function assertNothingLost(fsys: Tmpfs, before: Map<string, string>): Promise<void> {
  const after = snapshot(fsys.dir);
  for (const [f, h] of before) if (f.endsWith('_VARS.fd') || f.startsWith('replicas/')) assert.equal(after.get(f), h, `${f} byte-identical`);
  for (const f of after.keys()) {
    if (f.endsWith('.json')) assert.doesNotThrow(() => JSON.parse(fs.readFileSync(path.join(fsys.dir, f), 'utf8')), `${f} is whole JSON`);
    // A replica generation that failed may leave its claim (a whole, tiny file): the next one takes the next number.
    if (!before.has(f)) assert.ok(/\.(json|state|claim)$/.test(f), `no new store or object appeared: ${f}`);
  }
  await noTempsLeft(fsys.dir, 'no temp file left');
}

/** A 507 StorageError naming a file on `fsys` and the cause. */
function assertStorageError(r: AxiosResponse, fsys: Tmpfs, cause: RegExp = /no space left on device \[ENOSPC\]/) {
  assert.equal(r.status, 507, JSON.stringify(r.data));
  assert.equal(r.data.error.type, 'StorageError', JSON.stringify(r.data));
  assert.match(r.data.error.message, cause);
  assert.ok(String(r.data.error.message).includes(fsys.dir), `names the path: ${r.data.error.message}`);
}

describe('disk faults on real filesystems (tmpfs)', function () {
  this.timeout(300_000);
  let A: SidecarProcess, B: SidecarProcess;
  let fsA: Tmpfs | undefined, fsB: Tmpfs | undefined;
  let cleanup: () => Promise<void> = async () => undefined;
  let work: string;

  before(async function () {
    requireRootFs(this);
    work = tmpDir('nus-faults-disk-');
    fsA = Tmpfs.mount(64 * 1024 * 1024, 'nus-fsA-');
    fsB = Tmpfs.mount(64 * 1024 * 1024, 'nus-fsB-');
    const key = path.join(work, 'replica.key');
    fs.writeFileSync(key, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
    const fw = driverFirmware(path.join(work, 'fw'));
    const keyset = firmwareMapIni({
      'secure_boot_keyset:lab': { pk: testCert('disk-pk').crt, kek: testCert('disk-kek').crt, db: testCert('disk-db').crt, owner_guid: OWNER },
    });
    const made = await makeHosts([
      {
        name: 'compute1',
        fw,
        dataRoot: fsA.dir,
        extra: `[replica]\nbackend = directory\npath = ${path.join(fsA.dir, 'replicas')}\nencryption_key_file = ${key}\ninterval = 3600\nretry_interval = 3600\n${keyset}\n`,
      },
      { name: 'compute2', fw, dataRoot: fsB.dir, extra: keyset },
    ]);
    [A, B] = made.hosts;
    cleanup = made.cleanup;
    await Promise.all([A.start(), B.start()]);
  });

  after(async () => {
    await cleanup().catch(() => undefined);
    for (const f of [fsA, fsB]) {
      try {
        f?.remount('rw');
      } catch {
        // not mounted, or rw already
      }
      f?.unmount();
    }
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  afterEach(() => {
    for (const f of [fsA, fsB]) {
      f?.unfill();
    }
  });

  /**
   * Wait until no replica generation of `inst` is in flight on `h` (its writes would otherwise
   * land between two snapshots); nothing to wait for on a host without replicas.
   */
  async function replicaSettled(h: SidecarProcess, inst: Inst): Promise<void> {
    const end = Date.now() + 30_000;
    for (;;) {
      const r = await h.http.get(`/v1/instances/${inst.uuid}`);
      const state = r.data?.nvram?.replica?.state as string | undefined;
      if (r.status !== 200 || state === undefined || state !== 'pending') return;
      if (Date.now() > end) throw new Error(`replica of ${inst.uuid} still ${state}`);
      await new Promise((res) => setTimeout(res, 100));
    }
  }

  async function spawnOff(h: SidecarProcess, image = UEFI): Promise<Inst> {
    const inst = newInstance(h.name);
    await call(h, inst.uuid, 'spawn', { instance: inst, image_meta: image, power_on: false });
    await replicaSettled(h, inst);
    return inst;
  }

  /**
   * Fill `fsys` to `leave` free bytes, run `attempt` (expect a refusal), check, free the space,
   * run `retry`. `settle` waits for background writes (replica generations) of the instance.
   */
  async function refusedThenDone(
    fsys: Tmpfs,
    leave: number,
    attempt: () => Promise<void>,
    retry: () => Promise<void>,
    settle: () => Promise<void> = async () => undefined,
  ) {
    await settle();
    const before = snapshot(fsys.dir);
    fsys.fill(leave);
    await attempt();
    await settle();
    await assertNothingLost(fsys, before);
    fsys.unfill();
    await retry();
    await settle();
    await noTempsLeft(fsys.dir, 'no temp file left after the retry');
  }

  for (const [level, leave] of LEVELS) {
    describe(`with ${level}`, () => {
      it('spawn: 507 naming the file, nothing of the instance left behind; with space, the same spawn succeeds', async () => {
        const inst = newInstance('compute1');
        const body = { instance: inst, image_meta: UEFI, power_on: false };
        await refusedThenDone(
          fsA!,
          leave,
          async () => {
            const r = await A.http.post(`/v1/instances/${inst.uuid}/spawn`, body);
            assertStorageError(r, fsA!);
            assert.equal(fs.existsSync(nvramPath(A, inst)), false, 'a failed spawn leaves no store');
          },
          async () => {
            await call(A, inst.uuid, 'spawn', body);
            assert.equal(fs.statSync(nvramPath(A, inst)).size, STORE);
          },
          () => replicaSettled(A, inst),
        );
      });

      it('a variable edit (PUT variable): 507, the store byte-identical; with space the edit lands', async () => {
        const inst = await spawnOff(A);
        const url = `/v1/instances/${inst.uuid}/nvram/variables/${VENDOR}/NusDisk`;
        await refusedThenDone(
          fsA!,
          leave,
          async () => assertStorageError(await A.http.put(url, { data: 'abcd' }), fsA!),
          async () => {
            const r = await A.http.put(url, { data: 'abcd' });
            assert.equal(r.status, 200, JSON.stringify(r.data));
            assert.ok(fs.readFileSync(nvramPath(A, inst)).includes(Buffer.from('N\0u\0s\0D\0i\0s\0k\0')));
          },
          () => replicaSettled(A, inst),
        );
      });

      it('Secure Boot enrollment: 507, the store byte-identical; with space the keys are enrolled', async () => {
        const inst = await spawnOff(A, SECURE);
        const url = `/v1/instances/${inst.uuid}/nvram/secure-boot`;
        await refusedThenDone(
          fsA!,
          leave,
          async () => assertStorageError(await A.http.put(url, { keyset: 'lab' }), fsA!),
          async () => {
            const r = await A.http.put(url, { keyset: 'lab' });
            assert.equal(r.status, 200, JSON.stringify(r.data));
            assert.deepEqual(r.data.secure_boot.pk.certificates, ['CN=disk-pk']);
          },
          () => replicaSettled(A, inst),
        );
      });

      it('a raw store upload (PUT /nvram): 507, the store byte-identical; with space the upload replaces it', async () => {
        const inst = await spawnOff(A);
        const next = fs.readFileSync(nvramPath(A, inst));
        next.write('uploaded', 0x3000);
        const put = () => A.http.put(`/v1/instances/${inst.uuid}/nvram`, next, { headers: { 'Content-Type': 'application/octet-stream' } });
        await refusedThenDone(
          fsA!,
          leave,
          async () => assertStorageError(await put(), fsA!),
          async () => {
            const r = await put();
            assert.equal(r.status, 200, JSON.stringify(r.data));
            assert.ok(fs.readFileSync(nvramPath(A, inst)).equals(next));
          },
          () => replicaSettled(A, inst),
        );
      });

      it('migration receive: the destination answers 507, the source keeps its store; with space the retry moves it', async () => {
        const inst = await spawnOff(A);
        const want = sha(fs.readFileSync(nvramPath(A, inst)));
        const mig = migration('compute1', 'compute2');
        const mdpo = () => A.http.post(`/v1/instances/${inst.uuid}/migrate_disk_and_power_off`, { instance: inst, dest: 'compute2', flavor: inst.flavor });
        await refusedThenDone(
          fsB!,
          leave,
          async () => {
            const r = await mdpo();
            assert.equal(r.status, 507, JSON.stringify(r.data));
            assert.equal(r.data.error.type, 'StorageError');
            assert.match(r.data.error.message, /no space left on device \[ENOSPC\]/);
            assert.equal(sha(fs.readFileSync(nvramPath(A, inst))), want, 'source store byte-identical');
          },
          async () => {
            const r = await mdpo();
            assert.equal(r.status, 200, JSON.stringify(r.data));
            const moved = { ...inst, host: 'compute2' };
            await call(B, inst.uuid, 'finish_migration', {
              migration: mig,
              instance: moved,
              disk_info: r.data.disk_info,
              image_meta: UEFI,
              resize_instance: true,
              power_on: false,
            });
            await call(A, inst.uuid, 'confirm_migration', { migration: mig, instance: moved });
            assert.equal(sha(fs.readFileSync(nvramPath(B, inst))), want, 'the store arrived whole');
            assert.equal(fs.existsSync(nvramPath(A, inst)), false);
          },
          () => replicaSettled(A, inst),
        );
      });

      it('a replica generation (directory backend on the same filesystem): 507, earlier objects byte-identical; with space it is written', async () => {
        const inst = await spawnOff(A);
        // 32 KiB that do not compress, so that the object is larger than a few KiB.
        const noise = await A.http.put(`/v1/instances/${inst.uuid}/nvram/variables/${VENDOR}/NusNoise`, { data: randomBytes(32 * 1024).toString('hex') });
        assert.equal(noise.status, 200, JSON.stringify(noise.data));
        await replicaSettled(A, inst);
        const first = await A.http.post(`/v1/instances/${inst.uuid}/nvram/backups`);
        assert.equal(first.status, 200, JSON.stringify(first.data));
        const object = first.data.backup.stored_bytes as number;
        assert.ok(object > 32 * 1024, `object of ${object} bytes`);
        // "Just under one store" here is just under one replica object.
        await refusedThenDone(
          fsA!,
          leave > object ? object - 4096 : leave,
          async () => {
            const r = await A.http.post(`/v1/instances/${inst.uuid}/nvram/backups`);
            assertStorageError(r, fsA!);
            // The replica object or its claim, not the replica state file written after the failure.
            assert.match(r.data.error.message, new RegExp(`${fsA!.dir}/replicas/nvram/${inst.uuid}/`));
          },
          async () => {
            const r = await A.http.post(`/v1/instances/${inst.uuid}/nvram/backups`);
            assert.equal(r.status, 200, JSON.stringify(r.data));
            assert.ok(r.data.backup.generation > first.data.backup.generation);
          },
          () => replicaSettled(A, inst),
        );
      });

      // A record or definition is a few hundred bytes: only a filesystem with no page free refuses it.
      if (leave === 0)
        it('record updates (power on): 507 naming the state file, the record and store unchanged; with space the retry starts the guest', async () => {
          const inst = await spawnOff(A);
          await refusedThenDone(
            fsA!,
            leave,
            async () => {
              const r = await A.http.post(`/v1/instances/${inst.uuid}/power_on`, { instance: inst });
              assertStorageError(r, fsA!);
              assert.match(r.data.error.message, /state\/.*\.(json|state):/);
              // The record still says stopped (the embedded backend may be left without the
              // definition it was rewriting: the retry defines it again from the record).
              const g = await A.http.get(`/v1/instances/${inst.uuid}`);
              assert.equal(g.data.vm_state, 'stopped', JSON.stringify(g.data).slice(0, 300));
            },
            async () => {
              await call(A, inst.uuid, 'power_on', { instance: inst });
              assert.equal((await A.http.get(`/v1/instances/${inst.uuid}`)).data.power_state, 1);
            },
            () => replicaSettled(A, inst),
          );
        });

      it('journal updates (a cold migration started on a full source): 507 naming the journal or the stash, nothing changed; with space it proceeds', async () => {
        const inst = await spawnOff(A);
        const mig = migration('compute1', 'compute2');
        const mdpo = () => A.http.post(`/v1/instances/${inst.uuid}/migrate_disk_and_power_off`, { instance: inst, dest: 'compute2', flavor: inst.flavor });
        await refusedThenDone(
          fsA!,
          leave,
          async () => {
            const r = await mdpo();
            assertStorageError(r, fsA!);
            // The journal entry comes before the stash it announces: with no page free it is the one refused.
            assert.match(r.data.error.message, leave === 0 ? /state\/migrations\/.*\.source\.json/ : /nvram\/\.stash-/);
          },
          async () => {
            const r = await mdpo();
            assert.equal(r.status, 200, JSON.stringify(r.data));
            await call(B, inst.uuid, 'destroy', { instance: { ...inst, host: 'compute2' }, destroy_disks: true });
            await call(A, inst.uuid, 'finish_revert_migration', { instance: inst, migration: mig, power_on: false });
          },
          () => replicaSettled(A, inst),
        );
      });

      it("the CLI's nvram set: exit 1 naming the file and the cause, the store byte-identical; with space exit 0", async () => {
        const dir = path.join(fsA!.dir, 'cli');
        fs.mkdirSync(dir, { recursive: true });
        const file = path.join(dir, `store-${leave}.fd`);
        const inst = await spawnOff(A);
        fs.copyFileSync(nvramPath(A, inst), file);
        const argv = ['set', file, '--name', 'NusCli', '--guid', VENDOR, '--attr', 'NV,BS,RT', '--data', '0102'];
        const run = async () => {
          let out = '';
          let err = '';
          const code = await runNvramCli(argv, {
            stdout: { write: (s: string) => (out += s) },
            stderr: { write: (s: string) => (err += s) },
          });
          return { code, out, err };
        };
        await refusedThenDone(
          fsA!,
          leave,
          async () => {
            const r = await run();
            assert.equal(r.code, 1, `exit code (stderr: ${r.err})`);
            assert.ok(r.err.includes(file), r.err);
            assert.match(r.err, /no space left on device \[ENOSPC\]/);
          },
          async () => {
            const r = await run();
            assert.equal(r.code, 0, r.err);
          },
          () => replicaSettled(A, inst),
        );
      });
    });
  }

  describe('a read-only remount in the middle of a cold migration', () => {
    it('destination read-only before finish_migration: 507 EROFS, nothing lost; after remount,rw the retry completes and confirm drops the source', async () => {
      const inst = await spawnOff(A);
      const want = sha(fs.readFileSync(nvramPath(A, inst)));
      const mig = migration('compute1', 'compute2');
      const out = await call(A, inst.uuid, 'migrate_disk_and_power_off', { instance: inst, dest: 'compute2', flavor: inst.flavor });
      const moved = { ...inst, host: 'compute2' };
      const finish = () =>
        B.http.post(`/v1/instances/${inst.uuid}/finish_migration`, {
          migration: mig,
          instance: moved,
          disk_info: out.disk_info,
          image_meta: UEFI,
          resize_instance: true,
          power_on: false,
        });
      const beforeB = snapshot(fsB!.dir);
      fsB!.remount('ro');
      try {
        assertStorageError(await finish(), fsB!, /read-only file system \[EROFS\]/);
      } finally {
        fsB!.remount('rw');
      }
      assert.deepEqual(snapshot(fsB!.dir), beforeB, 'nothing on the destination changed');
      assert.equal(sha(fs.readFileSync(nvramPath(A, inst))), want, 'the source keeps its store');
      const r = await finish();
      assert.equal(r.status, 200, JSON.stringify(r.data));
      await call(A, inst.uuid, 'confirm_migration', { migration: mig, instance: moved });
      assert.equal(sha(fs.readFileSync(nvramPath(B, inst))), want);
      await noTempsLeft(fsA!.dir, 'no temp file left on the source');
      await noTempsLeft(fsB!.dir, 'no temp file left on the destination');
    });

    it('source read-only before the revert: 507 EROFS; after remount,rw the revert restores the store byte-identical', async () => {
      const inst = await spawnOff(A);
      const want = sha(fs.readFileSync(nvramPath(A, inst)));
      const mig = migration('compute1', 'compute2');
      const out = await call(A, inst.uuid, 'migrate_disk_and_power_off', { instance: inst, dest: 'compute2', flavor: inst.flavor });
      const moved = { ...inst, host: 'compute2' };
      await call(B, inst.uuid, 'finish_migration', {
        migration: mig,
        instance: moved,
        disk_info: out.disk_info,
        image_meta: UEFI,
        resize_instance: true,
        power_on: false,
      });
      await call(B, inst.uuid, 'destroy', { instance: moved, destroy_disks: true });
      const revert = () => A.http.post(`/v1/instances/${inst.uuid}/finish_revert_migration`, { instance: inst, migration: mig, power_on: false });
      fsA!.remount('ro');
      try {
        assertStorageError(await revert(), fsA!, /read-only file system \[EROFS\]/);
      } finally {
        fsA!.remount('rw');
      }
      const r = await revert();
      assert.equal(r.status, 200, JSON.stringify(r.data));
      assert.equal(sha(fs.readFileSync(nvramPath(A, inst))), want, 'restored byte-identical');
      assert.equal(fs.existsSync(nvramPath(B, inst)), false);
      await noTempsLeft(fsA!.dir, 'no temp file left on the source');
    });
  });
});
