"""Helpers that keep the DAG files declarative.

Nothing here touches a cloud or the metadata DB; the functions run at task runtime (as Jinja macros
or inside a ``@task``), except the ``*_template``/``*_schema`` builders, which only return data.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from os_migrate.const import TENANT_PATTERN  # a tenant names a directory under the staging root

log = logging.getLogger(__name__)

#: Environment variable naming the staging root; default ``$AIRFLOW_HOME/staging``.
STAGING_ROOT_ENV = "OS_MIGRATE_STAGING_ROOT"


def staging_root() -> str:
    """Root of the per-tenant data dirs, read from the worker's environment at call time.

    :returns: ``$OS_MIGRATE_STAGING_ROOT``, else ``$AIRFLOW_HOME/staging`` (``AIRFLOW_HOME``
        defaulting to ``~/airflow`` as in Airflow itself).
    """
    root = os.environ.get(STAGING_ROOT_ENV)
    if not root:
        root = os.path.join(os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow"), "staging")
    return os.path.expanduser(root)


def tenant_data_dir(tenant: str, data_dir: str | None = "") -> str:
    """Data dir of one tenant's migration.

    Used as the DAG macro ``os_migrate_data_dir(params.tenant, params.data_dir)`` so the staging root
    is resolved on the worker when the task runs, not when the DAG file is parsed.

    :param tenant: tenant name, also the directory name under the staging root.
    :param data_dir: explicit directory; when set it wins over ``<staging root>/<tenant>``.
    :returns: the directory path (not created here; the export creates it).
    :raises ValueError: ``tenant`` is not a safe directory name (only reachable without Param validation).
    """
    if data_dir:
        return os.path.expanduser(str(data_dir))
    tenant = str(tenant)
    if not re.match(TENANT_PATTERN, tenant):
        raise ValueError(f"tenant {tenant!r} does not match {TENANT_PATTERN}")
    return os.path.join(staging_root(), tenant)


def selected_types_template(type_key: str, param: str = "resource_types", enabled: str | None = None) -> str:
    """Jinja template rendering to ``[type_key]`` if the run selected ``type_key``, else ``[]``.

    With ``enabled`` (a boolean Param's name), it also renders ``[]`` when that Param is false.

    With ``render_template_as_native_obj=True`` it renders to a real list; the operators raise
    ``AirflowSkipException`` on ``[]``, so per-type tasks stay in the DAG and show as skipped (give
    downstream tasks ``trigger_rule="none_failed"`` so they still run).
    """
    if not re.fullmatch(r"[a-z0-9_]+", type_key):
        raise ValueError(f"not a resource type key: {type_key!r}")
    selected = "params.%s | select('equalto', '%s') | list" % (param, type_key)
    if enabled is None:
        return "{{ %s }}" % selected
    if not re.fullmatch(r"[a-z0-9_]+", enabled):
        raise ValueError(f"not a param name: {enabled!r}")
    return "{{ (%s) if params.%s else [] }}" % (selected, enabled)


#: JSON schema of one name filter item: a string (an exact name, or a regex written ``regex:<pattern>``,
#: ``re:<pattern>`` or ``/<pattern>/``; blank strings are ignored) or ``{"regex": <pattern that
#: compiles>}``. Having no top-level ``type`` keeps the UI form's one-item-per-line text area for
#: arrays of these; see :mod:`os_migrate.filters`.
FILTER_ITEM_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {"type": "string"},
        {
            "type": "object",
            "properties": {"regex": {"type": "string", "minLength": 1, "format": "regex"}},
            "required": ["regex"],
            "additionalProperties": False,
        },
    ]
}


def filters_schema(resource_types: Iterable[str]) -> dict[str, Any]:
    """JSON schema of the ``filters`` Param (OS Migrate vocabulary).

    ``{"networks": ["exact-name", "regex:^db-", {"regex": "^app-"}], ...}``: keys must be resource
    type keys, values lists of :data:`FILTER_ITEM_SCHEMA` items (an object's pattern must compile:
    ``format: regex``, enforced by Airflow's Param validation with a format checker; a string regex is
    checked by the core when the run compiles its filters).
    """
    return {
        "type": "object",
        "propertyNames": {"enum": list(resource_types)},
        "additionalProperties": {"type": "array", "items": FILTER_ITEM_SCHEMA},
    }


#: Default Airflow Connection id of the destination cloud's admin (``create_dst_project``).
DST_ADMIN_CONN_ID = "openstack_dst_admin"


def create_dst_project_params(section: str) -> dict[str, Any]:
    """The Params ``create_dst_project`` (boolean, default false) and ``dst_admin_conn_id`` of the
    tenant DAGs, in the trigger form's ``section`` (see ``ProjectEnsureOperator``)."""
    from airflow.sdk import Param

    return {
        "create_dst_project": Param(
            False,
            type="boolean",
            title="Create the destination project first",
            description="Before anything else, use the admin connection below to create the project "
            "the destination connection is scoped to (if missing) and give its user the member role "
            "there (if missing). Nothing is written when both exist. Off: the task is skipped.",
            section=section,
        ),
        "dst_admin_conn_id": Param(
            DST_ADMIN_CONN_ID,
            type="string",
            minLength=1,
            title="Destination admin connection",
            description="Airflow Connection id (conn_type openstack) of an admin of the destination "
            "cloud; used only when creating the destination project.",
            section=section,
        ),
    }


#: Suffix of the per-type filter Params (``networks_filter``), as OS Migrate's ``*_filter`` variables.
TYPE_FILTER_SUFFIX = "_filter"


def run_filters(params: Mapping[str, Any], resource_types: Iterable[str]) -> dict[str, Any]:
    """The run's filters: the ``filters`` Param merged with the per-type ``<type>_filter`` Params.

    Used as the DAG macro ``os_migrate_filters(params)``. The per-type Params are what the trigger
    form offers (one text area per type, one name or regex per line); ``filters`` is the same thing
    as one JSON object, for the REST API. A per-type Param left empty (``None``) changes nothing; a
    list adds its items to the type's filter (an item matching is enough to be selected).

    :param params: the run's Params.
    :param resource_types: type keys that may have a ``<type>_filter`` Param.
    :returns: ``{type: [item, ...]}``; a type that is absent is not filtered.
    """
    merged: dict[str, Any] = {
        k: list(v) if isinstance(v, list) else v for k, v in (params.get("filters") or {}).items()
    }
    for type_key in resource_types:
        items = params.get(type_key + TYPE_FILTER_SUFFIX)
        if items is None:
            continue
        merged[type_key] = list(merged.get(type_key) or []) + list(items)
    return merged


def summarize_run(
    exports: Mapping[str, Any],
    imports: Mapping[str, Any],
    *,
    tenant: Any = None,
    dry_run: Any = False,
) -> dict[str, Any]:
    """Log and return the counts of a pre-workload run.

    :param exports: ``{type: export task result}`` (see ``OpenStackExportOperator``); ``None`` (a
        skipped task pushes nothing) or a result with ``skipped`` marks a type not selected in this run.
    :param imports: ``{type: import task result}`` (see ``OpenStackImportOperator``).
    :returns: ``{"tenant", "dry_run", "exported": {type: n}, "imported": {type: {action: n}},
        "totals": {action: n}, "not_selected": [type, ...]}``.
    """
    exported: dict[str, int] = {}
    imported: dict[str, dict[str, int]] = {}
    totals: dict[str, int] = {}
    not_selected: list[str] = []
    for type_key, result in exports.items():
        if not result or result.get("skipped"):
            not_selected.append(type_key)
            continue
        exported[type_key] = int((result.get("counts") or {}).get(type_key, 0))
    for type_key, result in imports.items():
        if not result or result.get("skipped"):
            continue
        counts = {k: int(v) for k, v in (result.get("counts") or {}).items()}
        imported[type_key] = counts
        for action, n in counts.items():
            totals[action] = totals.get(action, 0) + n
    summary = {
        "tenant": None if tenant is None else str(tenant),
        "dry_run": dry_run is True or str(dry_run).lower() == "true",
        "exported": exported,
        "imported": imported,
        "totals": totals,
        "not_selected": not_selected,
    }
    log.info(
        "Tenant %s%s", summary["tenant"], " (dry run: nothing was changed)" if summary["dry_run"] else ""
    )
    for type_key in exports:
        if type_key in not_selected:
            log.info("  %-22s not selected", type_key)
        else:
            log.info(
                "  %-22s exported %d, import %s", type_key, exported[type_key], imported.get(type_key, {})
            )
    log.info("Totals: %s", totals)
    return summary


def reject_unknown_conf() -> dict[str, Any]:
    """Task callable: fail when the run's conf has keys that are not Params of the DAG.

    Airflow validates the values of known Params but ignores unknown keys, so a typo such as
    ``"dryrun": true`` would silently run a real, writing migration.

    :returns: ``{"conf_keys": [...]}``.
    :raises AirflowFailException: unknown keys (not retried), named with the known ones.
    """
    from airflow.sdk import get_current_context
    from airflow.sdk.exceptions import AirflowFailException

    context = get_current_context()
    conf = context["dag_run"].conf or {}
    known = set(context["params"].keys())
    unknown = sorted(set(conf) - known)
    if unknown:
        raise AirflowFailException(f"unknown conf key(s) {unknown}; this DAG's params are {sorted(known)}")
    return {"conf_keys": sorted(conf)}
