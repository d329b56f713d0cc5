"""The wave DAGs built from a plan: one DAG per wave, schedule, window, tenant groups, approval."""

from __future__ import annotations

import datetime
import textwrap

import pytest
from airflow.dag_processing.dagbag import DagBag
from dagtools import DAGS_DIR

PLAN = textwrap.dedent(
    """\
    version: 1
    defaults:
      src_conn_id: "src_{tenant}"
      dst_conn_id: "dst_{tenant}"
    waves:
      - name: sat-a
        start: "2030-01-05T02:00:00+01:00"
        end: "2030-01-05T06:00:00+01:00"
        on_preflight_failure: skip
        concurrency: {servers: 3, copies_per_host_pair: 1}
        tenants:
          - tenant: alpha
            servers: ["web-1", "regex:^db-"]
            pre_workload: {resource_types: [networks, subnets]}
          - tenant: beta
            servers: ["regex:.*"]
            pre_workload: false
      - name: weekly
        start: {cron: "0 2 * * 6", timezone: "Europe/Prague"}
        window: 4h
        approval: true
        tenants:
          - tenant: gamma
            servers: [app-1]
      - name: after-staging
        start: staged
        tenants:
          - tenant: alpha
            servers: [web-1]
          - tenant: beta
            servers: [web-2]
    """
)


@pytest.fixture(scope="module")
def dags(tmp_path_factory):
    plan = tmp_path_factory.mktemp("plan") / "waves.yml"
    plan.write_text(PLAN)
    mp = pytest.MonkeyPatch()
    mp.setenv("OS_MIGRATE_WAVE_PLAN", str(plan))
    try:
        bag = DagBag(dag_folder=str(DAGS_DIR / "os_migrate_waves.py"))
    finally:
        mp.undo()
    assert bag.import_errors == {}
    return bag.dags


def test_one_dag_per_wave(dags):
    assert sorted(dags) == [
        "os_migrate_wave_after_staging",
        "os_migrate_wave_sat_a",
        "os_migrate_wave_weekly",
    ]


def test_no_plan_no_dag(monkeypatch):
    monkeypatch.delenv("OS_MIGRATE_WAVE_PLAN", raising=False)
    bag = DagBag(dag_folder=str(DAGS_DIR / "os_migrate_waves.py"))
    assert bag.import_errors == {} and bag.dags == {}


def test_invalid_plan_is_an_import_error_naming_file_and_line(tmp_path, monkeypatch):
    plan = tmp_path / "waves.yml"
    plan.write_text(PLAN.replace('start: "2030-01-05T02:00:00+01:00"', 'start: "2030-01-05T02:00:00"'))
    monkeypatch.setenv("OS_MIGRATE_WAVE_PLAN", str(plan))
    bag = DagBag(dag_folder=str(DAGS_DIR / "os_migrate_waves.py"))
    (error,) = bag.import_errors.values()
    assert f"{plan}:7" in error


def test_schedules(dags):
    once = dags["os_migrate_wave_sat_a"]
    assert type(once.timetable).__name__ == "OnceTimetable"
    assert once.start_date == datetime.datetime(2030, 1, 5, 1, 0, tzinfo=datetime.UTC)
    cron = dags["os_migrate_wave_weekly"].timetable
    assert type(cron).__name__ == "CronTriggerTimetable"
    assert cron.expression == "0 2 * * 6" and str(cron.timezone) == "Europe/Prague"
    staged = dags["os_migrate_wave_after_staging"].timetable
    assert type(staged).__name__ == "AssetTriggeredTimetable"
    condition = staged.asset_condition
    assert type(condition).__name__ == "AssetAll"  # every tenant's staged data, not any
    assert {a.name for a in condition.objects} == {"os_migrate_staged_alpha", "os_migrate_staged_beta"}


def test_tenant_groups_in_parallel_after_the_window_check(dags):
    dag = dags["os_migrate_wave_sat_a"]
    edges = {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks}
    assert sorted(edges["check_window"]) == ["alpha.lock_data_dir", "beta.lock_data_dir"]
    # alpha: pre-workload then its servers; beta (pre_workload: false): its servers only
    assert edges["alpha.pre_workload_export"] == ["alpha.pre_workload_validate"]
    assert edges["alpha.pre_workload_import"] == ["alpha.preflight"]
    assert "beta.pre_workload_export" not in edges
    assert edges["beta.lock_data_dir"] == sorted(
        ["beta.export_workloads", "beta.preflight", "beta.unlock_data_dir"]
    ) or ("beta.export_workloads" in edges["beta.lock_data_dir"])
    for tenant in ("alpha", "beta"):
        unlock = dag.get_task(f"{tenant}.unlock_data_dir")
        assert unlock.is_teardown and f"{tenant}.lock_data_dir" in unlock.upstream_task_ids
        assert "report" in edges[f"{tenant}.unlock_data_dir"] or "report" in edges[f"{tenant}.summary"]
    assert "approval" not in edges


def test_pre_workload_import_updates_the_tenants_staged_asset(dags):
    task = dags["os_migrate_wave_sat_a"].get_task("alpha.pre_workload_import")
    assert [a.name for a in task.outlets] == ["os_migrate_staged_alpha"]


def test_concurrency_and_policy_from_the_plan(dags):
    dag = dags["os_migrate_wave_sat_a"]
    assert dag.get_task("alpha.migrate_server.prepare").max_active_tis_per_dagrun == 3
    copy = dag.get_task("alpha.migrate_server.copy_disks")
    assert copy.max_active_tis_per_dagrun == 1 and copy.pool == "conversion_hosts"
    assert copy.execution_timeout > dag.get_task("alpha.preflight").execution_timeout
    assert dag.get_task("alpha.preflight").on_failure == "skip"
    assert dags["os_migrate_wave_weekly"].get_task("gamma.preflight").on_failure == "skip"
    assert all(t.execution_timeout for t in dag.tasks)


def test_approval_once_per_wave_before_any_server(dags):
    dag = dags["os_migrate_wave_weekly"]
    approval = dag.get_task("approval")
    assert approval.upstream_task_ids == {"gamma.preflight"}
    assert "gamma.migrate_server.prepare" in approval.downstream_task_ids


def test_window_deadline(dags):
    assert dags["os_migrate_wave_sat_a"].deadline
    assert dags["os_migrate_wave_weekly"].deadline
    assert not dags["os_migrate_wave_after_staging"].deadline


def test_every_wave_dag_serializes_as_the_dag_processor_stores_it(dags):
    from airflow.serialization.serialized_objects import DagSerialization

    for dag in dags.values():
        data = DagSerialization.to_dict(dag)
        assert DagSerialization.from_dict(data).dag_id == dag.dag_id
