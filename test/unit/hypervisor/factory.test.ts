/**
 * hypervisor/factory: `[hypervisor] backend` picks the backend from one table; callers never ask
 * which one they got.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { testConfig } from '../../../src/config';
import { hypervisorFor } from '../../../src/hypervisor/factory';
import { EmbeddedHypervisor } from '../../../src/hypervisor/embedded';
import { LibvirtHypervisor } from '../../../src/hypervisor/libvirt';
import { NovaOwnedHypervisor } from '../../../src/hypervisor/novaOwned';
import { NvramStore } from '../../../src/nvram/store';
import { FaultPoints } from '../../../src/util/faults';
import { memoryLogger } from '../../../src/util/log';

describe('hypervisor/factory', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nus-hvf-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const CASES: [string, Record<string, unknown>, new (...a: never[]) => unknown, string][] = [
    ['embedded keeps domains as records', { backend: 'embedded' }, EmbeddedHypervisor, 'embedded'],
    ['libvirt drives libvirtd through virsh', { backend: 'libvirt' }, LibvirtHypervisor, 'libvirt'],
    ['nova leaves the domain to nova-compute', { backend: 'nova' }, NovaOwnedHypervisor, 'nova'],
    ['nova with nova_power_state = libvirt', { backend: 'nova', nova_power_state: 'libvirt' }, NovaOwnedHypervisor, 'nova'],
  ];
  for (const [name, section, cls, kind] of CASES) {
    it(`builds the backend ${name}`, () => {
      const config = testConfig({ hypervisor: { ...section, state_dir: dir }, nvram: { nvram_dir: dir } });
      const log = memoryLogger();
      const hv = hypervisorFor(config, {
        nvram: new NvramStore({ dir, mode: 0o600 }),
        stream: { send: () => Promise.resolve() },
        faults: new FaultPoints([], log),
      });
      assert.ok(hv instanceof cls, `${name}: ${hv.constructor.name}`);
      assert.equal(hv.kind, kind);
    });
  }
});
