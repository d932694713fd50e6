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

"""The operations of test_operations on two aarch64 compute hosts.

Nova's fake libvirt answers for an aarch64 host when ``os.uname`` (its
capabilities' host template) and the connection's ``HostInfo.arch`` say
so: the LibvirtFixture mocks ``os.uname`` to x86_64 "so that tests perform
the same on all host architectures"; these tests re-aim that mock before
the computes start. Each host's sidecar reports aarch64 too (``[debug]
host_arch``) and serves Debian's AAVMF (qemu-efi-aarch64) from its
``[firmware:aarch64]`` map. Nova 26's libvirt driver then builds its
aarch64 guest (machine type ``virt``, a host-passthrough CPU, virtio video,
USB tablet and keyboard); the loader, template and store path are the
sidecar's, without SMM.
"""

import os
import struct

import fixtures

from nova.objects import fields
from nova.tests.fixtures import libvirt as fakelibvirt

from nova_uefi_shim_tests.functional import fixtures as shim_fixtures
from nova_uefi_shim_tests.functional import test_operations as ops

AARCH64 = fields.Architecture.AARCH64


def formatted_empty_store(template):
    """What AAVMF writes over Debian's all-zero VARS at its first boot.

    The edk2 firmware volume of ``template`` (a formatted store of the same
    build, e.g. ``AAVMF_VARS.ms.fd``) with every variable record erased:
    the FV and variable store headers as the firmware writes them, 0xFF
    where records go.
    """
    with open(template, 'rb') as f:
        data = bytearray(f.read())
    if data[0x28:0x2c] != b'_FVH':
        raise ValueError('%s is not an edk2 firmware volume' % template)
    header_length = struct.unpack_from('<H', data, 0x30)[0]
    store_size = struct.unpack_from('<I', data, header_length + 16)[0]
    # VARIABLE_STORE_HEADER is 28 bytes; the records follow it
    start, end = header_length + 28, header_length + store_size
    data[start:end] = b'\xff' * (end - start)
    return bytes(data)


class Aarch64OperationsTest(ops._TwoHostsBase):
    """A UEFI and a Secure Boot aarch64 server through Nova's operations."""

    def setUp(self):
        for path in shim_fixtures.AAVMF_FIRMWARE.values():
            if path.startswith('/') and not os.path.exists(path):
                self.skipTest('%s is missing (Debian package '
                              'qemu-efi-aarch64)' % path)
        super(Aarch64OperationsTest, self).setUp()
        # NOTE(uefi_shim): Nova >= 31 compares the guest CPU with the
        # destination's before a live migration; Nova's fake libvirt answers
        # "incompatible" for these faked aarch64 hosts (no CPU model to
        # compare), which is not what this suite tests.
        self.useFixture(fixtures.MockPatch(
            'nova.virt.libvirt.driver.LibvirtDriver._compare_cpu',
            return_value=None))
        self.arm_image = self.create_image(
            'arm_image', hw_architecture=AARCH64, hw_firmware_type='uefi',
            hw_machine_type='virt')
        self.arm_sb_image = self.create_image(
            'arm_sb_image', hw_architecture=AARCH64, hw_firmware_type='uefi',
            hw_machine_type='virt', os_secure_boot='required')

    def start_sidecar(self, hostname, **kwargs):
        kwargs.update(arch=AARCH64, firmware=shim_fixtures.AAVMF_FIRMWARE)
        return super(Aarch64OperationsTest, self).start_sidecar(
            hostname, **kwargs)

    def start_compute(self, hostname='compute1', *args, **kwargs):
        # NOTE(uefi_shim): the fake connection's capabilities take the host
        # template of os.uname().machine (LibvirtFixture mocks it to
        # x86_64), getInfo the HostInfo's arch.
        self.libvirt.mock_uname.return_value = fakelibvirt.os_uname(
            'Linux', '', '5.4.0-0-generic', '', AARCH64)
        host_info = fakelibvirt.HostInfo(
            cpu_nodes=2, cpu_sockets=1, cpu_cores=2, cpu_threads=2)
        host_info.arch = AARCH64
        kwargs['host_info'] = host_info
        return super(Aarch64OperationsTest, self).start_compute(
            hostname, *args, **kwargs)

    def assertArmGuest(self, server, step):
        """What Nova built is an aarch64 guest booting the sidecar's AAVMF."""
        xml = self.last_xml(server)
        os_type = xml.find('./os/type')
        self.assertEqual(AARCH64, os_type.get('arch'), step)
        self.assertTrue(os_type.get('machine', '').startswith('virt'),
                        '%s: machine %s' % (step, os_type.get('machine')))
        loader = xml.findtext('./os/loader')
        self.assertTrue(
            loader.startswith(shim_fixtures.AAVMF_DIR + '/'),
            '%s: loader %s' % (step, loader))
        self.assertEqual([], xml.findall('./features/smm'), step)

    def assertNovaArmDevices(self, server):
        """The XML of the spawn went through Nova's aarch64 paths."""
        xml = ops.base.etree.fromstring(
            self.defined_xml[self.instance_name(server)][0])
        self.assertEqual('host-passthrough', xml.find('./cpu').get('mode'))
        self.assertEqual(['virtio'],
                         [m.get('type') for m in xml.findall(
                             './devices/video/model')])
        self.assertEqual(
            [('tablet', 'usb'), ('keyboard', 'usb')],
            [(i.get('type'), i.get('bus'))
             for i in xml.findall('./devices/input')])

    def _every_operation(self, kind, image, secure):
        small, medium, _ = self.flavors(secure)
        server = self._create_server(image_uuid=image, flavor_id=small,
                                     host='compute1', networks='none')
        self.assertNovaArmDevices(server)
        view = self.sidecars['compute1'].get_instance(server['id'])
        firmware = view['firmware']
        self.assertEqual(secure, firmware['secure'])
        self.assertFalse(firmware['requires_smm'])
        self.assertEqual(
            shim_fixtures.AAVMF_FIRMWARE[
                'secure_loader' if secure else 'loader'],
            firmware['loader'])
        self.assertEqual(
            shim_fixtures.AAVMF_FIRMWARE[
                'secure_nvram_template' if secure else 'nvram_template'],
            firmware['nvram_template'])

        def first_boot(s):
            # NOTE(uefi_shim): Debian's AAVMF_VARS.fd is all zeros: AAVMF
            # formats the store at its first boot. Until then the variable
            # API refuses it (422, reason unformatted); the fake libvirt
            # runs no firmware, so the test writes what AAVMF would, while
            # the guest runs, as QEMU's pflash would.
            sidecar = self.sidecars[self.owner(s)]
            resp = sidecar.request(
                'GET', '/v1/instances/%s/nvram/variables' % s['id'])
            if resp.status_code == 200:
                # Debian 13 and later ship a formatted AAVMF_VARS.fd.
                return s
            self.assertEqual(422, resp.status_code, resp.text)
            self.assertIn('unformatted', resp.text)
            path = sidecar.local_path(
                sidecar.get_instance(s['id'])['nvram']['path'])
            with open(path, 'r+b') as f:
                f.write(formatted_empty_store(
                    shim_fixtures.AAVMF_FIRMWARE['secure_nvram_template']))
            return s

        hosts = []
        if secure:
            # AAVMF_VARS.ms.fd is formatted, with Microsoft's keys enrolled
            create = ('create', lambda s: s, None)
        else:
            create = ('create + first boot (AAVMF formats the store)',
                      first_boot, None)
        for name, action, marker in [
                create,
                ('stop/start (marker written while stopped)',
                 self._stop_mark_start, ops.MARKER),
                ('hard reboot', lambda s: self._reboot_server(s, hard=True),
                 ops.MARKER),
                ('resize to the other host + confirm',
                 lambda s: self._resize_confirm(s, medium), ops.MARKER),
                ('cold migrate + confirm', self._migrate_confirm, ops.MARKER),
                ('live migrate', self._live_migrate, ops.MARKER)]:
            server = self.run_steps(kind, server, [(name, action, marker)])
            self.assertArmGuest(server, '%s %s' % (kind, name))
            hosts.append(self.owner(server))
        self.assertEqual(
            ['compute1'] * 3 + ['compute2', 'compute1', 'compute2'], hosts,
            'each move went where it should')
        self.assertEqual(1, len(self.migrated_xml[self.instance_name(server)]))
        self._validate_and_delete(kind, server)

    def test_aarch64_uefi_server_through_the_operations(self):
        self._every_operation('aarch64', self.arm_image, secure=False)

    def test_aarch64_secure_boot_server_through_the_operations(self):
        self._every_operation('aarch64-secure-boot', self.arm_sb_image,
                              secure=True)
