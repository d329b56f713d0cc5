"""Name filters: exact names, regexes, parent filters, and errors naming the bad item."""

import pytest

from os_migrate.exceptions import ValidationError
from os_migrate.filters import Filters
from os_migrate.resources import RESOURCE_TYPES


def test_no_filter_selects_everything():
    assert Filters(None, RESOURCE_TYPES).selects("networks", "anything")


def test_names_and_regexes():
    f = Filters({"networks": ["db", {"regex": "^app-"}]}, RESOURCE_TYPES)
    assert f.selects("networks", "db")
    assert f.selects("networks", "app-1")
    assert not f.selects("networks", "db2")
    assert not f.selects("networks", "myapp-1")
    assert f.selects("subnets", "whatever")  # other types unfiltered


def test_empty_list_selects_nothing():
    assert not Filters({"routers": []}, RESOURCE_TYPES).selects("routers", "r1")


def test_parent_filter_selects_children():
    f = Filters({"routers": ["r1"], "security_groups": [{"regex": "^web"}]}, RESOURCE_TYPES)
    assert f.selects("router_interfaces", "x", {"router": {"name": "r1"}})
    assert not f.selects("router_interfaces", "x", {"router": {"name": "r2"}})
    assert f.selects("security_group_rules", None, {"security_group": {"name": "web-tier"}})
    assert not f.selects("security_group_rules", None, {"security_group": {"name": "db"}})


def test_every_bad_item_is_reported_at_once():
    with pytest.raises(ValidationError) as e:
        Filters({"networks": [{"regex": "("}], "subnets": [3], "flavours": ["x"]}, RESOURCE_TYPES)
    errors = e.value.errors
    assert len(errors) == 3
    assert any(m.startswith("filters.networks[0]: invalid regular expression '('") for m in errors)
    assert any(m.startswith("filters.subnets[0]: expected a name") for m in errors)
    assert any(m.startswith("filters.flavours: unknown resource type") for m in errors)


@pytest.mark.parametrize("item", ["regex:^app-", "re:^app-", "/^app-/", {"regex": "^app-"}])
def test_a_regex_can_be_written_as_a_string(item):
    """Form text areas hold strings only: ``regex:``/``re:`` prefixes and ``/.../`` mark a regex."""
    f = Filters({"networks": [item]}, RESOURCE_TYPES)
    assert f.selects("networks", "app-1")
    assert not f.selects("networks", "myapp-1")


def test_other_strings_are_exact_names_and_blank_lines_are_ignored():
    f = Filters({"networks": ["app-1", "/", "", "  "], "subnets": [""]}, RESOURCE_TYPES)
    assert f.selects("networks", "app-1")
    assert f.selects("networks", "/")
    assert not f.selects("networks", "app-10")
    assert not f.selects("subnets", "s1")  # only blank items: selects nothing, like []


def test_an_invalid_string_regex_is_reported_with_its_item():
    with pytest.raises(ValidationError) as e:
        Filters({"networks": ["ok", "regex:("]}, RESOURCE_TYPES)
    assert e.value.errors[0].startswith("filters.networks[1]: invalid regular expression '('")
