"""Networking migration src -> dst on the real local cloud, through the core (no mocks).

The module migrates the sample tenant once (``migrated``) and checks the destination against the
source; later tests edit a copy of the staged YAML and re-import.
"""

from __future__ import annotations

import shutil

import pytest
import yaml

import os_migrate
from os_migrate import RequestCounter, export_resources, import_resources
from os_migrate.cloud import find_or_none

from .conftest import DST_CLOUD, NETWORK_TYPES, connect


def params_by_identity(data_dir):
    """``{type: {identity: params}}`` of a data dir."""
    from os_migrate.dataset import load_dataset

    dataset, errors = load_dataset(data_dir, os_migrate.RESOURCE_TYPES)
    assert errors == []
    return {t: {r.identity: r.params for r in rs} for t, rs in dataset.items()}


def revisions(conn):
    """``{(kind, name or id): revision_number}`` of the project's networking resources."""
    net, pid = conn.network, conn.current_project_id
    out = {}
    for kind, items in (
        ("network", net.networks(project_id=pid)),
        ("subnet", net.subnets(project_id=pid)),
        ("router", net.routers(project_id=pid)),
        ("security_group", net.security_groups(project_id=pid)),
        ("port", net.ports(project_id=pid)),
    ):
        for obj in items:
            out[(kind, obj.name or obj.id)] = obj.revision_number
    return out


def edit(data_dir, type_key, name, **params):
    """Set params of the resource called ``name`` in ``<data_dir>/<type_key>.yml``."""
    path = data_dir / f"{type_key}.yml"
    doc = yaml.safe_load(path.read_text())
    matches = [r for r in doc["resources"] if r["params"].get("name") == name]
    assert len(matches) == 1
    matches[0]["params"].update(params)
    path.write_text(yaml.safe_dump(doc))


@pytest.fixture(scope="module")
def migrated(seeded_src, tmp_path_factory):
    dst = connect(DST_CLOUD)
    from sample_tenant import clean

    clean(dst)
    data_dir = tmp_path_factory.mktemp("tenant")
    export = export_resources(seeded_src, data_dir, types=NETWORK_TYPES)
    result = import_resources(dst, data_dir, types=NETWORK_TYPES)
    return {"data_dir": data_dir, "export": export, "import": result, "dst": dst}


def test_export_counts_the_sample_tenant(migrated):
    counts = migrated["export"]["counts"]
    assert counts["networks"] == 2
    assert counts["subnets"] == 3
    assert counts["routers"] == 1
    assert counts["router_interfaces"] == 2
    assert counts["security_groups"] == 4  # web, db, ssh and the project's default
    assert counts["address_groups"] == 1
    assert counts["security_group_rules"] >= 2 + 2 + 1 + 4


def test_every_param_of_every_resource_equals_the_source(migrated, tmp_path):
    assert migrated["import"]["counts"]["create"] > 0
    export_resources(migrated["dst"], tmp_path, types=NETWORK_TYPES)
    source = params_by_identity(migrated["data_dir"])
    dest = params_by_identity(tmp_path)
    for type_key in NETWORK_TYPES:
        assert dest[type_key] == source[type_key], type_key
    # spot checks of what users were bitten by
    app = dest["subnets"]["app-subnet"]
    assert app["dns_nameservers"] == ["8.8.8.8", "1.1.1.1"]  # resolver order kept
    assert len(app["host_routes"]) == 2 and len(app["allocation_pools"]) == 2
    assert dest["subnets"]["db-subnet"]["is_dhcp_enabled"] is False
    router = dest["routers"]["edge-router"]
    assert router["external_gateway_info"]["network"]["name"] == "public"
    assert router["routes"] == [{"destination": "10.30.0.0/16", "nexthop": "10.10.1.200"}]
    assert dest["router_interfaces"]["edge-router/db-subnet"]["ip_address"] == "10.20.1.5"
    assert dest["router_interfaces"]["edge-router/app-subnet"]["ip_address"] == "10.10.1.1"
    assert "db:ingress:IPv4:tcp:5432-5432:group=web" in dest["security_group_rules"]
    assert "ssh:ingress:IPv4:tcp:22-22:address_group=office" in dest["security_group_rules"]
    assert dest["address_groups"]["office"]["addresses"] == ["192.0.2.10/32", "198.51.100.0/24"]


def test_new_security_group_has_exactly_the_source_rules(migrated):
    dst = migrated["dst"]
    group = find_or_none(dst.network.find_security_group, "ssh", project_id=dst.current_project_id)
    rules = list(dst.network.security_group_rules(security_group_id=group.id))
    # Neutron's two default egress rules were removed; only the 4 source rules remain
    assert sorted((r.direction, r.protocol, r.port_range_min) for r in rules) == [
        ("egress", "tcp", 443),
        ("ingress", "icmp", None),
        ("ingress", "tcp", 22),
        ("ingress", "tcp", 22),
    ]


def test_second_import_makes_no_write(migrated):
    dst = migrated["dst"]
    dst.authorize()
    before = revisions(dst)
    with RequestCounter(dst) as counter:
        result = import_resources(dst, migrated["data_dir"])
    assert counter.writes == 0, counter.write_urls
    assert result["counts"]["create"] == 0 and result["counts"]["update"] == 0
    assert revisions(dst) == before


def test_reexport_of_unchanged_tenant_is_byte_identical(migrated, seeded_src):
    data_dir = migrated["data_dir"]
    before = {p.name: p.read_bytes() for p in data_dir.glob("*.yml")}
    summary = export_resources(seeded_src, data_dir, types=NETWORK_TYPES)
    assert not any(summary["changed"].values())
    assert {p.name: p.read_bytes() for p in data_dir.glob("*.yml")} == before


def test_dry_run_shows_one_update_and_writes_nothing(migrated, tmp_path):
    data_dir = tmp_path / "edited"
    shutil.copytree(migrated["data_dir"], data_dir)
    edit(data_dir, "subnets", "app-subnet-b", dns_nameservers=["9.9.9.9", "149.112.112.112"])
    dst = migrated["dst"]
    dst.authorize()
    with RequestCounter(dst) as counter:
        result = import_resources(dst, data_dir, dry_run=True)
    assert counter.writes == 0, counter.write_urls
    assert result["counts"]["update"] == 1 and result["counts"]["create"] == 0
    (update,) = [a for a in result["actions"] if a["action"] == "update"]
    assert update["name"] == "app-subnet-b"
    assert update["changes"] == {
        "dns_nameservers": {"from": ["9.9.9.9"], "to": ["9.9.9.9", "149.112.112.112"]}
    }
    plan = yaml.safe_load((data_dir / "plans" / "subnets.yml").read_text())
    assert plan["dry_run"] is True and plan["counts"]["update"] == 1


def test_unresolvable_remote_group_is_refused_before_any_write(migrated, tmp_path):
    data_dir = tmp_path / "bad"
    shutil.copytree(migrated["data_dir"], data_dir)
    path = data_dir / "security_group_rules.yml"
    doc = yaml.safe_load(path.read_text())
    rule = next(r for r in doc["resources"] if r["params"].get("remote_group"))
    rule["params"]["remote_group"]["name"] = "ghost"
    path.write_text(yaml.safe_dump(doc))
    dst = migrated["dst"]
    dst.authorize()
    with RequestCounter(dst) as counter, pytest.raises(os_migrate.ValidationError) as e:
        import_resources(dst, data_dir)
    assert counter.writes == 0
    (error,) = e.value.errors
    assert str(path) in error and "params.remote_group" in error and "'ghost'" in error


def test_value_destination_cannot_accept_is_reported_before_any_write(migrated, tmp_path):
    dst = migrated["dst"]
    have = {e.alias for e in dst.network.extensions()}
    candidates = [
        ("dns_domain", "corp.example.", "dns-integration"),
        ("is_vlan_transparent", True, "vlan-transparent"),
        ("availability_zone_hints", ["az9"], "network_availability_zone"),
    ]
    missing = [(p, v, a) for p, v, a in candidates if a not in have]
    assert missing, f"destination has all of {[a for *_, a in candidates]}"
    param, value, alias = missing[0]
    data_dir = tmp_path / "ext"
    shutil.copytree(migrated["data_dir"], data_dir)
    edit(data_dir, "networks", "db-net", **{param: value})
    dst.authorize()
    with RequestCounter(dst) as counter, pytest.raises(os_migrate.ValidationError) as e:
        import_resources(dst, data_dir)
    assert counter.writes == 0
    assert any(f"params.{param}" in err and alias in err for err in e.value.errors)


def test_wrong_credentials_and_unreachable_cloud_are_clear_errors(tmp_path):
    import openstack.connection

    bad_password = openstack.connection.Connection(
        auth_type="password",
        auth={
            "auth_url": "http://127.0.0.1:5000/v3",
            "username": "dst-member",
            "password": "wrong",
            "project_name": "dst",
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        },
    )
    with pytest.raises(os_migrate.CloudError, match="refused the credentials") as e:
        export_resources(bad_password, tmp_path)
    assert "wrong" not in str(e.value)
    unreachable = openstack.connection.Connection(
        auth_type="password",
        auth={
            "auth_url": "http://127.0.0.1:9/v3",
            "username": "u",
            "password": "p",
            "project_name": "x",
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        },
    )
    with pytest.raises(os_migrate.CloudError, match="cannot be reached"):
        import_resources(unreachable, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_editing_one_field_updates_exactly_that_resource(migrated, tmp_path):
    data_dir = tmp_path / "edited"
    shutil.copytree(migrated["data_dir"], data_dir)
    edit(data_dir, "subnets", "db-subnet", description="edited by an operator")
    dst = migrated["dst"]
    before = revisions(dst)
    result = import_resources(dst, data_dir)
    assert result["counts"]["update"] == 1 and result["counts"]["create"] == 0
    after = revisions(dst)
    changed = {k for k in after if after[k] != before.get(k)}
    assert changed == {("subnet", "db-subnet")}
    subnet = find_or_none(dst.network.find_subnet, "db-subnet", project_id=dst.current_project_id)
    assert subnet.description == "edited by an operator"


def test_five_mistakes_give_one_report_and_the_destination_is_untouched(migrated, tmp_path):
    data_dir = tmp_path / "five"
    shutil.copytree(migrated["data_dir"], data_dir)
    nets = yaml.safe_load((data_dir / "networks.yml").read_text())
    nets["resources"].append(dict(nets["resources"][0]))  # 1 duplicate name
    nets["resources"][1]["params"]["name"] = ""  # 2 empty name
    (data_dir / "networks.yml").write_text(yaml.safe_dump(nets))
    subnets = yaml.safe_load((data_dir / "subnets.yml").read_text())
    del subnets["resources"][0]["params"]["cidr"]  # 3 missing required param
    subnets["resources"][1]["params"]["network"]["name"] = "no-such-net"  # 4 unresolved ref
    (data_dir / "subnets.yml").write_text(yaml.safe_dump(subnets))
    routers = yaml.safe_load((data_dir / "routers.yml").read_text())
    routers["resources"][0]["params"]["external_gateway_info"]["network"]["name"] = "nowhere"  # 5
    (data_dir / "routers.yml").write_text(yaml.safe_dump(routers))
    dst = migrated["dst"]
    before = revisions(dst)
    dst.authorize()
    with RequestCounter(dst) as counter, pytest.raises(os_migrate.ValidationError) as e:
        import_resources(dst, data_dir)
    assert counter.writes == 0
    assert revisions(dst) == before
    text = "\n".join(e.value.errors)
    assert len(e.value.errors) == 5, text
    assert "duplicate networks identity" in text
    assert "params.name: is required and must not be empty" in text
    assert "params.cidr: is required" in text
    assert "'no-such-net' does not resolve" in text
    assert "params.external_gateway_info.network: network 'nowhere' does not resolve" in text
