/**
 * @module tempest-compat/api/compute/admin/test_uefi_migrations
 * UEFIMigrationsTest: cases 24–30 — resize, cold and live migration must carry the NVRAM
 * bytes (hash) to the destination, remove the source copy on confirm/completion, and restore
 * the original on revert. Carrying NVRAM through resize/cold migration is this project's own
 * promise (upstream recreates it).
 */
import * as path from 'node:path';
import { RestClientException } from '../../../lib/exceptions';
import { attr, requiresComputeNodes, requiresFeature, idempotentId } from '../../../lib/test';
import { waitForMigrationStatus, waitForServerStatus } from '../../../lib/waiters';
import { find } from '../../../lib/xml';
import { BaseUEFIAdminTest } from '../base';

export class UEFIMigrationsTest extends BaseUEFIAdminTest {
  /** A UEFI server whose NVRAM differs from its template; returns its id, host and marked hash. */
  private async markedServer(image = this.conf.uefi.image_properties) {
    const server = await this.createTestServer({ image });
    const templateSha = (await this.getNvram(server.id)).sha;
    const sha = await this.writeNvramMarker(server.id);
    this.assertNotEqual(sha, templateSha, 'H(NV) != H(template) before the move');
    return { id: server.id, src: this.getHostForServer(server.id), sha };
  }

  private async assertGoneFrom(host: string, id: string, what: string): Promise<void> {
    const e = await this.assertRaises(RestClientException, () => this.serversClient.driver(host).getNvram(id), `${what}: NVRAM still served by ${host}`);
    this.assertEqual(e.status, 404, e.message);
    const listed = (await this.serversClient.driver(host).listInstances()).instances.map((i) => i.uuid);
    this.assertFalse(listed.includes(id), `${what}: instance still listed on ${host}`);
  }

  // mirrors: tempest test_server_actions.py test_resize_server_confirm 1499262a-9328-4eda-9068-db1ac57498d2; nova test_uefi.py test_resize (carry is new)
  @idempotentId('991b0451-a91e-4ab8-a6a6-49236de2fff6')
  @attr('multinode')
  @requiresFeature('resize')
  @requiresComputeNodes(2)
  async test_uefi_resize_confirm_carries_nvram(): Promise<void> {
    const s = await this.markedServer();
    this.serversClient.resizeServer(s.id, this.flavorRefAlt);
    await waitForServerStatus(this.serversClient, s.id, 'VERIFY_RESIZE');
    const dest = this.getHostForServer(s.id);
    this.validateUefiOsXml(await this.getServerXml(s.id, dest), false);
    this.assertEqual((await this.getNvram(s.id, dest)).sha, s.sha, 'NVRAM carried to the destination');
    this.serversClient.confirmResizeServer(s.id);
    await waitForServerStatus(this.serversClient, s.id, 'ACTIVE');
    this.assertEqual(this.serversClient.showServer(s.id).flavor.name, this.flavorRefAlt.name);
    this.assertEqual((await this.getNvram(s.id)).sha, s.sha);
    if (dest !== s.src) await this.assertGoneFrom(s.src, s.id, 'after confirm');
  }

  // mirrors: tempest test_server_actions.py test_resize_server_revert c03aab19-adb1-44f5-917d-c419577e9e68
  @idempotentId('9db4f681-be4e-443e-9f82-3e307abb8b0d')
  @attr('multinode')
  @requiresFeature('resize')
  @requiresComputeNodes(2)
  async test_uefi_resize_revert_restores_nvram(): Promise<void> {
    const s = await this.markedServer();
    this.serversClient.resizeServer(s.id, this.flavorRefAlt);
    await waitForServerStatus(this.serversClient, s.id, 'VERIFY_RESIZE');
    const dest = this.getHostForServer(s.id);
    this.serversClient.revertResizeServer(s.id);
    await waitForServerStatus(this.serversClient, s.id, 'ACTIVE');
    this.assertIn('REVERT_RESIZE', this.serversClient.statusHistory(s.id));
    this.assertEqual(this.serversClient.showServer(s.id).flavor.name, this.flavorRef.name);
    this.assertEqual(this.getHostForServer(s.id), s.src);
    this.assertEqual((await this.getNvram(s.id)).sha, s.sha, 'original NVRAM restored');
    this.validateUefiOsXml(await this.getServerXml(s.id), false);
    if (dest !== s.src) await this.assertGoneFrom(dest, s.id, 'after revert');
  }

  // mirrors: tempest test_server_actions.py test_resize_server_confirm_from_stopped 138b131d-66df-48c9-a171-64f45eb92962
  @idempotentId('969b2719-fa76-42a9-961e-7731fae104c5')
  @attr('multinode')
  @requiresFeature('resize')
  @requiresComputeNodes(2)
  async test_uefi_resize_from_stopped(): Promise<void> {
    const s = await this.markedServer();
    this.serversClient.stopServer(s.id);
    await waitForServerStatus(this.serversClient, s.id, 'SHUTOFF');
    this.serversClient.resizeServer(s.id, this.flavorRefAlt);
    await waitForServerStatus(this.serversClient, s.id, 'VERIFY_RESIZE');
    this.serversClient.confirmResizeServer(s.id);
    await waitForServerStatus(this.serversClient, s.id, 'SHUTOFF');
    this.assertEqual((await this.getNvram(s.id)).sha, s.sha);
    this.serversClient.startServer(s.id);
    await waitForServerStatus(this.serversClient, s.id, 'ACTIVE');
    this.assertEqual((await this.getNvram(s.id)).sha, s.sha);
  }

  // mirrors: tempest admin/test_migrations.py test_cold_migration 4bf0be52-3b6f-4746-9a27-3143636fe30d; nova test_migrate_server (carry is new)
  @idempotentId('9e546ea6-6407-48e4-8c15-2dedde7ffb6f')
  @attr('multinode')
  @requiresFeature('cold_migration')
  @requiresComputeNodes(2)
  async test_uefi_cold_migration_carries_nvram(): Promise<void> {
    const s = await this.markedServer();
    this.serversClient.migrateServer(s.id);
    await waitForServerStatus(this.serversClient, s.id, 'VERIFY_RESIZE');
    const dest = this.getHostForServer(s.id);
    this.assertNotEqual(dest, s.src, 'src != dst');
    this.assertEqual((await this.getNvram(s.id, dest)).sha, s.sha);
    this.serversClient.confirmResizeServer(s.id);
    await waitForServerStatus(this.serversClient, s.id, 'ACTIVE');
    await waitForMigrationStatus(this.serversClient, s.id, ['confirmed', 'done', 'completed']);
    this.validateUefiOsXml(await this.getServerXml(s.id), false);
    await this.assertGoneFrom(s.src, s.id, 'after confirm');
  }

  // mirrors: tempest admin/test_migrations.py test_revert_cold_migration caa1aa8b-f4ef-4374-be0d-95f001c2ac2d; nova test_migrate_server_revert
  @idempotentId('bd4f8759-a2ff-4ace-9c39-b6bfebf86032')
  @attr('multinode')
  @requiresFeature('cold_migration')
  @requiresComputeNodes(2)
  async test_uefi_revert_cold_migration(): Promise<void> {
    const s = await this.markedServer();
    this.serversClient.migrateServer(s.id);
    await waitForServerStatus(this.serversClient, s.id, 'VERIFY_RESIZE');
    const dest = this.getHostForServer(s.id);
    this.serversClient.revertResizeServer(s.id);
    await waitForServerStatus(this.serversClient, s.id, 'ACTIVE');
    this.assertEqual(this.getHostForServer(s.id), s.src, 'src == dst after revert');
    this.assertEqual((await this.getNvram(s.id)).sha, s.sha);
    await this.assertGoneFrom(dest, s.id, 'after revert');
  }

  // mirrors: tempest admin/test_live_migration.py test_live_block_migration 1dce86b8-eb04-4c03-a9d8-9c1dc3ee0c7b; nova test_live_migrate_server
  @idempotentId('4c9b2da3-3a5b-45b0-ab3e-58c783a84b1e')
  @attr('multinode')
  @requiresFeature('live_migration')
  @requiresComputeNodes(2)
  async test_uefi_live_migration_preserves_nvram(): Promise<void> {
    const s = await this.markedServer();
    const dom0 = await this.getServerXml(s.id);
    const view0 = await this.instanceView(s.id);
    this.serversClient.liveMigrateServer(s.id, { blockMigration: true });
    await waitForServerStatus(this.serversClient, s.id, 'ACTIVE');
    this.assertIn('MIGRATING', this.serversClient.statusHistory(s.id));
    await waitForMigrationStatus(this.serversClient, s.id, ['completed', 'done']);
    const dest = this.getHostForServer(s.id);
    this.assertNotEqual(dest, s.src, 'host changed');
    const dom1 = await this.getServerXml(s.id);
    this.assertEqual(find(dom1, './os/loader')?.text, find(dom0, './os/loader')?.text, 'same loader');
    this.assertEqual(find(dom1, './os/nvram')?.attrs.template, find(dom0, './os/nvram')?.attrs.template, 'same template');
    this.assertEqual(path.basename(find(dom1, './os/nvram')?.text ?? ''), path.basename(view0.nvram?.path ?? '-'), 'same NVRAM file name');
    // Hash after ACTIVE (resumed), not while paused: tempest-style.md §5.
    this.assertEqual((await this.getNvram(s.id, dest)).sha, s.sha, 'destination NVRAM equals source before');
    await this.assertGoneFrom(s.src, s.id, 'after live migration');
  }

  // new
  @idempotentId('5e5ad1da-b2ea-4102-9cf2-ff24acb6bfed')
  @attr('multinode')
  @requiresFeature('live_migration', 'uefi_secure_boot')
  @requiresComputeNodes(2)
  async test_uefi_secure_boot_live_migration(): Promise<void> {
    const s = await this.markedServer(this.conf.uefi.secure_boot_image_properties);
    this.serversClient.liveMigrateServer(s.id, { blockMigration: true });
    await waitForServerStatus(this.serversClient, s.id, 'ACTIVE');
    this.assertNotEqual(this.getHostForServer(s.id), s.src);
    const dom = await this.getServerXml(s.id);
    this.validateUefiOsXml(dom, true);
    this.assertEqual(find(dom, './features/smm')?.attrs.state, 'on');
    this.assertEqual((await this.getNvram(s.id)).sha, s.sha);
  }
}
