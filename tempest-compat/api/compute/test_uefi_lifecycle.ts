/**
 * @module tempest-compat/api/compute/test_uefi_lifecycle
 * UEFILifecycleTest: cases 17–23 plus rescue — what each server action does to the pinned
 * firmware and to the NVRAM bytes (preserved, reset, or removed, as the action promises).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RestClientException } from '../../lib/exceptions';
import { getHostControl } from '../../lib/hostControl';
import { attr, requiresFeature, idempotentId } from '../../lib/test';
import { waitForServerStatus, waitForServerTermination } from '../../lib/waiters';
import { find } from '../../lib/xml';
import { BaseUEFIComputeTest } from './base';

export class UEFILifecycleTest extends BaseUEFIComputeTest {
  private async firmwareSnapshot(id: string) {
    const dom = await this.getServerXml(id);
    return {
      loader: find(dom, './os/loader')?.text,
      nvram: find(dom, './os/nvram')?.text,
      template: find(dom, './os/nvram')?.attrs.template,
      secure: find(dom, './os/loader')?.attrs.secure ?? 'no',
    };
  }

  // mirrors: tempest test_server_actions.py test_reboot_server_hard 2cb1baf6-ac8d-4429-bf0d-ba8a0ba53e32; bug 1633447
  @idempotentId('b893f196-41ea-4d7f-b7ab-dc7ad4fc13db')
  @attr('smoke')
  async test_uefi_hard_reboot_preserves_nvram(): Promise<void> {
    const server = await this.createTestServer({ image: this.conf.uefi.image_properties });
    const marked = await this.writeNvramMarker(server.id);
    const before = await this.firmwareSnapshot(server.id);
    this.serversClient.rebootServer(server.id, 'HARD');
    await waitForServerStatus(this.serversClient, server.id, 'ACTIVE');
    this.assertIn('HARD_REBOOT', this.serversClient.statusHistory(server.id));
    this.assertEqual(await this.firmwareSnapshot(server.id), before, 'loader, nvram path and template unchanged');
    this.assertEqual((await this.getNvram(server.id)).sha, marked, 'NVRAM bytes unchanged by hard reboot');
  }

  // mirrors: tempest test_server_actions.py test_stop_start_server af8eafd4-38a7-4a4b-bdbc-75145a580560
  @idempotentId('ee4f2ab2-270f-478f-af89-c6dcacc21f75')
  async test_uefi_stop_start_preserves_nvram(): Promise<void> {
    const server = await this.createTestServer({ image: this.conf.uefi.image_properties });
    const marked = await this.writeNvramMarker(server.id);
    const before = await this.firmwareSnapshot(server.id);
    this.serversClient.stopServer(server.id);
    await waitForServerStatus(this.serversClient, server.id, 'SHUTOFF');
    this.assertEqual((await this.instanceView(server.id)).power_state, 4, 'power_state SHUTDOWN');
    this.assertEqual((await this.getNvram(server.id)).sha, marked);
    this.serversClient.startServer(server.id);
    await waitForServerStatus(this.serversClient, server.id, 'ACTIVE');
    this.assertEqual((await this.instanceView(server.id)).power_state, 1, 'power_state RUNNING');
    this.assertEqual(await this.firmwareSnapshot(server.id), before);
    this.assertEqual((await this.getNvram(server.id)).sha, marked, 'NVRAM bytes unchanged by stop/start');
  }

  // mirrors: whitebox test_uefi.py TestUEFIBoot.test_uefi_boot_and_rebuild
  @idempotentId('ec34d6a1-ce2c-4222-af1c-dabd0b5f4491')
  async test_uefi_rebuild_to_bios_and_back(): Promise<void> {
    const server = await this.createTestServer({ image: this.conf.uefi.image_properties });
    this.validateUefiOsXml(await this.getServerXml(server.id), false);
    this.serversClient.rebuildServer(server.id, this.conf.uefi.bios_image_properties);
    await waitForServerStatus(this.serversClient, server.id, 'ACTIVE');
    this.assertIn('REBUILD', this.serversClient.statusHistory(server.id));
    const bios = find(await this.getServerXml(server.id), './os');
    this.assertIsNotNone(bios);
    this.assertIsNone(find(bios, './nvram'));
    this.assertIsNone(find(bios, './loader'));
    this.assertEmpty(bios.attrs);
    this.assertIsNone((await this.instanceView(server.id)).nvram);
    this.serversClient.rebuildServer(server.id, this.conf.uefi.image_properties);
    await waitForServerStatus(this.serversClient, server.id, 'ACTIVE');
    const dom = await this.getServerXml(server.id);
    this.validateUefiOsXml(dom, false);
    this.assertEqual(find(dom, './os/loader')?.attrs.secure ?? 'no', 'no');
  }

  // mirrors: nova functional libvirt/test_uefi.py test_rebuild (firmware re-selected; NVRAM reset unless preserve_nvram)
  @idempotentId('32763286-74b6-4717-a206-174417d33cf5')
  async test_uefi_rebuild_same_image_firmware_reselected(): Promise<void> {
    const server = await this.createTestServer({ image: this.conf.uefi.image_properties });
    const templateSha = (await this.getNvram(server.id)).sha;
    await this.writeNvramMarker(server.id);
    this.serversClient.rebuildServer(server.id, this.conf.uefi.image_properties);
    await waitForServerStatus(this.serversClient, server.id, 'ACTIVE');
    const want = await this.expectedFirmware(this.getHostForServer(server.id), {
      arch: this.conf.uefi.arch,
      machine: this.conf.uefi.expected_machine,
      secure: false,
    });
    this.assertEqual(find(await this.getServerXml(server.id), './os/loader')?.text, want.executable);
    this.assertEqual((await this.getNvram(server.id)).sha, templateSha, 'policy: rebuild resets NVRAM to the template (as upstream)');
    const marked2 = await this.writeNvramMarker(server.id);
    this.assertNotEqual(marked2, templateSha);
    this.serversClient.rebuildServer(server.id, this.conf.uefi.image_properties, { preserveNvram: true });
    await waitForServerStatus(this.serversClient, server.id, 'ACTIVE');
    this.assertEqual((await this.getNvram(server.id)).sha, marked2, 'preserve_nvram=true keeps the variables');
  }

  // mirrors: nova functional libvirt/test_uefi.py UEFIServersFirmwareTest.test_hard_reboot (loader not found)
  @idempotentId('354098e2-6e1b-47df-ada6-4bdbdaedcb73')
  @requiresFeature('firmware_reconfiguration')
  async test_firmware_reselected_when_loader_missing(): Promise<void> {
    const server = await this.createTestServer({ image: this.conf.uefi.image_properties });
    const host = this.getHostForServer(server.id);
    const before = await this.firmwareSnapshot(server.id);
    this.assertIsNotNone(before.loader);
    const hc = getHostControl();
    const restore = await hc.hideFile(before.loader);
    this.addCleanup(async () => {
      await restore();
      await hc.restart(host, {});
    });
    await hc.restart(host, {});
    this.serversClient.rebootServer(server.id, 'HARD');
    await waitForServerStatus(this.serversClient, server.id, 'ACTIVE');
    const after = await this.firmwareSnapshot(server.id);
    this.assertNotEqual(after.loader, before.loader, 'vanished loader replaced');
    const want = await this.expectedFirmware(host, { arch: this.conf.uefi.arch, machine: this.conf.uefi.expected_machine, secure: false });
    this.assertEqual(after.loader, want.executable);
    const view = await this.instanceView(server.id);
    this.assertIsNotNone(view.nvram);
    this.assertEqual(view.nvram.size, this.readHostFile(want.nvram_template!).length, 'NVRAM sized like the new template');
  }

  // mirrors: nova functional libvirt/test_uefi.py UEFIServersFirmwareTest.test_hard_reboot (old guest SB changed)
  @idempotentId('46eda5ea-e510-447b-810e-43744fe08f6c')
  @requiresFeature('firmware_reconfiguration', 'uefi_secure_boot')
  async test_firmware_reselected_when_secure_boot_capability_changes(): Promise<void> {
    const server = await this.createTestServer({ image: { ...this.conf.uefi.image_properties, os_secure_boot: 'optional' } });
    const host = this.getHostForServer(server.id);
    this.assertEqual((await this.firmwareSnapshot(server.id)).secure, 'yes');
    const hc = getHostControl();
    this.addCleanup(() => hc.restart(host, {}));
    await hc.restart(host, { firmware: { secure_boot: 'false' } });
    this.serversClient.rebootServer(server.id, 'HARD');
    await waitForServerStatus(this.serversClient, server.id, 'ACTIVE');
    const lost = await this.firmwareSnapshot(server.id);
    this.assertEqual(lost.secure, 'no', 'host lost Secure Boot: secure flips to no');
    const plain = await this.expectedFirmware(host, { arch: this.conf.uefi.arch, machine: this.conf.uefi.expected_machine, secure: false });
    this.assertEqual(lost.loader, plain.executable);
    await hc.restart(host, {});
    this.serversClient.rebootServer(server.id, 'HARD');
    await waitForServerStatus(this.serversClient, server.id, 'ACTIVE');
    const regained = await this.firmwareSnapshot(server.id);
    this.assertEqual(regained.secure, 'yes', 'host regained Secure Boot: re-selected');
    const sb = await this.expectedFirmware(host, { arch: this.conf.uefi.arch, machine: this.conf.uefi.expected_machine, secure: true });
    this.assertEqual(regained.loader, sb.executable);
  }

  // mirrors: nova unit test_destroy_removes_nvram_* ; tempest wait_for_server_termination
  @idempotentId('77b6a667-1f20-4d07-9b9a-219c077dbb9a')
  async test_uefi_delete_removes_nvram(): Promise<void> {
    const server = await this.createTestServer({ image: this.conf.uefi.image_properties });
    const host = this.getHostForServer(server.id);
    const view = await this.instanceView(server.id);
    this.assertIsNotNone(view.nvram);
    const local = path.join(this.conf.uefi.firmware_root || '/', view.nvram.path);
    const visible = fs.existsSync(local);
    this.serversClient.deleteServer(server.id);
    await waitForServerTermination(this.serversClient, server.id);
    const e = await this.assertRaises(RestClientException, () => this.serversClient.driver(host).getNvram(server.id));
    this.assertEqual(e.status, 404);
    const listed = (await this.serversClient.driver(host).listInstances()).instances.map((i) => i.uuid);
    this.assertFalse(listed.includes(server.id));
    if (visible) this.assertFalse(fs.existsSync(local), `${local} still exists`);
  }

  // mirrors: tempest test_server_rescue.py test_rescue_unrescue_instance fd032140-714c-42e4-a8fd-adcd8df06be6
  @idempotentId('8464f615-ac32-4b93-a7c8-03a1c77ca901')
  @requiresFeature('rescue')
  async test_uefi_rescue_unrescue_preserves_nvram(): Promise<void> {
    const server = await this.createTestServer({ image: this.conf.uefi.image_properties });
    const marked = await this.writeNvramMarker(server.id);
    const before = await this.firmwareSnapshot(server.id);
    this.serversClient.rescueServer(server.id, this.conf.uefi.image_properties);
    await waitForServerStatus(this.serversClient, server.id, 'RESCUE');
    this.serversClient.unrescueServer(server.id);
    await waitForServerStatus(this.serversClient, server.id, 'ACTIVE');
    this.assertEqual(await this.firmwareSnapshot(server.id), before, 'unrescue restores the original definition');
    this.assertEqual((await this.getNvram(server.id)).sha, marked, 'NVRAM untouched by rescue/unrescue');
  }
}
