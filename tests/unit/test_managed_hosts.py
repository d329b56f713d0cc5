"""Managed conversion hosts without a cloud: names, idempotency, host key checks, removal.

A small in-memory fake of the openstacksdk proxies the module uses; SSH is replaced by a
recorder (the devcloud integration test covers it).
"""

from __future__ import annotations

import itertools
import json
import stat
from types import SimpleNamespace

import pytest
from openstack import exceptions as sdk_exc

from os_migrate.workload import managed_hosts
from os_migrate.workload.managed_hosts import DeployError, deploy_host, host_key_from_console, remove_host

ED = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyOne"
ED2 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyTwo"


def console(*keys: str) -> str:
    body = "".join(f"{k} root@host\n" for k in keys)
    return f"boot...\n-----BEGIN SSH HOST KEY KEYS-----\n{body}-----END SSH HOST KEY KEYS-----\nlogin:"


class Store:
    def __init__(self):
        self.ids = itertools.count(1)
        self.objects: dict[str, dict[str, SimpleNamespace]] = {}
        self.calls: list[str] = []

    def add(self, kind, **attrs):
        obj = SimpleNamespace(id=f"{kind}-{next(self.ids)}", **attrs)
        self.objects.setdefault(kind, {})[obj.id] = obj
        self.calls.append(f"create {kind}")
        return obj

    def all(self, kind):
        return list(self.objects.get(kind, {}).values())

    def drop(self, kind, obj):
        self.objects.get(kind, {}).pop(getattr(obj, "id", obj), None)
        self.calls.append(f"delete {kind}")

    def find(self, kind, name_or_id, ignore_missing=True):
        hits = [o for o in self.all(kind) if name_or_id in (o.id, getattr(o, "name", None))]
        if not hits:
            if ignore_missing:
                return None
            raise sdk_exc.NotFoundException(f"{kind} {name_or_id}")
        return hits[0]


class FakeCompute:
    def __init__(self, st, console_text):
        self.st = st
        self.console_text = console_text

    def find_flavor(self, name, ignore_missing=True):
        return self.st.find("flavor", name, ignore_missing)

    def servers(self, details=True):
        return self.st.all("server")

    def create_server(self, *, name, image_id, flavor_id, key_name, networks, metadata):
        server = self.st.add("server", name=name, status="ACTIVE", task_state=None, key_name=key_name)
        port = self.st.objects["port"][networks[0]["port"]]
        port.device_id = server.id
        return server

    def get_server(self, server_id):
        server = self.st.objects.get("server", {}).get(server_id)
        if server is None:
            raise sdk_exc.NotFoundException(server_id)
        return server

    def delete_server(self, server):
        self.st.drop("server", server)
        for port in self.st.all("port"):
            if port.device_id == server.id:
                port.device_id = ""

    def wait_for_delete(self, server, interval=2, wait=120):
        return None

    def get_server_console_output(self, server):
        return {"output": self.console_text}

    def find_keypair(self, name, ignore_missing=True):
        return self.st.find("keypair", name, ignore_missing)

    def create_keypair(self, *, name, public_key):
        kp = self.st.add("keypair", name=name, public_key=public_key)
        return kp

    def delete_keypair(self, keypair, ignore_missing=True):
        self.st.drop("keypair", self.st.find("keypair", getattr(keypair, "name", keypair)))


class FakeNetwork:
    def __init__(self, st):
        self.st = st

    def find_network(self, name, ignore_missing=True):
        return self.st.find("network", name, ignore_missing)

    def security_groups(self, name=None, project_id=None):
        return [g for g in self.st.all("sg") if name in (None, g.name)]

    def create_security_group(self, *, name, description):
        group = self.st.add("sg", name=name)
        self.st.add("rule", sg=group.id, direction="egress", protocol=None, port_range_min=None,
                    port_range_max=None, remote_ip_prefix=None, remote_group_id=None)  # fmt: skip
        return group

    def delete_security_group(self, group, ignore_missing=True):
        self.st.drop("sg", group)

    def security_group_rules(self, security_group_id):
        return [r for r in self.st.all("rule") if r.sg == security_group_id]

    def create_security_group_rule(self, *, security_group_id, remote_ip_prefix, ethertype, **kw):
        return self.st.add("rule", sg=security_group_id, remote_ip_prefix=remote_ip_prefix,
                           remote_group_id=None, ethertype=ethertype, **kw)  # fmt: skip

    def delete_security_group_rule(self, rule_id):
        self.st.drop("rule", rule_id)

    def ports(self, name=None, project_id=None):
        return [p for p in self.st.all("port") if name in (None, p.name)]

    def create_port(self, *, name, network_id, security_group_ids, description):
        n = len(self.st.all("port")) + 10
        return self.st.add("port", name=name, network_id=network_id, security_group_ids=security_group_ids,
                           device_id="", fixed_ips=[{"ip_address": f"172.24.4.{n}"}])  # fmt: skip

    def get_port(self, port_id):
        return self.st.objects["port"][port_id]

    def update_port(self, port, **attrs):
        vars(port).update(attrs)
        return port

    def delete_port(self, port, ignore_missing=True):
        self.st.drop("port", port)

    def ips(self, port_id=None, project_id=None):
        return [i for i in self.st.all("fip") if port_id in (None, i.port_id)]

    def create_ip(self, *, floating_network_id, port_id, description):
        n = len(self.st.all("fip")) + 100
        return self.st.add(
            "fip", floating_ip_address=f"203.0.113.{n}", port_id=port_id, description=description
        )

    def update_ip(self, ip, **attrs):
        vars(ip).update(attrs)
        return ip

    def delete_ip(self, ip, ignore_missing=True):
        self.st.drop("fip", ip)


class FakeConn:
    current_project_id = "proj"

    def __init__(self):
        self.st = Store()
        self.compute = FakeCompute(self.st, console(ED))
        self.network = FakeNetwork(self.st)
        self.image = SimpleNamespace(
            find_image=lambda n, ignore_missing=True: self.st.find("image", n, ignore_missing)
        )
        self.st.add("image", name="convhost")
        self.st.add("flavor", name="m1.tiny")
        self.st.add("network", name="public")
        self.st.add("network", name="private")
        self.st.add("network", name="ext")
        self.st.calls.clear()

    def named(self, kind, name):
        return [o for o in self.st.all(kind) if getattr(o, "name", None) == name]


@pytest.fixture
def ssh(monkeypatch):
    """Replaces the SSH wait; records the HostAccess it was given."""
    seen = []
    monkeypatch.setattr(
        managed_hosts, "_wait_usable", lambda conn, access, role, deadline: seen.append(access)
    )
    return seen


def deploy(conn, key_dir, **kw):
    args = dict(name="a", image="convhost", flavor="m1.tiny", network="public", key_dir=key_dir,
                allow_from=["192.0.2.10", "172.24.4.0/24"], wait=5)  # fmt: skip
    return deploy_host(conn, **{**args, **kw})


def ssh_rules(conn):
    return sorted(r.remote_ip_prefix for r in conn.st.all("rule") if r.direction == "ingress")


def test_deploy_makes_everything_named_after_the_deployment(tmp_path, ssh):
    conn = FakeConn()
    host = deploy(conn, tmp_path / "keys")
    name = "osm-convhost-a"
    for kind in ("keypair", "sg", "port", "server"):
        assert len(conn.named(kind, name)) == 1, kind
    assert conn.st.all("fip") == []
    assert ssh_rules(conn) == ["172.24.4.0/24", "192.0.2.10/32"]
    (server,) = conn.named("server", name)
    (port,) = conn.named("port", name)
    assert port.device_id == server.id and server.key_name == name
    assert port.security_group_ids == [conn.named("sg", name)[0].id]

    assert host.access.address == host.access.peer_address == "172.24.4.10"
    assert host.access.host_key == ED and host.access.server == server.id
    assert host.key_file == tmp_path / "keys" / "a.key"
    assert stat.S_IMODE(host.key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    recorded = json.loads(host.host_file.read_text())
    assert recorded["host_key"] == ED and recorded["private_key_file"] == str(host.key_file)
    private = host.key_file.read_text()
    assert "PRIVATE KEY" in private
    for text in (host.host_file.read_text(), repr(host), json.dumps(host.summary())):
        assert private.strip().splitlines()[1] not in text
    pub = conn.named("keypair", name)[0].public_key.split()[:2]
    assert pub == managed_hosts.public_key_of(private).split()
    assert host.settings() == {"host_file": str(host.host_file)}
    assert len(host.created) == 5 and ssh[0] is host.access


def test_redeploy_reuses_everything_and_follows_allow_from(tmp_path, ssh):
    conn = FakeConn()
    first = deploy(conn, tmp_path)
    key = first.key_file.read_text()
    conn.st.calls.clear()
    again = deploy(conn, tmp_path, allow_from=["192.0.2.10/32", "198.51.100.7"])
    assert again.created == ()
    assert [c for c in conn.st.calls if c != "delete rule" and c != "create rule"] == []
    assert again.key_file.read_text() == key and again.access.private_key == key
    assert again.server_id == first.server_id
    assert ssh_rules(conn) == ["192.0.2.10/32", "198.51.100.7/32"]
    assert [r.direction for r in conn.st.all("rule")].count("egress") == 1  # Neutron's default kept


def test_changed_host_key_is_refused_naming_the_host(tmp_path, ssh):
    conn = FakeConn()
    deploy(conn, tmp_path)
    conn.compute.console_text = console(ED2)
    with pytest.raises(DeployError, match="osm-convhost-a: its host key changed"):
        deploy(conn, tmp_path)


def test_console_block_prefers_ed25519_of_the_last_block():
    rsa = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ"
    assert host_key_from_console(console(ED) + console(rsa, ED2)) == ED2
    assert host_key_from_console(console(rsa)) == rsa
    assert host_key_from_console("no block here") is None


def test_floating_ip_and_the_peer_address(tmp_path, ssh):
    conn = FakeConn()
    host = deploy(conn, tmp_path, network="private", floating_network="ext", address="floating")
    (fip,) = conn.st.all("fip")
    assert fip.port_id == host.port_id and fip.description == "osm-convhost-a"
    assert host.access.address == host.access.peer_address == host.floating_ip == fip.floating_ip_address
    same_net = deploy(conn, tmp_path, network="private", floating_network="ext", peer_network="private")
    assert same_net.created == () and len(conn.st.all("fip")) == 1
    assert same_net.access.address == same_net.access.peer_address == same_net.fixed_ip


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "../x"}, "managed host name"),
        ({"allow_from": []}, "allow_from is empty"),
        ({"allow_from": ["10.0.0.5/24"]}, "not a CIDR"),
        ({"address": "floating"}, "needs a floating_network"),
        ({"image": "nope"}, "image 'nope' not found"),
    ],
)
def test_wrong_arguments_fail_before_any_change(tmp_path, ssh, change, message):
    conn = FakeConn()
    with pytest.raises(DeployError, match=message):
        deploy(conn, tmp_path, **change)
    assert conn.st.calls == []


def test_a_server_without_its_key_file_is_a_conflict(tmp_path, ssh):
    conn = FakeConn()
    host = deploy(conn, tmp_path)
    host.key_file.unlink()
    with pytest.raises(DeployError, match="key file .* is gone"):
        deploy(conn, tmp_path)


def test_remove_deletes_only_what_the_deployment_named(tmp_path, ssh):
    conn = FakeConn()
    deploy(conn, tmp_path, network="private", floating_network="ext")
    other = deploy(conn, tmp_path, name="b")
    stranger = conn.st.add("server", name="osm-convhost-a-2", status="ACTIVE", task_state=None)
    done = remove_host(conn, name="a", key_dir=tmp_path)
    assert [d.split()[0] for d in done] == [
        "server",
        "floating",
        "port",
        "security",
        "keypair",
        "file",
        "file",
    ]
    for kind in ("keypair", "sg", "port", "server"):
        assert conn.named(kind, "osm-convhost-a") == []
        assert len(conn.named(kind, "osm-convhost-b")) == 1
    assert conn.st.all("fip") == []
    assert stranger in conn.st.all("server")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.json", "b.key"]
    assert remove_host(conn, name="a", key_dir=tmp_path) == []
    assert other.host_file.exists()
