/**
 * End to end on the real stack (Debian libvirt 9.0, QEMU TCG, OVMF): two compute hosts, each a
 * libvirt daemon with its own NVRAM directory (A: the system daemon; B: a second daemon in a
 * private mount namespace, scripts/libvirt-host.sh) and its own sidecar on the libvirt backend
 * (B's runs inside B's namespace). Disk-less q35 UEFI guests boot to OVMF's UEFI shell on a
 * serial socket; the test types `setvar` to write a marker variable from inside the guest,
 * drives one operation through the sidecar API, boots or resumes, and reads the marker back
 * with `dmpstore` inside the guest and from the store file on the host that owns the guest.
 *
 * One guest goes through the operations in order (each writes a fresh marker value first, so
 * each step proves its own operation carried the latest write): soft reboot, hard reboot,
 * power off/on, rescue/unrescue, resize + confirm (A -> B), resize + revert (B -> A -> B),
 * cold migration + confirm (B -> A), live migration (A -> B), shelve-offload on B + unshelve on A
 * and evacuation A -> B (both through encrypted replicas in a directory both sidecars share),
 * rebuild (marker gone by design), delete (no file left on either host). A second guest boots the Secure Boot build (.ms
 * template, SMM); the shell is refused there, so its state is checked in the store file.
 *
 * Skips with a one-line reason without root/libvirt/OVMF; `NUS_REQUIRE_LIBVIRT=1` (set by
 * .ci/run) turns that skip into a failure. A failing case prints the guest's serial output,
 * the sidecar's last error answer and the tail of both sidecars' logs.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { libvirtPrereqs, libvirtSidecar, purgeDomain, skipOrFail, startHostA, startHostB, stopHostB, virshOn, type LibvirtHost } from '../support/libvirtd';
import { LibvirtSerial, dumpedAgrees, setvarCommand } from '../support/libvirtSerial';
import { freePort, SidecarProcess } from '../support/processes';
import { tmpDir } from '../support/firmwareFixture';
import { migration } from '../support/novaFlows';
import { parseVarStore, secureBootSummary } from '../../src/varstore';

const GUID = '3a7b9c1e-1111-2222-3333-444455556666';
const MARKER = 'NusMarker';
const NVRAM = '/var/lib/libvirt/qemu/nvram';
const UEFI = { properties: { hw_firmware_type: 'uefi', hw_machine_type: 'q35' } };
const UEFI_SB = { properties: { hw_firmware_type: 'uefi', hw_machine_type: 'q35', os_secure_boot: 'required' } };
const BOOT_MS = 180_000;
const SOFT_WAIT_S = 5;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface Row {
  op: string;
  host: string;
  marker: string;
  guest: string;
  file: string;
  ms: number;
}

describe('UEFI variables through every operation on two real libvirt hosts (e2e)', function () {
  this.timeout(900_000);
  let hostA: LibvirtHost;
  let hostB: LibvirtHost;
  let root = '';
  let A: SidecarProcess;
  let B: SidecarProcess;
  const names: string[] = [];
  const rows: Row[] = [];
  let suiteStart = Date.now();
  /** The last non-2xx answer from a sidecar, for failure reports. */
  let lastError = '';
  /** Serial sockets of the case running now, for failure reports. */
  let sockets: string[] = [];

  before(async function () {
    suiteStart = Date.now();
    const why = libvirtPrereqs();
    if (why) skipOrFail(this, why);
    root = tmpDir('nus-e2e-');
    try {
      hostA = await startHostA();
      hostB = await startHostB(path.join(root, 'hostb'));
    } catch (e) {
      skipOrFail(this, `libvirtd could not be started: ${(e as Error).message}`);
    }
    // Replicas in a directory both sidecars see (standing in for a shared mount), one key.
    const replicaDir = path.join(root, 'replicas');
    const replicaKey = path.join(root, 'replica.key');
    fs.writeFileSync(replicaKey, randomBytes(32).toString('hex'), { mode: 0o600 });
    const [pa, pb] = [await freePort(), await freePort()];
    const peers = `compute-a=http://127.0.0.1:${pa},compute-b=http://127.0.0.1:${pb}`;
    const mk = (n: 'a' | 'b', port: number, migrationUri: string) =>
      libvirtSidecar({
        root,
        n,
        port,
        peers,
        host: n === 'a' ? hostA : hostB,
        libvirt: `migration_uri = ${migrationUri}\nlive_migration_inbound_addr = 127.0.0.1\nwait_soft_reboot_seconds = ${SOFT_WAIT_S}\n`,
        extra: `[replica]\nbackend = directory\npath = ${replicaDir}\nencryption_key_file = ${replicaKey}\ninterval = 2\nretry_interval = 1\n`,
      });
    A = mk('a', pa, 'qemu:///system');
    B = mk('b', pb, hostB.uri);
    // Sidecar B runs in B's mount namespace: there "qemu:///system" and /var/lib/libvirt are B's.
    const bPid = fs.readFileSync(path.join(root, 'hostb', 'libvirtd.pid'), 'utf8').trim();
    B.wrap = ['nsenter', '-t', bPid, '-m', `--wd=${process.cwd()}`, '--'];
    await A.start();
    await B.start();
  });

  // The operations run in order on one guest: after a failed step the rest would only report
  // the same broken guest, so they are skipped (the Secure Boot guest has its own chain).
  let chainBroken = false;
  beforeEach(function () {
    if (chainBroken && !this.currentTest?.parent?.title.startsWith('Secure Boot')) this.skip();
  });

  afterEach(function () {
    if (this.currentTest?.state !== 'failed') return;
    if (!this.currentTest.parent?.title.startsWith('Secure Boot')) chainBroken = true;
    const out: string[] = [`---- diagnostics for "${this.currentTest.title}"`];
    out.push(`sidecar error: ${lastError || '(no error answer recorded)'}`);
    for (const s of sockets) out.push(`serial ${path.basename(s)} (last 3000 chars):\n${LibvirtSerial.transcript(s).slice(-3000) || '(nothing captured)'}`);
    // The last lines that are not a GET's request line (a wait that polls would fill the tail).
    const tail = (log: string) =>
      log
        .split('\n')
        .filter((l) => !(l.includes('"msg":"request"') && l.includes('"method":"GET"')))
        .slice(-15)
        .join('\n');
    for (const h of [A, B]) if (h) out.push(`${h.name} log tail (GET requests left out):\n${tail(h.log)}`);
    console.log(out.join('\n'));
  });

  after(async () => {
    if (rows.length) {
      const total = ((Date.now() - suiteStart) / 1000).toFixed(0);
      console.log('      operation | host | marker written | read in guest | read in store file | ms');
      for (const r of rows) console.log(`      ${r.op} | ${r.host} | ${r.marker} | ${r.guest} | ${r.file} | ${r.ms}`);
      console.log(`      e2e suite wall time ${total} s`);
      if (process.env.NUS_E2E_REPORT) fs.writeFileSync(process.env.NUS_E2E_REPORT, JSON.stringify({ seconds: Number(total), rows }, null, 2));
    }
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

  /** POST a driver method; any non-200 answer is recorded and fails the case with the sidecar's error. */
  async function call(h: SidecarProcess, uuid: string, method: string, body: object) {
    const r = await h.http.post(`/v1/instances/${uuid}/${method}`, body);
    if (r.status !== 200) {
      lastError = `${h.name} ${method}: HTTP ${r.status} ${JSON.stringify(r.data)}`;
      assert.fail(lastError);
    }
    return r.data;
  }

  const hostOf = (h: SidecarProcess) => (h === A ? hostA : hostB);
  const serial = (h: SidecarProcess, name: string) => path.join(h.root, 'serial', `${name}.sock`);
  const storeFile = (h: SidecarProcess, name: string) => path.join(h.nvramDir, `${name}_VARS.fd`);

  /** One guest and the host that owns it now. */
  class Guest {
    private owner?: SidecarProcess;
    /** The host that owns the guest now (host A until it moves). */
    get host(): SidecarProcess {
      return this.owner ?? A;
    }
    inst: {
      uuid: string;
      id: number;
      host: string;
      vcpus: number;
      memory_mb: number;
      flavor: { name: string; vcpus: number; memory_mb: number; extra_specs: Record<string, string> };
    };
    readonly name: string;
    value = '';
    constructor() {
      const id = 0x6000 + Math.floor(Math.random() * 0xfff);
      this.name = `nus-e2e-${id.toString(16).padStart(8, '0')}`;
      names.push(this.name);
      this.inst = {
        uuid: randomUUID(),
        id,
        host: 'compute-a',
        vcpus: 1,
        memory_mb: 256,
        flavor: { name: 'uefi.small', vcpus: 1, memory_mb: 256, extra_specs: {} },
      };
    }

    moveTo(h: SidecarProcess): void {
      this.owner = h;
      this.inst = { ...this.inst, host: h.name };
    }

    /** Connect to the console; `fresh`: the guest (re)started, wait for the shell; else attach to a running shell. */
    async console(fresh: boolean): Promise<LibvirtSerial> {
      const sock = serial(this.host, this.name);
      sockets = [...new Set([...sockets, sock])];
      const con = await LibvirtSerial.connect(sock);
      if (fresh) await con.waitForShell(BOOT_MS);
      else await con.attachToShell();
      return con;
    }

    /** Write a new marker value from inside the guest (already at its shell, or after a fresh boot). */
    async writeMarker(op: string, fresh: boolean): Promise<string> {
      const con = await this.console(fresh);
      this.value = `${op}-${randomUUID().slice(0, 8)}`;
      await con.run(setvarCommand(MARKER, GUID, this.value));
      const out = await con.dmpstore(MARKER, GUID);
      assert.ok(dumpedAgrees(out, MARKER, this.value).agrees, `the shell reads back what it wrote (${this.value}): ${JSON.stringify(out)}`);
      con.close();
      return this.value;
    }

    /** Whether the guest sees `want` as its marker (null: no marker); `partial`: the console dropped bytes of a dump that agrees. */
    async markerInGuest(fresh: boolean, want: string | null): Promise<{ agrees: boolean; partial: boolean; out: string }> {
      const con = await this.console(fresh);
      const out = await con.dmpstore(MARKER, GUID);
      con.close();
      return { ...dumpedAgrees(out, MARKER, want), out };
    }

    /** The marker as the owner's store file holds it (parsed with the varstore library). */
    markerInFile(): string | null {
      const vars = parseVarStore(fs.readFileSync(storeFile(this.host, this.name))).variables;
      const v = vars.find((x) => x.name === MARKER && x.guid === GUID);
      return v ? v.data.toString('utf16le').replace(/\0+$/, '') : null;
    }
  }

  /** Checks the marker in guest and file, that the other host holds nothing, and records a row. */
  async function expectMarker(g: Guest, op: string, fresh: boolean, t0: number, want: string | null = g.value): Promise<void> {
    const inGuest = await g.markerInGuest(fresh, want);
    const inFile = g.markerInFile();
    const guest = inGuest.agrees ? `${want ?? '(none)'}${inGuest.partial ? ' (console dropped bytes)' : ''}` : '(other)';
    rows.push({ op, host: g.host.name, marker: want ?? '(none: reset)', guest, file: inFile ?? '(none)', ms: Date.now() - t0 });
    assert.ok(inGuest.agrees, `${op}: marker inside the guest, want ${want}: ${JSON.stringify(inGuest.out)}`);
    assert.equal(inFile, want, `${op}: marker in ${storeFile(g.host, g.name)}`);
    const other = g.host === A ? B : A;
    const left = fs.readdirSync(other.nvramDir).filter((f) => f.includes(g.name));
    assert.deepEqual(left, [], `${op}: ${other.name} keeps no copy, stash or staged file`);
  }

  const g = new Guest();
  let firstBoot = '';

  it('spawn: the store is ours before libvirt starts the guest, OVMF boots to the shell on host A', async () => {
    const t0 = Date.now();
    const sp = await call(A, g.inst.uuid, 'spawn', { instance: g.inst, image_meta: UEFI });
    assert.equal(sp.power_state, 1);
    assert.equal(sp.nvram.path, path.join(NVRAM, `${g.name}_VARS.fd`));
    assert.equal(sp.firmware.loader, '/usr/share/OVMF/OVMF_CODE_4M.fd');
    const file = storeFile(A, g.name);
    const ino = fs.statSync(file).ino;
    assert.equal(fs.statSync(file).uid, fs.statSync(NVRAM).uid, 'owned by libvirt-qemu');
    const xml = virshOn(hostA.uri, 'dumpxml', g.name);
    assert.match(xml, new RegExp(`<nvram template='/usr/share/OVMF/OVMF_VARS_4M.fd'>${sp.nvram.path}</nvram>`));
    await g.writeMarker('spawn', true);
    assert.equal(fs.statSync(file).ino, ino, 'libvirt used our file, it did not make its own');
    assert.equal(g.markerInFile(), g.value, 'OVMF wrote the variable into the file the sidecar created');
    // The NVRAM API reads what the firmware wrote on its first boot, and what the guest wrote.
    const lv = await A.http.get(`/v1/instances/${g.inst.uuid}/nvram/variables`);
    assert.equal(lv.status, 200, JSON.stringify(lv.data));
    type V = { name: string; guid: string; data: string; decoded?: { kind: string; order?: number[]; entries?: string[]; description?: string } };
    const vars = lv.data.variables as V[];
    const order = vars.find((v) => v.name === 'BootOrder');
    assert.ok(order?.decoded?.order?.length, `BootOrder written by OVMF: ${JSON.stringify(order)}`);
    const boots = vars.filter((v) => /^Boot[0-9A-F]{4}$/.test(v.name));
    for (const e of order.decoded.entries!)
      assert.ok(
        boots.some((b) => b.name === e),
        `${e} listed`,
      );
    assert.ok(
      boots.some((b) => b.decoded?.description === 'EFI Internal Shell'),
      JSON.stringify(boots.map((b) => b.decoded?.description)),
    );
    const api = vars.find((v) => v.name === MARKER && v.guid === GUID);
    assert.ok(api, 'the guest-written marker is listed by the API');
    assert.equal(Buffer.from(api.data, 'hex').toString('utf16le').replace(/\0+$/, ''), g.value);
    firstBoot = boots.map((b) => `${b.name} ${b.decoded?.description}`).join(', ') + `; BootOrder ${order.decoded.entries!.join(',')}`;
    rows.push({ op: 'spawn + first boot', host: 'compute-a', marker: g.value, guest: g.value, file: g.value, ms: Date.now() - t0 });
    rows.push({ op: 'API lists what OVMF wrote', host: 'compute-a', marker: '-', guest: '-', file: firstBoot, ms: 0 });
  });

  it('soft reboot (the shell ignores ACPI: hard reboot after wait_soft_reboot_seconds) keeps the marker', async () => {
    await g.writeMarker('soft', false);
    const t0 = Date.now();
    const r = await call(A, g.inst.uuid, 'reboot', { instance: g.inst, reboot_type: 'SOFT' });
    assert.match(r.warnings.join('\n'), new RegExp(`did not shut down within ${SOFT_WAIT_S} s`));
    await expectMarker(g, 'soft reboot', true, t0);
  });

  it('hard reboot keeps the marker', async () => {
    await g.writeMarker('hard', false);
    const t0 = Date.now();
    await call(A, g.inst.uuid, 'reboot', { instance: g.inst, reboot_type: 'HARD' });
    await expectMarker(g, 'hard reboot', true, t0);
  });

  it('power off / power on keeps the marker', async () => {
    await g.writeMarker('power', false);
    const t0 = Date.now();
    const off = await call(A, g.inst.uuid, 'power_off', { instance: g.inst, timeout: 0 });
    assert.equal(off.power_state, 4);
    assert.equal(virshOn(hostA.uri, 'domstate', g.name).trim(), 'shut off');
    // While off, write a variable through the API; the guest must see it after power on.
    const apiValue = `api-${randomUUID().slice(0, 8)}`;
    const put = await A.http.put(`/v1/instances/${g.inst.uuid}/nvram/variables/${GUID}/NusApiVar`, {
      data: Buffer.from(apiValue, 'utf16le').toString('hex'),
      attr: 3,
    });
    assert.equal(put.status, 200, JSON.stringify(put.data));
    await call(A, g.inst.uuid, 'power_on', { instance: g.inst });
    const running = await A.http.put(`/v1/instances/${g.inst.uuid}/nvram/variables/${GUID}/NusApiVar`, { data: '00', attr: 3 });
    assert.equal(running.status, 409, 'no edits while QEMU owns the file');
    await expectMarker(g, 'power off/on', true, t0);
    const con = await g.console(false);
    const out = await con.dmpstore('NusApiVar', GUID);
    con.close();
    const seen = dumpedAgrees(out, 'NusApiVar', apiValue);
    rows.push({ op: 'API write while off -> guest', host: 'compute-a', marker: apiValue, guest: seen.agrees ? apiValue : '(other)', file: '-', ms: 0 });
    assert.ok(seen.agrees, `a variable written through the API while off is visible inside the guest: ${JSON.stringify(out)}`);
  });

  it('rescue sees the marker (stable rescue keeps the store), and a marker written in rescue survives unrescue', async () => {
    await g.writeMarker('rescue', false);
    const t0 = Date.now();
    await call(A, g.inst.uuid, 'rescue', { instance: g.inst, image_meta: UEFI });
    await expectMarker(g, 'rescue', true, t0);
    await g.writeMarker('in-rescue', false);
    const t1 = Date.now();
    await call(A, g.inst.uuid, 'unrescue', { instance: g.inst });
    await expectMarker(g, 'unrescue', true, t1);
  });

  it('resize A -> B + confirm carries the marker; A keeps nothing', async () => {
    await g.writeMarker('resize', false);
    const t0 = Date.now();
    const flavor = { name: 'uefi.medium', vcpus: 1, memory_mb: 320, extra_specs: {} };
    const mig = migration('compute-a', 'compute-b', 'resize');
    const out = await call(A, g.inst.uuid, 'migrate_disk_and_power_off', { instance: g.inst, dest: 'compute-b', flavor, network_info: [] });
    g.moveTo(B);
    g.inst.flavor = flavor;
    g.inst.memory_mb = 320;
    const fin = await call(B, g.inst.uuid, 'finish_migration', {
      migration: mig,
      instance: g.inst,
      disk_info: out.disk_info,
      image_meta: UEFI,
      resize_instance: true,
      power_on: true,
      network_info: [],
    });
    assert.equal(fin.nvram.sha256, out.nvram.sha256, 'installed byte for byte');
    assert.match(virshOn(hostB.uri, 'dumpxml', g.name), /<memory unit='KiB'>327680<\/memory>/);
    await call(A, g.inst.uuid, 'confirm_migration', { migration: mig, instance: g.inst, network_info: [] });
    assert.throws(() => virshOn(hostA.uri, 'domstate', g.name), 'no domain left on A');
    await expectMarker(g, 'resize + confirm', true, t0);
  });

  it('resize B -> A + revert brings back the source store: the marker from before, not the one written on A', async () => {
    const before = await g.writeMarker('revert', false);
    const t0 = Date.now();
    const flavor = { name: 'uefi.small', vcpus: 1, memory_mb: 256, extra_specs: {} };
    const mig = migration('compute-b', 'compute-a', 'resize');
    const out = await call(B, g.inst.uuid, 'migrate_disk_and_power_off', { instance: g.inst, dest: 'compute-a', flavor, network_info: [] });
    const onB = g.inst;
    g.moveTo(A);
    await call(A, g.inst.uuid, 'finish_migration', {
      migration: mig,
      instance: { ...g.inst, flavor, memory_mb: 256 },
      disk_info: out.disk_info,
      image_meta: UEFI,
      resize_instance: true,
      power_on: true,
      network_info: [],
    });
    const onA = await g.writeMarker('written-on-dest', true);
    // Nova's revert: the destination destroys its guest and disks, the source finishes the revert.
    await call(A, g.inst.uuid, 'destroy', { instance: g.inst, network_info: [], destroy_disks: true });
    g.moveTo(B);
    g.inst = onB;
    await call(B, g.inst.uuid, 'finish_revert_migration', { instance: g.inst, network_info: [], migration: mig, power_on: true });
    assert.notEqual(onA, before);
    g.value = before;
    await expectMarker(g, 'resize + revert', true, t0);
  });

  it('cold migration B -> A + confirm carries the marker; B keeps nothing', async () => {
    await g.writeMarker('cold', false);
    const t0 = Date.now();
    const mig = migration('compute-b', 'compute-a', 'migration');
    const out = await call(B, g.inst.uuid, 'migrate_disk_and_power_off', { instance: g.inst, dest: 'compute-a', flavor: g.inst.flavor, network_info: [] });
    assert.equal(virshOn(hostB.uri, 'domstate', g.name).trim(), 'shut off');
    g.moveTo(A);
    const fin = await call(A, g.inst.uuid, 'finish_migration', {
      migration: mig,
      instance: g.inst,
      disk_info: out.disk_info,
      image_meta: UEFI,
      resize_instance: false,
      power_on: true,
      network_info: [],
    });
    assert.equal(fin.nvram.sha256, out.nvram.sha256);
    await call(B, g.inst.uuid, 'confirm_migration', { migration: mig, instance: g.inst, network_info: [] });
    assert.throws(() => virshOn(hostB.uri, 'domstate', g.name), 'no domain left on B');
    await expectMarker(g, 'cold migration + confirm', true, t0);
  });

  it('live migration A -> B (virsh migrate --live) keeps the marker in the running guest; A keeps nothing', async () => {
    await g.writeMarker('live', false);
    const t0 = Date.now();
    const mig = migration('compute-a', 'compute-b', 'live-migration');
    const d = await call(B, g.inst.uuid, 'check_can_live_migrate_destination', {
      instance: g.inst,
      src_compute_info: {},
      dst_compute_info: {},
      block_migration: false,
    });
    const s = await call(A, g.inst.uuid, 'check_can_live_migrate_source', { instance: g.inst, dest_check_data: { ...d.migrate_data, migration: mig } });
    const p = await call(B, g.inst.uuid, 'pre_live_migration', {
      instance: g.inst,
      block_device_info: {},
      network_info: [],
      disk_info: null,
      migrate_data: s.migrate_data,
    });
    const lm = await call(A, g.inst.uuid, 'live_migration', { instance: g.inst, dest: 'compute-b', migrate_data: p.migrate_data, block_migration: false });
    assert.ok(lm.nvram?.sha256, 'the source checked the destination digest before dropping its copy');
    await call(A, g.inst.uuid, 'post_live_migration', { instance: g.inst, block_device_info: {}, migrate_data: p.migrate_data });
    await call(A, g.inst.uuid, 'post_live_migration_at_source', { instance: g.inst, network_info: [] });
    await call(A, g.inst.uuid, 'cleanup', { instance: g.inst, network_info: [], destroy_disks: true, migrate_data: p.migrate_data });
    g.moveTo(B);
    await call(B, g.inst.uuid, 'post_live_migration_at_destination', { instance: g.inst, network_info: [], block_migration: false });
    assert.equal(virshOn(hostB.uri, 'domstate', g.name).trim(), 'running');
    assert.throws(() => virshOn(hostA.uri, 'domstate', g.name), 'undefined on A');
    // Resumed, not rebooted: attach to the shell the guest was sitting in on A.
    await expectMarker(g, 'live migration', false, t0);
  });

  /**
   * Until the newest replica generation holds the owner's store file as it is at that poll (the
   * periodic scan writes it; the file is read again each time, so a later write by the firmware
   * is waited for, not taken for a lost generation). On failure it says what the sidecar's
   * replica state and newest generation were.
   */
  async function replicated(h: SidecarProcess, name: string, uuid: string): Promise<number> {
    const fileSha = () =>
      createHash('sha256')
        .update(fs.readFileSync(storeFile(h, name)))
        .digest('hex');
    let seen = '';
    for (let i = 0; i < 300; i++) {
      const r = await h.http.get(`/v1/instances/${uuid}/nvram/backups`);
      const newest = r.status === 200 ? r.data.backups[0] : undefined;
      const want = fileSha();
      if (newest?.sha256 === want) return newest.generation as number;
      seen = `file ${want.slice(0, 12)}, newest generation ${newest?.generation ?? '-'} ${String(newest?.sha256 ?? r.status).slice(0, 12)}`;
      await new Promise((res) => setTimeout(res, 200));
    }
    const info = await h.http.get(`/v1/instances/${uuid}`);
    return assert.fail(`no replica generation of ${name} holds its store as it is now (${seen}; replica state ${JSON.stringify(info.data?.nvram?.replica)})`);
  }

  it('shelve-offload on B, unshelve on A: the variable written in the guest survives (replica restored)', async () => {
    await g.writeMarker('shelve', false);
    const t0 = Date.now();
    // Nova's shelve: power off, snapshot, then shelve-offload destroys on the host.
    await call(B, g.inst.uuid, 'power_off', { instance: g.inst, timeout: 0 });
    await call(B, g.inst.uuid, 'destroy', {
      instance: { ...g.inst, task_state: 'shelving_offloading', vm_state: 'shelved' },
      network_info: [],
      destroy_disks: true,
    });
    assert.throws(() => virshOn(hostB.uri, 'domstate', g.name), 'undefined on B');
    g.moveTo(A);
    const v = await call(A, g.inst.uuid, 'spawn', {
      instance: { ...g.inst, task_state: 'unshelving', vm_state: 'shelved_offloaded' },
      image_meta: UEFI,
      network_info: [],
    });
    assert.equal(v.nvram.replica.restored.host, 'compute-b');
    await expectMarker(g, 'shelve-offload B + unshelve A', true, t0);
  });

  it('evacuation A -> B: the newest generation is restored on B with its age; A coming back leaves B alone', async () => {
    await g.writeMarker('evacuate', false);
    const gen = await replicated(A, g.name, g.inst.uuid);
    const t0 = Date.now();
    // Host A dies: its sidecar is killed and its guest stops (the domain and store stay behind).
    await A.stop();
    virshOn(hostA.uri, 'destroy', g.name);
    g.moveTo(B);
    const v = await call(B, g.inst.uuid, 'spawn', { instance: g.inst, image_meta: UEFI, network_info: [], evacuate: true });
    assert.equal(v.nvram.replica.restored.generation, gen);
    assert.ok(v.nvram.replica.restored.age_seconds >= 0);
    // A comes back: Nova's _destroy_evacuated_instances destroys the leftover there.
    await A.start();
    await call(A, g.inst.uuid, 'destroy', { instance: g.inst, network_info: [], destroy_disks: true });
    assert.throws(() => virshOn(hostA.uri, 'domstate', g.name), 'the leftover on A is gone');
    await expectMarker(g, `evacuate A -> B (generation ${gen}, ${v.nvram.replica.restored.age_seconds} s old)`, true, t0);
  });

  it('rebuild resets the store from the template: the marker is gone (by design)', async () => {
    await g.writeMarker('rebuild', false);
    const t0 = Date.now();
    const r = await call(B, g.inst.uuid, 'rebuild', { instance: g.inst, image_meta: UEFI });
    assert.equal(r.power_state, 1);
    await expectMarker(g, 'rebuild', true, t0, null);
  });

  it('delete removes domain and store on the owner, and nothing is left on either host', async () => {
    const t0 = Date.now();
    await call(B, g.inst.uuid, 'destroy', { instance: g.inst, network_info: [], destroy_disks: true });
    assert.throws(() => virshOn(hostB.uri, 'domstate', g.name));
    const left = [A, B].flatMap((h) =>
      fs
        .readdirSync(h.nvramDir)
        .filter((f) => f.includes(g.name))
        .map((f) => `${h.name}:${f}`),
    );
    rows.push({ op: 'delete', host: 'compute-b', marker: '-', guest: '-', file: left.length ? left.join(',') : '(no file on A or B)', ms: Date.now() - t0 });
    assert.deepEqual(left, []);
    assert.equal((await B.http.get(`/v1/instances/${g.inst.uuid}`)).status, 404);
  });

  describe('Secure Boot guest (OVMF .ms build, SMM)', function () {
    const sb = new Guest();
    /** The variables that hold Secure Boot state, by name -> hex, from the owner's store file. */
    const keys = () => {
      const vars = parseVarStore(fs.readFileSync(storeFile(sb.host, sb.name))).variables;
      const pick = ['PK', 'KEK', 'db', 'dbx', 'SecureBootEnable', 'CustomMode', 'VendorKeysNv'];
      return Object.fromEntries(vars.filter((v) => pick.includes(v.name)).map((v) => [`${v.guid}:${v.name}`, sha(v.data)]));
    };
    const summary = () => secureBootSummary(parseVarStore(fs.readFileSync(storeFile(sb.host, sb.name))).variables);
    /** Serial output proves the firmware ran; the Secure Boot build has no shell to reach. */
    async function firmwareRan(h: SidecarProcess): Promise<void> {
      sockets = [...new Set([...sockets, serial(h, sb.name)])];
      const con = await LibvirtSerial.connect(serial(h, sb.name));
      await con.waitFor(/BdsDxe|Boot0|UEFI|Shell/i, BOOT_MS);
      con.close();
      assert.equal(virshOn(hostOf(h).uri, 'domstate', sb.name).trim(), 'running');
    }

    it('boots with secure=yes and SMM from the enrolled template; the store shows Secure Boot on with PK/KEK/db', async () => {
      const t0 = Date.now();
      const sp = await call(A, sb.inst.uuid, 'spawn', { instance: sb.inst, image_meta: UEFI_SB });
      assert.equal(sp.firmware.secure, true);
      assert.equal(sp.firmware.requires_smm, true);
      assert.match(sp.firmware.loader, /OVMF_CODE_4M\.ms\.fd$/);
      const xml = virshOn(hostA.uri, 'dumpxml', sb.name);
      assert.match(xml, /<loader readonly='yes' secure='yes' type='pflash'>\/usr\/share\/OVMF\/OVMF_CODE_4M\.ms\.fd<\/loader>/);
      assert.match(xml, /<smm state='on'\/>/);
      assert.match(xml, /<nvram template='\/usr\/share\/OVMF\/OVMF_VARS_4M\.ms\.fd'>/);
      await firmwareRan(A);
      const s = summary();
      assert.equal(s.enabled, true);
      assert.equal(s.setup_mode, false);
      for (const k of ['pk', 'kek', 'db'] as const) assert.ok(s[k].certificates.length > 0, `${k} enrolled`);
      rows.push({
        op: 'secure boot: boot',
        host: 'compute-a',
        marker: 'PK/KEK/db',
        guest: 'firmware ran (no shell under SB)',
        file: `SecureBoot enabled, ${s.db.certificates.length} db certs`,
        ms: Date.now() - t0,
      });
    });

    it('keeps the keys byte for byte across hard reboot, and the whole store across cold migration A -> B', async () => {
      const t0 = Date.now();
      const k0 = keys();
      await call(A, sb.inst.uuid, 'reboot', { instance: sb.inst, reboot_type: 'HARD' });
      await firmwareRan(A);
      assert.deepEqual(keys(), k0, 'PK, KEK, db, dbx, SecureBootEnable unchanged');
      rows.push({
        op: 'secure boot: hard reboot',
        host: 'compute-a',
        marker: 'keys sha256',
        guest: 'firmware ran',
        file: 'keys identical',
        ms: Date.now() - t0,
      });
      const t1 = Date.now();
      const mig = migration('compute-a', 'compute-b', 'migration');
      const out = await call(A, sb.inst.uuid, 'migrate_disk_and_power_off', { instance: sb.inst, dest: 'compute-b', flavor: sb.inst.flavor, network_info: [] });
      const before = sha(fs.readFileSync(storeFile(A, sb.name)));
      assert.equal(out.nvram.sha256, before);
      sb.moveTo(B);
      await call(B, sb.inst.uuid, 'finish_migration', {
        migration: mig,
        instance: sb.inst,
        disk_info: out.disk_info,
        image_meta: UEFI_SB,
        resize_instance: false,
        power_on: false,
        network_info: [],
      });
      assert.equal(sha(fs.readFileSync(storeFile(B, sb.name))), before, 'the whole store arrived byte for byte');
      await call(B, sb.inst.uuid, 'power_on', { instance: sb.inst });
      assert.match(virshOn(hostB.uri, 'dumpxml', sb.name), /secure='yes'/);
      await firmwareRan(B);
      await call(A, sb.inst.uuid, 'confirm_migration', { migration: mig, instance: sb.inst, network_info: [] });
      assert.deepEqual(keys(), k0);
      assert.equal(summary().enabled, true);
      rows.push({
        op: 'secure boot: cold migration',
        host: 'compute-b',
        marker: 'store sha256',
        guest: 'firmware ran',
        file: 'byte-identical; keys identical',
        ms: Date.now() - t1,
      });
      await call(B, sb.inst.uuid, 'destroy', { instance: sb.inst, network_info: [], destroy_disks: true });
      assert.equal(fs.existsSync(storeFile(B, sb.name)), false);
    });
  });
});
