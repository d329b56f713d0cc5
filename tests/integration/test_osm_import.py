"""An OS Migrate 1.x data dir (tests/fixtures/osm_1x) converted, validated and imported into dst.

The conversion and the import run through the ``os-migrate`` console script; the test reads the
destination to check what was created, then re-imports and checks that nothing was written.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from os_migrate.cloud import find_or_none

from .test_cli import json_of, os_migrate
from .test_network_migration import revisions

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "osm_1x"
IMPORT_TYPES = "networks,subnets,routers,router_interfaces,security_groups,security_group_rules,keypairs"
KEYPAIR = "osm-key"


@pytest.fixture(scope="module")
def converted(dst, tmp_path_factory):
    from sample_tenant import clean

    clean(dst)
    dst.compute.delete_keypair(KEYPAIR, ignore_missing=True)
    out = tmp_path_factory.mktemp("osm") / "data"
    report = json_of(os_migrate("import-osm", str(FIXTURE), str(out), "-f", "json"))
    yield {"dir": out, "report": report}
    dst.compute.delete_keypair(KEYPAIR, ignore_missing=True)


def test_conversion_reports_what_it_cannot_map(converted):
    report = converted["report"]
    assert report["src_project"] == "osm-tenant"
    assert report["counts"]["router_interfaces"] == 2
    assert any("openstack.compute.Server are not converted" in d for d in report["dropped"])


def test_converted_dir_validates_against_the_destination(converted):
    # every type, images included: references (the external network "public"), extensions,
    # admin-only values and microversions are checked against devcloud's dst project
    result = json_of(
        os_migrate(
            "validate", "--dst-cloud", "devcloud-dst", "--data-dir", str(converted["dir"]), "-f", "json"
        )
    )
    assert result["valid"] is True and result["errors"] == []


def test_import_creates_the_converted_tenant_and_reimport_writes_nothing(converted, dst):
    common = ["--dst-cloud", "devcloud-dst", "--data-dir", str(converted["dir"]), "--types", IMPORT_TYPES]
    result = json_of(os_migrate("import", *common, "-f", "json"))
    counts = result["counts"]
    assert counts["create"] == 1 + 2 + 1 + 2 + 2 + 3 + 1, result
    assert counts["update"] == 1  # the router's static route, applied after its interfaces
    assert {"type": "routers", "name": "osm-router", "action": "update", "phase": "routes"}.items() <= next(
        a for a in result["actions"] if a["action"] == "update"
    ).items()

    pid = dst.current_project_id
    net = find_or_none(dst.network.find_network, "osm-net", project_id=pid)
    assert net.description == "converted from OS Migrate"
    subnets = {s.name: s for s in dst.network.subnets(project_id=pid)}
    assert subnets["osm-subnet"].cidr == "10.40.1.0/24"
    assert subnets["osm-subnet"].network_id == net.id
    assert subnets["osm-subnet"].dns_nameservers == ["1.1.1.1", "8.8.8.8"]
    assert subnets["osm-subnet-b"].is_dhcp_enabled is False
    router = find_or_none(dst.network.find_router, "osm-router", project_id=pid)
    public = find_or_none(dst.network.find_network, "public")
    assert router.external_gateway_info["network_id"] == public.id
    assert router.routes == [{"destination": "192.168.77.0/24", "nexthop": "10.40.2.254"}]
    ports = dst.network.ports(device_id=router.id, device_owner="network:router_interface")
    assert sorted(ip["ip_address"] for p in ports for ip in p.fixed_ips) == ["10.40.1.1", "10.40.2.5"]
    groups = {g.name: g for g in dst.network.security_groups(project_id=pid)}
    db_rules = list(dst.network.security_group_rules(security_group_id=groups["osm-db"].id))
    assert [(r.direction, r.port_range_min, r.remote_group_id) for r in db_rules] == [
        ("ingress", 5432, groups["osm-web"].id)
    ]
    assert find_or_none(dst.compute.find_keypair, KEYPAIR).public_key.startswith("ssh-ed25519 ")

    before = revisions(dst)
    again = json_of(os_migrate("import", *common, "-f", "json"))
    assert again["requests"]["writes"] == 0
    assert again["counts"]["create"] == 0 and again["counts"]["update"] == 0
    assert revisions(dst) == before
