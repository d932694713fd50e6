/**
 * @module tempest-compat/api/compute/test_uefi_boot
 * UEFIBootTest: cases 1–11 of tempest-style.md §4 — firmware selection at boot, the domain
 * XML's <os> section, the NVRAM file's creation from its template, and the BIOS contrast.
 */
import * as path from 'node:path';
import { BuildErrorException, RestClientException } from '../../lib/exceptions';
import { attr, requiresFeature, idempotentId } from '../../lib/test';
import { waitForServerStatus } from '../../lib/waiters';
import { find } from '../../lib/xml';
import { BaseUEFIComputeTest, sha256 } from './base';

export class UEFIBootTest extends BaseUEFIComputeTest {
  // mirrors: whitebox test_uefi.py TestUEFIBoot.test_uefi_boot_and_rebuild (boot step); nova functional libvirt/test_uefi.py test_create_server (explicit form)
  @idempotentId('6c2976b7-cea9-4445-a081-d82e9108bc27')
  @attr('smoke')
  async test_create_uefi_server(): Promise<void> {
    const server = await this.createTestServer({ image: this.conf.uefi.image_properties });
    this.assertEqual(this.serversClient.statusHistory(server.id).slice(0, 2), ['BUILD', 'ACTIVE']);
    const host = this.getHostForServer(server.id);
    const dom = await this.getServerXml(server.id);
    const loader = find(dom, './os/loader');
    this.assertIsNotNone(loader);
    this.assertEqual(loader.attrs.type, 'pflash');
    this.assertEqual(loader.attrs.readonly, 'yes');
    const want = await this.expectedFirmware(host, { arch: this.conf.uefi.arch, machine: this.conf.uefi.expected_machine, secure: false });
    this.assertEqual(loader.text, want.executable, 'loader path is the firmware map entry');
    if (this.conf.uefi.expected_loader) this.assertEqual(loader.text, this.conf.uefi.expected_loader);
    const type = find(dom, './os/type');
    this.assertIsNotNone(type);
    this.assertIn(this.conf.uefi.expected_machine, type.attrs.machine ?? '', `machine type ${type.attrs.machine}`);
    const view = await this.instanceView(server.id);
    this.assertEqual(view.firmware?.loader, want.executable);
  }

  // new
  @idempotentId('71ae1d1d-1d0e-4d82-ad35-7501e8638fe5')
  @attr('smoke')
  async test_create_uefi_server_nvram_element(): Promise<void> {
    const server = await this.createTestServer({ image: this.conf.uefi.image_properties });
    const view = await this.instanceView(server.id);
    const dom = await this.getServerXml(server.id);
    const nvram = find(dom, './os/nvram');
    this.assertIsNotNone(nvram, 'no <nvram>');
    this.assertIsNotNone(view.nvram);
    this.assertEqual(nvram.text, view.nvram.path);
    this.assertEqual(path.basename(nvram.text), `${view.instance_name}_VARS.fd`, 'NVRAM named after the domain, not the UUID');
    this.assertEqual(server['OS-EXT-SRV-ATTR:instance_name'], view.instance_name);
    const want = await this.expectedFirmware(this.getHostForServer(server.id), {
      arch: this.conf.uefi.arch,
      machine: this.conf.uefi.expected_machine,
      secure: false,
    });
    this.assertEqual(nvram.attrs.template, want.nvram_template);
    if (this.conf.uefi.expected_nvram_template) this.assertEqual(nvram.attrs.template, this.conf.uefi.expected_nvram_template);
  }

  // new
  @idempotentId('af96d512-5161-4c16-aa2d-03ea8e792850')
  async test_nvram_file_initialised_from_template(): Promise<void> {
    const server = await this.createTestServer({ image: this.conf.uefi.image_properties });
    const view = await this.instanceView(server.id);
    this.assertIsNotNone(view.firmware?.nvram_template);
    const template = this.readHostFile(view.firmware.nvram_template);
    const nv = await this.getNvram(server.id);
    this.assertEqual(nv.bytes.length, template.length, 'NVRAM size equals template size');
    this.assertEqual(view.nvram?.size, template.length);
    this.assertEqual(nv.sha, sha256(template), 'NVRAM byte-equal to its template');
    this.assertEqual(view.nvram?.sha256, nv.sha);
  }

  // mirrors: whitebox test_uefi.py _validate_uefi_os_xml_elements (secure='no')
  @idempotentId('74e154f2-d8c0-4194-9918-64237a09ace7')
  async test_uefi_secure_boot_default_off(): Promise<void> {
    const server = await this.createTestServer({ image: this.conf.uefi.image_properties });
    const dom = await this.getServerXml(server.id);
    this.validateUefiOsXml(dom, false);
    const view = await this.instanceView(server.id);
    this.assertEqual(view.firmware?.secure, false);
  }

  // mirrors: whitebox test_uefi_boot_and_rebuild (BIOS rebuild step); nova test_create_server_bios_boot_stateless
  @idempotentId('3c80fef1-edc9-4b78-aae3-3c5356ef4edd')
  @attr('smoke')
  async test_bios_image_has_no_firmware_elements(): Promise<void> {
    const server = await this.createTestServer({ image: this.conf.uefi.bios_image_properties });
    const dom = await this.getServerXml(server.id);
    const os = find(dom, './os');
    this.assertIsNotNone(os);
    this.assertIsNone(find(os, './loader'));
    this.assertIsNone(find(os, './nvram'));
    this.assertEmpty(os.attrs, '<os> must carry no attributes (no firmware=)');
    const view = await this.instanceView(server.id);
    this.assertIsNone(view.firmware);
    this.assertIsNone(view.nvram);
    const e = await this.assertRaises(RestClientException, () => this.driverFor(server.id).getNvram(server.id));
    this.assertEqual(e.status, 404);
  }

  // mirrors: nova functional libvirt/test_uefi.py assertInstanceHasUEFI
  @idempotentId('ced36870-9c18-4878-b2f9-167cd4401023')
  async test_uefi_system_metadata_recorded(): Promise<void> {
    const server = await this.createTestServer({ image: this.conf.uefi.image_properties });
    const sm = (await this.instanceView(server.id)).system_metadata;
    this.assertEqual(sm.image_hw_firmware_type, 'uefi');
    this.assertEqual(sm.image_hw_machine_type, this.conf.uefi.image_properties.hw_machine_type ?? 'q35');
    this.assertFalse('image_os_secure_boot' in sm, 'SB key only when requested');
    this.assertFalse('image_hw_firmware_stateless' in sm, 'stateless key only when requested');
  }

  // mirrors: nova-emulation job (aarch64, hw_machine_type=virt) and the aarch64 UEFI default
  @idempotentId('d24fa1f7-9905-481c-bd68-309443a13439')
  async test_firmware_map_aarch64(): Promise<void> {
    const server = await this.createTestServer({ image: this.conf.uefi.aarch64_image_properties });
    const dom = await this.getServerXml(server.id);
    this.validateUefiOsXml(dom, false);
    const type = find(dom, './os/type');
    this.assertEqual(type?.attrs.arch, 'aarch64');
    const want = await this.expectedFirmware(this.getHostForServer(server.id), {
      arch: 'aarch64',
      machine: this.conf.uefi.aarch64_image_properties.hw_machine_type ?? 'virt',
      secure: false,
    });
    this.assertEqual(find(dom, './os/loader')?.text, want.executable);
    this.assertEqual(find(dom, './os/nvram')?.attrs.template, want.nvram_template);
  }

  // new
  @idempotentId('9f2cba06-9921-4f41-a8f2-616f5ed16f0c')
  @attr('negative')
  async test_firmware_map_unknown_arch_fails(): Promise<void> {
    const server = await this.createTestServer({ image: { hw_firmware_type: 'uefi', hw_architecture: 'ppc64le' }, waitUntil: null });
    const e = await this.assertRaises(BuildErrorException, () => this.waitActive(server.id));
    this.assertIn('UEFI is not supported', e.fault?.message ?? '', `fault: ${JSON.stringify(e.fault)}`);
    this.assertEqual(this.serversClient.showServer(server.id).status, 'ERROR');
  }

  // mirrors: whitebox bug 2122288 (stateless/memory descriptors must not serve stateful guests)
  @idempotentId('af74a676-629b-4da7-bf78-a7dee599982c')
  @attr('negative')
  async test_firmware_map_skips_descriptor_without_nvram_template(): Promise<void> {
    const server = await this.createTestServer({ image: this.conf.uefi.image_properties });
    const host = this.getHostForServer(server.id);
    const fw = await this.serversClient.driver(host).firmware();
    const templateLess = fw.entries.filter((e) => e.arch === this.conf.uefi.arch && e.nvram_template === null).map((e) => e.executable);
    const view = await this.instanceView(server.id);
    this.assertIsNotNone(view.firmware);
    this.assertIsNotNone(view.firmware.nvram_template, 'stateful guest got an entry without nvram template');
    this.assertFalse(view.firmware.stateless);
    this.assertFalse(templateLess.includes(view.firmware.loader), `chose template-less firmware ${view.firmware.loader}`);
    this.assertIsNotNone(find(await this.getServerXml(server.id), './os/nvram'));
  }

  // mirrors: nova functional libvirt/test_uefi.py test_create_server_stateless
  @idempotentId('dca71f87-e457-49cb-a867-1562ad23899e')
  @requiresFeature('stateless_firmware')
  async test_stateless_firmware(): Promise<void> {
    const server = await this.createTestServer({ image: this.conf.uefi.stateless_image_properties });
    const dom = await this.getServerXml(server.id);
    const loader = find(dom, './os/loader');
    this.assertIsNotNone(loader);
    this.assertEqual(loader.attrs.stateless, 'yes');
    this.assertIsNone(find(dom, './os/nvram'));
    const view = await this.instanceView(server.id);
    this.assertIsNone(view.nvram);
    this.assertEqual(view.firmware?.stateless, true);
    this.assertEqual(view.system_metadata.image_hw_firmware_stateless, 'true');
  }

  // mirrors: whitebox test_video_model.py test_bochs_display_device
  @idempotentId('94c50ac4-448d-470c-b60f-521e8816607a')
  @requiresFeature('bochs_display_support')
  async test_bochs_display_with_uefi(): Promise<void> {
    const server = await this.createTestServer({ image: { ...this.conf.uefi.image_properties, hw_video_model: 'bochs' } });
    const dom = await this.getServerXml(server.id);
    this.assertEqual(find(dom, './devices/video/model')?.attrs.type, 'bochs');
  }

  private async waitActive(id: string): Promise<void> {
    await waitForServerStatus(this.serversClient, id, 'ACTIVE');
  }
}
