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

"""nova.conf ``[uefi_shim]``: how nova-compute reaches its sidecar."""

from oslo_config import cfg

uefi_shim_group = cfg.OptGroup(
    'uefi_shim',
    title='nova-uefi-shim options',
    help="""
Options for ``compute_driver = uefi_shim.UEFIShimDriver``.

That driver is Nova's libvirt driver except for UEFI firmware and NVRAM: the
loader, the variable store template, SMM and the per-instance variable store
are chosen and kept by the nova-uefi-shim sidecar running on the same host,
which this driver calls over HTTP.
""")

uefi_shim_opts = [
    cfg.URIOpt(
        'url',
        default='http://127.0.0.1:7780',
        schemes=['http', 'https'],
        help="""
Base URL of the nova-uefi-shim sidecar on this compute host.

The sidecar's ``[api] host`` and ``[api] port`` decide where it listens.
Every compute host talks to its own sidecar: the variable stores live on the
host that runs the instance.

Related options:

* ``[uefi_shim] auth_token``
"""),
    cfg.StrOpt(
        'auth_token',
        secret=True,
        default='',
        help="""
Bearer token sent with every request to the sidecar.

Must equal the sidecar's ``[api] auth_token``. Leave empty only when the
sidecar listens on a loopback address without a token.
"""),
    cfg.IntOpt(
        'timeout',
        default=60,
        min=1,
        help="""
Seconds to wait for the sidecar to answer one request.

A request that times out fails the Nova operation that made it (the instance
goes to ERROR as it would on a libvirt failure); the variable store is left
as it was.
"""),
    cfg.BoolOpt(
        'explicit_nvram_path',
        default=True,
        help="""
Write the variable store's path into the domain XML's ``<nvram>`` element.

When False, a path equal to libvirt's own default for the domain
(``/var/lib/libvirt/qemu/nvram/<name>_VARS.fd``, which libvirt fills in when
it defines the domain) is left out, so the XML reads as stock Nova writes
it. Any other path is always written. The store and its lifetime are the
same either way.
"""),
    cfg.IntOpt(
        'replica_cleanup_interval',
        default=600,
        min=-1,
        help="""
Seconds between two clean-ups of the replicas of deleted instances.

Nova deletes a SHELVED_OFFLOADED server in the API without calling any
compute host, so no sidecar hears of it. At most this often, during the
resource tracker's periodic update, the driver asks the sidecar which
instances have replicas, asks Nova which of those are deleted, and has the
sidecar destroy their replicas. 0 runs it at every update; -1 never.
"""),
]


def register_opts(conf):
    conf.register_group(uefi_shim_group)
    conf.register_opts(uefi_shim_opts, group=uefi_shim_group)


def list_opts():
    """(group, options) pairs for oslo-config-generator."""
    return [(uefi_shim_group, uefi_shim_opts)]
