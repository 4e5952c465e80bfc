"""The OpenStack adapter's transport: an openstacksdk connection built from explicit credentials (never
clouds.yaml or OS_* variables), raw JSON calls through its authenticated session, pacing, retries and
the translation of HTTP failures into our error types.

Raw JSON through the SDK's session keeps the SDK's auth, catalog, microversion and re-authentication
(keystoneauth re-authenticates once on a 401) but skips its Resource objects, which cost ~4 ms per
server: 40 s for 10,000 servers against ~0.3 s for the JSON (bench/cloud_poll.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from include.providers.base import AuthError, CapacityError, ProviderError, QuotaError, TransientError
from include.providers.ratelimit import Unlimited, retry_transient

THROTTLE = {429, 503}
AMBIGUOUS = {500, 502, 504}  # the request may have been carried out


@dataclass(frozen=True)
class OpenStackCredentials:
    """Password (``username``/``password``) or application credential (id or name + secret)."""

    auth_url: str
    project_name: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    user_domain_name: str | None = "Default"
    project_domain_name: str | None = "Default"
    application_credential_id: str | None = None
    application_credential_name: str | None = None
    application_credential_secret: str | None = field(default=None, repr=False)
    region_name: str | None = None
    cacert: str | None = None
    interface: str = "public"
    timeout_s: float = 60.0  # per HTTP request; without it a hung endpoint hangs the task

    def auth(self) -> tuple[str, dict[str, Any]]:
        if self.application_credential_secret:
            auth = {
                "auth_url": self.auth_url,
                "application_credential_secret": self.application_credential_secret,
            }
            if self.application_credential_id:
                auth["application_credential_id"] = self.application_credential_id
            else:
                auth |= {
                    "application_credential_name": self.application_credential_name,
                    "username": self.username,
                    "user_domain_name": self.user_domain_name,
                }
            return "v3applicationcredential", auth
        return "password", {
            "auth_url": self.auth_url,
            "username": self.username,
            "password": self.password,
            "project_name": self.project_name,
            "user_domain_name": self.user_domain_name,
            "project_domain_name": self.project_domain_name,
        }


def connect(creds: OpenStackCredentials):
    """An openstacksdk Connection; no network traffic until the first call."""
    import warnings

    import openstack.config
    from openstack.connection import Connection

    # The SDK warns about its own internal calls (service_type, influxdb) on every request: noise in task logs.
    warnings.filterwarnings("ignore", module=r"openstack\.")

    auth_type, auth = creds.auth()
    region = openstack.config.get_cloud_region(
        load_yaml_config=False,
        load_envvars=False,
        app_name="cloudscheduler",
        auth_type=auth_type,
        auth=auth,
        region_name=creds.region_name,
        interface=creds.interface,
        cacert=creds.cacert,
        api_timeout=creds.timeout_s,
    )
    return Connection(config=region)


def _message(resp) -> str:
    try:
        body = resp.json()
    except ValueError:
        return (resp.text or resp.reason or "")[:300]
    if isinstance(body, dict) and len(body) == 1:
        inner = next(iter(body.values()))
        if isinstance(inner, dict) and "message" in inner:
            return str(inner["message"])[:300]
    return str(body)[:300]


def http_error(cloud: str, resp) -> ProviderError:
    code, msg = resp.status_code, _message(resp)
    text = f"HTTP {code} {resp.request.method if resp.request else ''} {msg}".replace("  ", " ")
    low = msg.lower()
    if "no valid host" in low:
        return CapacityError(cloud, text)
    if code == 401:
        return AuthError(cloud, text)
    if code == 413 or (code in (403, 409) and "quota" in low):
        return QuotaError(cloud, text)
    if code in THROTTLE or code in AMBIGUOUS:
        err = TransientError(cloud, text)
        err.retry_after = float(resp.headers.get("Retry-After", 0) or 0) if code in THROTTLE else 0.0
        err.throttled = code in THROTTLE
        return err
    return ProviderError(cloud, text)


def map_exception(cloud: str, err: Exception) -> ProviderError:
    """keystoneauth/openstacksdk exceptions -> ours; the message never holds credentials."""
    from keystoneauth1 import exceptions as ks

    if isinstance(err, ks.http.Unauthorized | ks.http.Forbidden):  # only auth requests raise these
        return AuthError(
            cloud, f"authentication failed: HTTP {getattr(err, 'http_status', '')} {err.message}"[:300]
        )
    unreachable = isinstance(err, ks.DiscoveryFailure) and "Unable to establish connection" in str(err)
    if isinstance(err, ks.ConnectionError) or unreachable:  # ConnectFailure, ConnectTimeout, SSLError, ...
        return TransientError(cloud, f"cannot reach the cloud: {type(err).__name__}")
    if isinstance(err, ks.http.HttpError):
        code = err.http_status or 0
        cls = TransientError if code in THROTTLE or code >= 500 else ProviderError
        return cls(cloud, f"identity: HTTP {code} {err.message}"[:300])
    if isinstance(err, ks.EndpointNotFound | ks.DiscoveryFailure):
        return ProviderError(cloud, f"service not in the catalog or not reachable: {err}"[:300])
    return ProviderError(cloud, f"{type(err).__name__}: {err}"[:300])


class OpenStackSession:
    """JSON calls to one service of one cloud, paced by ``bucket`` and retried on throttling."""

    def __init__(self, cloud: str, conn, bucket=None, attempts: int = 4):
        self.cloud, self.conn = cloud, conn
        self.bucket = bucket or Unlimited()
        self.attempts = attempts

    def access(self):
        """Keystone's answer for the current token (keystoneauth's AccessInfo): user, expiry, and the
        application credential used, if any. Authenticates first if needed."""
        from keystoneauth1 import exceptions as ks
        from openstack.exceptions import SDKException

        try:
            return self.conn.session.auth.get_access(self.conn.session)
        except (ks.ClientException, SDKException) as err:
            raise map_exception(self.cloud, err) from None

    def call(
        self, service: str, method: str, url: str, *, ok=(200, 201, 202, 204), retry_ambiguous=True, **kw
    ):
        """One request; returns the decoded JSON (or None). ``retry_ambiguous`` False for creates, which
        must not be repeated after a 500 that may have made the VM (the next cycle's create finds it)."""
        from keystoneauth1 import exceptions as ks
        from openstack.exceptions import SDKException

        def once():
            self.bucket.acquire()
            try:  # the first use of a service authenticates and discovers its endpoint
                resp = getattr(self.conn, service).request(url, method, **kw)
            except (ks.ClientException, SDKException) as err:
                error = map_exception(self.cloud, err)
                # A timeout (keystoneauth reports read timeouts as ConnectTimeout too) may come after the
                # cloud acted: a create is not repeated. A refused connection never reached it.
                if not retry_ambiguous and _maybe_acted(err):
                    error.maybe_acted = True
                    raise _Final(error) from None
                raise error from None
            if resp.status_code in ok:
                return resp.json() if resp.content and resp.status_code != 204 else None
            error = http_error(self.cloud, resp)
            if isinstance(error, TransientError) and not retry_ambiguous and not error.throttled:
                error.maybe_acted = True  # a 500 after which the VM may exist all the same
                raise _Final(error)
            raise error

        try:
            return retry_transient(once, attempts=self.attempts)
        except _Final as final:
            raise final.error from None


def _maybe_acted(err: Exception) -> bool:
    """Whether the cloud may have carried out a request that failed with ``err``: a timeout (keystoneauth
    reports read timeouts as ConnectTimeout too), or a connection that dropped after the request was
    sent. Only a connection that was never made (refused, no route, no name) certainly did nothing."""
    from keystoneauth1 import exceptions as ks

    if isinstance(err, ks.ConnectTimeout | ks.UnknownConnectionError):
        return True
    if isinstance(err, ks.ConnectFailure):
        text = str(err)
        return not any(m in text for m in NEVER_CONNECTED)
    return False


# How requests/urllib3 describe a connection that was never established (keystoneauth's ConnectFailure
# wraps them all, and also "Connection aborted" after the request went out).
NEVER_CONNECTED = ("Failed to establish a new connection", "Connection refused", "Name or service not known",
                   "No route to host", "Temporary failure in name resolution")  # fmt: skip


class _Final(Exception):
    """Carries an error past the retry loop (a create that may have been carried out)."""

    def __init__(self, error: ProviderError):
        self.error = error
