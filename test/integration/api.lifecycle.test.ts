/**
 * The sidecar over HTTP with the embedded backend: Nova's lifecycle postconditions, NVRAM
 * preservation (a marker written into the store between calls must survive), cleanup on
 * failure, auth, request ids and error bodies.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash, randomUUID } from 'node:crypto';
import { startTestSidecar, instance, UEFI_Q35, type TestSidecar } from '../support/sidecar';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Flip a byte range inside the variable store, as a guest writing a variable would. */
function writeMarker(file: string, text = `marker-${randomUUID()}`): string {
  const fd = fs.openSync(file, 'r+');
  fs.writeSync(fd, Buffer.from(text), 0, text.length, 0x2000);
  fs.closeSync(fd);
  return sha(fs.readFileSync(file));
}

describe('lifecycle API (embedded backend)', function () {
  let sc: TestSidecar;
  before(async () => {
    sc = await startTestSidecar();
  });
  after(async () => {
    await sc.stop();
  });

  async function spawn(inst = instance(), image: object = UEFI_Q35, extra: object = {}) {
    const r = await sc.http.post(`/v1/instances/${inst.uuid}/spawn`, { instance: inst, image_meta: image, ...extra });
    return { inst, r };
  }

  it('spawns a UEFI guest with the mapped firmware and a store copied from the template', async () => {
    const { inst, r } = await spawn();
    assert.equal(r.status, 200, JSON.stringify(r.data));
    const name = `instance-${inst.id.toString(16).padStart(8, '0')}`;
    assert.equal(r.data.instance_name, name);
    assert.equal(r.data.power_state, 1);
    assert.equal(r.data.firmware.loader, sc.fw.files.code);
    assert.equal(r.data.firmware.nvram_template, sc.fw.files.vars);
    assert.equal(r.data.firmware.secure, false);
    assert.equal(r.data.nvram.path, path.join(sc.nvramDir, `${name}_VARS.fd`));
    const tpl = fs.readFileSync(sc.fw.files.vars);
    assert.equal(r.data.nvram.size, tpl.length);
    assert.equal(r.data.nvram.sha256, sha(tpl));
    assert.equal(fs.statSync(r.data.nvram.path).mode & 0o777, 0o600);
    assert.match(r.data.domain_xml, /<loader[^>]*readonly=['"]yes['"]/);
    assert.match(r.data.domain_xml, new RegExp(`<nvram[^>]*template=['"]${sc.fw.files.vars}['"][^>]*>${r.data.nvram.path}</nvram>`));
    assert.doesNotMatch(r.data.domain_xml, /firmware=['"]efi['"]/);
    assert.equal(r.data.system_metadata.image_hw_machine_type, 'q35');
    assert.equal(r.data.system_metadata.image_hw_firmware_type, 'uefi');
  });

  it('leaves the guest defined and shut off when power_on is false', async () => {
    const { inst, r } = await spawn(instance(), UEFI_Q35, { power_on: false });
    assert.equal(r.status, 200);
    assert.equal(r.data.power_state, 4);
    const g = await sc.http.get(`/v1/instances/${inst.uuid}`);
    assert.equal(g.data.power_state, 4);
  });

  it('selects the secure loader with SMM when secure boot is required on q35', async () => {
    const { r } = await spawn(instance(), { properties: { hw_firmware_type: 'uefi', hw_machine_type: 'q35', os_secure_boot: 'required' } });
    assert.equal(r.status, 200, JSON.stringify(r.data));
    assert.equal(r.data.firmware.loader, sc.fw.files.secCode);
    assert.equal(r.data.firmware.secure, true);
    assert.equal(r.data.firmware.requires_smm, true);
    assert.match(r.data.domain_xml, /<smm state=['"]on['"]\/>/);
    assert.match(r.data.domain_xml, /secure=['"]yes['"]/);
  });

  const refusals: [string, object, object, number, string, string | undefined][] = [
    [
      'secure boot required on a pc machine',
      { hw_firmware_type: 'uefi', hw_machine_type: 'pc', os_secure_boot: 'required' },
      {},
      400,
      'SecureBootNotSupported',
      undefined,
    ],
    [
      'an architecture without UEFI firmware',
      { hw_firmware_type: 'uefi', hw_architecture: 'ppc64le', hw_machine_type: 'pseries' },
      {},
      400,
      'UEFINotSupported',
      undefined,
    ],
    [
      'flavor and image disagreeing on secure boot',
      { hw_firmware_type: 'uefi', hw_machine_type: 'q35', os_secure_boot: 'required' },
      { flavor: { vcpus: 1, memory_mb: 256, extra_specs: { 'os:secure_boot': 'disabled' } } },
      400,
      'FlavorImageConflict',
      undefined,
    ],
    ['an unknown hw_firmware_type', { hw_firmware_type: 'coreboot' }, {}, 400, 'InvalidInput', 'image_meta.properties.hw_firmware_type'],
  ];
  for (const [what, props, extra, status, type, field] of refusals) {
    it(`refuses ${what} with ${type} and leaves nothing behind`, async () => {
      const inst = instance();
      const before = fs.readdirSync(sc.nvramDir).sort();
      const { r } = await spawn(inst, { properties: props }, extra);
      assert.equal(r.status, status, JSON.stringify(r.data));
      assert.equal(r.data.error.type, type);
      assert.equal(r.data.error.code, status);
      if (field) assert.match(r.data.error.message, new RegExp(field.replace(/\./g, '\\.')));
      assert.deepEqual(fs.readdirSync(sc.nvramDir).sort(), before);
      const g = await sc.http.get(`/v1/instances/${inst.uuid}`);
      assert.equal(g.status, 404);
      assert.equal(g.data.error.type, 'InstanceNotFound');
    });
  }

  it('cleans up the store and the domain when the start fails after the store was created', async () => {
    // The loader vanishes after discovery: selection still names it, the hypervisor refuses to start.
    const inst = instance();
    const code = sc.fw.files.code;
    const saved = fs.readFileSync(code);
    fs.unlinkSync(code);
    try {
      const { r } = await spawn(inst);
      assert.equal(r.status, 500, JSON.stringify(r.data));
      assert.equal(r.data.error.type, 'InternalError');
      const name = `instance-${inst.id.toString(16).padStart(8, '0')}`;
      assert.equal(fs.existsSync(path.join(sc.nvramDir, `${name}_VARS.fd`)), false);
      const list = await sc.http.get('/v1/instances');
      assert.ok(!list.data.names.includes(name));
    } finally {
      fs.writeFileSync(code, saved);
    }
  });

  it('keeps the store byte-identical across soft reboot, hard reboot, power off/on and rescue/unrescue', async () => {
    const { inst, r } = await spawn();
    const file = r.data.nvram.path as string;
    let want = writeMarker(file);
    const steps: [string, object][] = [
      ['reboot', { reboot_type: 'SOFT' }],
      ['reboot', { reboot_type: 'HARD' }],
      ['power_off', { timeout: 0 }],
      ['power_on', {}],
      ['rescue', { image_meta: UEFI_Q35, rescue_password: 'x' }],
      ['unrescue', {}],
    ];
    for (const [method, args] of steps) {
      const s = await sc.http.post(`/v1/instances/${inst.uuid}/${method}`, { instance: inst, ...args });
      assert.equal(s.status, 200, `${method}: ${JSON.stringify(s.data)}`);
      assert.equal(sha(fs.readFileSync(file)), want, `store changed by ${method}`);
      assert.equal(s.data.nvram.sha256, want);
      want = writeMarker(file); // a fresh marker before the next call
    }
    const g = await sc.http.get(`/v1/instances/${inst.uuid}`);
    assert.equal(g.data.power_state, 1);
  });

  it('deletes the store on destroy with destroy_disks=true and keeps it with false', async () => {
    const a = await spawn();
    const b = await spawn();
    const d1 = await sc.http.post(`/v1/instances/${a.inst.uuid}/destroy`, { instance: a.inst, destroy_disks: true });
    assert.equal(d1.status, 200);
    assert.equal(fs.existsSync(a.r.data.nvram.path), false);
    const want = writeMarker(b.r.data.nvram.path);
    const d2 = await sc.http.post(`/v1/instances/${b.inst.uuid}/destroy`, { instance: b.inst, destroy_disks: false });
    assert.equal(d2.status, 200);
    assert.equal(sha(fs.readFileSync(b.r.data.nvram.path)), want);
    assert.equal((await sc.http.get(`/v1/instances/${b.inst.uuid}`)).status, 404);
  });

  it('succeeds when destroying an unknown instance', async () => {
    const inst = instance();
    const r = await sc.http.post(`/v1/instances/${inst.uuid}/destroy`, { instance: inst });
    assert.equal(r.status, 200);
    assert.deepEqual(r.data, {});
  });

  it('resets the store to the template on rebuild, and keeps it with preserve_nvram', async () => {
    const { inst, r } = await spawn();
    const file = r.data.nvram.path as string;
    const tpl = sha(fs.readFileSync(sc.fw.files.vars));
    writeMarker(file);
    const rb = await sc.http.post(`/v1/instances/${inst.uuid}/rebuild`, { instance: inst, image_meta: UEFI_Q35 });
    assert.equal(rb.status, 200, JSON.stringify(rb.data));
    assert.equal(sha(fs.readFileSync(file)), tpl);
    const kept = writeMarker(file);
    const rb2 = await sc.http.post(`/v1/instances/${inst.uuid}/rebuild`, { instance: inst, image_meta: UEFI_Q35, preserve_nvram: true });
    assert.equal(rb2.status, 200);
    assert.equal(sha(fs.readFileSync(file)), kept);
  });

  it('drops the store when rebuilding to BIOS and brings one back when rebuilding to UEFI', async () => {
    const { inst, r } = await spawn();
    const file = r.data.nvram.path as string;
    const bios = await sc.http.post(`/v1/instances/${inst.uuid}/rebuild`, { instance: inst, image_meta: { properties: { hw_firmware_type: 'bios' } } });
    assert.equal(bios.status, 200, JSON.stringify(bios.data));
    assert.equal(bios.data.firmware, null);
    assert.equal(bios.data.nvram, null);
    assert.equal(fs.existsSync(file), false);
    assert.match(bios.data.domain_xml, /<os>/);
    assert.doesNotMatch(bios.data.domain_xml, /<loader|<nvram/);
    const back = await sc.http.post(`/v1/instances/${inst.uuid}/rebuild`, { instance: inst, image_meta: UEFI_Q35 });
    assert.equal(back.status, 200);
    assert.equal(back.data.nvram.path, file);
    assert.ok(fs.existsSync(file));
  });

  it('accepts oslo versioned-object primitives for Instance, ImageMeta/ImageMetaProps and Flavor', async () => {
    const uuid = randomUUID();
    const body = {
      instance: {
        'nova_object.name': 'Instance',
        'nova_object.namespace': 'nova',
        'nova_object.version': '2.8',
        'nova_object.data': {
          uuid,
          id: 4242,
          host: 'compute1',
          vcpus: 2,
          memory_mb: 512,
          system_metadata: { image_base_image_ref: 'abc' },
          flavor: {
            'nova_object.name': 'Flavor',
            'nova_object.namespace': 'nova',
            'nova_object.version': '1.2',
            'nova_object.data': { name: 'm1.small', flavorid: '2', vcpus: 2, memory_mb: 512, root_gb: 1, extra_specs: { 'os:secure_boot': 'required' } },
            'nova_object.changes': ['extra_specs'],
          },
        },
        'nova_object.changes': ['host'],
      },
      image_meta: {
        'nova_object.name': 'ImageMeta',
        'nova_object.namespace': 'nova',
        'nova_object.version': '1.8',
        'nova_object.data': {
          id: randomUUID(),
          name: 'uefi-image',
          properties: {
            'nova_object.name': 'ImageMetaProps',
            'nova_object.namespace': 'nova',
            'nova_object.version': '1.38',
            'nova_object.data': { hw_firmware_type: 'uefi', hw_machine_type: 'q35' },
          },
        },
        'nova_object.changes': ['properties'],
      },
      network_info: [],
      block_device_info: { root_device_name: '/dev/vda', ephemerals: [], block_device_mapping: [], swap: null },
      a_future_nova_argument: { anything: true },
    };
    const r = await sc.http.post(`/v1/instances/${uuid}/spawn`, body);
    assert.equal(r.status, 200, JSON.stringify(r.data));
    assert.equal(r.data.instance_name, 'instance-00001092');
    assert.equal(r.data.firmware.secure, true, 'flavor extra spec inside the nested Flavor primitive was read');
    assert.match(r.data.domain_xml, /<vcpu[^>]*>2<\/vcpu>/);
  });

  it('refuses an invalid field inside a versioned primitive, naming the field', async () => {
    const uuid = randomUUID();
    const r = await sc.http.post(`/v1/instances/${uuid}/spawn`, {
      instance: { 'nova_object.name': 'Instance', 'nova_object.namespace': 'nova', 'nova_object.version': '2.8', 'nova_object.data': { uuid, id: 'seven' } },
      image_meta: UEFI_Q35,
    });
    assert.equal(r.status, 400);
    assert.equal(r.data.error.type, 'InvalidInput');
    assert.match(r.data.error.message, /instance\.id/);
  });

  it('rejects a domain name that would leave the NVRAM directory and touches nothing', async () => {
    const inst = instance({ display_name: '../../../etc/evil' });
    const sc2 = await startTestSidecar({ DEFAULT: { instance_name_template: '%(display_name)s' } });
    try {
      const r = await sc2.http.post(`/v1/instances/${inst.uuid}/spawn`, { instance: inst, image_meta: UEFI_Q35 });
      assert.equal(r.status, 400);
      assert.equal(r.data.error.type, 'InvalidInput');
      assert.match(r.data.error.message, /instance name/);
      assert.deepEqual(fs.readdirSync(sc2.nvramDir), []);
      assert.equal(fs.existsSync(path.join(sc2.root, 'etc')), false);
    } finally {
      await sc2.stop();
    }
  });

  it('rejects a path uuid that is not a UUID and a body uuid that does not match the path', async () => {
    const inst = instance();
    const bad = await sc.http.post(`/v1/instances/..%2F..%2Fetc/spawn`, { instance: inst, image_meta: UEFI_Q35 });
    assert.equal(bad.status, 400);
    assert.equal(bad.data.error.type, 'InvalidInput');
    const other = randomUUID();
    const mism = await sc.http.post(`/v1/instances/${other}/spawn`, { instance: inst, image_meta: UEFI_Q35 });
    assert.equal(mism.status, 400);
    assert.match(mism.data.error.message, /instance\.uuid/);
  });

  it('answers 401 without or with a wrong token, and serves /healthz without one', async () => {
    const none = await sc.http.get('/v1/instances', { headers: { Authorization: '' } });
    assert.equal(none.status, 401);
    assert.equal(none.data.error.type, 'NotAuthorized');
    const wrong = await sc.http.get('/v1/instances', { headers: { Authorization: 'Bearer nope' } });
    assert.equal(wrong.status, 401);
    const h = await sc.http.get('/healthz', { headers: { Authorization: '' } });
    assert.equal(h.status, 200);
    assert.equal(h.data.status, 'ok');
  });

  it('echoes X-OpenStack-Request-ID, generates one when absent, and logs it', async () => {
    const rid = `req-${randomUUID()}`;
    const r = await sc.http.get('/v1/instances', { headers: { 'X-OpenStack-Request-ID': rid } });
    assert.equal(r.headers['x-openstack-request-id'], rid);
    assert.ok(sc.lines.some((l) => l.request_id === rid && l.msg === 'request'));
    const g = await sc.http.get('/v1/instances');
    assert.match(String(g.headers['x-openstack-request-id']), /^req-[0-9a-f-]{36}$/);
  });

  it("puts the request's id on the log lines of the flow it runs, and no other request's", async () => {
    const [ridA, ridB] = [`req-${randomUUID()}`, `req-${randomUUID()}`];
    const [a, b] = [instance(), instance()];
    const [ra, rb] = await Promise.all([
      sc.http.post(`/v1/instances/${a.uuid}/spawn`, { instance: a, image_meta: UEFI_Q35 }, { headers: { 'X-OpenStack-Request-ID': ridA } }),
      sc.http.post(`/v1/instances/${b.uuid}/spawn`, { instance: b, image_meta: UEFI_Q35 }, { headers: { 'X-OpenStack-Request-ID': ridB } }),
    ]);
    assert.equal(ra.status, 200);
    assert.equal(rb.status, 200);
    const spawned = (uuid: string) => sc.lines.find((l) => l.msg === 'spawned' && l.instance_uuid === uuid);
    assert.equal(spawned(a.uuid)?.request_id, ridA);
    assert.equal(spawned(b.uuid)?.request_id, ridB);
  });

  it('answers 409 InstanceInvalidState for unrescue of a guest that is not rescued', async () => {
    const { inst } = await spawn();
    const r = await sc.http.post(`/v1/instances/${inst.uuid}/unrescue`, { instance: inst });
    assert.equal(r.status, 409);
    assert.equal(r.data.error.type, 'InstanceInvalidState');
  });

  it('refuses to write the store while the guest runs and accepts it while shut off', async () => {
    const { inst, r } = await spawn();
    const data = fs.readFileSync(r.data.nvram.path);
    data.write('PUT-MARKER', 0x3000);
    const running = await sc.http.put(`/v1/instances/${inst.uuid}/nvram`, data, { headers: { 'Content-Type': 'application/octet-stream' } });
    assert.equal(running.status, 409);
    await sc.http.post(`/v1/instances/${inst.uuid}/power_off`, { instance: inst });
    const ok = await sc.http.put(`/v1/instances/${inst.uuid}/nvram`, data, { headers: { 'Content-Type': 'application/octet-stream' } });
    assert.equal(ok.status, 200, JSON.stringify(ok.data));
    assert.equal(ok.data.nvram.sha256, sha(data));
    const got = await sc.http.get(`/v1/instances/${inst.uuid}/nvram`, { responseType: 'arraybuffer' });
    assert.equal(sha(Buffer.from(got.data)), sha(data));
    assert.equal(got.headers['x-nvram-sha256'], sha(data));
  });

  it('writes an aarch64 store sparsely and reports its allocation', async () => {
    const { r } = await spawn(instance(), { properties: { hw_architecture: 'aarch64', hw_machine_type: 'virt' } });
    assert.equal(r.status, 200, JSON.stringify(r.data));
    assert.equal(r.data.firmware.loader, sc.fw.files.aaCode);
    assert.equal(r.data.nvram.size, 64 * 1024 * 1024);
    assert.ok(r.data.nvram.allocated <= 64 * 1024, `allocated ${r.data.nvram.allocated} bytes`);
  });
});
