"""What the destination APIs would refuse is reported before any write: one test per mistake class."""

from __future__ import annotations

import base64
import copy

import pytest

from os_migrate import serialization, validate_data_dir
from os_migrate.dataset import check_record
from os_migrate.exceptions import DataError
from os_migrate.resources import REGISTRY
from os_migrate.workload.records import DetachedVolume, Server
from tests.unit.mistakes import MISTAKES, PUBLIC_KEY, Mistake, rec, ref, write_data_dir


def test_the_valid_data_set_has_no_errors(tmp_path):
    assert validate_data_dir(write_data_dir(tmp_path)) == []


@pytest.mark.parametrize("mistake", MISTAKES, ids=[m.id for m in MISTAKES])
def test_each_mistake_class_is_reported_with_file_resource_and_field(tmp_path, mistake):
    errors = validate_data_dir(write_data_dir(tmp_path, [mistake]))
    assert errors, mistake.id
    assert all(f"{mistake.type_key}.yml" in e for e in errors), errors
    assert any(mistake.expected in e for e in errors), errors


def test_all_mistakes_at_once_give_one_report_listing_each(tmp_path):
    errors = validate_data_dir(write_data_dir(tmp_path, MISTAKES))
    missing = [m.id for m in MISTAKES if not any(m.expected in e for e in errors)]
    assert missing == []


def _check(cls, record):
    return check_record(serialization.Path("x.yml"), 0, record, cls)


SERVER = rec(
    "openstack.compute.Server",
    name="web-1",
    flavor={"name": "m1.small"},
    metadata={"role": "web"},
    tags=["a"],
    ports=[
        {
            "network": ref("app-net"),
            "fixed_ips": [{"subnet": ref("app-subnet"), "ip_address": "10.0.0.5"}],
            "mac_address": "fa:16:3e:00:00:01",
            "allowed_address_pairs": [{"ip_address": "10.0.0.0/24"}],
        }
    ],
    floating_ips=[
        {
            "floating_ip_address": "172.24.4.10",
            "floating_network": ref("public"),
            "fixed_ip_address": "10.0.0.5",
        }
    ],
    volumes=[{"name": "root", "size": 1, "device": "/dev/vda", "metadata": {}}],
)


def _server(**changes):
    record = copy.deepcopy(SERVER)
    for path, value in changes.items():
        target = record["params"]
        keys = path.split("__")
        for k in keys[:-1]:
            target = target[int(k)] if k.isdigit() else target[k]
        target[keys[-1]] = value
    return record


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"name": " web"}, "leading or trailing whitespace"),
        ({"name": "w" * 256}, "at most 255"),
        ({"metadata": {"k": "v" * 256}}, "params.metadata.k: value of 256 characters"),
        ({"tags": ["a/b"]}, "is not a Nova tag"),
        ({"user_data": "not base64!"}, "is not base64"),
        ({"user_data": base64.b64encode(b"x" * 70000).decode()}, "Nova accepts at most 65535"),
        ({"ports__0__mac_address": "fa:16:3e:00:01"}, "is not a MAC address"),
        ({"ports__0__mac_address": "01:00:5e:00:00:01"}, "multicast or zero MAC"),
        ({"ports__0__fixed_ips__0__ip_address": "10.0.0.256"}, "is not an IP address"),
        ({"ports__0__allowed_address_pairs": [{"ip_address": "nope"}]}, "is not an IP address or CIDR"),
        ({"ports__0__allowed_address_pairs": [{"ip_address": "10.0.0.9", "mac_address": "x"}]}, "not a MAC"),
        ({"ports__0__name": "p" * 256}, "params.ports[0].name: 256 characters"),
        ({"floating_ips__0__floating_ip_address": "fd00::1"}, "expected IPv4"),
        ({"floating_ips__0__fixed_ip_address": "10.0.0.6"}, "is not a fixed IP of the server's ports"),
        ({"volumes__0__name": "v" * 256}, "params.volumes[0].name: 256 characters"),
        ({"volumes__0__metadata": {"k" * 256: "v"}}, "keys must be 1-255"),
    ],
)
def test_server_port_floating_ip_and_volume_mistakes(changes, expected):
    assert _check(Server, _server()) == []
    errors = _check(Server, _server(**changes))
    assert any(expected in e for e in errors), errors


def test_a_router_interface_on_the_broadcast_address_is_refused(tmp_path):
    from tests.unit.mistakes import IFACE
    from tests.unit.mistakes import rec as record
    from tests.unit.mistakes import write_data_dir as write

    bad = Mistake(
        "x",
        "router_interfaces",
        record(IFACE, router=ref("m-iface-router"), subnet=ref("prop-subnet"), ip_address="10.61.0.255"),
        "",
    )
    errors = validate_data_dir(write(tmp_path, [bad]))
    assert any("10.61.0.255 is the network or broadcast address of 10.61.0.0/24" in e for e in errors), errors


def test_volume_mistakes():
    volume = rec("openstack.block_storage.Volume", name="data", size=1, description="d" * 256)
    assert any("params.description: 256 characters" in e for e in _check(DetachedVolume, volume))
    assert any("minimum of 1" in e for e in _check(DetachedVolume, rec(volume["type"], name="d", size=0)))


@pytest.mark.parametrize(
    ("type_key", "params", "expected"),
    [
        ("domains", {"name": "d" * 65}, "at most 64"),
        ("projects", {"name": "p" * 65, "domain": {"name": "Default"}}, "at most 64"),
        ("groups", {"name": "g" * 65, "domain": {"name": "Default"}}, "at most 64"),
        ("users", {"name": "u" * 256, "domain": {"name": "Default"}}, "at most 255"),
        ("roles", {"name": " "}, "must not be blank"),
        ("flavors", {"name": "f1", "vcpus": 2**31, "ram": 1}, "params.vcpus: 2147483648 is outside"),
        ("flavors", {"name": " f1", "vcpus": 1, "ram": 1}, "leading or trailing whitespace"),
        ("flavors", {"name": "f1", "vcpus": 1, "ram": 1, "extra_specs": {"k": "v" * 256}}, "at most 255"),
        (
            "images",
            {"name": "i", "disk_format": "raw", "container_format": "bare", "tags": ["t" * 256]},
            "255",
        ),
        ("keypairs", {"name": "k", "public_key": "-----BEGIN", "type": "x509"}, "PEM X.509"),
        ("keypairs", {"name": "k" * 256, "public_key": PUBLIC_KEY}, "at most 255"),
        ("networks", {"name": "n", "availability_zone_hints": [""]}, "must not be blank"),
        ("address_groups", {"name": "a", "description": "d" * 256}, "at most 255"),
        ("router_interfaces", {"router": ref("r"), "subnet": ref("s"), "ip_address": "10.0.0"}, "not an IP"),
        (
            "subnets",
            {
                "name": "s",
                "network": ref("n"),
                "cidr": "fd00::/64",
                "ip_version": 6,
                "ipv6_ra_mode": "slaac",
                "ipv6_address_mode": "dhcpv6-stateful",
            },
            "must be equal",
        ),
        (
            "subnets",
            {
                "name": "s",
                "network": ref("n"),
                "cidr": "10.0.0.0/24",
                "ip_version": 4,
                "gateway_ip": "10.0.0.255",
            },
            "broadcast address",
        ),
        (
            "subnets",
            {
                "name": "s",
                "network": ref("n"),
                "cidr": "10.0.0.0/24",
                "ip_version": 4,
                "dns_nameservers": ["10.0.0.2", "10.0.0.2"],
            },
            "listed twice",
        ),
        (
            "subnets",
            {
                "name": "s",
                "network": ref("n"),
                "cidr": "10.0.0.0/24",
                "ip_version": 4,
                "host_routes": [{"destination": "10.1.0.5/24", "nexthop": "10.0.0.9"}],
            },
            "has host bits set",
        ),
        (
            "subnets",
            {
                "name": "s",
                "network": ref("n"),
                "cidr": "10.0.0.0/24",
                "ip_version": 4,
                "allocation_pools": [{"start": "10.0.0.1", "end": "10.0.0.9"}],
            },
            "contains the gateway 10.0.0.1 (Neutron's default gateway",
        ),
        (
            "security_group_rules",
            {"security_group": ref("g"), "direction": "ingress", "ether_type": "IPv6", "protocol": "icmp"},
            "'ipv6-icmp'",
        ),
        (
            "security_group_rules",
            {
                "security_group": ref("g"),
                "direction": "ingress",
                "ether_type": "IPv4",
                "protocol": "ipv6-icmp",
            },
            "is an IPv6 protocol but ether_type is IPv4",
        ),
        (
            "security_group_rules",
            {
                "security_group": ref("g"),
                "direction": "ingress",
                "ether_type": "IPv4",
                "protocol": "gre",
                "port_range_min": 1,
                "port_range_max": 2,
            },
            "has no ports",
        ),
    ],
)
def test_admin_and_remaining_type_mistakes(type_key, params, expected):
    cls = REGISTRY[type_key]
    errors = _check(cls, rec(cls.type, **params))
    assert any(expected in e for e in errors), errors


# -- bytes of data files -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\x00\x01binary", "binary content (NUL byte at line 1, column 1)"),
        (
            "os_migrate_version: 1\nresources:\n- x: caf\xe9\n".encode("latin-1"),
            "not UTF-8: byte 0xe9 at line 3",
        ),
        (b"os_migrate_version: 1\nresources: [\xe2\x82", "not UTF-8"),  # truncated multi-byte character
        (b"os_migrate_version: 1\nresources:\n- type: 'openstack.net", "malformed YAML: line 3"),
        (b"os_migrate_version: 1\nx: \x07\n", "malformed YAML: line 2, column 4: control characters"),
        (b"a: [1\nb: 2", "malformed YAML: line 2, column 2"),
        (b"- [" * 20000, "malformed YAML"),
    ],
    ids=["binary", "latin-1", "truncated-utf8", "truncated-yaml", "control-char", "syntax", "deep-nesting"],
)
def test_any_bytes_in_a_data_file_give_an_error_naming_the_file(tmp_path, content, expected):
    path = tmp_path / "networks.yml"
    path.write_bytes(content)
    errors = validate_data_dir(tmp_path)
    assert len(errors) == 1 and errors[0].startswith(f"{path}: "), errors
    assert expected in errors[0]
    assert "<unicode string>" not in errors[0]


def test_a_huge_data_file_is_refused_unread(tmp_path, monkeypatch):
    monkeypatch.setattr(serialization, "MAX_DATA_FILE_BYTES", 1000)
    path = tmp_path / "keypairs.yml"
    path.write_bytes(b"#" * 1001)
    with pytest.raises(DataError, match=r"keypairs.yml: file of 1001 bytes; data files are limited to 1000"):
        serialization.load_resources(path)


def test_the_workload_file_gets_the_same_byte_checks(tmp_path):
    from os_migrate.exceptions import DataError as Err
    from os_migrate.workload.store import load_servers

    (tmp_path / "workloads.yml").write_bytes(b"\xff\xfe")
    with pytest.raises(Err, match="workloads.yml: not UTF-8"):
        load_servers(tmp_path)
