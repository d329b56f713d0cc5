"""Bulk creates and their fallback against the real local cloud (issue 13).

Neutron takes a list body for networks, subnets, security groups and rules; the import sends one,
and when Neutron refuses it (a record it will not accept, or a type without bulk support) it
creates the records one by one so that the error names the record.
"""

from __future__ import annotations

import time

import pytest
import yaml
from openstack.network.v2.router import Router as SdkRouter

from os_migrate import RequestCounter, import_resources
from os_migrate.cloud import bulk_create
from os_migrate.const import FORMAT_VERSION, VERSION_KEY
from os_migrate.exceptions import ApplyError
from os_migrate.references import make_ref
from os_migrate.resources import Network, Router, SecurityGroup, SecurityGroupRule, Subnet


def write_data(data_dir, cls, params_list):
    records = [{"type": cls.type, "params": params} for params in params_list]
    doc = {VERSION_KEY: FORMAT_VERSION, "resources": records}
    (data_dir / f"{cls.type_key}.yml").write_text(yaml.safe_dump(doc))


def subnet_names(conn):
    return sorted(n.name for n in conn.network.subnets(project_id=conn.current_project_id))


def post_counts(counter, path):
    return sum(1 for url in counter.write_urls if url.startswith("POST ") and url.rstrip("/").endswith(path))


def test_each_bulk_type_is_created_in_one_request_per_type_or_group(empty_dst, tmp_path, report_figure):
    n = 12
    write_data(tmp_path, Network, [{"name": f"bulk-net-{i}"} for i in range(n)])
    write_data(
        tmp_path,
        Subnet,
        [
            {
                "name": f"bulk-sub-{i}",
                "network": make_ref(f"bulk-net-{i}"),
                "cidr": f"10.77.{i}.0/24",
                "ip_version": 4,
            }
            for i in range(n)
        ],
    )
    write_data(tmp_path, SecurityGroup, [{"name": f"bulk-sg-{g}"} for g in range(n // 2)])
    rules = [
        {
            "security_group": make_ref(f"bulk-sg-{g}"),
            "direction": "ingress",
            "ether_type": "IPv4",
            "protocol": "tcp",
            "port_range_min": port,
            "port_range_max": port,
        }
        for g in range(n // 2)
        for port in (22, 443)
    ]
    write_data(tmp_path, SecurityGroupRule, rules)
    types = ["networks", "subnets", "security_groups", "security_group_rules"]

    t0 = time.perf_counter()
    with RequestCounter(empty_dst) as counter:
        result = import_resources(empty_dst, tmp_path, types=types)
    seconds = time.perf_counter() - t0

    total = n + n + n // 2 + len(rules)
    assert result["counts"]["create"] == total
    for path in ("/networks", "/subnets", "/security-groups"):
        assert post_counts(counter, path) == 1, path
    # Neutron takes the rules of one group per list body
    assert post_counts(counter, "/security-group-rules") == n // 2
    # the writes left: Neutron's two default egress rules of each new group, deleted
    assert counter.by_method["DELETE"] == n
    for group in empty_dst.network.security_groups(project_id=empty_dst.current_project_id):
        if group.name.startswith("bulk-sg-"):
            got = sorted(
                r.port_range_min for r in empty_dst.network.security_group_rules(security_group_id=group.id)
            )
            assert got == [22, 443], group.name  # exactly the data set's rules
    report_figure(f"bulk import of {total} resources: {counter.writes} write requests, {seconds:.1f} s")


def test_a_refused_record_fails_alone_named_by_file_and_field_and_a_rerun_finishes(
    empty_dst, tmp_path, report_figure
):
    """A subnet overlapping one the destination already has (not in the data set, so validation
    cannot know): Neutron refuses the list, and the one-by-one creates name that record."""
    write_data(tmp_path, Network, [{"name": "bulk-net"}])
    write_data(
        tmp_path,
        Subnet,
        [
            {
                "name": f"bulk-sub-{i}",
                "network": make_ref("bulk-net"),
                "cidr": f"10.78.{i}.0/24",
                "ip_version": 4,
            }
            for i in range(4)
        ],
    )
    net = empty_dst.network.create_network(name="bulk-net")
    squatter = empty_dst.network.create_subnet(
        name="squatter", network_id=net.id, cidr="10.78.2.0/25", ip_version=4
    )

    with RequestCounter(empty_dst) as counter, pytest.raises(ApplyError) as err:
        import_resources(empty_dst, tmp_path, types=["networks", "subnets"])

    assert len(err.value.errors) == 1
    message = err.value.errors[0]
    assert message.startswith(f"{tmp_path}/subnets.yml:")  # the file (and line) of the record
    assert "resources[2] (openstack.network.Subnet 'bulk-sub-2')" in message
    assert "cidr" in message.lower() and "overlap" in message.lower()
    assert subnet_names(empty_dst) == ["bulk-sub-0", "bulk-sub-1", "bulk-sub-3", "squatter"]
    # one list body (refused as a whole), then one request per subnet
    assert post_counts(counter, "/subnets") == 1 + 4
    report_figure("refused bulk of 4 subnets: 1 list body + 4 single creates, 1 error naming its record")

    empty_dst.network.delete_subnet(squatter)
    with RequestCounter(empty_dst) as counter:
        # the hand-written records leave fields to the API's defaults: import only the one left
        result = import_resources(empty_dst, tmp_path, types=["subnets"], filters={"subnets": ["bulk-sub-2"]})
    assert result["counts"] == {"create": 1, "update": 0, "unchanged": 0, "skip": 3}
    assert counter.writes == 1
    assert subnet_names(empty_dst) == [f"bulk-sub-{i}" for i in range(4)]


def test_a_type_neutron_cannot_bulk_create_falls_back_to_one_request_each(empty_dst, tmp_path, monkeypatch):
    """Neutron has no bulk create of routers: declared bulk here, the list body is refused (400
    "Bulk operation not supported") and every router is created alone."""
    monkeypatch.setattr(Router, "bulk", True)
    monkeypatch.setattr(
        Router,
        "bulk_create_sdk",
        classmethod(lambda cls, conn, bodies: bulk_create(conn.network, SdkRouter, bodies)),
    )
    write_data(tmp_path, Router, [{"name": f"bulk-router-{i}"} for i in range(3)])

    with RequestCounter(empty_dst) as counter:
        result = import_resources(empty_dst, tmp_path, types=["routers"])

    assert result["counts"]["create"] == 3
    routers = sorted(r.name for r in empty_dst.network.routers(project_id=empty_dst.current_project_id))
    assert routers == [f"bulk-router-{i}" for i in range(3)]
    assert post_counts(counter, "/routers") == 1 + 3
