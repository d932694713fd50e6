/**
 * The proof that matters: the libvirt backend against a real libvirtd with real OVMF under
 * QEMU TCG. The sidecar creates the store, libvirt uses it as is, OVMF boots to its shell,
 * a real UEFI variable written from the shell survives hard reboot and power off/on, and
 * destroy removes domain and store. Skips (with the reason) where libvirt/OVMF are absent.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import axios, { type AxiosInstance } from 'axios';
import { libvirtAvailable, virsh } from '../support/libvirtd';
import { LibvirtSerial as SerialConsole } from '../support/libvirtSerial';
import { tmpDir } from '../support/firmwareFixture';
import { testConfig } from '../../src/config';
import { startSidecar, type Sidecar } from '../../src/server';
import { memoryLogger } from '../../src/util/log';

const GUID = '3a7b9c1e-1111-2222-3333-444455556666';
const NVRAM_DIR = '/var/lib/libvirt/qemu/nvram';

describe('libvirt backend with real QEMU and OVMF', function () {
  this.timeout(300000);
  let sc: Sidecar;
  let http: AxiosInstance;
  let sockDir: string;
  let stateDir: string;

  before(async function () {
    const why = await libvirtAvailable();
    if (why) {
      console.log(`      skipped: ${why}`);
      this.skip();
    }
    sockDir = tmpDir('nus-serial-');
    fs.chownSync(sockDir, Number(fs.statSync(NVRAM_DIR).uid), Number(fs.statSync(NVRAM_DIR).gid));
    stateDir = tmpDir('nus-lvstate-');
    const cfg = testConfig({
      DEFAULT: { host: 'libvirt-host', instance_name_template: 'nus-test-%08x' },
      api: { port: 0 },
      hypervisor: { backend: 'libvirt', state_dir: stateDir },
      nvram: { nvram_dir: NVRAM_DIR, owner: 'libvirt-qemu', group: 'libvirt-qemu' },
      libvirt: { connection_uri: 'qemu:///system', virt_type: 'qemu', hw_machine_type: { x86_64: 'q35' }, serial_socket_dir: sockDir },
    });
    sc = await startSidecar(cfg, { log: memoryLogger() });
    http = axios.create({ baseURL: sc.url, validateStatus: () => true });
  });
  after(async () => {
    await sc?.close();
    if (sockDir) fs.rmSync(sockDir, { recursive: true, force: true });
    if (stateDir) fs.rmSync(stateDir, { recursive: true, force: true });
  });

  const utf16 = (s: string) => Buffer.from(s, 'utf16le');

  it('boots OVMF from a store the sidecar created, keeps a real variable across hard reboot and power cycle, and deletes it all on destroy', async () => {
    const id = 0x7000 + Math.floor(Math.random() * 0xfff);
    const inst = { uuid: randomUUID(), id, host: 'libvirt-host', vcpus: 1, memory_mb: 256 };
    const name = `nus-test-${id.toString(16).padStart(8, '0')}`;
    const file = path.join(NVRAM_DIR, `${name}_VARS.fd`);
    const value = `nus-${randomUUID().slice(0, 8)}`;
    try {
      // Defined but off: the store exists and is ours before libvirt ever starts the guest.
      const sp = await http.post(`/v1/instances/${inst.uuid}/spawn`, { instance: inst, image_meta: { properties: { hw_firmware_type: 'uefi', hw_machine_type: 'q35' } }, power_on: false });
      assert.equal(sp.status, 200, JSON.stringify(sp.data) + JSON.stringify((sc.log as unknown as { lines: unknown[] }).lines.slice(-4)));
      assert.equal(sp.data.power_state, 4);
      assert.equal(sp.data.nvram.path, file);
      assert.equal(sp.data.firmware.loader, '/usr/share/OVMF/OVMF_CODE_4M.fd');
      const ino = fs.statSync(file).ino;
      assert.equal(fs.statSync(file).uid, fs.statSync(NVRAM_DIR).uid, 'owned by libvirt-qemu');
      const xml = virsh('dumpxml', '--inactive', name);
      assert.match(xml, new RegExp(`<nvram template='/usr/share/OVMF/OVMF_VARS_4M.fd'>${file}</nvram>`));
      assert.doesNotMatch(xml, /firmware=['"]efi/);

      const on = await http.post(`/v1/instances/${inst.uuid}/power_on`, { instance: inst });
      assert.equal(on.status, 200, JSON.stringify(on.data));
      assert.equal(virsh('domstate', name).trim(), 'running');
      assert.equal(fs.statSync(file).ino, ino, 'libvirt used our file, it did not create its own');

      let con = await SerialConsole.connect(path.join(sockDir, `${name}.sock`));
      await con.waitForShell(120000);
      await con.run(`setvar NusMarker -guid ${GUID} -nv -bs =L"${value}"`);
      const dump = await con.run(`dmpstore NusMarker -guid ${GUID}`);
      assert.match(dump, /NusMarker/);
      con.close();
      assert.ok(fs.readFileSync(file).includes(utf16('NusMarker')), 'OVMF wrote the variable into our file');

      const hr = await http.post(`/v1/instances/${inst.uuid}/reboot`, { instance: inst, reboot_type: 'HARD' });
      assert.equal(hr.status, 200, JSON.stringify(hr.data));
      con = await SerialConsole.connect(path.join(sockDir, `${name}.sock`));
      await con.waitForShell(120000);
      const afterHard = await con.run(`dmpstore NusMarker -guid ${GUID}`);
      assert.doesNotMatch(afterHard, /No matching variables/);
      assert.match(afterHard, /NusMarker/);
      con.close();

      const off = await http.post(`/v1/instances/${inst.uuid}/power_off`, { instance: inst, timeout: 0 });
      assert.equal(off.status, 200);
      assert.equal(virsh('domstate', name).trim(), 'shut off');
      const offSha = off.data.nvram.sha256;
      const on2 = await http.post(`/v1/instances/${inst.uuid}/power_on`, { instance: inst });
      assert.equal(on2.status, 200);
      assert.equal(on2.data.nvram.path, file);
      con = await SerialConsole.connect(path.join(sockDir, `${name}.sock`));
      await con.waitForShell(120000);
      assert.match(await con.run(`dmpstore NusMarker -guid ${GUID}`), /NusMarker/);
      con.close();
      assert.ok(offSha);

      const d = await http.post(`/v1/instances/${inst.uuid}/destroy`, { instance: inst, destroy_disks: true });
      assert.equal(d.status, 200);
      assert.equal(fs.existsSync(file), false);
      assert.throws(() => virsh('domstate', name));
    } finally {
      try {
        virsh('destroy', name);
      } catch {
        /* not running */
      }
      try {
        virsh('undefine', name, '--nvram');
      } catch {
        /* not defined */
      }
    }
  });
});
