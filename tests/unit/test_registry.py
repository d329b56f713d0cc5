"""The resource registry: order, import chains and filter parents come from the class declarations."""

import pytest

from os_migrate import resources
from os_migrate.resources import (
    IMPORT_CHAINS,
    REGISTRY,
    RESOURCE_CLASSES,
    RESOURCE_TYPES,
    Resource,
    dependency_order,
    import_chains,
)
from os_migrate.resources.base import is_empty


def test_every_type_comes_after_its_dependencies():
    position = {key: i for i, key in enumerate(RESOURCE_TYPES)}
    for cls in RESOURCE_CLASSES:
        for dep in cls.depends_on:
            assert position[dep] < position[cls.type_key], (cls.type_key, dep)


def test_referenced_kinds_are_declared_dependencies():
    for cls in RESOURCE_CLASSES:
        for kind in cls.ref_params.values():
            target = resources.KIND_TYPE_KEY[kind]
            assert target == cls.type_key or target in cls.depends_on, (cls.type_key, kind)
        if cls.parent:
            assert cls.parent[0] in cls.depends_on


def test_import_chains_cover_every_type_once_in_order():
    flat = [key for chain in IMPORT_CHAINS for key in chain]
    assert sorted(flat) == sorted(resources.PRE_WORKLOAD_TYPES)
    assert [k for k in RESOURCE_TYPES if k in flat] == sorted(flat, key=RESOURCE_TYPES.index)
    chain_of = {key: i for i, chain in enumerate(IMPORT_CHAINS) for key in chain}
    for cls in RESOURCE_CLASSES:
        if cls.import_phase == "pre_workload":
            assert all(chain_of[dep] == chain_of[cls.type_key] for dep in cls.depends_on)


def test_today_s_order_and_chains():
    assert IMPORT_CHAINS == (
        ("networks", "subnets", "routers", "router_interfaces"),
        ("security_groups", "address_groups", "security_group_rules"),
        ("images",),
        ("keypairs",),
        ("server_groups",),
    )
    assert resources.DATA_TYPES == ("images",)
    assert resources.PARENT_FILTER == {
        "router_interfaces": ("routers", "router"),
        "security_group_rules": ("security_groups", "security_group"),
        "role_assignments": ("projects", "project"),
        "quotas": ("projects", "project"),
    }
    assert resources.ADMIN_TYPES == (
        "domains",
        "projects",
        "users",
        "groups",
        "roles",
        "role_assignments",
        "flavors",
        "quotas",
    )
    assert resources.TENANT_TYPES == resources.PRE_WORKLOAD_TYPES
    assert set(resources.TENANT_TYPES) | set(resources.ADMIN_TYPES) == set(RESOURCE_TYPES)


def _cls(key, *deps):
    return type(key, (Resource,), {"type_key": key, "type": f"t.{key}", "depends_on": deps})


def test_order_is_stable_and_rejects_cycles_and_unknown_types():
    a, b, c, d = _cls("a", "c"), _cls("b"), _cls("c"), _cls("d", "b")
    assert [x.type_key for x in dependency_order([a, b, c, d])] == ["b", "c", "a", "d"]
    assert import_chains([a, b, c, d]) == (("b", "d"), ("c", "a"))
    with pytest.raises(ValueError, match="cycle"):
        dependency_order([_cls("x", "y"), _cls("y", "x")])
    with pytest.raises(ValueError, match="unknown types"):
        dependency_order([_cls("x", "nope")])


@pytest.mark.parametrize("type_key", RESOURCE_TYPES)
def test_every_type_is_fully_declared(type_key):
    cls = REGISTRY[type_key]
    assert cls.type.startswith("openstack.") and cls.__doc__
    assert set(cls.required_params) <= set(cls.params_schema)
    assert set(cls.ref_params) <= set(cls.params_schema)
    # admin types (identity, flavors, quotas) need an admin and have their own workflow
    assert cls.import_phase == ("admin" if cls.admin_only else "pre_workload")
    assert not is_empty(cls.params_schema)
    if cls.ref_kind:
        # a referable kind says how it is listed and fetched
        assert cls.list_ref_targets.__func__ is not Resource.list_ref_targets.__func__
        assert cls.get_ref_target.__func__ is not Resource.get_ref_target.__func__


def test_deferred_params_name_a_later_type_that_applies_them():
    position = {key: i for i, key in enumerate(RESOURCE_TYPES)}
    deferring = [cls for cls in RESOURCE_CLASSES if cls.deferred]
    assert [cls.type_key for cls in deferring] == ["routers"]
    for cls in deferring:
        assert position[cls.deferred_until] > position[cls.type_key]
        assert cls.apply_deferred is not Resource.apply_deferred
        assert set(cls.deferred) <= set(cls.params_schema)
