"""The floating IPs of one destination server, per ``_migration_params.floating_ip_mode``.

Each source floating IP goes to the destination port holding the same fixed IP: the same address
when it is pre-allocated (and free) in the destination project (``auto``, ``existing``), else a
new one from the same-named floating network (``auto``, ``new``). Addresses we allocate are
recorded in the state file, so a rollback deletes exactly those.
"""

from __future__ import annotations

import logging

from os_migrate.references import RefIndex
from os_migrate.workload import cloudops
from os_migrate.workload.errors import DestinationError
from os_migrate.workload.records import Server
from os_migrate.workload.store import ServerState

LOG = logging.getLogger(__name__)


def attach_floating_ips(
    dst, server: Server, dst_server, refs: RefIndex, state: ServerState, warnings: list[str]
) -> list[str]:
    """Give the destination server the source's floating IPs per ``floating_ip_mode``.

    Each one goes to the destination port that owns the same fixed IP. Already attached ones are
    kept (idempotent).

    :returns: the floating addresses now attached.
    :raises DestinationError: mode ``existing`` and the address is not pre-allocated and free.
    """
    mode = server.migration_params["floating_ip_mode"]
    if mode == "skip":
        return []
    ports = cloudops.call(lambda: list(dst.network.ports(device_id=dst_server.id)))
    out = []
    for fip in server.floating_ips:
        fixed = fip["fixed_ip_address"]
        port = next((p for p in ports if any(f["ip_address"] == fixed for f in p.fixed_ips)), None)
        if port is None:
            warnings.append(
                f"floating IP {fip['floating_ip_address']}: no destination port holds "
                f"fixed IP {fixed}; not attached"
            )
            continue
        attached = cloudops.listing(dst.network.ips, port_id=port.id, fixed_ip_address=fixed)
        if attached:
            out.append(attached[0].floating_ip_address)
            continue
        address = fip["floating_ip_address"]
        pre = None
        if mode in ("auto", "existing"):
            pre = next(
                (
                    f
                    for f in cloudops.listing(
                        dst.network.ips, floating_ip_address=address, project_id=dst.current_project_id
                    )
                    if not f.port_id
                ),
                None,
            )
            if pre is None and mode == "existing":
                raise DestinationError(
                    f"floating IP {address} is not pre-allocated (and free) in "
                    "the destination project (floating_ip_mode existing)"
                )
        if pre is not None:
            LOG.info("attaching pre-allocated floating IP %s to port %s", address, port.id)
            updated = dst.network.update_ip(pre, port_id=port.id, fixed_ip_address=fixed)
            out.append(updated.floating_ip_address)
            continue
        network = refs.find("network", fip["floating_network"])
        created = dst.network.create_ip(
            floating_network_id=network.id,
            port_id=port.id,
            fixed_ip_address=fixed,
            description=fip.get("description") or "",
        )
        state.record_floating_ip(created.id)
        LOG.info(
            "allocated floating IP %s for %s (source had %s)", created.floating_ip_address, fixed, address
        )
        out.append(created.floating_ip_address)
    return out


def missing_floating_ips(dst, server: Server, dst_server) -> list[str]:
    """The source's floating IPs the destination server lacks (none with mode ``skip``).

    A fixed IP no destination port holds (Nova mode keeps one per NIC) is not counted: it was
    reported when the server was created.
    """
    missing: list[str] = []
    if server.migration_params["floating_ip_mode"] == "skip" or not server.floating_ips:
        return missing
    ports = cloudops.listing(dst.network.ports, device_id=dst_server.id)
    fixed = {f["ip_address"]: p.id for p in ports for f in p.fixed_ips}
    for fip in server.floating_ips:
        port_id = fixed.get(fip["fixed_ip_address"])
        if port_id is None:
            continue
        if not cloudops.listing(dst.network.ips, port_id=port_id, fixed_ip_address=fip["fixed_ip_address"]):
            missing.append(f"floating IP for {fip['fixed_ip_address']}")
    return missing


def release_floating_ips(dst, state: ServerState) -> list[str]:
    """Delete the floating IPs os-migrate allocated for the server (from its state file).

    :returns: one line per deleted address.
    """
    done = []
    for fip_id in list(state.get("allocated_floating_ips", [])):
        cloudops.call(dst.network.delete_ip, fip_id, ignore_missing=True)
        done.append(f"floating IP {fip_id}")
    state.set(allocated_floating_ips=[])
    return done


__all__ = ["attach_floating_ips", "missing_floating_ips", "release_floating_ips"]
