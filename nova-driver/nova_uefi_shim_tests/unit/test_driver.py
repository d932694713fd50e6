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

"""Seams the functional suite cannot reach through Nova's fake libvirt."""

from unittest import mock

from lxml import etree

from nova import exception
from nova import test
from nova.tests import fixtures as nova_fixtures
from nova.virt.libvirt import driver as libvirt_driver
from nova.virt.libvirt import guest as libvirt_guest
from nova.virt.uefi_shim import client
from nova.virt.uefi_shim import driver


class KeepNvramTestCase(test.NoDBTestCase):

    def setUp(self):
        super(KeepNvramTestCase, self).setUp()
        self.useFixture(nova_fixtures.LibvirtFixture())
        self.domain = mock.Mock()
        self.drv = driver.UEFIShimDriver.__new__(driver.UEFIShimDriver)

    def test_delete_configuration_keeps_nvram(self):
        # Nova 26 calls delete_configuration(support_uefi) positionally
        driver._KeepNvramGuest(self.domain).delete_configuration(True)
        # VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | VIR_DOMAIN_UNDEFINE_KEEP_NVRAM
        self.domain.undefineFlags.assert_called_once_with(1 | 8)
        self.domain.undefine.assert_not_called()

    @mock.patch.object(libvirt_driver.LibvirtDriver, '_live_snapshot',
                       autospec=True)
    def test_live_snapshot_undefines_with_a_keeping_guest(self, mock_super):
        guest = libvirt_guest.Guest(self.domain)
        self.drv._live_snapshot(mock.sentinel.ctxt, mock.sentinel.instance,
                                guest, 'disk', 'out', 'qcow2', 'qcow2',
                                mock.sentinel.image_meta)
        passed = mock_super.call_args[0][2]
        self.assertIsInstance(passed, driver._KeepNvramGuest)
        self.assertIs(self.domain, passed._domain)
        self.assertEqual(('disk', 'out', 'qcow2', 'qcow2',
                          mock.sentinel.image_meta),
                         mock_super.call_args[0][3:])

    @mock.patch.object(libvirt_driver.LibvirtDriver, '_swap_volume',
                       autospec=True)
    def test_swap_volume_undefines_with_a_keeping_guest(self, mock_super):
        guest = libvirt_guest.Guest(self.domain)
        self.drv._swap_volume(guest, 'vdb', mock.sentinel.conf, 0, 'uefi')
        passed = mock_super.call_args[0][0]
        self.assertIsInstance(passed, driver._KeepNvramGuest)
        self.assertEqual(('vdb', mock.sentinel.conf, 0, 'uefi'),
                         mock_super.call_args[0][1:])


class SMMFeatureTestCase(test.NoDBTestCase):

    def test_smm_is_one_element(self):
        xml = etree.tostring(
            driver._LibvirtConfigGuestFeatureSMM().format_dom())
        self.assertEqual(b'<smm state="on"/>', xml)


class ExceptionFromErrorTestCase(test.NoDBTestCase):

    def test_nova_exception_named_by_the_sidecar(self):
        exc = client.exception_from_error(400, {'error': {
            'type': 'SecureBootNotSupported', 'code': 400,
            'message': "machine type 'pc' is not q35"}})
        self.assertIsInstance(exc, exception.SecureBootNotSupported)
        self.assertEqual("machine type 'pc' is not q35", str(exc))

    def test_unknown_type_keeps_the_name_and_message(self):
        exc = client.exception_from_error(422, {'error': {
            'type': 'InvalidNVRAM', 'code': 422, 'message': 'unformatted'}})
        self.assertIsInstance(exc, client.SidecarError)
        self.assertIn('InvalidNVRAM', str(exc))
        self.assertIn('unformatted', str(exc))

    def test_not_an_exception_class(self):
        exc = client.exception_from_error(500, {'error': {
            'type': 'LOG', 'code': 500, 'message': 'x'}})
        self.assertIsInstance(exc, client.SidecarError)

    def test_answer_without_error_object(self):
        exc = client.exception_from_error(502, None)
        self.assertIsInstance(exc, client.SidecarError)
        self.assertIn('HTTP 502', str(exc))
