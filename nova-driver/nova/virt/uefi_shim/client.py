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

"""HTTP client for the nova-uefi-shim sidecar.

The sidecar answers JSON. Its errors are ``{"error": {"type", "code",
"message"}}`` where ``type`` names a Nova exception class; this module raises
that class (from ``nova.exception``) with the sidecar's message, so the API
user sees Nova's usual fault. It does not retry: a failed call fails the Nova
operation that made it.
"""

import re

from oslo_context import context as o_context
from oslo_log import log as logging
import requests

from nova import exception
from nova.i18n import _

LOG = logging.getLogger(__name__)

_REQUEST_ID_RE = re.compile(
    r'^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')


class SidecarUnavailable(exception.NovaException):
    msg_fmt = _("The nova-uefi-shim sidecar at %(url)s is unreachable: "
                "%(reason)s")


class SidecarError(exception.NovaException):
    """A sidecar error whose type is not a Nova exception."""
    msg_fmt = _("nova-uefi-shim sidecar error %(type)s: %(reason)s")


def exception_from_error(status, body):
    """Build the Nova exception that a sidecar error answer names.

    :param status: HTTP status of the answer
    :param body: the decoded JSON answer, or None when it was not JSON
    :returns: an instance of the ``nova.exception`` class named by
        ``error.type`` carrying ``error.message``, or ``SidecarError``
    """
    error = body.get('error') if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return SidecarError(type='HTTP %d' % status,
                            reason=_('answer without an error object'))
    name = str(error.get('type') or '')
    message = str(error.get('message') or name)
    cls = getattr(exception, name, None) if name.isidentifier() else None
    if isinstance(cls, type) and issubclass(cls, exception.NovaException):
        try:
            exc = cls(message=message)
        except Exception:
            # NOTE(uefi_shim): a Nova exception with its own __init__
            # signature; keep the sidecar's words rather than fail here.
            exc = SidecarError(type=name, reason=message)
    else:
        exc = SidecarError(type=name or 'HTTP %d' % status, reason=message)
    exc.sidecar_error = error
    return exc


class SidecarClient(object):
    """Calls one sidecar: ``POST /v1/instances/{uuid}/{method}`` and GETs."""

    def __init__(self, url, auth_token=None, timeout=60):
        self.url = url.rstrip('/')
        self.timeout = timeout
        self._session = requests.Session()
        self._session.headers['Accept'] = 'application/json'
        # NOTE(uefi_shim): one connection per request. A kept-alive
        # connection the sidecar closes when it has been idle for its
        # keep-alive time (Node's 5 s) races with the next request, which
        # then fails with "Remote end closed connection without response"
        # (seen on a busy host); a POST cannot be retried blindly.
        self._session.headers['Connection'] = 'close'
        if auth_token:
            self._session.headers['Authorization'] = 'Bearer %s' % auth_token

    @classmethod
    def from_conf(cls, group):
        """Build a client from the ``[uefi_shim]`` option group."""
        return cls(group.url, auth_token=group.auth_token,
                   timeout=group.timeout)

    def _request(self, method, path, json=None):
        headers = {}
        ctxt = o_context.get_current()
        request_id = getattr(ctxt, 'request_id', None)
        if request_id and _REQUEST_ID_RE.match(request_id):
            headers['X-OpenStack-Request-ID'] = request_id
        url = self.url + path
        try:
            resp = self._session.request(method, url, json=json,
                                         headers=headers,
                                         timeout=self.timeout)
        except requests.RequestException as e:
            raise SidecarUnavailable(url=self.url, reason=e)
        try:
            body = resp.json() if resp.content else {}
        except ValueError:
            body = None
        if resp.status_code >= 400:
            exc = exception_from_error(resp.status_code, body)
            LOG.debug('Sidecar %(method)s %(path)s answered %(status)d: '
                      '%(error)s',
                      {'method': method, 'path': path,
                       'status': resp.status_code, 'error': body})
            raise exc
        if not isinstance(body, dict):
            raise SidecarError(type='HTTP %d' % resp.status_code,
                               reason=_('answer is not a JSON object'))
        return body

    def call(self, instance_uuid, method, body):
        """POST a driver method with Nova's keyword arguments as JSON."""
        return self._request(
            'POST', '/v1/instances/%s/%s' % (instance_uuid, method), body)

    def get_instance(self, instance_uuid):
        """The sidecar's view of an instance, or None when it has none."""
        try:
            return self._request('GET', '/v1/instances/%s' % instance_uuid)
        except exception.InstanceNotFound:
            return None

    def replica_instances(self):
        """UUIDs of the instances with replicas in the shared store."""
        return self._request('GET', '/v1/host/replicas').get('instances', [])

    def get_capabilities(self):
        return self._request('GET', '/v1/host/capabilities')

    def health(self):
        return self._request('GET', '/healthz')
