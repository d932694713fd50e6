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

"""A real nova-uefi-shim sidecar process per compute host.

The sidecar runs from this repository's TypeScript sources
(``node --import tsx src/main.ts``) with the embedded hypervisor backend, its
own NVRAM and state directories and a free port. Environment:

* ``NOVA_UEFI_SHIM_REPO``: repository root (default: the parent of
  ``nova-driver/``);
* ``NOVA_UEFI_SHIM_NODE``: the node binary (default: ``node`` on PATH).
"""

import json
import os
import shutil
import signal
import subprocess
import time

import fixtures
import requests

REPO_ROOT = os.environ.get('NOVA_UEFI_SHIM_REPO') or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))

#: Debian's ovmf (2022.11): the firmware map every test sidecar serves.
OVMF_DIR = '/usr/share/OVMF'
FIRMWARE = {
    'loader': OVMF_DIR + '/OVMF_CODE_4M.fd',
    'nvram_template': OVMF_DIR + '/OVMF_VARS_4M.fd',
    'secure_loader': OVMF_DIR + '/OVMF_CODE_4M.ms.fd',
    'secure_nvram_template': OVMF_DIR + '/OVMF_VARS_4M.ms.fd',
}

START_TIMEOUT = 60


def node_binary():
    return os.environ.get('NOVA_UEFI_SHIM_NODE') or shutil.which('node')


def missing_prerequisites():
    """Why a sidecar cannot run here, or None."""
    if not node_binary():
        return 'node is not installed'
    if not os.path.isdir(os.path.join(REPO_ROOT, 'node_modules', 'tsx')):
        return 'tsx is missing from %s/node_modules' % REPO_ROOT
    for path in FIRMWARE.values():
        if not os.path.exists(path):
            return '%s is missing (Debian package ovmf)' % path
    return None


class SidecarFixture(fixtures.Fixture):
    """One sidecar process; ``url``, ``nvram_dir`` and small API helpers."""

    def __init__(self, host, secure_boot=True):
        super(SidecarFixture, self).__init__()
        self.host = host
        self.secure_boot = secure_boot
        self.process = None
        self.url = None

    def _setUp(self):
        self.base_dir = self.useFixture(fixtures.TempDir()).path
        self.nvram_dir = os.path.join(self.base_dir, 'nvram')
        self.state_dir = os.path.join(self.base_dir, 'state')
        self.conf_file = os.path.join(self.base_dir, 'nova-uefi-shim.conf')
        self.log_file = os.path.join(self.base_dir, 'sidecar.log')
        with open(self.conf_file, 'w') as f:
            f.write(self._config())
        self.start()

    def _config(self):
        lines = [
            '[DEFAULT]',
            'host = %s' % self.host,
            'instance_name_template = instance-%08x',
            '[api]',
            'host = 127.0.0.1',
            'port = 0',
            '[hypervisor]',
            'backend = embedded',
            'state_dir = %s' % self.state_dir,
            '[nvram]',
            'nvram_dir = %s' % self.nvram_dir,
            '[firmware]',
            # no QEMU descriptors: only the map below, on every machine
            'descriptor_dirs = %s' % os.path.join(self.base_dir, 'none'),
            'secure_boot = %s' % ('true' if self.secure_boot else 'false'),
            '[firmware:x86_64]',
        ]
        lines += ['%s = %s' % kv for kv in sorted(FIRMWARE.items())]
        lines.append('secure_enrolled_keys = true')
        return '\n'.join(lines) + '\n'

    def start(self):
        """Start the process; ``url`` is set once it listens."""
        log = open(self.log_file, 'a')
        offset = log.tell()
        self.process = subprocess.Popen(
            [node_binary(), '--import', 'tsx', 'src/main.ts',
             '--config-file', self.conf_file],
            cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.addCleanup(self.stop)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            port = self._listening_port(offset)
            if port:
                self.url = 'http://127.0.0.1:%d' % port
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise RuntimeError('sidecar for %s did not start:\n%s' % (
            self.host, self.log_tail()))

    def _listening_port(self, offset):
        with open(self.log_file) as f:
            f.seek(offset)
            for line in f:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if entry.get('msg') == 'listening':
                    return int(entry['port'])
        return None

    def stop(self):
        """Stop the process (SIGTERM, then SIGKILL after 10 s); idempotent."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def log_tail(self, lines=40):
        with open(self.log_file) as f:
            return ''.join(f.readlines()[-lines:])

    # API helpers for assertions

    def request(self, method, path, **kwargs):
        return requests.request(method, self.url + path, timeout=30, **kwargs)

    def get_instance(self, uuid):
        """The sidecar's view of an instance, or None on 404."""
        resp = self.request('GET', '/v1/instances/%s' % uuid)
        if resp.status_code == 404:
            return None
        resp.raise_for_status()
        return resp.json()

    def put_variable(self, uuid, guid, name, data_hex):
        resp = self.request(
            'PUT', '/v1/instances/%s/nvram/variables/%s/%s' % (
                uuid, guid, name), json={'data': data_hex})
        resp.raise_for_status()
        return resp.json()

    def get_variable(self, uuid, guid, name):
        """The variable's data (hex), or None when the store lacks it."""
        resp = self.request('GET', '/v1/instances/%s/nvram/variables' % uuid)
        resp.raise_for_status()
        for var in resp.json()['variables']:
            if var['guid'] == guid and var['name'] == name:
                return var['data']
        return None

    def store_files(self):
        if not os.path.isdir(self.nvram_dir):
            return []
        return sorted(os.listdir(self.nvram_dir))
