"""The provider as Airflow sees it: ProvidersManager registration, the Connection form metadata served
by the API, the REST connection test, and ``airflow connections add --conn-type openstack``.

The API tests run Airflow's own FastAPI app in-process (``fastapi.testclient.TestClient``) with the
SimpleAuthManager in all-admins mode; the openstacksdk entry point is patched where the hook imports it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest

from os_migrate_airflow.get_provider_info import CONN_FIELDS, get_provider_info
from os_migrate_airflow.hooks import openstack as hook_module

HOOK_CLASS = "os_migrate_airflow.hooks.openstack.OpenStackHook"
SECRET = "s3cret-form-password"


@pytest.fixture(scope="module")
def providers_manager():
    from airflow.providers_manager import ProvidersManager

    return ProvidersManager()


def test_provider_is_registered_through_its_entry_point(providers_manager):
    provider = providers_manager.providers["os-migrate-airflow"]

    assert provider.data["package-name"] == "os-migrate-airflow"
    assert provider.version == get_provider_info()["versions"][0]


def test_providers_manager_lists_the_connection_type(providers_manager):
    meta = next(
        m
        for m in providers_manager.iter_connection_type_hook_ui_metadata()
        if m.connection_type == "openstack"
    )

    assert meta.hook_class_name == HOOK_CLASS
    assert meta.hook_name == "OpenStack"
    assert meta.field_behaviour["hidden_fields"] == ["port", "schema"]
    assert meta.field_behaviour["relabeling"] == {"host": "Auth URL", "login": "Username"}


def test_task_runtime_providers_manager_imports_the_hook_as_testable():
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    hook_info = ProvidersManagerTaskRuntime().hooks["openstack"]

    assert hook_info.hook_class_name == HOOK_CLASS
    assert hook_info.connection_id_attribute_name == "openstack_conn_id"
    assert hook_info.package_name == "os-migrate-airflow"
    assert hook_info.connection_testable is True


def test_providers_manager_lists_every_conn_field(providers_manager):
    widgets = {
        info.field_name: info
        for key, info in providers_manager.connection_form_widgets.items()
        if key.startswith("extra__openstack__")
    }

    assert set(widgets) == set(CONN_FIELDS)
    assert {name for name, info in widgets.items() if info.is_sensitive} == {"application_credential_secret"}


# -- the API -------------------------------------------------------------------------------------


def test_connection_form_metadata_serves_our_fields(api):
    response = api.get("/ui/connections/hook_meta")

    assert response.status_code == 200, response.text
    meta = next(m for m in response.json() if m["connection_type"] == "openstack")
    assert meta["hook_class_name"] == HOOK_CLASS
    assert meta["hook_name"] == "OpenStack"
    assert set(meta["extra_fields"]) == set(CONN_FIELDS)
    project = meta["extra_fields"]["project_name"]
    assert project["schema"]["title"] == "Project name"
    assert project["schema"]["type"] == ["string", "null"]
    assert meta["extra_fields"]["application_credential_secret"]["schema"]["format"] == "password"
    assert meta["extra_fields"]["interface"]["value"] == "public"
    standard = meta["standard_fields"]
    assert standard["host"]["title"] == "Auth URL"
    assert standard["login"]["title"] == "Username"
    assert standard["port"]["hidden"] is True
    assert standard["url_schema"]["hidden"] is True


def _form_body(**extra_overrides):
    """What the Connection form posts: standard fields plus the conn-fields as plain extra keys."""
    extra = {"project_name": "acme", "user_domain_name": "Default", "project_domain_name": "Default"}
    extra.update(extra_overrides)
    return {
        "connection_id": "openstack_form",
        "conn_type": "openstack",
        "host": "https://keystone.example:5000/v3",
        "login": "alice",
        "password": SECRET,
        "extra": json.dumps(extra),
    }


def test_rest_connection_test_reaches_the_hook_with_the_form_values(api):
    with mock.patch.object(hook_module, "SDKConnection") as sdk:
        sdk.return_value.config.config = {"auth": {"auth_url": "https://keystone.example:5000/v3"}}
        response = api.post("/api/v2/connections/test", json=_form_body())

    assert response.status_code == 200, response.text
    assert response.json()["status"] is True
    assert response.json()["message"].startswith("Authenticated to https://keystone.example:5000/v3")
    auth = sdk.call_args.kwargs["auth"]
    assert (auth["username"], auth["password"], auth["project_name"]) == ("alice", SECRET, "acme")


def test_rest_connection_test_failure_is_a_clean_message_without_the_password(api):
    with mock.patch.object(hook_module, "SDKConnection") as sdk:
        sdk.return_value.authorize.side_effect = RuntimeError(f"refused {SECRET}")
        response = api.post("/api/v2/connections/test", json=_form_body())

    assert response.status_code == 200, response.text
    assert response.json() == {"status": False, "message": "RuntimeError: refused ***"}


def test_rest_connection_test_reports_a_bad_connection(api):
    response = api.post("/api/v2/connections/test", json=_form_body(cacert="/nonexistent/ca.pem"))

    assert response.json()["status"] is False
    assert "cacert file not found: /nonexistent/ca.pem" in response.json()["message"]
    assert SECRET not in response.text


# -- the CLI -------------------------------------------------------------------------------------


def test_cli_connections_add_with_conn_type_openstack(tmp_path):
    """``airflow connections add x --conn-type openstack ...`` in a fresh AIRFLOW_HOME, read back."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "OS_"))}
    env.update(
        AIRFLOW_HOME=str(tmp_path),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{tmp_path}/airflow.db",
    )
    airflow = [str(Path(sys.executable).with_name("airflow"))]

    def run(*args):
        done = subprocess.run([*airflow, *args], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    run("db", "migrate")
    out = run(
        "connections",
        "add",
        "openstack_cli",
        "--conn-type",
        "openstack",
        "--conn-host",
        "https://keystone.example:5000/v3",
        "--conn-login",
        "alice",
        "--conn-password",
        SECRET,
        "--conn-extra",
        json.dumps({"project_name": "acme", "region_name": "RegionOne"}),
    )
    assert "Successfully added" in out
    assert SECRET not in out
    run("connections", "add", "openstack_uri", "--conn-uri", "openstack://bob:pw@keystone.example:5000/v3")

    stored = json.loads(run("connections", "get", "openstack_cli", "-o", "json"))[0]
    assert stored["conn_type"] == "openstack"
    assert stored["host"] == "https://keystone.example:5000/v3"
    uri = json.loads(run("connections", "get", "openstack_uri", "-o", "json"))[0]
    assert (uri["host"], str(uri["port"]), uri["schema"]) == ("keystone.example", "5000", "v3")
    hooks = run("providers", "hooks", "-o", "json")
    assert any(h.get("connection_type") == "openstack" for h in json.loads(hooks))
