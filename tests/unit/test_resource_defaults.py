"""An absent flag with a declared API default (``omit_defaults``) equals that default in plans."""

from __future__ import annotations

from os_migrate.resources import REGISTRY


def record(type_key, **params):
    return REGISTRY[type_key]({"type": REGISTRY[type_key].type, "params": params, "_info": {}})


def test_absent_create_only_flag_equals_a_destination_reporting_the_default():
    cls = REGISTRY["networks"]
    desired = record("networks", name="n")  # a source without the vlan-transparent extension
    twin = record("networks", name="n", is_vlan_transparent=False, is_shared=False)
    assert desired.diff(twin) == {}
    assert cls.compare(desired, twin) == ("unchanged", {}, [])


def test_absent_flag_equals_the_default_both_ways_but_not_another_value():
    desired = record("security_groups", name="g", stateful=True)
    assert desired.diff(record("security_groups", name="g")) == {}
    assert record("security_groups", name="g").diff(record("security_groups", name="g", stateful=True)) == {}
    changes = record("security_groups", name="g").diff(record("security_groups", name="g", stateful=False))
    assert changes == {"stateful": {"from": False, "to": None}}
