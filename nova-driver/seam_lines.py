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

"""Print where the seams of SEAMS.md are in the running Nova's own code.

    python3 nova-driver/seam_lines.py                       # Nova 26 (host)
    scripts/nova-release.sh run 31 -- python3 \
        "$PWD/nova-driver/seam_lines.py"                    # 31 or 33

Line numbers are those of the ``def`` (not of a decorator), read with
``inspect`` from the installed package; the "lines" entries are the lines
of a file that match a pattern (the calls and flags SEAMS.md names).
"""

import inspect
import re

from nova.compute import manager
from nova import version
from nova.virt import driver as virt_driver
from nova.virt.libvirt import config
from nova.virt.libvirt import driver
from nova.virt.libvirt import guest
from nova.virt.libvirt import host

DRIVER_METHODS = (
    '_configure_guest_by_virt_type', '_copy_guest_firmware_elements',
    '_get_guest_config', '_get_guest_xml', '_undefine_domain',
    '_delete_guest_configuration', '_live_snapshot', '_swap_volume',
    'destroy', 'cleanup', '_cleanup', '_cleanup_resize', '_hard_reboot',
    'power_on', 'resume_state_on_host_boot', 'rescue', 'unrescue',
    'migrate_disk_and_power_off', 'finish_migration', 'confirm_migration',
    'finish_revert_migration', 'check_can_live_migrate_destination',
    'check_can_live_migrate_source', 'pre_live_migration', 'live_migration',
    '_live_migration', '_live_migration_operation',
    '_live_migration_monitor', 'post_live_migration',
    'post_live_migration_at_source', 'post_live_migration_at_destination',
    'rollback_live_migration_at_source',
    'rollback_live_migration_at_destination',
    '_update_host_specific_capabilities', 'update_provider_tree',
    '_check_secure_boot_support', '_check_uefi_support',
)
MANAGER_METHODS = (
    '_rebuild_default_impl', '_shelve_offload_instance', '_unshelve_instance',
    '_do_live_migration', '_rollback_live_migration', '_post_live_migration',
    '_live_migration_cleanup_flags', '_destroy_evacuated_instances',
    '_shutdown_instance', 'revert_resize',
)


def def_line(obj):
    """The line of ``def``/``class`` of obj (after its decorators)."""
    if obj is None:
        return 'absent'
    if isinstance(obj, property):
        obj = obj.fget
    lines, start = inspect.getsourcelines(obj)
    for i, text in enumerate(lines):
        if re.match(r'\s*(async\s+)?(def|class) ', text):
            return start + i
    return start


def lines_matching(module, pattern, within=None):
    """Lines of module's file matching pattern (inside ``within`` only)."""
    with open(inspect.getsourcefile(module)) as f:
        text = f.read().split('\n')
    first, last = 1, len(text)
    if within is not None:
        body, first = inspect.getsourcelines(within)
        last = first + len(body) - 1
    return [n for n in range(first, last + 1)
            if re.search(pattern, text[n - 1])]


def main():
    print('Nova %s' % version.version_string())
    libvirt = driver.LibvirtDriver
    for name in DRIVER_METHODS:
        print('driver.py LibvirtDriver.%s %s' % (
            name, def_line(getattr(libvirt, name, None))))
    for name in MANAGER_METHODS:
        print('manager.py ComputeManager.%s %s' % (
            name, def_line(getattr(manager.ComputeManager, name, None))))
    print('virt/driver.py ComputeDriver.rebuild %s' % def_line(
        virt_driver.ComputeDriver.rebuild))
    for name in ('get_loader', 'supports_uefi', 'supports_secure_boot'):
        print('host.py Host.%s %s' % (
            name, def_line(getattr(host.Host, name, None))))
    delete = guest.Guest.delete_configuration
    print('guest.py Guest.delete_configuration %s %s' % (
        def_line(delete), inspect.signature(delete)))
    print('config.py LibvirtConfigGuestFeatureSMM %s' % def_line(
        config.LibvirtConfigGuestFeatureSMM))
    print('config.py LibvirtConfigGuest._format_os %s, _parse_os %s' % (
        def_line(config.LibvirtConfigGuest._format_os),
        def_line(config.LibvirtConfigGuest._parse_os)))
    init = config.LibvirtConfigGuest.__init__
    for label, module, pattern, within in (
            ('guest.py KEEP_NVRAM', guest, r'UNDEFINE_KEEP_NVRAM', delete),
            ('guest.py NVRAM', guest, r'UNDEFINE_NVRAM\b', delete),
            ('config.py os_loader_stateless', config,
             r'self\.os_loader_stateless\s*=', init),
            ('config.py os_loader_readonly', config,
             r'self\.os_loader_readonly\s*=', init),
            ('driver.py os_firmware efi', driver, r"os_firmware = 'efi'", None),
            ('driver.py _copy_guest_firmware_elements(', driver,
             r'_copy_guest_firmware_elements\(', None),
            ('driver.py get_loader(', driver, r'get_loader\(', None),
            ('driver.py keep_nvram=', driver, r'keep_nvram=', None),
            ('driver.py delete_configuration(', driver,
             r'delete_configuration\(', None),
            ('driver.py _undefine_domain(', driver, r'_undefine_domain\(',
             None),
            ('driver.py _get_guest_xml(', driver, r'_get_guest_xml\(', None),
            ('manager.py do_cleanup = (not) is_shared_instance_path', manager,
             r'do_cleanup = \(?not migrate_data\.is_shared_instance_path',
             None)):
        print('%s lines %s' % (label, lines_matching(module, pattern,
                                                     within)))


if __name__ == '__main__':
    main()
