/**
 * The nova backend records what Nova does to the domain and never does it itself: a definition
 * is kept without libvirt, the power state is the one Nova's calls report (or libvirt's,
 * read-only, when a probe is configured and answers), undefine deletes the store only when
 * told to, and a live migration only tells the destination that the guest arrived.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NovaOwnedHypervisor } from '../../../src/hypervisor/novaOwned';
import type { IncomingGuest } from '../../../src/hypervisor/types';
import type { VirshRunner } from '../../../src/hypervisor/virsh';
import { NvramStore } from '../../../src/nvram/store';
import { PowerState } from '../../../src/nova/powerState';
import { HypervisorError } from '../../../src/errors';
import { firmwareTree, tmpDir, type FirmwareTree } from '../../support/firmwareFixture';

describe('hypervisor/novaOwned', () => {
  let root: string;
  let fw: FirmwareTree;
  let nv: NvramStore;
  const state = () => path.join(root, 'state');
  const backend = async (opts: { probe?: VirshRunner; sent?: { host: string; guest: IncomingGuest }[] } = {}) => {
    const stream = opts.sent ? { send: async (host: string, guest: IncomingGuest) => void opts.sent!.push({ host, guest }) } : undefined;
    const hv = new NovaOwnedHypervisor({ stateDir: state(), nvram: nv, stream, probe: opts.probe });
    await hv.init();
    return hv;
  };
  const NAME = 'instance-0000002a';
  const xml = (name = NAME, nvram = nv.pathFor(name)) =>
    `<domain type='kvm'><name>${name}</name><os><type arch='x86_64' machine='q35'>hvm</type>` +
    `<loader readonly='yes' type='pflash'>${fw.files.code}</loader><nvram template='${fw.files.vars}'>${nvram}</nvram></os></domain>`;
  const store = (bytes = 'kept') => {
    fs.writeFileSync(nv.pathFor(NAME), bytes);
    return nv.pathFor(NAME);
  };

  beforeEach(async () => {
    root = tmpDir('nus-novaowned-');
    fw = firmwareTree(path.join(root, 'fw'));
    nv = new NvramStore({ dir: path.join(root, 'nvram'), mode: 0o600 });
    await nv.init();
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('is the nova backend: QEMU to Nova, domains named by Nova', async () => {
    const hv = await backend();
    assert.equal(hv.kind, 'nova');
    assert.equal(hv.hypervisorType, 'QEMU');
    assert.equal(hv.namedByNova, true);
  });

  it('records a definition shut off, with no store created at start (libvirt and the driver do that)', async () => {
    const hv = await backend();
    await hv.define(xml());
    assert.deepEqual(await hv.getInfo(NAME), { name: NAME, state: PowerState.SHUTDOWN });
    assert.equal(await hv.getXml(NAME), xml());
    await hv.start(NAME);
    assert.equal((await hv.getInfo(NAME))?.state, PowerState.RUNNING);
    assert.equal(fs.existsSync(nv.pathFor(NAME)), false);
    assert.deepEqual(await hv.list(), [NAME]);
  });

  it('records the power states Nova reports, keeps them over a redefinition and a sidecar restart', async () => {
    const hv = await backend();
    await hv.define(xml());
    await hv.start(NAME);
    await hv.start(NAME); // Nova's calls decide: a repeated start is not an error here
    await hv.define(xml().replace('<os>', '<vcpu>2</vcpu><os>'));
    assert.equal((await (await backend()).getInfo(NAME))?.state, PowerState.RUNNING);
    assert.equal(await hv.shutdown(NAME, 0), true);
    assert.equal((await hv.getInfo(NAME))?.state, PowerState.SHUTDOWN);
    await hv.start(NAME, { paused: true });
    assert.equal((await hv.getInfo(NAME))?.state, PowerState.PAUSED);
    await hv.reboot(NAME);
    await hv.destroy(NAME);
    await hv.destroy('instance-unknown');
    assert.equal((await (await backend()).getInfo(NAME))?.state, PowerState.SHUTDOWN);
  });

  it('refuses to record a start or shutdown of a domain it has no definition for', async () => {
    const hv = await backend();
    const noDomain = (e: unknown) => e instanceof HypervisorError && e.kind === 'no-domain';
    await assert.rejects(hv.start(NAME), noDomain);
    await assert.rejects(hv.shutdown(NAME, 0), noDomain);
    assert.equal(await hv.getInfo(NAME), null);
  });

  describe('undefine', () => {
    const CASES: [string, { keepNvram: boolean; storeAfter: boolean }][] = [
      ['keeps the store with keepNvram: true (every temporary undefine)', { keepNvram: true, storeAfter: true }],
      ['deletes the store named in the definition with keepNvram: false', { keepNvram: false, storeAfter: false }],
    ];
    for (const [name, { keepNvram, storeAfter }] of CASES) {
      it(name, async () => {
        const hv = await backend();
        const p = store();
        await hv.define(xml());
        await hv.undefine(NAME, { keepNvram });
        assert.equal(await hv.getInfo(NAME), null);
        assert.equal(fs.existsSync(p), storeAfter);
      });
    }

    it('needs an explicit keepNvram decision and succeeds for an unknown domain', async () => {
      const hv = await backend();
      await hv.define(xml());
      await assert.rejects(hv.undefine(NAME, {} as never), (e: unknown) => e instanceof HypervisorError && e.kind === 'nvram');
      await hv.undefine('instance-unknown', { keepNvram: false });
    });
  });

  describe('the power state from a read-only libvirt query (nova_power_state = libvirt)', () => {
    const CASES: [string, { answer: () => Promise<string>; recorded: 'start' | 'none'; want: number }][] = [
      ['libvirt says running while Nova reported nothing', { answer: async () => 'running\n', recorded: 'none', want: PowerState.RUNNING }],
      [
        'libvirt says shut off although a start was recorded (the guest stopped by itself)',
        { answer: async () => 'shut off\n', recorded: 'start', want: PowerState.SHUTDOWN },
      ],
      [
        'libvirt does not know the domain: no QEMU can hold the store',
        { answer: () => Promise.reject(new HypervisorError('no-domain', 'Domain not found')), recorded: 'start', want: PowerState.SHUTDOWN },
      ],
      [
        'libvirt does not answer: the recorded state',
        { answer: () => Promise.reject(new HypervisorError('connect', 'failed to connect')), recorded: 'start', want: PowerState.RUNNING },
      ],
      ['libvirt answers a word it has no Nova state for: the recorded state', { answer: async () => 'dying\n', recorded: 'start', want: PowerState.RUNNING }],
    ];
    for (const [name, { answer, recorded, want }] of CASES) {
      it(name, async () => {
        const calls: string[][] = [];
        const probe: VirshRunner = (args) => {
          calls.push(args);
          return answer();
        };
        const hv = await backend({ probe });
        await hv.define(xml());
        if (recorded === 'start') await hv.start(NAME);
        assert.equal((await hv.getInfo(NAME))?.state, want);
        assert.deepEqual(calls, [['--readonly', 'domstate', NAME]]);
      });
    }

    it('does not ask libvirt about a domain it has no definition for', async () => {
      let asked = false;
      const hv = await backend({
        probe: async () => {
          asked = true;
          return 'running';
        },
      });
      assert.equal(await hv.getInfo(NAME), null);
      assert.equal(asked, false);
    });
  });

  describe('live migration', () => {
    it('tells the destination the guest arrived (definition only, no flash contents) and forgets it here, keeping the store', async () => {
      const sent: { host: string; guest: IncomingGuest }[] = [];
      const hv = await backend({ sent });
      const p = store('source bytes');
      await hv.define(xml());
      await hv.start(NAME);
      const destXml = xml(NAME, '/elsewhere/instance-0000002a_VARS.fd');
      await hv.liveMigrate(NAME, { destHost: 'compute2', destUri: '', persistXml: destXml });
      assert.deepEqual(sent, [{ host: 'compute2', guest: { domain_xml: destXml, nvram: null } }]);
      assert.equal(await hv.getInfo(NAME), null);
      assert.equal(fs.readFileSync(p, 'utf8'), 'source bytes');
    });

    it('needs the peer link', async () => {
      const hv = await backend();
      await hv.define(xml());
      await assert.rejects(hv.liveMigrate(NAME, { destHost: 'compute2', destUri: '' }), /no \[peer\] link/);
      assert.notEqual(await hv.getInfo(NAME), null);
    });

    it('records an arrived guest running and never writes its store (the QEMU there does)', async () => {
      const hv = await backend();
      await hv.acceptIncoming({ domain_xml: xml(), nvram: null });
      assert.equal((await hv.getInfo(NAME))?.state, PowerState.RUNNING);
      assert.equal(fs.existsSync(nv.pathFor(NAME)), false);
      // Even flash contents sent along are not written: the store belongs to the QEMU running there.
      const live = store('live bytes');
      await hv.acceptIncoming({ domain_xml: xml(), nvram: { size: 3, sha256: 'x', data: 'AAAA' } as never });
      assert.equal(fs.readFileSync(live, 'utf8'), 'live bytes');
    });
  });
});
