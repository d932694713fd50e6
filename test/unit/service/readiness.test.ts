/**
 * service/readiness: what GET /readyz reports, check by check, over real directories and real
 * firmware files; each failing check says what to fix.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { testConfig, type Config } from '../../../src/config';
import { FirmwareHost } from '../../../src/firmware/host';
import type { Hypervisor } from '../../../src/hypervisor/types';
import { readinessChecks, type ReadinessState } from '../../../src/service/readiness';
import { memoryLogger } from '../../../src/util/log';

describe('service/readiness', () => {
  let dir: string;
  let config: Config;
  let state: ReadinessState;
  let probe: () => Promise<string>;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nus-ready-'));
    for (const d of ['nvram', 'state']) fs.mkdirSync(path.join(dir, d));
    fs.writeFileSync(path.join(dir, 'CODE.fd'), Buffer.alloc(3_653_632));
    fs.writeFileSync(path.join(dir, 'VARS.fd'), Buffer.alloc(540_672));
    config = testConfig({
      nvram: { nvram_dir: path.join(dir, 'nvram') },
      hypervisor: { state_dir: path.join(dir, 'state') },
      firmware: { descriptor_dirs: [path.join(dir, 'none')] },
      'firmware:x86_64': { loader: path.join(dir, 'CODE.fd'), nvram_template: path.join(dir, 'VARS.fd') },
    });
    probe = () => Promise.resolve('libvirt 9.0.0');
    state = {
      config: () => config,
      firmware: new FirmwareHost(config, memoryLogger(), 'x86_64'),
      hypervisor: { probe: () => probe() } as unknown as Hypervisor,
      recovery: () => 'no open journals',
      stopping: () => false,
    };
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const byName = async (s: ReadinessState) => Object.fromEntries((await readinessChecks(s)).map((c) => [c.name, c]));

  it('is ready when every check passes, in a fixed order', async () => {
    const checks = await readinessChecks(state);
    assert.deepEqual(
      checks.map((c) => [c.name, c.ok]),
      [
        ['config', true],
        ['nvram_dir', true],
        ['state_dir', true],
        ['firmware', true],
        ['hypervisor', true],
        ['recovery', true],
        ['replica', true],
      ],
    );
    const c = Object.fromEntries(checks.map((x) => [x.name, x.detail]));
    assert.equal(c.config, 'loaded from test');
    assert.equal(c.nvram_dir, `${path.join(dir, 'nvram')} is writable`);
    assert.equal(c.firmware, '1 usable UEFI entry for x86_64');
    assert.equal(c.hypervisor, 'libvirt 9.0.0');
    assert.equal(c.recovery, 'no open journals');
    assert.equal(c.replica, 'no replica store configured ([replica] backend = none)');
  });

  it('leaves no probe file behind in the directories it checks', async () => {
    await readinessChecks(state);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'nvram')), []);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'state')), []);
  });

  it('says a refused reload while the old configuration keeps serving (still ready)', async () => {
    const c = await byName({ ...state, lastReloadError: () => '[api] port: not a number' });
    assert.equal(c.config.ok, true);
    assert.equal(c.config.detail, 'loaded from test; the last reload was refused and this configuration keeps serving: [api] port: not a number');
  });

  it('fails nvram_dir when no file can be created there, naming the option', async () => {
    fs.rmSync(path.join(dir, 'nvram'), { recursive: true });
    const c = await byName(state);
    assert.equal(c.nvram_dir.ok, false);
    assert.match(
      c.nvram_dir.detail ?? '',
      new RegExp(`^cannot create a file in ${path.join(dir, 'nvram')} \\(ENOENT: .*\\); fix the directory or \\[nvram\\] nvram_dir$`),
    );
    assert.equal(c.state_dir.ok, true);
  });

  it('fails firmware when no usable entry is left for this arch, re-reading the files', async () => {
    fs.rmSync(path.join(dir, 'CODE.fd'));
    const c = await byName(state);
    assert.equal(c.firmware.ok, false);
    assert.equal(
      c.firmware.detail,
      'no usable UEFI firmware for x86_64 (GET /v1/host/firmware lists the problems); set [firmware:x86_64] or [firmware] descriptor_dirs',
    );
  });

  it('counts only entries of this host arch', async () => {
    const c = await byName({ ...state, firmware: new FirmwareHost(config, memoryLogger(), 'aarch64') });
    assert.equal(c.firmware.ok, false);
    assert.match(c.firmware.detail ?? '', /^no usable UEFI firmware for aarch64/);
  });

  it('fails hypervisor with what the backend said', async () => {
    probe = () => Promise.reject(Object.assign(new Error('failed to connect to the hypervisor'), { code: 'ECONNREFUSED' }));
    const c = await byName(state);
    assert.equal(c.hypervisor.ok, false);
    assert.equal(c.hypervisor.detail, 'ECONNREFUSED: failed to connect to the hypervisor');
  });

  it('is not ready while start-up recovery runs', async () => {
    const c = await byName({ ...state, recovery: () => null });
    assert.deepEqual(c.recovery, { name: 'recovery', ok: false, detail: 'start-up recovery of open migration journals is running' });
  });

  it('passes replica with what the store said, and fails it naming the options to check', async () => {
    let c = await byName({ ...state, replica: () => Promise.resolve("bucket nv answers; no replicas yet under ''") });
    assert.deepEqual(c.replica, { name: 'replica', ok: true, detail: "bucket nv answers; no replicas yet under ''" });
    c = await byName({ ...state, replica: () => Promise.reject(new Error('connect ETIMEDOUT')) });
    assert.deepEqual(c.replica, {
      name: 'replica',
      ok: false,
      detail: 'the replica store does not answer (connect ETIMEDOUT); check [replica] endpoint, bucket or path',
    });
  });

  it('adds a failing stopping check once SIGTERM was received', async () => {
    const checks = await readinessChecks({ ...state, stopping: () => true });
    assert.deepEqual(checks[checks.length - 1], { name: 'stopping', ok: false, detail: 'shutting down: finishing the calls in flight' });
  });
});
