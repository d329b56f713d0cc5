"""Address groups and server groups: records, comparison and the requests import makes."""

from openstack.compute.v2.server_group import ServerGroup as SdkServerGroup
from openstack.network.v2.address_group import AddressGroup as SdkAddressGroup
from openstack.network.v2.security_group_rule import SecurityGroupRule as SdkRule

from os_migrate.resources import AddressGroup, SecurityGroupRule, ServerGroup

from .fakes import FakeRefs


class Recorder:
    """A proxy stand-in that records ``(method, args, kwargs)`` and returns its first argument."""

    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        def call(*args, **kwargs):
            self.calls.append((name, args, kwargs))
            return args[0] if args else kwargs

        return call


class FakeConn:
    def __init__(self):
        self.network = Recorder()
        self.compute = Recorder()


def address_group(addresses, **kw):
    sdk = SdkAddressGroup(
        id="ag1", name="office", description="", addresses=addresses, project_id="proj-auth", **kw
    )
    return AddressGroup.from_sdk(sdk, FakeRefs())


def test_address_group_record_sorts_and_normalizes_addresses():
    res = address_group(["198.51.100.7/32", "192.0.2.0/24", "2001:db8::/64"])
    assert res.record["type"] == "openstack.network.AddressGroup"
    assert res.params == {
        "name": "office",
        "addresses": ["192.0.2.0/24", "198.51.100.7/32", "2001:db8::/64"],
    }
    assert res.info["id"] == "ag1"
    # Neutron stores a host address as /32 and a network by its network address
    edited = AddressGroup(
        {
            "type": AddressGroup.type,
            "params": {"name": "office", "addresses": ["2001:db8::/64", "198.51.100.7", "192.0.2.9/24"]},
        }
    )
    assert edited.diff(res) == {}


def test_address_group_create_carries_exactly_the_addresses():
    conn = FakeConn()
    res = address_group(["192.0.2.0/24"])
    res.create(conn, FakeRefs())
    assert conn.network.calls == [
        ("create_address_group", (), {"name": "office", "addresses": ["192.0.2.0/24"]})
    ]


def test_address_group_update_removes_extra_addresses_before_adding():
    conn = FakeConn()
    want = address_group(
        ["192.0.2.0/24", "198.51.100.7/32"],
    )
    have = address_group(["192.0.2.0/24", "203.0.113.0/24"])
    changes = want.diff(have)
    assert set(changes) == {"addresses"}
    want.update(conn, have, changes, FakeRefs())
    assert [(c[0], c[1][1]) for c in conn.network.calls] == [
        ("remove_addresses_from_address_group", ["203.0.113.0/24"]),
        ("add_addresses_to_address_group", ["198.51.100.7/32"]),
    ]


def test_rule_with_remote_address_group_references_it_by_name():
    sdk = SdkRule(
        id="r",
        security_group_id="security_group-web",
        direction="ingress",
        ethertype="IPv4",
        protocol="tcp",
        port_range_min=22,
        port_range_max=22,
        remote_address_group_id="address_group-office",
    )
    res = SecurityGroupRule.from_sdk(sdk, FakeRefs())
    assert res.params["remote_address_group"]["name"] == "office"
    assert "remote_address_group_id" not in res.params
    assert res.info["remote_address_group_id"] == "address_group-office"
    assert res.identity == "web:ingress:IPv4:tcp:22-22:address_group=office"
    assert res.create_body(FakeRefs())["remote_address_group_id"] == "address_group-office"
    assert res.required_extensions() == {"remote_address_group": "security-groups-remote-address-group"}


def server_group(**kw):
    body = dict(id="g1", name="db-ha", project_id="proj-auth", user_id="u", members=["vm1"], **kw)
    return ServerGroup.from_sdk(SdkServerGroup(**body), FakeRefs())


def test_server_group_record_from_either_microversion():
    new = server_group(policy="anti-affinity", rules={"max_server_per_host": 2})
    old = server_group(policies=["anti-affinity"])
    assert new.params == {"name": "db-ha", "policy": "anti-affinity", "rules": {"max_server_per_host": 2}}
    assert old.params == {"name": "db-ha", "policy": "anti-affinity"}
    assert new.info["member_ids"] == ["vm1"]
    assert new.required_microversions() == {"rules": ("compute", "2.64")}
    assert old.required_microversions() == {}
    assert server_group(policy="soft-affinity").required_microversions() == {"policy": ("compute", "2.15")}


def test_server_group_is_never_updated_a_difference_is_a_conflict():
    want = server_group(policy="anti-affinity", rules={"max_server_per_host": 2})
    action, changes, errors = want.compare(server_group(policy="anti-affinity"))
    assert action == "conflict"
    assert errors and errors[0].startswith("params.rules: differs from the destination")
    assert want.compare(server_group(policy="anti-affinity", rules={"max_server_per_host": 2}))[0] == (
        "unchanged"
    )
    conn = FakeConn()
    want.create(conn, FakeRefs())
    assert conn.compute.calls == [
        (
            "create_server_group",
            (),
            {"name": "db-ha", "policy": "anti-affinity", "rules": {"max_server_per_host": 2}},
        )
    ]


def test_two_same_named_destination_groups_are_a_conflict():
    want = server_group(policy="anti-affinity")
    twin = server_group(policy="anti-affinity")
    twin.record["_info"]["same_name_count"] = 2
    action, _, errors = want.compare(twin)
    assert action == "conflict"
    assert errors == ["params.name: 2 server groups named 'db-ha' in the destination"]


def test_server_group_reference_of_a_member_server():
    class Refs(FakeRefs):
        def objects(self, kind):
            assert kind == "server_group"
            return {
                "server_group-web": SdkServerGroup(id="server_group-web", name="web", members=["vm1"]),
                "server_group-db": SdkServerGroup(id="server_group-db", name="db", members=["vm2", "vm3"]),
            }

    assert ServerGroup.ref_for_member(Refs(), "vm3")["name"] == "db"
    assert ServerGroup.ref_for_member(Refs(), "vm9") is None
