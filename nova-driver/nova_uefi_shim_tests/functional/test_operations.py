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

"""Every Nova operation, through Nova's API, on two hosts with a sidecar each.

For a UEFI server and a Secure Boot one (flavor ``os:secure_boot`` and image
``os_secure_boot``): a marker variable is written into the store through the
sidecar's variable API while the server is stopped, then the operations run
in order. After each: the marker is in the store on the host Nova says owns
the instance, no copy, stash, staged file, record or journal is left on the
other host, and the XML Nova defined names the sidecar's loader and store
path. Every XML Nova defined (and every live-migration destination XML)
validates against libvirt's domain.rng. Each step is also written to the
suite's report (``NOVA_UEFI_SHIM_REPORT``).
"""

import inspect
import json
import os
import shutil
import time
from urllib import parse

import fixtures

from nova import exception
from nova.tests.fixtures import libvirt as fakelibvirt
from nova.tests.functional.api import client
from nova.tests.functional.libvirt import test_uefi
from nova.virt.libvirt import driver as libvirt_driver

from nova_uefi_shim_tests.functional import base
from nova_uefi_shim_tests.functional import fixtures as shim_fixtures

MARKER_GUID = '6c1e2a57-9b3d-4f0e-8a21-5d7c3b9e4f10'
MARKER_NAME = 'NovaUefiShimMarker'
MARKER = 'c0ffee'


class _TwoHostsBase(base.UEFIShimTestBase):
    """Two compute hosts sharing the store path, live migration stubbed."""

    microversion = 'latest'

    def setUp(self):
        super(_TwoHostsBase, self).setUp()
        if not self.nvram_mount:
            self.skipTest('sidecars need their own mount namespace (unshare '
                          '--mount, as root): every host keeps its stores at '
                          'the same path, as Nova keeps <os> when it live-'
                          'migrates')
        self.useFixture(fixtures.MonkeyPatch(
            'nova.tests.fixtures.libvirt.Domain.migrateToURI3',
            self._migrate_stub))
        # NOTE(uefi_shim): as in Nova's own functional tests (test_vtpm,
        # test_numa_servers), LibvirtDriver.migrate_disk_and_power_off, which
        # copies disk files the fake image backend never wrote, answers '{}';
        # UEFIShimDriver's override (power off, the store to the other
        # host's sidecar) runs in full before it.
        self.useFixture(fixtures.MockPatch(
            'nova.virt.libvirt.driver.LibvirtDriver.'
            'migrate_disk_and_power_off', return_value='{}'))
        # A live snapshot runs Nova's own _live_snapshot (its temporary
        # undefine is the NVRAM seam); only the disk files it would copy do
        # not exist under the fake image backend.
        for target, value in (
                ('nova.virt.libvirt.utils.get_disk_size', 1 << 30),
                ('nova.virt.libvirt.utils.get_disk_backing_file', None),
                ('nova.virt.libvirt.utils.create_image', None),
                ('nova.virt.libvirt.utils.extract_snapshot', None),
                ('nova.privsep.path.chown', None)):
            self.useFixture(fixtures.MockPatch(target, return_value=value))
        #: every destination XML a live migration sent, by domain name
        self.migrated_xml = {}
        self.uefi_image = self.create_image(
            'uefi_image', hw_machine_type='q35', hw_firmware_type='uefi')
        self.sb_image = self.create_image(
            'sb_image', hw_machine_type='q35', hw_firmware_type='uefi',
            os_secure_boot='required')
        # every host keeps replicas of its stores off the host, as an
        # operator who wants shelve-offload and evacuate to keep them would
        self.replicas = self.useFixture(shim_fixtures.ReplicaDirectory())
        self.sidecar_options['replicas'] = self.replicas
        self.start_compute('compute1')
        self.start_compute('compute2')

    def _migrate_stub(self, domain, destination, params, flags):
        """Nova's fake libvirt: the guest arrives where Nova sent it."""
        dest = parse.urlparse(destination).hostname
        xml = params['destination_xml']
        name = base.etree.fromstring(xml).findtext('name')
        self.migrated_xml.setdefault(name, []).append(xml)
        self.defined_xml.setdefault(name, []).append(xml)
        # VIR_MIGRATE_PERSIST_DEST: the guest is defined there and runs
        conn = self.computes[dest].driver._host.get_connection()
        conn.defineXML(xml).create()
        domain.complete_job()

    def flavors(self, secure):
        extra = {'os:secure_boot': 'required'} if secure else None
        return [self._create_flavor(memory_mb=512 * (i + 1), vcpu=1, disk=1,
                                    ephemeral=0, extra_spec=extra)
                for i in range(3)]

    # What each step leaves behind

    def owner(self, server):
        return self.api.get_server(server['id'])['OS-EXT-SRV-ATTR:host']

    def assertNothingOn(self, host, step):
        sidecar = self.sidecars[host]
        self.assertEqual([], sidecar.store_files(),
                         '%s: %s keeps store files' % (step, host))
        self.assertEqual([], sidecar.state_files(),
                         '%s: %s keeps records or journals' % (step, host))

    def assertStoreOnOwner(self, server, marker, step):
        """The marker where Nova says the instance is, nothing elsewhere."""
        server = self.api.get_server(server['id'])
        owner = server['OS-EXT-SRV-ATTR:host']
        name = self.instance_name(server)
        for host in self.sidecars:
            if host != owner:
                self.assertNothingOn(host, step)
        sidecar = self.sidecars[owner]
        view = sidecar.get_instance(server['id'])
        self.assertIsNotNone(view, '%s: %s has no record' % (step, owner))
        self.assertEqual(['%s_VARS.fd' % name], sidecar.store_files(),
                         '%s: %s holds more than the store' % (step, owner))
        self.assertEqual(
            [], [f for f in sidecar.state_files()
                 if f.startswith('migrations/')],
            '%s: a migration journal is left on %s' % (step, owner))
        self.assertEqual(
            marker, sidecar.get_variable(server['id'], MARKER_GUID,
                                         MARKER_NAME),
            '%s: the marker on %s' % (step, owner))
        self.assertGuestFirmware(self.last_xml(server), view['firmware'],
                                 view['nvram']['path'])
        return owner

    def assertReplicasGone(self, server, step):
        """A deleted instance leaves no replica (retried until removed)."""
        deadline = time.monotonic() + 30
        while self.replicas.objects(server['id']):
            if time.monotonic() > deadline:
                logs = ''.join(
                    '\n--- %s ---\n%s' % (h, ''.join(
                        line for line in sc.log_tail(400).splitlines(True)
                        if 'replica' in line))
                    for h, sc in sorted(self.sidecars.items()))
                self.fail('%s: replicas left: %s%s' % (
                    step, self.replicas.objects(server['id']), logs))
            time.sleep(0.2)

    # Steps shared by the operation tests (here and in test_aarch64)

    def _stop_mark_start(self, server):
        server = self._stop_server(server)
        self.sidecars[self.owner(server)].put_variable(
            server['id'], MARKER_GUID, MARKER_NAME, MARKER)
        return self._start_server(server)

    def _resize_confirm(self, server, flavor):
        return self._confirm_resize(self._resize_server(server, flavor))

    def _resize_revert(self, server, flavor):
        return self._revert_resize(self._resize_server(server, flavor))

    def _migrate_confirm(self, server):
        return self._confirm_resize(self._migrate_server(server))

    def run_steps(self, kind, server, steps):
        for name, action, marker in steps:
            started = time.monotonic()
            server = action(server) or server
            ms = int((time.monotonic() - started) * 1000)
            owner = self.assertStoreOnOwner(server, marker, '%s %s' % (
                kind, name))
            self.report('operations', server=kind, step=name, host=owner,
                        marker='present' if marker else 'absent', ms=ms)
        return server

    def _validate_and_delete(self, kind, server):
        """Every XML Nova defined validates; delete leaves no store on any
        host and no replica, and libvirt itself never deleted a store."""
        count = self.assertAllXmlValid(server)
        self.report('xml', server=kind, validated=count)
        self._delete_server(server)
        for host in self.sidecars:
            self.assertNothingOn(host, '%s delete' % kind)
        self.assertReplicasGone(server, '%s delete' % kind)
        self.report('operations', server=kind, step='delete', host='-',
                    marker='no store on any host, no replica', ms=0)
        for flags in self.undefine_flags_of(server):
            self.assertFalse(flags & base.VIR_DOMAIN_UNDEFINE_NVRAM, flags)

    def assertAllXmlValid(self, server):
        name = self.instance_name(server)
        xmls = self.defined_xml[name]
        self.assertGreater(len(xmls), 1)
        for xml in xmls:
            self.assertDomainXmlValid(xml)
        return len(xmls)


class OperationsTest(_TwoHostsBase):

    def _snapshot(self, server):
        undefines = len(self.undefine_flags_of(server))
        self.api.post_server_action(
            server['id'], {'createImage': {'name': 'snap-%s' % server['id']}})
        self.notifier.wait_for_versioned_notifications(
            'instance.snapshot.end')
        server = self._wait_for_state_change(server, 'ACTIVE')
        # a live snapshot: Nova undefined the domain for the block copy,
        # keeping the store (26.2.2 itself passes VIR_DOMAIN_UNDEFINE_NVRAM)
        flags = self.undefine_flags_of(server)[undefines:]
        self.assertEqual(1, len(flags), flags)
        self.assertTrue(flags[0] & base.VIR_DOMAIN_UNDEFINE_KEEP_NVRAM)
        return server

    def _rescue(self, server):
        self.api.post_server_action(server['id'], {'rescue': {}})
        return self._wait_for_state_change(server, 'RESCUE')

    def _unrescue(self, server):
        self.api.post_server_action(server['id'], {'unrescue': None})
        return self._wait_for_state_change(server, 'ACTIVE')

    def _every_operation(self, kind, image, secure):
        small, medium, large = self.flavors(secure)
        server = self._create_server(image_uuid=image, flavor_id=small,
                                     host='compute1', networks='none')
        view = self.sidecars['compute1'].get_instance(server['id'])
        self.assertEqual(secure, view['firmware']['secure'])
        self.assertEqual(secure, view['firmware']['requires_smm'])

        hosts = []
        server = self.run_steps(kind, server, [
            ('create', lambda s: s, None),
            ('stop/start (marker written while stopped)',
             self._stop_mark_start, MARKER),
            ('hard reboot', lambda s: self._reboot_server(s, hard=True),
             MARKER),
            ('snapshot', self._snapshot, MARKER),
            ('rescue', self._rescue, MARKER),
            ('unrescue', self._unrescue, MARKER),
        ])
        hosts.append(self.owner(server))
        server = self.run_steps(kind, server, [
            ('resize to the other host + confirm',
             lambda s: self._resize_confirm(s, medium), MARKER),
        ])
        hosts.append(self.owner(server))
        server = self.run_steps(kind, server, [
            ('resize + revert', lambda s: self._resize_revert(s, large),
             MARKER),
        ])
        hosts.append(self.owner(server))
        server = self.run_steps(kind, server, [
            ('cold migrate + confirm', self._migrate_confirm, MARKER),
        ])
        hosts.append(self.owner(server))
        server = self.run_steps(kind, server, [
            ('live migrate', self._live_migrate, MARKER),
        ])
        hosts.append(self.owner(server))
        self.assertEqual(
            ['compute1', 'compute2', 'compute2', 'compute1', 'compute2'],
            hosts, 'each move went where it should')
        self.assertEqual(1, len(self.migrated_xml[self.instance_name(server)]))

        # NOTE(uefi_shim): Nova 26's libvirt driver has no rebuild: the
        # compute manager destroys the instance with its disks and spawns it
        # again from the image. The store goes with the disks and the new
        # one is a fresh copy of the (re-selected) template, as the root
        # disk is a fresh copy of the image: the marker is gone, by design.
        server = self.run_steps(kind, server, [
            ('rebuild (store reset with the disks)',
             lambda s: self._rebuild_server(s, image), None),
        ])
        self._validate_and_delete(kind, server)

    def test_uefi_server_through_every_operation(self):
        self._every_operation('uefi', self.uefi_image, secure=False)

    def test_secure_boot_server_through_every_operation(self):
        self._every_operation('secure-boot', self.sb_image, secure=True)


class SharedPathLiveMigrationFailureTest(_TwoHostsBase):
    """A live migration that fails with a shared instance path (NFS).

    Nova calls rollback_live_migration_at_destination only when the
    instance path is not shared (do_cleanup = not is_shared_instance_path):
    the copy of the store pre_live_migration put on the destination, and its
    journal, must go all the same.
    """

    def setUp(self):
        super(SharedPathLiveMigrationFailureTest, self).setUp()
        # Nova's own test: the source sees the destination's test file.
        self.useFixture(fixtures.MockPatch(
            'nova.virt.libvirt.driver.LibvirtDriver.'
            '_check_shared_storage_test_file', return_value=True))

    #: Nova >= 33's _live_migration re-raises the failure of libvirt's
    #: migrate call after the rollback ran: the compute manager then sets
    #: the instance to ERROR (stock Nova too); 26 and 31 leave it ACTIVE.
    LIBVIRT_FAILURE_STATUS = (
        'ERROR' if 'future.result()' in inspect.getsource(
            libvirt_driver.LibvirtDriver._live_migration) else 'ACTIVE')

    def _failed_live_migration(self, step, status='ACTIVE', left=False):
        """A live migration to compute2 that fails; what is left where.

        ``status``: the server's status Nova reports once the migration
        has ended and no task is under way. ``left``: the copy and journal
        pre_live_migration made are still on compute2 (no rollback reached
        it); the next periodic updates must remove them.
        """
        server = self._create_server(image_uuid=self.uefi_image,
                                     host='compute1', networks='none')
        server = self._stop_mark_start(server)
        self.api.post_server_action(
            server['id'],
            {'os-migrateLive': {'host': 'compute2', 'block_migration': 'auto'}})
        self._wait_for_migration_status(server, ['error', 'failed'])
        # Nova 33 sets ERROR a moment after the rollback ended the
        # migration: polled as long as a migration may take on a busy host
        server = self._wait_for_server_parameter(
            server, {'OS-EXT-STS:task_state': None, 'status': status},
            max_retries=int(self.MIGRATION_WAIT / 0.5))
        migration = [m for m in self.api.get_migrations()
                     if m['instance_uuid'] == server['id'] and
                     m['migration_type'] == 'live-migration'][-1]
        self.assertEqual('compute1', self.owner(server))
        if left:
            self.assertNotEqual([], self.sidecars['compute2'].state_files(),
                                'the failure left nothing to clean up')
            # update_available_resource -> update_provider_tree on each host
            self._run_periodics()
        self.assertStoreOnOwner(server, MARKER, step)
        self.assertNothingOn('compute2', step)
        self.report('faults', case='live migration, shared instance path, '
                    'fails in %s' % step,
                    result='migration %s, server %s; nothing left on '
                    'compute2%s, the store on compute1' % (
                        migration['status'], server['status'],
                        ' (after the periodic update)' if left else ''))
        self._delete_server(server)

    def _libvirt_migrate_fails(self):
        """libvirt's migrate call fails, and the job Nova's monitor watches with it."""
        def migrate_fails(domain, destination, params, flags):
            domain.fail_job()
            raise fakelibvirt.make_libvirtError(
                fakelibvirt.libvirtError, 'migration failed (test)',
                error_code=fakelibvirt.VIR_ERR_OPERATION_FAILED,
                error_domain=fakelibvirt.VIR_FROM_QEMU)

        self.useFixture(fixtures.MonkeyPatch(
            'nova.tests.fixtures.libvirt.Domain.migrateToURI3',
            migrate_fails))

    def test_failure_in_libvirt_leaves_nothing_on_the_destination(self):
        self._libvirt_migrate_fails()
        self._failed_live_migration('libvirt', self.LIBVIRT_FAILURE_STATUS)

    def test_failure_no_rollback_reaches_is_undone_by_the_periodic_update(self):
        # The source's rollback does not reach the destination's sidecar
        # (its compute died, or a Nova that calls no rollback): the copy
        # and journal stay on compute2 until its periodic update finds
        # the failed migration.
        self._libvirt_migrate_fails()
        self.useFixture(fixtures.MonkeyPatch(
            'nova.virt.uefi_shim.driver.UEFIShimDriver.'
            'rollback_live_migration_at_source',
            libvirt_driver.LibvirtDriver.rollback_live_migration_at_source))
        self._failed_live_migration(
            'libvirt, no rollback reaching compute2',
            self.LIBVIRT_FAILURE_STATUS, left=True)

    def test_failure_in_pre_live_migration_leaves_nothing(self):
        self.useFixture(fixtures.MockPatch(
            'nova.virt.libvirt.driver.LibvirtDriver.pre_live_migration',
            side_effect=exception.MigrationError(
                reason='pre_live_migration failed (test)')))
        self._failed_live_migration("the destination's pre_live_migration")


class SidecarDownDuringResizeTest(_TwoHostsBase):

    def test_resize_fails_cleanly_and_a_retry_completes(self):
        small, medium, _ = self.flavors(False)
        server = self._create_server(image_uuid=self.uefi_image,
                                     flavor_id=small, host='compute1',
                                     networks='none')
        server = self._stop_server(server)
        self.sidecars['compute1'].put_variable(
            server['id'], MARKER_GUID, MARKER_NAME, MARKER)
        server = self._start_server(server)

        # The destination's sidecar is down: the source's cannot send the
        # store; nothing of Nova's disks has moved yet.
        self.sidecars['compute2'].stop()
        try:
            self.api.post_server_action(
                server['id'], {'resize': {'flavorRef': medium}})
        except client.OpenStackApiException as e:
            # NOTE(uefi_shim): Nova's functional framework turns RPC casts
            # into calls: the compute's failure reaches the API request.
            self.assertEqual(500, e.response.status_code)
        server = self._wait_for_state_change(server, 'ERROR')
        self.assertIn('unreachable', server['fault']['message'])
        self.assertEqual('compute1', server['OS-EXT-SRV-ATTR:host'])
        # The live store is intact on the source, beside the stash taken for
        # the migration that failed (a retry takes it over); nothing moved.
        name = self.instance_name(server)
        source = self.sidecars['compute1']
        self.assertEqual(
            ['.stash-%s-%s_VARS.fd' % (server['id'], name),
             '%s_VARS.fd' % name], source.store_files())
        self.assertEqual(MARKER, source.get_variable(
            server['id'], MARKER_GUID, MARKER_NAME))
        self.assertEqual([], self.sidecars['compute2'].store_files())
        self.report('faults', case='destination sidecar down during resize',
                    result='%s on %s, store intact on the source; fault: '
                    '%s' % (server['status'], server['OS-EXT-SRV-ATTR:host'],
                            server['fault']['message']))

        # Restarted, the admin resets the state and the resize is retried.
        self.sidecars['compute2'].start()
        self.api.post_server_action(
            server['id'], {'os-resetState': {'state': 'active'}})
        server = self._wait_for_state_change(server, 'ACTIVE')
        server = self._resize_server(server, medium)
        server = self._confirm_resize(server)
        self.assertEqual('compute2', self.owner(server))
        self.assertStoreOnOwner(server, MARKER, 'after the retried resize')
        self.report('faults', case='retry after the sidecar restarted',
                    result='resize + confirm completed; marker on compute2')


class ShelveAndEvacuateTest(_TwoHostsBase):
    """Shelve-offload/unshelve and evacuate keep the store through replicas.

    Stock Nova loses the store in both: it goes with the disks at
    shelve-offload, and an evacuated server starts from a fresh template
    while the old store stays on (or dies with) the failed host. Here every
    host's sidecar keeps encrypted generations in a replica store they
    share: shelve-offload writes the shelve generation and reads it back
    before the local store goes; unshelve (on the other host) and evacuate
    restore the newest generation through the sidecar's cold-boot path.
    """

    def _marked_server(self):
        server = self._create_server(image_uuid=self.uefi_image,
                                     host='compute1', networks='none')
        server = self._stop_server(server)
        self.sidecars['compute1'].put_variable(
            server['id'], MARKER_GUID, MARKER_NAME, MARKER)
        return self._start_server(server)

    def _replica_current(self, host, server):
        """Wait until the host's newest generation holds the store as is."""
        deadline = time.monotonic() + 30
        while True:
            view = self.sidecars[host].get_instance(server['id'])
            replica = (view.get('nvram') or {}).get('replica') or {}
            if replica.get('state') == 'current':
                return replica
            if time.monotonic() > deadline:
                self.fail('no current replica on %s: %s' % (host, replica))
            time.sleep(0.2)

    def _restored(self, sidecar, server, kind):
        """The sidecar's log entry for the generation a spawn restored."""
        with open(sidecar.log_file) as f:
            for line in f:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if (entry.get('msg') == 'nvram restored from replica' and
                        entry.get('instance_uuid') == server['id'] and
                        entry.get('kind') == kind):
                    return entry
        self.fail('%s: no restore logged by %s' % (kind, sidecar.host))

    def test_shelve_offload_and_unshelve_on_the_other_host(self):
        server = self._marked_server()
        self._shelve_server(server)
        for host in self.sidecars:
            self.assertNothingOn(host, 'shelve-offload')
        stored = self.replicas.objects(server['id'])
        self.assertTrue(stored, 'shelve-offload wrote no replica')
        self.report('replicas', operation='shelve-offload',
                    result='shelve generation read back, then the store '
                    'left compute1 (%d objects kept)' % len(stored))

        self.api.post_server_action(server['id'],
                                    {'unshelve': {'host': 'compute2'}})
        server = self._wait_for_state_change(server, 'ACTIVE')
        self.assertEqual('compute2', self.owner(server))
        self.assertStoreOnOwner(server, MARKER, 'unshelve')
        restored = self._restored(self.sidecars['compute2'], server,
                                  'unshelve')
        replica = self._replica_current('compute2', server)
        self.assertGreater(replica['generation'], restored['generation'])
        self.report('replicas', operation='unshelve on compute2',
                    result='marker restored from the shelve generation %d; '
                    'compute2 took the replicas over (generation %d)' % (
                        restored['generation'], replica['generation']))

        self._delete_server(server)
        for host in self.sidecars:
            self.assertNothingOn(host, 'delete after unshelve')
        self.assertReplicasGone(server, 'delete after unshelve')

    def test_deleting_a_shelved_offloaded_server_removes_its_replicas(self):
        # Nova deletes a SHELVED_OFFLOADED server in the API: no compute
        # host (and so no sidecar) is called. The driver's clean-up, run by
        # the resource tracker's periodic update, finds it.
        self.flags(replica_cleanup_interval=0, group='uefi_shim')
        server = self._marked_server()
        self._shelve_server(server)
        self.assertTrue(self.replicas.objects(server['id']),
                        'shelve-offload wrote no replica')
        keep = self._create_server(image_uuid=self.uefi_image,
                                   host='compute2', networks='none')
        self._replica_current('compute2', keep)
        self._delete_server(server)
        self.assertTrue(self.replicas.objects(server['id']),
                        'the replicas went before any periodic task ran')

        self._run_periodics()

        self.assertReplicasGone(server, 'delete while shelved-offloaded')
        # a live instance's replicas are not touched
        self.assertTrue(self.replicas.objects(keep['id']))
        self.report('replicas', operation='delete while shelved-offloaded',
                    result='replicas removed by the next periodic update; '
                    "another instance's kept")
        self._delete_server(keep)
        self.assertReplicasGone(keep, 'delete')

    def test_evacuate_and_the_source_coming_back(self):
        server = self._marked_server()
        # the marker's generation (written after the edit) is off the host
        before = self._replica_current('compute1', server)
        # compute1's host dies: its compute service and its sidecar
        self.computes['compute1'].stop()
        self.sidecars['compute1'].kill()
        service = self.api.get_services(binary='nova-compute',
                                        host='compute1')[0]
        self.api.put_service(service['id'], {'forced_down': True})
        server = self._evacuate_server(server,
                                       expected_host='compute2')
        sidecar = self.sidecars['compute2']
        self.assertEqual(MARKER, sidecar.get_variable(
            server['id'], MARKER_GUID, MARKER_NAME), 'evacuate: the marker')
        name = self.instance_name(server)
        self.assertEqual(['%s_VARS.fd' % name], sidecar.store_files())
        view = sidecar.get_instance(server['id'])
        self.assertGuestFirmware(self.last_xml(server), view['firmware'],
                                 view['nvram']['path'])
        # the dead host's disk still holds its copy until it comes back
        self.assertEqual(['%s_VARS.fd' % name],
                         self.sidecars['compute1'].store_files())
        restored = self._restored(sidecar, server, 'evacuate')
        self.assertEqual(before['generation'], restored['generation'])
        self.assertEqual('compute1', restored['written_by'])
        self.report('replicas', operation='evacuate to compute2',
                    result='marker restored from generation %d written by '
                    'compute1 %s s before (the recovery point)' % (
                        restored['generation'], restored['age_seconds']))

        # compute1 comes back: Nova destroys the evacuated instance there;
        # its sidecar deletes its own copy and leaves the replicas alone
        self.sidecars['compute1'].start()
        self.flags(url=self.sidecars['compute1'].url, group='uefi_shim')
        self.restart_compute_service('compute1')
        self.api.put_service(service['id'], {'forced_down': False})
        self.assertNothingOn('compute1', 'evacuated source restarted')
        self.assertStoreOnOwner(server, MARKER, 'after the source restarted')
        self.assertTrue(self.replicas.objects(server['id']))
        self.report('replicas', operation='evacuated source comes back',
                    result='its old copy deleted on compute1; compute2 and '
                    'the replicas untouched')

        self._delete_server(server)
        for host in self.sidecars:
            self.assertNothingOn(host, 'delete after evacuate')
        self.assertReplicasGone(server, 'delete after evacuate')


#: A stateless build of the release's own OVMF: Debian's unified image
#: (code and variables in one file, package ovmf on every release). Loaded
#: read-only with no store, OVMF keeps its variables in memory (booted this
#: way it reaches the boot manager).
STATELESS_LOADER = '/usr/share/ovmf/OVMF.fd'


class NovaUEFITestWithShimDriver(base.UEFIShimTestBase,
                                 test_uefi.UEFIServersTest):
    """Nova's own test_uefi.UEFIServersTest, with our driver and a sidecar.

    The test compares ``<os>`` literally with Nova's fake libvirt's
    descriptor paths: loader ``/usr/share/OVMF/OVMF_CODE.secboot.fd`` and
    ``<nvram template='/usr/share/OVMF/OVMF_VARS.secboot.fd'/>`` (no path).
    Debian's ovmf has the loader but no ``OVMF_VARS.secboot.fd``: the
    sidecar runs in a mount namespace whose /usr/share/OVMF holds copies
    (``OVMF_VARS.secboot.fd`` is ``OVMF_VARS.ms.fd``, the template of the
    same 2M build) and whose [nvram] nvram_dir is libvirt's own
    ``/var/lib/libvirt/qemu/nvram`` (a private directory bind-mounted
    there), with ``[uefi_shim] explicit_nvram_path = False``: the store is
    at libvirt's default path, so the XML names only the template, as the
    test expects.
    """

    def setUp(self):
        if not shim_fixtures.namespaces_available():
            self.skipTest('needs mount namespaces (unshare --mount, root)')
        super(NovaUEFITestWithShimDriver, self).setUp()
        self.flags(explicit_nvram_path=False, group='uefi_shim')
        self.ovmf = self.useFixture(fixtures.TempDir()).path
        # Debian 13 and later ship only the 4M build: its files stand in
        # for the 2M names the test expects (the fake libvirt never reads
        # them).
        for name, sources in (
                ('OVMF_CODE.fd', ('OVMF_CODE.fd', 'OVMF_CODE_4M.fd')),
                ('OVMF_VARS.fd', ('OVMF_VARS.fd', 'OVMF_VARS_4M.fd')),
                ('OVMF_CODE.secboot.fd', ('OVMF_CODE.secboot.fd',
                                          'OVMF_CODE_4M.secboot.fd')),
                ('OVMF_VARS.secboot.fd', ('OVMF_VARS.ms.fd',
                                          'OVMF_VARS_4M.ms.fd'))):
            source = next(
                p for p in (os.path.join(shim_fixtures.OVMF_DIR, f)
                            for f in sources) if os.path.exists(p))
            shutil.copyfile(source, os.path.join(self.ovmf, name))

    def assertXmlEqual(self, expected, observed, *args, **kwargs):
        """Nova >= 33 expects libvirt's firmware auto-selection.

        Upstream writes ``<os firmware='efi'>`` with the Secure Boot and
        stateless wishes and lets libvirt pick the files; this driver
        writes the sidecar's pin (the files libvirt would pick from the
        same descriptors) explicitly. Everything else is compared as is;
        the auto-selection ``<os>`` is compared by what it asks for.
        """
        want = base.etree.fromstring(expected)
        if want.tag != 'os' or want.get('firmware') != 'efi':
            return super(NovaUEFITestWithShimDriver, self).assertXmlEqual(
                expected, observed, *args, **kwargs)
        got = base.etree.fromstring(observed)
        loader = got.find('loader')
        self.assertIsNotNone(loader, observed)
        self.assertTrue(loader.text, observed)
        secure = want.find("firmware/feature[@name='secure-boot']")
        self.assertEqual(secure is not None and secure.get('enabled') ==
                         'yes', loader.get('secure') == 'yes', observed)
        stateless = (want.find('loader') is not None and
                     want.find('loader').get('stateless') == 'yes')
        self.assertEqual(stateless, loader.get('stateless') == 'yes',
                         observed)
        self.assertEqual(stateless, got.find('nvram') is None, observed)
        self.report('nova-test_uefi', result='%s: explicit pin %s for '
                    "<os firmware='efi'> (secure-boot %s)" % (
                        self.id().rsplit('.', 1)[-1], loader.text,
                        'yes' if secure is not None and
                        secure.get('enabled') == 'yes' else 'no'))

    def _stateless_descriptors(self):
        """A QEMU firmware descriptor of a stateless Secure Boot build.

        Nova >= 33's stateless tests (the trait, and ``<loader secure='yes'
        stateless='yes'>``) need stateless builds on the host, as stock
        Nova gets them from libvirt's auto-selection. The map names the
        plain one (``stateless_loader``); the Secure Boot one comes from
        this descriptor, as on a host whose firmware package ships it. The
        fake libvirt never reads the file.
        """
        path = self.useFixture(fixtures.TempDir()).path
        with open(os.path.join(path, '60-ovmf-secboot-stateless.json'),
                  'w') as f:
            json.dump({
                'description': 'OVMF, Secure Boot, stateless (test)',
                'interface-types': ['uefi'],
                'mapping': {
                    'device': 'flash', 'mode': 'stateless',
                    'executable': {
                        'filename': shim_fixtures.OVMF_DIR +
                        '/OVMF_CODE.secboot.fd',
                        'format': 'raw'}},
                'targets': [{'architecture': 'x86_64',
                             'machines': ['pc-q35-*']}],
                'features': ['acpi-s3', 'requires-smm', 'secure-boot'],
                'tags': []}, f)
        return path

    def start_sidecar(self, hostname, **kwargs):
        kwargs.update(
            nvram_mount=shim_fixtures.LIBVIRT_NVRAM_DIR,
            mounts=[(self.ovmf, shim_fixtures.OVMF_DIR)],
            descriptor_dir=self._stateless_descriptors(),
            firmware={
                'loader': shim_fixtures.OVMF_DIR + '/OVMF_CODE.fd',
                'nvram_template': shim_fixtures.OVMF_DIR + '/OVMF_VARS.fd',
                'secure_loader':
                    shim_fixtures.OVMF_DIR + '/OVMF_CODE.secboot.fd',
                'secure_nvram_template':
                    shim_fixtures.OVMF_DIR + '/OVMF_VARS.secboot.fd',
                'stateless_loader':
                    shim_fixtures.OVMF_DIR + '/OVMF_CODE.fd',
            })
        if os.path.exists(STATELESS_LOADER):
            # Nova >= 2024.2 tests stateless firmware: the sidecar's
            # stateless pin (its trait, COMPUTE_SECURITY_STATELESS_FIRMWARE,
            # is reported when the sidecar has one).
            kwargs['firmware']['stateless_loader'] = STATELESS_LOADER
        return super(NovaUEFITestWithShimDriver, self).start_sidecar(
            hostname, **kwargs)

    def test_create_server(self):
        super(NovaUEFITestWithShimDriver, self).test_create_server()
        sidecar = self.sidecars['compute1']
        server = self.api.get_servers()[0]
        view = sidecar.get_instance(server['id'])
        # Nova 26 and 31's test_create_server asks for Secure Boot, 33's not
        self.assertEqual(shim_fixtures.OVMF_DIR + (
            '/OVMF_CODE.secboot.fd' if view['firmware']['secure']
            else '/OVMF_CODE.fd'), view['firmware']['loader'])
        self.assertEqual(
            ['%s_VARS.fd' % view['instance_name']], sidecar.store_files())
        self.report('nova-test_uefi', result='passes with UEFIShimDriver')
