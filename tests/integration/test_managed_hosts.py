"""Managed conversion hosts on the real local cloud: deploy, reach, reuse, refuse, remove.

In project ``src`` (member user): an image with ``os_migrate_conversion_host=true`` uploaded here
(the devcloud turns its servers into real SSH hosts), flavor ``m1.tiny``, a port on ``public``
(the devcloud routes fixed IPs on ``public`` to the migrator, so ``address="fixed"``). A second
host sits on a network of the test's own behind a router to ``public`` and gets a floating IP
(Neutron makes and associates it; the devcloud does not route it, so the migrator still uses the
fixed IP).
"""

from __future__ import annotations

import contextlib
import logging
import re
import stat

import pytest

from os_migrate.cloud import find_or_none
from os_migrate.workload import cloudops
from os_migrate.workload.conversion_host import HostAccess, HostError, HostSession, new_keypair
from os_migrate.workload.managed_hosts import DeployError, deploy_host, remove_host, resource_name

from .conftest import connect
from .test_workloads import MIB, ensure_image

NAME = "mh-test"
IMAGE = "mh-convhost"
RNAME = resource_name(NAME)
FIP_NAME, FIP_NET, FIP_CIDR = "mh-fip", "mh-net", "10.99.8.0/24"


def deployment_resources(conn, rname: str = RNAME) -> list[str]:
    """Everything of the project that carries the deployment's name (a floating IP by its
    description or port)."""
    pid = conn.current_project_id
    out = [f"server {s.id}" for s in cloudops.servers_named(conn, rname)]
    ports = [p for p in conn.network.ports(name=rname, project_id=pid) if p.name == rname]
    out += [f"port {p.id}" for p in ports]
    out += [
        f"security group {g.id}"
        for g in conn.network.security_groups(name=rname, project_id=pid)
        if g.name == rname
    ]
    if find_or_none(conn.compute.find_keypair, rname) is not None:
        out.append(f"keypair {rname}")
    port_ids = {p.id for p in ports}
    out += [
        f"floating IP {ip.floating_ip_address}"
        for ip in conn.network.ips(project_id=pid)
        if ip.description == rname or ip.port_id in port_ids
    ]
    return out


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    conn = connect("devcloud-src")
    key_dir = tmp_path_factory.mktemp("mh-keys")
    for name in (NAME, FIP_NAME):  # what a killed earlier run left
        remove_host(conn, name=name, key_dir=key_dir)
    drop_private_network(conn)
    image = ensure_image(conn, IMAGE, b"\0" * MIB, os_migrate_conversion_host="true")
    subnet = conn.network.find_subnet("public-subnet", ignore_missing=False)
    yield conn, key_dir, subnet
    for name in (NAME, FIP_NAME):
        remove_host(conn, name=name, key_dir=key_dir)
    drop_private_network(conn)
    conn.image.delete_image(image, ignore_missing=True)


def drop_private_network(conn) -> None:
    router = find_or_none(conn.network.find_router, FIP_NET)
    subnet = find_or_none(conn.network.find_subnet, FIP_NET)
    if router is not None:
        if subnet is not None:
            with contextlib.suppress(Exception):
                conn.network.remove_interface_from_router(router, subnet_id=subnet.id)
        conn.network.delete_router(router)
    network = find_or_none(conn.network.find_network, FIP_NET)
    if network is not None:
        conn.network.delete_network(network)


def test_deploy_reach_reuse_refuse_remove(cloud, caplog):
    conn, key_dir, subnet = cloud
    caplog.set_level(logging.DEBUG)
    args = dict(
        name=NAME, image=IMAGE, flavor="m1.tiny", network="public", key_dir=key_dir,
        allow_from=[subnet.cidr], address="fixed", wait=300,
    )  # fmt: skip

    host = deploy_host(conn, **args)
    kinds = sorted(c.split()[0] for c in host.created)
    assert kinds == ["key", "keypair", "port", "security", "server"], host.created
    assert stat.S_IMODE(host.key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(host.host_file.stat().st_mode) == 0o600
    server = conn.compute.get_server(host.server_id)
    assert server.status == "ACTIVE" and server.name == RNAME and server.key_name == RNAME
    assert host.access.address == host.fixed_ip == server.addresses["public"][0]["addr"]
    assert host.access.peer_address == host.fixed_ip and host.floating_ip is None
    port = conn.network.get_port(host.port_id)
    assert port.device_id == server.id and port.security_group_ids == [host.security_group_id]
    rules = [
        (r.protocol, r.port_range_min, r.port_range_max, r.remote_ip_prefix)
        for r in conn.network.security_group_rules(security_group_id=host.security_group_id)
        if r.direction == "ingress"
    ]
    assert rules == [("tcp", 22, 22, subnet.cidr)]

    # the host file is enough to reach it, with the recorded host key; the tools run
    access = HostAccess.from_settings(host.settings(), side="src")
    assert access == host.access
    session = HostSession(access)
    try:
        rc, out, err = session.run("command -v nbdkit nbdcopy sha256sum ssh blockdev | wc -l; id -u")
        assert rc == 0 and out.split() == ["5", "0"], (out, err)
    finally:
        session.close()
    _, other_public = new_keypair()
    with pytest.raises(HostError, match="its host key changed"):
        HostSession(HostAccess.from_settings({**host.settings(), "host_key": other_public}, side="src"))

    # re-deploy: everything reused, nothing duplicated; allow_from follows the arguments
    migrator = f"{subnet.gateway_ip}/32"
    again = deploy_host(conn, **{**args, "allow_from": [migrator, subnet.cidr]})
    assert again.created == ()
    assert (again.server_id, again.port_id, again.security_group_id) == (
        host.server_id,
        host.port_id,
        host.security_group_id,
    )
    assert again.access == host.access and again.key_file.read_text() == host.access.private_key
    assert len(deployment_resources(conn)) == 4  # server, port, group, keypair: one each
    assert sorted(
        r.remote_ip_prefix
        for r in conn.network.security_group_rules(security_group_id=host.security_group_id)
        if r.direction == "ingress"
    ) == sorted([migrator, subnet.cidr])

    # a changed host key (as recorded against what the host shows) is refused, naming the host
    recorded = host.host_file.read_text()
    host.host_file.write_text(recorded.replace(host.access.host_key, " ".join(other_public.split()[:2])))
    with pytest.raises(DeployError, match=f"conversion host {RNAME}: its host key changed"):
        deploy_host(conn, **args)
    host.host_file.write_text(recorded)

    # no private key anywhere but the key file
    private = host.key_file.read_text()
    body = re.sub(r"-----[A-Z ]+-----", "", private).split()
    assert body and "PRIVATE KEY" in private
    texts = {"host file": host.host_file.read_text(), "logs": caplog.text, "summary": str(host.summary())}
    for where, text in texts.items():
        assert "PRIVATE KEY" not in text, where
        assert not any(line in text for line in body), where

    # remove: everything named by the deployment, and its files; then nothing more
    done = remove_host(conn, name=NAME, key_dir=key_dir)
    assert sorted(d.split()[0] for d in done) == ["file", "file", "keypair", "port", "security", "server"]
    assert deployment_resources(conn) == []
    assert not host.key_file.exists() and not host.host_file.exists()
    assert remove_host(conn, name=NAME, key_dir=key_dir) == []


def test_floating_ip_is_made_reused_and_removed(cloud):
    conn, key_dir, _ = cloud
    public = conn.network.find_network("public", ignore_missing=False)
    network = conn.network.create_network(name=FIP_NET)
    subnet = conn.network.create_subnet(name=FIP_NET, network_id=network.id, cidr=FIP_CIDR, ip_version=4)
    router = conn.network.create_router(name=FIP_NET, external_gateway_info={"network_id": public.id})
    conn.network.add_interface_to_router(router, subnet_id=subnet.id)
    rname = resource_name(FIP_NAME)
    args = dict(
        name=FIP_NAME, image=IMAGE, flavor="m1.tiny", network=FIP_NET, key_dir=key_dir,
        floating_network="public", allow_from=[FIP_CIDR], address="fixed", wait=300,
    )  # fmt: skip

    host = deploy_host(conn, **args)
    assert host.floating_ip and host.fixed_ip.startswith("10.99.8.")
    (ip,) = [i for i in conn.network.ips(project_id=conn.current_project_id) if i.description == rname]
    assert ip.floating_ip_address == host.floating_ip and ip.port_id == host.port_id
    # the migrator uses the fixed IP; a peer on another network the floating IP
    assert host.access.address == host.fixed_ip and host.access.peer_address == host.floating_ip

    again = deploy_host(conn, **args, peer_network=FIP_NET)
    assert again.created == () and again.floating_ip == host.floating_ip
    assert again.access.peer_address == host.fixed_ip  # the peer shares the network
    assert len(deployment_resources(conn, rname)) == 5  # server, port, group, keypair, floating IP

    done = remove_host(conn, name=FIP_NAME, key_dir=key_dir)
    assert f"floating IP {host.floating_ip}" in done
    assert deployment_resources(conn, rname) == []
    assert find_or_none(conn.network.find_ip, host.floating_ip) is None
