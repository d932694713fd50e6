/**
 * The embedded backend keeps a durable definition and a runtime power state apart, as
 * libvirt does (/etc/libvirt/qemu vs /run/libvirt/qemu): the state survives a restart of the
 * sidecar (a new backend object on the same directory), an unreadable or missing state is
 * "shut off", and definitions written before the split keep the state they carried.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EmbeddedHypervisor } from '../../../src/hypervisor/embedded';
import { NvramStore } from '../../../src/nvram/store';
import { PowerState } from '../../../src/nova/powerState';
import { HypervisorError } from '../../../src/errors';
import { firmwareTree, tmpDir, type FirmwareTree } from '../../support/firmwareFixture';

describe('hypervisor/embedded', () => {
  let root: string;
  let fw: FirmwareTree;
  let nv: NvramStore;
  const state = () => path.join(root, 'state');
  const backend = async () => {
    const hv = new EmbeddedHypervisor(state(), nv);
    await hv.init();
    return hv;
  };
  const stateFile = (name: string) => path.join(state(), 'run', 'domains', `${name}.state`);
  const xml = (name: string, nvram = nv.pathFor(name)) =>
    `<domain type='qemu'><name>${name}</name><os><type arch='x86_64' machine='q35'>hvm</type>` +
    `<loader readonly='yes' type='pflash'>${fw.files.code}</loader><nvram template='${fw.files.vars}'>${nvram}</nvram></os></domain>`;

  beforeEach(async () => {
    root = tmpDir('nus-embedded-');
    fw = firmwareTree(path.join(root, 'fw'));
    nv = new NvramStore({ dir: path.join(root, 'nvram'), mode: 0o600 });
    await nv.init();
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('defines shut off, starts (creating the missing store from the template) and keeps the state across a restart', async () => {
    const hv = await backend();
    await hv.define(xml('instance-00000001'));
    assert.deepEqual(await hv.getInfo('instance-00000001'), { name: 'instance-00000001', state: PowerState.SHUTDOWN });
    await hv.start('instance-00000001');
    assert.equal(fs.readFileSync(nv.pathFor('instance-00000001')).length, fs.statSync(fw.files.vars).size);
    assert.equal((await hv.getInfo('instance-00000001'))?.state, PowerState.RUNNING);
    const again = await backend();
    assert.equal((await again.getInfo('instance-00000001'))?.state, PowerState.RUNNING);
    await assert.rejects(again.start('instance-00000001'), (e: unknown) => e instanceof HypervisorError && e.kind === 'already-running');
    await again.destroy('instance-00000001');
    assert.equal((await (await backend()).getInfo('instance-00000001'))?.state, PowerState.SHUTDOWN);
  });

  it('keeps the power state and the store when a domain is redefined', async () => {
    const hv = await backend();
    await hv.define(xml('instance-00000002'));
    await hv.start('instance-00000002');
    const redefined = xml('instance-00000002').replace('<os>', '<vcpu>2</vcpu><os>');
    await hv.define(redefined);
    assert.equal((await hv.getInfo('instance-00000002'))?.state, PowerState.RUNNING);
    assert.equal(await hv.getXml('instance-00000002'), redefined);
    assert.equal(await nv.exists(nv.pathFor('instance-00000002')), true);
  });

  it('treats a lost or garbled state file as shut off (what a power loss does to a VM)', async () => {
    const hv = await backend();
    for (const n of ['instance-00000003', 'instance-00000004']) {
      await hv.define(xml(n));
      await hv.start(n);
    }
    fs.unlinkSync(stateFile('instance-00000003'));
    fs.writeFileSync(stateFile('instance-00000004'), '\0\0');
    const after = await backend();
    assert.equal((await after.getInfo('instance-00000003'))?.state, PowerState.SHUTDOWN);
    assert.equal((await after.getInfo('instance-00000004'))?.state, PowerState.SHUTDOWN);
    await after.start('instance-00000003');
    assert.equal(fs.readFileSync(stateFile('instance-00000003'), 'utf8'), `${PowerState.RUNNING}\n`);
  });

  it('reads the state a definition written before the split carries, and moves it to a state file on redefine', async () => {
    fs.mkdirSync(path.join(state(), 'domains'), { recursive: true });
    const legacy = xml('instance-00000005');
    fs.writeFileSync(
      path.join(state(), 'domains', 'instance-00000005.json'),
      JSON.stringify({ name: 'instance-00000005', xml: legacy, state: PowerState.RUNNING }),
    );
    const hv = await backend();
    assert.equal((await hv.getInfo('instance-00000005'))?.state, PowerState.RUNNING);
    assert.equal(fs.existsSync(stateFile('instance-00000005')), false);
    await hv.define(legacy);
    assert.equal(fs.readFileSync(stateFile('instance-00000005'), 'utf8'), `${PowerState.RUNNING}\n`);
    assert.equal(JSON.parse(fs.readFileSync(path.join(state(), 'domains', 'instance-00000005.json'), 'utf8')).state, undefined);
  });

  it('starts a new definition shut off even over a state file a crash left behind, and undefine removes the state', async () => {
    fs.mkdirSync(path.dirname(stateFile('instance-00000006')), { recursive: true });
    fs.writeFileSync(stateFile('instance-00000006'), `${PowerState.RUNNING}\n`);
    const hv = await backend();
    await hv.define(xml('instance-00000006'));
    assert.equal((await hv.getInfo('instance-00000006'))?.state, PowerState.SHUTDOWN);
    await hv.start('instance-00000006');
    await hv.undefine('instance-00000006', { keepNvram: true });
    assert.equal(await hv.getInfo('instance-00000006'), null);
    assert.equal(fs.existsSync(stateFile('instance-00000006')), false);
    assert.equal(await nv.exists(nv.pathFor('instance-00000006')), true, 'keepNvram keeps the store');
  });

  it('refuses to start when the loader is gone or the store does not fit the template, like QEMU', async () => {
    const hv = await backend();
    await hv.define(xml('instance-00000007'));
    fs.writeFileSync(nv.pathFor('instance-00000007'), Buffer.alloc(4096));
    await assert.rejects(hv.start('instance-00000007'), /pflash size mismatch/);
    fs.unlinkSync(fw.files.code);
    await assert.rejects(hv.start('instance-00000007'), /loader .* does not exist/);
    assert.equal((await hv.getInfo('instance-00000007'))?.state, PowerState.SHUTDOWN);
  });
});
