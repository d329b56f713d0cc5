"""Export servers (with ports, floating IPs, volumes) and detached volumes to the data dir.

Reads only (the cloud; the data dir's state files tell which servers are being migrated: their
records are frozen until the migration finishes or is rolled back). Per run: one server list,
one floating IP list, one volume list, plus per server
one port list and one volume attachment list, and the name lookups of
:class:`~os_migrate.references.RefIndex` (each kind listed once).

NIC order is taken from the server's ``addresses`` (Nova builds it from the instance's network
info in VIF order; each address carries its port's MAC); ports not found there follow by
creation time. The boot volume of a server booted from volume is found by the admin-only
``root_device_name`` when readable, else it is the only bootable attached volume, else the first
bootable one in attachment order (``_info.boot_index_source`` says which rule decided; edit
``boot_index`` in the file if it guessed wrong).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from os_migrate.cloud import check_connection
from os_migrate.export import refresh_data_file
from os_migrate.filters import Filters
from os_migrate.references import RefIndex
from os_migrate.resources.base import _sort_key
from os_migrate.resources.compute import ServerGroup
from os_migrate.serialization import load_resources
from os_migrate.workload import cloudops
from os_migrate.workload.cloudops import SHA256_KEY, SOURCE_ID_KEY, TMP_PREFIX
from os_migrate.workload.records import (
    DETACHED_VOLUMES,
    MIGRATION_PARAM_DEFAULTS,
    WORKLOADS,
    DetachedVolume,
    Server,
    state_dir,
    workload_file,
)

LOG = logging.getLogger(__name__)

#: Scheduler hints that name source-cloud objects by id; they are kept in ``_info`` only (the
#: ``group`` hint is made again in the destination from ``params.server_group``).
ID_HINTS = (
    "group",
    "same_host",
    "different_host",
    "different_cell",
    "build_near_host_ip",
    "target_cell",
    "query",
)
#: Volume metadata keys that are not the user's (markers of our own tool).
_MARKER_KEYS = (SOURCE_ID_KEY, SHA256_KEY)


def export_workloads(conn, data_dir: str | Path, *, servers: list | None = None) -> dict:
    """Export the project's servers and detached volumes.

    :param conn: source ``openstack.connection.Connection`` (scoped to the tenant's project).
    :param data_dir: the data dir (created if missing).
    :param servers: server name filter: names and ``{"regex": pattern}`` items; None selects all.
    :returns: ``{"data_dir", "servers": [exported names], "counts": {"workloads": n,
        "detached_volumes": m}, "files": {stem: path}, "changed": {stem: bool}}``.
    :raises ValidationError: bad filter.
    :raises CloudError: the source is unreachable or refuses the credentials.
    """
    flt = Filters({WORKLOADS: servers} if servers is not None else None, (WORKLOADS,))
    check_connection(conn)
    refs = RefIndex(conn)
    pid = conn.current_project_id
    volumes = {v.id: v for v in cloudops.project_volumes(conn)}
    fips = list(cloudops.call(lambda: list(conn.network.ips(project_id=pid))))
    path = workload_file(data_dir, WORKLOADS)
    existing = {(r.get("_info") or {}).get("id"): r for r in load_resources(path) if isinstance(r, dict)}
    exported = []
    for srv in cloudops.call(lambda: list(conn.compute.servers(details=True))):
        if not flt.selects(WORKLOADS, srv.name):
            continue
        if srv.id in existing and migration_in_progress(data_dir, srv.id):
            LOG.info("%s: migration in progress; its record is kept as it is", srv.name)
            exported.append(existing[srv.id])
            continue
        exported.append(server_record(conn, refs, srv, fips, volumes))
    exported.sort(key=lambda r: (r["params"]["name"], r["_info"]["id"]))
    detached = [volume_record(refs, v) for v in volumes.values() if _is_detached(v)]
    detached.sort(key=lambda r: (r["params"].get("name") or "", r["_info"]["id"]))
    summary = {
        "data_dir": str(data_dir),
        "servers": [r["params"]["name"] for r in exported],
        "counts": {},
        "files": {},
        "changed": {},
    }
    for stem, records in ((WORKLOADS, exported), (DETACHED_VOLUMES, detached)):
        refresh_data_file(
            workload_file(data_dir, stem),
            records,
            summary,
            stem,
            identity=_server_name if stem == WORKLOADS else None,
        )
    return summary


def migration_in_progress(data_dir: str | Path, server_id: str) -> bool:
    """True while a migration of the server is unfinished and changed its source (stopped it,
    detached a volume): its record must not change under the running migration."""
    path = state_dir(data_dir) / f"{server_id}.json"
    if not path.exists():
        return False
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return True
    return state.get("result") is None and bool(state.get("stopped_by_os_migrate") or state.get("detached"))


def _server_name(record: dict) -> str:
    return record["params"]["name"]


def _is_detached(volume) -> bool:
    return (
        volume.status == "available"
        and not volume.attachments
        and not (volume.name or "").startswith(TMP_PREFIX)
        and SOURCE_ID_KEY not in (volume.metadata or {})
    )


def _volume_params(volume) -> dict:
    return {
        "name": volume.name or None,
        "description": volume.description or None,
        "size": int(volume.size),
        "volume_type": volume.volume_type,
        "is_bootable": bool(volume.is_bootable),
        "metadata": {k: v for k, v in (volume.metadata or {}).items() if k not in _MARKER_KEYS},
        "volume_image_metadata": dict(volume.volume_image_metadata or {}),
    }


def volume_record(refs: RefIndex, volume) -> dict:
    """Record of a detached volume."""
    return DetachedVolume(
        {
            "type": DetachedVolume.type,
            "params": _volume_params(volume),
            "_info": {
                k: v
                for k, v in {
                    "id": volume.id,
                    "status": volume.status,
                    "availability_zone": volume.availability_zone,
                    "created_at": volume.created_at,
                    "updated_at": volume.updated_at,
                }.items()
                if v
            },
            "_migration_params": dict(DetachedVolume.migration_param_defaults),
        }
    ).record


def nic_order(server, ports: Iterable) -> list:
    """Ports in the server's NIC order (see module docstring)."""
    macs: list[str] = []
    for addrs in (server.addresses or {}).values():
        for a in addrs:
            mac = a.get("OS-EXT-IPS-MAC:mac_addr")
            if mac and mac not in macs:
                macs.append(mac)
    rank = {mac: i for i, mac in enumerate(macs)}
    return sorted(ports, key=lambda p: (rank.get(p.mac_address, len(rank)), p.created_at or "", p.id))


def port_params(refs: RefIndex, port) -> dict:
    """Params of one port (references by name)."""
    return {
        "name": port.name or "",
        "description": port.description or "",
        "network": refs.ref("network", port.network_id),
        "fixed_ips": [
            {"subnet": refs.ref("subnet", f["subnet_id"]), "ip_address": f["ip_address"]}
            for f in port.fixed_ips or []
        ],
        "mac_address": port.mac_address,
        "allowed_address_pairs": sorted(
            [{k: v for k, v in pair.items() if v} for pair in port.allowed_address_pairs or []], key=_sort_key
        ),
        "security_groups": sorted(
            (refs.ref("security_group", sg) for sg in port.security_group_ids or []),
            key=lambda r: (r.get("name") or "", r.get("project_name") or ""),
        ),
        "is_port_security_enabled": port.is_port_security_enabled,
    }


def _flavor_name(server) -> str | None:
    flavor = server.flavor
    if isinstance(flavor, Mapping):
        return flavor.get("original_name") or flavor.get("name")
    return getattr(flavor, "original_name", None) or getattr(flavor, "name", None)


def _image_id(server) -> str | None:
    image = server.image
    if isinstance(image, Mapping):
        return image.get("id") or None
    return getattr(image, "id", None) or None


def _boot_volume_id(server, attached: list[tuple[Any, Any]]) -> tuple[str | None, str]:
    """``(volume id of the root, rule used)`` for a server booted from volume."""
    root_device = getattr(server, "root_device_name", None)
    if root_device:
        for att, _vol in attached:
            if att.device == root_device:
                return att.volume_id, "root_device_name"
    bootable = [(att, vol) for att, vol in attached if vol is not None and vol.is_bootable]
    if len(bootable) == 1:
        return bootable[0][0].volume_id, "bootable_volume"
    candidates = bootable or attached
    if candidates:
        return candidates[0][0].volume_id, "first_attachment"
    return None, "none"


def server_record(
    conn,
    refs: RefIndex,
    server,
    fips: list,
    volumes: Mapping[str, Any],
) -> dict:
    """Record of one server (see :mod:`os_migrate.workload.records`).

    Its server group is found from the groups' members (any microversion; Nova shows a server's
    ``server_groups`` only on a single-server read), listed once per export by ``refs``.
    """
    ports = nic_order(server, cloudops.call(lambda: list(conn.network.ports(device_id=server.id))))
    port_ids = {p.id for p in ports}
    server_fips = sorted(
        (f for f in fips if f.port_id in port_ids), key=lambda f: _sort_key(f.floating_ip_address)
    )
    attached = []
    for att in cloudops.call(lambda: list(conn.compute.volume_attachments(server))):
        vol = volumes.get(att.volume_id) or cloudops.get_volume(conn, att.volume_id)
        attached.append((att, vol))
    image_id = _image_id(server)
    root_id, rule = (None, "image") if image_id else _boot_volume_id(server, attached)
    vols, vol_info = [], []
    for att, vol in attached:
        params = _volume_params(vol) if vol is not None else {"size": 1}
        params["device"] = att.device
        params["boot_index"] = 0 if att.volume_id == root_id else None
        vols.append(params)
        vol_info.append({"id": att.volume_id, "device": att.device, "status": getattr(vol, "status", None)})
    order = sorted(range(len(vols)), key=lambda i: (vols[i]["boot_index"] != 0, vols[i]["device"] or ""))
    vols = [vols[i] for i in order]
    vol_info = [vol_info[i] for i in order]
    group_ids = []
    for p in ports:
        for sg in p.security_group_ids or []:
            if sg not in group_ids:
                group_ids.append(sg)
    groups: list[dict]
    if group_ids:
        groups = [r for r in (refs.ref("security_group", sg) for sg in group_ids) if r is not None]
    else:
        groups = [
            {"name": g.get("name"), "project_name": None, "domain_name": None}
            for g in server.security_groups or []
        ]
    groups = sorted(groups, key=lambda r: (r.get("name") or "", r.get("project_name") or ""))
    hints = dict(getattr(server, "scheduler_hints", None) or {})
    dropped = {k: hints.pop(k) for k in list(hints) if k in ID_HINTS}
    config_drive = server.config_drive
    params = {
        "name": server.name,
        "description": server.description,
        "flavor": {"name": _flavor_name(server)},
        "image": refs.ref("image", image_id) if image_id else None,
        "key_name": server.key_name,
        "security_groups": groups,
        "metadata": dict(server.metadata or {}),
        "tags": sorted(server.tags or []),
        "availability_zone": server.availability_zone,
        "user_data": server.user_data,
        "config_drive": config_drive in (True, "True", "true", "1"),
        "scheduler_hints": hints,
        "server_group": ServerGroup.ref_for_member(refs, server.id),
        "ports": [port_params(refs, p) for p in ports],
        "floating_ips": [
            {
                "floating_ip_address": f.floating_ip_address,
                "floating_network": refs.ref("network", f.floating_network_id),
                "fixed_ip_address": f.fixed_ip_address,
                "description": f.description or "",
            }
            for f in server_fips
        ],
        "volumes": vols,
    }
    info = {
        "id": server.id,
        "project_id": server.project_id,
        "status": server.status,
        "created_at": server.created_at,
        "updated_at": server.updated_at,
        "image_id": image_id,
        "ports": [{"id": p.id, "mac_address": p.mac_address, "network_id": p.network_id} for p in ports],
        "volumes": vol_info,
        "floating_ips": [{"id": f.id, "floating_ip_address": f.floating_ip_address} for f in server_fips],
        "boot_index_source": rule,
        "dropped_scheduler_hints": dropped,
        "user_data_readable": server.user_data is not None,
    }
    record = {
        "type": Server.type,
        "params": params,
        "_info": {k: v for k, v in info.items() if v not in (None, {}, "")},
        "_migration_params": dict(MIGRATION_PARAM_DEFAULTS),
    }
    return Server(record).record
