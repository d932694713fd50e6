/**
 * The package as an operator gets it: `npm pack` (its `prepack` builds dist/), the tarball
 * installed with `npm install --omit=dev` into an empty directory (so no tsx, no TypeScript,
 * no repository around it), then the installed `nova-uefi-shim` serves the API from a config
 * file and reads an edk2 store with `nvram show`. The one install fetches the production
 * dependencies (npm's cache first, then the registry).
 */
import { strict as assert } from 'node:assert';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import axios from 'axios';
import { firmwareMapIni, firmwareTree, tmpDir } from '../support/firmwareFixture';
import { freePort } from '../support/processes';
import { buildStore } from '../unit/varstore/builder';
import { EFI_GLOBAL_VARIABLE } from '../../src/varstore/guids';

const run = promisify(execFile);
const REPO = path.resolve(__dirname, '..', '..');
const REAL_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';
const TOKEN = 'pack-token';
// The child gets no loader hooks from this mocha process (`--import tsx`): it must run as installed.
const ENV = { ...process.env, NODE_OPTIONS: '' };

describe('npm pack tarball installed into an empty directory', function () {
  this.timeout(300_000);
  let root: string;
  let app: string;
  let bin: string;
  let files: string[];

  before(async () => {
    root = tmpDir('nus-pack-');
    const packed = await run('npm', ['pack', '--silent', '--pack-destination', root], { cwd: REPO, env: ENV, maxBuffer: 16 << 20 });
    const tarball = path.join(root, packed.stdout.trim().split('\n').pop()!);
    files = (await run('tar', ['-tzf', tarball], { maxBuffer: 16 << 20 })).stdout.split('\n').filter(Boolean);
    app = path.join(root, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), '{ "private": true }\n');
    await run('npm', ['install', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund', '--no-package-lock', tarball], {
      cwd: app,
      env: ENV,
      maxBuffer: 16 << 20,
    });
    bin = path.join(app, 'node_modules', '.bin', 'nova-uefi-shim');
  });
  after(() => {
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  it('holds the compiled sidecar, the entry point, the OpenAPI document, the sample config and the systemd unit, and no tests or sources', () => {
    for (const f of [
      'package/dist/main.js',
      'package/dist/cli/nvram.js',
      'package/bin/nova-uefi-shim',
      'package/openapi/nova-uefi-shim.yaml',
      'package/etc/nova-uefi-shim.conf.sample',
      'package/etc/nova-uefi-shim.service',
      'package/README.md',
      'package/LICENSE',
      // The unit's Documentation= names these installed pages.
      'package/docs/operations.md',
      'package/docs/installing.md',
    ]) {
      assert.ok(files.includes(f), `${f} not in the tarball`);
    }
    assert.deepEqual(
      files.filter((f) => /^package\/(test|src|bench|tempest-compat|scripts)\//.test(f) || f.endsWith('.ts') || f.endsWith('.tsbuildinfo')),
      [],
    );
  });

  it('installs without development dependencies', () => {
    assert.ok(fs.existsSync(bin), `${bin} missing`);
    for (const dev of ['tsx', 'typescript', 'mocha']) assert.ok(!fs.existsSync(path.join(app, 'node_modules', dev)), `${dev} installed`);
  });

  it('serves /healthz and a spawn from `nova-uefi-shim --config-file FILE`, and stops on SIGTERM', async () => {
    const dir = path.join(root, 'host');
    const fw = firmwareTree(path.join(dir, 'fw'));
    const noDescriptors = path.join(dir, 'no-descriptors');
    fs.mkdirSync(noDescriptors, { recursive: true });
    const port = await freePort();
    const map = firmwareMapIni(fw.map);
    const conf = path.join(dir, 'shim.conf');
    fs.writeFileSync(
      conf,
      `[DEFAULT]
host = compute1
[api]
host = 127.0.0.1
port = ${port}
auth_token = ${TOKEN}
[hypervisor]
backend = embedded
state_dir = ${path.join(dir, 'state')}
[nvram]
nvram_dir = ${path.join(dir, 'nvram')}
[libvirt]
hw_machine_type = x86_64=q35
[firmware]
descriptor_dirs = ${noDescriptors}
${map}
`,
    );
    let log = '';
    const child: ChildProcess = spawn(bin, ['--config-file', conf], { cwd: app, env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d) => (log += d));
    child.stderr!.on('data', (d) => (log += d));
    const exited = new Promise<number | string | null>((resolve) => child.once('exit', (code, sig) => resolve(sig ?? code)));
    try {
      const http = axios.create({
        baseURL: `http://127.0.0.1:${port}`,
        headers: { Authorization: `Bearer ${TOKEN}` },
        validateStatus: () => true,
        timeout: 10_000,
      });
      const deadline = Date.now() + 30_000;
      for (;;) {
        assert.equal(child.exitCode, null, `sidecar exited: ${log}`);
        const r = await http.get('/healthz').catch(() => undefined);
        if (r?.status === 200) {
          assert.deepEqual(r.data, { status: 'ok', host: 'compute1', backend: 'embedded' });
          break;
        }
        assert.ok(Date.now() < deadline, `/healthz did not answer: ${log}`);
        await new Promise((res) => setTimeout(res, 50));
      }
      // A request that goes through the OpenAPI validation (the document is read at run time).
      const inst = { uuid: 'f2a2d4c2-6f6e-4d8e-9a4e-0c1b2a3d4e5f', id: 42, host: 'compute1', vcpus: 1, memory_mb: 256 };
      const sp = await http.post(`/v1/instances/${inst.uuid}/spawn`, {
        instance: inst,
        image_meta: { properties: { hw_firmware_type: 'uefi', hw_machine_type: 'q35' } },
      });
      assert.equal(sp.status, 200, JSON.stringify(sp.data));
      assert.ok(fs.existsSync(sp.data.nvram.path), sp.data.nvram.path);
      const bad = await http.post(`/v1/instances/${inst.uuid}/spawn`, { instance: inst, image_meta: { properties: { hw_firmware_type: 'floppy' } } });
      assert.equal(bad.status, 400);
      child.kill('SIGTERM');
      assert.equal(await exited, 0, log);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('reads an edk2 store with `nova-uefi-shim nvram show FILE`', async () => {
    let file = REAL_VARS;
    let want = /: edk2 authenticated variable store, 540672 bytes\n[\s\S]*0 variables, 0 deleted records/;
    if (!fs.existsSync(REAL_VARS)) {
      // Without Debian's ovmf package: a store built byte by byte by the test builder.
      file = path.join(root, 'vm_VARS.fd');
      fs.writeFileSync(file, buildStore({ records: [{ name: 'Timeout', guid: EFI_GLOBAL_VARIABLE, data: Buffer.from('0500', 'hex') }] }));
      want = /: edk2 authenticated variable store, \d+ bytes\n[\s\S]*1 variables, 0 deleted records[\s\S]*Timeout/;
    }
    const r = await run(bin, ['nvram', 'show', file], { cwd: app, env: ENV });
    assert.match(r.stdout, want);
    assert.ok(r.stdout.startsWith(`${file}: `), r.stdout);
    await assert.rejects(
      run(bin, ['nvram', 'show'], { cwd: app, env: ENV }),
      (e: { code?: number; stderr?: string }) => e.code === 2 && /missing FILE/.test(e.stderr ?? ''),
    );
  });
});
