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

"""Nova's libvirt driver with UEFI firmware and NVRAM owned by a sidecar.

``UEFIShimDriver`` keeps everything ``LibvirtDriver`` does (images, disks,
networks, volumes, consoles, the domain's lifecycle) and changes only the
seams listed in SEAMS.md:

* firmware: the loader, VARS template, Secure Boot flag, SMM and the NVRAM
  path in the domain XML are the ones the sidecar chose and pinned; Nova's
  own firmware-descriptor lookup is not consulted for UEFI guests;
* NVRAM lifetime: every undefine keeps the variable store
  (``VIR_DOMAIN_UNDEFINE_KEEP_NVRAM``), including the temporary undefines of
  hard reboot, live snapshot and volume swap that Nova 26 turns into a wipe
  (bug 1633447); the store is deleted by the sidecar only when Nova destroys
  the instance's disks;
* moves: resize and cold migration carry the store from the source's
  sidecar to the destination's (confirm drops the source's, revert restores
  it byte for byte); live migration gets the sidecars' pre-check, a copy in
  place before the guest arrives, a digest check and the source's clean-up.

The sidecar on the same host runs with ``[hypervisor] backend = nova``: the
domain is Nova's, the sidecar keeps the pin and the store. This driver
builds no firmware XML of its own and never reads or writes the variable
store. Checked against Nova 26.2.2 (Zed), 31.0.0 (2025.1) and 33.0.2
(2026.1): ``init_host`` detects each seam by what the running Nova offers
(``detect_seams``), logs one line naming them and refuses a Nova that lacks
one (see SEAMS.md).
"""

import inspect
import os
import time

from oslo_log import log as logging

from nova.compute import task_states
import nova.conf
from nova import context as nova_context
from nova import exception
from nova.i18n import _
from nova import objects
from nova.objects import fields
from nova import version
from nova.virt.libvirt import config as vconfig
from nova.virt.libvirt import driver as libvirt_driver
from nova.virt.libvirt import guest as libvirt_guest
from nova.virt.libvirt import utils as libvirt_utils
from nova.virt.uefi_shim import client as shim_client
from nova.virt.uefi_shim import conf as shim_conf

LOG = logging.getLogger(__name__)
CONF = nova.conf.CONF
shim_conf.register_opts(CONF)

#: libvirt's VIR_DOMAIN_UNDEFINE_KEEP_NVRAM (libvirt >= 2.3.0).
_UNDEFINE_KEEP_NVRAM = 8

#: Image properties the sidecar reads to choose firmware.
_FIRMWARE_IMAGE_PROPERTIES = (
    'hw_firmware_type', 'os_secure_boot', 'hw_machine_type',
    'hw_firmware_stateless', 'hw_architecture', 'hw_emulation_architecture',
    'hw_rescue_device', 'hw_rescue_bus',
)

#: Where libvirt puts a domain's store when the XML names none
#: (qemu:///system; libvirt's qemuDomainNVRAMPathGenerate).
LIBVIRT_NVRAM_DIR = '/var/lib/libvirt/qemu/nvram'

#: Driver capabilities the sidecar decides (and the traits they imply).
_SIDECAR_CAPABILITIES = ('supports_secure_boot', 'supports_stateless_firmware')


class UEFIShimMissingSeam(exception.NovaException):
    msg_fmt = _("uefi_shim.UEFIShimDriver cannot serve this Nova: seam "
                "%(seam)s %(problem)s.")


def _params(func):
    """Parameter names of ``func``; None when it takes (*args, **kwargs).

    A callable that accepts anything (a wrapper, a test's mock) says nothing
    about the parameters the code behind it needs.
    """
    if func is None:
        return []
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return None
    kinds = {p.kind for p in params.values()}
    if {inspect.Parameter.VAR_POSITIONAL,
            inspect.Parameter.VAR_KEYWORD} <= kinds:
        return None
    return list(params)


def _upstream_keeps_nvram():
    """Nova >= 33: every undefine goes through one wrapper with keep_nvram."""
    return 'keep_nvram' in (_params(getattr(
        libvirt_driver.LibvirtDriver, '_delete_guest_configuration',
        None)) or [])


#: ComputeDriver methods the driver extends (name, parameters it relies on).
_REQUIRED_METHODS = (
    ('spawn', ('context', 'instance', 'image_meta', 'power_on')),
    ('cleanup', ('context', 'instance', 'destroy_disks', 'migrate_data')),
    ('_hard_reboot', ('context', 'instance', 'network_info')),
    ('power_off', ('instance',)),
    ('rescue', ('context', 'instance', 'network_info', 'image_meta')),
    ('unrescue', ('context', 'instance')),
    ('migrate_disk_and_power_off', ('context', 'instance', 'dest', 'flavor')),
    ('finish_migration', ('context', 'migration', 'instance', 'image_meta',
                          'power_on')),
    ('confirm_migration', ('context', 'migration', 'instance')),
    ('finish_revert_migration', ('context', 'instance', 'migration',
                                 'power_on')),
    ('check_can_live_migrate_destination', ('context', 'instance')),
    ('pre_live_migration', ('context', 'instance', 'migrate_data')),
    ('post_live_migration', ('context', 'instance', 'migrate_data')),
    ('post_live_migration_at_source', ('context', 'instance')),
    ('post_live_migration_at_destination', ('context', 'instance')),
    ('rollback_live_migration_at_source', ('context', 'instance',
                                           'migrate_data')),
    ('rollback_live_migration_at_destination', ('context', 'instance',
                                                'destroy_disks',
                                                'migrate_data')),
    ('_configure_guest_by_virt_type', ('guest', 'instance', 'image_meta',
                                       'flavor')),
    ('_update_host_specific_capabilities', ()),
    ('update_provider_tree', ('provider_tree', 'nodename')),
    ('_check_emulation_arch', ('image_meta',)),
)


def detect_seams(driver_cls=None, guest_cls=None, config_cls=None):
    """The seams of the running Nova's libvirt driver this driver uses.

    Read from what the code offers (methods, parameters, attributes), not
    from the version number. Returns an ordered dict-like list of
    ``(seam, how)``; raises UEFIShimMissingSeam naming the first seam the
    driver needs and this Nova lacks or changed.
    """
    driver_cls = driver_cls or libvirt_driver.LibvirtDriver
    guest_cls = guest_cls or libvirt_guest.Guest
    config_cls = config_cls or vconfig.LibvirtConfigGuest

    for name, needed in _REQUIRED_METHODS:
        func = getattr(driver_cls, name, None)
        if func is None:
            raise UEFIShimMissingSeam(seam='LibvirtDriver.%s' % name,
                                      problem='is missing')
        params = _params(func)
        if params is not None and not all(p in params for p in needed):
            missing = [p for p in needed if p not in params]
            raise UEFIShimMissingSeam(
                seam='LibvirtDriver.%s' % name,
                problem='has no parameter %s' % ', '.join(missing))

    seams = []
    # Firmware: Nova's own UEFI branch is bypassed for UEFI guests; the pin
    # is written as explicit <loader>/<nvram>, which is what libvirt uses.
    configure = _params(driver_cls._configure_guest_by_virt_type) or []
    auto = (hasattr(driver_cls, '_copy_guest_firmware_elements') or
            'old_guest' in configure)
    seams.append(('firmware', 'sidecar pin as explicit <loader>/<nvram>%s' % (
        ' (instead of libvirt auto-selection)' if auto else '')))
    guest_conf = config_cls()
    for attr in ('os_loader', 'os_loader_type', 'os_loader_secure',
                 'os_nvram_template', 'os_nvram', 'features'):
        if not hasattr(guest_conf, attr):
            raise UEFIShimMissingSeam(seam='LibvirtConfigGuest.%s' % attr,
                                      problem='is missing')
    stateless = hasattr(guest_conf, 'os_loader_stateless')
    seams.append(('stateless', 'os_loader_stateless' if stateless
                  else 'unsupported'))

    # Undefine: libvirt must never delete the store (the sidecar does).
    delete = getattr(guest_cls, 'delete_configuration', None)
    if delete is None:
        raise UEFIShimMissingSeam(seam='Guest.delete_configuration',
                                  problem='is missing')
    wrapper = getattr(driver_cls, '_delete_guest_configuration', None)
    if wrapper is not None and 'keep_nvram' in (_params(wrapper) or []):
        # Nova >= 33: one wrapper for every undefine; temporary undefines
        # already keep NVRAM upstream, only real deletes are changed.
        seams.append(('undefine', '_delete_guest_configuration(keep_nvram)'))
    else:
        for name in ('_undefine_domain', '_live_snapshot', '_swap_volume'):
            if getattr(driver_cls, name, None) is None:
                raise UEFIShimMissingSeam(seam='LibvirtDriver.%s' % name,
                                          problem='is missing')
        params = _params(delete) or []
        how = ('support_uefi' if 'support_uefi' in params else
               'keep_nvram' if 'keep_nvram' in params else 'no flags')
        seams.append(('undefine', 'Guest.delete_configuration(%s) in '
                      '_undefine_domain, _live_snapshot, _swap_volume' % how))

    # Rebuild and evacuate: Nova's default (destroy + spawn).
    from nova.virt import driver as virt_driver
    if driver_cls.rebuild is not virt_driver.ComputeDriver.rebuild:
        raise UEFIShimMissingSeam(
            seam='ComputeDriver.rebuild',
            problem='is implemented by LibvirtDriver (the evacuate flag '
                    'would not reach spawn)')
    seams.append(('rebuild', "compute manager's default (destroy + spawn)"))
    return seams


class UEFIShimInconsistent(exception.NovaException):
    msg_fmt = _("nova-uefi-shim sidecar and nova-compute disagree: "
                "%(reason)s")


class _LibvirtConfigGuestFeatureSMM(vconfig.LibvirtConfigGuestFeature):
    """``<smm state='on'/>``.

    Nova's LibvirtConfigGuestFeatureSMM (26.2.2 and master) renders
    ``<smm><smm state='on'/></smm>``, which libvirt's domain.rng rejects.
    """

    def __init__(self, **kwargs):
        super(_LibvirtConfigGuestFeatureSMM, self).__init__('smm', **kwargs)

    def format_dom(self):
        root = super(_LibvirtConfigGuestFeatureSMM, self).format_dom()
        root.set('state', 'on')
        return root


class _KeepNvramGuest(libvirt_guest.Guest):
    """A Guest whose undefine always keeps the NVRAM file.

    The variable store belongs to the sidecar, which deletes it when the
    instance is destroyed with its disks; libvirt must never delete it.
    """

    @classmethod
    def of(cls, guest):
        return guest if isinstance(guest, cls) else cls(guest._domain)

    def delete_configuration(self, support_uefi=False, keep_vtpm=False,
                             keep_nvram=True):
        """Undefine the domain, keeping its NVRAM file.

        ``support_uefi`` (Nova 26) and ``keep_nvram`` (Nova >= 31.3.0) are
        accepted for signature compatibility and ignored; ``keep_vtpm``
        (Nova >= 2025.2) adds VIR_DOMAIN_UNDEFINE_KEEP_TPM.
        """
        # NOTE(uefi_shim): unlike Guest.delete_configuration, no fallback to
        # a plain undefine(): libvirt refuses it for a domain with NVRAM
        # ("cannot undefine domain with nvram") and it would hide the error.
        libvirt = libvirt_guest.libvirt
        flags = (libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |
                 getattr(libvirt, 'VIR_DOMAIN_UNDEFINE_KEEP_NVRAM',
                         _UNDEFINE_KEEP_NVRAM))
        if keep_vtpm:
            flags |= libvirt.VIR_DOMAIN_UNDEFINE_KEEP_TPM
        self._domain.undefineFlags(flags)


def _flavor_body(flavor):
    body = {}
    for field in ('name', 'flavorid', 'vcpus', 'memory_mb', 'root_gb'):
        if flavor.obj_attr_is_set(field):
            body[field] = getattr(flavor, field)
    body['extra_specs'] = dict(flavor.extra_specs or {})
    return body


def _instance_body(instance):
    """The instance as the sidecar reads it (plain JSON).

    ``name`` is Nova's domain name: a sidecar with ``[hypervisor] backend =
    nova`` names the domain and its store after it.
    """
    body = {'uuid': instance.uuid}
    for field in ('id', 'host', 'node', 'vcpus', 'memory_mb', 'task_state',
                  'vm_state'):
        if instance.obj_attr_is_set(field):
            body[field] = getattr(instance, field)
    if instance.obj_attr_is_set('id'):
        body['name'] = instance.name
    if instance.obj_attr_is_set('system_metadata'):
        body['system_metadata'] = dict(instance.system_metadata)
    if instance.obj_attr_is_set('flavor') and instance.flavor is not None:
        body['flavor'] = _flavor_body(instance.flavor)
    return body


def _migration_body(migration):
    body = {}
    for field in ('uuid', 'id', 'source_compute', 'dest_compute',
                  'source_node', 'dest_node', 'migration_type', 'status'):
        if migration.obj_attr_is_set(field):
            value = getattr(migration, field)
            if value is not None:
                body[field] = value
    return body


#: Sidecar refusals of what the user asked for: another host would refuse
#: the same image and flavor, so a build stops at once with the sidecar's
#: message in the server's fault instead of being rescheduled (as Nova's own
#: SecureBootNotSupported is) until MaxRetriesExceeded hides it.
_REQUEST_REFUSALS = (exception.Invalid, exception.FlavorImageConflict)


class UEFIShimDriver(libvirt_driver.LibvirtDriver):
    """LibvirtDriver whose UEFI firmware and NVRAM belong to the sidecar.

    For a UEFI guest every Nova operation that (re)creates the domain first
    calls the sidecar method of the same name; its answer (the firmware pin
    and the store path) is what ``_configure_guest_by_virt_type`` writes
    into the XML Nova defines. Operations that only change the power state
    report it afterwards; the store is deleted by the sidecar when Nova
    deletes the instance's disks, and carried between the two hosts' sidecars
    by resize, cold and live migration. The sidecar runs with
    ``[hypervisor] backend = nova`` and never touches libvirt itself.
    """

    def __init__(self, virtapi, read_only=False):
        super(UEFIShimDriver, self).__init__(virtapi, read_only)
        # NOTE(uefi_shim): read once, at construction: each compute service
        # has its own driver and talks to its own host's sidecar.
        self._sidecar = shim_client.SidecarClient.from_conf(CONF.uefi_shim)
        for name in _SIDECAR_CAPABILITIES:
            self.capabilities.setdefault(name, False)
        #: instance uuid -> the sidecar's answer for the operation now
        #: rebuilding the instance's XML (Nova serializes operations per
        #: instance, so one entry per instance is enough)
        self._pins = {}
        #: this compute service's host name (init_host's; [DEFAULT] host)
        self._hostname = CONF.host
        #: uuids of instances the compute manager is evacuating to this
        #: host: set by rebuild, read by the spawn of Nova's default rebuild
        self._evacuating = set()
        #: time.monotonic() of the last replica clean-up (None: never)
        self._last_replica_cleanup = None
        #: ids of the failed live migrations to this host whose leftovers
        #: the periodic clean-up undid (see _sweep_stranded_copies)
        self._swept_migrations = set()

    # Service start and capabilities

    def init_host(self, host):
        seams = detect_seams()
        self._seams = dict(seams)
        LOG.info('nova-uefi-shim on Nova %(version)s uses: %(seams)s',
                 {'version': version.version_info.version_string(),
                  'seams': '; '.join('%s: %s' % s for s in seams)})
        self._hostname = host
        self._check_sidecar_backend()
        super(UEFIShimDriver, self).init_host(host)

    def _check_sidecar_backend(self):
        """Refuse a sidecar that drives libvirt itself (one clear line).

        A sidecar that does not answer yet is only a warning: it may start
        after nova-compute, and every operation that needs it fails clearly.
        """
        try:
            health = self._sidecar.health()
        except exception.NovaException as e:
            LOG.warning('The nova-uefi-shim sidecar at %(url)s does not '
                        'answer yet: %(error)s',
                        {'url': self._sidecar.url, 'error': e})
            return
        backend = health.get('backend')
        if backend != 'nova':
            raise UEFIShimInconsistent(reason=_(
                "the sidecar at %(url)s runs with [hypervisor] backend = "
                "%(backend)s; compute_driver = uefi_shim.UEFIShimDriver "
                "needs backend = nova") % {'url': self._sidecar.url,
                                           'backend': backend})

    def _update_host_specific_capabilities(self):
        super(UEFIShimDriver, self)._update_host_specific_capabilities()
        self._refresh_sidecar_capabilities(initial=True)

    def _refresh_sidecar_capabilities(self, initial=False):
        """Take the firmware capabilities from the sidecar.

        When the sidecar cannot be reached they are reported as False at
        service start (nothing is scheduled here that needs them) and kept
        at their last value afterwards.
        """
        try:
            answer = self._sidecar.get_capabilities()
        except exception.NovaException as e:
            LOG.warning('Cannot read capabilities from the nova-uefi-shim '
                        'sidecar at %(url)s: %(error)s',
                        {'url': self._sidecar.url, 'error': e})
            if initial:
                self.capabilities.update(
                    {name: False for name in _SIDECAR_CAPABILITIES})
            return
        caps = answer.get('capabilities') or {}
        if not hasattr(vconfig.LibvirtConfigGuest(), 'os_loader_stateless'):
            # NOTE(uefi_shim): a Nova that cannot write <loader
            # stateless='yes'> (< 2024.2) cannot serve a stateless pin.
            caps = dict(caps, supports_stateless_firmware=False)
        self.capabilities.update(
            {name: bool(caps.get(name, False))
             for name in _SIDECAR_CAPABILITIES})

    def update_provider_tree(self, provider_tree, nodename, allocations=None):
        # NOTE(uefi_shim): the resource tracker turns self.capabilities into
        # traits right after this call, so a sidecar that started after
        # nova-compute is picked up by the next periodic update.
        self._refresh_sidecar_capabilities()
        self._cleanup_deleted_replicas()
        self._sweep_stranded_copies()
        return super(UEFIShimDriver, self).update_provider_tree(
            provider_tree, nodename, allocations=allocations)

    def _cleanup_deleted_replicas(self):
        """Destroy the replicas of instances Nova deleted without us.

        Nova deletes a SHELVED_OFFLOADED server in the API (no compute host
        is called), so its replicas would stay in the shared store forever.
        The resource tracker's periodic update calls this (at most every
        ``[uefi_shim] replica_cleanup_interval`` seconds): instances with
        replicas that Nova reports deleted (read_deleted='yes', this cell's
        database) get the sidecar's delete. An instance Nova does not find
        at all (another cell, or archived) is left alone.
        """
        interval = CONF.uefi_shim.replica_cleanup_interval
        now = time.monotonic()
        if interval < 0 or (self._last_replica_cleanup is not None and
                            now - self._last_replica_cleanup < interval):
            return
        self._last_replica_cleanup = now
        try:
            uuids = self._sidecar.replica_instances()
            if not uuids:
                return
            ctx = nova_context.get_admin_context(read_deleted='yes')
            found = objects.InstanceList.get_by_filters(
                ctx, {'uuid': uuids}, expected_attrs=[])
            deleted = [inst for inst in found if inst.deleted]
            gone = [inst.uuid for inst in deleted]
            for inst in deleted:
                self._sidecar.call(inst.uuid, 'destroy', {
                    'instance': {'uuid': inst.uuid, 'id': inst.id,
                                 'vm_state': 'deleted'},
                    'destroy_disks': True})
            if gone:
                LOG.info('nova-uefi-shim destroyed the replicas of %(n)d '
                         'deleted instance(s): %(uuids)s',
                         {'n': len(gone), 'uuids': ', '.join(gone)})
        except exception.NovaException as e:
            LOG.warning('nova-uefi-shim replica clean-up failed (retried at '
                        'the next periodic update): %s', e)

    def _sweep_stranded_copies(self):
        """Undo what failed live migrations to this host left here.

        ``pre_live_migration`` copies the store here before the guest
        moves. When the migration fails, Nova's rollbacks undo that, but
        not always: with a shared instance path Nova calls no destination
        rollback (the source's rollback asks this host's sidecar instead),
        Nova 33 sets the instance to ERROR when libvirt's migrate call
        fails, and a source compute that dies mid-migration calls nothing.
        The resource tracker's periodic update calls this: for each live
        migration to this host that Nova reports ``error`` or ``failed``,
        whose instance lives on another host with no task under way, the
        sidecar's ``rollback_live_migration_at_destination`` runs (what
        Nova's own destination rollback would have done: the copy and its
        journal go; nothing there is success). Once per migration and
        service start.
        """
        try:
            ctx = nova_context.get_admin_context()
            failed = objects.MigrationList.get_by_filters(ctx, {
                'host': self._hostname, 'status': ['error', 'failed'],
                'migration_type': 'live-migration'})
            for migration in failed:
                if (migration.dest_compute != self._hostname or
                        migration.id in self._swept_migrations):
                    continue
                try:
                    instance = objects.Instance.get_by_uuid(
                        ctx, migration.instance_uuid,
                        expected_attrs=['system_metadata', 'flavor'])
                except exception.InstanceNotFound:
                    # deleted: the delete's own clean-up ran here
                    self._swept_migrations.add(migration.id)
                    continue
                if not self._is_uefi(instance):
                    self._swept_migrations.add(migration.id)
                    continue
                if (not instance.host or instance.host == self._hostname or
                        instance.task_state is not None):
                    continue
                self._call(instance, 'rollback_live_migration_at_destination')
                self._swept_migrations.add(migration.id)
                LOG.info('nova-uefi-shim undid what the failed live '
                         'migration %(migration)s left on %(host)s (the '
                         'instance lives on %(owner)s)',
                         {'migration': migration.uuid,
                          'host': self._hostname, 'owner': instance.host},
                         instance=instance)
        except exception.NovaException as e:
            LOG.warning('nova-uefi-shim clean-up after failed live '
                        'migrations failed (retried at the next periodic '
                        'update): %s', e)

    # Which guests the sidecar keeps

    def _wants_uefi(self, image_meta):
        """Nova's rule: hw_firmware_type, else UEFI on aarch64 only."""
        if CONF.libvirt.virt_type not in ('kvm', 'qemu'):
            return False
        hw_firmware_type = image_meta.properties.get('hw_firmware_type')
        if hw_firmware_type:
            return hw_firmware_type == fields.FirmwareType.UEFI
        arch = self._check_emulation_arch(image_meta)
        return arch == fields.Architecture.AARCH64

    def _is_uefi(self, instance):
        return self._wants_uefi(instance.image_meta)

    def _image_meta_body(self, image_meta):
        props = image_meta.properties
        body_props = {}
        for name in _FIRMWARE_IMAGE_PROPERTIES:
            if name in props.fields and props.obj_attr_is_set(name):
                body_props[name] = getattr(props, name)
        # NOTE(uefi_shim): the firmware must fit the machine type Nova puts
        # in the XML (image, else [libvirt] hw_machine_type, else Nova's
        # default), not the sidecar's own default.
        body_props['hw_machine_type'] = libvirt_utils.get_machine_type(
            image_meta)
        if self._wants_uefi(image_meta):
            body_props['hw_firmware_type'] = fields.FirmwareType.UEFI
        body = {'properties': body_props}
        if image_meta.obj_attr_is_set('id'):
            body['id'] = image_meta.id
        return body

    # Calls to the sidecar

    def _call(self, instance, method, **kwargs):
        body = {'instance': _instance_body(instance)}
        body.update(kwargs)
        return self._sidecar.call(instance.uuid, method, body)

    def _pin(self, instance, method, **kwargs):
        """Call a sidecar method that answers the instance; keep its pin.

        ``_configure_guest_by_virt_type`` writes the pin into the XML of the
        Nova operation now running; ``_unpin`` drops it when that is done.
        """
        view = self._call(instance, method, **kwargs)
        self._pins[instance.uuid] = view
        return view

    def _unpin(self, instance):
        self._pins.pop(instance.uuid, None)

    def _report(self, instance, method, **kwargs):
        """Tell the sidecar what Nova did; a failure is logged, not raised.

        Used where Nova's operation already succeeded and nothing of the
        store depends on the call (the sidecar's recorded power state then
        stays the safer "running": variable writes are refused).
        """
        try:
            self._call(instance, method, **kwargs)
        except exception.NovaException as e:
            LOG.warning('nova-uefi-shim sidecar %(method)s failed: %(error)s',
                        {'method': method, 'error': e}, instance=instance)

    # Firmware

    def _firmware_from(self, instance, view):
        """The loader, template, SMM and store path to write, from a view."""
        if view.get('instance_name') != instance.name:
            raise UEFIShimInconsistent(reason=_(
                "the sidecar names instance %(uuid)s '%(theirs)s', Nova "
                "'%(ours)s'; run the sidecar with [hypervisor] backend = "
                "nova") % {'uuid': instance.uuid,
                           'theirs': view.get('instance_name'),
                           'ours': instance.name})
        firmware = view.get('firmware')
        if not firmware:
            raise UEFIShimInconsistent(reason=_(
                'the sidecar keeps instance %s as a BIOS guest') %
                instance.uuid)
        stateless = bool(firmware.get('stateless'))
        if stateless and not hasattr(vconfig.LibvirtConfigGuest(),
                                     'os_loader_stateless'):
            # NOTE(uefi_shim): 26.x's LibvirtConfigGuest cannot render
            # <loader stateless='yes'>.
            raise exception.UEFINotSupported(
                message=_('Stateless firmware needs Nova 2024.2 or later.'))
        nvram = view.get('nvram') or {}
        return {
            'stateless': stateless,
            'loader': firmware['loader'],
            'nvram_template': firmware.get('nvram_template'),
            'nvram_path': nvram.get('path'),
            'secure': bool(firmware.get('secure')),
            'requires_smm': bool(firmware.get('requires_smm')),
        }

    def _current_pin(self, instance):
        view = self._pins.get(instance.uuid)
        if view is None:
            # NOTE(uefi_shim): an XML built outside the operations that
            # call the sidecar first (e.g. _get_existing_domain_xml for a
            # guest libvirt lost): the pin the sidecar holds.
            view = self._sidecar.get_instance(instance.uuid)
        if view is None:
            raise UEFIShimInconsistent(reason=_(
                'the sidecar has no firmware pin for instance %s') %
                instance.uuid)
        return self._firmware_from(instance, view)

    def _nvram_path_for_xml(self, instance, path):
        """The <nvram> text: the store's path, unless configured otherwise.

        ``[uefi_shim] explicit_nvram_path = False`` omits a path equal to
        libvirt's own default for the domain (libvirt fills in the same
        path when it defines the domain): the XML then reads as stock
        Nova's.
        """
        if CONF.uefi_shim.explicit_nvram_path:
            return path
        default = os.path.join(LIBVIRT_NVRAM_DIR, '%s_VARS.fd' % instance.name)
        return None if path == default else path

    def _configure_guest_by_virt_type(self, guest, instance, image_meta,
                                      flavor, *args, **kwargs):
        # NOTE(uefi_shim): *args/**kwargs: 2026.1 adds old_guest, whose
        # firmware elements matter only to Nova's own selection.
        if not self._wants_uefi(image_meta):
            return super(UEFIShimDriver, self)._configure_guest_by_virt_type(
                guest, instance, image_meta, flavor, *args, **kwargs)

        firmware = self._current_pin(instance)

        # NOTE(uefi_shim): let Nova configure everything else (machine type,
        # sysinfo, boot menu, image_hw_machine_type) as for a BIOS guest: its
        # UEFI branch would pick a loader from the host's descriptors and
        # apply its own UEFI and Secure Boot checks, which are the sidecar's.
        bios_image_meta = image_meta.obj_clone()
        bios_image_meta.properties.hw_firmware_type = (
            fields.FirmwareType.BIOS)
        props = bios_image_meta.properties
        if ('hw_firmware_stateless' in props.fields and
                props.obj_attr_is_set('hw_firmware_stateless')):
            # Nova >= 31 refuses stateless firmware for a BIOS guest
            # (hardware.get_stateless_firmware_constraint); the pin below
            # says stateless.
            props.hw_firmware_stateless = False
        super(UEFIShimDriver, self)._configure_guest_by_virt_type(
            guest, instance, bios_image_meta, flavor, *args, **kwargs)

        guest.os_loader = firmware['loader']
        guest.os_loader_type = 'pflash'
        guest.os_loader_secure = firmware['secure']
        if hasattr(guest, 'os_loader_readonly'):
            # Nova >= 33 renders readonly only when set
            guest.os_loader_readonly = True
        if firmware['stateless']:
            guest.os_loader_stateless = True
            guest.os_nvram_template = None
            guest.os_nvram = None
        else:
            guest.os_nvram_template = firmware['nvram_template']
            guest.os_nvram = self._nvram_path_for_xml(
                instance, firmware['nvram_path'])
        guest.features = [f for f in guest.features
                          if f.root_name != 'smm']
        if firmware['requires_smm']:
            guest.features.append(_LibvirtConfigGuestFeatureSMM())

    # Lifecycle: operations that (re)create the domain

    def spawn(self, context, instance, image_meta, injected_files,
              admin_password, allocations, network_info=None,
              block_device_info=None, power_on=True, accel_info=None):
        # NOTE(uefi_shim): the sidecar restores the newest replica of the
        # store for an unshelve (it reads vm_state shelved_offloaded) and
        # for an evacuation, which only rebuild's flag tells apart from a
        # plain rebuild on this host.
        evacuate = (instance.uuid in self._evacuating and
                    instance.task_state == task_states.REBUILD_SPAWNING)
        self._evacuating.discard(instance.uuid)
        if self._wants_uefi(image_meta):
            extra = {'evacuate': True} if evacuate else {}
            try:
                self._pin(instance, 'spawn',
                          image_meta=self._image_meta_body(image_meta),
                          flavor=_flavor_body(instance.flavor),
                          power_on=power_on, **extra)
            except _REQUEST_REFUSALS as e:
                # NOTE(uefi_shim): the fault the API user sees carries the
                # sidecar's message; no reschedule (see _REQUEST_REFUSALS).
                raise exception.BuildAbortException(
                    instance_uuid=instance.uuid, reason=e.format_message())
        try:
            return super(UEFIShimDriver, self).spawn(
                context, instance, image_meta, injected_files,
                admin_password, allocations, network_info=network_info,
                block_device_info=block_device_info, power_on=power_on,
                accel_info=accel_info)
        finally:
            # a failed spawn is cleaned up by the compute manager's destroy
            self._unpin(instance)

    def rebuild(self, context, instance, *args, **kwargs):
        """Note an evacuation, then let Nova rebuild as it does for libvirt.

        LibvirtDriver has no rebuild of its own: NotImplementedError sends
        the compute manager to ``_rebuild_default_impl`` (destroy unless
        evacuating, then ``spawn``), whose spawn cannot tell an evacuation
        from a rebuild without the ``evacuate`` flag seen here.
        """
        if kwargs.get('evacuate'):
            self._evacuating.add(instance.uuid)
        else:
            self._evacuating.discard(instance.uuid)
        raise NotImplementedError()

    def _hard_reboot(self, context, instance, network_info,
                     block_device_info=None, *args, **kwargs):
        # Hard reboot, power_on and resume_state_on_host_boot: the same
        # pin and the same store, re-selected only by Nova's rules.
        if self._is_uefi(instance):
            self._pin(instance, 'reboot', reboot_type='HARD')
        try:
            return super(UEFIShimDriver, self)._hard_reboot(
                context, instance, network_info, block_device_info,
                *args, **kwargs)
        finally:
            self._unpin(instance)

    def power_off(self, instance, timeout=0, retry_interval=0):
        super(UEFIShimDriver, self).power_off(instance, timeout,
                                              retry_interval)
        if self._is_uefi(instance):
            self._report(instance, 'power_off')

    def rescue(self, context, instance, network_info, image_meta,
               rescue_password, block_device_info, *args, **kwargs):
        # NOTE(uefi_shim): *args/**kwargs: Nova >= 29 adds share_info.
        if self._is_uefi(instance):
            # The rescue image decides stable (pinned firmware and store)
            # or legacy BIOS rescue (the store waits): the sidecar's rule
            # and Nova's agree.
            self._pin(instance, 'rescue',
                      image_meta=self._image_meta_body(image_meta))
        try:
            return super(UEFIShimDriver, self).rescue(
                context, instance, network_info, image_meta,
                rescue_password, block_device_info, *args, **kwargs)
        finally:
            self._unpin(instance)

    def unrescue(self, context, instance):
        super(UEFIShimDriver, self).unrescue(context, instance)
        if self._is_uefi(instance):
            self._report(instance, 'unrescue')

    # Lifecycle: the real delete

    def cleanup(self, context, instance, network_info, block_device_info=None,
                destroy_disks=True, migrate_data=None, destroy_vifs=True,
                destroy_secrets=True):
        super(UEFIShimDriver, self).cleanup(
            context, instance, network_info,
            block_device_info=block_device_info, destroy_disks=destroy_disks,
            migrate_data=migrate_data, destroy_vifs=destroy_vifs,
            destroy_secrets=destroy_secrets)
        if migrate_data is not None:
            # Source of a live migration: only a copy the destination's
            # sidecar verified goes (never with the disks' flag: NVRAM is
            # never on shared storage).
            self._call(instance, 'cleanup', destroy_disks=destroy_disks)
        elif destroy_disks or self._leaving(instance):
            # The instance's disks are gone from this host, or it lives on
            # elsewhere: so is its store (and anything a migration staged
            # here). The sidecar answers success for an instance it does
            # not know; called for every guest, since a rebuild may have
            # changed the firmware type.
            self._call(instance, 'destroy', destroy_disks=True)

    def _leaving(self, instance):
        """True when the instance has no future on this host.

        Nova passes ``destroy_disks=False`` when the disks are on shared
        storage (revert at the destination, an evacuated source coming
        back); the store is never on shared storage, so it goes all the
        same. Only a domain torn down to come back here (hard reboot,
        cross-cell resize source) keeps it.
        """
        return (instance.host != self._hostname or
                instance.task_state == task_states.RESIZE_REVERTING)

    # Resize and cold migration

    def _migration_of(self, context, instance):
        """The migration now moving ``instance`` (Nova 26 passes only dest)."""
        ctx = instance.migration_context if instance.obj_attr_is_set(
            'migration_context') else None
        if ctx is not None and ctx.migration_id:
            return objects.Migration.get_by_id(context, ctx.migration_id)
        return objects.Migration.get_by_instance_and_status(
            context, instance.uuid, 'migrating')

    def migrate_disk_and_power_off(self, context, instance, dest,
                                   flavor, network_info,
                                   block_device_info=None,
                                   timeout=0, retry_interval=0):
        if self._is_uefi(instance):
            # NOTE(uefi_shim): the store moves before Nova touches the
            # disks: if the sidecars fail, the instance goes to ERROR with
            # its disks and its store where they were, and a new resize
            # after a reset-state completes.
            super(UEFIShimDriver, self).power_off(instance, timeout,
                                                  retry_interval)
            migration = self._migration_of(context, instance)
            self._call(instance, 'migrate_disk_and_power_off',
                       # the destination's sidecar is found by host name
                       # ([peer] hosts), not by the IP Nova passes as dest
                       dest=migration.dest_compute,
                       migration=_migration_body(migration),
                       flavor=_flavor_body(flavor))
        return super(UEFIShimDriver, self).migrate_disk_and_power_off(
            context, instance, dest, flavor, network_info,
            block_device_info=block_device_info, timeout=timeout,
            retry_interval=retry_interval)

    def finish_migration(self, context, migration, instance, disk_info,
                         network_info, image_meta, resize_instance,
                         allocations, block_device_info=None, power_on=True):
        if self._wants_uefi(image_meta):
            # Adopts the store the source's sidecar sent (or, on the same
            # host, keeps it); firmware kept unless Nova's rules re-select.
            self._pin(instance, 'finish_migration',
                      migration=_migration_body(migration),
                      image_meta=self._image_meta_body(image_meta),
                      power_on=power_on)
        try:
            return super(UEFIShimDriver, self).finish_migration(
                context, migration, instance, disk_info, network_info,
                image_meta, resize_instance, allocations,
                block_device_info=block_device_info, power_on=power_on)
        finally:
            self._unpin(instance)

    def confirm_migration(self, context, migration, instance, network_info):
        super(UEFIShimDriver, self).confirm_migration(
            context, migration, instance, network_info)
        if self._is_uefi(instance):
            # The source's store, pin and stash go (not on a same-host
            # resize).
            self._call(instance, 'confirm_migration',
                       migration=_migration_body(migration))

    def finish_revert_migration(self, context, instance, network_info,
                                migration, block_device_info=None,
                                power_on=True):
        if self._is_uefi(instance):
            # The stash taken at migrate_disk_and_power_off, byte for byte.
            self._pin(instance, 'finish_revert_migration',
                      migration=_migration_body(migration),
                      power_on=power_on)
        try:
            return super(UEFIShimDriver, self).finish_revert_migration(
                context, instance, network_info, migration,
                block_device_info=block_device_info, power_on=power_on)
        finally:
            self._unpin(instance)

    # Live migration: Nova's libvirt moves the guest with its <os>
    # unchanged; the sidecars check, copy, verify and clean up the store.

    def _shim_migrate_data(self, source_host, dest_host):
        # NOTE(uefi_shim): Nova's LibvirtLiveMigrateData cannot carry the
        # sidecars' data between hosts; each side rebuilds what it needs
        # and the sidecars talk to each other (peer API).
        return {'uefi_shim': {'source_host': source_host,
                              'dest_host': dest_host,
                              'migration_uri': ''}}

    def check_can_live_migrate_destination(self, context, instance,
                                           src_compute_info, dst_compute_info,
                                           block_migration=False,
                                           disk_over_commit=False):
        if self._is_uefi(instance):
            # Before Nova's own check, which leaves a file for
            # cleanup_live_migration_destination_check: a refusal here
            # leaves nothing.
            self._call(instance, 'check_can_live_migrate_destination',
                       block_migration=bool(block_migration))
        return super(UEFIShimDriver, self).check_can_live_migrate_destination(
            context, instance, src_compute_info, dst_compute_info,
            block_migration=block_migration,
            disk_over_commit=disk_over_commit)

    def pre_live_migration(self, context, instance, block_device_info,
                           network_info, disk_info, migrate_data):
        uefi = self._is_uefi(instance)
        if uefi:
            # A copy of the source's store at the path the source's XML
            # names (the pre-check made sure it is this host's path).
            self._call(instance, 'pre_live_migration',
                       migrate_data=self._shim_migrate_data(
                           instance.host, self._hostname))
        try:
            return super(UEFIShimDriver, self).pre_live_migration(
                context, instance, block_device_info, network_info,
                disk_info, migrate_data)
        except Exception:
            # NOTE(uefi_shim): Nova's rollback reaches this host only when
            # the instance path is not shared; the copy goes now either way.
            if uefi:
                self._report(instance,
                             'rollback_live_migration_at_destination')
            raise

    def rollback_live_migration_at_source(self, context, instance,
                                          migrate_data):
        super(UEFIShimDriver, self).rollback_live_migration_at_source(
            context, instance, migrate_data)
        if not self._is_uefi(instance):
            return
        migration = getattr(migrate_data, 'migration', None)
        dest = getattr(migration, 'dest_compute', None)
        if (dest and migrate_data.obj_attr_is_set('is_shared_instance_path')
                and migrate_data.is_shared_instance_path):
            # NOTE(uefi_shim): with a shared instance path Nova calls no
            # rollback_live_migration_at_destination (do_cleanup = not
            # is_shared_instance_path): this host's sidecar asks the
            # destination's to drop the copy pre_live_migration made.
            self._report(instance, 'rollback_live_migration_at_source',
                         migrate_data=self._shim_migrate_data(
                             self._hostname, dest))

    def post_live_migration(self, context, instance, block_device_info,
                            migrate_data=None):
        super(UEFIShimDriver, self).post_live_migration(
            context, instance, block_device_info, migrate_data=migrate_data)
        if not self._is_uefi(instance):
            return
        migration = getattr(migrate_data, 'migration', None)
        dest = migration.dest_compute if migration is not None else None
        try:
            # The guest runs on the destination now: the sidecars record
            # its arrival there and compare the two stores' digests.
            self._call(instance, 'live_migration', dest=dest,
                       migrate_data=self._shim_migrate_data(self._hostname,
                                                            dest))
            self._call(instance, 'post_live_migration')
        except exception.NovaException as e:
            # NOTE(uefi_shim): nothing to undo: the source copy stays until
            # the destination's store is verified (see the sidecar's
            # journal); the guest keeps running where Nova put it.
            LOG.error('nova-uefi-shim could not verify the variable store '
                      'on %(dest)s; the source copy is kept: %(error)s',
                      {'dest': dest, 'error': e}, instance=instance)

    def post_live_migration_at_source(self, context, instance, network_info):
        super(UEFIShimDriver, self).post_live_migration_at_source(
            context, instance, network_info)
        if self._is_uefi(instance):
            self._call(instance, 'post_live_migration_at_source')

    def post_live_migration_at_destination(self, context, instance,
                                           network_info,
                                           block_migration=False,
                                           block_device_info=None):
        super(UEFIShimDriver, self).post_live_migration_at_destination(
            context, instance, network_info,
            block_migration=block_migration,
            block_device_info=block_device_info)
        if self._is_uefi(instance):
            self._call(instance, 'post_live_migration_at_destination')

    def rollback_live_migration_at_destination(self, context, instance,
                                               network_info,
                                               block_device_info,
                                               destroy_disks=True,
                                               migrate_data=None):
        try:
            super(UEFIShimDriver, self).rollback_live_migration_at_destination(
                context, instance, network_info, block_device_info,
                destroy_disks=destroy_disks, migrate_data=migrate_data)
        finally:
            if self._is_uefi(instance):
                # whatever destroy_disks: the store is never shared
                self._report(instance,
                             'rollback_live_migration_at_destination')

    # NVRAM lifetime: libvirt never deletes the store

    def _check_uefi_support(self, hw_firmware_type):
        # NOTE(uefi_shim): Nova 26 uses this only to decide whether undefine
        # deletes NVRAM; here undefine never does (_KeepNvramGuest).
        return False

    def _delete_guest_configuration(self, guest, keep_vtpm, keep_nvram):
        # Nova >= 33: every undefine comes here; the temporary ones already
        # keep NVRAM upstream, the real deletes (cleanup, confirm) are ours:
        # the sidecar deletes the store after Nova's cleanup, when its
        # replicas have what they need.
        return super(UEFIShimDriver, self)._delete_guest_configuration(
            guest, keep_vtpm=keep_vtpm, keep_nvram=True)

    def _undefine_domain(self, instance, *args, **kwargs):
        if _upstream_keeps_nvram():
            # _delete_guest_configuration above keeps the store.
            return super(UEFIShimDriver, self)._undefine_domain(
                instance, *args, **kwargs)
        # Same as LibvirtDriver._undefine_domain, but the NVRAM file is always
        # kept: the sidecar deletes the store (see cleanup()).
        keep_vtpm = kwargs.get('keep_vtpm', args[0] if args else False)
        try:
            guest = _KeepNvramGuest.of(self._host.get_guest(instance))
            try:
                guest.delete_configuration(keep_vtpm=keep_vtpm)
            except libvirt_driver.libvirt.libvirtError as e:
                errcode = e.get_error_code()
                if errcode == libvirt_driver.libvirt.VIR_ERR_NO_DOMAIN:
                    LOG.debug('Called undefine, but domain already gone.',
                              instance=instance)
                    return
                LOG.error('Error from libvirt during undefine. '
                          'Code=%(errcode)s Error=%(e)s',
                          {'errcode': errcode, 'e': e}, instance=instance)
                raise
        except exception.InstanceNotFound:
            pass

    def _live_snapshot(self, context, instance, guest, *args, **kwargs):
        # Nova < 33 undefines the domain for the block copy with
        # guest.delete_configuration(), deleting NVRAM (33 keeps it).
        if not _upstream_keeps_nvram():
            guest = _KeepNvramGuest.of(guest)
        return super(UEFIShimDriver, self)._live_snapshot(
            context, instance, guest, *args, **kwargs)

    def _swap_volume(self, guest, *args, **kwargs):
        # Same temporary undefine as _live_snapshot.
        if not _upstream_keeps_nvram():
            guest = _KeepNvramGuest.of(guest)
        return super(UEFIShimDriver, self)._swap_volume(guest, *args,
                                                        **kwargs)
