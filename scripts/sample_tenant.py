"""Seed (and clean) a sample tenant's networking in a project: used by the demo and the tests.

Contents (idempotent: existing resources found by name are kept):

- networks ``app-net`` and ``db-net``;
- subnets ``app-subnet`` (pools, DNS servers and host routes given in unsorted order),
  ``app-subnet-b`` and ``db-subnet`` (no DHCP);
- router ``edge-router`` with its gateway on the external network ``public``, an interface on
  ``app-subnet`` at the gateway IP, one on ``db-subnet`` at a non-gateway IP (through a port),
  and a static route;
- address group ``office`` (two CIDRs, given unsorted);
- security groups ``web``, ``db`` (ingress from group ``web``) and ``ssh`` (its default egress
  rules replaced by one egress rule, and an ingress rule from address group ``office``), with
  ingress and egress rules;
- server group ``app-anti-affinity`` (policy ``anti-affinity``, rule ``max_server_per_host: 2``).

With ``--server`` (the demo), also a workload: keypair ``demo-key``, server ``demo-vm`` booted
from the public image ``cirros`` on ``m1.tiny`` with a port on ``app-subnet`` at ``10.10.1.20``
(groups ``web`` and ``ssh``), a 1 GiB data volume ``demo-data`` attached, and a floating IP.

Usage: ``python scripts/sample_tenant.py seed|clean --cloud devcloud-src [--clouds-yaml PATH]
[--server]``.
"""

from __future__ import annotations

import argparse
import sys

import openstack
import openstack.config
import openstack.connection

from os_migrate.cloud import find_or_none

EXTERNAL_NETWORK = "public"

NETWORKS = [
    {"name": "app-net", "description": "application tier"},
    {"name": "db-net", "description": "database tier"},
]
SUBNETS = [
    {
        "name": "app-subnet",
        "network": "app-net",
        "cidr": "10.10.1.0/24",
        "ip_version": 4,
        "gateway_ip": "10.10.1.1",
        "allocation_pools": [
            {"start": "10.10.1.100", "end": "10.10.1.150"},
            {"start": "10.10.1.10", "end": "10.10.1.50"},
        ],
        "dns_nameservers": ["8.8.8.8", "1.1.1.1"],
        "host_routes": [
            {"destination": "192.168.20.0/24", "nexthop": "10.10.1.254"},
            {"destination": "192.168.10.0/24", "nexthop": "10.10.1.253"},
        ],
    },
    {
        "name": "app-subnet-b",
        "network": "app-net",
        "cidr": "10.10.2.0/24",
        "ip_version": 4,
        "allocation_pools": [{"start": "10.10.2.20", "end": "10.10.2.90"}],
        "dns_nameservers": ["9.9.9.9"],
        "host_routes": [{"destination": "172.16.0.0/16", "nexthop": "10.10.2.254"}],
    },
    {
        "name": "db-subnet",
        "network": "db-net",
        "cidr": "10.20.1.0/24",
        "ip_version": 4,
        "is_dhcp_enabled": False,
        "gateway_ip": "10.20.1.1",
        "allocation_pools": [{"start": "10.20.1.50", "end": "10.20.1.99"}],
        "dns_nameservers": ["10.20.1.2", "10.20.1.3"],
        "host_routes": [{"destination": "10.99.0.0/16", "nexthop": "10.20.1.254"}],
    },
]
ROUTER = {
    "name": "edge-router",
    "description": "north-south",
    "interfaces": [("app-subnet", None), ("db-subnet", "10.20.1.5")],
    "routes": [{"destination": "10.30.0.0/16", "nexthop": "10.10.1.200"}],
}
ADDRESS_GROUPS = {
    "office": {"description": "office egress NAT", "addresses": ["198.51.100.0/24", "192.0.2.10/32"]},
}
SERVER_GROUPS = {
    "app-anti-affinity": {"policy": "anti-affinity", "rules": {"max_server_per_host": 2}},
}
SECURITY_GROUPS = {
    "web": {
        "description": "web servers",
        "keep_default_egress": True,
        "rules": [
            {
                "direction": "ingress",
                "protocol": "tcp",
                "port_range_min": 80,
                "port_range_max": 80,
                "remote_ip_prefix": "0.0.0.0/0",
            },
            {
                "direction": "ingress",
                "protocol": "tcp",
                "port_range_min": 443,
                "port_range_max": 443,
                "remote_ip_prefix": "0.0.0.0/0",
                "description": "https",
            },
        ],
    },
    "db": {
        "description": "database servers",
        "keep_default_egress": True,
        "rules": [
            {
                "direction": "ingress",
                "protocol": "tcp",
                "port_range_min": 5432,
                "port_range_max": 5432,
                "remote_group": "web",
            },
        ],
    },
    "ssh": {
        "description": "bastion access",
        "keep_default_egress": False,
        "rules": [
            {
                "direction": "ingress",
                "protocol": "tcp",
                "port_range_min": 22,
                "port_range_max": 22,
                "remote_ip_prefix": "203.0.113.0/24",
            },
            {
                "direction": "ingress",
                "protocol": "tcp",
                "port_range_min": 22,
                "port_range_max": 22,
                "remote_address_group": "office",
            },
            {"direction": "ingress", "protocol": "icmp", "remote_ip_prefix": "203.0.113.0/24"},
            {
                "direction": "egress",
                "protocol": "tcp",
                "port_range_min": 443,
                "port_range_max": 443,
                "remote_ip_prefix": "0.0.0.0/0",
            },
        ],
    },
}


def seed(conn) -> None:
    """Create the sample tenant in the project of ``conn`` (idempotent)."""
    net = conn.network
    pid = conn.current_project_id
    nets = {}
    for spec in NETWORKS:
        nets[spec["name"]] = find_or_none(
            net.find_network, spec["name"], project_id=pid
        ) or net.create_network(**spec)
    subnets = {}
    for spec in SUBNETS:
        spec = dict(spec)
        network = nets[spec.pop("network")]
        subnets[spec["name"]] = find_or_none(
            net.find_subnet, spec["name"], project_id=pid
        ) or net.create_subnet(network_id=network.id, **spec)
    public = net.find_network(EXTERNAL_NETWORK, ignore_missing=False)
    router = find_or_none(net.find_router, ROUTER["name"], project_id=pid)
    if router is None:
        router = net.create_router(
            name=ROUTER["name"],
            description=ROUTER["description"],
            external_gateway_info={"network_id": public.id},
        )
    attached = {
        fip["subnet_id"]
        for port in net.ports(device_id=router.id, device_owner="network:router_interface")
        for fip in port.fixed_ips
    }
    for subnet_name, ip in ROUTER["interfaces"]:
        subnet = subnets[subnet_name]
        if subnet.id in attached:
            continue
        if ip is None:
            net.add_interface_to_router(router, subnet=subnet.id)
        else:
            port = net.create_port(
                network_id=subnet.network_id, fixed_ips=[{"subnet_id": subnet.id, "ip_address": ip}]
            )
            net.add_interface_to_router(router, port=port.id)
    net.update_router(router, routes=ROUTER["routes"])
    address_groups = {}
    for name, spec in ADDRESS_GROUPS.items():
        found = list(net.address_groups(project_id=pid, name=name))
        address_groups[name] = found[0] if found else net.create_address_group(name=name, **spec)
    existing_server_groups = {g.name for g in conn.compute.server_groups()}
    for name, spec in SERVER_GROUPS.items():
        if name not in existing_server_groups:
            conn.compute.create_server_group(name=name, **spec)
    groups = {}
    for name, spec in SECURITY_GROUPS.items():
        group = find_or_none(net.find_security_group, name, project_id=pid)
        if group is None:
            group = net.create_security_group(name=name, description=spec["description"])
            if not spec["keep_default_egress"]:
                for rule in group.security_group_rules:
                    net.delete_security_group_rule(rule["id"])
            for rule in spec["rules"]:
                rule = dict(rule)
                remote = rule.pop("remote_group", None)
                if remote:
                    rule["remote_group_id"] = groups[remote].id
                remote_address_group = rule.pop("remote_address_group", None)
                if remote_address_group:
                    rule["remote_address_group_id"] = address_groups[remote_address_group].id
                net.create_security_group_rule(security_group_id=group.id, ether_type="IPv4", **rule)
        groups[name] = group


SERVER = {
    "name": "demo-vm",
    "image": "cirros",
    "flavor": "m1.tiny",
    "keypair": "demo-key",
    "fixed_ip": "10.10.1.20",
    "subnet": "app-subnet",
    "security_groups": ["web", "ssh"],
    "volume": "demo-data",
    "volume_size": 1,
}


def seed_server(conn) -> None:
    """Create the demo workload (idempotent; needs :func:`seed` first)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    net, compute, pid = conn.network, conn.compute, conn.current_project_id
    if find_or_none(compute.find_keypair, SERVER["keypair"]) is None:
        public_key = (
            ed25519.Ed25519PrivateKey.generate()
            .public_key()
            .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
            .decode()
        )
        compute.create_keypair(name=SERVER["keypair"], public_key=public_key)
    server = find_or_none(compute.find_server, SERVER["name"])
    if server is None:
        subnet = net.find_subnet(SERVER["subnet"], project_id=pid, ignore_missing=False)
        port = net.create_port(
            network_id=subnet.network_id,
            name=f"{SERVER['name']}-port",
            fixed_ips=[{"subnet_id": subnet.id, "ip_address": SERVER["fixed_ip"]}],
            security_group_ids=[
                net.find_security_group(g, project_id=pid, ignore_missing=False).id
                for g in SERVER["security_groups"]
            ],
        )
        server = compute.create_server(
            name=SERVER["name"],
            image_id=conn.image.find_image(SERVER["image"], ignore_missing=False).id,
            flavor_id=compute.find_flavor(SERVER["flavor"], ignore_missing=False).id,
            networks=[{"port": port.id}],
            key_name=SERVER["keypair"],
        )
        server = compute.wait_for_server(server, status="ACTIVE", wait=300)
        public = net.find_network(EXTERNAL_NETWORK, ignore_missing=False)
        fip = net.create_ip(floating_network_id=public.id)
        net.update_ip(fip, port_id=port.id)
    # Cinder refuses a ``name`` filter from non-admins (resource filter allowlist): match here.
    volume = next((v for v in conn.block_storage.volumes() if v.name == SERVER["volume"]), None)
    if volume is None:
        volume = conn.block_storage.create_volume(name=SERVER["volume"], size=SERVER["volume_size"])
        conn.block_storage.wait_for_status(volume, "available", wait=300)
        compute.create_volume_attachment(server, volume=volume.id)
        conn.block_storage.wait_for_status(volume, "in-use", wait=300)


def clean(conn) -> None:
    """Delete every floating IP, server, server group, volume, router, port, subnet, network,
    non-default security group and address group of the project of ``conn`` (for tests and demo
    re-runs). Never touches other projects."""
    net = conn.network
    pid = conn.current_project_id
    for fip in list(net.ips(project_id=pid)):
        net.delete_ip(fip, ignore_missing=True)
    for server in list(conn.compute.servers()):
        conn.compute.delete_server(server)
        conn.compute.wait_for_delete(server, wait=300)
    for volume in list(conn.block_storage.volumes()):
        if volume.status != "error":
            conn.block_storage.wait_for_status(volume, "available", failures=["error"], wait=300)
        conn.block_storage.delete_volume(volume)
        conn.block_storage.wait_for_delete(volume, wait=300)
    for router in list(net.routers(project_id=pid)):
        if router.routes:
            net.update_router(router, routes=[])
        for port in list(net.ports(device_id=router.id)):
            if (
                port.device_owner.startswith("network:router_interface")
                or port.device_owner == "network:ha_router_replicated_interface"
            ):
                net.remove_interface_from_router(router, port=port.id)
        net.delete_router(router)
    for port in list(net.ports(project_id=pid)):
        # router ports went with their routers; servers' ports are not ours to delete
        if not (port.device_owner or "").startswith(("network:", "compute:")):
            net.delete_port(port, ignore_missing=True)
    for subnet in list(net.subnets(project_id=pid)):
        net.delete_subnet(subnet, ignore_missing=True)
    for network in list(net.networks(project_id=pid)):
        net.delete_network(network, ignore_missing=True)
    for group in list(net.security_groups(project_id=pid)):
        if group.name != "default":
            net.delete_security_group(group, ignore_missing=True)
    # after the security groups: a rule using an address group keeps it in use
    for address_group in list(net.address_groups(project_id=pid)):
        net.delete_address_group(address_group, ignore_missing=True)
    for server_group in list(conn.compute.server_groups()):
        conn.compute.delete_server_group(server_group, ignore_missing=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["seed", "clean"])
    parser.add_argument("--cloud", required=True, help="cloud name in clouds.yaml")
    parser.add_argument("--clouds-yaml", help="path of clouds.yaml")
    parser.add_argument(
        "--server", action="store_true", help="seed: also the demo workload (server with a volume and a FIP)"
    )
    args = parser.parse_args(argv)
    config = openstack.config.OpenStackConfig(
        config_files=[args.clouds_yaml] if args.clouds_yaml else None, load_envvars=False
    )
    conn = openstack.connection.Connection(config=config.get_one(cloud=args.cloud))
    if args.action == "seed":
        seed(conn)
        if args.server:
            seed_server(conn)
    else:
        clean(conn)
    print(f"{args.action}: done in project {conn.current_project_id} ({args.cloud})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
