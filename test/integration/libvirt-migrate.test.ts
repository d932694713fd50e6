/**
 * `LibvirtHypervisor.liveMigrate` between two real daemons (host A, and host B in a private
 * mount namespace): a UEFI variable written from OVMF's shell on A is in B's store file (at
 * the host-side NVRAM dir the harness reports) and readable from the shell on B, the source
 * is undefined and the destination defined from the XML we passed. Skips like
 * libvirt-backend.test.ts.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { LibvirtHypervisor } from '../../src/hypervisor/libvirt';
import { PowerState } from '../../src/nova/powerState';
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
  type LibvirtHost,
} from '../support/libvirtd';
import { LibvirtSerial, dmpstoreCommand, setvarCommand } from '../support/libvirtSerial';

const GUID = '3a7b9c1e-1111-2222-3333-444455556666';

describe('libvirt live migration between two real daemons', function () {
  this.timeout(600_000);
  let hostA: LibvirtHost;
  let hostB: LibvirtHost;
  let stateDir = '';
  let sockDir = '';
  const name = `nus-test-lvm-${randomBytes(4).toString('hex')}`;

  before(async function () {
    const why = libvirtPrereqs();
    if (why) skipOrFail(this, why);
    try {
      hostA = await startHostA();
      stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nus-libvirt-b-'));
      hostB = await startHostB(stateDir);
    } catch (e) {
      skipOrFail(this, `libvirtd could not be started: ${(e as Error).message}`);
    }
    sockDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nus-lvserial-'));
    fs.chmodSync(sockDir, 0o755);
    const st = fs.statSync(hostA.nvramDir);
    fs.chownSync(sockDir, st.uid, st.gid);
  });

  after(async () => {
    if (hostA) {
      purgeDomain(hostA.uri, name);
      fs.rmSync(path.join(hostA.nvramDir, `${name}_VARS.fd`), { force: true });
    }
    if (hostB) purgeDomain(hostB.uri, name);
    if (stateDir) {
      await stopHostB(stateDir).catch(() => undefined);
      fs.rmSync(stateDir, { recursive: true, force: true });
    }
    if (sockDir) fs.rmSync(sockDir, { recursive: true, force: true });
  });

  it("carries a UEFI variable written on A into B's store and moves the definition", async () => {
    const a = new LibvirtHypervisor({ uri: hostA.uri });
    const b = new LibvirtHypervisor({ uri: hostB.uri });
    const file = `${name}_VARS.fd`;
    // Both stores exist before the migration, same size (QEMU needs the RAMBlock lengths to match).
    for (const dir of [hostA.nvramDir, hostB.nvramDir]) {
      fs.copyFileSync(OVMF_VARS, path.join(dir, file));
      fs.chmodSync(path.join(dir, file), 0o600);
    }
    const xml = (sock: string) => `<domain type='qemu'><name>${name}</name><memory unit='MiB'>256</memory><vcpu>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type>
    <loader readonly='yes' type='pflash' secure='no'>${OVMF_CODE}</loader>
    <nvram template='${OVMF_VARS}'>${path.join(DAEMON_NVRAM_DIR, file)}</nvram></os>
  <features><acpi/></features>
  <devices><serial type='unix'><source mode='bind' path='${sock}'/><target port='0'/></serial></devices></domain>`;
    const sockA = path.join(sockDir, 'a.sock');
    const sockB = path.join(sockDir, 'b.sock');

    await a.define(xml(sockA));
    await a.start(name);
    const value = `mig-${randomBytes(4).toString('hex')}`;
    let con = await LibvirtSerial.connect(sockA);
    try {
      await con.waitForShell(60_000);
      await con.run(setvarCommand('NusMarker', GUID, value));
    } finally {
      con.close();
    }

    // B's definition names another serial socket: passed as --xml and --persistent-xml.
    const persist = (await a.getXml(name))!.replace(sockA, sockB);
    const t0 = Date.now();
    await a.liveMigrate(name, { destHost: 'hostB', destUri: hostB.uri, migrateUri: 'tcp://127.0.0.1', persistXml: persist, timeoutSec: 120 });
    console.log(`      live migration A -> B: ${Date.now() - t0} ms`);

    assert.equal(await a.getInfo(name), null, 'undefined on the source');
    assert.equal((await b.getInfo(name))!.state, PowerState.RUNNING);
    assert.match((await b.getXml(name))!, new RegExp(sockB.replace(/[.]/g, '\\.')));
    assert.ok(fs.readFileSync(path.join(hostB.nvramDir, file)).includes(Buffer.from(value, 'utf16le')), "B's store holds the marker");

    con = await LibvirtSerial.connect(sockB);
    try {
      await con.attachToShell();
      const dump = await con.run(dmpstoreCommand('NusMarker', GUID));
      assert.match(dump, /NusMarker/);
      assert.doesNotMatch(dump, /No matching variables found/);
    } finally {
      con.close();
    }
    await b.destroy(name);
    await b.undefine(name, { keepNvram: false });
    assert.equal(fs.existsSync(path.join(hostB.nvramDir, file)), false);
  });
});
