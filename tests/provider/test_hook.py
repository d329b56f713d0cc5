"""OpenStackHook: Airflow Connection -> exact openstacksdk Connection arguments.

The SDK entry point is patched where the hook module imports it (``SDKConnection``); the clouds.yaml
path uses the real ``OpenStackConfig`` on a temporary file.
"""

from __future__ import annotations

import json
from unittest import mock

import pytest
from airflow.sdk import Connection
from airflow.sdk.exceptions import AirflowFailException
from keystoneauth1.identity.base import BaseIdentityPlugin

from os_migrate_airflow.hooks import openstack as hook_module
from os_migrate_airflow.hooks.openstack import (
    APP_NAME,
    DEFAULT_API_TIMEOUT,
    OpenStackConnectionError,
    OpenStackHook,
)

AUTH_URL = "https://keystone.src.example:5000/v3"
SECRET = "s3cret-password"

#: A developer's or CI worker's ambient cloud: none of it may reach the SDK.
LEAKY_ENV = {
    "OS_AUTH_URL": "https://evil.example:5000/v3",
    "OS_USERNAME": "evil-user",
    "OS_PASSWORD": "evil-password",
    "OS_PROJECT_NAME": "evil-project",
    "OS_REGION_NAME": "EvilRegion",
    "OS_CLOUD": "evilcloud",
    "OS_CLIENT_CONFIG_FILE": "/nonexistent/evil-clouds.yaml",
    "OS_CACERT": "/nonexistent/evil-ca.pem",
}


@pytest.fixture(autouse=True)
def leaky_os_env(monkeypatch):
    for name, value in LEAKY_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def sdk_connection():
    with mock.patch.object(hook_module, "SDKConnection") as patched:
        yield patched


def openstack_connection(
    conn_id="openstack_src", *, host=AUTH_URL, login="admin", password=SECRET, extra=None
):
    return Connection(
        conn_id=conn_id,
        conn_type="openstack",
        host=host,
        login=login,
        password=password,
        extra=json.dumps(extra if extra is not None else {}),
    )


PASSWORD_EXTRA = {
    "project_name": "tenant-a",
    "project_domain_name": "Default",
    "user_domain_name": "Default",
    "region_name": "RegionOne",
}


def test_password_auth_builds_exact_connection_kwargs(create_connection_without_db, sdk_connection):
    create_connection_without_db(openstack_connection(extra=PASSWORD_EXTRA))

    conn = OpenStackHook("openstack_src").get_conn()

    assert conn is sdk_connection.return_value
    sdk_connection.assert_called_once_with(
        app_name=APP_NAME,
        auth_type="password",
        interface="public",
        identity_api_version="3",
        region_name="RegionOne",
        api_timeout=DEFAULT_API_TIMEOUT,
        auth={
            "auth_url": AUTH_URL,
            "username": "admin",
            "password": SECRET,
            "project_name": "tenant-a",
            "project_domain_name": "Default",
            "user_domain_name": "Default",
        },
    )


def test_get_conn_is_cached(create_connection_without_db, sdk_connection):
    create_connection_without_db(openstack_connection(extra=PASSWORD_EXTRA))
    hook = OpenStackHook("openstack_src")

    assert hook.get_conn() is hook.get_conn()
    assert sdk_connection.call_count == 1


def test_clouds_yaml_auth_block_in_extra_is_merged_below_fields_and_flat_keys(
    create_connection_without_db, sdk_connection
):
    extra = {
        "auth": {
            "auth_url": "https://ignored.example/v3",
            "username": "ignored",
            "project_name": "from-block",
            "project_domain_name": "Default",
            "user_domain_name": "Default",
        },
        "project_name": "flat-wins",
        "interface": "internal",
        "identity_api_version": 3,
        "network_api_version": "2",
    }
    create_connection_without_db(openstack_connection(extra=extra))

    OpenStackHook("openstack_src").get_conn()

    kwargs = sdk_connection.call_args.kwargs
    assert kwargs["auth"] == {
        "auth_url": AUTH_URL,
        "username": "admin",
        "password": SECRET,
        "project_name": "flat-wins",
        "project_domain_name": "Default",
        "user_domain_name": "Default",
    }
    assert kwargs["interface"] == "internal"
    assert kwargs["identity_api_version"] == 3
    assert kwargs["network_api_version"] == "2"


def test_constructor_arguments_override_connection_fields_and_extra(
    create_connection_without_db, sdk_connection
):
    create_connection_without_db(openstack_connection(extra=PASSWORD_EXTRA))

    OpenStackHook(
        "openstack_src",
        auth_url="https://override.example/v3",
        username="other",
        password="other-pw",
        project_name="other-project",
        region_name="RegionTwo",
        interface="admin",
    ).get_conn()

    kwargs = sdk_connection.call_args.kwargs
    assert kwargs["auth"]["auth_url"] == "https://override.example/v3"
    assert kwargs["auth"]["username"] == "other"
    assert kwargs["auth"]["password"] == "other-pw"
    assert kwargs["auth"]["project_name"] == "other-project"
    assert (kwargs["region_name"], kwargs["interface"]) == ("RegionTwo", "admin")


def test_application_credential_with_secret_in_password_field(create_connection_without_db, sdk_connection):
    create_connection_without_db(
        openstack_connection(
            login=None, password="app-cred-secret", extra={"application_credential_id": "ac-123"}
        )
    )

    OpenStackHook("openstack_src").get_conn()

    sdk_connection.assert_called_once_with(
        app_name=APP_NAME,
        auth_type="v3applicationcredential",
        interface="public",
        identity_api_version="3",
        api_timeout=DEFAULT_API_TIMEOUT,
        auth={
            "auth_url": AUTH_URL,
            "application_credential_id": "ac-123",
            "application_credential_secret": "app-cred-secret",
        },
    )


def test_application_credential_fully_in_extra(create_connection_without_db, sdk_connection):
    extra = {
        "auth_type": "v3applicationcredential",
        "auth": {"application_credential_id": "ac-123", "application_credential_secret": "in-extra"},
    }
    create_connection_without_db(openstack_connection(login=None, password=None, extra=extra))

    OpenStackHook("openstack_src").get_conn()

    kwargs = sdk_connection.call_args.kwargs
    assert kwargs["auth_type"] == "v3applicationcredential"
    assert kwargs["auth"] == {
        "auth_url": AUTH_URL,
        "application_credential_id": "ac-123",
        "application_credential_secret": "in-extra",
    }


def test_ca_bundle_is_passed_as_cacert(create_connection_without_db, sdk_connection, tmp_path):
    ca_bundle = tmp_path / "keystone-ca.pem"
    ca_bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    create_connection_without_db(openstack_connection(extra={**PASSWORD_EXTRA, "cacert": str(ca_bundle)}))

    OpenStackHook("openstack_src").get_conn()

    kwargs = sdk_connection.call_args.kwargs
    assert kwargs["cacert"] == str(ca_bundle)
    assert "verify" not in kwargs


@pytest.mark.parametrize(("raw", "expected"), [(False, False), ("false", False), ("True", True)])
def test_verify_flag_is_normalised_to_bool(create_connection_without_db, sdk_connection, raw, expected):
    create_connection_without_db(openstack_connection(extra={**PASSWORD_EXTRA, "verify": raw}))

    OpenStackHook("openstack_src").get_conn()

    assert sdk_connection.call_args.kwargs["verify"] is expected


def test_real_sdk_connection_ignores_os_environment(create_connection_without_db, tmp_path):
    """Unpatched openstacksdk: the built config holds only the Airflow Connection's values."""
    create_connection_without_db(openstack_connection(extra=PASSWORD_EXTRA))

    config = OpenStackHook("openstack_src").get_conn().config

    assert config.config["auth"]["auth_url"] == AUTH_URL
    assert config.config["auth"]["username"] == "admin"
    assert config.config["auth"]["project_name"] == "tenant-a"
    assert config.get_region_name() == "RegionOne"
    assert not config.config.get("cacert")
    assert "evil" not in json.dumps(config.config, default=str).lower()


CLOUDS_YAML = """
clouds:
  src:
    auth:
      auth_url: https://keystone.file.example:5000/v3
      username: file-user
      password: file-password
      project_name: file-project
      project_domain_name: Default
      user_domain_name: Default
    region_name: FileRegion
    interface: internal
"""


def test_named_cloud_from_clouds_yaml(create_connection_without_db, sdk_connection, tmp_path):
    clouds_yaml = tmp_path / "clouds.yaml"
    clouds_yaml.write_text(CLOUDS_YAML)
    create_connection_without_db(
        openstack_connection(
            host=None, login=None, password=None, extra={"cloud": "src", "clouds_yaml": str(clouds_yaml)}
        )
    )

    OpenStackHook("openstack_src").get_conn()

    region = sdk_connection.call_args.kwargs["config"]
    assert sdk_connection.call_args.args == ()
    assert region.name == "src"
    assert region.get_region_name() == "FileRegion"
    assert region.config["interface"] == "internal"
    assert region.config["auth"]["auth_url"] == "https://keystone.file.example:5000/v3"
    assert region.config["auth"]["username"] == "file-user"
    assert region.config["auth"]["project_name"] == "file-project"
    assert "evil" not in json.dumps(region.config, default=str).lower()


def test_connection_fields_override_named_cloud(create_connection_without_db, sdk_connection, tmp_path):
    clouds_yaml = tmp_path / "clouds.yaml"
    clouds_yaml.write_text(CLOUDS_YAML)
    create_connection_without_db(
        openstack_connection(
            login="airflow-user",
            password="airflow-password",
            extra={"cloud": "src", "clouds_yaml": str(clouds_yaml), "interface": "public"},
        )
    )

    OpenStackHook("openstack_src").get_conn()

    region = sdk_connection.call_args.kwargs["config"]
    assert region.config["auth"]["auth_url"] == AUTH_URL
    assert region.config["auth"]["username"] == "airflow-user"
    assert region.config["auth"]["password"] == "airflow-password"
    assert region.config["auth"]["project_name"] == "file-project"
    assert region.config["interface"] == "public"
    assert region.get_region_name() == "FileRegion"


def test_single_cloud_clouds_yaml_does_not_replace_explicit_credentials(
    create_connection_without_db, sdk_connection, tmp_path, monkeypatch
):
    """openstacksdk pitfall: a lone cloud in a clouds.yaml is picked as default; we never load one without ``cloud``."""
    (tmp_path / "clouds.yaml").write_text(CLOUDS_YAML)
    monkeypatch.chdir(tmp_path)  # ./clouds.yaml is one of openstacksdk's default locations
    create_connection_without_db(openstack_connection(extra=PASSWORD_EXTRA))

    OpenStackHook("openstack_src").get_conn()

    assert sdk_connection.call_args.kwargs["auth"]["username"] == "admin"
    assert "config" not in sdk_connection.call_args.kwargs


@pytest.mark.parametrize(
    ("host", "login", "password", "extra", "message"),
    [
        pytest.param(None, "admin", SECRET, PASSWORD_EXTRA, "missing auth_url", id="missing-auth-url"),
        pytest.param(
            None,
            "admin",
            SECRET,
            {**PASSWORD_EXTRA, "auth_url": "keystone.example:5000/v3"},
            "must be a full URL",
            id="extra-auth-url-no-scheme",
        ),
        pytest.param(
            "keystone.example",
            "admin",
            SECRET,
            {**PASSWORD_EXTRA, "protocol": "ftp"},
            "protocol must be http or https",
            id="bad-protocol",
        ),
        pytest.param(
            AUTH_URL,
            "admin",
            SECRET,
            {**PASSWORD_EXTRA, "insecure": "sometimes"},
            "insecure must be true or false",
            id="bad-insecure",
        ),
        pytest.param(AUTH_URL, None, SECRET, PASSWORD_EXTRA, "needs a username", id="missing-username"),
        pytest.param(AUTH_URL, "admin", None, PASSWORD_EXTRA, "needs a password", id="missing-password"),
        pytest.param(
            AUTH_URL,
            "admin",
            None,
            {"auth_type": "password", "password": "pw", "application_credential_id": "ac"},
            "conflicting credentials",
            id="password-auth-with-app-cred-keys",
        ),
        pytest.param(
            AUTH_URL,
            None,
            SECRET,
            {"application_credential_id": "ac", "application_credential_secret": "other"},
            "conflicting credentials",
            id="password-field-and-app-cred-secret",
        ),
        pytest.param(
            AUTH_URL,
            None,
            None,
            {"application_credential_id": "ac", "application_credential_secret": "x", "password": "pw"},
            "conflicting credentials",
            id="app-cred-with-extra-password",
        ),
        pytest.param(
            AUTH_URL,
            None,
            SECRET,
            {"application_credential_id": "ac", "project_name": "p"},
            "bound to their project",
            id="app-cred-with-project-scope",
        ),
        pytest.param(
            AUTH_URL,
            "admin",
            SECRET,
            {"cacert": "/nonexistent/ca.pem"},
            "cacert file not found",
            id="missing-ca-file",
        ),
        pytest.param(
            AUTH_URL, "admin", SECRET, {"verify": "maybe"}, "verify must be true or false", id="bad-verify"
        ),
    ],
)
def test_invalid_connections_fail_with_clear_message_and_no_secret(
    create_connection_without_db, sdk_connection, host, login, password, extra, message
):
    create_connection_without_db(openstack_connection(host=host, login=login, password=password, extra=extra))

    with pytest.raises(OpenStackConnectionError, match=message) as excinfo:
        OpenStackHook("openstack_src").get_conn()

    assert str(excinfo.value).startswith("OpenStack connection 'openstack_src': ")
    assert SECRET not in str(excinfo.value)
    assert isinstance(excinfo.value, AirflowFailException)  # configuration errors are not retried
    sdk_connection.assert_not_called()


def test_every_problem_is_reported_at_once(create_connection_without_db, sdk_connection):
    create_connection_without_db(openstack_connection(host=None, login=None, password=None, extra={}))

    with pytest.raises(OpenStackConnectionError) as excinfo:
        OpenStackHook("openstack_src").get_conn()

    text = str(excinfo.value)
    assert "missing auth_url" in text
    assert "needs a username" in text
    assert "needs a password" in text


def test_unknown_cloud_name_is_a_clear_error(create_connection_without_db, sdk_connection, tmp_path):
    clouds_yaml = tmp_path / "clouds.yaml"
    clouds_yaml.write_text(CLOUDS_YAML)
    create_connection_without_db(
        openstack_connection(host=None, extra={"cloud": "nope", "clouds_yaml": str(clouds_yaml)})
    )

    with pytest.raises(OpenStackConnectionError, match=r"cloud 'nope' from .*clouds.yaml"):
        OpenStackHook("openstack_src").get_conn()
    sdk_connection.assert_not_called()


def test_missing_clouds_yaml_file_is_a_clear_error(create_connection_without_db, sdk_connection):
    create_connection_without_db(
        openstack_connection(extra={"cloud": "src", "clouds_yaml": "/nonexistent/clouds.yaml"})
    )

    with pytest.raises(
        OpenStackConnectionError, match="clouds_yaml file not found: /nonexistent/clouds.yaml"
    ):
        OpenStackHook("openstack_src").get_conn()


def test_test_connection_reports_success_without_secrets(create_connection_without_db, sdk_connection):
    create_connection_without_db(openstack_connection(extra=PASSWORD_EXTRA))
    sdk = sdk_connection.return_value
    sdk.config = mock.Mock(config={"auth": {"auth_url": AUTH_URL, "password": SECRET}})
    sdk.session.auth = mock.create_autospec(BaseIdentityPlugin, instance=True)
    access = sdk.session.auth.get_access.return_value
    access.username, access.project_name, access.project_id = "admin", "tenant-a", "p-123"
    access.service_catalog.get_endpoints.return_value = {"network": [], "identity": [], "compute": []}

    ok, message = OpenStackHook("openstack_src").test_connection()

    assert ok is True
    sdk.authorize.assert_called_once_with()
    sdk.session.auth.get_access.assert_called_once_with(sdk.session)
    assert message == (
        f"Authenticated to {AUTH_URL} as admin in project tenant-a (p-123); "
        "catalog: compute, identity, network"
    )
    assert SECRET not in message


def test_test_connection_reports_failure_with_secret_redacted(create_connection_without_db, sdk_connection):
    create_connection_without_db(openstack_connection(extra=PASSWORD_EXTRA))
    sdk_connection.return_value.authorize.side_effect = RuntimeError(f"refused {SECRET}")

    ok, message = OpenStackHook("openstack_src").test_connection()

    assert ok is False
    assert message == "RuntimeError: refused ***"


def test_hook_metadata_matches_provider_conventions():
    assert OpenStackHook.conn_name_attr == "openstack_conn_id"
    assert OpenStackHook.default_conn_name == "openstack_default"
    assert OpenStackHook.conn_type == "openstack"
    assert OpenStackHook.hook_name == "OpenStack"
    assert OpenStackHook().openstack_conn_id == "openstack_default"


# -- URI connections (AIRFLOW_CONN_* URIs, `airflow connections add --conn-uri`, the REST test endpoint) --

URI_QUERY = "project_name=acme&user_domain_name=Default&project_domain_name=Default&region_name=RegionOne"
URI_AUTH = {"project_name": "acme", "user_domain_name": "Default", "project_domain_name": "Default"}


@pytest.mark.parametrize(
    ("uri", "auth_url", "password", "settings"),
    [
        pytest.param(
            f"openstack://alice:{SECRET}@keystone.example:5000/v3?{URI_QUERY}",
            "https://keystone.example:5000/v3",
            SECRET,
            {},
            id="https-by-default",
        ),
        pytest.param(
            f"openstack://alice:{SECRET}@127.0.0.1:5000/v3?{URI_QUERY}&protocol=http",
            "http://127.0.0.1:5000/v3",
            SECRET,
            {},
            id="protocol-http",
        ),
        pytest.param(
            f"openstack://http://alice:{SECRET}@127.0.0.1:5000/v3?{URI_QUERY}",
            "http://127.0.0.1:5000/v3",
            SECRET,
            {},
            id="airflow-scheme-form",
        ),
        pytest.param(
            f"openstack://alice:p%40ss%2Fw%3Ard@keystone.example/identity/v3?{URI_QUERY}&insecure=true",
            "https://keystone.example/identity/v3",
            "p@ss/w:rd",
            {"verify": False},
            id="encoded-password-path-insecure",
        ),
        pytest.param(
            f"openstack://alice:{SECRET}@keystone.example:5000/v3?{URI_QUERY}&identity_api_version=3"
            "&interface=internal&verify=false",
            "https://keystone.example:5000/v3",
            SECRET,
            {"interface": "internal", "verify": False},
            id="string-settings",
        ),
    ],
)
def test_uri_connection_builds_auth_url_from_host_port_and_schema(
    monkeypatch, sdk_connection, uri, auth_url, password, settings
):
    monkeypatch.setenv("AIRFLOW_CONN_OPENSTACK_SRC", uri)

    OpenStackHook("openstack_src").get_conn()

    kwargs = sdk_connection.call_args.kwargs
    assert kwargs["auth"] == {"auth_url": auth_url, "username": "alice", "password": password, **URI_AUTH}
    assert kwargs["region_name"] == "RegionOne"
    assert kwargs["auth_type"] == "password"
    for key, value in settings.items():
        assert kwargs[key] == value
    assert not {"protocol", "insecure"} & set(kwargs)


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({**PASSWORD_EXTRA, "auth": {"project_domain_name": "Default"}}, id="flat-and-nested"),
        pytest.param({"auth": dict(PASSWORD_EXTRA), "interface": "internal"}, id="nested-auth-block"),
    ],
)
def test_connection_survives_airflows_uri_round_trip(monkeypatch, sdk_connection, extra):
    """``POST /api/v2/connections/test`` hands the hook the Connection as ``get_uri()``."""
    from airflow.models import Connection as ORMConnection

    fields = dict(conn_type="openstack", host=AUTH_URL, login="admin", password="p@ss/w:rd?&")
    json_conn = ORMConnection(conn_id="openstack_src", extra=json.dumps(extra), **fields)
    monkeypatch.setenv("AIRFLOW_CONN_OPENSTACK_SRC", json_conn.as_json())
    OpenStackHook("openstack_src").get_conn()
    from_json = sdk_connection.call_args.kwargs

    monkeypatch.setenv("AIRFLOW_CONN_OPENSTACK_SRC", json_conn.get_uri())
    OpenStackHook("openstack_src").get_conn()

    assert sdk_connection.call_args.kwargs == from_json
    assert from_json["auth"]["password"] == "p@ss/w:rd?&"


def test_form_fields_with_the_legacy_prefix_are_read(create_connection_without_db, sdk_connection):
    extra = {
        "extra__openstack__project_name": "legacy",
        "extra__openstack__region_name": "RegionTwo",
        "extra__openstack__user_domain_name": "Ignored",
        "user_domain_name": "Default",
    }
    create_connection_without_db(openstack_connection(extra=extra))

    OpenStackHook("openstack_src").get_conn()

    kwargs = sdk_connection.call_args.kwargs
    assert kwargs["auth"]["project_name"] == "legacy"
    assert kwargs["auth"]["user_domain_name"] == "Default"
    assert kwargs["region_name"] == "RegionTwo"
    assert not any(k.startswith("extra__") for k in kwargs)


def test_test_connection_names_the_keystone_error_the_sdk_wrapped(
    create_connection_without_db, sdk_connection
):
    from keystoneauth1 import exceptions as ks_exceptions
    from openstack import exceptions as sdk_exceptions

    def authorize():
        try:
            raise ks_exceptions.Unauthorized(
                "The request you have made requires authentication.", http_status=401
            )
        except ks_exceptions.ClientException as e:
            raise sdk_exceptions.SDKException(str(e)) from e  # as openstacksdk's authorize() wraps it

    create_connection_without_db(openstack_connection(extra=PASSWORD_EXTRA))
    sdk_connection.return_value.authorize.side_effect = authorize

    ok, message = OpenStackHook("openstack_src").test_connection()

    assert (ok, message) == (
        False,
        "Unauthorized: The request you have made requires authentication. (HTTP 401)",
    )


def test_every_connection_gets_an_api_timeout_that_reaches_the_http_session(create_connection_without_db):
    create_connection_without_db(openstack_connection(extra=PASSWORD_EXTRA))
    create_connection_without_db(
        openstack_connection("openstack_slow", extra={**PASSWORD_EXTRA, "api_timeout": "15"})
    )

    default = OpenStackHook("openstack_src").get_conn()  # real openstacksdk Connection, no API call
    slow = OpenStackHook("openstack_slow").get_conn()

    assert default.session.timeout == DEFAULT_API_TIMEOUT
    assert slow.session.timeout == 15.0


def test_a_named_cloud_without_api_timeout_gets_the_default(create_connection_without_db, tmp_path):
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(
        "clouds:\n  c1:\n    auth: {auth_url: 'https://k.example:5000/v3', username: u, password: p,"
        " project_name: x, user_domain_name: Default, project_domain_name: Default}\n"
        "  c2:\n    api_timeout: 7\n    auth: {auth_url: 'https://k.example:5000/v3', username: u,"
        " password: p, project_name: x, user_domain_name: Default, project_domain_name: Default}\n"
    )
    for name in ("c1", "c2"):
        create_connection_without_db(
            Connection(
                conn_id=f"openstack_{name}",
                conn_type="openstack",
                extra=json.dumps({"cloud": name, "clouds_yaml": str(clouds)}),
            )
        )

    assert OpenStackHook("openstack_c1").get_conn().session.timeout == DEFAULT_API_TIMEOUT
    assert OpenStackHook("openstack_c2").get_conn().session.timeout == 7


@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_a_bad_api_timeout_is_refused_naming_the_key(create_connection_without_db, value):
    create_connection_without_db(openstack_connection(extra={**PASSWORD_EXTRA, "api_timeout": value}))

    with pytest.raises(OpenStackConnectionError, match="api_timeout must be a number of seconds"):
        OpenStackHook("openstack_src").get_conn()
