"""Thin operators over :mod:`os_migrate.workload`: export, pre-flight, per-server steps, summary.

Each ``execute()`` calls one core function with the source and destination openstacksdk
Connections of :class:`~os_migrate_airflow.operators.base.OsMigrateBaseOperator` and returns a
small JSON-able dict (pushed to XCom). Migration logic lives in the core.

Per-server operators take ``server_name`` (templated, usually a mapped value) and default their
``map_index_template`` to the server name, so the UI lists map indexes by server.

Errors are mapped by :func:`~os_migrate_airflow.operators.base.core_errors` on the core class's
``retryable`` flag: cloud unreachable, a failed copy or a failed destination server are retried
(every step is idempotent); bad data, failed pre-flight, a source in a wrong state, an unreadable
source disk, a rolled-back migration fail at once.

Deferrable (``deferrable=True``, the default): the per-server steps and the detached volume copy
run their core step with non-blocking waits; a long wait (upload, snapshot, volume from image,
server SHUTOFF/ACTIVE) raises :class:`~os_migrate.workload.errors.Pending`, and the task defers to
:class:`~os_migrate_airflow.triggers.openstack.OpenStackResourceStatusTrigger` (no worker slot
held) and runs the step again when the trigger fires; the step goes on where it stopped.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException

from os_migrate.exceptions import OsMigrateError
from os_migrate.report import build_report, safe_stem, write_report
from os_migrate.workload import (
    copy_server_disks,
    create_destination_server,
    export_workloads,
    finalize_server,
    preflight,
    prepare_server,
    summarize_workloads,
)
from os_migrate.workload.checks import ON_FAILURE_STOP, flavor_line, runnable
from os_migrate.workload.cloudops import nonblocking_waits
from os_migrate.workload.errors import Pending
from os_migrate.workload.migrate import recorded_outcome
from os_migrate.workload.volumes import migrate_volume, select_volumes
from os_migrate_airflow.hooks.conversion_host import host_access
from os_migrate_airflow.links import MigrationReportLink, api_base_url, report_url
from os_migrate_airflow.operators.base import OsMigrateBaseOperator, core_errors, jsonable, parse_param
from os_migrate_airflow.triggers.openstack import OpenStackResourceStatusTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context

#: Default map index label of per-server tasks.
SERVER_MAP_INDEX_TEMPLATE = "{{ task.server_name }}"
#: ``execution_timeout`` of the copy tasks (disk copy, detached volume) unless given: a copy of
#: terabytes takes hours; it wins over a DAG's ``default_args`` (set in the operator's __init__).
COPY_EXECUTION_TIMEOUT = datetime.timedelta(hours=24)
#: Copies wait in the worker by default. Their waits chain (snapshot, volume, image, volume) and an
#: access that fails (a snapshot in ``error``) must fall through to the next one; under a real
#: triggerer the resumed copy re-created the failed snapshot instead (seen 2026-12-03 in
#: tests/integration/test_waves.py), so deferral of copies is opt-in (``deferrable=True``) until
#: the core's re-entry handles a failed access. Server stop/ACTIVE waits defer.
COPY_DEFERRABLE = False
#: Seconds between the trigger's status polls.
TRIGGER_POLL_INTERVAL = 10.0

_T = TypeVar("_T")


class _WorkloadOperator(OsMigrateBaseOperator):
    """Adds the run's ``_migration_params`` overrides and the disk copy choice to the base operator.

    :param overrides: ``_migration_params`` values applied to every server of the run (templated).
    :param flavor_map: source flavor name -> destination flavor name for the run (templated); a
        record's ``_migration_params.flavor_name`` wins; an unmapped flavor keeps its name.
    :param copy_method: ``image`` or ``conversion_host``; empty keeps the overrides'/records' choice
        (templated).
    :param src_host_conn_id: Airflow SSH Connection of the source conversion host (templated);
        becomes ``copy_settings.src_host.ssh_conn_id``.
    :param dst_host_conn_id: the same for the destination conversion host.
    :param host_settings: ``{"src_host": ..., "dst_host": ...}`` of managed hosts (the deploy task's
        XCom; templated); wins over the host connections.

    ``ssh_conn_id`` values anywhere in ``copy_settings`` are resolved on the worker by
    :func:`os_migrate_airflow.hooks.conversion_host.host_access`.
    """

    template_fields: Sequence[str] = (
        *OsMigrateBaseOperator.template_fields,
        "overrides",
        "flavor_map",
        "copy_method",
        "src_host_conn_id",
        "dst_host_conn_id",
        "host_settings",
    )
    ui_color = "#f2ece6"

    def __init__(
        self,
        *,
        overrides: dict[str, Any] | str | None = None,
        flavor_map: dict[str, str] | str | None = None,
        copy_method: str | None = None,
        src_host_conn_id: str | None = None,
        dst_host_conn_id: str | None = None,
        host_settings: dict[str, Any] | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.overrides = overrides
        self.flavor_map = flavor_map
        self.host_settings = host_settings
        self.copy_method = copy_method
        self.src_host_conn_id = src_host_conn_id
        self.dst_host_conn_id = dst_host_conn_id

    def _overrides(self) -> dict[str, Any] | None:
        overrides = self.param("overrides", dict)
        extra: dict[str, Any] = {}
        if self.copy_method:
            extra["copy_method"] = str(self.copy_method)
        hosts = {
            f"{side}_host": {"ssh_conn_id": str(conn_id)}
            for side, conn_id in (("src", self.src_host_conn_id), ("dst", self.dst_host_conn_id))
            if conn_id
        }
        managed = self.param("host_settings", dict) or {}
        hosts.update({k: dict(v) for k, v in managed.items() if k in ("src_host", "dst_host") and v})
        if hosts:
            settings = dict((overrides or {}).get("copy_settings") or {})
            for key, value in hosts.items():
                settings[key] = value if "host_file" in value else {**(settings.get(key) or {}), **value}
            extra["copy_settings"] = settings
        return {**(overrides or {}), **extra} if extra else overrides


class WorkloadExportOperator(_WorkloadOperator):
    """Export the source project's servers and detached volumes to the data dir.

    .. seealso:: :func:`os_migrate.workload.export_workloads`

    :param servers: name filter, ``["web-1", {"regex": "^db-"}]``; ``None`` exports every server
        (templated).
    :returns: ``{"data_dir", "servers", "counts", "files", "changed"}``.
    """

    template_fields: Sequence[str] = (*_WorkloadOperator.template_fields, "servers")

    def __init__(self, *, servers: list | str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.servers = servers

    def execute(self, context: Context) -> dict[str, Any]:
        with core_errors():
            result = export_workloads(self.src, str(self.data_dir), servers=self.param("servers", list))
        self.log.info(
            "Exported %d server(s) %s and %d detached volume(s) to %s",
            result["counts"]["workloads"],
            result["servers"],
            result["counts"]["detached_volumes"],
            result["data_dir"],
        )
        return jsonable(result)


class WorkloadPreflightOperator(_WorkloadOperator):
    """Check a wave against both clouds before anything is touched; fail listing every problem.

    .. seealso:: :func:`os_migrate.workload.preflight`

    :param servers: name filter of the wave (templated).
    :param check_only: only check; the returned list is then empty so no server step runs (the
        DAG's ``dry_run``; templated).
    :param on_failure: ``stop`` (default): any problem fails the task; ``skip``: servers with
        problems (or that do not fit the quota left) are skipped and reported, the others go on
        (templated).
    :returns: the server names to map the per-server steps over (every selected server but
        those skipped by pre-flight: servers whose name is taken show as skipped map indexes).
        The whole pre-flight report is pushed to XCom under the key ``report`` (with ``run``,
        the same list).
    :raises AirflowFailException: pre-flight found problems with ``stop`` (not retried).
    """

    #: XCom key of the full report.
    REPORT_KEY = "report"

    template_fields: Sequence[str] = (
        *_WorkloadOperator.template_fields,
        "servers",
        "check_only",
        "on_failure",
    )

    def __init__(
        self,
        *,
        servers: list | str | None = None,
        check_only: bool | str = False,
        on_failure: str = ON_FAILURE_STOP,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.servers = servers
        self.check_only = check_only
        self.on_failure = on_failure

    def execute(self, context: Context) -> list[str]:
        dry_run = self.param("check_only", bool, default=False)
        on_failure = self.param("on_failure", str, default=ON_FAILURE_STOP)
        try:
            with core_errors():
                report = preflight(
                    self.src,
                    self.dst,
                    str(self.data_dir),
                    servers=self.param("servers", list),
                    overrides=self._overrides(),
                    flavor_map=self.param("flavor_map", dict),
                    ssh_resolver=host_access,
                    on_failure=on_failure,
                )
        except AirflowFailException as e:
            for error in getattr(e.__cause__, "errors", []):
                self.log.error("%s", error)
            raise
        for server, choice in report.get("flavors", {}).items():
            self.log.info("%s", flavor_line(server, choice))
        for warning in report["warnings"]:
            self.log.warning("%s", warning)
        for skip in report["skip"]:
            self.log.info("skip %s: %s", skip["server"], skip["reason"])
        self.log.info(
            "Pre-flight passed. Migrate: %s; already migrated: %s; quota needed: %s",
            report["migrate"],
            report["done"],
            report["needs"],
        )
        report["data_dir"] = str(self.data_dir)
        report["run"] = [] if dry_run else runnable(report)
        if dry_run:
            self.log.info("Dry run: no server step runs")
        context["ti"].xcom_push(key=self.REPORT_KEY, value=jsonable(report))
        return report["run"]


def _copy_partial(partial: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    # a mapped task is built from its partial kwargs, where default_args were already merged
    kwargs.setdefault("execution_timeout", COPY_EXECUTION_TIMEOUT)
    kwargs.setdefault("deferrable", COPY_DEFERRABLE)
    return partial(**kwargs)


class _DeferrableOperator(_WorkloadOperator):
    """Runs its core step with non-blocking waits and defers a long wait to the triggerer.

    :param deferrable: defer long waits (needs a running triggerer); False: wait in the worker.
    """

    def __init__(self, *, deferrable: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.deferrable = deferrable

    def _deferring(self, context: Context, step: Callable[[], _T]) -> _T:
        """``step()`` inside :func:`nonblocking_waits`; on :class:`Pending`, defer (TaskDeferred)."""
        if not self.deferrable:
            return step()
        try:
            with nonblocking_waits():
                return step()
        except Pending as p:
            conn_id = self.src_conn_id if p.side == "src" else self.dst_conn_id
            timeout = p.timeout
            if self.execution_timeout and getattr(context.get("ti"), "start_date", None):
                started = context["ti"].start_date
                left = (
                    started + self.execution_timeout - datetime.datetime.now(started.tzinfo)
                ).total_seconds()
                timeout = max(60.0, min(timeout, left))
            self.log.info("%s; deferring (up to %.0f s)", p, timeout)
            self.defer(
                trigger=OpenStackResourceStatusTrigger(
                    conn_id=str(conn_id),
                    kind=p.kind,
                    resource_id=p.resource_id,
                    target_statuses=p.target_statuses,
                    failure_statuses=p.failure_statuses,
                    poll_interval=TRIGGER_POLL_INTERVAL,
                    timeout=timeout,
                    what=p.what,
                ),
                method_name="execute_complete",
                timeout=datetime.timedelta(seconds=timeout + 5 * TRIGGER_POLL_INTERVAL),
            )
            raise AssertionError("unreachable: defer() raises") from None

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger: ``done``/``failed`` run the step again (it goes on, or raises
        the core error of the failed resource); ``timeout`` raises a retryable error."""
        event = event or {}
        self.log.info("trigger: %s (%s)", event.get("message"), event.get("status"))
        if event.get("status") not in ("done", "failed"):
            raise AirflowException(f"{self.task_id}: {event.get('message') or 'no trigger event'}")
        # the undecorated execute: called from the task runner's resume, not a nested operator
        execute = getattr(type(self).execute, "__wrapped__", type(self).execute)
        return execute(self, context)


class _ServerStepOperator(_DeferrableOperator):
    """One step of one server (see :mod:`os_migrate.workload.migrate`).

    :param server_name: the server (record name in ``workloads.yml``; templated, usually mapped).
    """

    template_fields: Sequence[str] = (*_WorkloadOperator.template_fields, "server_name")

    def __init__(self, *, server_name: str, **kwargs: Any) -> None:
        kwargs.setdefault("map_index_template", SERVER_MAP_INDEX_TEMPLATE)
        super().__init__(**kwargs)
        self.server_name = server_name

    def _call(self, step: Callable[..., dict[str, Any]], context: Context) -> dict[str, Any]:
        with core_errors():
            return jsonable(
                self._deferring(
                    context,
                    lambda: step(
                        self.src,
                        self.dst,
                        str(self.data_dir),
                        str(self.server_name),
                        overrides=self._overrides(),
                        flavor_map=self.param("flavor_map", dict),
                        ssh_resolver=host_access,
                    ),
                )
            )


class ServerPrepareOperator(_ServerStepOperator):
    """Decide whether the server migrates; stop the source if asked (SHUTOFF required).

    .. seealso:: :func:`os_migrate.workload.prepare_server`

    :param not_after: end of the change window (ISO 8601 date-time with offset, templated; a wave's
        ``check_window`` result); past it the server is not started. Empty: no end.
    :raises AirflowSkipException: the change window has closed, the name is taken in the destination
        by a server os-migrate did not create, or an earlier run finished this server (downstream
        steps are skipped; the finalize step still reports it).
    """

    template_fields: Sequence[str] = (*_ServerStepOperator.template_fields, "not_after")

    def __init__(self, *, not_after: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.not_after = not_after
        self._resumed = False

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        # a server whose stop began before the window closed is carried on, not abandoned
        self._resumed = True
        return super().execute_complete(context, event)

    def execute(self, context: Context) -> dict[str, Any]:
        if self.not_after and not self._resumed:
            closes = datetime.datetime.fromisoformat(str(self.not_after))
            if datetime.datetime.now(datetime.UTC) > closes:
                raise AirflowSkipException(
                    f"{self.server_name}: not started, the change window closed at {closes.isoformat()}"
                )
        result = self._call(prepare_server, context)
        if result["action"] != "migrate":
            raise AirflowSkipException(f"{self.server_name}: {result['reason']}")
        self.log.info(
            "%s: source %s (was %s); migrating",
            self.server_name,
            result["source_status"],
            result.get("source_status_before"),
        )
        return result


class ServerCopyDisksOperator(_ServerStepOperator):
    """Copy the server's disks into verified destination volumes (give it the copy pool).

    .. seealso:: :func:`os_migrate.workload.copy_server_disks`

    ``execution_timeout`` defaults to :data:`COPY_EXECUTION_TIMEOUT`.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("execution_timeout", COPY_EXECUTION_TIMEOUT)
        kwargs.setdefault("deferrable", COPY_DEFERRABLE)
        super().__init__(**kwargs)

    @classmethod
    def partial(cls, **kwargs: Any) -> Any:
        """``BaseOperator.partial`` with the copy's ``execution_timeout`` over ``default_args``."""
        return _copy_partial(super().partial, kwargs)

    def execute(self, context: Context) -> dict[str, Any]:
        result = self._call(copy_server_disks, context)
        for disk in result.get("disks", []):
            self.log.info(
                "%s: volume %s (%d GiB) %s, %d bytes in %.1f s (%.1f MB/s), sha256 %s",
                self.server_name,
                disk["volume_id"],
                disk["size"],
                disk["access"],
                disk["bytes"],
                disk["seconds"],
                disk["mb_per_s"],
                disk["sha256"],
            )
        return result


class ServerCreateOperator(_ServerStepOperator):
    """Create ports, the destination server and its floating IPs; wait for ACTIVE.

    .. seealso:: :func:`os_migrate.workload.create_destination_server`
    """

    def execute(self, context: Context) -> dict[str, Any]:
        result = self._call(create_destination_server, context)
        self.log.info(
            "%s: destination server %s ACTIVE, ports %s, floating IPs %s",
            self.server_name,
            result.get("destination_id"),
            result.get("ports"),
            result.get("floating_ips"),
        )
        return result


class ServerFinalizeOperator(_ServerStepOperator):
    """Clean up, restore the source, or roll back an unfinished migration (runs after all steps).

    .. seealso:: :func:`os_migrate.workload.finalize_server`

    Its trigger rule defaults to ``all_done``: it runs whatever happened upstream.

    :raises AirflowFailException: the migration was unfinished and has been rolled back.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("trigger_rule", "all_done")
        super().__init__(**kwargs)

    def execute(self, context: Context) -> dict[str, Any]:
        result = self._call(finalize_server, context)
        self.log.info(
            "%s: %s%s",
            self.server_name,
            result["result"],
            f" ({result['reason']})" if result.get("reason") else "",
        )
        return result


class DetachedVolumeSelectOperator(_WorkloadOperator):
    """The detached volumes of ``detached_volumes.yml`` the run migrates (names, for mapping).

    .. seealso:: :func:`os_migrate.workload.volumes.select_volumes`

    :param volumes: names and regexes (templated); empty selects none.
    :param check_only: dry run: select none (templated).
    """

    template_fields: Sequence[str] = (*_WorkloadOperator.template_fields, "volumes", "check_only")

    def __init__(
        self, *, volumes: list | str | None = None, check_only: bool | str = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.volumes = volumes
        self.check_only = check_only

    def execute(self, context: Context) -> list[str]:
        with core_errors():
            names = select_volumes(str(self.data_dir), self.param("volumes", list))
        if self.param("check_only", bool, default=False):
            self.log.info("Dry run: detached volumes %s are not migrated", names)
            return []
        self.log.info("Detached volumes to migrate: %s", names or "none")
        return names


class DetachedVolumeMigrateOperator(_DeferrableOperator):
    """Copy one detached volume into the destination (verified, idempotent).

    .. seealso:: :func:`os_migrate.workload.volumes.migrate_volume`

    :param volume_name: the record's name in ``detached_volumes.yml`` (templated, usually mapped).

    ``execution_timeout`` defaults to :data:`COPY_EXECUTION_TIMEOUT`.
    """

    template_fields: Sequence[str] = (*_WorkloadOperator.template_fields, "volume_name")

    def __init__(self, *, volume_name: str, **kwargs: Any) -> None:
        kwargs.setdefault("map_index_template", "{{ task.volume_name }}")
        kwargs.setdefault("execution_timeout", COPY_EXECUTION_TIMEOUT)
        kwargs.setdefault("deferrable", COPY_DEFERRABLE)
        super().__init__(**kwargs)
        self.volume_name = volume_name

    @classmethod
    def partial(cls, **kwargs: Any) -> Any:
        """``BaseOperator.partial`` with the copy's ``execution_timeout`` over ``default_args``."""
        return _copy_partial(super().partial, kwargs)

    def execute(self, context: Context) -> dict[str, Any]:
        with core_errors():
            result = self._deferring(
                context,
                lambda: migrate_volume(
                    self.src,
                    self.dst,
                    str(self.data_dir),
                    str(self.volume_name),
                    overrides=self._overrides(),
                    ssh_resolver=host_access,
                ),
            )
        self.log.info("%s: %s %s", self.volume_name, result["result"], result.get("reason", ""))
        return jsonable(result)


class WorkloadSummaryOperator(BaseOperator):
    """Sum up a wave from the finalize results, write its report; fail if a server failed or
    pre-flight did.

    .. seealso:: :func:`os_migrate.workload.summarize_workloads`, :func:`os_migrate.report.build_report`

    The report (JSON and HTML) goes to ``<data_dir>/reports/<dag_id>__<run_id>.{json,html}``
    (the run id made file-safe); the task's "Migration report" extra link opens the HTML page
    through the plugin of :mod:`os_migrate_airflow.plugins`. A report that cannot be written is
    logged and does not change the task's outcome.

    :param preflight_task_id: task id of the pre-flight.
    :param finalize_task_id: task id of the (mapped) finalize step.
    :param data_dir: the tenant's data dir (templated); default: the one pre-flight reported.
    :param tenant: tenant name in the report (templated); default: the run's ``tenant`` Param.
    :param wave: wave name in the report (templated); default: the run's ``wave`` Param, if any.
    :param volume_select_task_id: task id selecting the detached volumes (its list sizes the
        mapped pull); None: no volumes in the report.
    :param volume_task_id: task id of the (mapped) detached volume migration.
    :param import_task_ids: task ids of pre-workload imports of the same run, whose results
        (with ``plan_files``) list the resources and their actions (templated).
    :returns: the summary of :func:`~os_migrate.workload.summarize_workloads` with ``report``:
        ``{"json", "html", "url"}`` (paths; no page content) and ``totals``.
    """

    template_fields: Sequence[str] = ("data_dir", "tenant", "wave", "import_task_ids")
    operator_extra_links = (MigrationReportLink(),)
    ui_color = "#f2ece6"

    def __init__(
        self,
        *,
        preflight_task_id: str,
        finalize_task_id: str,
        data_dir: str | None = None,
        tenant: str | None = None,
        wave: str | None = None,
        volume_select_task_id: str | None = "select_volumes",
        volume_task_id: str = "migrate_volume",
        import_task_ids: list[str] | str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("trigger_rule", "all_done")
        super().__init__(**kwargs)
        self.preflight_task_id = preflight_task_id
        self.finalize_task_id = finalize_task_id
        self.data_dir = data_dir
        self.tenant = tenant
        self.wave = wave
        self.volume_select_task_id = volume_select_task_id
        self.volume_task_id = volume_task_id
        self.import_task_ids = import_task_ids
        self.report_url: str | None = None

    def execute(self, context: Context) -> dict[str, Any]:
        ti = context["ti"]
        report = ti.xcom_pull(task_ids=self.preflight_task_id, key=WorkloadPreflightOperator.REPORT_KEY)
        data_dir = self.data_dir or (report or {}).get("data_dir")
        results = []
        if report and report.get("run"):
            pulled = ti.xcom_pull(
                task_ids=self.finalize_task_id, map_indexes=range(len(report["run"])), default=None
            )
            results = list(pulled) if isinstance(pulled, (list, tuple)) else [pulled]
        summary = summarize_workloads(results, preflight=report)
        if report and not report.get("run"):
            summary["dry_run"] = True
        if data_dir:
            summary["report"] = self._write_report(context, str(data_dir), report, results, summary)
        if not report:
            raise AirflowFailException("pre-flight did not pass; nothing was migrated")
        self.log.info("Migrated: %s", summary["migrated"] or "none")
        for s in summary["skipped"]:
            self.log.info("Skipped %s: %s", s["server"], s["reason"])
        if summary["failed"]:
            raise AirflowFailException(
                f"{len(summary['failed'])} server(s) failed and were rolled "
                f"back: {', '.join(summary['failed'])}"
            )
        return summary

    # -- the report --------------------------------------------------------------------------------
    def _write_report(
        self, context: Context, data_dir: str, preflight_report: dict | None, results: list, summary: dict
    ) -> dict[str, Any] | None:
        ti = context["ti"]
        params = context.get("params") or {}
        servers = [r for r in results if r]
        for name in summary["failed"]:
            try:
                outcome = recorded_outcome(data_dir, name)
            except (OsMigrateError, OSError) as e:
                outcome = {"server": name, "errors": [f"no state recorded: {e}"]}
            servers.append({**outcome, "result": "failed"})
        try:
            report = build_report(
                str(self.tenant or params.get("tenant") or Path(data_dir).name),
                str(self.wave or params.get("wave") or "") or None,
                str(context["run_id"]),
                self._pull_imports(ti),
                preflight_report,
                servers,
                self._pull_volumes(ti),
            )
            stem = safe_stem(ti.dag_id, str(context["run_id"]))
            json_path, html_path = write_report(report, Path(data_dir) / "reports", stem)
        except (OsMigrateError, OSError, ValueError) as e:
            self.log.error("Cannot write the migration report: %s", e)
            return None
        self.report_url = report_url(html_path, base_url=api_base_url())
        self.log.info("Migration report: %s and %s", json_path, html_path)
        if self.report_url:
            self.log.info("Migration report page: %s", self.report_url)
        else:
            self.log.info("The report is outside the staging root; the UI link cannot serve it")
        return {
            "json": str(json_path),
            "html": str(html_path),
            "url": self.report_url,
            "totals": report["totals"],
        }

    def _pull_imports(self, ti) -> list[dict]:
        ids = parse_param(self.import_task_ids, "import_task_ids", list, default=[])
        pulled = [ti.xcom_pull(task_ids=str(task_id), default=None) for task_id in ids]
        return [p for p in pulled if isinstance(p, dict)]

    def _pull_volumes(self, ti) -> list[dict]:
        if not self.volume_select_task_id:
            return []
        names = ti.xcom_pull(task_ids=self.volume_select_task_id, default=None) or []
        if not names:
            return []
        pulled = ti.xcom_pull(task_ids=self.volume_task_id, map_indexes=range(len(names)), default=None)
        pulled = list(pulled) if isinstance(pulled, (list, tuple)) else [pulled]
        out = []
        for i, name in enumerate(names):
            result = pulled[i] if i < len(pulled) else None
            out.append(
                result
                if result
                else {"volume": name, "result": "failed", "error": "no result (see its task log)"}
            )
        return out
