"""Thin operators over the OS Migrate core: export, validate, import.

Each ``execute()`` gets an openstacksdk Connection from
:class:`~os_migrate_airflow.hooks.openstack.OpenStackHook`, calls one core function and returns a
small JSON-able dict (pushed to XCom). Migration logic lives in ``os_migrate``, never here.

Shared argument semantics (all templated):

* ``types`` -- resource type keys (``os_migrate.RESOURCE_TYPES``). ``None`` means every type; an
  **empty list means "nothing selected"**: the task logs that and succeeds without calling the core,
  so a DAG can keep one task per type and switch types off per run.
* ``filters`` -- ``{type: ["exact-name", {"regex": "^app-"}]}``; a missing type key means "all".
* Values rendered from Params arrive as native objects when the DAG sets
  ``render_template_as_native_obj=True``; strings (``"['networks']"``, ``'{"networks": []}'``,
  ``"false"``) are also accepted and parsed.

Error mapping, keeping the core's message (which lists every error of a ``ValidationError`` or
``ApplyError``, one per line): ``CloudError`` (cloud unreachable, credentials refused) and
``ApplyError`` (some writes failed; import is idempotent) -> ``AirflowException``, retried;
any other ``OsMigrateError`` (bad data, bad references, conflicts) -> ``AirflowFailException``, not
retried because the same input fails the same way. SDK exceptions propagate unchanged.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowNotFoundException

from os_migrate import export_resources, import_resources, validate_data_dir
from os_migrate.exceptions import ApplyError, CloudError, OsMigrateError
from os_migrate_airflow.hooks.openstack import OpenStackHook

if TYPE_CHECKING:
    from airflow.sdk import Context
    from openstack.connection import Connection as SDKConnection

DEFAULT_CONN_ID = OpenStackHook.default_conn_name
#: Core errors worth a retry; every other ``OsMigrateError`` fails the task at once.
RETRYABLE_ERRORS = (CloudError, ApplyError)
#: Longest rendering of one action's ``changes`` in the plan log line.
MAX_CHANGES_CHARS = 400


class _OsMigrateBaseOperator(BaseOperator):
    """Arguments and helpers shared by the export, validate and import operators."""

    template_fields: Sequence[str] = ("data_dir", "types", "filters", "openstack_conn_id")
    ui_color = "#e6f1f2"

    def __init__(
        self,
        *,
        data_dir: str,
        types: Sequence[str] | str | None = None,
        filters: Mapping[str, Any] | str | None = None,
        openstack_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.data_dir = data_dir
        self.types = types
        self.filters = filters
        self.openstack_conn_id = openstack_conn_id

    @cached_property
    def hook(self) -> OpenStackHook:
        """OpenStack hook for the rendered ``openstack_conn_id``; created on first use in ``execute``."""
        return OpenStackHook(openstack_conn_id=str(self.openstack_conn_id))

    def _cloud(self) -> SDKConnection:
        """The openstacksdk Connection; a missing Airflow Connection fails the task without retries.

        :raises AirflowFailException: no Airflow Connection ``openstack_conn_id``, or it is invalid.
        """
        try:
            return self.hook.get_conn()
        except AirflowNotFoundException as e:
            raise AirflowFailException(
                f"{e}: define it (conn_type openstack) or choose another connection id"
            ) from e

    def _selection(self) -> tuple[list[str] | None, dict[str, Any] | None]:
        """Rendered ``types`` and ``filters`` as core arguments.

        :raises AirflowFailException: a value has the wrong shape.
        """
        return _as_types(self.types), _as_filters(self.filters)

    def _nothing_selected(self) -> dict[str, Any]:
        self.log.info(
            "Nothing to do: this task's resource type is not in this run's resource_types "
            "(types rendered to an empty list). Succeeding without touching any cloud."
        )
        return {"skipped": True, "reason": "resource type not selected", "data_dir": str(self.data_dir)}


class OpenStackExportOperator(_OsMigrateBaseOperator):
    """Export resources of the source cloud into YAML files of a data dir.

    .. seealso:: :func:`os_migrate.export_resources`

    :param data_dir: directory receiving ``<type>.yml`` files (templated).
    :param types: type keys to export, ``None`` for all, ``[]`` for none (templated).
    :param filters: name filters per type (templated).
    :param openstack_conn_id: Airflow Connection of the **source** cloud (templated).
    :param stage_image_data: also download image data, verified, into ``<data_dir>/image_data/``
        so the import can run without reaching the source (templated).
    :returns: ``{"data_dir", "counts": {type: n}, "files": {type: path}, "changed": {type: bool}}``.
    """

    template_fields: Sequence[str] = (*_OsMigrateBaseOperator.template_fields, "stage_image_data")

    def __init__(self, *, stage_image_data: bool | str = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stage_image_data = stage_image_data

    def execute(self, context: Context) -> dict[str, Any]:
        types, filters = self._selection()
        if types == []:
            return self._nothing_selected()
        with _core_errors():
            result = export_resources(
                self._cloud(),
                str(self.data_dir),
                types=types,
                filters=filters,
                stage_image_data=_as_bool(self.stage_image_data, "stage_image_data"),
            )
        for type_key, count in result["counts"].items():
            changed = "changed" if result.get("changed", {}).get(type_key) else "unchanged"
            self.log.info("Exported %d %s to %s (%s)", count, type_key, result["data_dir"], changed)
        return _jsonable(result)


class OpenStackValidateOperator(_OsMigrateBaseOperator):
    """Validate a data dir (and its references against the destination cloud) before any write.

    Fails once with every problem logged, one line each.

    .. seealso:: :func:`os_migrate.validate_data_dir`

    :param data_dir: directory with the exported ``<type>.yml`` files (templated).
    :param types: type keys to validate, ``None`` for all, ``[]`` for none (templated).
    :param filters: name filters per type (templated).
    :param openstack_conn_id: Airflow Connection of the **destination** cloud (templated).
    :returns: ``{"data_dir", "valid": True, "types"}``.
    :raises AirflowFailException: validation found errors (not retried).
    """

    def execute(self, context: Context) -> dict[str, Any]:
        types, filters = self._selection()
        if types == []:
            return self._nothing_selected()
        with _core_errors():
            errors = validate_data_dir(str(self.data_dir), conn=self._cloud(), types=types, filters=filters)
        if errors:
            for error in errors:
                self.log.error("%s", error)
            raise AirflowFailException(
                f"Validation of {self.data_dir} failed with {len(errors)} error(s), listed in the log "
                f"above; first: {errors[0]}"
            )
        self.log.info("Data dir %s is valid for import (types: %s)", self.data_dir, types or "all")
        return {"data_dir": str(self.data_dir), "valid": True, "types": types}


class OpenStackImportOperator(_OsMigrateBaseOperator):
    """Create or update resources of a data dir in the destination cloud (or only plan it).

    Logs the plan: one line per action that is not ``unchanged``, then the counts.

    .. seealso:: :func:`os_migrate.import_resources`

    :param data_dir: directory with the exported ``<type>.yml`` files (templated).
    :param types: type keys to import, ``None`` for all, ``[]`` for none (templated).
    :param filters: name filters per type (templated).
    :param dry_run: only compute and log the plan, change nothing (templated).
    :param openstack_conn_id: Airflow Connection of the **destination** cloud (templated).
    :param source_conn_id: Airflow Connection of the **source** cloud, for types whose data is
        streamed from it (images); ``None`` when no selected type needs it (templated).
    :returns: ``{"dry_run", "counts": {"create", "update", "unchanged", "skip"}, "plan_files": {type: path}}``;
        the full action list stays in the plan files and the log, not in XCom.
    """

    template_fields: Sequence[str] = (*_OsMigrateBaseOperator.template_fields, "dry_run", "source_conn_id")

    def __init__(
        self, *, dry_run: bool | str = False, source_conn_id: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.dry_run = dry_run
        self.source_conn_id = source_conn_id

    def _source_cloud(self) -> SDKConnection | None:
        if not self.source_conn_id:
            return None
        try:
            return OpenStackHook(openstack_conn_id=str(self.source_conn_id)).get_conn()
        except AirflowNotFoundException as e:
            raise AirflowFailException(f"{e}: define the source connection") from e

    def execute(self, context: Context) -> dict[str, Any]:
        types, filters = self._selection()
        if types == []:
            return self._nothing_selected()
        dry_run = _as_bool(self.dry_run, "dry_run")
        with _core_errors():
            result = import_resources(
                self._cloud(),
                str(self.data_dir),
                types=types,
                filters=filters,
                dry_run=dry_run,
                src_conn=self._source_cloud(),
            )
        verb = "would " if result.get("dry_run", dry_run) else ""
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
        return _jsonable({k: v for k, v in result.items() if k != "actions"})


# -- helpers -------------------------------------------------------------------------------------


@contextmanager
def _core_errors() -> Iterator[None]:
    """Turn core errors into Airflow ones, keeping the core's message."""
    try:
        yield
    except RETRYABLE_ERRORS as e:
        raise AirflowException(str(e)) from e
    except OsMigrateError as e:
        raise AirflowFailException(str(e)) from e


def _parse_text(value: str) -> Any:
    """Parse a rendered template string as JSON, then as a Python literal; else return it unchanged."""
    text = value.strip()
    for parse in (json.loads, ast.literal_eval):
        try:
            return parse(text)
        except (ValueError, SyntaxError, TypeError):
            continue
    return value


def _as_types(value: Any) -> list[str] | None:
    if isinstance(value, str):
        parsed = _parse_text(value)
        value = parsed if not isinstance(parsed, str) else [t.strip() for t in value.split(",") if t.strip()]
    if value is None:
        return None
    if isinstance(value, (list, tuple)) and all(isinstance(t, str) for t in value):
        return list(value)
    raise AirflowFailException(f"types must be a list of resource type keys or None, got {value!r}")


def _as_filters(value: Any) -> dict[str, Any] | None:
    if isinstance(value, str):
        value = _parse_text(value) if value.strip() else None
    if value is None:
        return None
    if isinstance(value, Mapping):
        return dict(value)
    raise AirflowFailException(f"filters must be a mapping of type key to a list of filters, got {value!r}")


def _as_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise AirflowFailException(f"{name} must be a boolean, got {value!r}")


def _changes_text(changes: Any) -> str:
    if not changes:
        return ""
    text = json.dumps(changes, sort_keys=True, default=str)
    if len(text) > MAX_CHANGES_CHARS:
        text = text[: MAX_CHANGES_CHARS - 3] + "..."
    return f": {text}"


def _jsonable(value: Any) -> Any:
    """Copy of ``value`` that survives a JSON round trip (paths become strings)."""
    return json.loads(json.dumps(value, default=str))
