"""The provider's connection test against the real local cloud: a URI connection through the hook, and
``POST /api/v2/connections/test`` (what the Connection form's Test button calls) through Airflow's app.

Credentials come from devcloud's clouds.yaml; no test prints them, and every response is checked not to
contain them.
"""

from __future__ import annotations

import json
from urllib.parse import quote, urlsplit

import pytest
import yaml

from os_migrate.cloud import find_or_none
from os_migrate_airflow.hooks.openstack import OpenStackHook

from .conftest import CLOUDS_YAML

WRONG_PASSWORD = "not-the-password-4711"


@pytest.fixture(scope="module")
def src_cloud():
    """``auth`` and ``region_name`` of devcloud-src."""
    if not CLOUDS_YAML.exists():
        pytest.fail(f"{CLOUDS_YAML} not found: start the local cloud with `devcloud/devcloud.sh up`")
    cloud = yaml.safe_load(CLOUDS_YAML.read_text())["clouds"]["devcloud-src"]
    return cloud["auth"], cloud["region_name"]


def _uri(auth, region, password):
    url = urlsplit(auth["auth_url"])
    query = (
        f"project_name={auth['project_name']}&user_domain_name={auth['user_domain_name']}"
        f"&project_domain_name={auth['project_domain_name']}&region_name={region}&protocol={url.scheme}"
    )
    return f"openstack://{quote(auth['username'], safe='')}:{quote(password, safe='')}@{url.netloc}{url.path}?{query}"


def test_uri_connection_authenticates_and_reports_project_and_catalog(monkeypatch, src_cloud):
    auth, region = src_cloud
    monkeypatch.setenv("AIRFLOW_CONN_DEVCLOUD_SRC_URI", _uri(auth, region, auth["password"]))

    hook = OpenStackHook("devcloud_src_uri")
    ok, message = hook.test_connection()

    assert ok is True, message
    assert f"as {auth['username']} in project {auth['project_name']} (" in message
    assert "network" in message and "identity" in message
    assert auth["password"] not in message
    # the connection really works
    assert find_or_none(hook.get_conn().network.find_network, "public") is not None


def test_uri_connection_with_a_wrong_password_fails_cleanly(monkeypatch, src_cloud):
    auth, region = src_cloud
    monkeypatch.setenv("AIRFLOW_CONN_DEVCLOUD_SRC_URI", _uri(auth, region, WRONG_PASSWORD))

    ok, message = OpenStackHook("devcloud_src_uri").test_connection()

    assert ok is False
    assert message.startswith("Unauthorized: "), message
    assert WRONG_PASSWORD not in message and auth["password"] not in message


def _form(auth, region, password):
    """The body the Connection form's Test button posts (form fields as plain extra keys)."""
    extra = {k: auth[k] for k in ("project_name", "user_domain_name", "project_domain_name")}
    return {
        "connection_id": "devcloud_src_form",
        "conn_type": "openstack",
        "host": auth["auth_url"],
        "login": auth["username"],
        "password": password,
        "extra": json.dumps({**extra, "region_name": region, "interface": "public"}),
    }


def test_rest_connection_test_succeeds_with_the_right_credentials(api, src_cloud):
    auth, region = src_cloud

    response = api.post("/api/v2/connections/test", json=_form(auth, region, auth["password"]))

    assert response.status_code == 200
    body = response.json()
    assert body["status"] is True, body["message"]
    assert f"in project {auth['project_name']} (" in body["message"]
    assert auth["password"] not in response.text


def test_rest_connection_test_fails_cleanly_with_a_wrong_password(api, src_cloud):
    auth, region = src_cloud

    response = api.post("/api/v2/connections/test", json=_form(auth, region, WRONG_PASSWORD))

    assert response.status_code == 200
    body = response.json()
    assert body["status"] is False
    assert body["message"].startswith("Unauthorized: "), body["message"]
    assert "401" in body["message"]
    assert WRONG_PASSWORD not in response.text and auth["password"] not in response.text
