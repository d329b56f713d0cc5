"""Data-dir lock operators (holder = the DAG run) and the plan approval (HITL) operator."""

from __future__ import annotations

import datetime
from unittest import mock

import pytest
from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowFailException, DownstreamTasksSkipped, TaskAwaitingInput

from os_migrate import locks
from os_migrate.serialization import write_resources
from os_migrate.workload.records import MIGRATION_PARAM_DEFAULTS, Server, workload_file
from os_migrate_airflow.operators.approval import PlanApprovalOperator
from os_migrate_airflow.operators.locks import DataDirLockOperator, DataDirUnlockOperator
from os_migrate_airflow.operators.workload import WorkloadPreflightOperator


def ctx(run_id: str, xcom=None) -> dict:
    ti = mock.MagicMock(dag_id="os_migrate_workloads", run_id=run_id, map_index=-1)
    ti.id = "0193-ti"
    ti.xcom_pull.side_effect = lambda **kw: xcom
    return {"ti": ti, "task_instance": ti}


def test_lock_then_unlock_by_the_run(tmp_path):
    lock = DataDirLockOperator(task_id="lock_data_dir", data_dir=str(tmp_path))
    unlock = DataDirUnlockOperator(task_id="unlock_data_dir", data_dir=str(tmp_path))

    holder = lock.execute(ctx("run-a"))

    assert holder["dag_id"] == "os_migrate_workloads" and holder["run_id"] == "run-a"
    assert lock.execute(ctx("run-a"))["since"] == holder["since"]  # a retried lock task of the same run
    assert unlock.execute(ctx("run-b")) is False  # another run never removes it
    assert locks.read_holder(tmp_path)["run_id"] == "run-a"
    assert unlock.execute(ctx("run-a")) is True
    assert locks.read_holder(tmp_path) is None


def test_a_second_run_fails_at_once_naming_the_holder(tmp_path):
    DataDirLockOperator(task_id="lock_data_dir", data_dir=str(tmp_path)).execute(ctx("run-a"))

    with pytest.raises(AirflowFailException, match=r"in use by .*run_id run-a.*delete .*\.os-migrate\.lock"):
        DataDirLockOperator(task_id="lock_data_dir", data_dir=str(tmp_path)).execute(ctx("run-b"))


REPORT = {
    "servers": ["db-1", "web-1"],
    "run": ["db-1", "web-1"],
    "migrate": ["db-1"],
    "skip": [{"server": "web-1", "reason": "a server named 'web-1' already exists in the destination"}],
    "done": [],
    "needs": {"instances": 1},
    "flavors": {"db-1": {"source": "m1.small", "destination": "m1.medium", "disk": 20}},
    "warnings": [],
}


def write_records(data_dir):
    vols = [
        {"name": "root", "size": 3, "device": "/dev/vda", "boot_index": 0},
        {"name": "data", "size": 2, "device": "/dev/vdb"},
    ]
    record = {
        "type": Server.type,
        "params": {"name": "db-1", "flavor": {"name": "m1.small"}, "image": None, "volumes": vols},
        "_info": {
            "id": "id-db-1",
            "volumes": [{"id": "v1", "device": "/dev/vda"}, {"id": "v2", "device": "/dev/vdb"}],
        },
        "_migration_params": dict(MIGRATION_PARAM_DEFAULTS),
    }
    write_resources(workload_file(data_dir), [record])


def approval(tmp_path, **kwargs) -> PlanApprovalOperator:
    return PlanApprovalOperator(task_id="approval", data_dir=str(tmp_path), tenant="t1", **kwargs)


def test_is_the_standard_approval_operator(tmp_path):
    assert issubclass(PlanApprovalOperator, ApprovalOperator)
    # an execution_timeout (default_args) does not become the wait for the human
    op = approval(tmp_path, execution_timeout=datetime.timedelta(minutes=30))
    assert op.response_timeout == datetime.timedelta(days=7)
    assert op.execution_timeout == datetime.timedelta(minutes=30)
    assert {"required", "data_dir", "body", "subject"} <= set(PlanApprovalOperator.template_fields)


@pytest.mark.parametrize("required", [False, "False", "false", None])
def test_not_required_returns_at_once_without_asking(tmp_path, required):
    op = approval(tmp_path, required=required)
    with mock.patch("airflow.providers.standard.operators.hitl.upsert_hitl_detail") as upsert:
        assert op.execute(ctx("r", REPORT)) == {"approved": True, "required": False}
    upsert.assert_not_called()


def test_required_asks_with_the_plan_as_body(tmp_path):
    write_records(tmp_path)
    op = approval(tmp_path, required=True, subject="Approve t1")
    context = ctx("r", REPORT)

    with (
        mock.patch("airflow.providers.standard.operators.hitl.upsert_hitl_detail") as upsert,
        pytest.raises(TaskAwaitingInput),  # Airflow 3.3: the task waits in awaiting_input
    ):
        op.execute(context)

    context["ti"].xcom_pull.assert_called_with(task_ids="preflight", key=WorkloadPreflightOperator.REPORT_KEY)
    kwargs = upsert.call_args.kwargs
    assert kwargs["options"] == ["Approve", "Reject"] and kwargs["subject"] == "Approve t1"
    body = kwargs["body"]
    assert "### Servers to stop and migrate (1)" in body
    assert "| db-1 | m1.small -> m1.medium | 2 | 5.0 GiB |" in body
    assert f"Expected bytes to copy: 5.0 GiB** ({5 * 1024**3} bytes" in body
    assert "- web-1: a server named 'web-1' already exists in the destination" in body
    assert "Tenant **t1**" in body


def test_nothing_to_run_asks_nothing(tmp_path):
    op = approval(tmp_path, required=True)
    with mock.patch("airflow.providers.standard.operators.hitl.upsert_hitl_detail") as upsert:
        assert op.execute(ctx("r", {**REPORT, "run": []}))["approved"] is True
    upsert.assert_not_called()


def test_missing_report_fails(tmp_path):
    with pytest.raises(ValueError, match="no pre-flight report"):
        approval(tmp_path, required=True).execute(ctx("r", None))


def event(option: str) -> dict:
    return {
        "chosen_options": [option],
        "params_input": {},
        "responded_at": datetime.datetime(2026, 12, 3, tzinfo=datetime.UTC),
        "responded_by_user": {"id": "admin", "name": "admin"},
    }


def wave(tmp_path):
    from airflow.providers.standard.operators.empty import EmptyOperator

    with DAG("w", schedule=None):
        op = approval(tmp_path, required=True)
        prepare = EmptyOperator(task_id="prepare")
        create = EmptyOperator(task_id="create")
        unlock = EmptyOperator(task_id="unlock").as_teardown()
        op >> prepare >> create >> unlock
    return op


def test_approve_lets_the_wave_go_on(tmp_path):
    op = wave(tmp_path)
    context = {**ctx("r"), "task": op}

    result = op.execute_complete(context, event("Approve"))

    assert result["approved"] is True and result["chosen_options"] == ["Approve"]


def test_reject_skips_every_later_step_but_the_teardowns(tmp_path):
    op = wave(tmp_path)
    context = {**ctx("r"), "task": op}

    with pytest.raises(DownstreamTasksSkipped) as skipped:
        op.execute_complete(context, event("Reject"))

    assert sorted(skipped.value.tasks) == ["create", "prepare"]  # not the teardown "unlock"


def test_a_wave_asks_once_with_every_tenants_plan(tmp_path):
    from os_migrate_airflow.operators.approval import WaveApprovalOperator

    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    write_records(a)
    op = WaveApprovalOperator(
        task_id="approval",
        required=True,
        subject="Approve wave w",
        tenants=[
            {
                "tenant": "ta",
                "data_dir": str(a),
                "overrides": {},
                "flavor_map": {},
                "preflight_task_id": "ta.preflight",
            },
            {
                "tenant": "tb",
                "data_dir": str(b),
                "overrides": {},
                "flavor_map": {},
                "preflight_task_id": "tb.preflight",
            },
        ],
    )
    context = ctx("r")
    reports = {"ta.preflight": REPORT, "tb.preflight": {**REPORT, "run": []}}
    context["ti"].xcom_pull.side_effect = lambda task_ids, key: reports[task_ids]

    with (
        mock.patch("airflow.providers.standard.operators.hitl.upsert_hitl_detail") as upsert,
        pytest.raises(TaskAwaitingInput),
    ):
        op.execute(context)

    body = upsert.call_args.kwargs["body"]
    assert "Tenant **ta**" in body and "| db-1 | m1.small -> m1.medium | 2 | 5.0 GiB |" in body
    assert "## Tenant tb\n\nNothing to migrate." in body
