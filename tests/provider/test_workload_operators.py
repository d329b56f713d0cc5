"""Workload operators: rendered params parsed once, core calls with both clouds, skips and errors.

The core functions are patched where the operator module imports them; the hook is real and reads
``AIRFLOW_CONN_*`` connections, with the openstacksdk ``Connection`` patched at the hook's import site.
"""

from __future__ import annotations

from unittest import mock

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException

from os_migrate.workload import CopyError, SourceDiskUnreadable, SourceStateError
from os_migrate_airflow.operators import workload as op_module
from os_migrate_airflow.operators.workload import (
    ServerCopyDisksOperator,
    ServerPrepareOperator,
    WorkloadExportOperator,
    WorkloadPreflightOperator,
)

REPORT = {
    "servers": ["web", "db"],
    "migrate": ["web", "db"],
    "skip": [],
    "done": [],
    "needs": {"instances": 2},
    "warnings": [],
}


@pytest.fixture(autouse=True)
def clouds(fake_openstack_connections):
    fake_openstack_connections(("openstack_src", "openstack_dst"), password="pw-not-logged")


SRC, DST = "https://openstack_src.example:5000/v3", "https://openstack_dst.example:5000/v3"


def test_export_parses_a_rendered_server_filter():
    result = {"data_dir": "/d", "servers": ["web"], "counts": {"workloads": 1, "detached_volumes": 0}}
    op = WorkloadExportOperator(task_id="t", data_dir="/d", servers='["web", {"regex": "^db-"}]')

    with mock.patch.object(op_module, "export_workloads", return_value=result) as export:
        assert op.execute(context={}) == result

    export.assert_called_once_with(SRC, "/d", servers=["web", {"regex": "^db-"}])


@pytest.mark.parametrize(
    ("check_only", "run"), [(False, ["web", "db"]), ("true", []), ("False", ["web", "db"])]
)
def test_preflight_returns_the_servers_to_map_unless_check_only(check_only, run):
    ti = mock.Mock()
    op = WorkloadPreflightOperator(
        task_id="t",
        data_dir="/d",
        servers=["web", "db"],
        overrides="{'boot_disk_copy': True}",
        flavor_map='{"m1.small": "m1.medium"}',
        check_only=check_only,
    )

    with mock.patch.object(op_module, "preflight", return_value=dict(REPORT)) as preflight:
        assert op.execute(context={"ti": ti}) == run

    preflight.assert_called_once_with(
        SRC,
        DST,
        "/d",
        servers=["web", "db"],
        overrides={"boot_disk_copy": True},
        flavor_map={"m1.small": "m1.medium"},
        ssh_resolver=op_module.host_access,
        on_failure="stop",
    )
    ti.xcom_push.assert_called_once_with(key="report", value={**REPORT, "run": run, "data_dir": "/d"})


def test_badly_shaped_overrides_fail_before_any_cloud_call():
    op = WorkloadPreflightOperator(task_id="t", data_dir="/d", overrides="[1, 2]")

    with (
        mock.patch.object(op_module, "preflight") as preflight,
        pytest.raises(AirflowFailException, match="overrides must be a mapping"),
    ):
        op.execute(context={"ti": mock.Mock()})
    preflight.assert_not_called()


def test_preflight_logs_the_flavor_each_server_gets(capsys):
    flavors = {
        "web": {
            "source": "m1.small",
            "destination": "m1.medium",
            "field": "flavor_map['m1.small']",
            "vcpus": 2,
            "ram": 2048,
            "disk": 20,
        }
    }
    op = WorkloadPreflightOperator(task_id="t", data_dir="/d", flavor_map={"m1.small": "m1.medium"})

    with mock.patch.object(op_module, "preflight", return_value={**REPORT, "flavors": flavors}):
        op.execute(context={"ti": mock.Mock()})

    assert (
        "server 'web': flavor m1.small -> m1.medium (flavor_map['m1.small']; 2 vCPU, 2048 MiB RAM, 20 GiB disk)"
        in capsys.readouterr().out
    )


def test_the_flavor_map_reaches_every_server_step():
    op = ServerPrepareOperator(task_id="t", data_dir="/d", server_name="web", flavor_map={"a": "b"})

    with mock.patch.object(
        op_module, "prepare_server", return_value={"action": "migrate", "source_status": "SHUTOFF"}
    ) as prepare:
        op.execute(context={})

    assert prepare.call_args.kwargs["flavor_map"] == {"a": "b"}


def test_a_badly_shaped_flavor_map_fails_before_any_cloud_call():
    op = WorkloadPreflightOperator(task_id="t", data_dir="/d", flavor_map='["m1.small"]')

    with (
        mock.patch.object(op_module, "preflight") as preflight,
        pytest.raises(AirflowFailException, match="flavor_map must be a mapping"),
    ):
        op.execute(context={"ti": mock.Mock()})
    preflight.assert_not_called()


def test_prepare_skips_a_server_that_does_not_migrate():
    op = ServerPrepareOperator(task_id="t", data_dir="/d", server_name="old")
    result = {"server": "old", "action": "skip", "reason": "name taken in the destination"}

    with (
        mock.patch.object(op_module, "prepare_server", return_value=result),
        pytest.raises(AirflowSkipException, match="old: name taken"),
    ):
        op.execute(context={})


def test_prepare_starts_no_server_after_the_change_window_closed():
    closed = ServerPrepareOperator(
        task_id="t", data_dir="/d", server_name="db-1", not_after="2020-01-01T06:00:00+01:00"
    )
    with (
        mock.patch.object(op_module, "prepare_server") as prepare,
        pytest.raises(
            AirflowSkipException, match="db-1: not started, the change window closed at 2020-01-01T06:00"
        ),
    ):
        closed.execute(context={})
    prepare.assert_not_called()

    open_ = ServerPrepareOperator(
        task_id="t", data_dir="/d", server_name="db-1", not_after="2999-01-01T06:00:00+00:00"
    )
    with mock.patch.object(
        op_module, "prepare_server", return_value={"action": "migrate", "source_status": "SHUTOFF"}
    ) as prepare:
        open_.execute(context={})
    prepare.assert_called_once()


def test_prepare_resumed_after_a_deferred_wait_goes_on_past_the_window():
    """A server whose stop began inside the window is carried on, not abandoned half-way."""
    op = ServerPrepareOperator(
        task_id="t", data_dir="/d", server_name="db-1", not_after="2020-01-01T06:00:00+00:00"
    )
    with mock.patch.object(
        op_module, "prepare_server", return_value={"action": "migrate", "source_status": "SHUTOFF"}
    ) as prepare:
        op.execute_complete(context={}, event={"status": "done", "message": "SHUTOFF"})
    prepare.assert_called_once()


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        pytest.param(CopyError("web: checksum mismatch"), True, id="copy"),
        pytest.param(SourceDiskUnreadable("web: no API path to the disk"), False, id="unreadable"),
        pytest.param(SourceStateError("web: ERROR"), False, id="source-state"),
    ],
)
def test_server_step_errors_are_retried_or_failed_by_the_core_class(error, retried):
    op = ServerCopyDisksOperator(task_id="t", data_dir="/d", server_name="web", overrides={"data_copy": True})

    with (
        mock.patch.object(op_module, "copy_server_disks", side_effect=error) as copy,
        pytest.raises(AirflowException) as excinfo,
    ):
        op.execute(context={})

    copy.assert_called_once_with(
        SRC,
        DST,
        "/d",
        "web",
        overrides={"data_copy": True},
        flavor_map=None,
        ssh_resolver=op_module.host_access,
    )
    assert isinstance(excinfo.value, AirflowFailException) is not retried
    assert excinfo.value.__cause__ is error


def test_copy_method_and_host_connections_become_overrides():
    op = ServerCopyDisksOperator(
        task_id="t",
        data_dir="/d",
        server_name="web",
        overrides={"copy_settings": {"src_host": {"server": "ch-1"}, "connections": 2}},
        copy_method="conversion_host",
        src_host_conn_id="ch_src",
        dst_host_conn_id="ch_dst",
    )
    assert op._overrides() == {
        "copy_method": "conversion_host",
        "copy_settings": {
            "src_host": {"server": "ch-1", "ssh_conn_id": "ch_src"},
            "dst_host": {"ssh_conn_id": "ch_dst"},
            "connections": 2,
        },
    }
    plain = ServerCopyDisksOperator(task_id="u", data_dir="/d", server_name="web", overrides={"a": 1})
    assert plain._overrides() == {"a": 1}
