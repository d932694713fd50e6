/**
 * `LibvirtHypervisor` against real libvirt 9.0 + QEMU (TCG) + OVMF, with hand-written XML
 * (the domainXml module is not used here on purpose). Proves: libvirt uses an NVRAM file
 * we created as is (same inode), OVMF really boots to its UEFI shell and writes a variable
 * into that file, `undefine` keeps or deletes the file with exactly one flag, and a second
 * daemon (host B) answers as a separate host with its NVRAM directory at the host-side path
 * the harness reports. Skips with the reason where root / libvirt / OVMF are missing.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { LibvirtHypervisor } from '../../src/hypervisor/libvirt';
import { PowerState } from '../../src/nova/powerState';
import { HypervisorError } from '../../src/errors';
import {
  DAEMON_NVRAM_DIR,
  OVMF_CODE,
  OVMF_VARS,
  libvirtPrereqs,
  purgeDomain,
  skipOrFail,
  startHostA,
  startHostB,
  stopHostB,
  virshOn,
  type LibvirtHost,
} from '../support/libvirtd';
import { LibvirtSerial, dmpstoreCommand, setvarCommand } from '../support/libvirtSerial';

const MARKER_GUID = '3a7b9c1e-1111-2222-3333-444455556666';

function domainXml(o: { name: string; nvramPath: string; serialSock?: string }): string {
  return `<domain type='qemu'>
  <name>${o.name}</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <loader readonly='yes' type='pflash' secure='no'>${OVMF_CODE}</loader>
    <nvram template='${OVMF_VARS}'>${o.nvramPath}</nvram>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
${o.serialSock ? `    <serial type='unix'><source mode='bind' path='${o.serialSock}'/><target port='0'/></serial>\n` : ''}  </devices>
</domain>
`;
}

const utf16 = (s: string) => Buffer.from(s, 'utf16le');

/** A 0755 directory owned like its parent (libvirt does not create NVRAM parents; 0700 breaks QEMU). */
function mkdir0755(dir: string, ownerOf: string): void {
  fs.mkdirSync(dir, { mode: 0o755 });
  fs.chmodSync(dir, 0o755);
  const st = fs.statSync(ownerOf);
  fs.chownSync(dir, st.uid, st.gid);
}

/** A store copied from the template, mode 0600, in a fresh 0755 directory under `nvramRoot`. */
function makeStore(nvramRoot: string, name: string): { dir: string; file: string } {
  const dir = path.join(nvramRoot, name);
  mkdir0755(dir, nvramRoot);
  const file = path.join(dir, `${name}_VARS.fd`);
  fs.copyFileSync(OVMF_VARS, file);
  fs.chmodSync(file, 0o600);
  return { dir, file };
}

describe('libvirt backend against real libvirtd, QEMU TCG and OVMF', function () {
  this.timeout(600_000);
  let hostA: LibvirtHost;
  let hv: LibvirtHypervisor;
  const names: string[] = [];
  const dirs: string[] = [];

  before(async function () {
    const why = libvirtPrereqs();
    if (why) skipOrFail(this, why);
    try {
      hostA = await startHostA();
    } catch (e) {
      skipOrFail(this, `libvirtd could not be started: ${(e as Error).message}`);
    }
    hv = new LibvirtHypervisor({ uri: hostA.uri });
    const t0 = Date.now();
    await hv.init();
    console.log(`      host A ${hostA.uri}: start ${hostA.startMs} ms, first init ${Date.now() - t0} ms`);
  });

  after(() => {
    if (!hostA) return;
    for (const n of names) purgeDomain(hostA.uri, n);
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('fails init with a connect error naming the URI when no daemon listens', async () => {
    const uri = 'qemu+unix:///system?socket=/nonexistent/nus/libvirt-sock';
    await assert.rejects(
      new LibvirtHypervisor({ uri }).init(),
      (e: unknown) => e instanceof HypervisorError && e.kind === 'connect' && e.message.includes(uri),
    );
  });

  it('uses our NVRAM file as is, boots OVMF to the UEFI shell, and keeps or deletes the file with exactly one undefine flag', async () => {
    const name = `nus-test-lv-${randomBytes(4).toString('hex')}`;
    names.push(name);
    const { dir, file } = makeStore(hostA.nvramDir, name);
    dirs.push(dir);
    const sockDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nus-lvserial-'));
    dirs.push(sockDir);
    mkdirOwnedLikeNvram(sockDir, hostA.nvramDir);
    const sock = path.join(sockDir, 'serial.sock');
    const xml = domainXml({ name, nvramPath: file, serialSock: sock });
    const ino = fs.statSync(file).ino;

    await hv.define(xml);
    assert.deepEqual(await hv.getInfo(name), { name, state: PowerState.SHUTDOWN });
    assert.ok((await hv.list()).includes(name));
    assert.match((await hv.getXml(name))!, new RegExp(`<nvram template='${OVMF_VARS}'>${file}</nvram>`));

    const t0 = Date.now();
    await hv.start(name);
    assert.equal((await hv.getInfo(name))!.state, PowerState.RUNNING);
    assert.equal(fs.statSync(file).ino, ino, 'libvirt used the file we created instead of writing its own');

    const con = await LibvirtSerial.connect(sock);
    try {
      await con.waitForShell(60_000);
      console.log(`      start to UEFI shell prompt: ${Date.now() - t0} ms`);
      assert.match(con.text(), /UEFI Interactive Shell/);
      const value = `nus-${randomBytes(4).toString('hex')}`;
      await con.run(setvarCommand('NusMarker', MARKER_GUID, value));
      const dump = await con.run(dmpstoreCommand('NusMarker', MARKER_GUID));
      assert.doesNotMatch(dump, /No matching variables found/);
      assert.match(dump, /NusMarker/);
      const store = fs.readFileSync(file);
      assert.ok(store.includes(utf16('NusMarker')) && store.includes(utf16(value)), 'OVMF wrote the marker into our file');
    } finally {
      con.close();
    }

    await hv.destroy(name);
    await hv.destroy(name); // idempotent
    assert.equal((await hv.getInfo(name))!.state, PowerState.SHUTDOWN);

    await hv.undefine(name, { keepNvram: true });
    assert.equal(await hv.getInfo(name), null);
    assert.equal(await hv.getXml(name), null);
    assert.equal(fs.statSync(file).ino, ino, 'kept with --keep-nvram');
    await hv.undefine(name, { keepNvram: true }); // not defined: not an error

    await hv.define(xml);
    assert.equal((await hv.getInfo(name))!.state, PowerState.SHUTDOWN);
    await hv.undefine(name, { keepNvram: false });
    assert.equal(await hv.getInfo(name), null);
    assert.equal(fs.existsSync(file), false, 'deleted with --nvram');
  });

  describe('host B (second libvirtd in a private mount namespace)', () => {
    let stateDir: string;
    let hostB: LibvirtHost;
    before(async () => {
      stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nus-libvirt-b-'));
      hostB = await startHostB(stateDir);
      console.log(`      host B ${hostB.uri}: start ${hostB.startMs} ms, NVRAM dir on the host ${hostB.nvramDir}`);
    });
    after(async () => {
      if (stateDir) {
        await stopHostB(stateDir).catch((e) => console.log(`      stop host B: ${(e as Error).message}`));
        fs.rmSync(stateDir, { recursive: true, force: true });
      }
    });

    it('answers as another host with no domains', async () => {
      const b = new LibvirtHypervisor({ uri: hostB.uri });
      await b.init();
      assert.deepEqual(await b.list(), []);
      const uuid = (uri: string) => /<uuid>([^<]+)<\/uuid>/.exec(virshOn(uri, 'capabilities'))?.[1];
      assert.notEqual(uuid(hostB.uri), uuid(hostA.uri));
    });

    it('sees a store written into the reported host-side NVRAM dir at /var/lib/libvirt/qemu/nvram', async () => {
      assert.equal(hostB.nvramDir, path.join(fs.realpathSync(stateDir), 'lib/qemu/nvram'));
      const b = new LibvirtHypervisor({ uri: hostB.uri });
      const name = `nus-test-lvb-${randomBytes(4).toString('hex')}`;
      const hostFile = path.join(hostB.nvramDir, `${name}_VARS.fd`);
      fs.copyFileSync(OVMF_VARS, hostFile);
      fs.chmodSync(hostFile, 0o600);
      const ino = fs.statSync(hostFile).ino;
      try {
        await b.define(domainXml({ name, nvramPath: path.join(DAEMON_NVRAM_DIR, `${name}_VARS.fd`) }));
        await b.start(name, { paused: true });
        assert.equal((await b.getInfo(name))!.state, PowerState.PAUSED);
        assert.equal(fs.statSync(hostFile).ino, ino, 'B used the file at the host-side path');
        assert.equal(fs.existsSync(path.join(DAEMON_NVRAM_DIR, `${name}_VARS.fd`)), false, "nothing appeared in host A's directory");
        await b.destroy(name);
        await b.undefine(name, { keepNvram: false });
        assert.equal(fs.existsSync(hostFile), false);
      } finally {
        purgeDomain(hostB.uri, name);
        fs.rmSync(hostFile, { force: true });
      }
    });
  });
});

/** The serial socket directory: libvirt binds the socket there for QEMU (user libvirt-qemu). */
function mkdirOwnedLikeNvram(dir: string, nvramRoot: string): void {
  fs.chmodSync(dir, 0o755);
  const st = fs.statSync(nvramRoot);
  fs.chownSync(dir, st.uid, st.gid);
}
