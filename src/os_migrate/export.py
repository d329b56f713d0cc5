"""Export: read the source project and write/refresh the data files."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from os_migrate.cloud import check_connection, is_admin
from os_migrate.dataset import data_file, resolve_types
from os_migrate.exceptions import ValidationError
from os_migrate.filters import Filters
from os_migrate.references import RefIndex
from os_migrate.resources import REGISTRY, RESOURCE_TYPES, Resource
from os_migrate.resources.identity import AdminResource, AdminScope
from os_migrate.serialization import load_resources, write_resources
from os_migrate.validation import admin_errors

if TYPE_CHECKING:
    from openstack.connection import Connection

LOG = logging.getLogger(__name__)


def merge_records(
    existing: list[dict], exported: list[dict], identity: Callable[[dict], str] | None = None
) -> list[dict]:
    """Update records in place, append the new ones.

    An exported record replaces the file's record with the same source id (``_info.id``) or,
    when ``identity`` is given, the same import identity: a source resource deleted and recreated
    under the same name (new id) replaces its stale record instead of duplicating the name.
    Records matching nothing exported are kept (the file may hold an earlier export of a larger
    selection). A refreshed record keeps the ``_migration_params`` already in the file (they are
    the operator's knobs), over defaults.
    """
    by_id = {r["_info"]["id"]: r for r in exported if r.get("_info", {}).get("id")}
    by_ident = {identity(r): r for r in exported} if identity else {}
    out, placed = [], set()
    for rec in existing:
        match = None
        if isinstance(rec, dict):
            match = by_id.get((rec.get("_info") or {}).get("id"))
            if match is None and identity is not None:
                try:
                    match = by_ident.get(identity(rec))
                except (AttributeError, KeyError, TypeError):  # malformed record: keep it as is
                    match = None
        if match is None:
            out.append(rec)
            continue
        if id(match) in placed:  # a second stale record of the same resource: drop it
            continue
        fresh = dict(match)
        kept = rec.get("_migration_params") or {}
        fresh["_migration_params"] = {
            **(fresh.get("_migration_params") or {}),
            **{k: v for k, v in kept.items() if v is not None},
        }
        out.append(fresh)
        placed.add(id(match))
    out.extend(r for r in exported if id(r) not in placed)
    return out


def refresh_data_file(
    path: str | Path,
    exported: list[dict],
    summary: dict,
    key: str,
    *,
    identity: Callable[[dict], str] | None = None,
) -> bool:
    """Merge ``exported`` into the data file at ``path`` (see :func:`merge_records`), write it
    atomically if its content changed, and record count, path and change under ``key`` in the
    export ``summary`` (``counts``/``files``/``changed``).

    :returns: whether the file changed.
    :raises DataError: the existing file cannot be read (it is left untouched).
    """
    changed = write_resources(path, merge_records(load_resources(path), exported, identity=identity))
    LOG.info("exported %d %s to %s (%s)", len(exported), key, path, "changed" if changed else "unchanged")
    summary["counts"][key] = len(exported)
    summary["files"][key] = str(path)
    summary["changed"][key] = changed
    return changed


def _identity(cls: type[Resource]) -> Callable[[dict], str]:
    """Import identity of a record of ``cls``, for :func:`merge_records`."""
    return lambda rec: cls(rec).identity


def export_resources(
    conn: Connection,
    data_dir: str | Path,
    *,
    types: Iterable[str] | str | None = None,
    filters: Mapping[str, object] | None = None,
    stage_image_data: bool = False,
) -> dict:
    """Export the resources of the connection's project to ``<data_dir>/<type>.yml``.

    Reads only: a constant number of list requests per type (plus one lookup per foreign project
    or unlisted referenced object). Files are rewritten atomically and only when changed, so
    re-exporting an unchanged tenant leaves them byte-identical.

    :param conn: source ``openstack.connection.Connection`` (scoped to the tenant's project).
    :param data_dir: folder for the data files (created if missing).
    :param types: type keys to export (default all).
    :param filters: per-type name filters (see :mod:`os_migrate.filters`). Admin types need
        ``filters["projects"]``: the projects whose identity content, flavors and quotas to export
        (:class:`~os_migrate.resources.identity.AdminScope`).
    :param stage_image_data: also download each exported image's data into
        ``<data_dir>/image_data/`` (verified against the source hash) and point
        ``_migration_params.data_file`` at it, for moves where the destination cannot reach the
        source.
    :returns: ``{"data_dir": str, "counts": {type: int}, "files": {type: str},
        "changed": {type: bool}}``.
    :raises ValidationError: unknown type or bad filter; an admin type without an admin
        connection or without a projects filter.
    :raises CloudError: the source is unreachable or refuses the credentials.
    :raises DataError: an existing data file cannot be read (it is left untouched).
    """
    types = resolve_types(types)
    flt = Filters(filters, RESOURCE_TYPES)
    check_connection(conn)
    admin_types = [t for t in types if REGISTRY[t].admin_only]
    if admin_types and not is_admin(conn):
        raise ValidationError(admin_errors(admin_types, "export"))
    refs = RefIndex(conn)
    scope = AdminScope.build(conn, refs, flt.of("projects")) if admin_types else None
    summary: dict[str, Any] = {"data_dir": str(data_dir), "counts": {}, "files": {}, "changed": {}}
    for type_key in types:
        cls = REGISTRY[type_key]
        if scope is not None and issubclass(cls, AdminResource):
            found = cls.export_scoped(conn, refs, scope)
        else:
            found = cls.export(conn, refs)
        selected = cls.with_required([r for r in found if flt.selects(type_key, r.name, r.params)], found)
        if stage_image_data and cls.needs_source:
            for res in selected:
                res.stage_data(conn, data_dir)
        exported = [r.record for r in selected]
        refresh_data_file(data_file(data_dir, type_key), exported, summary, type_key, identity=_identity(cls))
    return summary
