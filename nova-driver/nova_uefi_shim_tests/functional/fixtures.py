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
(``node --import tsx src/main.ts``) with ``[hypervisor] backend = nova`` (the
domain is Nova's), its own NVRAM and state directories, a port picked before
it starts and its peers (the other hosts' sidecars) configured.

Every host of a deployment keeps its stores at the same path (Nova keeps a
domain's ``<os>`` when it live-migrates it). So that the hosts of one test
still have separate stores, each sidecar runs in its own mount namespace
(``unshare --mount``, as root) with its own directory bind-mounted on the
shared path; tests read a host's files through its own directory. Other
bind mounts (``mounts``) give a sidecar a different view of a system
directory, e.g. the firmware files Nova's fake libvirt advertises.
Environment:

* ``NOVA_UEFI_SHIM_REPO``: repository root (default: the parent of
  ``nova-driver/``);
* ``NOVA_UEFI_SHIM_NODE``: the node binary (default: ``node`` on PATH).
"""

import json
import os
import shlex
import shutil
import signal
import socket
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

#: Debian's qemu-efi-aarch64 (2022.11): the map of a sidecar on a (faked)
#: aarch64 host. Secure Boot on Arm needs no SMM.
AAVMF_DIR = '/usr/share/AAVMF'
AAVMF_FIRMWARE = {
    'loader': AAVMF_DIR + '/AAVMF_CODE.fd',
    'nvram_template': AAVMF_DIR + '/AAVMF_VARS.fd',
    'secure_loader': AAVMF_DIR + '/AAVMF_CODE.ms.fd',
    'secure_nvram_template': AAVMF_DIR + '/AAVMF_VARS.ms.fd',
    'secure_requires_smm': 'false',
}

#: libvirt's own store directory (qemu:///system).
LIBVIRT_NVRAM_DIR = '/var/lib/libvirt/qemu/nvram'

START_TIMEOUT = 60

#: Signs the sidecar-to-sidecar calls of one test run.
PEER_SECRET = 'functional-test-peer-secret'

_NAMESPACES = None


def namespaces_available():
    """True when sidecars can run in their own mount namespace."""
    global _NAMESPACES
    if _NAMESPACES is None:
        _NAMESPACES = bool(shutil.which('unshare')) and subprocess.call(
            ['unshare', '--mount', '--propagation', 'private', 'true'],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) == 0
    return _NAMESPACES


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


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


class ReplicaDirectory(fixtures.Fixture):
    """A replica store every sidecar of a test shares, with one key.

    ``[replica] backend = directory`` (a shared filesystem, as CephFS or
    NFS would be): the same encrypted generations, claims and fencing as the
    S3 backend, which the sidecar's own suite runs against Swift.
    """

    def _setUp(self):
        base = self.useFixture(fixtures.TempDir()).path
        self.path = os.path.join(base, 'replicas')
        os.mkdir(self.path)
        self.key_file = os.path.join(base, 'replica.key')
        with open(self.key_file, 'w') as f:
            f.write(os.urandom(32).hex() + '\n')
        os.chmod(self.key_file, 0o600)

    def config_lines(self):
        return ['[replica]', 'backend = directory',
                'path = %s' % self.path,
                'encryption_key_file = %s' % self.key_file,
                'retry_interval = 1']

    def objects(self, uuid):
        """The files the replica store holds for an instance."""
        out = []
        for root, _dirs, files in os.walk(self.path):
            if uuid in root.split(os.sep):
                out += [os.path.relpath(os.path.join(root, f), self.path)
                        for f in files]
        return sorted(out)


class SidecarFixture(fixtures.Fixture):
    """One sidecar process; ``url``, ``nvram_dir`` and small API helpers."""

    def __init__(self, host, port, peers, nvram_mount=None, secure_boot=True,
                 firmware=None, mounts=(), replicas=None, arch=None,
                 descriptor_dir=None):
        """One sidecar.

        :param host: its [DEFAULT] host (the compute host's name)
        :param port: the port it listens on
        :param peers: {host name: port} of every sidecar of the test
        :param nvram_mount: the [nvram] nvram_dir every host shares, its own
            directory bind-mounted there (None: its own directory as is)
        :param firmware: the [firmware:<arch>] map (default ``FIRMWARE``)
        :param mounts: more (source, target) bind mounts in its namespace
        :param replicas: ``ReplicaDirectory`` every host shares ([replica]
            backend = directory), or None for no replicas
        :param arch: the host architecture it reports ([debug] host_arch,
            as Nova's fake libvirt reports a faked one) and its map's
            section; None: x86_64, the process's own not named
        :param descriptor_dir: a directory of QEMU firmware descriptors it
            reads besides the map ([firmware] descriptor_dirs); None: none
        """
        super(SidecarFixture, self).__init__()
        self.host = host
        self.port = port
        self.peers = dict(peers)
        self.nvram_mount = nvram_mount
        self.secure_boot = secure_boot
        self.firmware = dict(firmware or FIRMWARE)
        self.mounts = list(mounts)
        self.replicas = replicas
        self.arch = arch
        self.descriptor_dir = descriptor_dir
        self.process = None
        self.url = 'http://127.0.0.1:%d' % port

    def _setUp(self):
        self.base_dir = self.useFixture(fixtures.TempDir()).path
        #: this host's store directory, as the test sees it
        self.nvram_dir = os.path.join(self.base_dir, 'nvram')
        os.mkdir(self.nvram_dir)
        self.state_dir = os.path.join(self.base_dir, 'state')
        self.conf_file = os.path.join(self.base_dir, 'nova-uefi-shim.conf')
        self.log_file = os.path.join(self.base_dir, 'sidecar.log')
        with open(self.conf_file, 'w') as f:
            f.write(self._config())
        self.start()

    @property
    def configured_nvram_dir(self):
        """[nvram] nvram_dir: the path the sidecar and Nova's XML use."""
        return self.nvram_mount or self.nvram_dir

    def local_path(self, path):
        """Where the test finds a file the sidecar names ``path``."""
        prefix = self.configured_nvram_dir.rstrip('/') + '/'
        if path.startswith(prefix):
            return os.path.join(self.nvram_dir, path[len(prefix):])
        return path

    def _config(self):
        lines = [
            '[DEFAULT]',
            'host = %s' % self.host,
            'instance_name_template = instance-%08x',
            '[api]',
            'host = 127.0.0.1',
            'port = %d' % self.port,
            '[hypervisor]',
            'backend = nova',
            'state_dir = %s' % self.state_dir,
            '[nvram]',
            'nvram_dir = %s' % self.configured_nvram_dir,
            '[firmware]',
            # no QEMU descriptors: only the map below, on every machine
            'descriptor_dirs = %s' % (self.descriptor_dir or
                                      os.path.join(self.base_dir, 'none')),
            'secure_boot = %s' % ('true' if self.secure_boot else 'false'),
            '[peer]',
            'shared_secret = %s' % PEER_SECRET,
            'hosts = %s' % ','.join(
                '%s=http://127.0.0.1:%d' % kv
                for kv in sorted(self.peers.items())),
            'timeout = 10',
        ]
        if self.arch:
            lines += ['[debug]', 'host_arch = %s' % self.arch]
        lines.append('[firmware:%s]' % (self.arch or 'x86_64'))
        lines += ['%s = %s' % kv for kv in sorted(self.firmware.items())]
        lines.append('secure_enrolled_keys = true')
        if self.replicas:
            lines += self.replicas.config_lines()
        return '\n'.join(lines) + '\n'

    def _argv(self):
        # NOVA_UEFI_SHIM_SIDECAR=dist: the compiled sidecar (npm run build),
        # as `npm start` runs it; by default the TypeScript sources (tsx).
        if os.environ.get('NOVA_UEFI_SHIM_SIDECAR') == 'dist':
            entry = [os.path.join(REPO_ROOT, 'dist', 'main.js')]
        else:
            entry = ['--import', 'tsx', 'src/main.ts']
        node = [node_binary()] + entry + ['--config-file', self.conf_file]
        mounts = list(self.mounts)
        if self.nvram_mount:
            mounts.append((self.nvram_dir, self.nvram_mount))
        if not mounts:
            return node
        script = ' && '.join(
            'mount --bind %s %s' % (shlex.quote(src), shlex.quote(dst))
            for src, dst in mounts) + ' && exec "$@"'
        return ['unshare', '--mount', '--propagation', 'private',
                'sh', '-c', script, 'sidecar'] + node

    def start(self):
        """Start the process; ``url`` is set once it listens."""
        log = open(self.log_file, 'a')
        offset = log.tell()
        self.process = subprocess.Popen(
            self._argv(), cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.addCleanup(self.stop)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._listening_port(offset):
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

    def kill(self):
        """SIGKILL, as when its host dies; ``start`` brings it back."""
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

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
        """Every file in this host's store directory (stashes, staged
        copies included)."""
        if not os.path.isdir(self.nvram_dir):
            return []
        return sorted(os.listdir(self.nvram_dir))

    def state_files(self):
        """This host's instance records, migration journals and recorded
        definitions."""
        out = []
        for sub in ('instances', 'migrations', 'domains', 'replicas'):
            d = os.path.join(self.state_dir, sub)
            if os.path.isdir(d):
                out += ['%s/%s' % (sub, f) for f in sorted(os.listdir(d))
                        if not f.startswith('.')]
        return out
