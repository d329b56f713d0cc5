"""Human approval of a wave between pre-flight and the first server stop (Airflow HITL).

:class:`PlanApprovalOperator` is providers-standard's ``ApprovalOperator`` with a body built from the
pre-flight report: the servers that will be stopped and migrated with their destination flavor,
the expected bytes, the servers skipped and why. It shows under *Required Actions* in the UI and is
answered there or through the REST API (``PATCH /api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/
{task_id}/{map_index}/hitlDetails``). *Reject* skips every task after it except teardowns
(unlocking the data dir, removing managed hosts), so nothing is stopped.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.operators.hitl import ApprovalOperator

from os_migrate.workload.estimate import expected_bytes, human_bytes, plan_markdown
from os_migrate_airflow.operators.base import core_errors, parse_param
from os_migrate_airflow.operators.workload import WorkloadPreflightOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

#: How long an approval waits for an answer before the task fails (stopping nothing).
DEFAULT_RESPONSE_TIMEOUT = datetime.timedelta(days=7)


def plan_body(
    report: dict[str, Any], data_dir: Any, tenant: Any, overrides: Any, flavor_map: Any
) -> tuple[str, int]:
    """One tenant's approval body (Markdown) from its pre-flight ``report``, and its expected bytes.

    ``overrides``/``flavor_map`` are rendered values (parsed here); ``tenant`` may be empty.
    """
    flavors = report.get("flavors") or {}
    with core_errors():
        sizes = expected_bytes(
            str(data_dir),
            list(report.get("migrate") or []),
            overrides=parse_param(overrides, "overrides", dict),
            flavor_map=parse_param(flavor_map, "flavor_map", dict),
            flavor_disks={name: (choice or {}).get("disk") for name, choice in flavors.items()},
        )
    body = plan_markdown(report, sizes, tenant=str(tenant or "") or None, data_dir=str(data_dir))
    return body, sum(s["bytes"] for s in sizes.values())


class PlanApprovalOperator(ApprovalOperator):
    """Ask a human to approve the wave the pre-flight passed; Approve or Reject.

    :param required: when false the task succeeds at once without asking and the wave goes on
        (templated; the DAG's ``approval`` Param).
    :param data_dir: the data dir with ``workloads.yml`` (templated).
    :param tenant: tenant name shown in the subject and body (templated).
    :param overrides: the run's ``_migration_params`` overrides (templated; they change the bytes).
    :param flavor_map: the run's flavor map (templated).
    :param preflight_task_id: task id of the pre-flight, whose report (XCom key
        :attr:`WorkloadPreflightOperator.REPORT_KEY`) is shown.
    :param kwargs: ``ApprovalOperator`` arguments; ``subject`` defaults to one naming the tenant,
        ``ignore_downstream_trigger_rules`` to True (Reject skips the whole wave, not only the
        next task), ``response_timeout`` to :data:`DEFAULT_RESPONSE_TIMEOUT` (no answer by then:
        the task fails and nothing is stopped; an ``execution_timeout`` from ``default_args``
        then keeps bounding only the work before the wait).
    :returns: ``{"approved": True, "required": bool, "asked": bool}`` plus the HITL response when
        asked and approved (on Reject the base class skips the downstream tasks and returns nothing).
    """

    template_fields: Sequence[str] = (
        *ApprovalOperator.template_fields,
        "required",
        "data_dir",
        "tenant",
        "overrides",
        "flavor_map",
    )
    ui_color = "#fff3cd"

    def __init__(
        self,
        *,
        required: bool | str = True,
        data_dir: str,
        tenant: str = "",
        overrides: dict[str, Any] | str | None = None,
        flavor_map: dict[str, str] | str | None = None,
        preflight_task_id: str = "preflight",
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("subject", "Approve the migration wave of tenant {{ params.tenant }}")
        kwargs.setdefault("ignore_downstream_trigger_rules", True)
        kwargs.setdefault("response_timeout", DEFAULT_RESPONSE_TIMEOUT)
        super().__init__(**kwargs)
        self.required = required
        self.data_dir = data_dir
        self.tenant = tenant
        self.overrides = overrides
        self.flavor_map = flavor_map
        self.preflight_task_id = preflight_task_id

    def build_body(self, report: dict[str, Any]) -> tuple[str, int]:
        """The Markdown body from the pre-flight ``report`` and the total expected bytes."""
        return plan_body(report, self.data_dir, self.tenant, self.overrides, self.flavor_map)

    def execute(self, context: Context) -> Any:
        if not parse_param(self.required, "required", bool, default=False):
            self.log.info("Approval not required: the wave goes on")
            return {"approved": True, "required": False}
        report = context["ti"].xcom_pull(
            task_ids=self.preflight_task_id, key=WorkloadPreflightOperator.REPORT_KEY
        )
        if not report:
            raise ValueError(f"no pre-flight report in XCom of task {self.preflight_task_id!r}")
        if not report.get("run"):
            self.log.info("Nothing to migrate (dry run or no server selected): no approval asked")
            return {"approved": True, "required": True, "asked": False}
        self.body, total = self.build_body(report)
        self.log.info(
            "Asking for approval: stop and migrate %s, %s to copy; skipped %s",
            report.get("migrate"),
            human_bytes(total),
            [s["server"] for s in report.get("skip") or []],
        )
        return super().execute(context)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        approved = event.get("chosen_options") == [self.APPROVE]
        if "error" not in event:
            self.log.info(
                "%s by %s: %s",
                "Approved" if approved else "Rejected",
                (event.get("responded_by_user") or {}).get("name"),
                "the wave goes on" if approved else "nothing is stopped, every later step is skipped",
            )
        # on Reject this raises DownstreamTasksSkipped (the task still succeeds; the return value
        # below is only reached on Approve)
        ret = super().execute_complete(context, event)
        return {"approved": approved, "required": True, "asked": True, **ret}


class WaveApprovalOperator(PlanApprovalOperator):
    """One approval for every tenant of a wave: the body shows each tenant's plan in turn.

    :param tenants: ``[{"tenant", "data_dir", "overrides", "flavor_map", "preflight_task_id"}]``
        (templated; ``data_dir`` is usually a macro resolved on the worker).
    :param kwargs: :class:`PlanApprovalOperator` arguments (``required``, ``subject``...).
    """

    template_fields: Sequence[str] = (*PlanApprovalOperator.template_fields, "tenants")

    def __init__(self, *, tenants: list[dict[str, Any]], **kwargs: Any) -> None:
        kwargs.setdefault("data_dir", "")
        super().__init__(**kwargs)
        self.tenants = tenants

    def execute(self, context: Context) -> Any:
        if not parse_param(self.required, "required", bool, default=False):
            return {"approved": True, "required": False}
        parts, total, stop = [], 0, []
        for t in self.tenants:
            report = context["ti"].xcom_pull(
                task_ids=t["preflight_task_id"], key=WorkloadPreflightOperator.REPORT_KEY
            )
            if not report or not report.get("run"):
                parts.append(f"## Tenant {t['tenant']}\n\nNothing to migrate.")
                continue
            body, size = plan_body(
                report, t["data_dir"], t["tenant"], t.get("overrides"), t.get("flavor_map")
            )
            parts.append(body)
            total += size
            stop += [f"{t['tenant']}/{name}" for name in report.get("migrate") or []]
        if not stop:
            self.log.info("Nothing to migrate in this wave: no approval asked")
            return {"approved": True, "required": True, "asked": False}
        self.body = "\n\n".join(parts)
        self.log.info("Asking for approval: stop and migrate %s, %s to copy", stop, human_bytes(total))
        return ApprovalOperator.execute(self, context)
