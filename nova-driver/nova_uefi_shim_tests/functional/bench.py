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

"""Time Nova's operations with UEFIShimDriver against the stock LibvirtDriver.

``python3 -m nova_uefi_shim_tests.functional.bench --rounds N --servers M
--out FILE`` (from ``nova-driver/``; ``npm run bench`` runs it as its ``nova``
section). Each round starts one cloud on Nova's functional framework (API,
conductor, scheduler, placement) with both drivers in it: compute1 and
compute2 run UEFIShimDriver, each with its sidecar (``[hypervisor] backend =
nova``), compute3 and compute4 the stock LibvirtDriver, all on the fake
libvirt. Each pair is an availability zone, so every move stays on its
driver. One UEFI server per driver goes through create, hard reboot, resize
+ confirm, cold migrate + confirm, live migrate and delete, the two servers
taking each operation in turn, the order alternating from one operation to
the next (ABBA); M such pairs after one untimed pair that warms both sides
up. Then, on a second cloud whose four hosts are aarch64 (as
``test_aarch64`` fakes them: AAVMF, a 64 MiB store), the same for a live
migration. Both drivers share the cloud's processes, database and load at
the same moment, so the difference is what the sidecar's HTTP calls and
store work add. Both sides mock the same disk copy
(``LibvirtDriver.migrate_disk_and_power_off``, as Nova's own tests do) and
stub the same live-migration hand-over. Writes one JSON document:
``{"samples": [{"driver", "op", "turn", "ms"}], "skipped": reason | null}``.
Not a test (its methods are not named ``test_*``; stestr does not collect
it). ``NOVA_UEFI_SHIM_SIDECAR=dist`` runs the sidecars compiled (``npm run
bench`` does).
"""

import argparse
import json
import sys
import time
import unittest
from urllib import parse

import fixtures

from nova import context
from nova.db.main import api as nova_db
from nova import exception
from nova.objects import fields
from nova.tests.fixtures import libvirt as fakelibvirt
from nova.tests.functional.api import client as api_client

from nova_uefi_shim_tests.functional import base
from nova_uefi_shim_tests.functional import fixtures as shim_fixtures

AARCH64 = fields.Architecture.AARCH64

OPERATIONS = ('create', 'hard reboot', 'resize + confirm',
              'cold migrate + confirm', 'live migrate', 'delete',
              'live migrate (aarch64)')

SETTINGS = {'servers': 3, 'samples': [], 'turn': 0}


class _FineRpcClock(object):
    """``time`` for oslo.messaging's fake transport, its poll made finer.

    Its listener looks for a message every 0.05 s, so every RPC hop of an
    operation (API to compute, compute to conductor, ...) waits 0 to 50 ms,
    at random, on both drivers alike: a delete's samples fall 40 to 50 ms
    apart in two or three modes. A look every ``pause`` seconds keeps that
    wait under the resolution the bench reports.
    """

    def __init__(self, pause):
        self._pause = pause

    def sleep(self, seconds):
        time.sleep(min(seconds, self._pause))

    def __getattr__(self, name):
        return getattr(time, name)


class _BenchRound(object):
    """One cloud, M servers through every timed operation."""

    microversion = 'latest'
    ADMIN_API = True

    # NOTE(uefi_shim): both drivers wait for a migration the same way (the
    # suite's poll every 0.2 s); Nova's own helper, which the stock base
    # would use, polls every 0.5 s and would add up to that to stock's
    # samples only.
    MIGRATION_WAIT = base.UEFIShimTestBase.MIGRATION_WAIT
    _MIGRATION_FINAL = base.UEFIShimTestBase._MIGRATION_FINAL
    _wait_for_migration_status = (
        base.UEFIShimTestBase._wait_for_migration_status)

    # NOTE(uefi_shim): Nova's helpers poll a server's state and its deletion
    # every 0.5 s. The framework turns casts into calls, so most operations
    # are done when the API answers and the first look finds them; one that
    # is not would be rounded up to that grid, on one side only. Both
    # drivers poll every POLL seconds here, for as long as Nova's helper
    # would wait at least. At 0.05 s an operation of 150-250 ms (delete,
    # hard reboot) ends on one poll or the next: 15 ms more on one side can
    # read as 50 ms more (such medians moved by up to 0.36x between runs).
    POLL = 0.01
    MIGRATION_POLL = POLL
    #: oslo.messaging's fake transport polls its queues this often (see
    #: _FineRpcClock), on both drivers.
    RPC_POLL = 0.005

    def setUp(self):
        super(_BenchRound, self).setUp()
        if not self.nvram_mount:
            self.skipTest('sidecars need their own mount namespace (unshare '
                          '--mount, as root) for live migration')
        self._bench_ctxt = context.get_admin_context()
        self.useFixture(fixtures.MonkeyPatch(
            'oslo_messaging._drivers.impl_fake.time',
            _FineRpcClock(self.RPC_POLL)))
        self._warming = False

    # NOTE(uefi_shim): the API runs in the test's own process here. One
    # GET of a server costs about 80 ms of that process's time, and a
    # green thread that waits on I/O (the driver's HTTP call to its
    # sidecar; stock's fake libvirt never waits) lets the next GET run
    # first: a 20 ms call could cost 100 ms. In a cloud the API is another
    # process. So between two GETs the wait reads the instance's row from
    # the database (a few ms) every POLL seconds and asks the API again
    # only once the row changed (or after a second), on both drivers.
    def _instance_row(self, server_id):
        try:
            i = nova_db.instance_get_by_uuid(self._bench_ctxt, server_id,
                                             columns_to_join=[])
        except exception.InstanceNotFound:
            return None
        return (i['vm_state'], i['task_state'], i['host'], i['node'],
                i['power_state'], i['updated_at'])

    def _until_row_changes(self, server_id, seen, deadline, row=None):
        row = row or self._instance_row
        until = min(deadline, time.monotonic() + 1.0)
        while time.monotonic() < until:
            time.sleep(self.POLL)
            if row(server_id) != seen:
                return

    # The same for a migration's status (GET /os-migrations).
    def _migration_rows(self, server_id):
        rows = nova_db.migration_get_all_by_filters(
            self._bench_ctxt, {'instance_uuid': server_id})
        return sorted((m['id'], m['status'], m['updated_at'])
                      for m in rows)

    # And for an instance action's event (Nova's helper asks the API every
    # 0.5 s): the database every POLL seconds until the event is there (at
    # most 5 s, as Nova's ten looks), then Nova's helper, which finds it.
    def _action_event_done(self, server_id, action_name, event_name, result):
        for action in nova_db.actions_get(self._bench_ctxt, server_id):
            if action['action'] != action_name:
                continue
            for event in nova_db.action_events_get(self._bench_ctxt,
                                                   action['id']):
                if (event['event'] == event_name and event['result'] and
                        event['result'].lower() == result.lower()):
                    return True
        return False

    def _wait_for_instance_action_event(self, server, action_name,
                                        event_name, event_result):
        until = time.monotonic() + 5
        while (time.monotonic() < until and not self._action_event_done(
                server['id'], action_name, event_name, event_result)):
            time.sleep(self.POLL)
        return super(_BenchRound, self)._wait_for_instance_action_event(
            server, action_name, event_name, event_result)

    def _migration_mark(self, server):
        return self._migration_rows(server['id'])

    def _next_migration_poll(self, server, mark, deadline):
        self._until_row_changes(server['id'], mark, deadline,
                                row=self._migration_rows)

    def _wait_for_server_parameter(self, server, expected_params,
                                   max_retries=10, api=None):
        api = api or getattr(self, 'admin_api', self.api)
        deadline = time.monotonic() + max(max_retries * 0.5, 60)
        while True:
            seen = self._instance_row(server['id'])
            server = api.get_server(server['id'])
            if all(server[k] == v for k, v in expected_params.items()):
                return server
            if time.monotonic() > deadline:
                self.fail('Wait for state change failed, expected_params=%s, '
                          'server=%s' % (expected_params, server))
            self._until_row_changes(server['id'], seen, deadline)

    def _wait_until_deleted(self, server):
        initially_in_error = server.get('status') == 'ERROR'
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            seen = self._instance_row(server['id'])
            try:
                server = self.api.get_server(server['id'])
            except api_client.OpenStackApiNotFoundException:
                return
            if not initially_in_error and server['status'] == 'ERROR':
                self.fail('Server went to error state instead of '
                          'disappearing.')
            self._until_row_changes(server['id'], seen, deadline)
        self.fail('Server failed to delete.')

    def _stub_moves(self):
        self.useFixture(fixtures.MockPatch(
            'nova.virt.libvirt.driver.LibvirtDriver.'
            'migrate_disk_and_power_off', return_value='{}'))
        self.useFixture(fixtures.MonkeyPatch(
            'nova.tests.fixtures.libvirt.Domain.migrateToURI3',
            self._migrate_stub))

    def _migrate_stub(self, domain, destination, params, flags):
        dest = parse.urlparse(destination).hostname
        conn = self.computes[dest].driver._host.get_connection()
        conn.defineXML(params['destination_xml']).create()
        domain.complete_job()

    #: compute hosts per driver; each pair is an availability zone of its
    #: own, so that every move the scheduler places stays on its driver.
    PAIRS = (('uefi_shim', ('compute1', 'compute2')),
             ('stock', ('compute3', 'compute4')))
    STOCK_DRIVER = 'libvirt.LibvirtDriver'

    def _start_hosts(self):
        """Both pairs of compute hosts, and an availability zone each."""
        for driver, hosts in self.PAIRS:
            for host in hosts:
                if driver == 'stock':
                    self.flags(compute_driver=self.STOCK_DRIVER)
                    self.start_compute(host, sidecar=False)
                    self.flags(compute_driver=self.COMPUTE_DRIVER)
                else:
                    self.start_compute(host)
            agg = self._create_aggregate(driver, availability_zone=driver)
            for host in hosts:
                self.admin_api.add_host_to_aggregate(agg, host)
        for driver, hosts in self.PAIRS:
            for host in hosts:
                name = type(self.computes[host].driver).__name__
                self.assertEqual(
                    'UEFIShimDriver' if driver == 'uefi_shim'
                    else 'LibvirtDriver', name, host)

    def _both(self, op, fn, servers):
        """``fn(driver, server)`` timed for each driver, the order of the
        two alternating from one operation to the next (ABBA)."""
        # operations so far in this process (SETTINGS), so the order
        # keeps alternating from one round to the next
        turn = SETTINGS['turn']
        SETTINGS['turn'] += 1
        order = [d for d, _ in self.PAIRS]
        if turn % 2:
            order.reverse()
        out = dict(servers)
        for driver in order:
            started = time.monotonic()
            out[driver] = fn(driver, servers[driver])
            if self._warming:
                continue
            SETTINGS['samples'].append({
                'driver': driver, 'op': op, 'turn': turn,
                'ms': (time.monotonic() - started) * 1000})
        return out

    def _passes(self):
        """The passes of a round: the first warms both sides up (fresh
        sidecars pay their first call of each kind there: V8 compiles the
        code it runs, files are opened and cached) and is not timed."""
        for n in range(SETTINGS['servers'] + 1):
            self._warming = n == 0
            yield n
        self._warming = False

    def _create_each(self, op, image, flavor):
        return self._both(op, lambda driver, _: self._create_server(
            image_uuid=image, flavor_id=flavor, az=driver,
            host=dict(self.PAIRS)[driver][0], networks='none'),
            {d: None for d, _ in self.PAIRS})

    def bench_round(self):
        self._stub_moves()
        self._start_hosts()
        image = base.UEFIShimTestBase.create_image(
            self, 'bench_uefi', hw_machine_type='q35',
            hw_firmware_type='uefi')
        small = self._create_flavor(memory_mb=512, vcpu=1, disk=1,
                                    ephemeral=0)
        medium = self._create_flavor(memory_mb=1024, vcpu=1, disk=1,
                                     ephemeral=0)
        for _ in self._passes():
            servers = self._create_each('create', image, small)
            servers = self._both('hard reboot', lambda d, s: (
                self._reboot_server(s, hard=True)), servers)

            def resize(driver, s, flavor=medium):
                return self._confirm_resize(self._resize_server(s, flavor))
            servers = self._both('resize + confirm', resize, servers)

            def migrate(driver, s):
                return self._confirm_resize(self._migrate_server(s))
            servers = self._both('cold migrate + confirm', migrate, servers)
            servers = self._both('live migrate', lambda d, s: (
                self._live_migrate(s)), servers)
            self._both('delete', lambda d, s: self._delete_server(s),
                       servers)
            # the next servers start from a flavor they can resize from
            small, medium = medium, small


class Bench(_BenchRound, base.UEFIShimTestBase):
    """One cloud with both drivers: UEFI servers through every operation."""


class ArmBench(Bench):
    """Two pairs of aarch64 hosts (faked as test_aarch64 fakes them): live
    migration of a UEFI server (AAVMF, a 64 MiB store)."""

    def start_compute(self, hostname='compute1', *args, **kwargs):
        # NOTE(uefi_shim): as test_aarch64: the fake connection's
        # capabilities follow os.uname (mocked), getInfo the HostInfo.
        self.libvirt.mock_uname.return_value = fakelibvirt.os_uname(
            'Linux', '', '5.4.0-0-generic', '', AARCH64)
        host_info = fakelibvirt.HostInfo(
            cpu_nodes=2, cpu_sockets=1, cpu_cores=2, cpu_threads=2)
        host_info.arch = AARCH64
        kwargs['host_info'] = host_info
        return super(ArmBench, self).start_compute(hostname, *args, **kwargs)

    def start_sidecar(self, hostname, **kwargs):
        kwargs.update(arch=AARCH64, firmware=shim_fixtures.AAVMF_FIRMWARE)
        return super(ArmBench, self).start_sidecar(hostname, **kwargs)

    def bench_round(self):
        self._stub_moves()
        # Nova >= 31 compares the guest CPU with the destination's; the fake
        # libvirt has no aarch64 CPU model to compare (as test_aarch64).
        self.useFixture(fixtures.MockPatch(
            'nova.virt.libvirt.driver.LibvirtDriver._compare_cpu',
            return_value=None))
        self._start_hosts()
        image = base.UEFIShimTestBase.create_image(
            self, 'bench_arm', hw_architecture=AARCH64,
            hw_firmware_type='uefi', hw_machine_type='virt')
        flavor = self._create_flavor(memory_mb=512, vcpu=1, disk=1,
                                     ephemeral=0)
        for _ in self._passes():
            servers = {d: self._create_server(
                image_uuid=image, flavor_id=flavor, az=d,
                host=hosts[0], networks='none') for d, hosts in self.PAIRS}
            servers = self._both('live migrate (aarch64)', lambda d, s: (
                self._live_migrate(s)), servers)
            for s in servers.values():
                self._delete_server(s)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--rounds', type=int, default=2)
    p.add_argument('--servers', type=int, default=3)
    p.add_argument('--out', required=True)
    p.add_argument('--no-aarch64', dest='aarch64', action='store_false',
                   help='skip the aarch64 live-migration rounds')
    args = p.parse_args(argv)
    SETTINGS['servers'] = args.servers
    suite = unittest.TestSuite()
    for _ in range(args.rounds):
        suite.addTest(Bench('bench_round'))
        if args.aarch64:
            suite.addTest(ArmBench('bench_round'))
    result = unittest.TextTestRunner(stream=sys.stderr, verbosity=1).run(
        suite)
    skipped = [reason for _, reason in result.skipped]
    from nova import version
    doc = {'samples': SETTINGS['samples'],
           'operations': [op for op in OPERATIONS
                          if args.aarch64 or 'aarch64' not in op],
           'nova_version': version.version_string(),
           'rounds': args.rounds, 'servers': args.servers,
           'skipped': skipped[0] if skipped else None,
           'errors': [str(t) for _, t in result.errors + result.failures]}
    with open(args.out, 'w') as f:
        json.dump(doc, f, indent=1)
    return 0 if result.wasSuccessful() else 1


if __name__ == '__main__':
    sys.exit(main())
