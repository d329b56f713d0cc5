"""Thin operators over the OS Migrate core: export, validate, import.

Each ``execute()`` calls one core function with the source and/or destination openstacksdk
Connection of :class:`~os_migrate_airflow.operators.base.OsMigrateBaseOperator` and returns a small
JSON-able dict (pushed to XCom). Migration logic lives in ``os_migrate``, never here.

Shared argument semantics (all templated):

* ``types`` -- resource type keys (``os_migrate.RESOURCE_TYPES``). ``None`` means every type; an
  **empty list means "not selected in this run"**: the task raises ``AirflowSkipException`` without
  touching a cloud, so a DAG keeps one task per type and unselected types show as skipped.
* ``filters`` -- ``{type: ["exact-name", {"regex": "^app-"}]}``; a missing type key means "all".
* Rendered values are parsed by :func:`~os_migrate_airflow.operators.base.parse_param`, and core
  errors mapped by :func:`~os_migrate_airflow.operators.base.core_errors` (retry or fail on the error
  class's ``retryable`` flag, keeping the core's message, which lists every error of a
  ``ValidationError`` or ``ApplyError`` one per line).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from os_migrate import export_resources, import_resources, validate_data_dir
from os_migrate.apply import DEFAULT_CONCURRENCY
from os_migrate_airflow.operators.base import OsMigrateBaseOperator, core_errors, jsonable

if TYPE_CHECKING:
    from airflow.sdk import Context

#: Longest rendering of one action's ``changes`` in the plan log line.
MAX_CHANGES_CHARS = 400


class _ResourceOperator(OsMigrateBaseOperator):
    """Adds the per-run selection (``types``, ``filters``) to the base operator.

    :param types: type keys, ``None`` for all, ``[]`` for "not selected" (templated).
    :param filters: name filters per type (templated).
    """

    template_fields: Sequence[str] = (*OsMigrateBaseOperator.template_fields, "types", "filters")

    def __init__(
        self,
        *,
        types: Sequence[str] | str | None = None,
        filters: dict[str, Any] | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.types = types
        self.filters = filters

    def _selection(self) -> tuple[list[str] | None, dict[str, Any] | None]:
        """Rendered ``types`` and ``filters`` as core arguments.

        :raises AirflowSkipException: ``types`` rendered to an empty list (type not selected).
        :raises AirflowFailException: a value has the wrong shape.
        """
        types = self.param("types", list)
        if types is not None and not all(isinstance(t, str) for t in types):
            raise AirflowFailException(f"types must be a list of resource type keys, got {types!r}")
        if types == []:
            raise AirflowSkipException("resource type not selected in this run (types rendered to [])")
        return types, self.param("filters", dict)


class OpenStackExportOperator(_ResourceOperator):
    """Export resources of the source cloud into YAML files of a data dir.

    .. seealso:: :func:`os_migrate.export_resources`

    :param data_dir: directory receiving ``<type>.yml`` files (templated).
    :param types: type keys to export, ``None`` for all, ``[]`` to skip the task (templated).
    :param filters: name filters per type (templated).
    :param src_conn_id: Airflow Connection of the source cloud (templated).
    :param stage_image_data: also download image data, verified, into ``<data_dir>/image_data/``
        so the import can run without reaching the source (templated).
    :returns: ``{"data_dir", "counts": {type: n}, "files": {type: path}, "changed": {type: bool}}``.
    """

    template_fields: Sequence[str] = (*_ResourceOperator.template_fields, "stage_image_data")

    def __init__(self, *, stage_image_data: bool | str = False, **kwargs: Any) -> None:
        kwargs.setdefault("dst_conn_id", None)
        super().__init__(**kwargs)
        self.stage_image_data = stage_image_data

    def execute(self, context: Context) -> dict[str, Any]:
        types, filters = self._selection()
        stage = self.param("stage_image_data", bool, default=False)
        with core_errors():
            result = export_resources(
                self.src, str(self.data_dir), types=types, filters=filters, stage_image_data=stage
            )
        for type_key, count in result["counts"].items():
            changed = "changed" if result.get("changed", {}).get(type_key) else "unchanged"
            self.log.info("Exported %d %s to %s (%s)", count, type_key, result["data_dir"], changed)
        return jsonable(result)


class OpenStackValidateOperator(_ResourceOperator):
    """Validate a data dir (and its references against the destination cloud) before any write.

    Fails once with every problem logged, one line each.

    .. seealso:: :func:`os_migrate.validate_data_dir`

    :param data_dir: directory with the exported ``<type>.yml`` files (templated).
    :param types: type keys to validate, ``None`` for all, ``[]`` to skip the task (templated).
    :param filters: name filters per type (templated).
    :param dst_conn_id: Airflow Connection of the destination cloud (templated).
    :returns: ``{"data_dir", "valid": True, "types"}``.
    :raises AirflowFailException: validation found errors (not retried).
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("src_conn_id", None)
        super().__init__(**kwargs)

    def execute(self, context: Context) -> dict[str, Any]:
        types, filters = self._selection()
        with core_errors():
            errors = validate_data_dir(str(self.data_dir), conn=self.dst, types=types, filters=filters)
        if errors:
            for error in errors:
                self.log.error("%s", error)
            raise AirflowFailException(
                f"Validation of {self.data_dir} failed with {len(errors)} error(s), listed in the log "
                f"above; first: {errors[0]}"
            )
        self.log.info("Data dir %s is valid for import (types: %s)", self.data_dir, types or "all")
        return {"data_dir": str(self.data_dir), "valid": True, "types": types}


class OpenStackImportOperator(_ResourceOperator):
    """Create or update resources of a data dir in the destination cloud (or only plan it).

    Logs the plan: one line per action that is not ``unchanged``, then the counts.

    .. seealso:: :func:`os_migrate.import_resources`

    :param data_dir: directory with the exported ``<type>.yml`` files (templated).
    :param types: type keys to import, ``None`` for all, ``[]`` to skip the task (templated).
    :param filters: name filters per type (templated).
    :param plan_only: only compute and log the plan, change nothing (the DAGs' ``dry_run``; templated).
    :param dst_conn_id: Airflow Connection of the destination cloud (templated).
    :param src_conn_id: Airflow Connection of the source cloud, for types whose data is streamed
        from it (images); ``None`` when no selected type needs it (templated).
    :param quota_mode: ``copy``, ``keep`` or ``raise`` for quotas (admin types); ``None``: the
        core's default, ``copy`` (templated).
    :param user_password_variable: key of an Airflow Variable (or secrets-backend entry) holding
        the initial password of the users this import creates (templated: the key, not the
        value). The value is read on the worker in ``execute``, masked in logs, and never
        rendered, stored or returned. ``None``: users are created disabled.
    :returns: ``{"dry_run", "counts": {"create", "update", "unchanged", "skip"}, "plan_files": {type: path}}``;
        the full action list stays in the plan files and the log, not in XCom.
    """

    template_fields: Sequence[str] = (
        *_ResourceOperator.template_fields,
        "plan_only",
        "quota_mode",
        "user_password_variable",
        "concurrency",
    )

    def __init__(
        self,
        *,
        plan_only: bool | str = False,
        quota_mode: str | None = None,
        user_password_variable: str | None = None,
        concurrency: int | str = DEFAULT_CONCURRENCY,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("src_conn_id", None)
        super().__init__(**kwargs)
        self.plan_only = plan_only
        self.quota_mode = quota_mode
        self.user_password_variable = user_password_variable
        self.concurrency = concurrency

    def _options(self) -> dict[str, Any]:
        """Run options of the core import (secrets resolved here, on the worker)."""
        options: dict[str, Any] = {}
        if self.quota_mode:
            options["quota_mode"] = self.param("quota_mode", str)
        if self.user_password_variable:
            from airflow.sdk import Variable
            from airflow.sdk.log import mask_secret

            password = Variable.get(self.user_password_variable, default=None)
            if not password:
                raise AirflowFailException(
                    f"user_password_variable: Airflow Variable {self.user_password_variable!r} is not set "
                    "(create it, or leave the param empty to create users disabled)"
                )
            mask_secret(password)
            options["user_password"] = password
        return options

    def execute(self, context: Context) -> dict[str, Any]:
        types, filters = self._selection()
        plan_only = self.param("plan_only", bool, default=False)
        concurrency = self.param("concurrency", int, default=DEFAULT_CONCURRENCY)
        if concurrency < 1:
            raise AirflowFailException(f"concurrency: must be at least 1, not {concurrency}")
        options = self._options()
        with core_errors():
            result = import_resources(
                self.dst,
                str(self.data_dir),
                types=types,
                filters=filters,
                dry_run=plan_only,
                src_conn=self.src if self.src_conn_id else None,
                options=options or None,
                concurrency=concurrency,
            )
        verb = "would " if result.get("dry_run", plan_only) else ""
        for action in result.get("actions", ()):
            if action["action"] != "unchanged":
                self.log.info(
                    "%s%s %s %r%s",
                    verb,
                    action["action"],
                    action["type"],
                    action["name"],
                    _changes_text(action.get("changes")),
                )
        self.log.info("Import %s: %s", "plan (dry run)" if verb else "done", result["counts"])
        return jsonable({k: v for k, v in result.items() if k != "actions"})


# -- helpers -------------------------------------------------------------------------------------


def _changes_text(changes: Any) -> str:
    if not changes:
        return ""
    text = json.dumps(changes, sort_keys=True, default=str)
    if len(text) > MAX_CHANGES_CHARS:
        text = text[: MAX_CHANGES_CHARS - 3] + "..."
    return f": {text}"
