"""Thin operators over :mod:`os_migrate.workload`: export, pre-flight, per-server steps, pool size.

Each ``execute()`` builds the source/destination openstacksdk Connections with
:class:`~os_migrate_airflow.hooks.openstack.OpenStackHook`, calls one core function and returns a
small JSON-able dict (pushed to XCom). Migration logic lives in the core.

Per-server operators take ``server_name`` (templated, usually a mapped value) and default their
``map_index_template`` to the server name, so the UI lists map indexes by server.

Error mapping (the core's message is kept): cloud unreachable, a failed copy or a failed
destination server -> ``AirflowException`` (retried: every step is idempotent); bad data, failed
pre-flight, a source in a wrong state, an unreadable source disk, a rolled-back migration ->
``AirflowFailException`` (not retried: the same input fails the same way).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

import requests
from airflow.sdk import BaseHook, BaseOperator
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowNotFoundException,
    AirflowSkipException,
)

from os_migrate.exceptions import CloudError, OsMigrateError
from os_migrate.workload import (
    CopyError,
    DestinationError,
    SourceDiskUnreadable,
    copy_server_disks,
    create_destination_server,
    export_workloads,
    finalize_server,
    preflight,
    prepare_server,
    summarize_workloads,
)
from os_migrate_airflow.hooks.openstack import OpenStackHook

if TYPE_CHECKING:
    from airflow.sdk import Context
    from openstack.connection import Connection as SDKConnection

#: Default map index label of per-server tasks.
SERVER_MAP_INDEX_TEMPLATE = "{{ task.server_name }}"


@contextmanager
def workload_errors() -> Iterator[None]:
    """Turn core errors into Airflow ones (see module docstring), keeping the message."""
    try:
        yield
    except SourceDiskUnreadable as e:
        raise AirflowFailException(str(e)) from e
    except (CloudError, CopyError, DestinationError) as e:
        raise AirflowException(str(e)) from e
    except OsMigrateError as e:
        raise AirflowFailException(str(e)) from e


def _parse(value: Any) -> Any:
    """A rendered template string parsed as JSON (``None`` for an empty string)."""
    if isinstance(value, str):
        text = value.strip()
        if not text or text == "None":
            return None
        try:
            return json.loads(text)
        except ValueError:
            return value
    return value


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


class _WorkloadOperator(BaseOperator):
    """Arguments shared by the workload operators.

    :param data_dir: the tenant's data dir (templated).
    :param src_conn_id: Airflow Connection of the source cloud (templated).
    :param dst_conn_id: Airflow Connection of the destination cloud (templated).
    :param overrides: ``_migration_params`` values applied to every server of the run (templated).
    """

    template_fields: Sequence[str] = ("data_dir", "src_conn_id", "dst_conn_id", "overrides")
    ui_color = "#f2ece6"

    def __init__(
        self,
        *,
        data_dir: str,
        src_conn_id: str = "openstack_src",
        dst_conn_id: str = "openstack_dst",
        overrides: Mapping[str, Any] | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.data_dir = data_dir
        self.src_conn_id = src_conn_id
        self.dst_conn_id = dst_conn_id
        self.overrides = overrides

    @cached_property
    def src(self) -> SDKConnection:
        """Source openstacksdk Connection (built on first use)."""
        return self._connect(self.src_conn_id, "source")

    @cached_property
    def dst(self) -> SDKConnection:
        """Destination openstacksdk Connection (built on first use)."""
        return self._connect(self.dst_conn_id, "destination")

    @staticmethod
    def _connect(conn_id: str, side: str) -> SDKConnection:
        try:
            return OpenStackHook(openstack_conn_id=str(conn_id)).get_conn()
        except AirflowNotFoundException as e:
            raise AirflowFailException(f"{e}: define the {side} connection") from e

    def _overrides(self) -> dict[str, Any] | None:
        value = _parse(self.overrides)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise AirflowFailException(f"overrides must be a mapping, got {value!r}")
        return dict(value)


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
        with workload_errors():
            result = export_workloads(self.src, str(self.data_dir), servers=_parse(self.servers))
        self.log.info(
            "Exported %d server(s) %s and %d detached volume(s) to %s",
            result["counts"]["workloads"],
            result["servers"],
            result["counts"]["detached_volumes"],
            result["data_dir"],
        )
        return _jsonable(result)


class WorkloadPreflightOperator(_WorkloadOperator):
    """Check a wave against both clouds before anything is touched; fail listing every problem.

    .. seealso:: :func:`os_migrate.workload.preflight`

    :param servers: name filter of the wave (templated).
    :param dry_run: only check; the returned list is then empty so no server step runs
        (templated).
    :returns: the server names to map the per-server steps over (every selected server:
        skipped ones show as skipped map indexes). The whole pre-flight report is pushed to
        XCom under the key ``report`` (with ``run``, the same list).
    :raises AirflowFailException: pre-flight found problems (not retried).
    """

    #: XCom key of the full report.
    REPORT_KEY = "report"

    template_fields: Sequence[str] = (*_WorkloadOperator.template_fields, "servers", "dry_run")

    def __init__(
        self, *, servers: list | str | None = None, dry_run: bool | str = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.servers = servers
        self.dry_run = dry_run

    def execute(self, context: Context) -> list[str]:
        dry_run = _parse(self.dry_run)
        if not isinstance(dry_run, bool):
            raise AirflowFailException(f"dry_run must be a boolean, got {self.dry_run!r}")
        try:
            with workload_errors():
                report = preflight(
                    self.src,
                    self.dst,
                    str(self.data_dir),
                    servers=_parse(self.servers),
                    overrides=self._overrides(),
                )
        except AirflowFailException as e:
            for error in getattr(e.__cause__, "errors", []):
                self.log.error("%s", error)
            raise
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
        report["run"] = [] if dry_run else list(report["servers"])
        if dry_run:
            self.log.info("Dry run: no server step runs")
        context["ti"].xcom_push(key=self.REPORT_KEY, value=_jsonable(report))
        return report["run"]


class _ServerStepOperator(_WorkloadOperator):
    """One step of one server (see :mod:`os_migrate.workload.migrate`).

    :param server_name: the server (record name in ``workloads.yml``; templated, usually mapped).
    """

    template_fields: Sequence[str] = (*_WorkloadOperator.template_fields, "server_name")

    def __init__(self, *, server_name: str, **kwargs: Any) -> None:
        kwargs.setdefault("map_index_template", SERVER_MAP_INDEX_TEMPLATE)
        super().__init__(**kwargs)
        self.server_name = server_name

    def _call(self, step) -> dict[str, Any]:
        with workload_errors():
            return _jsonable(
                step(
                    self.src, self.dst, str(self.data_dir), str(self.server_name), overrides=self._overrides()
                )
            )


class ServerPrepareOperator(_ServerStepOperator):
    """Decide whether the server migrates; stop the source if asked (SHUTOFF required).

    .. seealso:: :func:`os_migrate.workload.prepare_server`

    :raises AirflowSkipException: the name is taken in the destination by a server os-migrate did
        not create, or an earlier run finished this server (downstream steps are skipped; the
        finalize step still reports it).
    """

    def execute(self, context: Context) -> dict[str, Any]:
        result = self._call(prepare_server)
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
    """

    def execute(self, context: Context) -> dict[str, Any]:
        result = self._call(copy_server_disks)
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
        result = self._call(create_destination_server)
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
        result = self._call(finalize_server)
        self.log.info(
            "%s: %s%s",
            self.server_name,
            result["result"],
            f" ({result['reason']})" if result.get("reason") else "",
        )
        return result


class WorkloadSummaryOperator(BaseOperator):
    """Sum up a wave from the finalize results; fail if a server failed or pre-flight did.

    .. seealso:: :func:`os_migrate.workload.summarize_workloads`

    :param preflight_task_id: task id of the pre-flight.
    :param finalize_task_id: task id of the (mapped) finalize step.
    """

    ui_color = "#f2ece6"

    def __init__(self, *, preflight_task_id: str, finalize_task_id: str, **kwargs: Any) -> None:
        kwargs.setdefault("trigger_rule", "all_done")
        super().__init__(**kwargs)
        self.preflight_task_id = preflight_task_id
        self.finalize_task_id = finalize_task_id

    def execute(self, context: Context) -> dict[str, Any]:
        ti = context["ti"]
        report = ti.xcom_pull(task_ids=self.preflight_task_id, key=WorkloadPreflightOperator.REPORT_KEY)
        if not report:
            raise AirflowFailException("pre-flight did not pass; nothing was migrated")
        results = []
        if report.get("run"):
            pulled = ti.xcom_pull(
                task_ids=self.finalize_task_id, map_indexes=range(len(report["run"])), default=None
            )
            results = list(pulled) if isinstance(pulled, (list, tuple)) else [pulled]
        summary = summarize_workloads(results, preflight=report)
        if not report.get("run"):
            summary["dry_run"] = True
        self.log.info("Migrated: %s", summary["migrated"] or "none")
        for s in summary["skipped"]:
            self.log.info("Skipped %s: %s", s["server"], s["reason"])
        if summary["failed"]:
            raise AirflowFailException(
                f"{len(summary['failed'])} server(s) failed and were rolled "
                f"back: {', '.join(summary['failed'])}"
            )
        return summary


class SetPoolSlotsOperator(BaseOperator):
    """Set the size of an Airflow pool through the Airflow REST API (``PATCH /api/v2/pools``).

    The pool caps concurrent disk copies; setting it from a run's Param makes the cap a per-run
    choice. With ``slots`` empty the pool is left as configured.

    :param pool_name: the pool (e.g. ``conversion_hosts``).
    :param slots: number of slots, or None/empty to leave the pool alone (templated).
    :param airflow_api_conn_id: HTTP Connection of the Airflow API: ``host`` is the base URL
        (``http://127.0.0.1:18080``), ``login``/``password`` a user allowed to edit pools
        (templated).
    :returns: ``{"pool", "slots", "changed"}``.
    """

    template_fields: Sequence[str] = ("slots", "airflow_api_conn_id")
    ui_color = "#f2ece6"

    def __init__(
        self,
        *,
        pool_name: str,
        slots: int | str | None = None,
        airflow_api_conn_id: str = "airflow_api",
        timeout: float = 30.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pool_name = pool_name
        self.slots = slots
        self.airflow_api_conn_id = airflow_api_conn_id
        self.timeout = timeout

    def execute(self, context: Context) -> dict[str, Any]:
        slots = _parse(self.slots)
        if slots is None:
            self.log.info("Pool %s left as configured (no size given)", self.pool_name)
            return {"pool": self.pool_name, "slots": None, "changed": False}
        if not isinstance(slots, int) or isinstance(slots, bool) or slots < 1:
            raise AirflowFailException(f"pool size must be a positive integer, got {slots!r}")
        try:
            conn = BaseHook.get_connection(str(self.airflow_api_conn_id))
        except AirflowNotFoundException as e:
            raise AirflowFailException(
                f"{e}: define the Airflow API connection to set the pool size, or leave the pool size empty"
            ) from e
        base = (conn.host or "").rstrip("/")
        if conn.port and base.count(":") < 2:
            base = f"{base}:{conn.port}"
        if not base.startswith(("http://", "https://")):
            base = f"http://{base}"
        session = requests.Session()
        token = session.post(
            f"{base}/auth/token",
            json={"username": conn.login, "password": conn.password},
            timeout=self.timeout,
        )
        if token.status_code >= 400:
            raise AirflowFailException(
                f"Airflow API {base} refused the login of {conn.login!r}: HTTP {token.status_code}"
            )
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        url = f"{base}/api/v2/pools/{self.pool_name}"
        current = session.get(url, headers=headers, timeout=self.timeout)
        if current.status_code == 404:
            resp = session.post(
                f"{base}/api/v2/pools",
                json={
                    "name": self.pool_name,
                    "slots": slots,
                    "include_deferred": False,
                    "description": "concurrent disk copies of os-migrate workloads",
                },
                headers=headers,
                timeout=self.timeout,
            )
        else:
            pool = current.json() if current.status_code < 400 else {}
            if pool.get("slots") == slots:
                self.log.info("Pool %s already has %d slots", self.pool_name, slots)
                return {"pool": self.pool_name, "slots": slots, "changed": False}
            resp = session.patch(
                url,
                params={"update_mask": "slots"},
                json={
                    "name": self.pool_name,
                    "slots": slots,
                    "description": pool.get("description"),
                    "include_deferred": bool(pool.get("include_deferred", False)),
                },
                headers=headers,
                timeout=self.timeout,
            )
        if resp.status_code >= 400:
            raise AirflowException(
                f"setting pool {self.pool_name} to {slots} slots failed: "
                f"HTTP {resp.status_code} {resp.text[:300]}"
            )
        self.log.info("Pool %s now has %d slots", self.pool_name, slots)
        return {"pool": self.pool_name, "slots": slots, "changed": True}
