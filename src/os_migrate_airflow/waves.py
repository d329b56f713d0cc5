"""Airflow DAGs from a wave plan (:mod:`os_migrate.waves`): one DAG per wave.

A wave DAG is ``check_window`` followed by one task group per tenant, tenants in parallel::

    <tenant>.lock_data_dir (setup) -> [create_dst_project] -> pre_workload_export -> pre_workload_validate
        -> pre_workload_import (outlet: the tenant's staged-data asset)
    <tenant>.lock_data_dir -> export_workloads -> preflight -> [approval, once per wave]
        -> migrate_server[<server>] (prepare -> copy_disks -> create_server -> finalize) -> summary
        -> unlock_data_dir (teardown)

and ``report`` (the wave's JSON/HTML report) last. Everything a tenant task needs is fixed by the
plan when the DAG file is parsed, so the DAG has no Params; the data dir is resolved on the worker.

Schedule (see :func:`wave_schedule`): a date-time start runs once at that time (``@once`` from that ``start_date``),
a cron start on every tick (``CronTriggerTimetable`` in the wave's time zone), ``staged`` when every
tenant's staged-data asset has a new event. ``check_window`` refuses a run outside the change window
(a manual trigger too); past the window's end no new server starts (``prepare`` skips it) and a
deadline alert fires.
"""

from __future__ import annotations

import datetime
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import (
    DAG,
    CronTriggerTimetable,
    TaskGroup,
    TriggerRule,
    task,
    task_group,
)
from airflow.sdk.definitions.callback import AsyncCallback
from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

from os_migrate import waves as core_waves
from os_migrate_airflow.assets import staged_asset
from os_migrate_airflow.dag_support import staging_root, tenant_data_dir

if TYPE_CHECKING:
    from os_migrate.waves import TenantRun, Wave, WavePlan

log = logging.getLogger(__name__)

#: Pool capping concurrent disk copies across all runs (as in os_migrate_workloads).
COPY_POOL = "conversion_hosts"
#: Nothing hangs forever: every task is bounded (copies by COPY_EXECUTION_TIMEOUT of the operators).
TASK_TIMEOUT = datetime.timedelta(hours=2)
DEFAULT_ARGS = {
    "owner": "os-migrate",
    "retries": 2,
    "retry_delay": datetime.timedelta(seconds=30),
    "execution_timeout": TASK_TIMEOUT,
}


async def wave_overrun(**kwargs: Any) -> None:
    """Deadline-alert callback (runs in the triggerer): log that a wave overran its change window."""
    log.error(
        "os-migrate wave %s overran its change window (closed at %s)",
        kwargs.get("wave"),
        kwargs.get("closes"),
    )


def wave_schedule(wave: Wave) -> Any:
    """The DAG ``schedule`` of a wave: a timetable, or the tenants' staged-data assets."""
    if wave.cron:
        return CronTriggerTimetable(wave.cron, timezone=wave.timezone)
    if wave.staged:
        return [staged_asset(t.tenant) for t in wave.tenants]
    # "@once" runs at the DAG's start_date, the wave's start (EventsTimetable would say the same, but
    # Airflow 3.3.2 cannot deserialize it: KeyError '_summary'). A plan parsed after its start still
    # runs once, and check_window refuses it past the window's end.
    return "@once"


def wave_deadline(wave: Wave) -> DeadlineAlert | None:
    """Deadline alert at the end of the change window: a fixed end, else the run's start + window."""
    callback = AsyncCallback(wave_overrun, kwargs={"wave": wave.name, "closes": str(wave.end or wave.window)})
    if wave.end is not None:
        return DeadlineAlert(
            reference=DeadlineReference.FIXED_DATETIME(wave.end),
            interval=datetime.timedelta(0),
            callback=callback,
        )
    if wave.window is not None:
        reference = DeadlineReference.DAGRUN_LOGICAL_DATE if wave.cron else DeadlineReference.DAGRUN_QUEUED_AT
        return DeadlineAlert(reference=reference, interval=wave.window, callback=callback)
    return None


def _tenant_group(wave: Wave, t: TenantRun, window_closes: str) -> tuple[Any, Any, list[Any]]:
    """One tenant's task group; returns ``(group, preflight task, [what the approval gates])``."""
    from os_migrate_airflow.operators.locks import DataDirLockOperator, DataDirUnlockOperator
    from os_migrate_airflow.operators.openstack import (
        OpenStackExportOperator,
        OpenStackImportOperator,
        OpenStackValidateOperator,
    )
    from os_migrate_airflow.operators.projects import ProjectEnsureOperator
    from os_migrate_airflow.operators.workload import (
        COPY_EXECUTION_TIMEOUT,
        DetachedVolumeMigrateOperator,
        DetachedVolumeSelectOperator,
        ServerCopyDisksOperator,
        ServerCreateOperator,
        ServerFinalizeOperator,
        ServerPrepareOperator,
        WorkloadExportOperator,
        WorkloadPreflightOperator,
        WorkloadSummaryOperator,
    )

    data_dir = "{{ os_migrate_wave_data_dir(%r) }}" % t.tenant
    conns = {"src_conn_id": t.src_conn_id, "dst_conn_id": t.dst_conn_id}
    common: dict[str, Any] = {
        "data_dir": data_dir,
        **conns,
        "overrides": dict(t.migration_params),
        "flavor_map": dict(t.flavor_map),
        "copy_method": t.copy_method,
        "src_host_conn_id": t.src_host_conn_id,
        "dst_host_conn_id": t.dst_host_conn_id,
    }
    with TaskGroup(group_id=t.tenant, tooltip=f"tenant {t.tenant}") as group:
        lock = DataDirLockOperator(task_id="lock_data_dir", data_dir=data_dir)
        unlock = DataDirUnlockOperator(task_id="unlock_data_dir", data_dir=data_dir)
        first: Any = lock
        if t.create_dst_project:
            ensure = ProjectEnsureOperator(
                task_id="create_dst_project",
                enabled=True,
                admin_conn_id=t.dst_admin_conn_id,
                dst_conn_id=t.dst_conn_id,
            )
            lock >> ensure
            first = ensure
        export = WorkloadExportOperator(task_id="export_workloads", servers=list(t.servers), **common)
        lock >> export
        check = WorkloadPreflightOperator(
            task_id="preflight",
            servers=list(t.servers),
            on_failure=wave.on_preflight_failure,
            **common,
        )
        if t.pre_workload is not None:
            types = list(t.pre_workload["resource_types"])
            filters = dict(t.pre_workload.get("filters") or {})
            pre_export = OpenStackExportOperator(
                task_id="pre_workload_export",
                types=types,
                filters=filters,
                data_dir=data_dir,
                src_conn_id=t.src_conn_id,
            )
            pre_validate = OpenStackValidateOperator(
                task_id="pre_workload_validate",
                types=types,
                filters=filters,
                data_dir=data_dir,
                dst_conn_id=t.dst_conn_id,
            )
            pre_import = OpenStackImportOperator(
                task_id="pre_workload_import",
                types=types,
                filters=filters,
                data_dir=data_dir,
                **conns,
                outlets=[staged_asset(t.tenant)],
            )
            first >> pre_export >> pre_validate >> pre_import >> check
        else:
            first >> check
        export >> check

        def steps(server_name: str) -> None:
            prepare = ServerPrepareOperator(
                task_id="prepare",
                server_name=server_name,
                not_after=window_closes,
                max_active_tis_per_dagrun=wave.servers_at_once,
                **common,
            )
            copy = ServerCopyDisksOperator(
                task_id="copy_disks",
                server_name=server_name,
                pool=COPY_POOL,
                max_active_tis_per_dagrun=wave.copies_per_host_pair,
                execution_timeout=COPY_EXECUTION_TIMEOUT,
                **common,
            )
            create = ServerCreateOperator(task_id="create_server", server_name=server_name, **common)
            finalize = ServerFinalizeOperator(task_id="finalize", server_name=server_name, **common)
            prepare >> copy >> create >> finalize

        servers = task_group(group_id="migrate_server")(steps).expand(server_name=check.output)
        select = DetachedVolumeSelectOperator(task_id="select_volumes", volumes=list(t.volumes), **common)
        volumes = DetachedVolumeMigrateOperator.partial(
            task_id="migrate_volume",
            pool=COPY_POOL,
            max_active_tis_per_dagrun=wave.copies_per_host_pair,
            execution_timeout=COPY_EXECUTION_TIMEOUT,
            **common,
        ).expand(volume_name=select.output)
        summary = WorkloadSummaryOperator(
            task_id="summary",
            data_dir=data_dir,
            tenant=t.tenant,
            wave=wave.name,
            preflight_task_id=f"{t.tenant}.preflight",
            finalize_task_id=f"{t.tenant}.migrate_server.finalize",
            volume_select_task_id=f"{t.tenant}.select_volumes",
            volume_task_id=f"{t.tenant}.migrate_volume",
            import_task_ids=[f"{t.tenant}.pre_workload_import"] if t.pre_workload is not None else [],
        )
        check >> select >> volumes >> summary >> unlock
        servers >> summary >> unlock
        unlock.as_teardown(setups=lock)
    return group, check, [servers, select]


#: Rendered on the worker: the change window's end from ``check_window`` (None: no end).
WINDOW_CLOSES = "{{ (ti.xcom_pull(task_ids='check_window') or {}).get('closes_at') }}"


def build_wave_dag(plan: WavePlan, wave: Wave) -> DAG:
    """The DAG of one wave of ``plan`` (see the module docstring)."""
    from os_migrate_airflow.operators.approval import WaveApprovalOperator

    data_dirs = {t.tenant: t.data_dir for t in wave.tenants}

    def wave_data_dir(tenant: str) -> str:
        return tenant_data_dir(tenant, data_dirs.get(tenant))

    doc = (
        f"### OS Migrate wave `{wave.name}`\n\nFrom plan `{plan.path}`. Schedule: {wave.schedule_text()}. "
        f"Tenants: {', '.join(t.tenant for t in wave.tenants)}. Approval: {'required' if wave.approval else 'no'}; "
        f"pre-flight failure of a server: {wave.on_preflight_failure}; servers at once: {wave.servers_at_once}, "
        f"copies per conversion-host pair: {wave.copies_per_host_pair}.\n\n{__doc__}"
    )
    with DAG(
        dag_id=wave.dag_id,
        description=f"Migration wave {wave.name}: {len(wave.tenants)} tenant(s)",
        doc_md=doc,
        schedule=wave_schedule(wave),
        start_date=wave.start
        if wave.start is not None
        else datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
        catchup=False,
        # the plan is the decision to run: a wave DAG is not paused when it first appears
        is_paused_upon_creation=False,
        max_active_runs=1,
        max_active_tasks=max(wave.servers_at_once, len(wave.tenants)) * 2,
        default_args=DEFAULT_ARGS,
        deadline=wave_deadline(wave),
        tags=["os-migrate", "openstack", "wave"],
        render_template_as_native_obj=True,
        user_defined_macros={"os_migrate_wave_data_dir": wave_data_dir},
    ) as dag:

        @task(task_id="check_window")
        def check_window(**context: Any) -> dict[str, Any]:
            """Refuse a run outside the wave's change window; return when it closes."""
            from airflow.sdk.exceptions import AirflowFailException

            now = datetime.datetime.now(datetime.UTC)
            scheduled = context.get("data_interval_end") or context.get("logical_date")
            state = core_waves.window_check(wave, now, scheduled=scheduled)
            if not state.open:
                raise AirflowFailException(f"wave {wave.name}: {state.reason}")
            closes = state.closes.isoformat() if state.closes else None
            log.info("wave %s: change window open until %s", wave.name, closes or "the end of the run")
            return {"opens_at": state.opens.isoformat() if state.opens else None, "closes_at": closes}

        window = check_window()
        checks, gated, groups = [], [], []
        for t in wave.tenants:
            group, check, after_approval = _tenant_group(wave, t, WINDOW_CLOSES)
            window >> group
            checks.append(check)
            gated += after_approval
            groups.append(group)
        if wave.approval:
            approval = WaveApprovalOperator(
                task_id="approval",
                subject=f"Approve migration wave {wave.name}",
                required=True,
                tenants=[
                    {
                        "tenant": t.tenant,
                        "data_dir": "{{ os_migrate_wave_data_dir(%r) }}" % t.tenant,
                        "overrides": dict(t.migration_params),
                        "flavor_map": dict(t.flavor_map),
                        "preflight_task_id": f"{t.tenant}.preflight",
                    }
                    for t in wave.tenants
                ],
            )
            checks >> approval >> gated

        @task(task_id="report", trigger_rule=TriggerRule.ALL_DONE)
        def report(**context: Any) -> dict[str, Any] | None:
            """Merge the tenants' reports into the wave's (JSON + HTML under the staging root)."""
            return write_wave_report(wave, {t.tenant: wave_data_dir(t.tenant) for t in wave.tenants}, context)

        groups >> report()
    return dag


def write_wave_report(wave: Wave, data_dirs: dict[str, str], context: Any) -> dict[str, Any] | None:
    """Merge the tenant reports of this run (``<data dir>/reports/<dag_id>__<run_id>.json``) into
    ``$OS_MIGRATE_STAGING_ROOT/waves/<wave>/<dag_id>__<run_id>.{json,html}``.

    A tenant without a report (its summary did not run) is listed with ``failed`` and no rows.
    :returns: ``{"json", "html", "totals", "failed"}`` (paths, no page content).
    :raises AirflowFailException: a tenant failed (a server failed, or its pre-flight, or no report),
        after the report is written; the wave's run fails with it.
    """
    from os_migrate.report import load_report, merge_reports, safe_stem, write_report

    stem = safe_stem(wave.dag_id, str(context["run_id"]))
    reports = []
    for tenant, data_dir in data_dirs.items():
        path = Path(data_dir) / "reports" / f"{stem}.json"
        if path.exists():
            reports.append(load_report(path))
        else:
            log.error("tenant %s: no report at %s (its summary did not run)", tenant, path)
            reports.append(
                {"tenant": tenant, "wave": wave.name, "run_id": str(context["run_id"]), "failed": True}
            )
    merged = merge_reports(reports, wave=wave.name, run_id=str(context["run_id"]))
    json_path, html_path = write_report(merged, Path(staging_root()) / "waves" / wave.name, stem)
    log.info("Wave report: %s and %s", json_path, html_path)
    failed = [t["tenant"] for t in merged["tenants"] if t["failed"]]
    if failed:
        # the report is the wave's last task: its state is the run's
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(
            f"wave {wave.name}: tenant(s) {', '.join(failed)} failed; report {html_path}"
        )
    return {"json": str(json_path), "html": str(html_path), "totals": merged["totals"], "failed": False}


def wave_dags(path: str | None) -> dict[str, DAG]:
    """Every wave DAG of the plan file (or directory of ``*.yml``/``*.yaml`` plans) at ``path``.

    :returns: ``{dag_id: DAG}``; empty when ``path`` is empty.
    :raises os_migrate.exceptions.ValidationError: the plan is invalid (every error, with file:line),
        so the dag-processor shows it as the DAG file's import error.
    """
    if not path:
        return {}
    dags: dict[str, DAG] = {}
    for plan in (core_waves.load_plan(f) for f in core_waves.plan_files(path)):
        for wave in plan.waves:
            if wave.dag_id in dags:
                raise ValueError(
                    f"{plan.path}: wave {wave.name!r}: DAG id {wave.dag_id} is used by another plan"
                )
            dags[wave.dag_id] = build_wave_dag(plan, wave)
    return dags
