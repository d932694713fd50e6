/**
 * @module tempest-compat/api/compute/test_uefi_secure_boot
 * UEFISecureBootTest: cases 12–16 — Secure Boot policy from image and flavor, the secure
 * loader/template pair and SMM, and the refusals.
 */
import { BuildErrorException, RestClientException, SkipException } from '../../lib/exceptions';
import { getHostControl } from '../../lib/hostControl';
import { attr, requiresFeature, idempotentId } from '../../lib/test';
import { waitForServerStatus } from '../../lib/waiters';
import { find } from '../../lib/xml';
import { randomUUID } from 'node:crypto';
import { BaseUEFIComputeTest } from './base';

export class UEFISecureBootTest extends BaseUEFIComputeTest {
  override async skipChecks(): Promise<void> {
    await super.skipChecks();
    if (!this.conf.features.uefi_secure_boot) throw new SkipException('[compute-feature-enabled] uefi_secure_boot is False');
  }

  // mirrors: whitebox test_uefi.py TestUEFIBoot.test_uefi_secure_boot
  @idempotentId('a2e4d711-679d-4a77-b43b-62da8f55080e')
  @attr('smoke')
  async test_uefi_secure_boot_required(): Promise<void> {
    const server = await this.createTestServer({ image: this.conf.uefi.secure_boot_image_properties });
    const dom = await this.getServerXml(server.id);
    this.validateUefiOsXml(dom, true);
    this.assertEqual(find(dom, './features/smm')?.attrs.state, 'on', "<smm state='on'/> with Secure Boot");
    const want = await this.expectedFirmware(this.getHostForServer(server.id), {
      arch: this.conf.uefi.arch,
      machine: this.conf.uefi.expected_machine,
      secure: true,
    });
    this.assertEqual(find(dom, './os/loader')?.text, want.executable);
    this.assertEqual(find(dom, './os/nvram')?.attrs.template, want.nvram_template);
    if (this.conf.uefi.expected_secure_loader) this.assertEqual(find(dom, './os/loader')?.text, this.conf.uefi.expected_secure_loader);
    if (this.conf.uefi.expected_secure_nvram_template) this.assertEqual(find(dom, './os/nvram')?.attrs.template, this.conf.uefi.expected_secure_nvram_template);
    const view = await this.instanceView(server.id);
    this.assertEqual(view.firmware?.secure, true);
    this.assertEqual(view.firmware?.requires_smm, true);
    this.assertEqual(view.system_metadata.image_os_secure_boot, 'required');
  }

  // new (policy 'optional': Secure Boot when the host can, plain UEFI otherwise)
  @idempotentId('2e428f09-6d7e-4243-a93c-80ff1350fadf')
  async test_uefi_secure_boot_optional(): Promise<void> {
    const server = await this.createTestServer({ image: { ...this.conf.uefi.image_properties, os_secure_boot: 'optional' } });
    const host = this.getHostForServer(server.id);
    const caps = await this.serversClient.driver(host).capabilities();
    const capable = Boolean(caps.capabilities.supports_secure_boot);
    const dom = await this.getServerXml(server.id);
    this.validateUefiOsXml(dom, capable);
    this.assertEqual(this.serversClient.showServer(server.id).status, 'ACTIVE');
  }

  // new
  @idempotentId('3ee498bc-5c80-4a73-96b1-254ea0dda7f5')
  @attr('negative')
  @requiresFeature('firmware_reconfiguration')
  async test_secure_boot_required_unsupported_host(): Promise<void> {
    const host = this.hosts[this.hosts.length - 1];
    const hc = getHostControl();
    this.addCleanup(() => hc.restart(host, {}));
    await hc.restart(host, { firmware: { secure_boot: 'false' } });
    const caps = await this.serversClient.driver(host).capabilities();
    this.assertFalse(caps.capabilities.supports_secure_boot, 'host reconfigured without Secure Boot');
    const server = await this.createTestServer({ image: this.conf.uefi.secure_boot_image_properties, host, waitUntil: null });
    const e = await this.assertRaises(BuildErrorException, () => waitForServerStatus(this.serversClient, server.id, 'ACTIVE'));
    this.assertIn('Secure Boot is not supported', e.fault?.message ?? '', `fault: ${JSON.stringify(e.fault)}`);
  }

  // new
  @idempotentId('7b01afb2-25e1-42b1-a301-d8e7c5b437e2')
  @attr('negative')
  async test_secure_boot_flavor_image_conflict(): Promise<void> {
    const uuid = randomUUID();
    const driver = this.drivers.get(this.hosts[0])!;
    this.addCleanup(async () => {
      await driver.call(uuid, 'destroy', { instance: { uuid, id: 1 }, network_info: [], destroy_disks: true });
    });
    const flavor = { ...this.flavorRef, extra_specs: { ...this.flavorRef.extra_specs, 'os:secure_boot': 'disabled' } };
    const e = await this.assertRaises(RestClientException, () =>
      driver.call(uuid, 'spawn', {
        instance: { uuid, id: 990001, host: this.hosts[0], vcpus: flavor.vcpus, memory_mb: flavor.memory_mb, flavor, system_metadata: {} },
        image_meta: { properties: this.conf.uefi.secure_boot_image_properties },
        flavor,
        network_info: [],
        block_device_info: null,
        power_on: true,
        admin_password: null,
        injected_files: [],
        allocations: {},
      }),
    );
    this.assertEqual(e.status, 400, e.message);
    this.assertEqual(e.type, 'FlavorImageConflict', e.message);
    this.assertIsNotNone(e.requestId, 'error carries X-OpenStack-Request-ID');
  }

  // new
  @idempotentId('ec353858-f63c-4db1-940c-3809540d9cf5')
  @attr('negative')
  async test_secure_boot_requires_q35(): Promise<void> {
    const server = await this.createTestServer({ image: { ...this.conf.uefi.secure_boot_image_properties, hw_machine_type: 'pc' }, waitUntil: null });
    const e = await this.assertRaises(BuildErrorException, () => waitForServerStatus(this.serversClient, server.id, 'ACTIVE'));
    this.assertIsNotNone(e.fault);
  }
}
