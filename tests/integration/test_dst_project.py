"""Create the destination project first (``create_dst_project``) on the real local cloud.

The admin connection is ``devcloud-admin`` (an Airflow Connection naming that cloud of the
devcloud clouds.yaml). Each test module run makes a throwaway user and names a project that does
not exist yet (unique names), and deletes both at the end. The destination Airflow Connection is the
one a tenant would have: that user, scoped to the new project.
"""

from __future__ import annotations

import json
import uuid

import openstack.connection
import pytest

from os_migrate.cloud import RequestCounter, find_or_none
from os_migrate.projects import ProjectSetupError, ensure_connection_project, ensure_project
from os_migrate_airflow.operators.projects import ProjectEnsureOperator

from .conftest import CLOUDS_YAML, connect

AUTH_URL = "http://127.0.0.1:5000/v3"
PASSWORD = "devcloud-throwaway"


@pytest.fixture(scope="module")
def scratch():
    """A throwaway user (no role anywhere) and the name of a project that does not exist yet."""
    admin = connect("devcloud-admin")
    suffix = uuid.uuid4().hex[:8]
    names = {"project": f"osm-newproj-{suffix}", "user": f"osm-newuser-{suffix}"}
    user = admin.identity.create_user(name=names["user"], password=PASSWORD, domain_id="default")
    yield {**names, "admin": admin, "user_id": user.id}
    project = find_or_none(admin.identity.find_project, names["project"], domain_id="default")
    if project is not None:
        admin.identity.delete_project(project)
    admin.identity.delete_user(user)
    assert find_or_none(admin.identity.find_project, names["project"], domain_id="default") is None


def tenant(scratch, **scope):
    """The tenant's destination connection (not authenticated by building it)."""
    auth = {
        "auth_url": AUTH_URL,
        "username": scratch["user"],
        "password": PASSWORD,
        "user_domain_name": "Default",
        "project_domain_name": "Default",
        **scope,
    }
    auth = {k: v for k, v in auth.items() if v is not None}
    return openstack.connection.Connection(auth_type="password", auth=auth, region_name="RegionOne")


@pytest.fixture
def airflow_connections(scratch, monkeypatch):
    """``devcloud_admin`` (cloud ``devcloud-admin`` of the devcloud clouds.yaml) and ``new_dst``."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_DEVCLOUD_ADMIN",
        json.dumps(
            {"conn_type": "openstack", "extra": {"cloud": "devcloud-admin", "clouds_yaml": str(CLOUDS_YAML)}}
        ),
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_NEW_DST",
        json.dumps(
            {
                "conn_type": "openstack",
                "host": AUTH_URL,
                "login": scratch["user"],
                "password": PASSWORD,
                "extra": {
                    "project_name": scratch["project"],
                    "user_domain_name": "Default",
                    "project_domain_name": "Default",
                    "region_name": "RegionOne",
                },
            }
        ),
    )


def operator():
    return ProjectEnsureOperator(
        task_id="create_dst_project", enabled=True, admin_conn_id="devcloud_admin", dst_conn_id="new_dst"
    )


def test_refusals_come_before_any_write(scratch):
    not_admin = connect("devcloud-dst")  # a member, not an admin
    with RequestCounter(not_admin) as requests, pytest.raises(ProjectSetupError, match="no admin role"):
        ensure_connection_project(not_admin, tenant(scratch, project_name=scratch["project"]))
    assert requests.writes == 0

    admin = scratch["admin"]
    missing_id = uuid.uuid4().hex
    with RequestCounter(admin) as requests:
        with pytest.raises(ProjectSetupError, match=f"project id '{missing_id}'.*does not exist"):
            ensure_connection_project(admin, tenant(scratch, project_id=missing_id, project_domain_name=None))
        with pytest.raises(ProjectSetupError, match="user 'osm-nobody-x' in domain 'Default'"):
            ensure_project(admin, scratch["project"], "Default", user_name="osm-nobody-x")
        with pytest.raises(ProjectSetupError, match="role 'osm-no-such-role' not found"):
            ensure_project(admin, scratch["project"], user_name=scratch["user"], role="osm-no-such-role")
    assert requests.writes == 0
    assert find_or_none(admin.identity.find_project, scratch["project"], domain_id="default") is None


def test_the_admin_creates_the_project_and_the_role_then_a_rerun_writes_nothing(scratch, airflow_connections):
    first = operator()
    with RequestCounter(first.admin) as requests:
        created = first.execute(context={})

    assert created["project"]["name"] == scratch["project"]
    assert created["user"]["id"] == scratch["user_id"]
    assert (created["created_project"], created["assigned_role"], created["role"]) == (True, True, "member")
    assert requests.writes == 2  # POST the project, PUT the role assignment
    # the tenant credentials now work in the new project
    dst = tenant(scratch, project_name=scratch["project"])
    dst.authorize()
    assert dst.current_project_id == created["project"]["id"]
    assert list(dst.network.networks(project_id=dst.current_project_id)) == []

    again = operator()
    with RequestCounter(again.admin) as requests:
        second = again.execute(context={})

    assert requests.writes == 0
    assert (second["created_project"], second["assigned_role"], second["changed"]) == (False, False, False)
    assert second["project"]["id"] == created["project"]["id"]


def test_a_lost_role_assignment_is_given_back_without_a_new_project(scratch, airflow_connections):
    admin = scratch["admin"]
    project = admin.identity.find_project(scratch["project"], domain_id="default", ignore_missing=False)
    role = admin.identity.find_role("member", ignore_missing=False)
    admin.identity.unassign_project_role_from_user(project, scratch["user_id"], role)

    with RequestCounter(admin) as requests:
        result = ensure_connection_project(admin, tenant(scratch, project_name=scratch["project"]))

    assert (result["created_project"], result["assigned_role"]) == (False, True)
    assert requests.writes == 1
    assert result["project"]["id"] == project.id
