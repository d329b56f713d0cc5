"""Address groups (and the rules using them) and server groups, src -> dst on the real local cloud.

The sample tenant has address group ``office`` used by one ``ssh`` rule, and server group
``app-anti-affinity`` (anti-affinity, ``max_server_per_host: 2``).
"""

from __future__ import annotations

import shutil

import pytest
import yaml

import os_migrate
from os_migrate import RequestCounter, export_resources, import_resources
from os_migrate.cloud import find_or_none

from .conftest import NETWORK_TYPES, connect

TYPES = (*NETWORK_TYPES, "server_groups")
AG, SG = "office", "app-anti-affinity"


def address_group(conn, name=AG):
    (group,) = list(conn.network.address_groups(project_id=conn.current_project_id, name=name))
    return group


def server_group(conn, name=SG):
    (group,) = [g for g in conn.compute.server_groups() if g.name == name]
    return group


def ssh_rules_from_address_groups(conn):
    pid = conn.current_project_id
    ssh = find_or_none(conn.network.find_security_group, "ssh", project_id=pid)
    return [
        r for r in conn.network.security_group_rules(security_group_id=ssh.id) if r.remote_address_group_id
    ]


def set_records(path, name, **params):
    doc = yaml.safe_load(path.read_text())
    (rec,) = [r for r in doc["resources"] if r["params"].get("name") == name]
    rec["params"].update(params)
    path.write_text(yaml.safe_dump(doc))


@pytest.fixture(scope="module")
def migrated(seeded_src, tmp_path_factory):
    dst = connect("devcloud-dst")
    from sample_tenant import clean

    clean(dst)
    data_dir = tmp_path_factory.mktemp("groups")
    export = export_resources(seeded_src, data_dir, types=TYPES)
    result = import_resources(dst, data_dir, types=TYPES)
    return {"data_dir": data_dir, "export": export, "import": result, "dst": dst, "src": seeded_src}


def test_address_group_and_its_rule_migrate_with_identical_addresses(migrated):
    src, dst = migrated["src"], migrated["dst"]
    assert migrated["export"]["counts"]["address_groups"] == 1
    src_group, dst_group = address_group(src), address_group(dst)
    assert sorted(dst_group.addresses) == sorted(src_group.addresses) == ["192.0.2.10/32", "198.51.100.0/24"]
    assert dst_group.description == src_group.description
    (rule,) = ssh_rules_from_address_groups(dst)
    (src_rule,) = ssh_rules_from_address_groups(src)
    assert rule.remote_address_group_id == dst_group.id
    assert rule.remote_ip_prefix is None and rule.remote_group_id is None
    assert (rule.direction, rule.protocol, rule.port_range_min, rule.port_range_max) == (
        src_rule.direction,
        src_rule.protocol,
        src_rule.port_range_min,
        src_rule.port_range_max,
    )


def test_server_group_migrates_with_the_same_policy_and_rules(migrated):
    src_group, dst_group = server_group(migrated["src"]), server_group(migrated["dst"])
    assert migrated["export"]["counts"]["server_groups"] == 1
    assert dst_group.policy == src_group.policy == "anti-affinity"
    assert dst_group.rules == src_group.rules == {"max_server_per_host": 2}
    records = yaml.safe_load((migrated["data_dir"] / "server_groups.yml").read_text())["resources"]
    assert records[0]["params"] == {
        "name": SG,
        "policy": "anti-affinity",
        "rules": {"max_server_per_host": 2},
    }


def test_reimport_makes_no_write(migrated):
    dst = migrated["dst"]
    dst.authorize()
    with RequestCounter(dst) as counter:
        result = import_resources(dst, migrated["data_dir"], types=TYPES)
    assert counter.writes == 0, counter.write_urls
    assert result["counts"]["create"] == 0 and result["counts"]["update"] == 0


def test_differing_server_group_is_a_conflict_before_any_write(migrated, tmp_path):
    data_dir = tmp_path / "conflict"
    shutil.copytree(migrated["data_dir"], data_dir)
    set_records(data_dir / "server_groups.yml", SG, rules={"max_server_per_host": 3})
    dst = migrated["dst"]
    dst.authorize()
    with RequestCounter(dst) as counter, pytest.raises(os_migrate.ValidationError) as e:
        import_resources(dst, data_dir, types=["server_groups"])
    assert counter.writes == 0, counter.write_urls
    (error,) = e.value.errors
    assert "server_groups.yml" in error and "params.rules" in error and "cannot be updated" in error
    assert server_group(dst).rules == {"max_server_per_host": 2}


def test_rule_whose_address_group_is_not_exported_is_refused_before_any_write(migrated, tmp_path):
    data_dir = tmp_path / "no-ag"
    shutil.copytree(migrated["data_dir"], data_dir)
    path = data_dir / "address_groups.yml"
    doc = yaml.safe_load(path.read_text())
    doc["resources"] = []
    path.write_text(yaml.safe_dump(doc))
    dst = migrated["dst"]
    dst.authorize()
    # the destination has a same-named group, but its content is not known from the data set
    with RequestCounter(dst) as counter, pytest.raises(os_migrate.ValidationError) as e:
        import_resources(dst, data_dir, types=["security_group_rules"])
    assert counter.writes == 0
    (error,) = e.value.errors
    assert "params.remote_address_group" in error and "'office' is not in address_groups.yml" in error


def test_wider_destination_group_is_refused_for_rules_then_narrowed_by_the_import(migrated, tmp_path):
    dst = migrated["dst"]
    group = address_group(dst)
    dst.network.add_addresses_to_address_group(group, ["203.0.113.0/24"])
    data_dir = tmp_path / "wider"
    shutil.copytree(migrated["data_dir"], data_dir)
    # a rule-only run would use the wider group: refused, nothing written
    dst.authorize()
    with RequestCounter(dst) as counter, pytest.raises(os_migrate.ValidationError) as e:
        import_resources(dst, data_dir, types=["security_group_rules"])
    assert counter.writes == 0
    assert "differs from address_groups.yml" in e.value.errors[0]
    # importing the address groups removes the extra address
    result = import_resources(dst, data_dir, types=["address_groups"])
    assert result["counts"]["update"] == 1
    assert sorted(address_group(dst).addresses) == ["192.0.2.10/32", "198.51.100.0/24"]


def test_edited_addresses_are_applied_exactly(migrated, tmp_path):
    dst = migrated["dst"]
    data_dir = tmp_path / "edited"
    shutil.copytree(migrated["data_dir"], data_dir)
    set_records(data_dir / "address_groups.yml", AG, addresses=["198.51.100.0/24", "192.0.2.11"])
    result = import_resources(dst, data_dir, types=["address_groups", "security_group_rules"])
    assert result["counts"]["update"] == 1 and result["counts"]["create"] == 0
    assert sorted(address_group(dst).addresses) == ["192.0.2.11/32", "198.51.100.0/24"]
    # back to the source's content for the other tests
    import_resources(dst, migrated["data_dir"], types=["address_groups"])
    assert sorted(address_group(dst).addresses) == ["192.0.2.10/32", "198.51.100.0/24"]
