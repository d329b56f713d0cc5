"""Resource type registry.

Adding a type: write its :class:`~os_migrate.resources.base.Resource` subclass (one module under
``resources/``), add it to :data:`REGISTERED` below, and write its tests. Everything else is
derived from the class declarations: the import order (:data:`RESOURCE_CLASSES`, topological
from ``depends_on``), the DAG's import chains (:data:`IMPORT_CHAINS`), the types whose import
needs the source cloud (:data:`DATA_TYPES`), the filter parents (:data:`PARENT_FILTER`) and how
references of each kind are resolved (:data:`BY_KIND`).
"""

from __future__ import annotations

from collections.abc import Iterable

from os_migrate.resources.base import Resource
from os_migrate.resources.compute import Keypair, ServerGroup
from os_migrate.resources.flavor import Flavor
from os_migrate.resources.identity import Domain, Group, Project, Role, RoleAssignment, User
from os_migrate.resources.image import Image
from os_migrate.resources.network import (
    AddressGroup,
    Network,
    Router,
    RouterInterface,
    SecurityGroup,
    SecurityGroupRule,
    Subnet,
)
from os_migrate.resources.quota import Quota

#: Every resource class, in registration order (ties of the dependency order keep this order).
REGISTERED: tuple[type[Resource], ...] = (
    Network,
    Subnet,
    Router,
    RouterInterface,
    SecurityGroup,
    AddressGroup,
    SecurityGroupRule,
    Image,
    Keypair,
    ServerGroup,
    Domain,
    Project,
    User,
    Group,
    Role,
    RoleAssignment,
    Flavor,
    Quota,
)


def dependency_order(classes: Iterable[type[Resource]]) -> tuple[type[Resource], ...]:
    """Classes ordered so that each comes after the types in its ``depends_on``.

    Stable: at each step the first class (in the given order) whose dependencies are placed.

    :raises ValueError: a dependency on an unknown type key, or a cycle.
    """
    pending = list(classes)
    known = {cls.type_key for cls in pending}
    for cls in pending:
        unknown = set(cls.depends_on) - known
        if unknown:
            raise ValueError(f"{cls.__name__} depends on unknown types {sorted(unknown)}")
    placed: list[type[Resource]] = []
    done: set[str] = set()
    while pending:
        ready = next((c for c in pending if set(c.depends_on) <= done), None)
        if ready is None:
            raise ValueError(f"dependency cycle among {sorted(c.type_key for c in pending)}")
        placed.append(ready)
        done.add(ready.type_key)
        pending.remove(ready)
    return tuple(placed)


def import_chains(classes: Iterable[type[Resource]]) -> tuple[tuple[str, ...], ...]:
    """Type keys grouped into independent chains: the connected parts of the dependency graph,
    each in dependency order, chains in the order of their first type.

    Types of different chains never reference each other, so their imports may run in parallel.
    """
    ordered = dependency_order(classes)
    group = {cls.type_key: cls.type_key for cls in ordered}

    def root(key: str) -> str:
        while group[key] != key:
            key = group[key]
        return key

    for cls in ordered:
        for dep in cls.depends_on:
            group[root(cls.type_key)] = root(dep)
    chains: dict[str, list[str]] = {}
    for cls in ordered:
        chains.setdefault(root(cls.type_key), []).append(cls.type_key)
    return tuple(tuple(chain) for chain in chains.values())


#: Resource classes in import (dependency) order.
RESOURCE_CLASSES: tuple[type[Resource], ...] = dependency_order(REGISTERED)

#: type key (file stem) -> class.
REGISTRY: dict[str, type[Resource]] = {cls.type_key: cls for cls in RESOURCE_CLASSES}

#: dotted ``type`` value -> class.
BY_TYPE_NAME: dict[str, type[Resource]] = {cls.type: cls for cls in RESOURCE_CLASSES}

#: RefIndex kind -> class (how references of that kind are listed and fetched).
BY_KIND: dict[str, type[Resource]] = {cls.ref_kind: cls for cls in RESOURCE_CLASSES if cls.ref_kind}

#: RefIndex kind -> type key of the resources a reference of that kind may point to.
KIND_TYPE_KEY: dict[str, str] = {kind: cls.type_key for kind, cls in BY_KIND.items()}

#: Type keys in dependency order.
RESOURCE_TYPES: tuple[str, ...] = tuple(REGISTRY)

#: Type keys a tenant connection exports and imports (the default of every type argument).
TENANT_TYPES: tuple[str, ...] = tuple(cls.type_key for cls in RESOURCE_CLASSES if not cls.admin_only)

#: Type keys that need an admin connection (identity, flavors, quotas), in dependency order.
ADMIN_TYPES: tuple[str, ...] = tuple(cls.type_key for cls in RESOURCE_CLASSES if cls.admin_only)

#: Type keys imported by the pre-workload DAG, in dependency order.
PRE_WORKLOAD_TYPES: tuple[str, ...] = tuple(
    cls.type_key for cls in RESOURCE_CLASSES if cls.import_phase == "pre_workload"
)

#: Independent import chains of the pre-workload types (see :func:`import_chains`).
IMPORT_CHAINS: tuple[tuple[str, ...], ...] = import_chains(
    cls for cls in RESOURCE_CLASSES if cls.import_phase == "pre_workload"
)

#: Type keys whose import reads data from the source cloud (it needs the source connection).
DATA_TYPES: tuple[str, ...] = tuple(cls.type_key for cls in RESOURCE_CLASSES if cls.needs_source)

#: Child type key -> (parent type key, params key of the parent reference), for filters.
PARENT_FILTER: dict[str, tuple[str, str]] = {
    cls.type_key: cls.parent for cls in RESOURCE_CLASSES if cls.parent is not None
}

__all__ = [
    "ADMIN_TYPES",
    "AddressGroup",
    "Domain",
    "Flavor",
    "Group",
    "Project",
    "Quota",
    "Role",
    "RoleAssignment",
    "TENANT_TYPES",
    "User",
    "BY_KIND",
    "BY_TYPE_NAME",
    "DATA_TYPES",
    "IMPORT_CHAINS",
    "Image",
    "KIND_TYPE_KEY",
    "Keypair",
    "Network",
    "PARENT_FILTER",
    "PRE_WORKLOAD_TYPES",
    "REGISTERED",
    "REGISTRY",
    "RESOURCE_CLASSES",
    "RESOURCE_TYPES",
    "Resource",
    "Router",
    "RouterInterface",
    "SecurityGroup",
    "SecurityGroupRule",
    "ServerGroup",
    "Subnet",
    "dependency_order",
    "import_chains",
]
