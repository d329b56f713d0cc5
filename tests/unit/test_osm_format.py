"""Conversion of OS Migrate 1.x data dirs (tests/fixtures/osm_1x, hand-written from its format)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from os_migrate import RESOURCE_TYPES, ValidationError, validate_data_dir
from os_migrate.dataset import load_dataset
from os_migrate.osm_format import convert_osm_dir

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "osm_1x"
AUTH = {"name": None, "project_name": "%auth%", "domain_name": "%auth%"}


def own(name):
    return {**AUTH, "name": name}


def records(out, type_key):
    return yaml.safe_load((out / f"{type_key}.yml").read_text())["resources"]


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    out = tmp_path_factory.mktemp("converted")
    report = convert_osm_dir(FIXTURE, out)
    return out, report


def test_counts_and_report(converted):
    out, report = converted
    assert report["counts"] == {
        "networks": 1,
        "subnets": 2,
        "routers": 1,
        "router_interfaces": 2,
        "security_groups": 2,
        "security_group_rules": 3,
        "images": 1,
        "keypairs": 1,
    }
    assert report["src_project"] == "osm-tenant"
    assert report["errors"] == []
    dropped = "\n".join(report["dropped"])
    assert (
        "networks.yml: resources[0] (openstack.network.Network 'osm-net'): params.tags: ['blue']" in dropped
    )
    assert "servers.yml: 1 record(s) of type openstack.compute.Server are not converted" in dropped
    assert len(report["dropped"]) == 2


def test_the_result_is_a_valid_data_dir_of_ours(converted):
    out, _ = converted
    dataset, errors = load_dataset(out, RESOURCE_TYPES)
    assert errors == []
    assert validate_data_dir(out) == []
    assert {r.type for rs in dataset.values() for r in rs} >= {"openstack.network.Subnet"}


def test_network_underlay_facts_go_to_info(converted):
    out, _ = converted
    [net] = records(out, "networks")
    assert net["type"] == "openstack.network.Network"
    assert net["params"] == {
        "description": "converted from OS Migrate",
        "is_admin_state_up": True,
        "is_port_security_enabled": True,
        "is_router_external": False,
        "is_shared": False,
        "name": "osm-net",
    }
    assert net["_info"]["mtu"] == 1450
    assert net["_info"]["id"] == "4b1f2c9e-0d7a-4f51-9a53-1c6f8d2e7a10"


def test_subnet_type_and_own_project_reference(converted):
    out, _ = converted
    subnet = {r["params"]["name"]: r for r in records(out, "subnets")}["osm-subnet"]
    assert subnet["type"] == "openstack.network.Subnet"
    assert subnet["params"]["network"] == own("osm-net")
    assert subnet["params"]["gateway_ip"] == "10.40.1.1"
    assert subnet["params"]["host_routes"] == [{"destination": "192.168.40.0/24", "nexthop": "10.40.1.254"}]
    assert "network_ref" not in subnet["params"] and "tags" not in subnet["params"]


def test_router_gateway_keeps_the_foreign_project_and_routes_come_from_info(converted):
    out, _ = converted
    [router] = records(out, "routers")
    assert router["params"]["external_gateway_info"] == {
        "enable_snat": True,
        "network": {"name": "public", "project_name": "admin", "domain_name": "Default"},
    }
    assert router["params"]["routes"] == [{"destination": "192.168.77.0/24", "nexthop": "10.40.2.254"}]
    assert router["_info"]["external_fixed_ips"] == [
        {"ip_address": "172.24.4.77", "subnet_name": "public-subnet"}
    ]


def test_router_interfaces_become_one_record_per_fixed_ip(converted):
    out, _ = converted
    ifaces = records(out, "router_interfaces")
    assert [r["params"] for r in ifaces] == [
        {"ip_address": "10.40.1.1", "router": own("osm-router"), "subnet": own("osm-subnet")},
        {"ip_address": "10.40.2.5", "router": own("osm-router"), "subnet": own("osm-subnet-b")},
    ]


def test_rules_reference_groups_by_name(converted):
    out, _ = converted
    rules = {r["params"].get("description"): r["params"] for r in records(out, "security_group_rules")}
    assert rules["postgres from web"] == {
        "description": "postgres from web",
        "direction": "ingress",
        "ether_type": "IPv4",
        "port_range_max": 5432,
        "port_range_min": 5432,
        "protocol": "tcp",
        "remote_group": own("osm-web"),
        "security_group": own("osm-db"),
    }
    assert rules[None]["direction"] == "egress" and "remote_group" not in rules[None]


def test_image_properties_by_glance_name_and_hash_as_fact(converted):
    out, _ = converted
    [image] = records(out, "images")
    assert image["params"]["properties"] == {
        "architecture": "x86_64",
        "ci_built": "yes",
        "hw_disk_bus": "virtio",
        "os_distro": "cirros",
        "os_version": "0.6",
        "owner_specified.openstack.object": "images/osm-cirros",
    }
    assert image["_info"]["hash_algo"] == "sha512"
    assert "hash_value" not in image["params"]
    assert image["_migration_params"] == {"data_file": None}


def test_keypair_of_the_authenticated_user_has_no_user(converted):
    out, _ = converted
    [key] = records(out, "keypairs")
    assert set(key["params"]) == {"name", "public_key", "type"}


def test_converting_again_changes_nothing(converted):
    out, _ = converted
    before = {p.name: p.read_bytes() for p in out.glob("*.yml")}
    report = convert_osm_dir(FIXTURE, out)
    assert not any(report["changed"].values())
    assert {p.name: p.read_bytes() for p in out.glob("*.yml")} == before


def test_explicit_source_project_decides_what_becomes_auth(tmp_path):
    report = convert_osm_dir(FIXTURE, tmp_path, src_project="someone-else")
    assert report["src_project"] == "someone-else"
    [subnet, _] = records(tmp_path, "subnets")
    assert subnet["params"]["network"] == {
        "name": "osm-net",
        "project_name": "osm-tenant",
        "domain_name": "Default",
    }


def test_older_name_params_and_image_blob(tmp_path):
    osm = tmp_path / "osm"
    osm.mkdir()
    (osm / "routers.yml").write_text(
        yaml.safe_dump(
            {
                "os_migrate_version": "0.17.0",
                "resources": [
                    {
                        "type": "openstack.network.Router",
                        "params": {
                            "name": "r1",
                            "external_gateway_nameinfo": {
                                "network_name": "public",
                                "external_fixed_ips": [{"subnet_name": "pub", "ip_address": "172.24.4.9"}],
                            },
                            "is_ha": True,
                        },
                        "_info": {"id": "r1-id"},
                    },
                    {
                        "type": "openstack.network.RouterInterface",
                        "params": {
                            "device_name": "r1",
                            "fixed_ips_names": [{"subnet_name": "s1", "ip_address": "10.0.0.1"}],
                            "network_name": "n1",
                        },
                        "_info": {"id": "port-1"},
                    },
                ],
            }
        )
    )
    shutil.copy(FIXTURE / "images.yml", osm / "images.yml")
    (osm / "image_blobs").mkdir()
    blob = osm / "image_blobs" / "f4a7c0e3-6b9d-4c2f-8e5a-1d4b7e0a3c69-osm-cirros"
    blob.write_bytes(b"qcow2")
    out = tmp_path / "out"
    report = convert_osm_dir(osm, out)
    [router] = records(out, "routers")
    assert router["params"]["external_gateway_info"] == {
        "network": {"name": "public", "project_name": None, "domain_name": None}
    }
    assert any("params.is_ha: True is not carried" in d for d in report["dropped"])
    [iface] = records(out, "router_interfaces")
    assert iface["params"]["router"]["name"] == "r1" and iface["params"]["subnet"]["name"] == "s1"
    [image] = records(out, "images")
    assert image["_migration_params"]["data_file"] == str(blob.resolve())


def test_address_group_remote_is_kept_so_validation_refuses_it(tmp_path):
    osm = tmp_path / "osm"
    osm.mkdir()
    rule = yaml.safe_load((FIXTURE / "security_group_rules.yml").read_text())
    rule["resources"] = rule["resources"][:1]
    rule["resources"][0]["_info"]["remote_address_group_id"] = "ag-1"
    rule["resources"][0]["params"]["remote_ip_prefix"] = None
    (osm / "security_group_rules.yml").write_text(yaml.safe_dump(rule))
    shutil.copy(FIXTURE / "security_groups.yml", osm / "security_groups.yml")
    report = convert_osm_dir(osm, tmp_path / "out")
    assert any("address group ag-1 has no name" in d for d in report["dropped"])
    [converted_rule] = records(tmp_path / "out", "security_group_rules")
    assert converted_rule["params"]["remote_address_group"] == {
        "name": None,
        "project_name": None,
        "domain_name": None,
        "id": "ag-1",
    }
    errors = validate_data_dir(tmp_path / "out")
    assert len(errors) == 1 and "params.remote_address_group" in errors[0], errors


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("os_migrate_version: 1\nresources: []\n", "already in this tool's format"),
        ("resources: []\n", "not an OS Migrate 1.x version string"),
        ("- a\n", "expected a mapping with a resources list"),
        ("os_migrate_version: 1.0.5\nresources:\n- params: {name: x}\n", "resources[0]: type: missing"),
        (
            "os_migrate_version: 1.0.5\nresources:\n- type: openstack.subnet.Subnet\n  params: {name: s}\n",
            "(openstack.subnet.Subnet 's'): params.network: is required",
        ),
        (
            "os_migrate_version: 1.0.5\nresources:\n- type: openstack.network.RouterInterface\n"
            "  params: {device_ref: {name: r}, fixed_ips_refs: []}\n",
            "params.fixed_ips_refs: the interface has no fixed IP",
        ),
    ],
)
def test_bad_input_is_reported_by_file_resource_and_field_before_any_write(tmp_path, content, message):
    osm = tmp_path / "osm"
    osm.mkdir()
    shutil.copy(FIXTURE / "networks.yml", osm / "networks.yml")
    (osm / "subnets.yml").write_text(content)
    with pytest.raises(ValidationError) as e:
        convert_osm_dir(osm, tmp_path / "out")
    assert any(str(osm / "subnets.yml") in err and message in err for err in e.value.errors), e.value.errors
    assert not (tmp_path / "out").exists()
