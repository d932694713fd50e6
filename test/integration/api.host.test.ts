/**
 * Host endpoints, persistence across a sidecar restart, firmware pinning, per-instance
 * serialization and start-up refusals.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { startTestSidecar, instance, UEFI_Q35, type TestSidecar } from '../support/sidecar';
import { firmwareTree, makeFile, SIZES, tmpDir } from '../support/firmwareFixture';
import { EmbeddedHypervisor } from '../../src/hypervisor/embedded';
import { NvramStore } from '../../src/nvram/store';
import type { Hypervisor } from '../../src/hypervisor/types';
import { startSidecar } from '../../src/server';
import { testConfig } from '../../src/config';
import { memoryLogger } from '../../src/util/log';
import axios from 'axios';

describe('host endpoints', function () {
  let sc: TestSidecar;
  before(async () => {
    sc = await startTestSidecar();
  });
  after(() => sc.stop());

  it('reports Secure Boot and UEFI per architecture, with the traits they imply', async () => {
    const r = await sc.http.get('/v1/host/capabilities');
    assert.equal(r.status, 200);
    assert.equal(r.data.host, 'compute1');
    assert.equal(r.data.capabilities.supports_secure_boot, true);
    assert.equal(r.data.capabilities.supports_stateless_firmware, false);
    assert.ok(r.data.traits.includes('COMPUTE_SECURITY_UEFI_SECURE_BOOT'));
    assert.ok(!r.data.traits.includes('COMPUTE_SECURITY_STATELESS_FIRMWARE'));
    assert.equal(r.data.architectures.x86_64.uefi, true);
    assert.equal(r.data.architectures.aarch64.uefi, true);
    assert.equal(r.data.architectures.aarch64.secure_boot, false);
  });

  it('reports no Secure Boot when [firmware] secure_boot is false', async () => {
    const s2 = await startTestSidecar({ firmware: { secure_boot: false } });
    try {
      const r = await s2.http.get('/v1/host/capabilities');
      assert.equal(r.data.capabilities.supports_secure_boot, false);
      assert.deepEqual(r.data.traits, []);
      const inst = instance();
      const sp = await s2.http.post(`/v1/instances/${inst.uuid}/spawn`, {
        instance: inst,
        image_meta: { properties: { ...UEFI_Q35.properties, os_secure_boot: 'optional' } },
      });
      assert.equal(sp.status, 200);
      assert.equal(sp.data.firmware.secure, false);
    } finally {
      await s2.stop();
    }
  });

  it('reports and serves the architecture [debug] host_arch names (a faked aarch64 host)', async () => {
    const root = tmpDir('nus-arch-');
    const tree = firmwareTree(path.join(root, 'fw'));
    fs.mkdirSync(path.join(root, 'desc'));
    const cfg = testConfig({
      api: { port: 0 },
      hypervisor: { state_dir: path.join(root, 'state') },
      nvram: { nvram_dir: path.join(root, 'nvram') },
      firmware: { descriptor_dirs: [path.join(root, 'desc')] },
      debug: { host_arch: 'aarch64' },
      ...tree.map,
    });
    const s2 = await startSidecar(cfg, { log: memoryLogger() });
    try {
      const http = axios.create({ baseURL: s2.url, validateStatus: () => true });
      const caps = await http.get('/v1/host/capabilities');
      assert.equal(caps.status, 200);
      // x86_64 has Secure Boot firmware in the map, this (aarch64) host has none
      assert.equal(caps.data.capabilities.supports_secure_boot, false);
      // no hw_architecture, no hw_firmware_type: Nova's aarch64 default, UEFI on virt
      const inst = instance();
      const sp = await http.post(`/v1/instances/${inst.uuid}/spawn`, { instance: inst, image_meta: { properties: {} } });
      assert.equal(sp.status, 200, JSON.stringify(sp.data));
      assert.equal(sp.data.firmware.loader, tree.files.aaCode);
      assert.equal(sp.data.firmware.nvram_template, tree.files.aaVars);
    } finally {
      await s2.close();
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('lists the firmware map with sources and problems', async () => {
    const r = await sc.http.get('/v1/host/firmware');
    assert.equal(r.status, 200);
    const sources = r.data.entries.map((e: { source: string }) => e.source);
    assert.ok(sources.includes('config:[firmware:x86_64]'), JSON.stringify(sources));
    assert.ok(Array.isArray(r.data.problems));
  });

  it('reports a broken map entry and still serves the architectures that are fine', async () => {
    const root = tmpDir('nus-badfw-');
    const tree = firmwareTree(path.join(root, 'fw'));
    // aarch64 entry pointing a 4M OVMF template at the 64 MiB code: a size mismatch.
    const wrong = makeFile(path.join(root, 'fw', 'wrong_VARS.fd'), SIZES.ovmf4mVars, 0xff);
    tree.map['firmware:aarch64'] = { loader: tree.files.aaCode, nvram_template: wrong };
    const s2 = await startTestSidecar({}, tree);
    try {
      const fw = await s2.http.get('/v1/host/firmware');
      const probs = fw.data.problems.filter((p: { severity: string; arch?: string }) => p.severity === 'error');
      assert.ok(
        probs.some((p: { message: string }) => /size/i.test(p.message)),
        JSON.stringify(fw.data.problems),
      );
      const bad = instance();
      const r1 = await s2.http.post(`/v1/instances/${bad.uuid}/spawn`, {
        instance: bad,
        image_meta: { properties: { hw_architecture: 'aarch64', hw_machine_type: 'virt' } },
      });
      assert.equal(r1.status, 400);
      assert.equal(r1.data.error.type, 'UEFINotSupported');
      const ok = instance();
      const r2 = await s2.http.post(`/v1/instances/${ok.uuid}/spawn`, { instance: ok, image_meta: UEFI_Q35 });
      assert.equal(r2.status, 200);
    } finally {
      await s2.stop();
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('persistence and firmware pinning', function () {
  it('keeps records across a sidecar restart and reuses the pinned firmware after the map changed', async () => {
    const s1 = await startTestSidecar();
    const inst = instance();
    const r = await s1.http.post(`/v1/instances/${inst.uuid}/spawn`, { instance: inst, image_meta: UEFI_Q35 });
    assert.equal(r.status, 200);
    const pinned = r.data.firmware.loader;
    await s1.close();
    // Same directories, a map whose x86_64 entry now names other (same-size) files.
    const other = makeFile(path.join(s1.fw.dir, 'NEW_CODE_4M.fd'), SIZES.ovmf4mCode, 0xff, 'NEWCODE');
    const otherVars = makeFile(path.join(s1.fw.dir, 'NEW_VARS_4M.fd'), SIZES.ovmf4mVars, 0xff, 'NEWVARS');
    const tree = { ...s1.fw, map: { ...s1.fw.map, 'firmware:x86_64': { ...s1.fw.map['firmware:x86_64'], loader: other, nvram_template: otherVars } } };
    const s2 = await startTestSidecar({ hypervisor: { state_dir: path.join(s1.root, 'state') }, nvram: { nvram_dir: s1.nvramDir } }, tree);
    try {
      const g = await s2.http.get(`/v1/instances/${inst.uuid}`);
      assert.equal(g.status, 200, JSON.stringify(g.data));
      assert.equal(g.data.firmware.loader, pinned);
      const hr = await s2.http.post(`/v1/instances/${inst.uuid}/reboot`, { instance: inst, reboot_type: 'HARD' });
      assert.equal(hr.status, 200);
      assert.equal(hr.data.firmware.loader, pinned, 'hard reboot keeps the pinned loader');
      // The pinned loader vanishes: the next hard reboot re-selects from the current map and says why.
      fs.renameSync(pinned, pinned + '.gone');
      const hr2 = await s2.http.post(`/v1/instances/${inst.uuid}/reboot`, { instance: inst, reboot_type: 'HARD' });
      assert.equal(hr2.status, 200, JSON.stringify(hr2.data));
      assert.equal(hr2.data.firmware.loader, other);
      assert.ok(
        hr2.data.warnings.some((w: string) => /re-selected/.test(w)),
        JSON.stringify(hr2.data.warnings),
      );
      assert.ok(s2.lines.some((l) => l.msg === 'firmware re-selected'));
    } finally {
      await s2.stop();
      fs.rmSync(s1.root, { recursive: true, force: true });
    }
  });

  it('re-selects when the host Secure Boot capability changed (optional secure boot)', async () => {
    const s1 = await startTestSidecar();
    const inst = instance();
    const img = { properties: { ...UEFI_Q35.properties, os_secure_boot: 'optional' } };
    const r = await s1.http.post(`/v1/instances/${inst.uuid}/spawn`, { instance: inst, image_meta: img });
    assert.equal(r.data.firmware.secure, true);
    await s1.close();
    const s2 = await startTestSidecar(
      { hypervisor: { state_dir: path.join(s1.root, 'state') }, nvram: { nvram_dir: s1.nvramDir }, firmware: { secure_boot: false } },
      s1.fw,
    );
    try {
      const hr = await s2.http.post(`/v1/instances/${inst.uuid}/power_on`, { instance: inst });
      assert.equal(hr.status, 200, JSON.stringify(hr.data));
      assert.equal(hr.data.firmware.secure, false);
      assert.equal(hr.data.firmware.loader, s1.fw.files.code);
    } finally {
      await s2.stop();
      fs.rmSync(s1.root, { recursive: true, force: true });
    }
  });
});

/** An in-process sidecar whose hypervisor is `wrap(embedded)`, in a fresh temp root. */
async function startWrapped(wrap: (inner: EmbeddedHypervisor) => Hypervisor, libvirt: Record<string, unknown> = {}) {
  const root = tmpDir('nus-wrap-');
  const nv = new NvramStore({ dir: path.join(root, 'nvram'), mode: 0o600 });
  fs.mkdirSync(path.join(root, 'nvram'), { recursive: true });
  const hv = wrap(new EmbeddedHypervisor(path.join(root, 'state'), nv));
  const tree = firmwareTree(path.join(root, 'fw'));
  fs.mkdirSync(path.join(root, 'desc'));
  const cfg = testConfig({
    api: { port: 0 },
    hypervisor: { state_dir: path.join(root, 'state') },
    nvram: { nvram_dir: path.join(root, 'nvram') },
    libvirt: { hw_machine_type: { x86_64: 'q35' }, ...libvirt },
    firmware: { descriptor_dirs: [path.join(root, 'desc')] },
    ...tree.map,
  });
  const sc = await startSidecar(cfg, { log: memoryLogger(), hostArch: 'x86_64', hypervisor: hv });
  return {
    http: axios.create({ baseURL: sc.url, validateStatus: () => true }),
    nvramDir: path.join(root, 'nvram'),
    stop: async () => {
      await sc.close();
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}

describe('per-instance serialization', function () {
  /** A hypervisor wrapper that records how many calls per domain overlap. */
  function tracking(inner: Hypervisor) {
    const active = new Map<string, number>();
    const peak = new Map<string, number>();
    let globalActive = 0;
    let globalPeak = 0;
    const wrap =
      <A extends unknown[], R>(fn: (name: string, ...a: A) => Promise<R>) =>
      async (name: string, ...a: A): Promise<R> => {
        active.set(name, (active.get(name) ?? 0) + 1);
        peak.set(name, Math.max(peak.get(name) ?? 0, active.get(name)!));
        globalPeak = Math.max(globalPeak, ++globalActive);
        await new Promise((r) => setTimeout(r, 15));
        try {
          return await fn(name, ...a);
        } finally {
          active.set(name, active.get(name)! - 1);
          globalActive--;
        }
      };
    const hv: Hypervisor = {
      kind: 'embedded',
      hypervisorType: inner.hypervisorType,
      namedByNova: false,
      destinationXmlFromSidecar: true,
      init: () => inner.init(),
      probe: () => inner.probe(),
      define: (xml) => inner.define(xml),
      start: wrap((n, o) => inner.start(n, o as never)),
      shutdown: wrap((n, t) => inner.shutdown(n, t)),
      destroy: wrap((n) => inner.destroy(n)),
      reboot: wrap((n) => inner.reboot(n)),
      undefine: wrap((n, o) => inner.undefine(n, o as never)),
      getInfo: (n) => inner.getInfo(n),
      getXml: (n) => inner.getXml(n),
      list: () => inner.list(),
      liveMigrate: wrap((n, o) => inner.liveMigrate(n, o as never)),
    };
    return { hv, peak, globalPeak: () => globalPeak };
  }

  it('never interleaves calls on one instance and runs different instances in parallel', async () => {
    let t!: ReturnType<typeof tracking>;
    const { http, stop } = await startWrapped((inner) => (t = tracking(inner)).hv);
    try {
      const a = instance();
      const b = instance();
      for (const i of [a, b]) assert.equal((await http.post(`/v1/instances/${i.uuid}/spawn`, { instance: i, image_meta: UEFI_Q35 })).status, 200);
      const calls = [];
      for (let k = 0; k < 4; k++) {
        for (const i of [a, b]) {
          calls.push(http.post(`/v1/instances/${i.uuid}/reboot`, { instance: i, reboot_type: 'HARD' }));
          calls.push(http.post(`/v1/instances/${i.uuid}/power_off`, { instance: i }));
        }
      }
      const res = await Promise.all(calls);
      assert.ok(
        res.every((r) => r.status === 200),
        JSON.stringify(res.map((r) => r.data)),
      );
      for (const [name, p] of t.peak) assert.equal(p, 1, `calls on ${name} overlapped`);
      assert.ok(t.globalPeak() >= 2, 'different instances should run in parallel');
    } finally {
      await stop();
    }
  });
});

describe('spawn failure while its writes run at once', function () {
  /** Embedded backend whose define fails, either at once or after the other writes finished. */
  const failingDefine =
    (when: 'at once' | 'late') =>
    (inner: EmbeddedHypervisor): Hypervisor =>
      Object.assign(Object.create(inner) as Hypervisor, {
        define: async () => {
          if (when === 'late') await new Promise((r) => setTimeout(r, 200));
          throw new Error('simulated libvirt define failure');
        },
      });

  for (const when of ['at once', 'late'] as const) {
    it(`leaves no store, domain or record when define fails ${when}`, async () => {
      const { http, stop, nvramDir } = await startWrapped(failingDefine(when));
      try {
        const inst = instance();
        const r = await http.post(`/v1/instances/${inst.uuid}/spawn`, { instance: inst, image_meta: UEFI_Q35 });
        assert.equal(r.status, 500, JSON.stringify(r.data));
        // The store write may finish after define failed: the cleanup waits for it.
        assert.deepEqual(fs.readdirSync(nvramDir), []);
        assert.equal((await http.get(`/v1/instances/${inst.uuid}`)).data.error.type, 'InstanceNotFound');
        assert.deepEqual((await http.get('/v1/instances')).data.names, []);
        // Nothing stands in the way of spawning it again.
        const ok = await http.post(`/v1/instances/${inst.uuid}/spawn`, { instance: inst, image_meta: { properties: { hw_firmware_type: 'bios' } } });
        assert.equal(ok.status, 500, 'define still fails');
        assert.deepEqual(fs.readdirSync(nvramDir), []);
      } finally {
        await stop();
      }
    });
  }
});

describe('soft reboot (Nova _soft_reboot)', function () {
  /** Embedded hypervisor whose graceful shutdown works or is ignored (a guest without ACPI handling). */
  async function withGuest(acpi: boolean, body: (http: ReturnType<typeof axios.create>, calls: string[], sc: { nvram: string }) => Promise<void>) {
    const calls: string[] = [];
    const wrap = (inner: EmbeddedHypervisor): Hypervisor =>
      Object.assign(Object.create(inner) as Hypervisor, {
        shutdown: async (n: string, t: number) => {
          calls.push(`shutdown:${t}`);
          return acpi ? inner.shutdown(n, t) : false;
        },
        destroy: async (n: string) => {
          calls.push('destroy');
          return inner.destroy(n);
        },
        start: async (n: string, o?: never) => {
          calls.push('start');
          return inner.start(n, o);
        },
      });
    const sc = await startWrapped(wrap, { wait_soft_reboot_seconds: 7 });
    try {
      await body(sc.http, calls, { nvram: sc.nvramDir });
    } finally {
      await sc.stop();
    }
  }

  for (const acpi of [true, false]) {
    it(
      acpi
        ? 'shuts the guest down gracefully and starts it again, store untouched'
        : 'falls back to a hard reboot, with a warning, when the guest ignores ACPI',
      async () => {
        await withGuest(acpi, async (http, calls, sc) => {
          const i = instance();
          const sp = await http.post(`/v1/instances/${i.uuid}/spawn`, { instance: i, image_meta: UEFI_Q35 });
          assert.equal(sp.status, 200);
          const before = fs.readFileSync(sp.data.nvram.path);
          calls.length = 0;
          const r = await http.post(`/v1/instances/${i.uuid}/reboot`, { instance: i, reboot_type: 'SOFT' });
          assert.equal(r.status, 200, JSON.stringify(r.data));
          assert.equal(r.data.power_state, 1);
          assert.equal(calls[0], 'shutdown:7', 'waits [libvirt] wait_soft_reboot_seconds');
          if (acpi) {
            assert.deepEqual(calls, ['shutdown:7', 'start']);
            assert.deepEqual(r.data.warnings, []);
          } else {
            assert.deepEqual(calls, ['shutdown:7', 'destroy', 'start']);
            assert.match(r.data.warnings.join('\n'), /did not shut down within 7 s.*hard reboot performed/);
          }
          assert.ok(fs.readFileSync(path.join(sc.nvram, path.basename(sp.data.nvram.path))).equals(before));
        });
      },
    );
  }
});

describe('start-up', function () {
  const main = path.join(__dirname, '..', '..', 'src', 'main.ts');
  const run = (conf: string) => spawnSync(process.execPath, ['--import', 'tsx', main, '--config-file', conf], { encoding: 'utf8', timeout: 20000 });

  it('refuses a non-loopback bind without a token, in one line', () => {
    const d = tmpDir();
    const conf = path.join(d, 'c.conf');
    fs.writeFileSync(conf, `[api]\nhost = 0.0.0.0\n[hypervisor]\nstate_dir = ${d}/state\n[nvram]\nnvram_dir = ${d}/nvram\n`);
    const r = run(conf);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /\[api\] auth_token/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  });

  for (const mode of [0o644, 0o640, 0o777]) {
    it(`refuses to start with a replica key file of mode 0${mode.toString(8)}, naming the option and the mode`, () => {
      const d = tmpDir();
      const key = path.join(d, 'replica.key');
      fs.writeFileSync(key, 'ab'.repeat(32) + '\n');
      fs.chmodSync(key, mode);
      const conf = path.join(d, 'c.conf');
      fs.writeFileSync(
        conf,
        `[hypervisor]\nstate_dir = ${d}/state\n[nvram]\nnvram_dir = ${d}/nvram\n[replica]\nbackend = directory\npath = ${d}/replicas\nencryption_key_file = ${key}\n`,
      );
      const r = run(conf);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`\\[replica\\] encryption_key_file ${key}: permissions 0${mode.toString(8)} are too open`));
      fs.chmodSync(key, 0o600);
    });
  }

  for (const [option, line] of [
    ['[api] auth_token', '[api]\nauth_token = short-token\n'],
    ['[peer] shared_secret', '[peer]\nshared_secret = 15-byte-secret!\n'],
  ] as const) {
    it(`refuses a ${option} shorter than 16 bytes, naming the option`, () => {
      const d = tmpDir();
      const conf = path.join(d, 'c.conf');
      fs.writeFileSync(conf, `${line}[hypervisor]\nstate_dir = ${d}/state\n[nvram]\nnvram_dir = ${d}/nvram\n`);
      const r = run(conf);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`${option.replace(/[[\]]/g, '\\$&')}: \\d+ bytes is too short for a secret \\(at least 16`));
    });
  }

  it('names the option to set when a directory is not writable', function () {
    if (process.getuid?.() === 0) {
      // root can write anywhere; use a path under a regular file instead.
    }
    const d = tmpDir();
    fs.writeFileSync(path.join(d, 'file'), 'x');
    const conf = path.join(d, 'c.conf');
    fs.writeFileSync(conf, `[hypervisor]\nstate_dir = ${d}/state\n[nvram]\nnvram_dir = ${d}/file/nvram\n`);
    const r = run(conf);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /set \[nvram\] nvram_dir/);
    assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/);
  });

  it('reports a broken config file with every problem and exit code 1', () => {
    const d = tmpDir();
    const conf = path.join(d, 'c.conf');
    fs.writeFileSync(conf, `[api]\nport = x\n[hypervisor]\nbackend = xen\n`);
    const r = run(conf);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /\[api\] port/);
    assert.match(r.stderr, /\[hypervisor\] backend/);
  });
});
