"""ProjectEnsureOperator: skipped when off, admin + destination connections to the core, clear errors."""

from __future__ import annotations

import json
from unittest import mock

import pytest
from airflow.sdk import Connection
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from os_migrate.projects import ProjectSetupError
from os_migrate_airflow.hooks import openstack as hook_module
from os_migrate_airflow.operators import projects as op_module
from os_migrate_airflow.operators.projects import ProjectEnsureOperator

RESULT = {
    "project": {"id": "p-1", "name": "acme", "domain_id": "default"},
    "user": {"id": "u-1", "name": "alice", "domain_id": "default"},
    "role": "member",
    "created_project": True,
    "assigned_role": True,
    "changed": True,
}


@pytest.fixture(autouse=True)
def clouds(create_connection_without_db):
    for conn_id, login in (("openstack_dst_admin", "admin"), ("openstack_dst", "alice")):
        create_connection_without_db(
            Connection(
                conn_id=conn_id,
                conn_type="openstack",
                host=f"https://{conn_id}.example:5000/v3",
                login=login,
                password="pw-not-logged",
                extra=json.dumps({"project_name": "acme" if login == "alice" else "admin"}),
            )
        )
    with mock.patch.object(hook_module, "SDKConnection", side_effect=lambda **kw: kw["auth"]["username"]):
        yield


@pytest.mark.parametrize("enabled", [False, "False", "", None])
def test_it_is_skipped_without_touching_a_connection_when_off(enabled):
    op = ProjectEnsureOperator(task_id="t", enabled=enabled, admin_conn_id="nowhere")

    with (
        mock.patch.object(op_module, "ensure_connection_project") as ensure,
        pytest.raises(AirflowSkipException, match="create_dst_project is off"),
    ):
        op.execute(context={})
    ensure.assert_not_called()


def test_the_core_gets_the_admin_and_the_destination_connections(capsys):
    op = ProjectEnsureOperator(task_id="t", enabled="True")

    with mock.patch.object(op_module, "ensure_connection_project", return_value=RESULT) as ensure:
        assert op.execute(context={}) == RESULT

    ensure.assert_called_once_with("admin", "alice", role="member")
    out = capsys.readouterr().out
    assert "Project acme (p-1): created; user alice: role member assigned" in out
    assert "pw-not-logged" not in out


def test_a_missing_admin_connection_fails_clearly_and_is_not_retried():
    op = ProjectEnsureOperator(task_id="t", enabled=True, admin_conn_id="no_such_admin")

    with (
        mock.patch.object(op_module, "ensure_connection_project") as ensure,
        pytest.raises(AirflowFailException, match="no_such_admin.*set another admin_conn_id"),
    ):
        op.execute(context={})
    ensure.assert_not_called()


def test_a_core_refusal_fails_the_task_without_retry():
    op = ProjectEnsureOperator(task_id="t", enabled=True)
    error = ProjectSetupError("admin connection admin@admin: its token has no admin role")

    with (
        mock.patch.object(op_module, "ensure_connection_project", side_effect=error),
        pytest.raises(AirflowFailException, match="no admin role") as excinfo,
    ):
        op.execute(context={})
    assert excinfo.value.__cause__ is error


def test_template_fields():
    assert set(ProjectEnsureOperator.template_fields) == {"enabled", "admin_conn_id", "dst_conn_id", "role"}
