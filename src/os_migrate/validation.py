"""Validation of a data set before import: every problem is reported at once, nothing is written.

Checks, in order of need:

1. structure of every data file (YAML, format version, record schema, required params) —
   :func:`os_migrate.dataset.load_dataset`;
2. filters (bad item shapes, invalid regexes, unknown types);
3. duplicate import identities within a type (names must be unique to find the destination twin);
4. every reference resolves, among the resources of the data set or (with a destination
   connection) in the destination; a reference the class declares in ``data_refs`` (a rule's
   remote address group) must be in the data set, and when its target is not imported by this
   run, the destination's twin must equal the data set's record, so a rule never gets a wider
   remote than it had;
5. values across records that the APIs refuse (:func:`cross_record_errors`): overlapping subnets
   of one network, a router interface address outside its subnet (each record's own values are
   checked by its class, see :mod:`os_migrate.api_rules`);
6. with a destination connection: params that need a Neutron extension the destination lacks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from keystoneauth1 import discover

from os_migrate import api_rules
from os_migrate.cloud import is_admin
from os_migrate.const import AUTH_PROJECT
from os_migrate.dataset import load_dataset, location, resolve_types
from os_migrate.exceptions import AmbiguousReference, ValidationError
from os_migrate.filters import Filters
from os_migrate.references import RefIndex, ref_str
from os_migrate.resources import KIND_TYPE_KEY, REGISTRY, RESOURCE_TYPES, Resource
from os_migrate.resources.identity import qualified

if TYPE_CHECKING:
    from openstack.connection import Connection


def selected(
    dataset: Mapping[str, list[Resource]], types: Iterable[str], flt: Filters
) -> dict[str, list[Resource]]:
    """The resources of ``types`` that the filters select (with those they require, see
    :meth:`~os_migrate.resources.base.Resource.with_required`)."""
    return {
        t: REGISTRY[t].with_required(
            [r for r in dataset.get(t, []) if flt.selects(t, r.name, r.params)], dataset.get(t, [])
        )
        for t in types
    }


def duplicate_errors(chosen: Mapping[str, list[Resource]]) -> list[str]:
    """One error per resource whose identity repeats within its type."""
    errors = []
    for type_key, resources in chosen.items():
        by_id: dict[str, list[Resource]] = defaultdict(list)
        for r in resources:
            by_id[r.identity].append(r)
        for ident, dups in by_id.items():
            if len(dups) > 1:
                for r in dups[1:]:
                    errors.append(
                        f"{location(r)}: params.name: duplicate {type_key} identity "
                        f"{ident!r} (first at resources[{dups[0].index}])"
                    )
    return errors


def cross_record_errors(
    chosen: Mapping[str, list[Resource]], all_data: Mapping[str, list[Resource]]
) -> list[str]:
    """Errors of values that are wrong only next to another record (see the module docstring)."""
    errors = api_rules.subnets_overlap_errors(
        (location(r), ref_str(r.params.get("network") or {}), r.params.get("cidr"))
        for r in chosen.get("subnets", [])
    )
    subnets = {r.name: r for r in all_data.get("subnets", [])}
    for r in chosen.get("router_interfaces", []):
        ref = r.params.get("subnet") or {}
        subnet = subnets.get(ref.get("name")) if ref.get("project_name") in (None, AUTH_PROJECT) else None
        if subnet is not None:
            errors += [
                f"{location(r)}: {e} of subnet {subnet.name!r} ({location(subnet)})"
                for e in api_rules.host_ip_errors(
                    "params.ip_address", r.params.get("ip_address"), subnet.params.get("cidr")
                )
            ]
    return errors


def reference_errors(
    chosen: Mapping[str, list[Resource]],
    all_data: Mapping[str, list[Resource]],
    refs: RefIndex | None,
    *,
    check_twins: bool = True,
) -> list[str]:
    """Errors for references that resolve neither in the data set nor in the destination.

    :param check_twins: compare the destination twin of a ``data_refs`` target that this run
        does not import with its data set record (off for a dry run, which writes nothing).
    """
    # Identity objects are named by domain too ({name, domain_name}): find them by identity.
    by_name = {
        t: {(r.identity if REGISTRY[t].ref_scope != "project" else r.name): r for r in rs}
        for t, rs in all_data.items()
    }
    errors = []
    for resources in chosen.values():
        for r in resources:
            for field, kind, ref in r.iter_refs():
                if not isinstance(ref, Mapping):
                    continue
                where = f"{location(r)}: {field}"
                if ref.get("name") is None:
                    errors.append(
                        f"{where}: the source {kind} {ref.get('id', '?')} could not be resolved to a "
                        "name at export"
                    )
                    continue
                target_type = KIND_TYPE_KEY[kind]
                own = ref.get("project_name") in (None, AUTH_PROJECT)
                key = qualified(ref) if REGISTRY[target_type].ref_scope != "project" else ref["name"]
                record = by_name.get(target_type, {}).get(key) if own else None
                if field.removeprefix("params.") in r.data_refs:
                    errors.extend(_data_ref_errors(where, kind, ref, record, chosen, refs, check_twins))
                    continue
                if record is not None or refs is None:
                    continue
                try:
                    if refs.find(kind, ref, required=False) is not None:
                        continue
                except AmbiguousReference as e:
                    errors.append(f"{where}: {e}")
                    continue
                errors.append(
                    f"{where}: {kind} {ref_str(ref)} does not resolve: not in the destination and not "
                    f"in {target_type}.yml"
                )
    return errors


def _data_ref_errors(
    where: str,
    kind: str,
    ref: Mapping,
    record: Resource | None,
    chosen: Mapping[str, list[Resource]],
    refs: RefIndex | None,
    check_twins: bool,
) -> list[str]:
    """Errors of one reference whose target must come from the data set (``data_refs``)."""
    target_type = KIND_TYPE_KEY[kind]
    if record is None:
        return [
            f"{where}: {kind} {ref_str(ref)} is not in {target_type}.yml; refusing to import with a "
            f"{kind} whose content is unknown (its remote could be wider than the source's)"
        ]
    if refs is None or not check_twins or record in chosen.get(target_type, []):
        return []
    try:
        obj = refs.find(kind, ref, required=False)
    except AmbiguousReference as e:
        return [f"{where}: {e}"]
    if obj is None:
        return []  # created by the import of its own type first; the reference fails until then
    changes = record.diff(type(record).from_sdk(obj, refs))
    if not changes:
        return []
    diffs = "; ".join(f"{k}: {c['from']!r} there, {c['to']!r} in the data set" for k, c in changes.items())
    return [
        f"{where}: {kind} {ref_str(ref)} in the destination differs from {target_type}.yml ({diffs}); "
        f"import {target_type} first"
    ]


def admin_errors(type_keys: Iterable[str], what: str) -> list[str]:
    """One error per admin-only type asked for with a connection that has no admin role."""
    return [
        f"resource_types: {t!r} ({REGISTRY[t].type}) needs an admin connection to {what}; this "
        "connection's token has no admin role (tenant credentials cover tenant content only)"
        for t in type_keys
    ]


def capability_errors(chosen: Mapping[str, list[Resource]], conn: Connection) -> list[str]:
    """Errors for what the destination connection cannot do: admin-only types or values that
    need an admin when the connection is not one, values that need a Neutron extension it lacks
    or a newer API microversion."""
    errors = []
    admin_types = [t for t in chosen if REGISTRY[t].admin_only]
    needs_admin = [(r, p) for rs in chosen.values() for r in rs for p in r.admin_params()]
    if (admin_types or needs_admin) and not is_admin(conn):
        errors += admin_errors(admin_types, "import")
        errors += [
            f"{location(r)}: params.{p}: {r.params[p]!r} needs an admin in the destination "
            "(this connection has no admin role); use an admin connection or change the "
            "value"
            for r, p in needs_admin
        ]
    errors += microversion_errors(chosen, conn)
    wanted = [
        (r, p, alias) for rs in chosen.values() for r in rs for p, alias in r.required_extensions().items()
    ]
    if wanted:
        have = {ext.alias for ext in conn.network.extensions()}
        errors += [
            f"{location(r)}: params.{p}: needs the Neutron extension {alias!r}, which the "
            "destination does not offer"
            for r, p, alias in wanted
            if alias not in have
        ]
    return errors


class CheckResult(NamedTuple):
    """Outcome of :func:`collect_errors`."""

    #: every loadable resource of every data file, by type key.
    all_data: dict[str, list[Resource]]
    #: the resources of the requested types that the filters select.
    chosen: dict[str, list[Resource]]
    #: every problem found.
    errors: list[str]


def microversion_errors(chosen: Mapping[str, list[Resource]], conn: Connection) -> list[str]:
    """Errors for params that need a newer API microversion than the destination offers."""
    wanted = [
        (r, p, service, version)
        for rs in chosen.values()
        for r in rs
        for p, (service, version) in r.required_microversions().items()
    ]
    if not wanted:
        return []
    offered: dict[str, tuple] = {}
    for service in {w[2] for w in wanted}:
        data = getattr(conn, service).get_endpoint_data()
        offered[service] = discover.normalize_version_number(data.max_microversion or "0")
    return [
        f"{location(r)}: params.{p}: needs {service} API microversion {version}, the "
        f"destination offers up to {'.'.join(map(str, offered[service]))}"
        for r, p, service, version in wanted
        if discover.normalize_version_number(version) > offered[service]
    ]


def collect_errors(
    data_dir: str | Path,
    *,
    types: Iterable[str] | str | None = None,
    filters: Mapping[str, object] | None = None,
    conn: Connection | None = None,
    refs: RefIndex | None = None,
    dry_run: bool = False,
) -> CheckResult:
    """Run every check (see the module docstring) and return data and errors.

    :param dry_run: the caller only plans; a destination twin that the run would not fix before
        using it is not an error then (nothing is written).
    """
    errors: list[str] = []
    try:
        types = resolve_types(types)
        flt = Filters(filters, RESOURCE_TYPES)
    except ValidationError as e:
        return CheckResult({}, {}, e.errors)
    sel_data, load_errors = load_dataset(data_dir, types)
    errors.extend(load_errors)
    # Other files only supply names that references may point to; their own errors are reported
    # when their types are validated.
    other_data, _ = load_dataset(data_dir, [t for t in RESOURCE_TYPES if t not in types])
    all_data = {**other_data, **sel_data}
    chosen = selected(all_data, types, flt)
    errors.extend(duplicate_errors(chosen))
    errors.extend(cross_record_errors(chosen, all_data))
    if conn is not None and refs is None:
        refs = RefIndex(conn)
    errors.extend(reference_errors(chosen, all_data, refs, check_twins=not dry_run))
    if conn is not None:
        errors.extend(capability_errors(chosen, conn))
    return CheckResult(all_data, chosen, errors)


def validate_data_dir(
    data_dir: str | Path,
    *,
    conn: Connection | None = None,
    types: Iterable[str] | str | None = None,
    filters: Mapping[str, object] | None = None,
) -> list[str]:
    """Check a data dir before import; returns every error (empty list: valid).

    With a destination connection this includes the plan's comparisons (reads only): a
    create-only param that differs from the destination's twin is an error here already.

    :param data_dir: folder holding ``<type>.yml`` files.
    :param conn: destination connection; without it references and capabilities are not checked
        against the destination.
    :param types: type keys to check (default all); other files are read for references only.
    :param filters: per-type name filters (see :mod:`os_migrate.filters`).
    :raises CloudError: the destination cannot be reached or refuses the credentials.
    """
    if conn is None:
        return collect_errors(data_dir, types=types, filters=filters).errors
    from os_migrate.cloud import check_connection
    from os_migrate.plan import make_plan

    check_connection(conn)
    refs = RefIndex(conn)
    checked = collect_errors(data_dir, types=types, filters=filters, conn=conn, refs=refs)
    if checked.errors:
        return checked.errors
    # The comparisons of the plan too (a create-only field that differs, e.g. a flavor's size),
    # so a workflow that imports type by type learns about them before its first write.
    try:
        make_plan(
            conn, refs, checked.all_data, resolve_types(types), Filters(filters, RESOURCE_TYPES), data_dir
        )
    except ValidationError as e:
        return e.errors
    return []
