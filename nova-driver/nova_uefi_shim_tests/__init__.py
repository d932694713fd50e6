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

"""Tests of the nova-uefi-shim Nova driver.

Run from a source tree (``run-functional.sh``), the driver is not installed:
this package puts the tree's ``nova/virt`` on ``nova.virt``'s package path
so that ``compute_driver = uefi_shim.UEFIShimDriver`` loads the tree's code.
Set ``NOVA_UEFI_SHIM_TEST_INSTALLED=1`` to test an installed copy instead.
"""

import os

import nova.monkey_patch  # noqa: F401 (eventlet first, as nova.tests does)
import nova.virt

_SOURCE_VIRT_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    'nova', 'virt')

if (os.environ.get('NOVA_UEFI_SHIM_TEST_INSTALLED') != '1' and
        os.path.isdir(os.path.join(_SOURCE_VIRT_DIR, 'uefi_shim')) and
        _SOURCE_VIRT_DIR not in nova.virt.__path__):
    # NOTE(uefi_shim): nova.virt is a package of nova's; only its search
    # path is extended, nothing of nova's is shadowed but a module named
    # uefi_shim.
    nova.virt.__path__.insert(0, _SOURCE_VIRT_DIR)
