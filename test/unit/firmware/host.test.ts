/**
 * firmware/host: this host's firmware inventory read from real files, replaced in one step on
 * reload, re-read before a re-selection, and the check whether a guest's pinned firmware and
 * store can run here.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { testConfig } from '../../../src/config';
import { FirmwareHost } from '../../../src/firmware/host';
import type { FirmwareSelection } from '../../../src/firmware/types';
import { memoryLogger } from '../../../src/util/log';

const CODE_4M = 3_653_632;
const VARS_4M = 540_672;

describe('firmware/host', () => {
  let dir: string;
  let code: string;
  let vars: string;
  const sel = (over: Partial<FirmwareSelection> = {}): FirmwareSelection => ({
    loader: code,
    nvram_template: vars,
    secure: false,
    requires_smm: false,
    stateless: false,
    enrolled_keys: false,
    source: 'config:[firmware:x86_64]',
    arch: 'x86_64',
    machine: 'q35',
    ...over,
  });
  const config = (section: Record<string, unknown>, firmware: Record<string, unknown> = {}) =>
    testConfig({ 'firmware:x86_64': section, firmware: { descriptor_dirs: [path.join(dir, 'none')], ...firmware } });

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nus-fwhost-'));
    code = path.join(dir, 'OVMF_CODE_4M.fd');
    vars = path.join(dir, 'OVMF_VARS_4M.fd');
    fs.writeFileSync(code, Buffer.alloc(CODE_4M));
    fs.writeFileSync(vars, Buffer.alloc(VARS_4M));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('discovers the configured map at construction, for the given arch', () => {
    const h = new FirmwareHost(config({ loader: code, nvram_template: vars }), memoryLogger(), 'x86_64');
    assert.equal(h.arch, 'x86_64');
    assert.deepEqual(
      h.inventory().entries.map((e) => [e.executable, e.nvramTemplate]),
      [[code, vars]],
    );
  });

  it('says whether Secure Boot is enabled from the configuration in force', () => {
    const h = new FirmwareHost(config({ loader: code, nvram_template: vars }, { secure_boot: false }), memoryLogger(), 'x86_64');
    assert.deepEqual(h.host(), { secureBootEnabled: false });
    const next = config({ loader: code, nvram_template: vars }, { secure_boot: true });
    h.reconfigure(next, h.discoverFor(next));
    assert.equal(h.secureBootEnabled, true);
  });

  it('discoverFor does not adopt; reconfigure adopts and logs the new problems', () => {
    const log = memoryLogger();
    const h = new FirmwareHost(config({ loader: code, nvram_template: vars }), log, 'x86_64');
    const bad = config({ loader: code });
    const inv = h.discoverFor(bad);
    assert.equal(h.inventory().entries.length, 1, 'still the old inventory');
    assert.equal(log.lines.length, 0);
    h.reconfigure(bad, inv);
    assert.equal(h.inventory(), inv);
    assert.deepEqual(
      log.lines.map((l) => [l.level, l.msg, l.source, l.problem]),
      [['error', 'firmware problem', 'config:[firmware:x86_64]', 'loader and nvram_template must be set together']],
    );
  });

  it('refresh re-reads the files: a loader that vanished is gone from the inventory', () => {
    const h = new FirmwareHost(config({ loader: code, nvram_template: vars }), memoryLogger(), 'x86_64');
    fs.rmSync(code);
    assert.equal(h.refresh().entries.length, 0);
    assert.equal(h.inventory().entries.length, 0);
  });

  it('exists and fileSize read the file system', async () => {
    const h = new FirmwareHost(config({ loader: code, nvram_template: vars }), memoryLogger(), 'x86_64');
    assert.equal(h.exists(code), true);
    assert.equal(h.exists(path.join(dir, 'nope')), false);
    assert.equal(await h.fileSize(vars), VARS_4M);
    assert.equal(await h.fileSize(path.join(dir, 'nope')), null);
    assert.equal(await h.fileSize(null), null);
    assert.equal(await h.fileSize(''), null);
  });

  describe('whyCannotRun', () => {
    it('has no objection to a guest without firmware', async () => {
      const h = new FirmwareHost(config({ loader: code, nvram_template: vars }), memoryLogger(), 'x86_64');
      assert.equal(await h.whyCannotRun(null, 123), null);
      assert.equal(await h.whyCannotRun(undefined, null), null);
    });

    it('runs the same loader with a store of its template size, or of unknown size', async () => {
      const h = new FirmwareHost(config({ loader: code, nvram_template: vars }), memoryLogger(), 'x86_64');
      assert.equal(await h.whyCannotRun(sel(), VARS_4M), null);
      assert.equal(await h.whyCannotRun(sel(), null), null);
    });

    it('refuses a loader this host does not list', async () => {
      const h = new FirmwareHost(config({ loader: code, nvram_template: vars }), memoryLogger(), 'x86_64');
      assert.equal(
        await h.whyCannotRun(sel({ loader: '/usr/share/OVMF/OTHER.fd' }), VARS_4M),
        "loader /usr/share/OVMF/OTHER.fd is not in this host's firmware map or descriptors",
      );
    });

    it('refuses a store of another build size, naming both sizes', async () => {
      const h = new FirmwareHost(config({ loader: code, nvram_template: vars }), memoryLogger(), 'x86_64');
      assert.equal(
        await h.whyCannotRun(sel(), 131_072),
        `this host pairs ${code} with ${VARS_4M}-byte templates, the guest's store is 131072 bytes (different firmware build)`,
      );
    });

    it('matches stateless to stateless only, and asks no template size of a stateless loader', async () => {
      const h = new FirmwareHost(config({ stateless_loader: code }), memoryLogger(), 'x86_64');
      assert.equal(await h.whyCannotRun(sel({ stateless: true, nvram_template: null }), 999), null);
      assert.match((await h.whyCannotRun(sel({ stateless: false }), VARS_4M)) ?? '', /is not in this host's firmware map/);
    });

    it('re-reads the inventory first: a loader removed since start-up is refused', async () => {
      const h = new FirmwareHost(config({ loader: code, nvram_template: vars }), memoryLogger(), 'x86_64');
      fs.rmSync(code);
      assert.match((await h.whyCannotRun(sel(), VARS_4M)) ?? '', /is not in this host's firmware map/);
    });
  });
});
