"""The destination ports of one server, in NIC order.

Neutron mode pre-creates each port with every fixed IP, the source MAC and the allowed address
pairs, and finds it again by MAC on a re-run; Nova mode gives Nova the network and the first
fixed IP.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from os_migrate.references import RefIndex
from os_migrate.workload import cloudops
from os_migrate.workload.cloudops import SOURCE_ID_KEY
from os_migrate.workload.errors import DestinationError
from os_migrate.workload.records import Server

LOG = logging.getLogger(__name__)


def server_networks(dst, server: Server, refs: RefIndex, warnings: list[str]) -> list[dict]:
    """The ``networks`` of the server create request, in NIC order.

    Neutron mode: ``{"port": id}`` of each :func:`ensure_port`; Nova mode: ``{"uuid", "fixed_ip"}``
    with the first fixed IP (a warning names the dropped ones).
    """
    mode = server.migration_params["port_creation_mode"]
    networks = []
    for i, port in enumerate(server.ports):
        net = refs.find("network", port["network"])
        if mode == "nova":
            nic = {"uuid": net.id}
            fixed = port.get("fixed_ips") or []
            if fixed:
                nic["fixed_ip"] = fixed[0]["ip_address"]
            if len(fixed) > 1:
                warnings.append(
                    f"NIC {i}: port_creation_mode nova keeps only the first fixed IP "
                    f"({fixed[0]['ip_address']}); dropped " + ", ".join(f["ip_address"] for f in fixed[1:])
                )
            networks.append(nic)
        else:
            networks.append({"port": ensure_port(dst, server, i, port, net, refs).id})
    return networks


def ensure_port(dst, server: Server, index: int, port: Mapping[str, Any], net, refs: RefIndex):
    """The destination port of NIC ``index`` (Neutron mode): found by MAC, else created.

    :raises DestinationError: a port with that MAC is bound to another device.
    """
    mac = port.get("mac_address")
    if mac:
        for p in cloudops.call(lambda: list(dst.network.ports(network_id=net.id, mac_address=mac))):
            owner = p.device_id or ""
            if owner and not is_our_server(dst, owner, server):
                raise DestinationError(
                    f"{server.name} NIC {index}: MAC {mac} is used in network "
                    f"{net.name} by port {p.id} of device {owner}"
                )
            LOG.info("%s NIC %d: reusing port %s (MAC %s)", server.name, index, p.id, mac)
            return p
    body: dict[str, Any] = {
        "network_id": net.id,
        "name": port.get("name") or f"{server.name}-nic{index}",
        "fixed_ips": [
            {"subnet_id": refs.id("subnet", f["subnet"]), "ip_address": f["ip_address"]}
            for f in port.get("fixed_ips") or []
        ],
    }
    if mac:
        body["mac_address"] = mac
    if port.get("description"):
        body["description"] = port["description"]
    if port.get("is_port_security_enabled") is False:
        body["port_security_enabled"] = False
    else:
        body["security_group_ids"] = [
            refs.id("security_group", sg) for sg in port.get("security_groups") or []
        ]
        if port.get("allowed_address_pairs"):
            body["allowed_address_pairs"] = port["allowed_address_pairs"]
    LOG.info(
        "%s NIC %d: creating port on %s with %s",
        server.name,
        index,
        net.name,
        ", ".join(f["ip_address"] for f in port.get("fixed_ips") or []) or "a DHCP address",
    )
    return dst.network.create_port(**body)


def is_our_server(dst, server_id: str, server: Server) -> bool:
    """True if the destination server ``server_id`` was made by os-migrate for ``server``."""
    s = cloudops.get_server(dst, server_id)
    return s is not None and (s.metadata or {}).get(SOURCE_ID_KEY) == server.source_id


def release_ports(dst, server: Server) -> list[str]:
    """Delete the unbound destination ports of ``server``'s NICs (Neutron mode; found by MAC).

    :returns: one line per deleted port.
    """
    done: list[str] = []
    if server.migration_params["port_creation_mode"] != "neutron":
        return done
    refs = RefIndex(dst)
    for port in server.ports:
        net = refs.find("network", port["network"], required=False)
        if net is None or not port.get("mac_address"):
            continue
        for p in cloudops.listing(dst.network.ports, network_id=net.id, mac_address=port["mac_address"]):
            if not p.device_id:
                cloudops.call(dst.network.delete_port, p.id, ignore_missing=True)
                done.append(f"port {p.id}")
    return done


__all__ = ["ensure_port", "is_our_server", "release_ports", "server_networks"]
