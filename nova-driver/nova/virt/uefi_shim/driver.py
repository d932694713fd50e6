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
  the instance's disks.

It does not build firmware XML of its own and does not read or write the
variable store. Checked against Nova 26.2.2 (Zed); see SEAMS.md for what
changes on 2026.1 and later.
"""

from oslo_log import log as logging

import nova.conf
from nova import exception
from nova.i18n import _
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

#: Nova major versions whose libvirt driver seams were checked (26 = Zed).
SUPPORTED_NOVA_MAJOR_VERSIONS = (26,)

#: libvirt's VIR_DOMAIN_UNDEFINE_KEEP_NVRAM (libvirt >= 2.3.0).
_UNDEFINE_KEEP_NVRAM = 8

#: Image properties the sidecar reads to choose firmware.
_FIRMWARE_IMAGE_PROPERTIES = (
    'hw_firmware_type', 'os_secure_boot', 'hw_machine_type',
    'hw_firmware_stateless', 'hw_architecture', 'hw_emulation_architecture',
    'hw_rescue_device', 'hw_rescue_bus',
)

#: Driver capabilities the sidecar decides (and the traits they imply).
_SIDECAR_CAPABILITIES = ('supports_secure_boot', 'supports_stateless_firmware')


class UEFIShimUnsupportedRelease(exception.NovaException):
    msg_fmt = _("uefi_shim.UEFIShimDriver supports Nova %(supported)s; this "
                "is Nova %(version)s.")


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


def _nova_major_version():
    return int(version.version_info.version_string().split('.')[0])


def _flavor_body(flavor):
    body = {}
    for field in ('name', 'flavorid', 'vcpus', 'memory_mb', 'root_gb'):
        if flavor.obj_attr_is_set(field):
            body[field] = getattr(flavor, field)
    body['extra_specs'] = dict(flavor.extra_specs or {})
    return body


def _instance_body(instance):
    body = {'uuid': instance.uuid}
    for field in ('id', 'host', 'node', 'vcpus', 'memory_mb'):
        if instance.obj_attr_is_set(field):
            body[field] = getattr(instance, field)
    if instance.obj_attr_is_set('system_metadata'):
        body['system_metadata'] = dict(instance.system_metadata)
    return body


class UEFIShimDriver(libvirt_driver.LibvirtDriver):
    """LibvirtDriver whose UEFI firmware and NVRAM belong to the sidecar."""

    def __init__(self, virtapi, read_only=False):
        super(UEFIShimDriver, self).__init__(virtapi, read_only)
        # NOTE(uefi_shim): read once, at construction: each compute service
        # has its own driver and talks to its own host's sidecar.
        self._sidecar = shim_client.SidecarClient.from_conf(CONF.uefi_shim)
        for name in _SIDECAR_CAPABILITIES:
            self.capabilities.setdefault(name, False)

    # Service start and capabilities

    def init_host(self, host):
        major = _nova_major_version()
        if major not in SUPPORTED_NOVA_MAJOR_VERSIONS:
            raise UEFIShimUnsupportedRelease(
                supported=', '.join('%d.x' % v
                                    for v in SUPPORTED_NOVA_MAJOR_VERSIONS),
                version=version.version_info.version_string())
        super(UEFIShimDriver, self).init_host(host)

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
        self.capabilities.update(
            {name: bool(caps.get(name, False))
             for name in _SIDECAR_CAPABILITIES})

    def update_provider_tree(self, provider_tree, nodename, allocations=None):
        # NOTE(uefi_shim): the resource tracker turns self.capabilities into
        # traits right after this call, so a sidecar that started after
        # nova-compute is picked up by the next periodic update.
        self._refresh_sidecar_capabilities()
        return super(UEFIShimDriver, self).update_provider_tree(
            provider_tree, nodename, allocations=allocations)

    # Firmware

    def _wants_uefi(self, image_meta):
        """Nova's rule: hw_firmware_type, else UEFI on aarch64 only."""
        hw_firmware_type = image_meta.properties.get('hw_firmware_type')
        if hw_firmware_type:
            return hw_firmware_type == fields.FirmwareType.UEFI
        arch = self._check_emulation_arch(image_meta)
        return arch == fields.Architecture.AARCH64

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
        body_props['hw_firmware_type'] = fields.FirmwareType.UEFI
        body = {'properties': body_props}
        if image_meta.obj_attr_is_set('id'):
            body['id'] = image_meta.id
        return body

    def _prepare_firmware(self, instance, image_meta, flavor):
        """The firmware the sidecar pinned for this instance.

        Creates the pin and the variable store on first use.

        TODO(uefi_shim): one sidecar call (prepare_firmware, see
        SIDECAR-API-NEEDS.md) instead of get-then-spawn on the sidecar's
        embedded backend.
        """
        view = self._sidecar.get_instance(instance.uuid)
        if view is None:
            view = self._sidecar.call(instance.uuid, 'spawn', {
                'instance': _instance_body(instance),
                'image_meta': self._image_meta_body(image_meta),
                'flavor': _flavor_body(flavor),
                'power_on': False,
            })
        if view.get('instance_name') != instance.name:
            raise UEFIShimInconsistent(reason=_(
                "the sidecar names instance %(uuid)s '%(theirs)s', Nova "
                "'%(ours)s'; set the sidecar's [DEFAULT] "
                "instance_name_template to Nova's") % {
                    'uuid': instance.uuid,
                    'theirs': view.get('instance_name'),
                    'ours': instance.name})
        firmware = view.get('firmware')
        if not firmware:
            raise UEFIShimInconsistent(reason=_(
                'the sidecar keeps instance %s as a BIOS guest') %
                instance.uuid)
        if firmware.get('stateless'):
            # NOTE(uefi_shim): 26.x's LibvirtConfigGuest cannot render
            # <loader stateless='yes'>.
            raise exception.UEFINotSupported(
                message=_('Stateless firmware needs Nova 2024.2 or later.'))
        nvram = view.get('nvram') or {}
        return {
            'loader': firmware['loader'],
            'nvram_template': firmware.get('nvram_template'),
            'nvram_path': nvram.get('path'),
            'secure': bool(firmware.get('secure')),
            'requires_smm': bool(firmware.get('requires_smm')),
        }

    def _configure_guest_by_virt_type(self, guest, instance, image_meta,
                                      flavor, *args, **kwargs):
        # NOTE(uefi_shim): *args/**kwargs: 2026.1 adds old_guest, whose
        # firmware elements matter only to Nova's own selection.
        if (CONF.libvirt.virt_type not in ('kvm', 'qemu') or
                not self._wants_uefi(image_meta)):
            return super(UEFIShimDriver, self)._configure_guest_by_virt_type(
                guest, instance, image_meta, flavor, *args, **kwargs)

        firmware = self._prepare_firmware(instance, image_meta, flavor)

        # NOTE(uefi_shim): let Nova configure everything else (machine type,
        # sysinfo, boot menu, image_hw_machine_type) as for a BIOS guest: its
        # UEFI branch would pick a loader from the host's descriptors and
        # apply its own UEFI and Secure Boot checks, which are the sidecar's.
        bios_image_meta = image_meta.obj_clone()
        bios_image_meta.properties.hw_firmware_type = (
            fields.FirmwareType.BIOS)
        super(UEFIShimDriver, self)._configure_guest_by_virt_type(
            guest, instance, bios_image_meta, flavor, *args, **kwargs)

        guest.os_loader = firmware['loader']
        guest.os_loader_type = 'pflash'
        guest.os_loader_secure = firmware['secure']
        guest.os_nvram_template = firmware['nvram_template']
        guest.os_nvram = firmware['nvram_path']
        guest.features = [f for f in guest.features
                          if f.root_name != 'smm']
        if firmware['requires_smm']:
            guest.features.append(_LibvirtConfigGuestFeatureSMM())

    # NVRAM lifetime

    def _check_uefi_support(self, hw_firmware_type):
        # NOTE(uefi_shim): Nova 26 uses this only to decide whether undefine
        # deletes NVRAM; here undefine never does (_KeepNvramGuest).
        return False

    def _undefine_domain(self, instance, keep_vtpm=False, keep_nvram=True):
        # Same as LibvirtDriver._undefine_domain, but the NVRAM file is always
        # kept: the sidecar deletes the store (see cleanup()).
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
        # Nova 26 undefines the domain for the block copy with
        # guest.delete_configuration(support_uefi), deleting NVRAM.
        return super(UEFIShimDriver, self)._live_snapshot(
            context, instance, _KeepNvramGuest.of(guest), *args, **kwargs)

    def _swap_volume(self, guest, *args, **kwargs):
        # Same temporary undefine as _live_snapshot.
        return super(UEFIShimDriver, self)._swap_volume(
            _KeepNvramGuest.of(guest), *args, **kwargs)

    def cleanup(self, context, instance, network_info, block_device_info=None,
                destroy_disks=True, migrate_data=None, destroy_vifs=True,
                destroy_secrets=True):
        super(UEFIShimDriver, self).cleanup(
            context, instance, network_info,
            block_device_info=block_device_info, destroy_disks=destroy_disks,
            migrate_data=migrate_data, destroy_vifs=destroy_vifs,
            destroy_secrets=destroy_secrets)
        if destroy_disks:
            # The instance's disks are gone from this host, so is its store.
            # The sidecar answers success for an instance it does not know.
            self._sidecar.call(instance.uuid, 'destroy', {
                'instance': _instance_body(instance),
                'destroy_disks': True,
            })

