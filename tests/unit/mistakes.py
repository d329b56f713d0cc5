"""A small valid tenant data set and one mistake of each class the destination APIs refuse.

Shared by the unit tests (``test_api_rules.py``), the integration test that imports all the
mistakes at once (``tests/integration/test_validation_before_write.py``) and the property test.
Each mistake *adds* a record (or replaces a file), so any set of them applies to the valid set.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, NamedTuple

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from os_migrate.serialization import write_resources

AUTH = {"project_name": "%auth%", "domain_name": "%auth%"}
PUBLIC_KEY = (
    ed25519.Ed25519PrivateKey.generate()
    .public_key()
    .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    .decode()
)


def ref(name: str) -> dict:
    return {"name": name, **AUTH}


def rec(type_name: str, **params: Any) -> dict:
    return {"type": type_name, "params": params, "_info": {}, "_migration_params": {}}


NET, SUBNET, ROUTER, IFACE = (
    "openstack.network.Network",
    "openstack.network.Subnet",
    "openstack.network.Router",
    "openstack.network.RouterInterface",
)
SG, RULE, KEYPAIR, SRVGROUP, IMAGE = (
    "openstack.network.SecurityGroup",
    "openstack.network.SecurityGroupRule",
    "openstack.compute.Keypair",
    "openstack.compute.ServerGroup",
    "openstack.image.Image",
)

#: A valid tenant data set (no images: their import needs the source cloud).
VALID: dict[str, list[dict]] = {
    "networks": [rec(NET, name="prop-net", description="app")],
    "subnets": [
        rec(
            SUBNET,
            name="prop-subnet",
            network=ref("prop-net"),
            cidr="10.61.0.0/24",
            ip_version=4,
            gateway_ip="10.61.0.1",
            allocation_pools=[{"start": "10.61.0.10", "end": "10.61.0.100"}],
            dns_nameservers=["10.61.0.2"],
            host_routes=[{"destination": "10.62.0.0/24", "nexthop": "10.61.0.254"}],
        )
    ],
    "routers": [rec(ROUTER, name="prop-router")],
    "router_interfaces": [
        rec(IFACE, router=ref("prop-router"), subnet=ref("prop-subnet"), ip_address="10.61.0.1")
    ],
    "security_groups": [rec(SG, name="prop-web", description="web")],
    "security_group_rules": [
        rec(
            RULE,
            security_group=ref("prop-web"),
            direction="ingress",
            ether_type="IPv4",
            protocol="tcp",
            port_range_min=22,
            port_range_max=22,
            remote_ip_prefix="10.0.0.0/8",
        )
    ],
    "keypairs": [rec(KEYPAIR, name="prop-key", public_key=PUBLIC_KEY)],
    "server_groups": [rec(SRVGROUP, name="prop-group", policy="anti-affinity")],
}


class Mistake(NamedTuple):
    """One mistake: the record added to ``type_key`` (or the raw bytes of its file) and a
    substring of the error it must produce."""

    id: str
    type_key: str
    record: dict | None
    expected: str
    raw: bytes | None = None


def _subnet(name: str, **over: Any) -> dict:
    base = {"name": name, "network": ref("prop-net"), "cidr": "10.70.0.0/24", "ip_version": 4}
    return rec(SUBNET, **{**base, **over})


def _rule(sg: str = "prop-web", **over: Any) -> dict:
    base = {"security_group": ref(sg), "direction": "ingress", "ether_type": "IPv4", "protocol": "tcp"}
    return rec(RULE, **{**base, **over})


#: One mistake per class, each on its own record so they add up.
MISTAKES: tuple[Mistake, ...] = (
    Mistake("cidr-syntax", "subnets", _subnet("m-cidr", cidr="10.71.0.300/24"), "is not a CIDR"),
    Mistake("cidr-host-bits", "subnets", _subnet("m-host", cidr="10.72.0.5/24"), "has host bits set"),
    Mistake("ip-version", "subnets", _subnet("m-ver", cidr="fd00:73::/64"), "expected IPv4"),
    Mistake(
        "gateway-syntax",
        "subnets",
        _subnet("m-gw", cidr="10.74.0.0/24", gateway_ip="10.74.0"),
        "is not an IP",
    ),
    Mistake(
        "pool-outside",
        "subnets",
        _subnet(
            "m-pool", cidr="10.75.0.0/24", allocation_pools=[{"start": "10.75.0.10", "end": "10.75.1.5"}]
        ),
        "is not inside the usable addresses",
    ),
    Mistake(
        "pools-overlap",
        "subnets",
        _subnet(
            "m-pools",
            cidr="10.76.0.0/24",
            allocation_pools=[
                {"start": "10.76.0.10", "end": "10.76.0.50"},
                {"start": "10.76.0.40", "end": "10.76.0.60"},
            ],
        ),
        "overlaps params.allocation_pools[0]",
    ),
    Mistake(
        "gateway-in-pool",
        "subnets",
        _subnet(
            "m-gwpool",
            cidr="10.77.0.0/24",
            gateway_ip="10.77.0.20",
            allocation_pools=[{"start": "10.77.0.10", "end": "10.77.0.50"}],
        ),
        "contains the gateway",
    ),
    Mistake(
        "pool-start-after-end",
        "subnets",
        _subnet(
            "m-order", cidr="10.78.0.0/24", allocation_pools=[{"start": "10.78.0.50", "end": "10.78.0.10"}]
        ),
        "is after end",
    ),
    Mistake(
        "dns-not-ip",
        "subnets",
        _subnet("m-dns", cidr="10.79.0.0/24", dns_nameservers=["ns1.example"]),
        "is not an IP",
    ),
    Mistake(
        "route-version",
        "subnets",
        _subnet(
            "m-route", cidr="10.80.0.0/24", host_routes=[{"destination": "fd00::/64", "nexthop": "10.80.0.1"}]
        ),
        "expected IPv4",
    ),
    Mistake(
        "ipv6-mode-on-v4",
        "subnets",
        _subnet("m-v6mode", cidr="10.81.0.0/24", ipv6_ra_mode="slaac"),
        "on an IPv4 subnet",
    ),
    Mistake("subnets-overlap", "subnets", _subnet("m-overlap", cidr="10.61.0.128/25"), "on the same network"),
    Mistake("neutron-name-length", "networks", rec(NET, name="n" * 256), "the API accepts at most 255"),
    Mistake("dns-domain", "networks", rec(NET, name="m-dnsdom", dns_domain="no dots"), "is not a DNS domain"),
    Mistake(
        "router-route",
        "routers",
        rec(ROUTER, name="m-routes", routes=[{"destination": "10.90.0.0/33", "nexthop": "10.61.0.5"}]),
        "is not a CIDR",
    ),
    Mistake(
        "interface-outside-subnet",
        "router_interfaces",
        rec(IFACE, router=ref("m-iface-router"), subnet=ref("prop-subnet"), ip_address="10.99.0.1"),
        "is not inside 10.61.0.0/24",
    ),
    Mistake(
        "port-zero",
        "security_group_rules",
        _rule(port_range_min=0, port_range_max=0),
        "is not a port (1-65535)",
    ),
    Mistake(
        "port-min-max", "security_group_rules", _rule(port_range_min=90, port_range_max=80), "is greater than"
    ),
    Mistake("protocol", "security_group_rules", _rule(protocol="tcpx"), "is not a protocol Neutron knows"),
    Mistake(
        "icmp-code", "security_group_rules", _rule(protocol="icmp", port_range_min=300), "ICMP type/code"
    ),
    Mistake(
        "ethertype-family",
        "security_group_rules",
        _rule(remote_ip_prefix="fd00::/64", protocol="udp"),
        "is IPv6 but ether_type is IPv4",
    ),
    Mistake(
        "ports-need-protocol",
        "security_group_rules",
        _rule(protocol=None, port_range_min=5, port_range_max=5),
        "needs a protocol",
    ),
    Mistake(
        "keypair-name",
        "keypairs",
        rec(KEYPAIR, name="bad/name", public_key=PUBLIC_KEY),
        "may hold only letters",
    ),
    Mistake(
        "keypair-key",
        "keypairs",
        rec(KEYPAIR, name="m-badkey", public_key="ssh-rsa AAAAnotakey"),
        "is not an OpenSSH public key",
    ),
    Mistake(
        "nova-name-blank", "server_groups", rec(SRVGROUP, name="   ", policy="affinity"), "must not be blank"
    ),
    Mistake(
        "image-disk-format",
        "images",
        rec(IMAGE, name="m-img", disk_format="qcow3", container_format="bare"),
        "is not one of Glance's",
    ),
    Mistake(
        "image-container-format",
        "images",
        rec(IMAGE, name="m-img2", disk_format="raw", container_format="zip"),
        "is not one of Glance's",
    ),
    Mistake(
        "non-utf8-file",
        "address_groups",
        None,
        "address_groups.yml: not UTF-8: byte 0xe9 at line 5",
        raw="os_migrate_version: 1\nresources:\n- type: openstack.network.AddressGroup\n  params:\n    name: caf\xe9\n".encode(
            "latin-1"
        ),
    ),
)

#: A router for the interface mistake (valid itself).
EXTRA_VALID = {"routers": [rec(ROUTER, name="m-iface-router")]}


def write_data_dir(path: Path, mistakes: tuple[Mistake, ...] | list[Mistake] = ()) -> Path:
    """Write :data:`VALID` plus ``mistakes`` as a data dir at ``path``; returns ``path``."""
    data = copy.deepcopy(VALID)
    for k, v in EXTRA_VALID.items():
        data[k] = data.get(k, []) + copy.deepcopy(v)
    raw = {}
    for m in mistakes:
        if m.raw is not None:
            raw[m.type_key] = m.raw
        else:
            data.setdefault(m.type_key, []).append(copy.deepcopy(m.record))
    path.mkdir(parents=True, exist_ok=True)
    for type_key, records in data.items():
        write_resources(path / f"{type_key}.yml", records)
    for type_key, content in raw.items():
        (path / f"{type_key}.yml").write_bytes(content)
    return path
