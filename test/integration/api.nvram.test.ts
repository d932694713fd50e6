/**
 * The operators' NVRAM API on the embedded backend: raw store with size/digest headers, the
 * decoded variable list and the v2 interchange format, one-variable PUT/DELETE, BootOrder and
 * BootNext, the Secure Boot summary, reset to the template. Writes only while shut off, atomic,
 * size unchanged; every refusal names the field or the reason. The template is an edk2 store
 * built by the tests (the real Debian templates are exercised where installed).
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import { startTestSidecar, instance, UEFI_Q35, type TestSidecar } from '../support/sidecar';
import { firmwareTree, tmpDir, SIZES } from '../support/firmwareFixture';
import { buildStore } from '../unit/varstore/builder';
import { parseVarStore, guidToBytes, EFI_GLOBAL_VARIABLE } from '../../src/varstore';

const MARK_GUID = '3a7b9c1e-1111-2222-3333-444455556666';
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const u16 = (...ns: number[]) => Buffer.from(ns.flatMap((n) => [n & 0xff, n >> 8]));

/** EFI_LOAD_OPTION: active, a Fv()/FvFile() path (like OVMF's shell entry), a description. */
const OVMF_FV = '7cb8bdc9-f8eb-4f34-aaea-3ee4af6516a1';
const SHELL_FILE = '7c04a583-9e3e-4f1c-ad65-e05268d0b4d1';
function loadOption(desc: string): Buffer {
  // MEDIA_DEVICE_PATH (4): PIWG firmware volume (subtype 7), PIWG firmware file (subtype 6), end.
  const fv = Buffer.concat([Buffer.from([0x04, 0x07, 20, 0]), guidToBytes(OVMF_FV)]);
  const file = Buffer.concat([Buffer.from([0x04, 0x06, 20, 0]), guidToBytes(SHELL_FILE)]);
  const end = Buffer.from([0x7f, 0xff, 0x04, 0x00]);
  const path = Buffer.concat([fv, file, end]);
  const head = Buffer.alloc(6);
  head.writeUInt32LE(1, 0);
  head.writeUInt16LE(path.length, 4);
  return Buffer.concat([head, Buffer.from(desc + '\0', 'utf16le'), path]);
}

function template(): Buffer {
  return buildStore({
    fvLength: SIZES.ovmf4mVars,
    storeSize: 0x40000 - 0x48,
    records: [
      { name: 'Boot0000', guid: EFI_GLOBAL_VARIABLE, attr: 7, data: loadOption('UiApp') },
      { name: 'Boot0001', guid: EFI_GLOBAL_VARIABLE, attr: 7, data: loadOption('EFI Internal Shell') },
      { name: 'BootOrder', guid: EFI_GLOBAL_VARIABLE, attr: 7, data: u16(0, 1) },
      { name: 'Timeout', guid: EFI_GLOBAL_VARIABLE, attr: 7, data: u16(0) },
    ],
  });
}

describe('NVRAM API: variables, Secure Boot, boot order, reset', function () {
  let sc: TestSidecar;
  let tpl: Buffer;

  before(async () => {
    const fw = firmwareTree(tmpDir('nus-nvapi-fw-'));
    tpl = template();
    assert.equal(tpl.length, SIZES.ovmf4mVars);
    fs.writeFileSync(fw.files.vars, tpl);
    // AAVMF_VARS.fd as Debian ships it: 64 MiB of zeros, formatted by the firmware on first boot.
    fs.rmSync(fw.files.aaVars);
    fs.writeFileSync(fw.files.aaVars, '');
    fs.truncateSync(fw.files.aaVars, SIZES.aavmf);
    sc = await startTestSidecar({}, fw);
  });
  after(async () => sc?.stop());

  async function spawned(powerOn = false) {
    const inst = instance();
    const r = await sc.http.post(`/v1/instances/${inst.uuid}/spawn`, { instance: inst, image_meta: UEFI_Q35, power_on: powerOn });
    assert.equal(r.status, 200, JSON.stringify(r.data));
    return { inst, file: r.data.nvram.path as string, base: `/v1/instances/${inst.uuid}/nvram` };
  }

  it('GET /nvram answers the bytes with X-NVRAM-Size and X-NVRAM-SHA256', async () => {
    const { base, file } = await spawned(true);
    const r = await sc.http.get(base, { responseType: 'arraybuffer' });
    assert.equal(r.status, 200);
    const body = Buffer.from(r.data);
    assert.ok(body.equals(fs.readFileSync(file)));
    assert.equal(r.headers['x-nvram-size'], String(tpl.length));
    assert.equal(r.headers['x-nvram-sha256'], sha(tpl));
  });

  it('lists live variables decoded (Boot#### with description and device path, BootOrder), also while running', async () => {
    const { base } = await spawned(true);
    const r = await sc.http.get(`${base}/variables`);
    assert.equal(r.status, 200, JSON.stringify(r.data));
    assert.equal(r.data.format, 'authenticated');
    assert.deepEqual(
      r.data.variables.map((v: { name: string }) => v.name),
      ['Boot0000', 'Boot0001', 'BootOrder', 'Timeout'],
    );
    const shell = r.data.variables[1];
    assert.equal(shell.guid, EFI_GLOBAL_VARIABLE);
    assert.equal(shell.attr, 7);
    assert.equal(shell.data, loadOption('EFI Internal Shell').toString('hex'));
    assert.equal(shell.decoded.description, 'EFI Internal Shell');
    assert.equal(shell.decoded.kind, 'load-option');
    assert.equal(shell.decoded.active, true);
    assert.equal(shell.decoded.device_path.toLowerCase(), `fv(${OVMF_FV})/fvfile(${SHELL_FILE})`);
    assert.deepEqual(r.data.variables[2].decoded, { kind: 'boot-order', order: [0, 1], entries: ['Boot0000', 'Boot0001'] });
    assert.deepEqual(r.data.variables[3].decoded, { kind: 'u16', value: 0 });
  });

  it('?format=v2 answers the interchange format; another format is refused naming the field', async () => {
    const { base } = await spawned();
    const r = await sc.http.get(`${base}/variables?format=v2`);
    assert.equal(r.status, 200);
    assert.equal(r.data.version, 2);
    assert.deepEqual(r.data.variables[2], { name: 'BootOrder', guid: EFI_GLOBAL_VARIABLE, attr: 7, data: '00000100' });
    const bad = await sc.http.get(`${base}/variables?format=xml`);
    assert.equal(bad.status, 400);
    assert.match(bad.data.error.message, /format/);
  });

  it('PUT a variable: refused while running (409, file untouched), written atomically once shut off', async () => {
    const { inst, base, file } = await spawned(true);
    const url = `${base}/variables/${MARK_GUID}/NusMarker`;
    const body = { data: Buffer.from('hello\0', 'utf16le').toString('hex'), attr: 3 };
    const running = await sc.http.put(url, body);
    assert.equal(running.status, 409);
    assert.equal(running.data.error.type, 'InstanceInvalidState');
    assert.ok(fs.readFileSync(file).equals(tpl));
    assert.equal((await sc.http.post(`/v1/instances/${inst.uuid}/power_off`, { instance: inst })).status, 200);
    const ok = await sc.http.put(url, body);
    assert.equal(ok.status, 200, JSON.stringify(ok.data));
    assert.deepEqual(
      { name: ok.data.variable.name, guid: ok.data.variable.guid, attr: ok.data.variable.attr, data: ok.data.variable.data },
      { name: 'NusMarker', guid: MARK_GUID, attr: 3, ...{ data: body.data } },
    );
    const now = fs.readFileSync(file);
    assert.equal(now.length, tpl.length, 'size unchanged');
    assert.equal(ok.data.nvram.sha256, sha(now));
    const v = parseVarStore(now).variables.find((x) => x.name === 'NusMarker');
    assert.equal(v?.data.toString('utf16le'), 'hello\0');
    assert.deepEqual(
      fs.readdirSync(sc.nvramDir).filter((f) => f.includes('.tmp')),
      [],
      'no temp file left',
    );
  });

  it('refuses bad input naming the field, and leaves the file as it was', async () => {
    const { base, file } = await spawned();
    const cases: [string, string, object, string][] = [
      ['not hex', `${base}/variables/${MARK_GUID}/X`, { data: 'zz' }, 'data'],
      ['odd hex', `${base}/variables/${MARK_GUID}/X`, { data: 'abc' }, 'data'],
      ['no data', `${base}/variables/${MARK_GUID}/X`, { attr: 7 }, 'data'],
      ['unknown field', `${base}/variables/${MARK_GUID}/X`, { data: '00', colour: 1 }, 'colour'],
      ['attr out of range', `${base}/variables/${MARK_GUID}/X`, { data: '00', attr: 4096 }, 'attr'],
      ['bad guid', `${base}/variables/not-a-guid/X`, { data: '00' }, 'guid'],
    ];
    for (const [what, url, body, field] of cases) {
      const r = await sc.http.put(url, body);
      assert.equal(r.status, 400, `${what}: ${JSON.stringify(r.data)}`);
      assert.match(r.data.error.message, new RegExp(field), `${what}: ${r.data.error.message}`);
      assert.doesNotMatch(JSON.stringify(r.data), /at .*\.ts:\d+/, 'no stack trace');
    }
    assert.ok(fs.readFileSync(file).equals(tpl));
  });

  it('refuses a variable that does not fit (409 InvalidNVRAM, reason full) and keeps the store', async () => {
    const { base, file } = await spawned();
    const r = await sc.http.put(`${base}/variables/${MARK_GUID}/Big`, { data: 'ab'.repeat(0x40000) });
    assert.equal(r.status, 409, JSON.stringify(r.data).slice(0, 300));
    assert.equal(r.data.error.type, 'InvalidNVRAM');
    assert.equal(r.data.error.details.reason, 'full');
    assert.ok(fs.readFileSync(file).equals(tpl));
  });

  it('DELETE removes a variable; deleting it again is 404 naming it', async () => {
    const { base, file } = await spawned();
    const url = `${base}/variables/${EFI_GLOBAL_VARIABLE}/Timeout`;
    const r = await sc.http.delete(url);
    assert.equal(r.status, 200, JSON.stringify(r.data));
    assert.deepEqual(
      parseVarStore(fs.readFileSync(file)).variables.map((v) => v.name),
      ['Boot0000', 'Boot0001', 'BootOrder'],
    );
    const again = await sc.http.delete(url);
    assert.equal(again.status, 404);
    assert.match(again.data.error.message, /Timeout/);
  });

  it('sets BootOrder and BootNext (entries must exist), and boot_next null removes BootNext', async () => {
    const { base, file } = await spawned();
    const r = await sc.http.put(`${base}/boot`, { boot_order: [1, 0], boot_next: 1 });
    assert.equal(r.status, 200, JSON.stringify(r.data));
    assert.deepEqual([r.data.boot_order, r.data.boot_next], [[1, 0], 1]);
    const vars = parseVarStore(fs.readFileSync(file)).variables;
    assert.equal(vars.find((v) => v.name === 'BootOrder')?.data.toString('hex'), '01000000');
    assert.equal(vars.find((v) => v.name === 'BootNext')?.data.toString('hex'), '0100');
    const missing = await sc.http.put(`${base}/boot`, { boot_order: [5] });
    assert.equal(missing.status, 404);
    assert.match(missing.data.error.message, /BootOrder\[0\].*Boot0005/);
    const cleared = await sc.http.put(`${base}/boot`, { boot_next: null });
    assert.equal(cleared.status, 200);
    assert.equal(cleared.data.boot_next, null);
    assert.equal(
      parseVarStore(fs.readFileSync(file)).variables.some((v) => v.name === 'BootNext'),
      false,
    );
    const empty = await sc.http.put(`${base}/boot`, {});
    assert.equal(empty.status, 400);
  });

  it('reset puts the pinned template back, only while shut off', async () => {
    const { inst, base, file } = await spawned();
    assert.equal((await sc.http.put(`${base}/variables/${MARK_GUID}/NusMarker`, { data: '00' })).status, 200);
    assert.ok(!fs.readFileSync(file).equals(tpl));
    const r = await sc.http.post(`${base}/reset`);
    assert.equal(r.status, 200, JSON.stringify(r.data));
    assert.equal(r.data.template, sc.fw.files.vars);
    assert.ok(fs.readFileSync(file).equals(tpl));
    assert.deepEqual(r.data.nvram, { path: file, size: tpl.length, sha256: sha(tpl), allocated: fs.statSync(file).blocks * 512 });
    assert.equal((await sc.http.post(`/v1/instances/${inst.uuid}/power_on`, { instance: inst })).status, 200);
    const running = await sc.http.post(`${base}/reset`);
    assert.equal(running.status, 409);
    assert.equal(running.data.error.type, 'InstanceInvalidState');
  });

  it('secure-boot summary: setup mode without PK', async () => {
    const { base } = await spawned();
    const r = await sc.http.get(`${base}/secure-boot`);
    assert.equal(r.status, 200);
    assert.equal(r.data.enabled, false);
    assert.equal(r.data.setup_mode, true);
    assert.deepEqual(r.data.pk, { present: false, certificates: [], details: [], hash_count: 0 });
  });

  it('an unformatted store (AAVMF template of zeros) is reported with its reason, not a crash', async () => {
    const inst = instance();
    const sp = await sc.http.post(`/v1/instances/${inst.uuid}/spawn`, {
      instance: inst,
      image_meta: { properties: { hw_architecture: 'aarch64', hw_machine_type: 'virt', hw_firmware_type: 'uefi' } },
      power_on: false,
    });
    assert.equal(sp.status, 200, JSON.stringify(sp.data));
    const r = await sc.http.get(`/v1/instances/${inst.uuid}/nvram/variables`);
    assert.equal(r.status, 422);
    assert.equal(r.data.error.details.reason, 'unformatted');
  });

  it('a BIOS instance has no store: 404', async () => {
    const inst = instance();
    assert.equal((await sc.http.post(`/v1/instances/${inst.uuid}/spawn`, { instance: inst, image_meta: { properties: {} } })).status, 200);
    for (const p of ['variables', 'secure-boot']) assert.equal((await sc.http.get(`/v1/instances/${inst.uuid}/nvram/${p}`)).status, 404);
  });

  it('get_info reports the digest of the file as it is now, also after QEMU-style in-place writes to a settled store', async function () {
    this.timeout(20000);
    const { inst, file } = await spawned();
    const view = async () => (await sc.http.get(`/v1/instances/${inst.uuid}`)).data.nvram.sha256 as string;
    const poke = (byte: number) => {
      const fd = fs.openSync(file, 'r+');
      fs.writeSync(fd, Buffer.from([byte]), 0, 1, 0x3000);
      fs.closeSync(fd);
    };
    assert.equal(await view(), sha(fs.readFileSync(file)));
    poke(0x11);
    assert.equal(await view(), sha(fs.readFileSync(file)), 'a write right after a read');
    // Let the file settle so its digest may be remembered, then change it in place again.
    await new Promise((r) => setTimeout(r, 2300));
    assert.equal(await view(), sha(fs.readFileSync(file)));
    assert.equal(await view(), sha(fs.readFileSync(file)));
    poke(0x22);
    assert.equal(await view(), sha(fs.readFileSync(file)), 'a remembered digest is dropped when the file changes');
  });

  it('with the Debian Secure Boot template: enabled, Microsoft certificates by subject', async function () {
    const ms = '/usr/share/OVMF/OVMF_VARS_4M.ms.fd';
    if (!fs.existsSync(ms)) {
      console.log(`      skipped: ${ms} not installed (Debian package ovmf)`);
      this.skip();
    }
    const { inst, base } = await spawned();
    assert.equal((await sc.http.put(base, fs.readFileSync(ms), { headers: { 'Content-Type': 'application/octet-stream' } })).status, 200);
    const r = await sc.http.get(`${base}/secure-boot`);
    assert.equal(r.status, 200, JSON.stringify(r.data));
    assert.equal(r.data.enabled, true);
    assert.equal(r.data.setup_mode, false);
    assert.ok(
      r.data.kek.certificates.some((s: string) => /Microsoft/.test(s)),
      JSON.stringify(r.data.kek),
    );
    assert.ok(
      r.data.db.certificates.some((s: string) => /Microsoft Windows Production PCA 2011/.test(s)),
      JSON.stringify(r.data.db),
    );
    assert.ok(r.data.dbx.hash_count > 0 || r.data.dbx.present);
    assert.ok(inst);
  });
});
