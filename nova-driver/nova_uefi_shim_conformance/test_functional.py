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

"""Nova's own functional UEFI tests, stock and with the driver.

``test_uefi.UEFIServersTest`` on every release and
``test_stateless_firmware.LibvirtStatelessFirmwareTest`` where the release has
it (Nova >= 2024.2), each twice: ``Stock...`` unchanged (stock
``LibvirtDriver``; only Nova's ``api-paste.ini`` is pointed at, as Debian ships
it outside the package), ``UEFIShim...`` with ``UEFIShimDriver`` and a sidecar
per compute host.
"""

import os

import fixtures
from nova.virt import libvirt as nova_libvirt

from nova.tests.functional.libvirt import test_uefi

from nova_uefi_shim_tests.functional import base as shim_base
from nova_uefi_shim_tests.functional import fixtures as shim_fixtures
from nova_uefi_shim_tests.functional import test_operations

try:
    from nova.tests.functional.libvirt import test_stateless_firmware
except ImportError:  # Nova < 2024.2 has no stateless firmware
    test_stateless_firmware = None

#: The stateless build the sidecars map (the release's unified OVMF image).
STATELESS_LOADER = test_operations.STATELESS_LOADER


class _NovaApiPaste(object):
    """Point Nova's API fixture at the release's api-paste.ini."""

    def _setup_compute_service(self):
        super(_NovaApiPaste, self)._setup_compute_service()
        self.flags(api_paste_config=shim_base.API_PASTE_INI, group='wsgi')


class StockUEFIServersTest(_NovaApiPaste, test_uefi.UEFIServersTest):
    """Nova's test_uefi.UEFIServersTest, stock LibvirtDriver."""


class UEFIShimUEFIServersTest(test_operations.NovaUEFITestWithShimDriver):
    """Nova's test_uefi.UEFIServersTest with UEFIShimDriver (see the base)."""


if test_stateless_firmware is not None:

    class StockLibvirtStatelessFirmwareTest(
            _NovaApiPaste,
            test_stateless_firmware.LibvirtStatelessFirmwareTest):
        """Nova's test_stateless_firmware, stock LibvirtDriver."""

    class UEFIShimLibvirtStatelessFirmwareTest(
            shim_base.UEFIShimTestBase,
            test_stateless_firmware.LibvirtStatelessFirmwareTest):
        """Nova's test_stateless_firmware with UEFIShimDriver and sidecars.

        Each host's sidecar maps a stateless build (``stateless_loader``,
        the release's unified OVMF image) beside the usual split builds:
        the driver reports COMPUTE_SECURITY_STATELESS_FIRMWARE because its
        sidecar can pin one, and the XML names that file with
        ``<loader stateless='yes'>`` and no ``<nvram>``.
        """

        #: Nova's setUp starts compute1 before UEFIShimTestBase.setUp
        #: would set it; every sidecar keeps its own store directory.
        nvram_mount = None

        def setUp(self):
            if not os.path.exists(STATELESS_LOADER):
                self.skipTest('%s is missing (Debian package ovmf)' %
                              STATELESS_LOADER)
            # NOTE(uefi_shim): Nova's setUp records every host's guest
            # config through compute1's driver object (its wrapper calls
            # the method bound to compute1). Stock LibvirtDriver keeps no
            # per-host state there; UEFIShimDriver's firmware pin is held
            # by each host's own sidecar, so compute2's unshelve or
            # evacuation would be configured from compute1's sidecar. The
            # same recording, through the driver object Nova called:
            unpatched = nova_libvirt.LibvirtDriver._get_guest_config
            super(UEFIShimLibvirtStatelessFirmwareTest, self).setUp()

            def _get_guest_config(driver, *args, **kwargs):
                config = unpatched(driver, *args, **kwargs)
                self.guest_configs[args[0].uuid] = config
                return config

            self.useFixture(fixtures.MonkeyPatch(
                'nova.virt.libvirt.LibvirtDriver._get_guest_config',
                _get_guest_config))

        def start_sidecar(self, hostname, **kwargs):
            firmware = dict(shim_fixtures.FIRMWARE,
                            stateless_loader=STATELESS_LOADER)
            kwargs.setdefault('firmware', firmware)
            return super(UEFIShimLibvirtStatelessFirmwareTest,
                         self).start_sidecar(hostname, **kwargs)

        def _assert_server_has_stateless_firmware(self, server_id):
            config = self.guest_configs[server_id]
            super(UEFIShimLibvirtStatelessFirmwareTest,
                  self)._assert_server_has_stateless_firmware(server_id)
            # ... and it is the sidecar's stateless pin, with no store
            self.assertEqual(STATELESS_LOADER, config.os_loader)
            self.assertIsNone(config.os_nvram)
            self.assertIsNone(config.os_nvram_template)
