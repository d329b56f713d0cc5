"""Undoing one server's migration: temporaries, the source's lost state, the destination's pieces.

Every function here is idempotent and touches only what os-migrate made or changed: temporaries
named ``osm-tmp-<source id>``, destination resources carrying the source marker (or recorded in
the state file), and the source changes recorded in the state file (its power state, detached
volumes).
"""

from __future__ import annotations

import logging

from os_migrate.workload import cloudops
from os_migrate.workload.cloudops import SHA256_KEY, SOURCE_ID_KEY
from os_migrate.workload.disk_copy import DiskCopier, reattach_volume
from os_migrate.workload.disks import disk_plan
from os_migrate.workload.floating_ips import release_floating_ips
from os_migrate.workload.ports import release_ports
from os_migrate.workload.records import Server
from os_migrate.workload.store import ServerState

LOG = logging.getLogger(__name__)


def cleanup_temporaries(copier: DiskCopier, server: Server, dst=None) -> list[str]:
    """Remove the copier's temporaries of every disk ``server`` could have, in both clouds.

    Every disk, not only the planned ones: a run with other params (``boot_disk_copy``,
    ``data_copy``) may have started a disk this run does not copy. With ``dst``, unfinished
    destination volumes of such unplanned disks (source marker, no ``os_migrate_sha256``, attached
    to nothing) are deleted too.

    :returns: one line per deleted resource.
    """
    cleaned = []
    planned = {d.source.id for d in disk_plan(server)}
    for disk in disk_plan(server.with_overrides({"boot_disk_copy": True, "data_copy": True})):
        cleaned.extend(copier.cleanup(disk.source))
        if dst is None or disk.source.id in planned:
            continue
        for vol in cloudops.volumes_with_marker(dst, disk.source.id):
            if not (vol.metadata or {}).get(SHA256_KEY) and not vol.attachments:
                cloudops.delete_volume(dst, vol, what="unfinished copy of an unplanned disk")
                cleaned.append(f"destination volume {vol.id} (unfinished, {disk.source.label})")
    return cleaned


def reattach_source_volumes(src, state: ServerState) -> None:
    """Attach back every source volume the state file says was detached (at its device)."""
    for volume_id, where in list(state.get("detached", {}).items()):
        reattach_volume(src, volume_id, where["server_id"], where.get("device"))
        state.record_reattach(volume_id)


def restore_source_power(src, server: Server, state: ServerState, *, restart: bool) -> str:
    """Start the source again if we stopped it, it was ACTIVE and ``restart``; return its status."""
    source = cloudops.get_server(src, server.source_id)
    if source is None:
        return "not found"
    if (
        restart
        and state.get("stopped_by_os_migrate")
        and state.get("source_status_before") == "ACTIVE"
        and source.status == "SHUTOFF"
    ):
        LOG.info("starting the source server %s again", server.name)
        src.compute.start_server(source)
        source = cloudops.wait_server(
            src, source.id, "ACTIVE", what=f"source server {server.name}", timeout=300
        )
        state.set(stopped_by_os_migrate=False)
    return source.status


def rollback_destination(dst, server: Server, state: ServerState, dst_server) -> list[str]:
    """Delete what os-migrate made in the destination for ``server`` (never anything else).

    Order: the server (ours only), the floating IPs we allocated, the unbound Neutron-mode ports,
    the volumes carrying the source marker.

    :returns: one line per deleted resource.
    """
    done = []
    if dst_server is not None and (dst_server.metadata or {}).get(SOURCE_ID_KEY) == server.source_id:
        cloudops.call(dst.compute.delete_server, dst_server.id, ignore_missing=True)
        cloudops.wait_server_gone(dst, dst_server.id, what="destination server")
        done.append(f"server {dst_server.id}")
    done.extend(release_floating_ips(dst, state))
    done.extend(release_ports(dst, server))
    for disk in disk_plan(server):
        for vol in cloudops.volumes_with_marker(dst, disk.source.id):
            cloudops.delete_volume(dst, vol, what="destination volume")
            done.append(f"volume {vol.id}")
    for line in done:
        LOG.info("rolled back %s: %s", server.name, line)
    return done


__all__ = ["cleanup_temporaries", "reattach_source_volumes", "restore_source_power", "rollback_destination"]
