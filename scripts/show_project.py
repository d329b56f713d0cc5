"""Print the networking content, images, keypairs, server groups and servers of a project: what a
migration created.

Usage: ``python scripts/show_project.py --cloud devcloud-dst [--clouds-yaml PATH]``
"""

from __future__ import annotations

import argparse
import sys

import openstack.config
import openstack.connection


def show(conn) -> None:
    net, pid = conn.network, conn.current_project_id
    subnets = {s.id: s for s in net.subnets(project_id=pid)}
    print(f"project {pid}")
    for n in sorted(net.networks(project_id=pid), key=lambda x: x.name):
        print(f"  network {n.name}")
        for sid in n.subnet_ids:
            s = subnets[sid]
            pools = ", ".join(f"{p['start']}-{p['end']}" for p in s.allocation_pools)
            print(
                f"    subnet {s.name:<14} {s.cidr:<15} gw {s.gateway_ip} dhcp {s.is_dhcp_enabled}"
                f" pools [{pools}] dns {s.dns_nameservers} routes "
                f"{[(r['destination'], r['nexthop']) for r in s.host_routes]}"
            )
    for r in sorted(net.routers(project_id=pid), key=lambda x: x.name):
        gw = (r.external_gateway_info or {}).get("network_id")
        gw_name = net.get_network(gw).name if gw else None
        print(
            f"  router {r.name} gateway {gw_name} routes "
            f"{[(x['destination'], x['nexthop']) for x in r.routes]}"
        )
        for p in net.ports(device_id=r.id, device_owner="network:router_interface"):
            for ip in p.fixed_ips:
                print(f"    interface {subnets[ip['subnet_id']].name} {ip['ip_address']}")
    address_groups = {g.id: g for g in net.address_groups(project_id=pid)}
    for ag in sorted(address_groups.values(), key=lambda x: x.name):
        print(f"  address group {ag.name} {sorted(ag.addresses)}")
    groups = list(net.security_groups(project_id=pid))
    names = {g.id: g.name for g in groups}
    for g in sorted(groups, key=lambda x: x.name):
        print(f"  security group {g.name}")
        for rule in sorted(g.security_group_rules, key=lambda x: (x["direction"], str(x["protocol"]))):
            remote = rule.get("remote_ip_prefix") or (
                f"group {names.get(rule.get('remote_group_id'), '?')}"
                if rule.get("remote_group_id")
                else (
                    f"address group {address_groups[rule['remote_address_group_id']].name}"
                    if rule.get("remote_address_group_id") in address_groups
                    else "any"
                )
            )
            ports = (
                f"{rule['port_range_min']}-{rule['port_range_max']}"
                if rule.get("port_range_min") is not None
                else "all"
            )
            print(
                f"    {rule['direction']:<7} {rule['ethertype']} {rule['protocol'] or 'any':<5}"
                f" ports {ports:<9} from/to {remote}"
            )
    for img in sorted(conn.image.images(owner=pid), key=lambda x: x.name or ""):
        print(
            f"  image {img.name} {img.disk_format}/{img.container_format} {img.size} bytes "
            f"{img.status} {img.hash_algo}:{(img.hash_value or '')[:16]}..."
        )
    for kp in sorted(conn.compute.keypairs(), key=lambda x: x.name):
        print(f"  keypair {kp.name} ({kp.type}) {kp.fingerprint}")
    for sg in sorted(conn.compute.server_groups(), key=lambda x: x.name):
        print(
            f"  server group {sg.name} {sg.policy} rules {sg.rules or {}} members {len(sg.member_ids or [])}"
        )
    fips = {f.port_id: f.floating_ip_address for f in net.ips(project_id=pid) if f.port_id}
    for srv in sorted(conn.compute.servers(), key=lambda x: x.name):
        print(f"  server {srv.name} {srv.status} key {srv.key_name}")
        for port in net.ports(device_id=srv.id):
            ips = [f["ip_address"] for f in port.fixed_ips]
            print(f"    port {port.mac_address} {ips} floating {fips.get(port.id)}")
        for att in conn.compute.volume_attachments(srv):
            vol = conn.block_storage.get_volume(att.volume_id)
            print(f"    volume {vol.name} {vol.size} GiB {vol.volume_type} at {att.device}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cloud", required=True)
    parser.add_argument("--clouds-yaml")
    args = parser.parse_args(argv)
    config = openstack.config.OpenStackConfig(
        config_files=[args.clouds_yaml] if args.clouds_yaml else None, load_envvars=False
    )
    show(openstack.connection.Connection(config=config.get_one(cloud=args.cloud)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
