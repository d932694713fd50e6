# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""UEFIShimDriver through Nova's API, with a real sidecar per host."""

import os

import fixtures

from nova.tests.functional.libvirt import test_uefi
from nova.virt.libvirt import driver as libvirt_driver
from nova.virt.uefi_shim import driver as shim_driver

from nova_uefi_shim_tests.functional import base

#: A vendor GUID of our own for the marker variable.
MARKER_GUID = '6c1e2a57-9b3d-4f0e-8a21-5d7c3b9e4f10'
MARKER_NAME = 'NovaUefiShimMarker'


class UEFIShimServersTest(base.UEFIShimTestBase):

    microversion = 'latest'

    def setUp(self):
        super(UEFIShimServersTest, self).setUp()
        self.uefi_image = self.create_image(
            'uefi_image', hw_machine_type='q35', hw_firmware_type='uefi')
        self.sb_image = self.create_image(
            'sb_image', hw_machine_type='q35', hw_firmware_type='uefi',
            os_secure_boot='required')

    def test_spawn_defines_the_sidecars_firmware(self):
        self.start_compute('compute1')
        sidecar = self.sidecars['compute1']

        server = self._create_server(
            image_uuid=self.uefi_image, networks='none')

        view = sidecar.get_instance(server['id'])
        self.assertIsNotNone(view, 'the sidecar has no record of the server')
        self.assertEqual(self.instance_name(server), view['instance_name'])
        self.assertEqual(base.shim_fixtures.FIRMWARE['loader'],
                         view['firmware']['loader'])
        self.assertFalse(view['firmware']['secure'])
        self.assertTrue(os.path.exists(sidecar.local_path(
            view['nvram']['path'])))
        self.assertEqual(sidecar.configured_nvram_dir,
                         os.path.dirname(view['nvram']['path']))
        self.assertGuestFirmware(
            self.last_xml(server), view['firmware'], view['nvram']['path'])

    def test_spawn_secure_boot(self):
        self.start_compute('compute1')
        sidecar = self.sidecars['compute1']
        # the trait comes from the sidecar's /v1/host/capabilities
        traits = self._get_provider_traits(self.compute_rp_uuids['compute1'])
        self.assertIn('COMPUTE_SECURITY_UEFI_SECURE_BOOT', traits)

        server = self._create_server(image_uuid=self.sb_image,
                                     networks='none')

        view = sidecar.get_instance(server['id'])
        self.assertTrue(view['firmware']['secure'])
        self.assertTrue(view['firmware']['requires_smm'])
        self.assertEqual(base.shim_fixtures.FIRMWARE['secure_loader'],
                         view['firmware']['loader'])
        self.assertGuestFirmware(
            self.last_xml(server), view['firmware'], view['nvram']['path'])

    def test_defined_xml_validates_against_domain_rng(self):
        self.start_compute('compute1')
        for image in (self.uefi_image, self.sb_image):
            server = self._create_server(image_uuid=image, networks='none')
            for xml in self.defined_xml[self.instance_name(server)]:
                self.assertDomainXmlValid(xml)

    def test_secure_boot_trait_follows_the_sidecar(self):
        self.start_sidecar('compute1', secure_boot=False)
        self.start_compute('compute1')
        traits = self._get_provider_traits(self.compute_rp_uuids['compute1'])
        self.assertNotIn('COMPUTE_SECURITY_UEFI_SECURE_BOOT', traits)

        server = self._create_server(image_uuid=self.sb_image,
                                     networks='none', expected_state='ERROR')

        self.assertIn('No valid host', server['fault']['message'])
        self.report('faults', case='Secure Boot image, no host offers it',
                    result=server['fault']['message'])

    def test_init_host_names_the_seams_it_uses(self):
        self.start_compute('compute1')
        lines = [line for line in self.stdlog.logger.output.splitlines()
                 if 'nova-uefi-shim on Nova' in line]
        self.assertEqual(1, len(lines), lines)
        for seam in ('firmware:', 'undefine:', 'rebuild:', 'stateless:'):
            self.assertIn(seam, lines[0])
        self.report('seams', case='init_host', result=lines[0].split(
            'uses: ', 1)[1])

    def test_init_host_refuses_a_nova_without_a_seam(self):
        # A Nova whose _configure_guest_by_virt_type lost its flavor
        # parameter (as if a release changed it) is refused, naming it.
        def changed(self, guest, instance, image_meta):
            pass

        # (MockPatchObject sets the function as it is; stub_out would wrap
        # it with the original's signature)
        self.useFixture(fixtures.MockPatchObject(
            libvirt_driver.LibvirtDriver, '_configure_guest_by_virt_type',
            new=changed))
        ex = self.assertRaises(shim_driver.UEFIShimMissingSeam,
                               self.start_compute, 'compute1')
        self.assertEqual(
            'uefi_shim.UEFIShimDriver cannot serve this Nova: seam '
            'LibvirtDriver._configure_guest_by_virt_type has no parameter '
            'flavor.', str(ex))

    def test_hard_reboot_and_stop_start_keep_nvram(self):
        self.start_compute('compute1')
        sidecar = self.sidecars['compute1']
        server = self._create_server(image_uuid=self.sb_image,
                                     networks='none')
        view = sidecar.get_instance(server['id'])
        path = view['nvram']['path']

        server = self._stop_server(server)
        sidecar.put_variable(server['id'], MARKER_GUID, MARKER_NAME, 'c0ffee')
        server = self._start_server(server)
        server = self._reboot_server(server, hard=True)

        self.assertEqual('c0ffee', sidecar.get_variable(
            server['id'], MARKER_GUID, MARKER_NAME))
        flags = self.undefine_flags_of(server)
        # one undefine for power on, one for the hard reboot
        self.assertEqual(2, len(flags), flags)
        for f in flags:
            self.assertFalse(f & base.VIR_DOMAIN_UNDEFINE_NVRAM, flags)
            self.assertTrue(f & base.VIR_DOMAIN_UNDEFINE_KEEP_NVRAM, flags)
        # every redefinition names the same pinned firmware and store
        for xml in self.defined_xml[self.instance_name(server)]:
            self.assertGuestFirmware(
                base.etree.fromstring(xml), view['firmware'], path)
        self.assertEqual(3, len(self.defined_xml[self.instance_name(server)]))

    def test_delete_removes_the_store(self):
        self.start_compute('compute1')
        sidecar = self.sidecars['compute1']
        server = self._create_server(image_uuid=self.uefi_image,
                                     networks='none')
        path = sidecar.local_path(
            sidecar.get_instance(server['id'])['nvram']['path'])
        self.assertTrue(os.path.exists(path))

        self._delete_server(server)

        self.assertIsNone(sidecar.get_instance(server['id']))
        self.assertFalse(os.path.exists(path))
        self.assertEqual([], sidecar.store_files())
        # libvirt itself was never asked to delete NVRAM
        for f in self.undefine_flags_of(server):
            self.assertFalse(f & base.VIR_DOMAIN_UNDEFINE_NVRAM)

    def test_bios_guest_is_not_sent_to_the_sidecar(self):
        self.start_compute('compute1')
        sidecar = self.sidecars['compute1']
        server = self._create_server(networks='none')

        self.assertIsNone(sidecar.get_instance(server['id']))
        self.assertIsNone(self.last_xml(server).find('./os/loader'))

    def test_sidecar_refusal_is_the_servers_fault(self):
        # Two hosts that both offer Secure Boot: a reschedule would try the
        # other one and end in MaxRetriesExceeded, hiding the reason.
        self.start_compute('compute1')
        self.start_compute('compute2')
        # Secure Boot on x86_64 needs q35; the sidecar refuses i440fx. The
        # trait is there, so only the driver can refuse.
        image = self.create_image(
            'sb_pc_image', hw_machine_type='pc', hw_firmware_type='uefi',
            os_secure_boot='required')

        server = self._create_server(image_uuid=image, networks='none',
                                     expected_state='ERROR')

        # The sidecar's SecureBootNotSupported, with its message, is the
        # server's fault: the build was aborted, not rescheduled.
        message = server['fault']['message']
        self.assertIn('Build of instance %s aborted' % server['id'], message)
        self.assertIn("Secure Boot is not supported by host: machine type "
                      "'pc' is not q35", message)
        errors = [n['payload']['nova_object.data']['fault']['nova_object.data']
                  for n in self.notifier.versioned_notifications
                  if n['event_type'] == 'instance.create.error']
        self.assertEqual(1, len(errors), errors)
        self.assertEqual('BuildAbortException', errors[0]['exception'])
        for sidecar in self.sidecars.values():
            self.assertEqual([], sidecar.store_files())
        self.report('faults', case='Secure Boot image on a pc machine type',
                    result=message)

    def test_unreachable_sidecar_is_a_clear_error(self):
        self.start_compute('compute1')
        self.sidecars['compute1'].stop()

        server = self._create_server(image_uuid=self.uefi_image,
                                     networks='none', expected_state='ERROR')

        self.assertIn('nova-uefi-shim sidecar', server['fault']['message'])
        self.assertIn('unreachable', server['fault']['message'])
        self.report('faults', case='sidecar unreachable at create',
                    result=server['fault']['message'])


class StockNovaUEFITest(test_uefi.UEFIServersTest):
    """Baseline: Nova's own test_uefi with the stock LibvirtDriver."""

    def _setup_compute_service(self):
        self.flags(api_paste_config=base.API_PASTE_INI, group='wsgi')
        return super(StockNovaUEFITest, self)._setup_compute_service()
