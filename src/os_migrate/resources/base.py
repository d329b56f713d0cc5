"""Base class of every migratable resource type.

Everything about a type lives in its subclass: mostly data (which SDK attributes become
``params`` and ``_info``, which params are references, which cannot be updated, which need a
Neutron extension or an API microversion, the types it depends on, its parent for filters) plus
a few small hooks: :meth:`Resource.list_ref_targets`/:meth:`Resource.get_ref_target` (how
references of its kind are resolved), :meth:`Resource.list_sdk`, :meth:`Resource._refs_from_sdk`,
:meth:`Resource._sdk_refs`, :meth:`Resource._create_sdk` and :meth:`Resource._update_sdk`. All
behaviour (serialization, normalization, comparison, create/update bodies) lives here, so every
type behaves the same. Registering the class in :mod:`os_migrate.resources` is the only other
step: the registry derives the import order, the DAG's import chains and the filter parents.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from os_migrate.references import RefIndex

if TYPE_CHECKING:
    from openstack.connection import Connection

LOG = logging.getLogger(__name__)

_EMPTY: tuple[Any, ...] = (None, "", [], {})

#: JSON schema of a name reference.
REF_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": ["string", "null"]},
        "project_name": {"type": ["string", "null"]},
        "domain_name": {"type": ["string", "null"]},
        "id": {"type": "string"},
    },
    "additionalProperties": False,
}
_REF_KEYS = frozenset(("name", "project_name", "domain_name", "id"))


def is_empty(value: Any) -> bool:
    """True for None, empty strings, lists and dicts (but not for False or 0)."""
    return any(value is e or (type(value) is type(e) and value == e) for e in _EMPTY)


#: Keys that lead the sort order of list items (pools by start address, routes by destination).
_LEADING_KEYS = ("start", "destination", "end", "nexthop")


def _sort_key(value: Any) -> tuple:
    """Total order for list items: addresses and networks numerically, dicts by leading keys."""
    if isinstance(value, dict):
        keys = [k for k in _LEADING_KEYS if k in value] + sorted(k for k in value if k not in _LEADING_KEYS)
        return (2, tuple(_sort_key(value[k]) for k in keys))
    if isinstance(value, str):
        try:
            net = ipaddress.ip_network(value, strict=False)
            return (0, net.version, int(net.network_address), net.prefixlen, value)
        except ValueError:
            return (1, value)
    return (3, json.dumps(value, sort_keys=True, default=str))


def _is_ref(value: Any) -> bool:
    return isinstance(value, Mapping) and "name" in value and set(value) <= _REF_KEYS


def values_equal(a: Any, b: Any) -> bool:
    """Compare two param values; references match by name, and by project when both name one.

    A reference whose project is unknown (``None``, e.g. a tenant could not read the owner of a
    shared network) matches the same name in any project.
    """
    if _is_ref(a) and _is_ref(b):
        if a.get("name") != b.get("name"):
            return False
        pa, pb = a.get("project_name"), b.get("project_name")
        return pa is None or pb is None or (pa == pb and a.get("domain_name") == b.get("domain_name"))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        keys = {k for k in set(a) | set(b) if not (is_empty(a.get(k)) and is_empty(b.get(k)))}
        return all(values_equal(a.get(k), b.get(k)) for k in keys)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(values_equal(x, y) for x, y in zip(a, b))
    if is_empty(a) and is_empty(b):
        return True
    return a == b


def _empty_like(value: Any) -> Any:
    if isinstance(value, str):
        return ""
    if isinstance(value, list):
        return []
    if isinstance(value, dict):
        return {}
    return None


class Resource:
    """One serialized resource: ``{type, params, _info, _migration_params}``.

    :param record: the record mapping, as exported or loaded from a data file.
    :param sdk: the SDK object this record was built from (not serialized), if any.

    ``file`` and ``index`` locate a record loaded from a data file (for error messages).
    """

    #: Dotted type name written in the ``type`` field, e.g. ``openstack.network.Network``.
    type: ClassVar[str]
    #: Key of the type in the data dir (file stem) and in ``types``/``filters`` arguments.
    type_key: ClassVar[str]
    #: Kind name used by :class:`~os_migrate.references.RefIndex` for references to this type.
    ref_kind: ClassVar[str | None] = None
    #: Type keys this type references; they are imported first (the registry's order and the
    #: DAG's import chains come from these declarations).
    depends_on: ClassVar[tuple[str, ...]] = ()
    #: ``(parent type key, reference param)``: a filter of the parent type also selects these
    #: resources (a router filter selects its interfaces).
    parent: ClassVar[tuple[str, str] | None] = None
    #: Workflow that imports this type: ``"pre_workload"`` (DAG ``os_migrate_pre_workload``) or
    #: ``"admin"`` (DAG ``os_migrate_admin``).
    import_phase: ClassVar[str] = "pre_workload"
    #: Export and import need the ``admin`` role (identity, flavors, quotas); validation refuses a
    #: run of such a type with tenant credentials before any write.
    admin_only: ClassVar[bool] = False
    #: How references of :attr:`ref_kind` name their target: ``"project"`` (name + owning
    #: project and domain), ``"domain"`` (name + domain, identity objects) or ``"global"`` (name).
    ref_scope: ClassVar[str] = "project"
    #: Import reads data from the source cloud (image data), so it needs the source connection.
    needs_source: ClassVar[bool] = False
    #: SDK attributes copied verbatim into ``params``.
    params_from_sdk: ClassVar[tuple[str, ...]] = ()
    #: SDK attributes copied verbatim into ``_info``.
    info_from_sdk: ClassVar[tuple[str, ...]] = (
        "id",
        "project_id",
        "created_at",
        "updated_at",
        "revision_number",
    )
    #: params that hold a reference -> RefIndex kind of the target.
    ref_params: ClassVar[Mapping[str, str]] = {}
    #: params that can only be set on create (an update that would change them is a conflict).
    create_only: ClassVar[tuple[str, ...]] = ()
    #: list params whose order carries no meaning; sorted on export and compared as sorted.
    unordered: ClassVar[tuple[str, ...]] = ()
    #: params kept even when None (None is meaningful, e.g. a subnet without gateway).
    keep_none: ClassVar[tuple[str, ...]] = ()
    #: params left out of create bodies when equal to the API default (they may need admin or an
    #: extension to be sent at all, e.g. ``is_shared: false``).
    omit_defaults: ClassVar[Mapping[str, Any]] = {}
    #: params that need a Neutron extension (alias) when set to a non-default, non-empty value.
    param_extensions: ClassVar[Mapping[str, str]] = {}
    #: params that need a minimum API microversion when set to a non-default, non-empty value:
    #: ``{param: (service type, "2.10")}``.
    param_microversions: ClassVar[Mapping[str, tuple[str, str]]] = {}
    #: params whose listed values only an admin may set (checked by validation before any write).
    admin_values: ClassVar[Mapping[str, tuple]] = {}
    #: params applied in a later phase, by :meth:`apply_deferred` after the import of
    #: :attr:`deferred_until` (router routes after the router interfaces exist).
    deferred: ClassVar[tuple[str, ...]] = ()
    #: type key whose import applies (and whose plan reports) the :attr:`deferred` params.
    deferred_until: ClassVar[str | None] = None
    #: phase name of the deferred actions in plans.
    deferred_phase: ClassVar[str] = "deferred"
    #: reference params whose target must be in the data set, not merely exist in the
    #: destination: the target's content decides what this resource allows (a rule's address
    #: group), so a same-named destination resource of unknown content must not be used.
    data_refs: ClassVar[tuple[str, ...]] = ()
    #: params that must be present and non-empty.
    required_params: ClassVar[tuple[str, ...]] = ("name",)
    #: JSON schema (``properties``) of params; ``additionalProperties`` is false.
    params_schema: ClassVar[Mapping[str, Any]] = {}
    #: default ``_migration_params``.
    migration_param_defaults: ClassVar[Mapping[str, Any]] = {}
    #: The API creates a list of these in one request (Neutron's bulk create): import sends the
    #: creates of a type in chunks through :meth:`bulk_create_sdk`, and one request per resource
    #: when the destination refuses the list body (see :mod:`os_migrate.apply`).
    bulk: ClassVar[bool] = False

    def __init__(self, record: Mapping[str, Any], *, sdk: Any = None):
        self.record = dict(record)
        self.sdk = sdk
        self.file: str | None = None
        self.index: int | None = None
        #: Options of the import run (``quota_mode``, ``user_password``...); set by
        #: :func:`os_migrate.apply.import_resources`, held in memory only, never serialized.
        self.run_options: Mapping[str, Any] = {}

    # -- record access ---------------------------------------------------------------------------
    @property
    def params(self) -> dict:
        """The portable desired state."""
        return self.record.get("params") or {}

    @property
    def info(self) -> dict:
        """Source-only facts (ids, status, timestamps); never compared."""
        return self.record.get("_info") or {}

    @property
    def migration_params(self) -> dict:
        """Tool knobs, defaults filled in."""
        return {**self.migration_param_defaults, **(self.record.get("_migration_params") or {})}

    @property
    def name(self) -> str | None:
        """The resource's name (``params.name``)."""
        return self.params.get("name")

    @property
    def identity(self) -> str:
        """Import identity: what must be unique in a data set and finds the destination twin."""
        return self.name or ""

    @property
    def source_id(self) -> str | None:
        """ID in the source cloud (``_info.id``); export merges records by it."""
        return self.info.get("id")

    def describe(self) -> str:
        """Short text for messages and logs: ``type 'identity'`` (never secrets)."""
        return f"{self.type} {self.identity!r}"

    # -- references to this type ---------------------------------------------------------------
    @classmethod
    def list_ref_targets(cls, conn: Connection, project_id: str) -> Iterable[Any]:
        """SDK objects a reference of :attr:`ref_kind` may point to: the project's own plus the
        shared ones it may use (a few list requests; :class:`RefIndex` caches them)."""
        raise NotImplementedError(f"{cls.__name__} cannot be referenced")

    @classmethod
    def get_ref_target(cls, conn: Connection, obj_id: str) -> Any:
        """One SDK object by id, when it was not among :meth:`list_ref_targets`'s."""
        raise NotImplementedError(f"{cls.__name__} cannot be referenced")

    # -- export ----------------------------------------------------------------------------------
    @classmethod
    def list_sdk(cls, conn: Connection, refs: RefIndex) -> Iterable[Any]:
        """SDK objects of this type owned by the connection's project (a few list requests).

        Default: the project's own objects among the listed reference targets, so the list the
        index needs anyway serves export and plan too.
        """
        if cls.ref_kind is None:
            raise NotImplementedError
        return refs.owned(cls.ref_kind)

    @classmethod
    def export(cls, conn: Connection, refs: RefIndex) -> list[Resource]:
        """Serialize every resource of this type in the connection's project, sorted by identity."""
        out = [cls.from_sdk(obj, refs) for obj in cls.list_sdk(conn, refs)]
        return sorted(out, key=lambda r: r.identity)

    @classmethod
    def with_required(cls, selected: list[Resource], candidates: list[Resource]) -> list[Resource]:
        """``selected`` plus the ``candidates`` of this type they cannot exist without, in
        ``candidates`` order (default: nothing more; a nested project needs its parents, whatever
        the filters say)."""
        return selected

    @classmethod
    def import_order(cls, resources: list[Resource]) -> list[Resource]:
        """The order in which ``resources`` of this type are created (default: as given; nested
        projects put parents first)."""
        return resources

    @classmethod
    def existing(cls, conn: Connection, refs: RefIndex, desired: list[Resource]) -> list[Resource]:
        """The destination resources that ``desired`` ones may match (default: :meth:`export`)."""
        return cls.export(conn, refs)

    @classmethod
    def from_sdk(cls, obj: Any, refs: RefIndex) -> Resource:
        """Build a record from an SDK object, turning IDs into name references."""
        params = {k: getattr(obj, k, None) for k in cls.params_from_sdk}
        params.update(cls._refs_from_sdk(obj, refs))
        info = {k: getattr(obj, k, None) for k in cls.info_from_sdk}
        info.update(cls._extra_info(obj))
        record = {
            "type": cls.type,
            "params": cls.normalize_params(params),
            "_info": {k: v for k, v in info.items() if not is_empty(v)},
            "_migration_params": dict(cls.migration_param_defaults),
        }
        return cls(record, sdk=obj)

    @classmethod
    def _refs_from_sdk(cls, obj: Any, refs: RefIndex) -> dict:
        """Reference params of ``obj``; by default one per :attr:`ref_params` (``<param>_id``)."""
        return {p: refs.ref(kind, getattr(obj, f"{p}_id", None)) for p, kind in cls.ref_params.items()}

    @classmethod
    def _extra_info(cls, obj: Any) -> dict:
        """Computed ``_info`` entries beyond :attr:`info_from_sdk`."""
        return {}

    @classmethod
    def normalize_params(cls, params: Mapping[str, Any]) -> dict:
        """Drop empty values (except :attr:`keep_none`) and sort :attr:`unordered` lists."""
        out = {}
        for k, v in params.items():
            if is_empty(v) and not (v is None and k in cls.keep_none):
                continue
            if k in cls.unordered and isinstance(v, list):
                v = sorted(v, key=_sort_key)
            out[k] = v
        return out

    def stage_data(self, conn: Connection, data_dir: str | Path) -> str | None:
        """Download the data this resource carries into the data dir (types with
        :attr:`needs_source`); returns the path relative to ``data_dir``, None without data."""
        return None

    # -- references ------------------------------------------------------------------------------
    def iter_refs(self) -> Iterable[tuple[str, str, Any]]:
        """``(field, kind, ref)`` for every reference in params (for validation)."""
        for p, kind in self.ref_params.items():
            if p in self.params and self.params[p] is not None:
                yield f"params.{p}", kind, self.params[p]

    # -- comparison ------------------------------------------------------------------------------
    def diff(self, existing: Resource, *, only: Iterable[str] | None = None) -> dict:
        """Field-level difference between this (desired) and ``existing`` (destination).

        :param only: restrict to these params; default: all params except :attr:`deferred`.
        :returns: ``{param: {"from": destination value, "to": desired value}}``, empty if equal.
        """
        want = self.normalize_params(self.params)
        have = self.normalize_params(existing.params)
        keys = set(only) if only is not None else (set(want) | set(have)) - set(self.deferred)
        changes = {}
        for k in sorted(keys):
            w, h = want.get(k), have.get(k)
            if k in self.omit_defaults:
                # An absent flag is the API default: a record without it (a source or an older
                # format that did not report it) equals a destination that reports the default.
                default = self.omit_defaults[k]
                w, h = (default if w is None else w), (default if h is None else h)
            if not values_equal(w, h):
                changes[k] = {"from": have.get(k), "to": want.get(k)}
        return changes

    def conflicts(self, changes: Mapping[str, Any]) -> list[str]:
        """The changed params that cannot be updated in place."""
        return [k for k in changes if k in self.create_only]

    def compare(self, twin: Resource) -> tuple[str, dict, list[str]]:
        """Decide what import does given the destination twin.

        :returns: ``(action, changes, errors)`` with action ``"update"``, ``"unchanged"``,
            ``"create"`` (the twin is unusable and will be replaced) or ``"conflict"`` (errors
            say why, as ``field: message``).
        """
        changes = self.diff(twin)
        conflicts = self.conflicts(changes)
        if conflicts:
            return (
                "conflict",
                changes,
                [
                    f"params.{k}: differs from the destination ({changes[k]['from']!r} there, "
                    f"{changes[k]['to']!r} here) and cannot be updated in place"
                    for k in conflicts
                ],
            )
        return ("update" if changes else "unchanged"), changes, []

    # -- import ----------------------------------------------------------------------------------
    def _sdk_refs(self, refs: RefIndex) -> dict:
        """Turn reference params into SDK ``<param>_id`` kwargs (destination IDs)."""
        return {
            f"{p}_id": refs.id(kind, self.params[p])
            for p, kind in self.ref_params.items()
            if self.params.get(p) is not None
        }

    def create_body(self, refs: RefIndex) -> dict:
        """SDK kwargs for create: empty values and API defaults left out, refs resolved to IDs.

        Leaving out empty optional values lets a destination without the matching extension
        accept the body (e.g. an empty ``dns_domain`` or ``service_types``).
        """
        body = {}
        for k, v in self.normalize_params(self.params).items():
            if k in self.ref_params or k in self.deferred:
                continue
            if k in self.omit_defaults and v == self.omit_defaults[k]:
                continue
            body[k] = v
        body.update(self._sdk_refs(refs))
        return body

    def update_body(self, changes: Mapping[str, Any], refs: RefIndex) -> dict:
        """SDK kwargs for update: only the changed, updatable params; never read-only ones."""
        body = {}
        for k, change in changes.items():
            if k in self.create_only:
                continue
            value = change["to"]
            if k in self.ref_params:
                body[f"{k}_id"] = refs.id(self.ref_params[k], value)
            else:
                body[k] = _empty_like(change["from"]) if value is None and k not in self.keep_none else value
        return body

    def create(self, conn: Connection, refs: RefIndex, *, source: Any = None) -> Any:
        """Create the resource in the destination; returns the SDK object.

        :param source: a :class:`~os_migrate.apply.DataSource` for types that copy data.
        """
        return self.created(conn, refs, self._create_sdk(conn, self.create_body(refs)))

    def created(self, conn: Connection, refs: RefIndex, obj: Any) -> Any:
        """Finish the creation of ``obj`` (made from :meth:`create_body`, alone or in a bulk
        request): record it in ``refs``; a type may make further requests (a security group drops
        Neutron's default rules). Returns the SDK object (None: nothing was created)."""
        if self.ref_kind and obj is not None:
            refs.add(self.ref_kind, obj)
        return obj

    @classmethod
    def bulk_create_sdk(cls, conn: Connection, bodies: list[dict]) -> list[Any]:
        """Create one resource per body (:meth:`create_body` kwargs) in one request, for types
        with :attr:`bulk`; returns the SDK objects in the order of ``bodies``.

        :raises openstack.exceptions.HttpException: the API refused the request (nothing created:
            Neutron applies a bulk request in one transaction).
        """
        raise NotImplementedError(f"{cls.__name__} has no bulk create")

    @classmethod
    def prepare_creates(
        cls, conn: Connection, refs: RefIndex, resources: list[Resource], bulk_size: int
    ) -> dict[int, Exception]:
        """Requests that serve several of the ``resources`` about to be created, made once before
        their :meth:`create` (router interface ports in bulk); default: none.

        :returns: errors by index in ``resources`` (those are not created).
        """
        return {}

    def bulk_key(self) -> str | None:
        """Resources of one bulk request share this key (default: any of the type may)."""
        return None

    def serial_key(self) -> str | None:
        """Writes of resources of one type that share a key run one after the other, in plan
        order; None (default): independent of the others, so import may run them side by side."""
        return None

    def update(
        self,
        conn: Connection,
        existing: Resource,
        changes: Mapping[str, Any],
        refs: RefIndex,
        *,
        source: Any = None,
    ) -> Any:
        """Update ``existing`` with the changed updatable params; returns the SDK object."""
        return self._update_sdk(conn, existing.sdk, self.update_body(changes, refs))

    def apply_deferred(self, conn: Connection, refs: RefIndex, changes: Mapping[str, Any]) -> Any:
        """Apply the changes of :attr:`deferred` params to the destination resource."""
        raise NotImplementedError

    def _create_sdk(self, conn: Connection, body: dict) -> Any:
        raise NotImplementedError

    def _update_sdk(self, conn: Connection, obj: Any, body: dict) -> Any:
        raise NotImplementedError

    # -- validation ------------------------------------------------------------------------------
    @classmethod
    def json_schema(cls) -> dict:
        """JSON schema of the whole record (used by :mod:`os_migrate.validation`)."""
        return {
            "type": "object",
            "required": ["type", "params"],
            "properties": {
                "type": {"const": cls.type},
                "params": {
                    "type": "object",
                    "properties": dict(cls.params_schema),
                    "additionalProperties": False,
                },
                "_info": {"type": ["object", "null"]},
                "_migration_params": {"type": ["object", "null"]},
            },
            "additionalProperties": False,
        }

    def value_errors(self) -> list[str]:
        """Errors of param values the JSON schema cannot express, as ``field: message``."""
        return []

    def admin_params(self) -> list[str]:
        """The params set to a value that needs an admin (see :attr:`admin_values`)."""
        return [k for k, values in self.admin_values.items() if self.params.get(k) in values]

    def required_microversions(self) -> dict[str, tuple[str, str]]:
        """``{param: (service type, microversion)}`` for params whose value needs one."""
        out = {}
        for k, need in self.param_microversions.items():
            v = self.params.get(k)
            if not is_empty(v) and not (k in self.omit_defaults and v == self.omit_defaults[k]):
                out[k] = need
        return out

    def required_extensions(self) -> dict[str, str]:
        """``{param: extension alias}`` for params set to a value that needs an extension."""
        out = {}
        for k, alias in self.param_extensions.items():
            v = self.params.get(k)
            if not is_empty(v) and not (k in self.omit_defaults and v == self.omit_defaults[k]):
                out[k] = alias
        return out
