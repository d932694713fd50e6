/**
 * @module tempest-compat/scenario/test_uefi_nvram_journey
 * TestUEFINvramJourney (scenario, slow): one Secure Boot guest's variable store followed
 * through a day of operations; its sha256 must survive every step.
 *
 * Steps (single host): boot SB guest -> write marker while shut off -> hard reboot ->
 * stop/start -> rescue/unrescue -> delete (NVRAM gone).
 * Steps (across hosts, multinode): boot -> marker -> resize + confirm -> live migrate back ->
 * cold migrate + revert -> hard reboot; hash constant, one copy at the end.
 */
import { RestClientException } from '../lib/exceptions';
import { attr, requiresComputeNodes, requiresFeature, idempotentId } from '../lib/test';
import { waitForServerStatus, waitForServerTermination } from '../lib/waiters';
import { BaseUEFIComputeTest } from '../api/compute/base';

export class TestUEFINvramJourney extends BaseUEFIComputeTest {
  static override services = ['compute', 'image'];

  private async step(id: string, act: () => void, status: string, sha: string, label: string): Promise<void> {
    act();
    await waitForServerStatus(this.serversClient, id, status);
    this.assertEqual((await this.getNvram(id)).sha, sha, `NVRAM hash changed by ${label}`);
  }

  // new
  @idempotentId('a7f2cba4-7606-4585-bfaf-b64a87990fb7')
  @attr('slow')
  @requiresFeature('uefi_secure_boot', 'rescue')
  async test_nvram_journey_single_host(): Promise<void> {
    const server = await this.createTestServer({ image: this.conf.uefi.secure_boot_image_properties });
    const id = server.id;
    const host = this.getHostForServer(id);
    const sha = await this.writeNvramMarker(id);
    await this.step(id, () => this.serversClient.rebootServer(id, 'HARD'), 'ACTIVE', sha, 'hard reboot');
    await this.step(id, () => this.serversClient.stopServer(id), 'SHUTOFF', sha, 'stop');
    await this.step(id, () => this.serversClient.startServer(id), 'ACTIVE', sha, 'start');
    await this.step(id, () => this.serversClient.rescueServer(id), 'RESCUE', sha, 'rescue');
    await this.step(id, () => this.serversClient.unrescueServer(id), 'ACTIVE', sha, 'unrescue');
    this.validateUefiOsXml(await this.getServerXml(id), true);
    this.serversClient.deleteServer(id);
    await waitForServerTermination(this.serversClient, id);
    const e = await this.assertRaises(RestClientException, () => this.serversClient.driver(host).getNvram(id));
    this.assertEqual(e.status, 404);
  }

  // new
  @idempotentId('c49d1e5e-f4c0-45dd-b2e6-c9392a4f06f5')
  @attr('slow', 'multinode')
  @requiresFeature('resize', 'cold_migration', 'live_migration')
  @requiresComputeNodes(2)
  async test_nvram_journey_across_hosts(): Promise<void> {
    const server = await this.createTestServer({ image: this.conf.uefi.image_properties });
    const id = server.id;
    const sha = await this.writeNvramMarker(id);
    await this.step(id, () => this.serversClient.resizeServer(id, this.conf.compute.flavor_ref_alt), 'VERIFY_RESIZE', sha, 'resize');
    await this.step(id, () => this.serversClient.confirmResizeServer(id), 'ACTIVE', sha, 'confirm');
    await this.step(id, () => this.serversClient.liveMigrateServer(id), 'ACTIVE', sha, 'live migration');
    await this.step(id, () => this.serversClient.migrateServer(id), 'VERIFY_RESIZE', sha, 'cold migration');
    await this.step(id, () => this.serversClient.revertResizeServer(id), 'ACTIVE', sha, 'revert');
    await this.step(id, () => this.serversClient.rebootServer(id, 'HARD'), 'ACTIVE', sha, 'hard reboot');
    const here = this.getHostForServer(id);
    for (const h of this.hosts.filter((x) => x !== here)) {
      const listed = (await this.serversClient.driver(h).listInstances()).instances.map((i) => i.uuid);
      this.assertFalse(listed.includes(id), `leftover on ${h}`);
    }
  }
}
