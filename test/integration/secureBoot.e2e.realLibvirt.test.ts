/**
 * Secure Boot keys proven on real OVMF (Debian libvirt 9.0, QEMU TCG, OVMF_CODE_4M.ms.fd with
 * SMM), following ../shared/reference/secure-boot-proof.md: efitools' HelloWorld.efi signed
 * with sbsign on a bare FAT ESP disk, and the boot manager's verdict on the serial console:
 *  - ran:     `BdsDxe: starting Boot0001 ...` (printed once LoadImage accepted the signature)
 *             and HelloWorld's "This file is used to prove you have managed";
 *  - refused: `BdsDxe: failed to load Boot0001 ... Access Denied`.
 *
 * Two hosts (A: the system libvirtd; B: a second daemon in a private mount namespace), each
 * with its own sidecar on the libvirt backend and two key sets generated here with openssl:
 * `e2e` (PK/KEK/db) and `e2e-db2` (a second db key). One guest with an ESP disk (Nova's base
 * XML) goes through, the store read through the API after each step:
 *  1. the `e2e` key set enrolled through the API into the shut-off guest: a binary signed with
 *     the enrolled db key starts; one signed with another key and an unsigned one are refused;
 *  2. a fleet rotation adds the second db key while the guest runs: queued; a hard reboot
 *     through the sidecar applies it; the binary signed with the second key starts;
 *  3. a third db key queued through the API while running survives a SIGKILL of the sidecar,
 *     follows the guest through a cold migration A -> B and is applied there: its binary
 *     starts on B.
 *
 * Skips with a reason without root/libvirt/OVMF/efitools/sbsigntool/mtools/dosfstools;
 * NUS_REQUIRE_LIBVIRT=1 (.ci/run) makes that a failure.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash, randomUUID } from 'node:crypto';
import { libvirtPrereqs, libvirtSidecar, purgeDomain, skipOrFail, startHostA, startHostB, stopHostB, virshOn, type LibvirtHost } from '../support/libvirtd';
import { LibvirtSerial } from '../support/libvirtSerial';
import { freePort, SidecarProcess } from '../support/processes';
import { tmpDir } from '../support/firmwareFixture';
import { migration } from '../support/novaFlows';
import { testCert, type TestCert } from '../support/sbKeys';
import { buildDomainXml } from '../../src/domainXml';

const HELLO = '/usr/lib/efitools/x86_64-linux-gnu/HelloWorld.efi';
const OWNER = '6e7a6f71-1b1c-4d53-9a5e-2f0f5e2b0d11';
const UEFI_SB = { properties: { hw_firmware_type: 'uefi', hw_machine_type: 'q35', os_secure_boot: 'required' } };
// BdsDxe prints "starting" only once LoadImage accepted the image (its signature checked against
// db/dbx); HelloWorld's banner follows. Either line is enough: a loaded 2-CPU host can drop
// bytes of a TCG guest's serial output (see Limits), so one of them may arrive garbled.
const RAN = /BdsDxe: starting Boot0001|This file is used to prove you have managed/;
const REFUSED = /BdsDxe: failed to load Boot0001|Boot0001[^\n]*Access Denied/;
const VERDICT_MS = 180_000;

type Verdict = 'ran' | 'refused';

function missingTools(): string | null {
  for (const t of [HELLO, '/usr/bin/sbsign', '/usr/bin/mcopy', '/usr/sbin/mkfs.vfat', '/usr/bin/openssl'])
    if (!fs.existsSync(t)) return `${t} missing (efitools, sbsigntool, mtools, dosfstools, openssl)`;
  if (!fs.existsSync('/usr/share/OVMF/OVMF_CODE_4M.ms.fd')) return 'OVMF .ms build missing';
  return null;
}

describe('Secure Boot keys on real OVMF: enroll, refuse, rotate while running, survive SIGKILL, follow a cold migration (e2e)', function () {
  this.timeout(900_000);
  let hostA: LibvirtHost;
  let hostB: LibvirtHost;
  let root = '';
  let A: SidecarProcess;
  let B: SidecarProcess;
  let esp = '';
  const rows: string[] = [];
  let lastError = '';
  const keys: Record<string, TestCert> = {};
  const binaries: Record<string, string> = {};
  const id = 0x7000 + Math.floor(Math.random() * 0xfff);
  const name = `nus-e2e-${id.toString(16).padStart(8, '0')}`;
  let inst = {
    uuid: randomUUID(),
    id,
    host: 'compute-a',
    vcpus: 1,
    memory_mb: 256,
    flavor: { name: 'uefi.sb', vcpus: 1, memory_mb: 256, extra_specs: {} as Record<string, string> },
  };
  let owner: SidecarProcess;

  before(async function () {
    const why = libvirtPrereqs() ?? missingTools();
    if (why) skipOrFail(this, why);
    root = tmpDir('nus-sbe2e-');
    for (const n of ['e2e-PK', 'e2e-KEK', 'e2e-db', 'e2e-db2', 'e2e-db3', 'e2e-other']) keys[n] = testCert(n);
    const bin = path.join(root, 'bin');
    fs.mkdirSync(bin);
    for (const n of ['e2e-db', 'e2e-db2', 'e2e-db3', 'e2e-other']) {
      binaries[n] = path.join(bin, `hello_${n}.efi`);
      execFileSync('sbsign', ['--key', keys[n].key, '--cert', keys[n].crt, '--output', binaries[n], HELLO], { stdio: 'ignore' });
    }
    binaries.unsigned = HELLO;
    esp = path.join(root, 'esp.img');
    execFileSync('mkfs.vfat', ['-C', esp, '8192'], { stdio: 'ignore' });
    execFileSync('mmd', ['-i', esp, '::/EFI', '::/EFI/BOOT']);
    fs.chmodSync(esp, 0o666);
    try {
      hostA = await startHostA();
      hostB = await startHostB(path.join(root, 'hostb'));
    } catch (e) {
      skipOrFail(this, `libvirtd could not be started: ${(e as Error).message}`);
    }
    const [pa, pb] = [await freePort(), await freePort()];
    const peers = `compute-a=http://127.0.0.1:${pa},compute-b=http://127.0.0.1:${pb}`;
    const extra =
      `[secure_boot_keyset:e2e]\npk = ${keys['e2e-PK'].crt}\nkek = ${keys['e2e-KEK'].crt}\ndb = ${keys['e2e-db'].crt}\nowner_guid = ${OWNER}\n` +
      `[secure_boot_keyset:e2e-db2]\ndb = ${keys['e2e-db2'].der}\nowner_guid = ${OWNER}\n`;
    const mk = (n: 'a' | 'b', port: number) => libvirtSidecar({ root, n, port, peers, host: n === 'a' ? hostA : hostB, extra });
    A = mk('a', pa);
    B = mk('b', pb);
    const bPid = fs.readFileSync(path.join(root, 'hostb', 'libvirtd.pid'), 'utf8').trim();
    B.wrap = ['nsenter', '-t', bPid, '-m', `--wd=${process.cwd()}`, '--'];
    await A.start();
    await B.start();
    owner = A;
  });

  afterEach(function () {
    if (this.currentTest?.state !== 'failed') return;
    const sock = serialOf(owner);
    console.log(
      [
        `---- diagnostics for "${this.currentTest.title}"`,
        `sidecar error: ${lastError || '(none)'}`,
        `serial (last 3000 chars):\n${LibvirtSerial.transcript(sock).slice(-3000) || '(nothing captured)'}`,
        ...[A, B].filter(Boolean).map((h) => `${h.name} log tail:\n${h.log.split('\n').slice(-15).join('\n')}`),
      ].join('\n'),
    );
  });

  after(async () => {
    if (rows.length) {
      console.log('      step | store (through the API) | firmware verdict');
      for (const r of rows) console.log(`      ${r}`);
    }
    await A?.stop();
    await B?.stop();
    if (hostA) purgeDomain(hostA.uri, name);
    if (hostB) purgeDomain(hostB.uri, name);
    for (const d of [hostA?.nvramDir, hostB?.nvramDir]) if (d) fs.rmSync(path.join(d, `${name}_VARS.fd`), { force: true });
    if (root) {
      await stopHostB(path.join(root, 'hostb')).catch(() => undefined);
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  const serialOf = (h: SidecarProcess) => path.join(h.root, 'serial', `${name}.sock`);

  async function call(h: SidecarProcess, method: string, body: object) {
    const r = await h.http.post(`/v1/instances/${inst.uuid}/${method}`, body);
    if (r.status !== 200) {
      lastError = `${h.name} ${method}: HTTP ${r.status} ${JSON.stringify(r.data)}`;
      assert.fail(lastError);
    }
    return r.data;
  }

  interface Sb {
    keyset: string | null;
    pending: unknown[];
    pk: { certificates: string[] };
    db: { certificates: string[] };
    enabled: boolean;
  }
  async function secureBoot(h: SidecarProcess): Promise<Sb> {
    const r = await h.http.get(`/v1/instances/${inst.uuid}/nvram/secure-boot`);
    assert.equal(r.status, 200, JSON.stringify(r.data));
    return r.data as Sb;
  }
  const dbOf = (s: Sb) => s.db.certificates.join(', ');

  /** The authenticated-variable records as `attr time data-sha` (through the API), by name. */
  async function authRecords(h: SidecarProcess): Promise<Record<string, string>> {
    const r = await h.http.get(`/v1/instances/${inst.uuid}/nvram/variables`);
    assert.equal(r.status, 200, JSON.stringify(r.data));
    const want = ['PK', 'KEK', 'db', 'dbx', 'certdb', 'VendorKeysNv', 'SecureBootEnable'];
    const out: Record<string, string> = {};
    for (const v of r.data.variables as { name: string; attr: number; time?: string; data: string }[]) {
      if (want.includes(v.name)) out[v.name] = `0x${v.attr.toString(16)} ${v.time ?? '-'} ${createHash('sha256').update(v.data).digest('hex').slice(0, 16)}`;
    }
    return out;
  }

  /** Put `binary` on the ESP as the removable-media boot path (guest off, or not reading it). */
  function espHolds(binary: string): void {
    execFileSync('mcopy', ['-o', '-i', esp, binary, '::/EFI/BOOT/BOOTX64.EFI']);
  }

  /** Watch the serial console from a (re)start until the boot manager's verdict. */
  async function verdictAfter(h: SidecarProcess, start: () => Promise<unknown>): Promise<Verdict> {
    // Connect as soon as QEMU made the socket: start first (the socket appears with the guest).
    await start();
    const con = await LibvirtSerial.connect(serialOf(h), 60_000);
    try {
      const out = await con.waitFor(new RegExp(`${RAN.source}|${REFUSED.source}`), VERDICT_MS);
      return RAN.test(out) ? 'ran' : 'refused';
    } finally {
      con.close();
    }
  }

  const baseXml = () => {
    const min = buildDomainXml({
      name,
      uuid: inst.uuid,
      virtType: 'qemu',
      arch: 'x86_64',
      machine: 'q35',
      vcpus: 1,
      memoryMb: 256,
      firmware: null,
      nvramPath: null,
    });
    const disk = `<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${esp}'/><target dev='sda' bus='sata'/></disk>`;
    return min.includes('<devices>') ? min.replace('<devices>', `<devices>${disk}`) : min.replace('</domain>', `<devices>${disk}</devices></domain>`);
  };

  it('enrolls a generated key set through the API: the db-signed binary starts, other-key and unsigned ones are refused', async () => {
    const sp = await call(A, 'spawn', { instance: inst, image_meta: UEFI_SB, power_on: false, domain_xml: baseXml() });
    assert.equal(sp.firmware.secure, true);
    const before = await secureBoot(A);
    assert.match(before.pk.certificates[0], /Debian/, 'spawned from the .ms template');
    const put = await A.http.put(`/v1/instances/${inst.uuid}/nvram/secure-boot`, { keyset: 'e2e' });
    assert.equal(put.status, 200, JSON.stringify(put.data));
    assert.equal(put.data.applied, true);
    const s = await secureBoot(A);
    assert.deepEqual([s.keyset, s.pk.certificates, dbOf(s), s.enabled], ['e2e', ['CN=e2e-PK'], 'CN=e2e-db', true]);
    const written = await authRecords(A);
    assert.match(written.PK, /^0x27 [0-9a-f]{32} /, 'NV|BS|RT|AT with a timestamp');
    const cases: [string, string, Verdict][] = [
      ['signed with the enrolled db key', binaries['e2e-db'], 'ran'],
      ['signed with another key', binaries['e2e-other'], 'refused'],
      ['unsigned', binaries.unsigned, 'refused'],
    ];
    for (const [what, binary, want] of cases) {
      espHolds(binary);
      const v = await verdictAfter(A, () => call(A, 'power_on', { instance: inst }));
      rows.push(`key set e2e enrolled; binary ${what} | db: ${dbOf(await secureBoot(A))} | ${v}`);
      assert.equal(v, want, `binary ${what}`);
      await call(A, 'power_off', { instance: inst, timeout: 0 });
    }
    // OVMF booted three times on the offline records: it kept them as written (no re-enrollment,
    // no reset of the timestamp, certdb and VendorKeysNv as edk2 leaves them).
    const booted = await authRecords(A);
    rows.push(
      `after three boots: PK/KEK/db/dbx/certdb/VendorKeysNv/SecureBootEnable as written offline | ${booted.PK === written.PK && booted.db === written.db ? 'identical' : 'CHANGED'} | -`,
    );
    assert.deepEqual(booted, written);
  });

  it('a rotation while the guest runs is queued; a hard reboot through the sidecar applies it; the second key starts', async () => {
    espHolds(binaries['e2e-db2']);
    const refused = await verdictAfter(A, () => call(A, 'power_on', { instance: inst }));
    rows.push(`running, before the rotation; binary signed with db2 | db: ${dbOf(await secureBoot(A))} | ${refused}`);
    assert.equal(refused, 'refused', 'db2 is not trusted yet');
    const rid = `e2e-${randomUUID().slice(0, 8)}`;
    const post = await A.http.post('/v1/host/secure-boot/rotations', {
      rotation_id: rid,
      add: { keyset: 'e2e-db2', databases: ['db'] },
      selection: { instances: [inst.uuid] },
    });
    assert.equal(post.status, 202, JSON.stringify(post.data));
    let rot;
    for (let i = 0; i < 100; i++) {
      rot = (await A.http.get(`/v1/host/secure-boot/rotations/${rid}`)).data;
      if (rot.status !== 'running') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(rot.instances[0].outcome, 'queued', JSON.stringify(rot));
    const queued = await secureBoot(A);
    assert.equal(dbOf(queued), 'CN=e2e-db', 'nothing written while QEMU holds the store');
    assert.equal(queued.pending.length, 1);
    rows.push(`rotation posted while running | db: ${dbOf(queued)}; pending ${queued.pending.length} | -`);
    const ran = await verdictAfter(A, () => call(A, 'reboot', { instance: inst, reboot_type: 'HARD' }));
    const after = await secureBoot(A);
    rows.push(`hard reboot through the sidecar | db: ${dbOf(after)}; pending ${after.pending.length} | ${ran}`);
    assert.equal(ran, 'ran');
    assert.equal(dbOf(after), 'CN=e2e-db, CN=e2e-db2');
    assert.equal(after.pending.length, 0);
    const done = (await A.http.get(`/v1/host/secure-boot/rotations/${rid}`)).data;
    assert.equal(done.instances[0].outcome, 'applied', JSON.stringify(done));
  });

  it('a change queued while running survives SIGKILL of the sidecar and follows the guest through a cold migration A -> B', async () => {
    const put = await A.http.put(`/v1/instances/${inst.uuid}/nvram/secure-boot?queue=true`, { add: { db: [keys['e2e-db3'].pem] }, owner: OWNER });
    assert.equal(put.status, 202, JSON.stringify(put.data));
    await A.stop(); // SIGKILL
    await A.start();
    const kept = await secureBoot(A);
    rows.push(`queued db3, sidecar A SIGKILLed and restarted | db: ${dbOf(kept)}; pending ${kept.pending.length} | -`);
    assert.equal(kept.pending.length, 1, 'the queue survived the SIGKILL');
    assert.equal(virshOn(hostA.uri, 'domstate', name).trim(), 'running');

    const mig = migration('compute-a', 'compute-b', 'migration');
    const out = await call(A, 'migrate_disk_and_power_off', { instance: inst, dest: 'compute-b', flavor: inst.flavor, network_info: [] });
    inst = { ...inst, host: 'compute-b' };
    owner = B;
    await call(B, 'finish_migration', {
      migration: mig,
      instance: inst,
      disk_info: out.disk_info,
      image_meta: UEFI_SB,
      resize_instance: false,
      power_on: false,
      network_info: [],
    });
    const onB = await secureBoot(B);
    assert.equal(dbOf(onB), 'CN=e2e-db, CN=e2e-db2, CN=e2e-db3', 'applied on B at finish_migration');
    assert.equal(onB.pending.length, 0);
    espHolds(binaries['e2e-db3']);
    const ran = await verdictAfter(B, () => call(B, 'power_on', { instance: inst }));
    rows.push(`cold migration A -> B, power on on B | db: ${dbOf(onB)}; pending ${onB.pending.length} | ${ran}`);
    assert.equal(ran, 'ran');
    await call(A, 'confirm_migration', { migration: mig, instance: inst, network_info: [] });
    await call(B, 'destroy', { instance: inst, network_info: [], destroy_disks: true });
  });
});
