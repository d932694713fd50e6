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
from oslo_utils.fixture import uuidsentinel as uuids

from nova.compute import task_states
from nova import exception
from nova import objects
from nova import test
from nova.tests import fixtures as nova_fixtures
from nova.tests.unit import fake_instance
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

    def test_storage_error_is_novas(self):
        # A store or state file the sidecar could not write (full disk,
        # read-only filesystem, I/O error): 507 with Nova's StorageError.
        message = ('Storage error: cannot write /var/lib/libvirt/qemu/nvram/'
                   'instance-00000001_VARS.fd: no space left on device '
                   '[ENOSPC]')
        exc = client.exception_from_error(507, {'error': {
            'type': 'StorageError', 'code': 507, 'message': message,
            'details': {'errno': 'ENOSPC', 'step': 'write'}}})
        self.assertIsInstance(exc, exception.StorageError)
        self.assertEqual(message, str(exc))
        self.assertEqual('ENOSPC', exc.sidecar_error['details']['errno'])

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


class InstanceBodyTestCase(test.NoDBTestCase):

    def test_carries_novas_domain_name_and_states(self):
        inst = fake_instance.fake_instance_obj(
            None, id=42, host='cmp1', task_state='rebuilding',
            vm_state='active')
        body = driver._instance_body(inst)
        self.assertEqual(inst.name, body['name'])
        self.assertEqual(42, body['id'])
        self.assertEqual('rebuilding', body['task_state'])
        self.assertEqual('active', body['vm_state'])

    def test_migration_body_drops_unset_fields(self):
        mig = objects.Migration(uuid=uuids.mig, source_compute='cmp1',
                                dest_compute='cmp2', dest_node=None)
        self.assertEqual({'uuid': uuids.mig, 'source_compute': 'cmp1',
                          'dest_compute': 'cmp2'},
                         driver._migration_body(mig))


class LeavingTestCase(test.NoDBTestCase):
    """Which destroy(destroy_disks=False) still deletes the store."""

    def setUp(self):
        super(LeavingTestCase, self).setUp()
        self.drv = driver.UEFIShimDriver.__new__(driver.UEFIShimDriver)
        self.drv._hostname = 'cmp1'

    def _leaving(self, host, task_state=None):
        inst = fake_instance.fake_instance_obj(None, host=host,
                                               task_state=task_state)
        return self.drv._leaving(inst)

    def test_hard_reboot_here_keeps_the_store(self):
        self.assertFalse(self._leaving('cmp1', task_states.REBOOTING_HARD))

    def test_revert_at_the_destination_drops_it(self):
        self.assertTrue(self._leaving('cmp1', task_states.RESIZE_REVERTING))

    def test_an_instance_that_lives_elsewhere_drops_it(self):
        # evacuated source coming back; live-migration rollback at dest
        self.assertTrue(self._leaving('cmp2'))


class NvramPathInXmlTestCase(test.NoDBTestCase):

    def setUp(self):
        super(NvramPathInXmlTestCase, self).setUp()
        self.drv = driver.UEFIShimDriver.__new__(driver.UEFIShimDriver)
        self.inst = fake_instance.fake_instance_obj(None, id=42)
        self.default = '/var/lib/libvirt/qemu/nvram/%s_VARS.fd' % (
            self.inst.name)

    def test_explicit_by_default(self):
        self.assertEqual(self.default, self.drv._nvram_path_for_xml(
            self.inst, self.default))

    def test_libvirts_default_left_out_when_configured(self):
        self.flags(explicit_nvram_path=False, group='uefi_shim')
        self.assertIsNone(self.drv._nvram_path_for_xml(
            self.inst, self.default))
        self.assertEqual('/srv/nvram/x_VARS.fd', self.drv._nvram_path_for_xml(
            self.inst, '/srv/nvram/x_VARS.fd'))


class EvacuateFlagTestCase(test.NoDBTestCase):
    """rebuild notes an evacuation; only the spawn that follows it sees it."""

    def setUp(self):
        super(EvacuateFlagTestCase, self).setUp()
        self.drv = driver.UEFIShimDriver.__new__(driver.UEFIShimDriver)
        self.drv._evacuating = set()
        self.drv._pins = {}
        self.drv._sidecar = mock.Mock()
        self.drv._sidecar.call.return_value = {}
        self.inst = fake_instance.fake_instance_obj(
            None, id=42, host='cmp2', task_state=task_states.REBUILD_SPAWNING)
        self.image_meta = objects.ImageMeta.from_dict(
            {'properties': {'hw_firmware_type': 'uefi',
                            'hw_machine_type': 'q35',
                            'hw_architecture': 'x86_64'}})

    def _spawn(self):
        with mock.patch.object(libvirt_driver.LibvirtDriver, 'spawn'):
            self.drv.spawn(None, self.inst, self.image_meta, [], None, {})
        return self.drv._sidecar.call.call_args[0][2]

    def test_rebuild_falls_back_to_novas_default(self):
        self.assertRaises(NotImplementedError, self.drv.rebuild, None,
                          self.inst, evacuate=True)

    def test_spawn_after_an_evacuating_rebuild_says_evacuate(self):
        self.assertRaises(NotImplementedError, self.drv.rebuild, None,
                          self.inst, evacuate=True)
        self.assertIs(True, self._spawn().get('evacuate'))
        # once only: the flag does not outlive its spawn
        self.assertNotIn('evacuate', self._spawn())

    def test_plain_rebuild_and_other_spawns_do_not(self):
        self.assertRaises(NotImplementedError, self.drv.rebuild, None,
                          self.inst, evacuate=False)
        self.assertNotIn('evacuate', self._spawn())
        # a stale flag is ignored outside a rebuild's spawn
        self.drv._evacuating.add(self.inst.uuid)
        self.inst.task_state = task_states.SPAWNING
        self.assertNotIn('evacuate', self._spawn())
