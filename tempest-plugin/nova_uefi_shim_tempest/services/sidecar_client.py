"""A small client for one compute host's nova-uefi-shim sidecar (its public API, read only)."""

import json
import os
import stat
import urllib.error
import urllib.parse
import urllib.request

from tempest.lib import exceptions as lib_exc


class SidecarError(lib_exc.TempestException):
    message = "sidecar %(url)s answered %(status)s: %(body)s"


def read_token(path):
    """The bearer token from its file; a file that group or others can read is refused."""
    if not path:
        raise lib_exc.InvalidConfiguration("[uefi_shim] sidecar_token_file is not set")
    mode = os.stat(path).st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise lib_exc.InvalidConfiguration(
            "[uefi_shim] sidecar_token_file %s is readable by others (mode %o): chmod 600 it"
            % (path, stat.S_IMODE(mode))
        )
    with open(path, encoding="utf-8") as f:
        return f.read().strip()


class SidecarClient(object):
    def __init__(self, base_url, token, timeout=60):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _get(self, path):
        """(status, decoded JSON answer) of GET path."""
        req = urllib.request.Request(
            self.base_url + path,
            headers={"Authorization": "Bearer " + self.token, "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            body = e.read()
            try:
                return e.code, json.loads(body or b"null")
            except ValueError:
                return e.code, body.decode("utf-8", "replace")

    def _get_ok(self, path):
        status, body = self._get(path)
        if status != 200:
            raise SidecarError(url=self.base_url + path, status=status, body=body)
        return body

    @staticmethod
    def _q(uuid):
        return urllib.parse.quote(uuid, safe="")

    def has_instance(self, uuid):
        """Whether this host's sidecar holds a record of the instance."""
        status, body = self._get("/v1/instances/%s" % self._q(uuid))
        if status == 404:
            return False
        if status != 200:
            raise SidecarError(url=self.base_url, status=status, body=body)
        return True

    def variables(self, uuid):
        """The variables in the instance's store on this host: [{name, guid, ...}]."""
        return self._get_ok("/v1/instances/%s/nvram/variables" % self._q(uuid))["variables"]

    def secure_boot(self, uuid):
        """The instance's Secure Boot summary (enabled, setup_mode, pk/kek/db/dbx, keyset)."""
        return self._get_ok("/v1/instances/%s/nvram/secure-boot" % self._q(uuid))
