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

"""Nova's libvirt functional framework with UEFIShimDriver and sidecars.

Real nova-api, conductor, scheduler, placement and compute services run in
this process against Nova's fake libvirt; each compute host gets its own
sidecar process (fixtures.SidecarFixture) and a driver pointed at it.
"""

import copy
import datetime
import json
import os
import shutil
import subprocess
import tempfile
import time

import fixtures
from lxml import etree
from oslo_utils.fixture import uuidsentinel as uuids

from nova import conf
from nova.tests.fixtures import libvirt as fakelibvirt
from nova.tests.functional.libvirt import base
from nova.virt.uefi_shim import conf as shim_conf

from nova_uefi_shim_tests.functional import fixtures as shim_fixtures

CONF = conf.CONF
# the driver registers [uefi_shim] when nova-compute loads it; tests set
# its options before that
shim_conf.register_opts(CONF)

#: Nova's functional API fixture needs api-paste.ini; Debian ships it in
#: nova-common, which python3-nova does not pull in. The file differs
#: between releases (Nova 33's healthcheck is an app, not a filter):
#: scripts/nova-release.sh puts each release's own next to its package;
#: the copy in this directory is Nova 26's.
API_PASTE_INI = next(
    path for path in (
        '/usr/lib/python3/dist-packages/etc/nova/api-paste.ini',
        '/usr/share/nova-common/api-paste.ini',
        os.path.join(os.path.dirname(os.path.abspath(__file__)),
                     'api-paste.ini'))
    if os.path.exists(path))

VIR_DOMAIN_UNDEFINE_NVRAM = 4
VIR_DOMAIN_UNDEFINE_KEEP_NVRAM = 8


#: The compute hosts a test may start, each with a sidecar; every sidecar
#: knows the others as peers.
HOSTS = ('compute1', 'compute2', 'compute3')


def keep_defined_firmware(answer, defined):
    """``answer`` with the <os> and <features> of ``defined``."""
    if not defined:
        return answer
    tree = etree.fromstring(answer)
    given = etree.fromstring(defined)
    for tag in ('os', 'features'):
        mine, theirs = tree.find(tag), given.find(tag)
        if theirs is None:
            continue
        if mine is not None:
            tree.replace(mine, copy.deepcopy(theirs))
        else:
            tree.append(copy.deepcopy(theirs))
    return etree.tostring(tree, encoding='unicode')


def install_fake_libvirt_stubs(test):
    """Watch and mend Nova's fake libvirt for a test (or a bench round).

    ``test.defined_xml``: domain name -> every XML Nova defined, in order;
    ``test.undefines``: (domain name, undefineFlags flags) of every undefine.
    """
    #: domain name -> every XML Nova defined for it, in order
    test.defined_xml = {}
    #: (domain name, undefineFlags flags) for every undefine
    test.undefines = []

    from nova.virt.libvirt import host as libvirt_host
    orig_write = libvirt_host.Host.write_instance_config

    def write_instance_config(host_self, xml):
        name = etree.fromstring(xml).findtext('name')
        test.defined_xml.setdefault(name, []).append(xml)
        return orig_write(host_self, xml)

    test.stub_out(
        'nova.virt.libvirt.host.Host.write_instance_config',
        write_instance_config)

    # NOTE(uefi_shim): Nova's fake libvirt answers XMLDesc from a
    # template with its own <os> and <features>: a domain redefined from
    # it (unrescue.xml, the live snapshot's redefinition) would lose the
    # firmware that real libvirt keeps. Keep the defined ones.
    orig_parse = fakelibvirt.Domain._parse_definition
    orig_desc = fakelibvirt.Domain.XMLDesc

    def parse_definition(dom_self, xml):
        dom_self.uefi_shim_defined_xml = xml
        return orig_parse(dom_self, xml)

    def xml_desc(dom_self, flags):
        return keep_defined_firmware(
            orig_desc(dom_self, flags),
            getattr(dom_self, 'uefi_shim_defined_xml', None))

    test.stub_out('nova.tests.fixtures.libvirt.Domain._parse_definition',
                  parse_definition)
    test.stub_out('nova.tests.fixtures.libvirt.Domain.XMLDesc', xml_desc)

    orig_undefine_flags = fakelibvirt.Domain.undefineFlags

    def undefine_flags(dom_self, flags):
        test.undefines.append((dom_self.name(), flags))
        return orig_undefine_flags(dom_self, flags)

    test.stub_out(
        'nova.tests.fixtures.libvirt.Domain.undefineFlags',
        undefine_flags)


class UEFIShimTestBase(base.ServersTestBase):
    """ServersTestBase with compute_driver = uefi_shim.UEFIShimDriver."""

    COMPUTE_DRIVER = 'uefi_shim.UEFIShimDriver'
    ADMIN_API = True

    def setUp(self):
        reason = shim_fixtures.missing_prerequisites()
        if reason:
            self.skipTest(reason)
        self.sidecars = {}
        #: keyword arguments every start_sidecar gets (e.g. ``replicas``)
        self.sidecar_options = {}
        self.sidecar_ports = {h: shim_fixtures.free_port() for h in HOSTS}
        super(UEFIShimTestBase, self).setUp()
        #: the [nvram] nvram_dir every host uses (each its own directory
        #: bind-mounted there), when mount namespaces are available
        self.nvram_mount = None
        if shim_fixtures.namespaces_available():
            self.nvram_mount = os.path.join(
                self.useFixture(fixtures.TempDir()).path, 'nvram')
            os.mkdir(self.nvram_mount)

        install_fake_libvirt_stubs(self)

    def _setup_compute_service(self):
        # NOTE: called by _IntegratedTestBase.setUp before the API fixture
        # loads api-paste.ini; computes are started by the tests.
        self.flags(compute_driver=self.COMPUTE_DRIVER)
        self.flags(api_paste_config=API_PASTE_INI, group='wsgi')

    def start_sidecar(self, hostname, **kwargs):
        kwargs.setdefault('nvram_mount', self.nvram_mount)
        for key, value in self.sidecar_options.items():
            kwargs.setdefault(key, value)
        sidecar = self.useFixture(shim_fixtures.SidecarFixture(
            hostname, self.sidecar_ports[hostname], self.sidecar_ports,
            **kwargs))
        self.sidecars[hostname] = sidecar
        return sidecar

    def start_compute(self, hostname='compute1', *args, **kwargs):
        """Start a sidecar (unless one runs for hostname), then the compute.

        The driver reads [uefi_shim] url when it is constructed, so every
        compute service keeps its own sidecar although CONF is shared.
        ``sidecar=False`` starts none.
        """
        if kwargs.pop('sidecar', True) and hostname not in self.sidecars:
            self.start_sidecar(hostname)
        if hostname in self.sidecars:
            self.flags(url=self.sidecars[hostname].url, group='uefi_shim')
        return super(UEFIShimTestBase, self).start_compute(
            hostname, *args, **kwargs)

    # Helpers

    #: How long a migration may stay in a state Nova reports as under way
    #: (a busy machine makes an aarch64 live migration slower, not wrong).
    MIGRATION_WAIT = float(os.environ.get('NOVA_UEFI_SHIM_MIGRATION_WAIT',
                                          '180'))
    #: Seconds between two looks at the newest migration.
    MIGRATION_POLL = 0.2
    #: Migration states after which nothing changes any more.
    _MIGRATION_FINAL = ('completed', 'confirmed', 'reverted', 'error',
                        'failed', 'cancelled', 'done')

    def _wait_for_migration_status(self, server, expected_statuses):
        """Wait as long as Nova reports the server's migration under way.

        Nova's helper gives up after ten polls (5 s). Here the newest
        migration of the server is followed: returned once in one of
        ``expected_statuses``, a failure at once when it ends in another
        final state, and a failure only after MIGRATION_WAIT seconds of
        Nova reporting it under way.
        """
        api = getattr(self, 'admin_api', self.api)
        statuses = [status.lower() for status in expected_statuses]
        deadline = time.monotonic() + self.MIGRATION_WAIT
        newest = None
        while True:
            mark = self._migration_mark(server)
            mine = [m for m in api.api_get('/os-migrations').body['migrations']
                    if m['instance_uuid'] == server['id']]
            newest = max(mine, key=lambda m: m['id']) if mine else None
            status = newest['status'].lower() if newest else None
            if status in statuses:
                return newest
            if (newest is not None and status in self._MIGRATION_FINAL and
                    status not in ('completed', 'confirmed', 'reverted')):
                self.fail('migration %s of %s ended %s (expected %s)' % (
                    newest['id'], server['id'], status, expected_statuses))
            if time.monotonic() > deadline:
                self.fail('migration of %s still %s after %d s (expected %s)'
                          % (server['id'], status, self.MIGRATION_WAIT,
                             expected_statuses))
            self._next_migration_poll(server, mark, deadline)

    def _migration_mark(self, server):
        """What the next poll compares with (nothing: it just sleeps)."""
        return None

    def _next_migration_poll(self, server, mark, deadline):
        """Wait before asking the API for the migrations again."""
        time.sleep(self.MIGRATION_POLL)

    def report(self, table, **row):
        """Append a row to the suite's report (run-functional.sh prints it)."""
        path = os.environ.get('NOVA_UEFI_SHIM_REPORT')
        if not path:
            return
        row = dict(row, table=table, test=self.id().rsplit('.', 2)[-2])
        with open(path, 'a') as f:
            f.write(json.dumps(row, sort_keys=True) + '\n')

    def create_image(self, name, **properties):
        timestamp = datetime.datetime(2026, 1, 2, 3, 4, 5)
        image_id = getattr(uuids, name)
        self.glance.create(None, {
            'id': image_id,
            'name': name,
            'created_at': timestamp,
            'updated_at': timestamp,
            'deleted_at': None,
            'deleted': False,
            'status': 'active',
            'is_public': False,
            'container_format': 'bare',
            'disk_format': 'qcow2',
            'size': 74185822,
            'min_ram': 0,
            'min_disk': 0,
            'protected': False,
            'visibility': 'public',
            'tags': [],
            'properties': properties,
        })
        return image_id

    def instance_name(self, server):
        return server['OS-EXT-SRV-ATTR:instance_name']

    def last_xml(self, server):
        return etree.fromstring(
            self.defined_xml[self.instance_name(server)][-1])

    def undefine_flags_of(self, server):
        name = self.instance_name(server)
        return [flags for dom, flags in self.undefines if dom == name]

    def assertGuestFirmware(self, xml, firmware, nvram_path):
        """The domain XML carries exactly the sidecar's firmware choice."""
        loader = xml.find('./os/loader')
        self.assertIsNotNone(loader, 'no <loader> in the domain XML')
        self.assertEqual(firmware['loader'], loader.text)
        self.assertEqual('pflash', loader.get('type'))
        self.assertEqual('yes', loader.get('readonly'))
        self.assertEqual('yes' if firmware['secure'] else 'no',
                         loader.get('secure'))
        nvram = xml.find('./os/nvram')
        self.assertIsNotNone(nvram, 'no <nvram> in the domain XML')
        self.assertEqual(firmware['nvram_template'], nvram.get('template'))
        self.assertEqual(nvram_path, nvram.text)
        smm = xml.findall('./features/smm')
        if firmware['requires_smm']:
            self.assertEqual(1, len(smm))
            self.assertEqual('on', smm[0].get('state'))
            self.assertEqual(0, len(smm[0]), 'nested element in <smm>')
        else:
            self.assertEqual([], smm)

    def assertDomainXmlValid(self, xml):
        """libvirt's domain.rng accepts xml (virt-xml-validate + xmllint)."""
        if not (shutil.which('virt-xml-validate') and shutil.which('xmllint')):
            self.skipTest('virt-xml-validate (libvirt-clients) and xmllint '
                          '(libxml2-utils) are needed')
        with tempfile.NamedTemporaryFile('w', suffix='.xml') as f:
            f.write(xml)
            f.flush()
            proc = subprocess.run(
                ['virt-xml-validate', f.name, 'domain'],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                universal_newlines=True)
        self.assertEqual(0, proc.returncode, proc.stdout)
