"""Applying a plan to the destination, and the one-call :func:`import_resources`.

Import is validate -> plan -> apply. Validation and planning only read, so invalid data or a
conflict stops the run before the first write. ``dry_run`` stops after the plan.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keystoneauth1 import exceptions as ksa_exc
from openstack import exceptions as sdk_exc

from os_migrate.cloud import check_connection
from os_migrate.dataset import location, resolve_types
from os_migrate.exceptions import ApplyError, OsMigrateError, ValidationError
from os_migrate.filters import Filters
from os_migrate.plan import CREATE, MAIN_PHASE, UPDATE, Action, count_actions, make_plan, write_plan
from os_migrate.references import RefIndex
from os_migrate.resources import RESOURCE_TYPES
from os_migrate.resources.quota import QUOTA_MODES
from os_migrate.validation import collect_errors

if TYPE_CHECKING:
    from openstack.connection import Connection

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataSource:
    """Where resources that carry data (images) read it from.

    :param conn: the source cloud connection, or None.
    :param data_dir: the data dir (staged data files are relative to it).
    """

    conn: Connection | None
    data_dir: str


def _apply_one(conn: Connection, refs: RefIndex, action: Action, source: DataSource | None) -> None:
    res = action.resource
    if action.phase != MAIN_PHASE:
        res.apply_deferred(conn, refs, action.changes)
    elif action.action == CREATE:
        res.create(conn, refs, source=source)
    elif action.action == UPDATE:
        if action.existing is None:
            raise ApplyError([f"{res.describe()}: update planned without a destination twin"])
        res.update(conn, action.existing, action.changes, refs, source=source)


def apply_plan(
    conn: Connection, refs: RefIndex, plan: list[Action], source: DataSource | None = None
) -> None:
    """Perform the ``create`` and ``update`` actions of ``plan`` in order.

    A failed resource does not stop the others (resources depending on it fail in turn with an
    unresolved reference).

    :raises ApplyError: listing every failed resource with the API's message.
    """
    errors = []
    for action in plan:
        if action.action not in (CREATE, UPDATE):
            continue
        what = f"{action.action} {action.resource.describe()}"
        try:
            _apply_one(conn, refs, action, source)
            LOG.info("%s: done", what)
        except (sdk_exc.SDKException, ksa_exc.ClientException, OsMigrateError, OSError) as e:
            LOG.error("%s: failed: %s", what, e)
            errors.append(f"{location(action.resource)}: {action.action} failed: {e}")
    if errors:
        raise ApplyError(errors)


#: Known run options and their allowed values (None: any string).
RUN_OPTIONS: dict[str, tuple[str, ...] | None] = {"quota_mode": QUOTA_MODES, "user_password": None}


def option_errors(options: Mapping[str, Any] | None) -> list[str]:
    """Errors of unknown run options or values (never echoing a password)."""
    errors = []
    for key, value in (options or {}).items():
        allowed = RUN_OPTIONS.get(key, ())
        if key not in RUN_OPTIONS:
            errors.append(f"options.{key}: unknown option (known: {', '.join(RUN_OPTIONS)})")
        elif value is not None and not isinstance(value, str):
            errors.append(f"options.{key}: must be a string")
        elif value is not None and allowed is not None and value not in allowed:
            errors.append(f"options.{key}: {value!r} is not one of {', '.join(allowed)}")
    return errors


def import_resources(
    conn: Connection,
    data_dir: str | Path,
    *,
    types: Iterable[str] | str | None = None,
    filters: Mapping[str, object] | None = None,
    dry_run: bool = False,
    src_conn: Connection | None = None,
    options: Mapping[str, Any] | None = None,
) -> dict:
    """Import staged resources into the destination project of ``conn``.

    :param conn: destination ``openstack.connection.Connection``.
    :param data_dir: folder holding ``<type>.yml`` files.
    :param types: type keys to import (default all), imported in dependency order.
    :param filters: per-type name filters (see :mod:`os_migrate.filters`).
    :param dry_run: plan only; no write request is made.
    :param src_conn: source connection, needed to stream image data unless it was staged.
    :param options: run options of the admin types: ``quota_mode`` (``copy``, ``keep`` or
        ``raise``, see :mod:`os_migrate.resources.quota`) and ``user_password`` (initial password
        of created users; held in memory only, never written or logged).
    :returns: ``{"dry_run": bool, "counts": {"create"|"update"|"unchanged"|"skip": int},
        "plan_files": {type: path}, "actions": [{"type", "name", "action", "changes"?}, ...]}``
        (``actions`` lists everything but ``unchanged``).
    :raises ValidationError: the data, filters or references are invalid (nothing written).
    :raises CloudError: the destination is unreachable or refuses the credentials.
    :raises ApplyError: some writes failed (the rest were done).
    """
    types = resolve_types(types)
    flt = Filters(filters, RESOURCE_TYPES)
    check_connection(conn)
    refs = RefIndex(conn)
    checked = collect_errors(data_dir, types=types, filters=filters, conn=conn, refs=refs, dry_run=dry_run)
    if checked.errors:
        raise ValidationError(checked.errors)
    errors = option_errors(options)
    if errors:
        raise ValidationError(errors)
    for resources in checked.all_data.values():
        for res in resources:
            res.run_options = dict(options or {})
    plan = make_plan(conn, refs, checked.all_data, types, flt, data_dir)
    plan_files = write_plan(data_dir, plan, types, dry_run)
    for a in plan:
        if a.action in (CREATE, UPDATE):
            LOG.debug("plan: %s %s %r %s", a.action, a.type_key, a.identity, a.changes or "")
    if not dry_run:
        apply_plan(conn, refs, plan, DataSource(src_conn, str(data_dir)))
    return {
        "dry_run": dry_run,
        "counts": count_actions(plan),
        "plan_files": plan_files,
        "actions": [a.to_dict() for a in plan if a.action != "unchanged"],
    }
