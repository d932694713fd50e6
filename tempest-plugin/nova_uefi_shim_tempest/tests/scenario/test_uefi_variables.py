"""A UEFI server's variables through Nova's operations, read where Nova says the server is.

Stock Tempest boots a UEFI image and sees only that the server went ACTIVE. These tests look at
what the firmware keeps: the test image's boot script writes a marker variable at the first boot
of a fresh store and reports, at every boot, whether the store it started with holds it. After
each operation the server must boot again with its marker, the store on the host Nova names must
hold it (read through that host's nova-uefi-shim sidecar), and no other host's sidecar may still
hold the instance.

Steps of every test:
  1. create a server from [uefi_shim] image_ref; its first boot writes the marker;
  2. run one Nova operation (stop/start, hard reboot, resize + confirm or revert, cold or live
     migration, shelve-offload + unshelve to another host);
  3. wait for the next boot on the console and check the marker there and in the store.
"""

import re

from oslo_log import log as logging

from tempest.api.compute import base
from tempest.common import compute
from tempest.common import waiters
from tempest import config
from tempest.lib.common.utils import test_utils
from tempest.lib import decorators
from tempest.lib import exceptions as lib_exc

from nova_uefi_shim_tempest.services import sidecar_client

CONF = config.CONF
LOG = logging.getLogger(__name__)

BOOT_RE = re.compile(r"NUS-BOOT begin([\s\S]*?)NUS-BOOT end")
# The shell's colour codes. Nova's os-getConsoleOutput drops control characters, ESC included,
# so what reaches the API is "[1m[37m[40m" without the ESC: both forms are removed.
ANSI_RE = re.compile(r"\x1b?\[[0-9;=?]*[A-Za-z]")


def boots(log):
    """Completed boots in a console log, in order, as (text, verdict): the boot's own text (the
    image's script prints the guest's clock first, so no two boots print the same) and 'present'
    when the firmware had the marker at that boot (the script's `dmpstore` printed the variable),
    else 'written' (the script then wrote it). dmpstore's own output is read, not the script's
    verdict line."""
    want = "%s:%s' datasize" % (CONF.uefi_shim.marker_guid.lower(), CONF.uefi_shim.marker_name.lower())
    out = []
    for text in BOOT_RE.findall(log):
        plain = ANSI_RE.sub("", text)
        out.append((plain.strip(), "present" if want in plain.lower() else "written"))
    return out


class UEFIServerTestBase(base.BaseV2ComputeAdminTest):
    """Creating a UEFI server from the marker image, and reading its variables where it is."""

    # 2.56: cold migration to a named host; 2.91: unshelve to a named host.
    min_microversion = "2.91"

    @classmethod
    def skip_checks(cls):
        super(UEFIServerTestBase, cls).skip_checks()
        if not CONF.uefi_shim.enabled:
            raise cls.skipException("[uefi_shim] enabled is False")

    @classmethod
    def resource_setup(cls):
        super(UEFIServerTestBase, cls).resource_setup()
        token = sidecar_client.read_token(CONF.uefi_shim.sidecar_token_file)
        cls.sidecars = dict(
            (host, sidecar_client.SidecarClient(url, token))
            for host, url in CONF.uefi_shim.sidecar_endpoints.items()
        )
        if not cls.sidecars:
            raise lib_exc.InvalidConfiguration("[uefi_shim] sidecar_endpoints is empty")
        cls.image = CONF.uefi_shim.image_ref or CONF.compute.image_ref

    def setUp(self):
        super(UEFIServerTestBase, self).setUp()
        self.console = {}

    # ------------------------------------------------------------------ helpers

    def _create(self, image=None):
        server = self.create_test_server(image_id=image or self.image, wait_until="ACTIVE")
        self.addCleanup(waiters.wait_for_server_termination, self.servers_client, server["id"])
        self.addCleanup(test_utils.call_and_ignore_notfound_exc, self.servers_client.delete_server, server["id"])
        self._check(server["id"], expect="written")
        return server["id"]

    def _console(self, server_id):
        out = self.admin_servers_client.get_console_output(server_id)["output"] or ""
        return out.replace("\r", "")

    def _wait_boot(self, server_id):
        """The verdict of the next completed boot on the server's console: one whose text was not
        seen before. Nova's console API shows the log of the latest QEMU only (a new one on
        another host, or after a cold boot, starts a new log), so boots are told apart by their
        text, not by their count."""
        seen = self.console.setdefault(server_id, set())
        timeout = CONF.uefi_shim.boot_timeout
        # Each read makes nova-compute read the log through libvirt: no faster than every 5 s.
        interval = max(CONF.compute.build_interval, 5)
        log = ""
        found = []
        refused = []

        def next_boot():
            nonlocal log
            try:
                log = self._console(server_id)
            except (lib_exc.ServerFault, lib_exc.TimeoutException, lib_exc.Conflict) as e:
                # The console read is a probe: a compute host too busy to answer in time (Nova
                # reports MessagingTimeout as a 500), or a guest whose domain is not running yet
                # (409 InstanceNotReady, as between a move's definition and its start), is asked
                # again until boot_timeout.
                LOG.warning("server %s: console output not read this time: %s", server_id, e)
                return False
            new = [b for b in boots(log) if b[0] not in seen]
            if not new:
                # Secure Boot refused the image's boot loader (its key set is not enrolled): no
                # boot follows, so there is nothing to wait for.
                if "access denied" in log.lower():
                    refused.append(True)
                    return True
                return False
            seen.update(text for text, _ in new)
            found.append(new[-1][1])
            return True

        if not test_utils.call_until_true(next_boot, timeout, interval):
            raise lib_exc.TimeoutException(
                "server %s: no new completed boot on its console within %s s; its last lines:\n%s"
                % (server_id, timeout, log[-1500:])
            )
        if refused:
            self.fail(
                "server %s: the firmware refused the image's boot loader (Access Denied): the image's "
                "Secure Boot key set is not enrolled in its store; its last lines:\n%s" % (server_id, log[-1500:])
            )
        return found[-1]

    def _host(self, server_id):
        return self.get_host_for_server(server_id)

    def _sidecar(self, host):
        if host not in self.sidecars:
            raise lib_exc.InvalidConfiguration(
                "[uefi_shim] sidecar_endpoints has no entry for compute host %s" % host
            )
        return self.sidecars[host]

    def _marker_in_store(self, host, server_id):
        name, guid = CONF.uefi_shim.marker_name, CONF.uefi_shim.marker_guid.lower()
        return any(
            v["name"] == name and v["guid"].lower() == guid
            for v in self._sidecar(host).variables(server_id)
        )

    def _check(self, server_id, expect="present", boot=True, only_here=False):
        """After a step: the guest's own view (its next boot), the store where Nova says it is,
        and (unless `only_here`: a resize not yet confirmed) nothing of the instance on any
        other host."""
        host = self._host(server_id)
        if boot:
            found = self._wait_boot(server_id)
            self.assertEqual(
                expect,
                found,
                "server %s on %s: its boot found the marker %s, expected %s"
                % (server_id, host, found, expect),
            )
        if CONF.uefi_shim.compute_driver == "stock":
            # No sidecar record with the stock driver: the guest's boot above is the evidence.
            return host
        self.assertTrue(
            self._marker_in_store(host, server_id),
            "server %s: the store on %s has no marker variable" % (server_id, host),
        )
        for other, client in self.sidecars.items():
            if other != host and not only_here:
                self.assertFalse(
                    client.has_instance(server_id),
                    "server %s is on %s but the sidecar of %s still holds it" % (server_id, host, other),
                )
        return host

    def _cold_migrate_confirm(self, server_id):
        """Cold-migrate the server to another host and confirm; that host."""
        target = self._other_host(server_id)
        self.admin_servers_client.migrate_server(server_id, host=target)
        waiters.wait_for_server_status(self.servers_client, server_id, "VERIFY_RESIZE")
        self.servers_client.confirm_resize_server(server_id)
        waiters.wait_for_server_status(self.servers_client, server_id, "ACTIVE")
        return target

    def _other_host(self, server_id):
        if CONF.compute.min_compute_nodes < 2:
            raise self.skipException("Less than 2 compute nodes, skipping a cross-host test.")
        return self.get_host_other_than(server_id)


class UEFIVariablesTest(UEFIServerTestBase):
    """The marker a UEFI guest wrote at its first boot survives each operation."""

    @decorators.idempotent_id("34423806-1234-4a88-899c-35bd5cc2846e")
    def test_variables_survive_stop_start(self):
        server_id = self._create()
        self.servers_client.stop_server(server_id)
        waiters.wait_for_server_status(self.servers_client, server_id, "SHUTOFF")
        self.servers_client.start_server(server_id)
        waiters.wait_for_server_status(self.servers_client, server_id, "ACTIVE")
        self._check(server_id)

    @decorators.idempotent_id("2e9cffd0-a588-4908-ba2e-3365e556931f")
    def test_variables_survive_hard_reboot(self):
        server_id = self._create()
        self.reboot_server(server_id, type="HARD")
        self._check(server_id)

    @decorators.attr(type="multinode")
    @decorators.idempotent_id("2b886c5d-291e-44a1-8172-60fbd5aced67")
    def test_variables_survive_resize_to_other_host_confirm(self):
        if not CONF.compute_feature_enabled.resize:
            raise self.skipException("Resize not available.")
        server_id = self._create()
        source = self._host(server_id)
        self.resize_server(server_id, CONF.compute.flavor_ref_alt)
        host = self._check(server_id)
        self.assertNotEqual(source, host, "the resize stayed on %s" % source)

    @decorators.idempotent_id("a5b67b39-6e25-4fa4-a4f3-edff14209737")
    def test_variables_survive_resize_revert(self):
        if not CONF.compute_feature_enabled.resize:
            raise self.skipException("Resize not available.")
        server_id = self._create()
        source = self._host(server_id)
        self.servers_client.resize_server(server_id, CONF.compute.flavor_ref_alt)
        waiters.wait_for_server_status(self.servers_client, server_id, "VERIFY_RESIZE")
        # Until the resize is confirmed or reverted the source keeps its copy (the revert boots
        # it): only the guest and the store where Nova says it runs are checked here.
        self._check(server_id, only_here=True)
        self.servers_client.revert_resize_server(server_id)
        waiters.wait_for_server_status(self.servers_client, server_id, "ACTIVE")
        host = self._check(server_id)
        self.assertEqual(source, host, "a reverted resize is back on its source host")

    @decorators.attr(type="multinode")
    @decorators.idempotent_id("f7e8ee62-b1a3-4018-8be3-6572266dbf06")
    def test_variables_survive_cold_migration(self):
        if not CONF.compute_feature_enabled.cold_migration:
            raise self.skipException("Cold migration not available.")
        server_id = self._create()
        target = self._cold_migrate_confirm(server_id)
        self.assertEqual(target, self._check(server_id))

    @decorators.attr(type="multinode")
    @decorators.idempotent_id("8b7ee403-ea87-4aa9-a19a-081cd64f28ff")
    def test_variables_survive_live_migration(self):
        if not CONF.compute_feature_enabled.live_migration:
            raise self.skipException("Live migration not available.")
        server_id = self._create()
        target = self._other_host(server_id)
        block = CONF.compute_feature_enabled.block_migration_for_live_migration
        self.admin_servers_client.live_migrate_server(server_id, host=target, block_migration=block)
        waiters.wait_for_server_status(self.servers_client, server_id, "ACTIVE")
        # The guest kept running: no boot; the store on the destination holds the marker...
        self.assertEqual(target, self._check(server_id, boot=False))
        # ... and the next boot there starts from it.
        self.reboot_server(server_id, type="HARD")
        self._check(server_id)

    @decorators.attr(type="multinode")
    @decorators.idempotent_id("409516c9-5bdd-4e67-b9e0-39321d690024")
    def test_variables_survive_shelve_offload_unshelve_other_host(self):
        if not CONF.compute_feature_enabled.shelve:
            raise self.skipException("Shelve not available.")
        server_id = self._create()
        target = self._other_host(server_id)
        compute.shelve_server(self.servers_client, server_id, force_shelve_offload=True)
        for host, client in self.sidecars.items():
            if CONF.uefi_shim.compute_driver == "stock":
                break
            self.assertFalse(
                client.has_instance(server_id),
                "server %s is offloaded but the sidecar of %s still holds it" % (server_id, host),
            )
        self.admin_servers_client.unshelve_server(server_id, host=target)
        waiters.wait_for_server_status(self.servers_client, server_id, "ACTIVE")
        self.assertEqual(target, self._check(server_id))


class UEFISecureBootKeysTest(UEFIServerTestBase):
    """A key set the sidecars enroll at the first boot stays enrolled through a migration."""

    @classmethod
    def skip_checks(cls):
        super(UEFISecureBootKeysTest, cls).skip_checks()
        if not CONF.uefi_shim.secure_boot_image_ref:
            raise cls.skipException("[uefi_shim] secure_boot_image_ref is not set")

    def _assert_enrolled(self, server_id):
        if CONF.uefi_shim.compute_driver == "stock":
            # Stock Nova enrolls no key set; the signed shell's boot is the only evidence.
            return
        host = self._host(server_id)
        summary = self._sidecar(host).secure_boot(server_id)
        self.assertTrue(summary["enabled"], "server %s on %s: Secure Boot not enabled: %s" % (server_id, host, summary))
        self.assertFalse(summary["setup_mode"], "server %s on %s: in setup mode" % (server_id, host))
        self.assertEqual(CONF.uefi_shim.secure_boot_keyset, summary.get("keyset"))
        subjects = summary["db"]["certificates"]
        want = CONF.uefi_shim.secure_boot_db_subject
        self.assertTrue(
            any(want in s for s in subjects),
            "server %s on %s: db has no certificate with %r in its subject: %s" % (server_id, host, want, subjects),
        )

    @decorators.attr(type="multinode")
    @decorators.idempotent_id("ea6732e3-aa68-45bf-bb32-fd2fa59c9898")
    def test_keyset_enrolled_after_cold_migration(self):
        if not CONF.compute_feature_enabled.cold_migration:
            raise self.skipException("Cold migration not available.")
        # The signed shell runs only if the key set is in db: its first boot is the proof too.
        server_id = self._create(CONF.uefi_shim.secure_boot_image_ref)
        self._assert_enrolled(server_id)
        target = self._cold_migrate_confirm(server_id)
        self.assertEqual(target, self._check(server_id))
        self._assert_enrolled(server_id)
