"""Deferrable workload operators: a core Pending defers to the trigger; the event resumes the step.

The core steps are patched where the operator module imports them; they check whether they run with
non-blocking waits, as the real steps do.
"""

from __future__ import annotations

import datetime
import json
from types import SimpleNamespace
from unittest import mock

import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowException, TaskDeferred

from os_migrate.workload import CopyError, Pending
from os_migrate.workload.cloudops import waits_block
from os_migrate_airflow.operators import workload as op_module
from os_migrate_airflow.operators.workload import (
    COPY_EXECUTION_TIMEOUT,
    DetachedVolumeMigrateOperator,
    ServerCopyDisksOperator,
    ServerCreateOperator,
    ServerPrepareOperator,
)
from os_migrate_airflow.triggers.openstack import OpenStackResourceStatusTrigger


@pytest.fixture(autouse=True)
def clouds(fake_openstack_connections):
    fake_openstack_connections(("openstack_src", "openstack_dst"), password="pw-not-in-the-trigger")


def context(minutes_ago=0):
    start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=minutes_ago)
    return {"ti": SimpleNamespace(start_date=start)}


PENDING = Pending("volume", "vol-9", ("available",), ("error",), "dst", "destination volume 'data'", 900)


class Step:
    """A fake core step: Pending while the resource is not ready and waits do not block."""

    def __init__(self, result, ready=False):
        self.result, self.ready, self.calls, self.blocking = result, ready, 0, []

    def __call__(self, *args, **kwargs):
        self.calls += 1
        self.blocking.append(waits_block())
        if not self.ready and not waits_block():
            raise PENDING
        return self.result


def test_a_pending_copy_defers_to_the_trigger_with_the_connection_id_only():
    step = Step({"server": "web", "disks": []})
    op = ServerCopyDisksOperator(task_id="copy", data_dir="/d", server_name="web", deferrable=True)

    with mock.patch.object(op_module, "copy_server_disks", step), pytest.raises(TaskDeferred) as deferred:
        op.execute(context())

    trigger = deferred.value.trigger
    assert isinstance(trigger, OpenStackResourceStatusTrigger)
    assert deferred.value.method_name == "execute_complete"
    _, kwargs = trigger.serialize()
    assert kwargs["conn_id"] == "openstack_dst"  # side dst
    assert (kwargs["kind"], kwargs["resource_id"], kwargs["target_statuses"]) == (
        "volume",
        "vol-9",
        ["available"],
    )
    assert kwargs["timeout"] == 900  # the core wait's timeout (below the 24 h task timeout)
    assert "pw-not-in-the-trigger" not in json.dumps(kwargs)
    assert deferred.value.timeout == datetime.timedelta(seconds=900 + 5 * op_module.TRIGGER_POLL_INTERVAL)
    assert step.blocking == [False]


def test_the_trigger_timeout_is_capped_by_the_time_the_task_has_left():
    op = ServerCreateOperator(
        task_id="create", data_dir="/d", server_name="web", execution_timeout=datetime.timedelta(minutes=20)
    )
    with (
        mock.patch.object(op_module, "create_destination_server", Step({})),
        pytest.raises(TaskDeferred) as deferred,
    ):
        op.execute(context(minutes_ago=15))

    assert 290 <= deferred.value.trigger.timeout <= 300


def test_done_runs_the_step_again_which_goes_on():
    step = Step({"server": "web", "disks": [], "action": "migrate"})
    op = ServerCopyDisksOperator(task_id="copy", data_dir="/d", server_name="web", deferrable=True)
    with mock.patch.object(op_module, "copy_server_disks", step):
        with pytest.raises(TaskDeferred):
            op.execute(context())
        step.ready = True
        result = op.execute_complete(context(), event={"status": "done", "message": "available"})

    assert result == {"server": "web", "disks": [], "action": "migrate"}
    assert step.calls == 2


def test_failed_runs_the_step_again_so_the_core_error_is_mapped():
    op = ServerCopyDisksOperator(task_id="copy", data_dir="/d", server_name="web", deferrable=True)
    failing = mock.Mock(side_effect=CopyError("destination volume 'data' (vol-9): status error"))
    with (
        mock.patch.object(op_module, "copy_server_disks", failing),
        pytest.raises(AirflowException, match="status error") as raised,
    ):
        op.execute_complete(context(), event={"status": "failed", "message": "status error"})

    assert type(raised.value) is AirflowException  # CopyError is retryable: a retry, not a fail
    failing.assert_called_once()


def test_timeout_fails_the_try_without_calling_the_step():
    step = Step({})
    op = ServerCopyDisksOperator(task_id="copy", data_dir="/d", server_name="web", deferrable=True)
    with (
        mock.patch.object(op_module, "copy_server_disks", step),
        pytest.raises(AirflowException, match="still 'creating' after 900 s"),
    ):
        op.execute_complete(
            context(), event={"status": "timeout", "message": "v: still 'creating' after 900 s"}
        )

    assert step.calls == 0


def test_not_deferrable_waits_in_the_worker():
    step = Step({"server": "web", "action": "migrate", "source_status": "SHUTOFF"}, ready=True)
    op = ServerPrepareOperator(task_id="prepare", data_dir="/d", server_name="web", deferrable=False)

    with mock.patch.object(op_module, "prepare_server", step):
        op.execute(context())

    assert step.blocking == [True]


def test_the_detached_volume_copy_defers_too():
    op = DetachedVolumeMigrateOperator(task_id="vol", data_dir="/d", volume_name="data", deferrable=True)
    with mock.patch.object(op_module, "migrate_volume", Step({})), pytest.raises(TaskDeferred) as deferred:
        op.execute(context())

    assert deferred.value.trigger.conn_id == "openstack_dst"


def test_copy_tasks_keep_their_long_timeout_over_the_dag_default():
    with DAG("d", schedule=None, default_args={"execution_timeout": datetime.timedelta(hours=2)}):
        copy = ServerCopyDisksOperator(task_id="copy", data_dir="/d", server_name="web")
        volume = DetachedVolumeMigrateOperator(task_id="vol", data_dir="/d", volume_name="v")
        prepare = ServerPrepareOperator(task_id="prepare", data_dir="/d", server_name="web")

    assert copy.execution_timeout == volume.execution_timeout == COPY_EXECUTION_TIMEOUT
    assert prepare.execution_timeout == datetime.timedelta(hours=2)
    # copies wait in the worker unless asked (see COPY_DEFERRABLE); server waits defer
    assert copy.deferrable is False and volume.deferrable is False and prepare.deferrable is True


def test_a_mapped_copy_keeps_its_long_timeout_over_the_dag_default():
    with DAG("d", schedule=None, default_args={"execution_timeout": datetime.timedelta(hours=2)}):
        mapped = DetachedVolumeMigrateOperator.partial(task_id="vol", data_dir="/d").expand(
            volume_name=["a", "b"]
        )
        prepare = ServerPrepareOperator.partial(task_id="prepare", data_dir="/d").expand(server_name=["w"])

    assert mapped.partial_kwargs["execution_timeout"] == COPY_EXECUTION_TIMEOUT
    assert prepare.partial_kwargs["execution_timeout"] == datetime.timedelta(hours=2)
