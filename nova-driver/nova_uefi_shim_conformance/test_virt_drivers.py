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

"""Nova's generic driver contract (``test_virt_drivers.LibvirtConnTestCase``).

Four classes, all Nova's own ``LibvirtConnTestCase`` of the running release:

* ``StockLibvirtConnTestCase``: unchanged (stock ``LibvirtDriver``);
* ``UEFIShimLibvirtConnTestCase``: ``UEFIShimDriver`` with a real sidecar
  process behind it (its own port, NVRAM and state directories);
* ``StockLibvirtConnUEFITestCase`` and ``UEFIShimLibvirtConnUEFITestCase``:
  the same two, with the contract's test instance and image asking for
  UEFI (``hw_firmware_type=uefi``, ``hw_machine_type=q35``), so that
  spawn, reboot, rescue, power and destroy go through the sidecar's
  firmware pin and store instead of Nova's BIOS path.

Nothing of Nova's test bodies is changed: the driver class Nova's setUp
names is replaced (``driver_module``), and the sidecar is started and
``[uefi_shim] url`` set before the driver is constructed.
"""

import atexit
import os
import tempfile

from testtools import content

from nova.tests.unit import utils as test_utils
from nova.tests.unit.virt import test_virt_drivers as nova_contract
from nova.virt.uefi_shim import conf as shim_conf

from nova_uefi_shim_tests.functional import fixtures as shim_fixtures

import nova.conf

CONF = nova.conf.CONF
shim_conf.register_opts(CONF)

#: What the UEFI variants put on the contract's image (and instance).
UEFI_IMAGE_PROPERTIES = {'hw_firmware_type': 'uefi',
                         'hw_machine_type': 'q35'}

#: The sidecar's [DEFAULT] host: the contract calls init_host('myhostname').
SIDECAR_HOST = 'myhostname'


class _UEFIImages(object):
    """The contract's test instance and image ask for UEFI."""

    def _setup_fakelibvirt(self):
        super(_UEFIImages, self)._setup_fakelibvirt()
        orig_image = test_utils.get_test_image_object
        orig_instance = test_utils.get_test_instance

        def get_test_image_object(context, instance_ref):
            image_meta = orig_image(context, instance_ref)
            for name, value in UEFI_IMAGE_PROPERTIES.items():
                setattr(image_meta.properties, name, value)
            return image_meta

        def get_test_instance(context=None, flavor=None, obj=False):
            instance = orig_instance(context=context, flavor=flavor, obj=obj)
            if obj:
                # (a database row, obj=False, only ever meets a driver
                # that refuses it as not running)
                sysmeta = dict(instance.system_metadata or {})
                sysmeta.update(('image_%s' % k, v)
                               for k, v in UEFI_IMAGE_PROPERTIES.items())
                instance.system_metadata = sysmeta
                instance.save()
            return instance

        self.stub_out('nova.tests.unit.utils.get_test_image_object',
                      get_test_image_object)
        self.stub_out('nova.tests.unit.utils.get_test_instance',
                      get_test_instance)


#: One sidecar per test process (started at the first test that needs it,
#: stopped at exit): a sidecar takes seconds to start, a contract test
#: milliseconds. Every test leaves it as it found it (see _empty_sidecar).
_SIDECAR = None


def _shared_sidecar():
    global _SIDECAR
    if _SIDECAR is None:
        port = shim_fixtures.free_port()
        sidecar = shim_fixtures.SidecarFixture(
            SIDECAR_HOST, port, {SIDECAR_HOST: port})
        # Nova's TestCase points tempfile at a directory of the running
        # test, removed when it ends: the sidecar's outlives the test.
        test_tempdir, tempfile.tempdir = tempfile.tempdir, None
        try:
            sidecar.setUp()
        finally:
            tempfile.tempdir = test_tempdir
        atexit.register(sidecar.cleanUp)
        _SIDECAR = sidecar
    elif _SIDECAR.process is None or _SIDECAR.process.poll() is not None:
        _SIDECAR.start()
    return _SIDECAR


class _WithShimDriver(object):
    """Nova's contract with UEFIShimDriver and a real sidecar behind it."""

    @property
    def driver_module(self):
        return 'nova.virt.uefi_shim.UEFIShimDriver'

    @driver_module.setter
    def driver_module(self, value):
        # LibvirtConnTestCase.setUp names the stock driver; kept for the
        # record, the property above wins.
        self.stock_driver_module = value

    def _setup_fakelibvirt(self):
        super(_WithShimDriver, self)._setup_fakelibvirt()
        reason = shim_fixtures.missing_prerequisites()
        if reason:
            self.skipTest(reason)
        self.sidecar = _shared_sidecar()
        self.sidecar_log_offset = os.path.getsize(self.sidecar.log_file)
        self.addCleanup(self._empty_sidecar)
        # read by the driver's constructor, which _VirtDriverTestCase.setUp
        # calls right after this
        self.flags(url=self.sidecar.url, group='uefi_shim')

    def _empty_sidecar(self):
        """Destroy what the test left in the sidecar; nothing may remain.

        Nova's contract does not delete every instance it spawns (each test
        has a fresh database, so the next one reuses the names): they are
        destroyed as Nova would, and the store directory must then be empty.
        """
        with open(self.sidecar.log_file) as f:
            f.seek(self.sidecar_log_offset)
            self.addDetail('sidecar-log', content.text_content(f.read()))
        listed = self.sidecar.request('GET', '/v1/instances')
        listed.raise_for_status()
        for inst in listed.json()['instances']:
            resp = self.sidecar.request(
                'POST', '/v1/instances/%s/destroy' % inst['uuid'],
                json={'instance': {'uuid': inst['uuid']},
                      'destroy_disks': True})
            self.assertEqual(200, resp.status_code, resp.text)
        self.assertEqual([], self.sidecar.store_files())


class StockLibvirtConnTestCase(nova_contract.LibvirtConnTestCase):
    """Nova's LibvirtConnTestCase, unchanged."""


class UEFIShimLibvirtConnTestCase(_WithShimDriver,
                                  nova_contract.LibvirtConnTestCase):
    """Nova's LibvirtConnTestCase with UEFIShimDriver and a sidecar."""


class StockLibvirtConnUEFITestCase(_UEFIImages,
                                   nova_contract.LibvirtConnTestCase):
    """Nova's LibvirtConnTestCase, UEFI guests, stock LibvirtDriver."""


class UEFIShimLibvirtConnUEFITestCase(_WithShimDriver, _UEFIImages,
                                      nova_contract.LibvirtConnTestCase):
    """Nova's LibvirtConnTestCase, UEFI guests, UEFIShimDriver + sidecar."""

    def test_uefi_guest_is_pinned_by_the_sidecar(self):
        """Not Nova's: this variant's guests really go through the sidecar.

        (The contract's own tests pass for BIOS guests without it.)
        """
        instance_ref, network_info = self._get_running_instance()
        view = self.sidecar.get_instance(instance_ref.uuid)
        self.assertIsNotNone(view, 'the sidecar does not know the instance')
        self.assertEqual(shim_fixtures.FIRMWARE['loader'],
                         view['firmware']['loader'])
        self.assertEqual(['%s_VARS.fd' % instance_ref.name],
                         self.sidecar.store_files())
        self.connection.destroy(self.ctxt, instance_ref, network_info)
        self.assertEqual([], self.sidecar.store_files())
