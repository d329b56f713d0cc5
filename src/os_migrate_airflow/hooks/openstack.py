"""Hook that turns an Airflow Connection into an openstacksdk ``Connection``.

Airflow Connection shape (``conn_type`` ``openstack``), JSON form as used in ``AIRFLOW_CONN_<ID>``::

    {
      "conn_type": "openstack",
      "host": "https://keystone.example:5000/v3",      # auth_url (full URL, with scheme)
      "login": "admin",                                 # username
      "password": "s3cret",                             # password (or application credential secret)
      "extra": {
        "project_name": "admin", "project_domain_name": "Default", "user_domain_name": "Default",
        "region_name": "RegionOne", "interface": "public", "identity_api_version": 3,
        "cacert": "/etc/ssl/keystone-ca.pem",           # or "verify": false / "insecure": true
        "auth": {...},                                  # optional clouds.yaml ``auth`` block, merged
        "auth_type": "v3applicationcredential",         # optional, inferred from the keys below
        "application_credential_id": "...", "application_credential_secret": "...",
        "cloud": "src", "clouds_yaml": "/etc/openstack/clouds.yaml"   # optional named cloud
      }
    }

The same as a URI (``AIRFLOW_CONN_OPENSTACK_SRC``, ``airflow connections add --conn-uri``); percent-encode
reserved characters of the user and password (``@`` -> ``%40``)::

    openstack://alice:s3cret@keystone.example:5000/v3?project_name=acme&user_domain_name=Default&project_domain_name=Default
    openstack://alice:s3cret@keystone.example:5000/v3?project_name=acme&protocol=http     # plain HTTP
    openstack://http://alice:s3cret@127.0.0.1:5000/v3?project_name=acme                  # same, Airflow's form

Airflow splits a URI into ``host``, ``port``, ``schema`` (the path) and extra (the query). The auth URL
is ``<scheme>://<host>[:<port>][/<schema>]``; the scheme is the one in ``host`` if it has one (the JSON
form, the Connection form, Airflow's ``openstack://https://...`` URI form), else extra ``protocol``
(``http`` or ``https``), else **https**. Extra values from a URI are strings: ``verify``/``insecure``
accept ``true``/``false``.

Form fields (``get_provider_info`` ``conn-fields``) are stored as plain extra keys of the same name;
keys written with the legacy ``extra__openstack__`` prefix are read too (a plain key wins).
Any other extra key (``*_api_version``, ``*_endpoint_override``, ``cert``, ``key``...) is passed to
openstacksdk as a top-level cloud setting, so a whole ``clouds.<name>`` block can be pasted into extra.

Credential sources, highest precedence first (the SSHHook pattern):

1. explicit constructor arguments (``auth_url``, ``username``, ``password``, ``project_name``,
   ``region_name``, ``interface``, ``cacert``, ``verify``, ``cloud``, ``clouds_yaml``);
2. Connection fields: ``host`` (+ ``port``, ``schema``) -> ``auth_url``, ``login`` -> ``username``,
   ``password`` -> ``password`` (or ``application_credential_secret`` when the auth type is an
   application credential);
3. flat extra keys, then the extra ``auth`` block;
4. with ``cloud``: the named cloud of ``clouds_yaml`` (or of the standard clouds.yaml locations);
5. defaults: ``interface=public``, ``identity_api_version=3``, ``auth_type`` inferred
   (``v3applicationcredential`` if application credential keys are present, else ``password``).

Every HTTP request has a timeout: extra ``api_timeout`` (seconds; openstacksdk's cloud setting of
that name), else the named cloud's own ``api_timeout``, else :data:`DEFAULT_API_TIMEOUT`. It bounds
a connect and each read (not a whole streamed download), so no call hangs on a dead API.

The worker's ``OS_*`` environment variables are never read: both openstacksdk code paths are called
with ``load_envvars=False`` (one worker process holds a source and a destination cloud at once).
Secrets are never logged nor put in error messages.

:meth:`OpenStackHook.test_connection` (the Connection form's Test button, ``POST
/api/v2/connections/test``) authenticates and reports the user, project and catalog; Airflow 3
enables it only with ``[core] test_connection = Enabled`` (``scripts/env.sh`` sets it for the
embedded Airflow).
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowFailException
from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1.identity.base import BaseIdentityPlugin
from openstack import exceptions as sdk_exceptions
from openstack.config import OpenStackConfig
from openstack.connection import Connection as SDKConnection

from os_migrate import const

#: Sent in the User-Agent header of every API call.
APP_NAME = "os-migrate-airflow"

PASSWORD_AUTH = "password"
APP_CRED_AUTH = "v3applicationcredential"

#: Keys of a clouds.yaml ``auth`` block that may also be given flat in extra.
AUTH_KEYS = (
    "auth_url",
    "username",
    "user_id",
    "password",
    "user_domain_name",
    "user_domain_id",
    "project_name",
    "project_id",
    "project_domain_name",
    "project_domain_id",
    "domain_name",
    "domain_id",
    "system_scope",
    "application_credential_id",
    "application_credential_name",
    "application_credential_secret",
    "token",
)
APP_CRED_KEYS = ("application_credential_id", "application_credential_name", "application_credential_secret")
#: An application credential is already bound to one project; Keystone refuses any other scope.
SCOPE_KEYS = (
    "project_name",
    "project_id",
    "project_domain_name",
    "project_domain_id",
    "domain_name",
    "domain_id",
    "system_scope",
)
SECRET_KEYS = ("password", "application_credential_secret", "token")
#: Extra keys the hook consumes itself; never passed to openstacksdk as cloud settings.
HOOK_KEYS = ("cloud", "clouds_yaml", "auth", "auth_type", "protocol", "insecure")
#: Prefix of extra keys written by Airflow 2 style connection forms.
LEGACY_EXTRA_PREFIX = "extra__openstack__"
#: Scheme of an auth URL built from a host without one (override with extra ``protocol``).
DEFAULT_PROTOCOL = "https"
#: Applied only when no clouds.yaml cloud is used (a named cloud keeps its own values).
DEFAULTS = {"interface": "public", "identity_api_version": "3"}

#: Seconds of openstacksdk's ``api_timeout`` when neither extra nor the named cloud sets one
#: (the core's, shared with the ``os-migrate`` CLI).
DEFAULT_API_TIMEOUT = const.DEFAULT_API_TIMEOUT

_TRUE = ("true", "yes", "1", "on")
_FALSE = ("false", "no", "0", "off")


class OpenStackConnectionError(AirflowFailException):
    """The Airflow Connection cannot describe an OpenStack cloud (retrying will not help).

    The message lists every problem found, one ``; ``-separated item each, and never contains secrets.
    """


class OpenStackHook(BaseHook):
    """Build and cache an ``openstack.connection.Connection`` from an Airflow Connection.

    .. seealso:: module docstring for the Connection shape and the precedence of credential sources.

    :param openstack_conn_id: Airflow Connection id (conn_type ``openstack``).
    :param auth_url: Keystone URL; overrides the Connection ``host``.
    :param username: overrides the Connection ``login``.
    :param password: overrides the Connection ``password``.
    :param project_name: overrides extra ``project_name``.
    :param region_name: overrides extra ``region_name``.
    :param interface: endpoint interface (``public``, ``internal``, ``admin``); overrides extra.
    :param cacert: path of a CA bundle to verify TLS with; overrides extra ``cacert``.
    :param verify: ``False`` disables TLS verification; overrides extra ``verify``.
    :param cloud: name of a cloud in a clouds.yaml; overrides extra ``cloud``.
    :param clouds_yaml: path of that clouds.yaml; overrides extra ``clouds_yaml``.
    """

    conn_name_attr = "openstack_conn_id"
    default_conn_name = "openstack_default"
    conn_type = "openstack"
    hook_name = "OpenStack"

    def __init__(
        self,
        openstack_conn_id: str = default_conn_name,
        *,
        auth_url: str | None = None,
        username: str | None = None,
        password: str | None = None,
        project_name: str | None = None,
        region_name: str | None = None,
        interface: str | None = None,
        cacert: str | None = None,
        verify: bool | None = None,
        cloud: str | None = None,
        clouds_yaml: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.openstack_conn_id = openstack_conn_id
        self.auth_url = auth_url
        self.username = username
        self.password = password
        self.project_name = project_name
        self.region_name = region_name
        self.interface = interface
        self.cacert = cacert
        self.verify = verify
        self.cloud = cloud
        self.clouds_yaml = clouds_yaml
        self._sdk_conn: SDKConnection | None = None

    # -- public API ---------------------------------------------------------------------------

    def get_conn(self) -> SDKConnection:
        """Return the openstacksdk Connection, built on the first call and cached.

        Building it makes no API call; the first request authenticates.

        :returns: ``openstack.connection.Connection``.
        :raises OpenStackConnectionError: the Airflow Connection is incomplete or contradictory
            (missing ``auth_url``, password and application credential both set, unknown cloud...).
        :raises airflow.sdk.exceptions.AirflowNotFoundException: no such Airflow Connection.
        """
        if self._sdk_conn is None:
            self._sdk_conn = self._connect()
        return self._sdk_conn

    def test_connection(self) -> tuple[bool, str]:
        """Authenticate with the configured credentials and describe what the token grants.

        :returns: ``(True, "Authenticated to <auth_url> as <user> in project <name> (<id>); catalog: ...")``
            or ``(False, "<error type>: <message>")``; never a token or a secret.
        """
        try:
            conn = self.get_conn()
            conn.authorize()
            auth_url = conn.config.config.get("auth", {}).get("auth_url")
            plugin = conn.session.auth
            if not isinstance(plugin, BaseIdentityPlugin):  # e.g. a pre-authenticated token plugin
                return True, f"Authenticated to {auth_url}"
            access = plugin.get_access(conn.session)
            services = sorted(access.service_catalog.get_endpoints() or {})
            scope = (
                f"project {access.project_name} ({access.project_id})"
                if access.project_id
                else "no project scope"
            )
            return True, (
                f"Authenticated to {auth_url} as "
                f"{access.username} in {scope}; catalog: {', '.join(services) or 'empty'}"
            )
        except Exception as e:  # report every failure to the UI instead of raising
            cause = _keystone_cause(e)
            return False, _redact(f"{type(cause).__name__}: {cause}", self._known_secrets())

    # -- building -----------------------------------------------------------------------------

    def _connect(self) -> SDKConnection:
        conn_id = self.openstack_conn_id
        cloud, clouds_yaml, settings = self.resolve_settings()
        if cloud:
            return self._connect_cloud(conn_id, cloud, clouds_yaml, settings)
        _raise_problems(conn_id, _problems(settings, require_auth_url=True))
        self.log.info(
            "OpenStack connection %r: auth_url=%s auth_type=%s project=%s region=%s",
            conn_id,
            settings["auth"].get("auth_url"),
            settings.get("auth_type"),
            _project_label(settings["auth"]),
            settings.get("region_name"),
        )
        settings.setdefault("api_timeout", DEFAULT_API_TIMEOUT)
        try:
            return SDKConnection(app_name=APP_NAME, **settings)
        except (ks_exceptions.ClientException, sdk_exceptions.SDKException) as e:
            raise OpenStackConnectionError(
                _redact(f"OpenStack connection {conn_id!r}: {e}", self._known_secrets())
            ) from None

    def _connect_cloud(
        self, conn_id: str, cloud: str, clouds_yaml: str | None, overrides: dict[str, Any]
    ) -> SDKConnection:
        """Load ``cloud`` from clouds.yaml and merge ``overrides`` into it (auth merged key by key)."""
        if clouds_yaml and not os.path.isfile(clouds_yaml):
            _raise_problems(conn_id, [f"clouds_yaml file not found: {clouds_yaml}"])
        files: dict[str, Any] = (
            {
                "config_files": [clouds_yaml],
                "secure_files": [os.path.join(os.path.dirname(clouds_yaml), "secure.yaml")],
            }
            if clouds_yaml
            else {}
        )
        source = clouds_yaml or "the standard clouds.yaml locations"
        try:
            config = OpenStackConfig(load_envvars=False, app_name=APP_NAME, **files)
            merged = config.get_one(cloud=cloud, validate=False, **overrides).config
            _raise_problems(conn_id, _problems(merged, require_auth_url=True))
            if not merged.get("api_timeout"):
                overrides = {**overrides, "api_timeout": DEFAULT_API_TIMEOUT}
            region = config.get_one(cloud=cloud, **overrides)
        except (ks_exceptions.ClientException, sdk_exceptions.SDKException) as e:
            raise OpenStackConnectionError(
                _redact(
                    f"OpenStack connection {conn_id!r}: cloud {cloud!r} from {source}: {e}",
                    self._known_secrets(),
                )
            ) from None
        self.log.info(
            "OpenStack connection %r: cloud %r from %s, auth_url=%s project=%s region=%s",
            conn_id,
            cloud,
            source,
            region.config["auth"].get("auth_url"),
            _project_label(region.config["auth"]),
            region.region_name,
        )
        return SDKConnection(config=region)

    def resolve_settings(self) -> tuple[str | None, str | None, dict[str, Any]]:
        """Merge the credential sources (see module docstring) without validating them.

        :returns: ``(cloud, clouds_yaml, settings)``; ``settings`` are the keyword arguments of
            ``openstack.connection.Connection`` (``auth_type``, ``auth`` and top-level cloud settings).
            Without ``cloud`` the defaults and the inferred ``auth_type`` are included; with ``cloud``
            they are only overrides for the named cloud.
        """
        conn = self.get_connection(self.openstack_conn_id)
        extra = _plain_extra(conn.extra_dejson)
        cloud = _first(self.cloud, extra.get("cloud"))
        clouds_yaml = _first(self.clouds_yaml, extra.get("clouds_yaml"))

        block = extra.get("auth") or {}
        if not isinstance(block, dict):
            _raise_problems(self.openstack_conn_id, ["extra 'auth' must be a JSON object"])
        auth = {k: v for k, v in block.items() if _is_set(v)}
        auth.update({k: extra[k] for k in AUTH_KEYS if _is_set(extra.get(k))})
        for key, field_value, arg_value in (
            ("auth_url", self._conn_auth_url(conn, extra.get("protocol")), self.auth_url),
            ("username", conn.login, self.username),
            ("project_name", None, self.project_name),
        ):
            value = _first(arg_value, field_value)
            if value is not None:
                auth[key] = value

        auth_type = extra.get("auth_type") or None
        if auth_type is None and any(k in auth for k in APP_CRED_KEYS):
            auth_type = APP_CRED_AUTH
        password = _first(self.password, conn.password)
        if password is not None:
            # An application credential's secret is naturally stored in the masked password field.
            if auth_type == APP_CRED_AUTH and "password" not in auth:
                if _is_set(auth.get("application_credential_secret")):
                    _raise_problems(
                        self.openstack_conn_id,
                        [
                            "conflicting credentials: both the Connection password and extra "
                            "application_credential_secret are set; keep only one"
                        ],
                    )
                auth["application_credential_secret"] = password
            else:
                auth["password"] = password

        settings: dict[str, Any] = {} if cloud else {"auth_type": auth_type or PASSWORD_AUTH, **DEFAULTS}
        if cloud and auth_type:
            settings["auth_type"] = auth_type
        settings.update({k: v for k, v in extra.items() if k not in AUTH_KEYS + HOOK_KEYS and _is_set(v)})
        for key, value in (
            ("region_name", self.region_name),
            ("interface", self.interface),
            ("cacert", self.cacert),
            ("verify", self.verify),
        ):
            if value is not None:
                settings[key] = value
        try:
            if "verify" in settings:
                settings["verify"] = _as_bool(settings["verify"], "verify")
            elif _is_set(extra.get("insecure")):
                settings["verify"] = not _as_bool(extra["insecure"], "insecure")
        except ValueError as e:
            _raise_problems(self.openstack_conn_id, [str(e)])
        if "api_timeout" in settings:
            settings["api_timeout"] = _positive(settings["api_timeout"], self.openstack_conn_id)
        if auth:
            settings["auth"] = auth
        elif not cloud:
            settings["auth"] = {}
        return cloud, clouds_yaml, settings

    def _conn_auth_url(self, conn: Any, protocol: Any) -> str | None:
        """``<scheme>://<host>[:<port>][/<schema>]`` from the Connection fields, ``None`` without host."""
        host = (conn.host or "").strip()
        if not host:
            return None
        if "://" in host:
            scheme, netloc, path, query, fragment = urlsplit(host)
        else:
            scheme = str(protocol or DEFAULT_PROTOCOL).strip().lower()
            if scheme not in ("http", "https"):
                _raise_problems(
                    self.openstack_conn_id, [f"extra protocol must be http or https, got {protocol!r}"]
                )
            netloc, path, query, fragment = host.rstrip("/"), "", "", ""
        if conn.port and ":" not in netloc.rsplit("]", 1)[-1]:
            netloc = f"{netloc}:{conn.port}"
        if conn.schema and path.strip("/") == "":
            path = "/" + str(conn.schema).strip("/")
        return urlunsplit((scheme, netloc, path, query, fragment))

    def _known_secrets(self) -> list[str]:
        try:
            _, _, settings = self.resolve_settings()
        except Exception:
            return [s for s in (self.password,) if s]
        return [str(settings.get("auth", {})[k]) for k in SECRET_KEYS if settings.get("auth", {}).get(k)]


# -- helpers (pure) ---------------------------------------------------------------------------


def _problems(settings: dict[str, Any], *, require_auth_url: bool) -> list[str]:
    """Every reason why ``settings`` cannot work, as human-readable strings without secrets."""
    auth = settings.get("auth") or {}
    auth_type = settings.get("auth_type") or PASSWORD_AUTH
    problems = []
    auth_url = auth.get("auth_url")
    if require_auth_url and not auth_url:
        problems.append(
            "missing auth_url: set the Connection host to the Keystone URL "
            "(e.g. https://keystone.example:5000/v3), extra auth.auth_url, or extra cloud"
        )
    elif auth_url and "://" not in str(auth_url):
        problems.append(f"auth_url {auth_url!r} must be a full URL with scheme, e.g. https://{auth_url}")
    app_cred_keys = sorted(k for k in APP_CRED_KEYS if auth.get(k))
    if auth_type == APP_CRED_AUTH:
        if auth.get("password"):
            problems.append(
                "conflicting credentials: a password and an application credential are both set; "
                "remove the password or the application_credential_* keys"
            )
        if not auth.get("application_credential_secret"):
            problems.append(
                "application credential auth needs application_credential_secret "
                "(extra, or the Connection password)"
            )
        if not auth.get("application_credential_id") and not (
            auth.get("application_credential_name") and (auth.get("username") or auth.get("user_id"))
        ):
            problems.append(
                "application credential auth needs application_credential_id, or "
                "application_credential_name with username/user_id"
            )
        scoped = sorted(k for k in SCOPE_KEYS if auth.get(k))
        if scoped:
            problems.append(f"application credentials are bound to their project; remove {', '.join(scoped)}")
    elif auth_type == PASSWORD_AUTH:
        if app_cred_keys:
            problems.append(
                f"conflicting credentials: auth_type 'password' with {', '.join(app_cred_keys)}; "
                f"use auth_type {APP_CRED_AUTH!r} without a password, or remove those keys"
            )
        if not (auth.get("username") or auth.get("user_id")):
            problems.append("password auth needs a username (Connection login) or user_id")
        if not auth.get("password"):
            problems.append("password auth needs a password (Connection password)")
    cacert = settings.get("cacert")
    verify = settings.get("verify")
    if cacert and verify is False:
        problems.append("conflicting TLS settings: cacert is set but verify is false; remove one")
    if cacert and not os.path.isfile(str(cacert)):
        problems.append(f"cacert file not found: {cacert}")
    return problems


def _raise_problems(conn_id: str, problems: list[str]) -> None:
    if problems:
        raise OpenStackConnectionError(f"OpenStack connection {conn_id!r}: " + "; ".join(problems))


def _positive(value: Any, conn_id: str) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = 0.0
    if not seconds > 0:
        _raise_problems(conn_id, [f"extra api_timeout must be a number of seconds > 0, got {value!r}"])
    return seconds


def _first(*values: Any) -> Any:
    """First value that is set (not ``None`` and not an empty string), else ``None``."""
    return next((v for v in values if _is_set(v)), None)


def _is_set(value: Any) -> bool:
    return value is not None and value != ""


def _as_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{name} must be true or false, got {value!r} (use cacert for a CA bundle path)")


def _keystone_cause(error: BaseException) -> BaseException:
    """The keystoneauth error that ``error`` wraps (``Unauthorized``, ``ConnectFailure``...), else ``error``.

    openstacksdk's ``authorize()`` re-raises keystoneauth errors as a bare ``SDKException``.
    """
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ks_exceptions.ClientException):
            return seen
        seen = seen.__cause__ or seen.__context__
    return error


def _plain_extra(extra: dict[str, Any]) -> dict[str, Any]:
    """``extra`` with ``extra__openstack__<key>`` keys renamed to ``<key>`` (a plain key wins)."""
    plain = {k: v for k, v in extra.items() if not k.startswith(LEGACY_EXTRA_PREFIX)}
    for key, value in extra.items():
        if key.startswith(LEGACY_EXTRA_PREFIX):
            plain.setdefault(key[len(LEGACY_EXTRA_PREFIX) :], value)
    return plain


def _project_label(auth: dict[str, Any]) -> str | None:
    return (
        auth.get("project_name")
        or auth.get("project_id")
        or ("application credential" if auth.get("application_credential_id") else None)
    )


def _redact(message: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 3:
            message = message.replace(secret, "***")
    return message
