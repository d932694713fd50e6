/**
 * Moves through the sidecars on real libvirt: two libvirt daemons on one machine (host A is
 * the system daemon, host B a second daemon in a private mount namespace, from
 * scripts/libvirt-host.sh), one sidecar per host (B's runs inside B's namespace, so both see
 * their store under /var/lib/libvirt/qemu/nvram as production hosts do). A UEFI variable
 * written by OVMF's shell on the source must be readable from OVMF's shell on the
 * destination after a cold migration and after a live migration, and the source keeps no copy.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { libvirtPrereqs, purgeDomain, startHostA, startHostB, stopHostB, virshOn, type LibvirtHost } from '../support/libvirtd';
import { LibvirtSerial, dmpstoreCommand, setvarCommand } from '../support/libvirtSerial';
import { freePort, SidecarProcess, TOKEN, SECRET } from '../support/processes';
import { tmpDir } from '../support/firmwareFixture';
import { call, migration } from '../support/novaFlows';

const GUID = '3a7b9c1e-1111-2222-3333-444455556666';
const NVRAM = '/var/lib/libvirt/qemu/nvram';
const UEFI = { properties: { hw_firmware_type: 'uefi', hw_machine_type: 'q35' } };

describe('migrations through the sidecars on two real libvirt daemons', function () {
  this.timeout(600_000);
  let hostA: LibvirtHost;
  let hostB: LibvirtHost;
  let root = '';
  let A: SidecarProcess;
  let B: SidecarProcess;
  const names: string[] = [];

  before(async function () {
    const why = libvirtPrereqs();
    if (why) {
      console.log(`      skipped: ${why}`);
      this.skip();
    }
    root = tmpDir('nus-lvmig-');
    try {
      hostA = await startHostA();
      hostB = await startHostB(path.join(root, 'hostb'));
    } catch (e) {
      console.log(`      skipped: libvirtd could not be started: ${(e as Error).message}`);
      this.skip();
    }
    const owner = fs.statSync(NVRAM);
    const [pa, pb] = [await freePort(), await freePort()];
    const peers = `compute-a=http://127.0.0.1:${pa},compute-b=http://127.0.0.1:${pb}`;
    const mk = (n: 'a' | 'b', port: number, uri: string, migrationUri: string) => {
      const dir = path.join(root, `sidecar-${n}`);
      const ser = path.join(dir, 'serial');
      fs.mkdirSync(ser, { recursive: true, mode: 0o755 });
      fs.chmodSync(dir, 0o755);
      fs.chownSync(ser, owner.uid, owner.gid);
      const conf = path.join(dir, 'shim.conf');
      fs.writeFileSync(
        conf,
        `[DEFAULT]\nhost = compute-${n}\ninstance_name_template = nus-lvmig-%08x\n[api]\nhost = 127.0.0.1\nport = ${port}\nauth_token = ${TOKEN}\n` +
          `[hypervisor]\nbackend = libvirt\nstate_dir = ${dir}/state\n[nvram]\nnvram_dir = ${NVRAM}\nowner = libvirt-qemu\ngroup = libvirt-qemu\n` +
          `[libvirt]\nconnection_uri = ${uri}\nvirt_type = qemu\nhw_machine_type = x86_64=q35\nmigration_uri = ${migrationUri}\nlive_migration_inbound_addr = 127.0.0.1\nserial_socket_dir = ${ser}\n` +
          `[peer]\nhosts = ${peers}\nshared_secret = ${SECRET}\ntimeout = 60\n`,
      );
      return new SidecarProcess(`compute-${n}`, port, dir, conf, n === 'a' ? hostA.nvramDir : hostB.nvramDir, undefined as never);
    };
    // Sidecar B lives in B's mount namespace: "qemu:///system" there is B's daemon.
    A = mk('a', pa, 'qemu:///system', 'qemu:///system');
    B = mk('b', pb, 'qemu:///system', hostB.uri);
    const bPid = fs.readFileSync(path.join(root, 'hostb', 'libvirtd.pid'), 'utf8').trim();
    B.wrap = ['nsenter', '-t', bPid, '-m', `--wd=${process.cwd()}`, '--'];
    await A.start();
    await B.start();
  });

  after(async () => {
    await A?.stop();
    await B?.stop();
    for (const n of names) {
      if (hostA) purgeDomain(hostA.uri, n);
      if (hostB) purgeDomain(hostB.uri, n);
      for (const d of [hostA?.nvramDir, hostB?.nvramDir]) if (d) fs.rmSync(path.join(d, `${n}_VARS.fd`), { force: true });
    }
    if (root) {
      await stopHostB(path.join(root, 'hostb')).catch(() => undefined);
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  const serial = (h: SidecarProcess, name: string) => path.join(h.root, 'serial', `${name}.sock`);

  async function spawnWithVariable(value: string) {
    const id = 0x5000 + Math.floor(Math.random() * 0xfff);
    const inst = { uuid: randomUUID(), id, host: 'compute-a', vcpus: 1, memory_mb: 256, flavor: { vcpus: 1, memory_mb: 256, extra_specs: {} } };
    const name = `nus-lvmig-${id.toString(16).padStart(8, '0')}`;
    names.push(name);
    const sp = await call(A, inst.uuid, 'spawn', { instance: inst, image_meta: UEFI });
    assert.equal(sp.power_state, 1);
    const con = await LibvirtSerial.connect(serial(A, name));
    await con.waitForShell(120_000);
    await con.run(setvarCommand('NusMarker', GUID, value));
    assert.match(await con.run(dmpstoreCommand('NusMarker', GUID)), /NusMarker/);
    con.close();
    return { inst, name };
  }

  async function readVariableOn(h: SidecarProcess, name: string, fresh: boolean): Promise<string> {
    const con = await LibvirtSerial.connect(serial(h, name));
    if (fresh) await con.waitForShell(120_000);
    else await con.attachToShell();
    const out = await con.run(dmpstoreCommand('NusMarker', GUID));
    con.close();
    return out;
  }

  it('cold migration A -> B carries a variable OVMF wrote, and confirm leaves nothing on A', async () => {
    const value = `cold-${randomUUID().slice(0, 8)}`;
    const { inst, name } = await spawnWithVariable(value);
    const mig = migration('compute-a', 'compute-b', 'migration');
    const out = await call(A, inst.uuid, 'migrate_disk_and_power_off', { instance: inst, dest: 'compute-b', flavor: inst.flavor });
    assert.equal(virshOn(hostA.uri, 'domstate', name).trim(), 'shut off');
    const moved = { ...inst, host: 'compute-b' };
    const fin = await call(B, inst.uuid, 'finish_migration', { migration: mig, instance: moved, disk_info: out.disk_info, image_meta: UEFI, resize_instance: false, power_on: true });
    assert.equal(fin.nvram.sha256, out.nvram.sha256, 'installed byte for byte');
    assert.equal(virshOn(hostB.uri, 'domstate', name).trim(), 'running');
    const dump = await readVariableOn(B, name, true);
    assert.match(dump, /NusMarker/);
    assert.doesNotMatch(dump, /No matching variables/);
    await call(A, inst.uuid, 'confirm_migration', { migration: mig, instance: moved });
    assert.throws(() => virshOn(hostA.uri, 'domstate', name));
    assert.equal(fs.existsSync(path.join(hostA.nvramDir, `${name}_VARS.fd`)), false);
    assert.ok(fs.readdirSync(hostA.nvramDir).every((f) => !f.includes(name)), 'no stash or copy left on A');
    await call(B, inst.uuid, 'destroy', { instance: moved, destroy_disks: true });
  });

  it('live migration A -> B (real virsh migrate) keeps a variable OVMF wrote, and the source copy is removed', async () => {
    const value = `live-${randomUUID().slice(0, 8)}`;
    const { inst, name } = await spawnWithVariable(value);
    const mig = migration('compute-a', 'compute-b', 'live-migration');
    const d = await call(B, inst.uuid, 'check_can_live_migrate_destination', { instance: inst, src_compute_info: {}, dst_compute_info: {} });
    const s = await call(A, inst.uuid, 'check_can_live_migrate_source', { instance: inst, dest_check_data: { ...d.migrate_data, migration: mig } });
    const p = await call(B, inst.uuid, 'pre_live_migration', { instance: inst, block_device_info: {}, network_info: [], disk_info: null, migrate_data: s.migrate_data });
    const lm = await call(A, inst.uuid, 'live_migration', { instance: inst, dest: 'compute-b', migrate_data: p.migrate_data });
    assert.ok(lm.nvram?.sha256, 'source verified the destination digest');
    assert.equal(virshOn(hostB.uri, 'domstate', name).trim(), 'running');
    assert.throws(() => virshOn(hostA.uri, 'domstate', name), 'undefined on the source');
    await call(A, inst.uuid, 'post_live_migration', { instance: inst, migrate_data: p.migrate_data });
    await call(A, inst.uuid, 'post_live_migration_at_source', { instance: inst });
    await call(A, inst.uuid, 'cleanup', { instance: inst, destroy_disks: true, migrate_data: p.migrate_data });
    await call(B, inst.uuid, 'post_live_migration_at_destination', { instance: { ...inst, host: 'compute-b' } });
    assert.ok(fs.readdirSync(hostA.nvramDir).every((f) => !f.includes(name)), 'no copy left on A');
    const dump = await readVariableOn(B, name, false);
    assert.match(dump, /NusMarker/);
    assert.doesNotMatch(dump, /No matching variables/);
    const g = await B.http.get(`/v1/instances/${inst.uuid}`);
    assert.equal(g.status, 200);
    assert.equal(g.data.power_state, 1);
    await call(B, inst.uuid, 'destroy', { instance: inst, destroy_disks: true });
  });
});
