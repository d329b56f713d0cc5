"""The small part of openstacksdk/keystoneauth behaviour the core depends on, in one place.

- :func:`check_connection` turns "cannot reach" and "bad credentials" into one clear
  :class:`~os_migrate.exceptions.CloudError` before any other call.
- :func:`find_or_none` is a ``find_*`` proxy call without the deprecated ``ignore_missing=True``
  (openstacksdk 4.x warns, 6.0 changes the default).
- :class:`RequestCounter` counts HTTP requests at the keystoneauth session level (every proxy of a
  ``Connection`` calls ``Session.request``), split into reads and writes; used by tests that prove
  "no write" and by the benchmark.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from keystoneauth1 import exceptions as ksa_exc
from openstack import exceptions as sdk_exc

from os_migrate.exceptions import CloudError

_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def describe_cloud(conn) -> str:
    """``user@project at auth_url`` of a connection, for messages (no secrets)."""
    auth = getattr(getattr(conn, "config", None), "auth", None) or {}
    user = auth.get("username") or auth.get("application_credential_id") or auth.get("user_id") or "?"
    project = auth.get("project_name") or auth.get("project_id") or "?"
    return f"{user}@{project} at {auth.get('auth_url', '?')}"


def check_connection(conn) -> None:
    """Authenticate once so an unreachable cloud or wrong credentials fail early and clearly.

    :raises CloudError: the identity endpoint cannot be reached, or refuses the credentials.
    """
    try:
        conn.authorize()
    except (ksa_exc.ClientException, sdk_exc.SDKException) as e:
        kind = "refused the credentials" if _is_auth_failure(e) else "cannot be reached"
        raise CloudError(f"cloud {describe_cloud(conn)} {kind}: {type(e).__name__}: {e}") from e


def _is_auth_failure(exc: BaseException | None) -> bool:
    # openstacksdk re-raises keystoneauth's Unauthorized as a plain SDKException, so walk the
    # chain and fall back to the HTTP status in the message.
    while exc is not None:
        if isinstance(exc, (ksa_exc.Unauthorized, ksa_exc.Forbidden)):
            return True
        if getattr(exc, "status_code", None) in (401, 403) or "(HTTP 401)" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def find_or_none(find: Callable[..., Any], name_or_id: str, **attrs: Any) -> Any:
    """``find(name_or_id, ignore_missing=False, **attrs)``, or None when nothing matches.

    :param find: a proxy finder, e.g. ``conn.compute.find_flavor``.
    :raises openstack.exceptions.DuplicateResource: several resources match.
    """
    try:
        return find(name_or_id, ignore_missing=False, **attrs)
    except sdk_exc.NotFoundException:
        return None


def is_admin(conn) -> bool:
    """True if the connection's token carries the ``admin`` role (read from the token, no call)."""
    access = conn.session.auth.get_access(conn.session)
    return "admin" in (access.role_names or [])


class RequestCounter:
    """Count requests made through a connection's keystoneauth session.

    Use as a context manager; ``.reads``/``.writes``/``.total`` and ``.by_method`` hold the counts.
    Token requests (``POST .../auth/tokens``) are counted under ``AUTH``, neither read nor write.

    :param conn: an ``openstack.connection.Connection``.
    """

    def __init__(self, conn):
        self.session = conn.session
        self.by_method: Counter[str] = Counter()
        self.write_urls: list[str] = []
        self._orig = None
        self._lock = threading.Lock()

    def __enter__(self) -> RequestCounter:
        self._orig = self.session.request
        orig = self._orig

        def counting(url, method, *args, **kwargs):
            verb = method.upper()
            if verb == "POST" and str(url).rstrip("/").endswith("/auth/tokens"):
                verb = "AUTH"
            with self._lock:
                self.by_method[verb] += 1
                if verb in _WRITE_METHODS:
                    self.write_urls.append(f"{verb} {url}")
            return orig(url, method, *args, **kwargs)

        self.session.request = counting
        return self

    def __exit__(self, *exc) -> None:
        self.session.request = self._orig

    @property
    def writes(self) -> int:
        """Requests with a write method (POST, PUT, PATCH, DELETE)."""
        return sum(n for m, n in self.by_method.items() if m in _WRITE_METHODS)

    @property
    def reads(self) -> int:
        """Requests with any other method (GET, HEAD), token requests excluded."""
        return self.total - self.writes - self.by_method["AUTH"]

    @property
    def total(self) -> int:
        """All requests."""
        return sum(self.by_method.values())


def bulk_create(proxy: Any, sdk_cls: Any, bodies: list[dict]) -> list[Any]:
    """Create one ``sdk_cls`` per body in one request (a list body, Neutron's bulk create).

    The proxies' ``_bulk_create`` (openstacksdk's ``Resource.bulk_create``; only ports and
    security group rules have a public ``create_*s`` verb) takes the same kwargs as the single
    ``create_*`` verb and returns a generator; the request is made before it is consumed.

    :param proxy: the service proxy, e.g. ``conn.network``.
    :param sdk_cls: the openstacksdk resource class, e.g. ``openstack.network.v2.network.Network``.
    :returns: the created objects, in the order of ``bodies``.
    :raises openstack.exceptions.HttpException: the API refused the request.
    """
    return list(proxy._bulk_create(sdk_cls, bodies))


#: keystoneauth retries of a request answered 429 or 503 (its default ``retriable_status_codes``),
#: with its exponential back-off from 0.5 s; set by :func:`set_retries` unless the cloud's config
#: sets ``status_code_retries`` itself.
STATUS_CODE_RETRIES = 4
#: Services whose write requests carry a JSON body that a retry can send again. Not the image
#: service: an upload streams the source's data, which a retry cannot replay. Connection
#: failures are not retried either: keystoneauth cannot tell "never sent" from "sent, then cut",
#: and a second POST would create a twin.
RETRY_SERVICES = ("network", "compute", "identity")


def set_retries(conn: Any, status_code_retries: int = STATUS_CODE_RETRIES) -> None:
    """Make the :data:`RETRY_SERVICES` proxies of ``conn`` retry requests answered 429 or 503.

    Concurrent writes may meet an API's rate limit (429) or a busy server (503), which by HTTP
    semantics did not act on the request; keystoneauth's adapter retries them when
    ``status_code_retries`` is set (openstacksdk passes the cloud config's
    ``<service>_status_code_retries`` to each proxy it builds). Values the cloud's config sets are
    kept. Proxies built so far are updated in place (openstacksdk keeps them in
    ``Connection._proxies``), later ones read the config.
    """
    config = getattr(getattr(conn, "config", None), "config", None)
    if isinstance(config, dict) and config.get("status_code_retries") is None:
        for service in RETRY_SERVICES:
            config.setdefault(f"{service}_status_code_retries", status_code_retries)
    for proxy in list((getattr(conn, "_proxies", None) or {}).values()):
        if getattr(proxy, "service_type", None) in RETRY_SERVICES and not proxy.status_code_retries:
            proxy.status_code_retries = status_code_retries
