"""Thin operator over :mod:`os_migrate.projects`: create the destination project first."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowSkipException

from os_migrate.projects import DEFAULT_ROLE, ensure_connection_project
from os_migrate_airflow.operators.base import (
    DEFAULT_DST_CONN_ID,
    OsMigrateBaseOperator,
    core_errors,
    jsonable,
    parse_param,
)

if TYPE_CHECKING:
    from airflow.sdk import Context
    from openstack.connection import Connection as SDKConnection

#: Default Airflow Connection id of the destination cloud's admin.
DEFAULT_DST_ADMIN_CONN_ID = "openstack_dst_admin"


class ProjectEnsureOperator(BaseOperator):
    """Create the project ``dst_conn_id`` is scoped to, if missing, and give its user ``role`` there.

    Uses the admin connection for every call; the destination connection is only read for its
    project, domains and user (it is not used to authenticate: its project may not exist yet).
    Nothing is written when the project and the role assignment exist.

    .. seealso:: :func:`os_migrate.projects.ensure_connection_project`

    :param enabled: when false the task is skipped (templated; the DAGs' ``create_dst_project``).
    :param admin_conn_id: Airflow Connection (conn_type ``openstack``) of an admin of the
        destination cloud (templated).
    :param dst_conn_id: Airflow Connection of the tenant's destination (templated).
    :param role: the role the destination user gets in the project (templated).
    :returns: ``{"project": {"id", "name", "domain_id"}, "user": {...}, "role", "created_project",
        "assigned_role", "changed"}``.
    :raises AirflowSkipException: ``enabled`` is false.
    :raises AirflowFailException: a connection is missing or invalid, the admin token has no admin
        role, or the domain, user, role or a project named by id is missing (before any write).
    """

    template_fields: Sequence[str] = ("enabled", "admin_conn_id", "dst_conn_id", "role")
    ui_color = "#e6f1f2"

    def __init__(
        self,
        *,
        enabled: bool | str = True,
        admin_conn_id: str = DEFAULT_DST_ADMIN_CONN_ID,
        dst_conn_id: str = DEFAULT_DST_CONN_ID,
        role: str = DEFAULT_ROLE,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.enabled = enabled
        self.admin_conn_id = admin_conn_id
        self.dst_conn_id = dst_conn_id
        self.role = role

    @cached_property
    def admin(self) -> SDKConnection:
        """Admin openstacksdk Connection (built on first use)."""
        return OsMigrateBaseOperator._connect(self.admin_conn_id, "admin_conn_id")

    @cached_property
    def dst(self) -> SDKConnection:
        """Destination openstacksdk Connection (built on first use; never authenticated here)."""
        return OsMigrateBaseOperator._connect(self.dst_conn_id, "dst_conn_id")

    def execute(self, context: Context) -> dict[str, Any]:
        if not parse_param(self.enabled, "enabled", bool, default=False):
            raise AirflowSkipException("create_dst_project is off: the destination project is not touched")
        admin, dst = self.admin, self.dst
        with core_errors():
            result = ensure_connection_project(admin, dst, role=str(self.role))
        project, user = result["project"], result["user"]
        self.log.info(
            "Project %s (%s): %s; user %s: role %s %s",
            project["name"],
            project["id"],
            "created" if result["created_project"] else "exists",
            user["name"],
            result["role"],
            "assigned" if result["assigned_role"] else "already assigned",
        )
        return jsonable(result)
