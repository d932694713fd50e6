/**
 * The in-memory hypervisor and peer the driver tests stand on (test/support/memoryHypervisor,
 * memoryPeer): they must refuse what libvirt and the peer link refuse, or the driver tests
 * would pass against a fake that is kinder than production.
 * NOTE: these test test/support, not src/driver; they belong in test/unit/support/.
 */
import { strict as assert } from 'node:assert';
import { PowerState } from '../../../src/nova/powerState';
import type { UndefineOptions } from '../../../src/hypervisor/types';
import { UEFI, domainName, fileBytes, makeWorld, newInstance, nova, type Host, type World } from '../../support/driverHarness';
import { MemoryPeer } from '../../support/memoryPeer';

describe('driver test fakes', () => {
  let w: World;
  let A: Host;
  let B: Host;
  beforeEach(async () => {
    w = await makeWorld({ hosts: ['compute1', 'compute2'] });
    [A, B] = w.hosts;
  });
  afterEach(() => w.cleanup());

  async function running() {
    const inst = newInstance();
    await A.driver.spawn(inst.uuid, { instance: inst, image_meta: UEFI });
    return { inst, name: domainName(inst), store: A.nvram.pathFor(domainName(inst)) };
  }

  describe('MemoryHypervisor', () => {
    it('refuses undefine without an explicit keepNvram flag', async () => {
      const { name } = await running();
      await assert.rejects(A.hv.undefine(name, {} as UndefineOptions), /cannot undefine domain with nvram/);
      assert.ok(await A.hv.getInfo(name));
    });

    const UNDEFINES: [string, boolean, boolean][] = [
      ['keeps the store file with keepNvram=true', true, true],
      ['deletes the store named in the XML with keepNvram=false', false, false],
    ];
    for (const [name, keepNvram, stays] of UNDEFINES) {
      it(name, async () => {
        const d = await running();
        await A.hv.undefine(d.name, { keepNvram });
        assert.equal(fileBytes(d.store) !== null, stays);
        assert.equal(await A.hv.getInfo(d.name), null);
      });
    }

    it('refuses to start a domain whose store is missing (the driver must create it first)', async () => {
      const d = await running();
      await A.hv.destroy(d.name);
      await A.nvram.remove(d.store);
      await assert.rejects(A.hv.start(d.name), /does not exist/);
    });

    it('hands a running domain and its store bytes to the destination, keeping the source file', async () => {
      const d = await running();
      const xml = (await A.hv.getXml(d.name)) ?? '';
      const destXml = xml.replace(d.store, B.nvram.pathFor(d.name));
      await A.hv.liveMigrate(d.name, { destHost: 'compute2', destUri: 'qemu+tcp://compute2/system', persistXml: destXml });
      assert.equal(await A.hv.getInfo(d.name), null);
      assert.equal(B.hv.stateOf(d.name), PowerState.RUNNING);
      assert.deepEqual(fileBytes(B.nvram.pathFor(d.name)), fileBytes(d.store));
      assert.deepEqual(B.hv.events, [`arrive:${d.name}`]);
    });

    it('fails the next call of an operation once, when told to', async () => {
      const d = await running();
      A.hv.failNext('destroy');
      await assert.rejects(A.hv.destroy(d.name), /injected destroy failure/);
      await A.hv.destroy(d.name);
      assert.equal(A.hv.stateOf(d.name), PowerState.SHUTDOWN);
    });
  });

  describe('MemoryPeer', () => {
    it('sends bodies and answers through JSON, as the wire does', async () => {
      const { inst } = await running();
      const state = await new MemoryPeer(w.net, 'compute2').call<{ nvram: { data: unknown } | null; record: { uuid: string } }>(
        'compute1',
        'GET',
        `/v1/peer/instances/${inst.uuid}/state?nvram=1`,
      );
      assert.equal(state.record.uuid, inst.uuid);
      assert.equal(typeof state.nvram?.data, 'string', 'the store travels base64-encoded');
    });

    it("re-raises the peer driver's Nova exception with the peer named", async () => {
      await assert.rejects(
        new MemoryPeer(w.net, 'compute2').call('compute1', 'GET', `/v1/peer/instances/${newInstance().uuid}/state`),
        nova('InstanceNotFound', { code: 404, fragment: 'peer compute1:' }),
      );
    });

    const HOSTS: [string, (p: MemoryPeer) => boolean][] = [
      ['its own host name', (p) => p.isSelf('compute1')],
      ['an alias of its own host', (p) => (w.net.aliases.set('10.0.0.1', 'compute1'), p.isSelf('10.0.0.1'))],
    ];
    for (const [name, check] of HOSTS) it(`recognises ${name} as itself`, () => assert.ok(check(new MemoryPeer(w.net, 'compute1'))));

    it('answers an unknown host with the MigrationError of PeerClient.urlFor', async () => {
      await assert.rejects(new MemoryPeer(w.net, 'compute1').call('compute9', 'GET', '/v1/peer/instances/x/state'), nova('MigrationError', { code: 400 }));
    });
  });
});
