"""Resource classes: SDK object -> record, normalization, comparison and request bodies."""

from openstack.network.v2.network import Network as SdkNetwork
from openstack.network.v2.router import Router as SdkRouter
from openstack.network.v2.security_group_rule import SecurityGroupRule as SdkRule
from openstack.network.v2.subnet import Subnet as SdkSubnet

from os_migrate.resources import Network, Router, SecurityGroupRule, Subnet
from os_migrate.resources.base import values_equal

from .fakes import FakeRefs

SUBNET = dict(
    id="s1",
    name="app-sub",
    network_id="network-app",
    cidr="10.0.0.0/24",
    ip_version=4,
    gateway_ip="10.0.0.1",
    enable_dhcp=True,
    project_id="proj-auth",
    revision_number=3,
    allocation_pools=[
        {"start": "10.0.0.100", "end": "10.0.0.200"},
        {"start": "10.0.0.10", "end": "10.0.0.50"},
    ],
    dns_nameservers=["8.8.8.8", "1.1.1.1"],
    host_routes=[
        {"destination": "192.168.2.0/24", "nexthop": "10.0.0.5"},
        {"destination": "192.168.1.0/24", "nexthop": "10.0.0.4"},
    ],
    service_types=[],
    description="",
)


def test_subnet_record_shape():
    res = Subnet.from_sdk(SdkSubnet(**SUBNET), FakeRefs())
    assert res.record["type"] == "openstack.network.Subnet"
    p = res.params
    assert p["network"] == {"name": "app", "project_name": "%auth%", "domain_name": "%auth%"}
    assert p["is_dhcp_enabled"] is True
    # unordered lists sorted, DNS order (resolver order) kept
    assert [r["destination"] for r in p["host_routes"]] == ["192.168.1.0/24", "192.168.2.0/24"]
    assert [a["start"] for a in p["allocation_pools"]] == ["10.0.0.10", "10.0.0.100"]
    assert p["dns_nameservers"] == ["8.8.8.8", "1.1.1.1"]
    # empty values are not params; source facts go to _info
    assert "service_types" not in p and "description" not in p
    assert res.info["id"] == "s1" and res.info["revision_number"] == 3
    assert "id" not in p and "network_id" not in p


def test_unsorted_host_routes_and_pools_are_no_difference():
    src = Subnet.from_sdk(SdkSubnet(**SUBNET), FakeRefs())
    shuffled = dict(
        SUBNET,
        host_routes=list(reversed(SUBNET["host_routes"])),
        allocation_pools=list(reversed(SUBNET["allocation_pools"])),
    )
    dst = Subnet.from_sdk(SdkSubnet(**shuffled), FakeRefs())
    edited = Subnet(
        dict(src.record, params=dict(src.params, host_routes=list(reversed(src.params["host_routes"]))))
    )
    assert src.diff(dst) == {}
    assert edited.diff(dst) == {}


def test_update_body_never_carries_read_only_fields():
    dst = Subnet.from_sdk(SdkSubnet(**SUBNET), FakeRefs())
    want = Subnet(
        dict(
            dst.record, params=dict(dst.params, cidr="10.9.0.0/24", ip_version=6, dns_nameservers=["9.9.9.9"])
        )
    )
    changes = want.diff(dst)
    assert set(changes) == {"cidr", "ip_version", "dns_nameservers"}
    assert want.conflicts(changes) == ["cidr", "ip_version"]
    assert want.update_body(changes, FakeRefs()) == {"dns_nameservers": ["9.9.9.9"]}


def test_cleared_value_is_sent_as_empty_of_its_type():
    dst = Subnet.from_sdk(SdkSubnet(**SUBNET), FakeRefs())
    want = Subnet(dict(dst.record, params={k: v for k, v in dst.params.items() if k != "dns_nameservers"}))
    changes = want.diff(dst)
    assert want.update_body(changes, FakeRefs()) == {"dns_nameservers": []}


def test_subnet_without_gateway_keeps_explicit_none():
    res = Subnet.from_sdk(SdkSubnet(**dict(SUBNET, gateway_ip=None)), FakeRefs())
    assert res.params["gateway_ip"] is None
    assert res.create_body(FakeRefs())["gateway_ip"] is None


def test_network_create_body_leaves_out_empty_and_default_values():
    net = Network.from_sdk(
        SdkNetwork(
            id="n1",
            name="app",
            dns_domain="",
            shared=False,
            port_security_enabled=True,
            admin_state_up=True,
            availability_zone_hints=[],
            mtu=1450,
            **{"router:external": False},
        ),
        FakeRefs(),
    )
    assert net.create_body(FakeRefs()) == {"name": "app"}
    assert net.info["mtu"] == 1450
    assert net.required_extensions() == {}
    net2 = Network(dict(net.record, params=dict(net.params, dns_domain="corp.example.")))
    assert net2.required_extensions() == {"dns_domain": "dns-integration"}


def test_router_gateway_reference_and_body():
    sdk = SdkRouter(
        id="r1",
        name="edge",
        routes=[],
        external_gateway_info={
            "network_id": "network-public",
            "enable_snat": True,
            "external_fixed_ips": [{"subnet_id": "x", "ip_address": "172.24.4.20"}],
        },
    )
    res = Router.from_sdk(sdk, FakeRefs())
    assert res.params["external_gateway_info"]["network"]["name"] == "public"
    assert res.info["external_fixed_ips"][0]["ip_address"] == "172.24.4.20"
    assert res.create_body(FakeRefs()) == {
        "name": "edge",
        "external_gateway_info": {"network_id": "network-public"},
    }


def test_router_routes_are_deferred():
    res = Router(
        {
            "type": Router.type,
            "params": {"name": "edge", "routes": [{"destination": "10.1.0.0/16", "nexthop": "10.0.0.9"}]},
        }
    )
    twin = Router({"type": Router.type, "params": {"name": "edge"}})
    assert "routes" not in res.create_body(FakeRefs())
    assert res.diff(twin) == {}
    assert list(res.diff(twin, only=["routes"])) == ["routes"]


def test_rule_identity_and_immutability():
    sdk = SdkRule(
        id="r",
        security_group_id="security_group-web",
        direction="ingress",
        ethertype="IPv4",
        protocol="tcp",
        port_range_min=80,
        port_range_max=80,
        remote_group_id="security_group-lb",
        description="http",
    )
    res = SecurityGroupRule.from_sdk(sdk, FakeRefs())
    assert res.identity == "web:ingress:IPv4:tcp:80-80:group=lb"
    assert res.create_body(FakeRefs()) == {
        "direction": "ingress",
        "ether_type": "IPv4",
        "protocol": "tcp",
        "port_range_min": 80,
        "port_range_max": 80,
        "description": "http",
        "security_group_id": "security_group-web",
        "remote_group_id": "security_group-lb",
    }
    assert res.diff(res) == {}


def test_reference_with_unknown_project_matches_any_project():
    a = {"name": "public", "project_name": None, "domain_name": None}
    b = {"name": "public", "project_name": "admin", "domain_name": "Default"}
    assert values_equal(a, b)
    assert not values_equal(dict(b, project_name="other"), b)
    assert not values_equal(dict(a, name="x"), b)
