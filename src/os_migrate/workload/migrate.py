"""Per-server migration steps: prepare -> copy disks -> create server -> finalize.

Each step is a plain function ``step(src, dst, data_dir, name, *, overrides=None) -> dict``
(connections are openstacksdk ``Connection`` objects; ``name`` selects the record of
``workloads.yml``; ``overrides`` update its ``_migration_params`` for this run). Each one is safe to
run again after an interruption at any point, because every resource it makes is found again
deterministically:

- destination server: same name, metadata ``os_migrate_source_id: <source server id>``;
- destination volumes: metadata ``os_migrate_source_id: <source volume id>`` (or the source
  server id for a boot disk made from an image-booted server), and ``os_migrate_sha256`` once
  the data was verified and the image metadata set (the completion marker);
- destination ports (Neutron mode): the source MAC address on the destination network;
- temporaries: ``osm-tmp-<source id>`` in both clouds (see :mod:`.disk_copy`);
- what the source lost (its power state, detached volumes) and floating IPs we allocated: the
  state file (:class:`~os_migrate.workload.store.ServerState`).

A server whose name is taken in the destination by a server os-migrate did not create is
skipped (never touched). :func:`finalize_server` always runs last (in the DAG with trigger rule
``all_done``): if the destination server is complete it removes temporaries and leaves the
source stopped (or restarts it with ``restart_source_after``); otherwise it removes the partial
destination resources, restores the source and raises
:class:`~os_migrate.workload.errors.MigrationFailed`.

The source server is never deleted or changed, except: stopped (``stop_before_migration``),
started again (on failure, or with ``restart_source_after``), and, only when its cloud can
neither snapshot nor force-upload an in-use volume, a data volume detached for the upload and
attached back at the same device right after.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openstack import exceptions as sdk_exc

from os_migrate.cloud import find_or_none
from os_migrate.references import RefIndex
from os_migrate.workload import cloudops
from os_migrate.workload.cloudops import SHA256_KEY, SOURCE_ID_KEY
from os_migrate.workload.disk_copy import (
    CopyResult,
    DiskCopier,
    DiskSource,
    VolumeSpec,
    make_copier,
    reattach_volume,
)
from os_migrate.workload.errors import (
    DestinationError,
    MigrationFailed,
    SourceStateError,
    WorkloadError,
)
from os_migrate.workload.records import Server
from os_migrate.workload.store import ServerState, load_server

LOG = logging.getLogger(__name__)

#: Step outcomes (``action`` of prepare, ``result`` of finalize).
MIGRATE, SKIP, DONE = "migrate", "skip", "done"
MIGRATED, SKIPPED, ROLLED_BACK = "migrated", "skipped", "rolled_back"


@dataclass(frozen=True)
class PlannedDisk:
    """One disk to copy: the source, the destination volume spec, the image metadata to end with.

    ``volume_image_metadata`` is None when it comes from the source image (boot disk of an
    image-booted server).
    """

    source: DiskSource
    spec: VolumeSpec
    role: str  # "boot" or "data"
    volume_image_metadata: dict | None
    device: str | None
    boot_index: int | None


# -- destination server lookup ---------------------------------------------------------------------


def destination_server(dst, server: Server) -> tuple[Any, bool]:
    """The destination server named like ``server``, and whether os-migrate made it.

    :returns: ``(server or None, ours)``; ``ours`` is True when its metadata names the source.
    """
    found = cloudops.servers_named(dst, server.name)
    ours = [s for s in found if (s.metadata or {}).get(SOURCE_ID_KEY) == server.source_id]
    if ours:
        return ours[0], True
    return (found[0], False) if found else (None, False)


def skip_reason(dst, server: Server) -> str | None:
    """Why ``server`` is skipped (its name is taken by a server we did not make), or None."""
    existing, ours = destination_server(dst, server)
    if existing is not None and not ours:
        return (
            f"a server named {server.name!r} already exists in the destination "
            f"({existing.id}) and was not created by os-migrate; skipped"
        )
    return None


# -- the disk plan ---------------------------------------------------------------------------------


def _mapped_type(server: Server, volume_type: str | None) -> str | None:
    mapping = server.migration_params.get("volume_type_map") or {}
    return mapping.get(volume_type, volume_type) if volume_type else None


def _volume_metadata(metadata: Mapping[str, Any] | None, source_id: str) -> dict[str, str]:
    out = {k: str(v) for k, v in (metadata or {}).items() if k not in (SOURCE_ID_KEY, SHA256_KEY)}
    out[SOURCE_ID_KEY] = source_id
    return out


def disk_plan(server: Server, *, flavor_disk: int = 0) -> list[PlannedDisk]:
    """The disks to copy for ``server``, boot disk first.

    - a server booted from volume: its boot volume (always), then its data volumes;
    - an image-booted server with ``boot_disk_copy``: its root disk (through a server snapshot)
      into a boot volume of ``max(data size, image min_disk, flavor disk, 1)`` GiB;
    - data volumes only when ``data_copy`` is true.

    :param flavor_disk: root disk size of the destination flavor, in GiB.
    :raises KeyError: a volume of ``params`` has no source id in ``_info`` (record edited badly).
    """
    mp = server.migration_params
    boot_params = mp.get("boot_volume_params") or {}
    plan = []
    boot = server.boot_volume()
    if boot is not None:
        vid = server.source_volume_id(boot)
        plan.append(
            PlannedDisk(
                source=DiskSource(
                    "volume",
                    vid,
                    server.source_id,
                    boot["device"],
                    True,
                    f"{server.name} {boot['device']} (boot volume {boot.get('name')})",
                ),
                spec=VolumeSpec(
                    name=boot_params.get("name") or boot.get("name") or f"{server.name}-boot",
                    size=max(int(boot["size"]), int(boot_params.get("size") or 0)),
                    volume_type=boot_params.get("volume_type")
                    or _mapped_type(server, boot.get("volume_type")),
                    description=boot_params.get("description", boot.get("description")),
                    metadata=_volume_metadata(boot.get("metadata"), vid),
                    is_bootable=True,
                ),
                role="boot",
                volume_image_metadata=dict(boot.get("volume_image_metadata") or {}),
                device=boot["device"],
                boot_index=0,
            )
        )
    elif mp.get("boot_disk_copy"):
        plan.append(
            PlannedDisk(
                source=DiskSource(
                    "server_disk", server.source_id, None, None, True, f"{server.name} (root disk)"
                ),
                spec=VolumeSpec(
                    name=boot_params.get("name") or f"{server.name}-boot",
                    size=max(int(boot_params.get("size") or 0), int(flavor_disk or 0), 1),
                    volume_type=boot_params.get("volume_type"),
                    description=boot_params.get("description"),
                    metadata=_volume_metadata({}, server.source_id),
                    is_bootable=True,
                ),
                role="boot",
                volume_image_metadata=None,
                device=None,
                boot_index=0,
            )
        )
    if mp.get("data_copy", True):
        for vol in server.data_volumes():
            vid = server.source_volume_id(vol)
            plan.append(
                PlannedDisk(
                    source=DiskSource(
                        "volume",
                        vid,
                        server.source_id,
                        vol["device"],
                        False,
                        f"{server.name} {vol['device']} ({vol.get('name') or vid})",
                    ),
                    spec=VolumeSpec(
                        name=vol.get("name") or f"{server.name}-{vol['device'].rsplit('/', 1)[-1]}",
                        size=int(vol["size"]),
                        volume_type=_mapped_type(server, vol.get("volume_type")),
                        description=vol.get("description"),
                        metadata=_volume_metadata(vol.get("metadata"), vid),
                        is_bootable=bool(vol.get("is_bootable")),
                    ),
                    role="data",
                    volume_image_metadata=dict(vol.get("volume_image_metadata") or {}),
                    device=vol["device"],
                    boot_index=None,
                )
            )
    return plan


def _flavor_disk(dst, server: Server) -> int:
    flavor = cloudops.call(find_or_none, dst.compute.find_flavor, server.params["flavor"]["name"])
    return int(getattr(flavor, "disk", 0) or 0)


# -- step 1: prepare -------------------------------------------------------------------------------


def prepare_server(
    src, dst, data_dir: str | Path, name: str, *, overrides: Mapping[str, Any] | None = None
) -> dict:
    """Decide whether ``name`` is migrated, and stop the source server if asked.

    Order: the destination is checked first (a taken name or a finished migration means the
    source is left alone), then the source status is recorded in the state file, then the
    server is stopped (``stop_before_migration``) and SHUTOFF is required.

    :returns: ``{"server", "action": "migrate"|"skip"|"done", "reason"?, "source_status"}``;
        ``done`` means an earlier run finished this server.
    :raises SourceStateError: the source server is missing, or in a status other than ACTIVE or
        SHUTOFF, or does not reach SHUTOFF.
    """
    server = load_server(data_dir, name, overrides)
    reason = skip_reason(dst, server)
    if reason:
        LOG.info("%s", reason)
        return {"server": name, "action": SKIP, "reason": reason}
    state = ServerState.load(data_dir, server)
    existing, ours = destination_server(dst, server)
    if ours and existing.status == "ACTIVE" and not missing_pieces(dst, server, existing):
        return {
            "server": name,
            "action": DONE,
            "reason": "already migrated by an earlier run",
            "destination_id": existing.id,
        }
    source = cloudops.get_server(src, server.source_id)
    if source is None:
        raise SourceStateError(f"source server {name!r} ({server.source_id}) not found")
    if state.get("result") == MIGRATED:
        # Finished before; the destination lost a piece since (e.g. a floating IP): complete it
        # without touching the source again.
        LOG.info(
            "%s was migrated by an earlier run; completing %s",
            name,
            "; ".join(missing_pieces(dst, server, existing)) if existing else "it",
        )
        return {
            "server": name,
            "action": MIGRATE,
            "source_status": source.status,
            "source_status_before": state.get("source_status_before"),
        }
    if state.get("source_status_before") is None or state.get("result") == ROLLED_BACK:
        state.set(source_status_before=source.status, result=None)
    mp = server.migration_params
    if mp["stop_before_migration"]:
        if source.status == "ACTIVE":
            state.set(stopped_by_os_migrate=True)
            LOG.info("stopping source server %s (%s)", name, source.id)
            src.compute.stop_server(source)
        elif source.status != "SHUTOFF":
            raise SourceStateError(
                f"source server {name!r} is {source.status}; it must be ACTIVE "
                "(it is stopped first) or SHUTOFF"
            )
        source = cloudops.wait_server(
            src, source.id, "SHUTOFF", what=f"source server {name}", timeout=300, error=SourceStateError
        )
    elif source.status not in ("ACTIVE", "SHUTOFF"):
        raise SourceStateError(f"source server {name!r} is {source.status}; expected ACTIVE or SHUTOFF")
    return {
        "server": name,
        "action": MIGRATE,
        "source_status": source.status,
        "source_status_before": state.get("source_status_before"),
    }


# -- step 2: copy disks ----------------------------------------------------------------------------


def copy_server_disks(
    src,
    dst,
    data_dir: str | Path,
    name: str,
    *,
    overrides: Mapping[str, Any] | None = None,
    copier: DiskCopier | None = None,
) -> dict:
    """Copy every planned disk of ``name`` (see :func:`disk_plan`) into destination volumes.

    A disk whose verified copy exists is not copied again; a half-made copy is deleted and made
    again. Temporaries of a finished disk are removed at once.

    :param copier: a :class:`~os_migrate.workload.disk_copy.DiskCopier`; default: the record's
        ``copy_method``.
    :returns: ``{"server", "action", "disks": [CopyResult as dict, ...]}``.
    :raises CopyError: a copy failed (temporaries stay for the re-run or finalize).
    """
    server = load_server(data_dir, name, overrides)
    reason = skip_reason(dst, server)
    if reason:
        return {"server": name, "action": SKIP, "reason": reason, "disks": []}
    state = ServerState.load(data_dir, server)
    copier = copier or make_copier(server.migration_params["copy_method"], src, dst, journal=state)
    results = [
        ensure_disk_copy(copier, dst, disk, server)
        for disk in disk_plan(server, flavor_disk=_flavor_disk(dst, server))
    ]
    return {"server": name, "action": MIGRATE, "disks": [r.to_dict() for r in results]}


def completed_copy(dst, source_id: str):
    """The verified destination copy of a source disk (volume with both markers), or None."""
    for vol in cloudops.volumes_with_marker(dst, source_id):
        if (vol.metadata or {}).get(SHA256_KEY) and vol.status in ("available", "in-use"):
            return vol
    return None


def ensure_disk_copy(copier: DiskCopier, dst, disk: PlannedDisk, server: Server) -> CopyResult:
    """Find or make the verified destination copy of one disk (idempotent).

    Then set its volume image metadata to the source's (``image_id`` re-pointed to the
    destination image of the same name, or dropped) and mark it complete with its sha256.
    """
    done = completed_copy(dst, disk.source.id)
    if done is not None:
        LOG.info("%s: verified copy %s exists; not copied again", disk.source.label, done.id)
        return CopyResult(
            volume_id=done.id,
            size=done.size,
            bytes=0,
            sha256=done.metadata[SHA256_KEY],
            method=copier.method,
            access="reused",
        )
    for partial in cloudops.volumes_with_marker(dst, disk.source.id):
        cloudops.delete_volume(dst, partial, what="unfinished destination volume")
    result = copier.copy(disk.source, disk.spec)
    want = disk.volume_image_metadata
    if want is None:
        want = dict(result.image_properties)
        image_ref = server.params.get("image") or {}
        if image_ref.get("name"):
            want["image_name"] = image_ref["name"]
    set_volume_image_metadata(dst, result.volume_id, portable_image_metadata(dst, want))
    marker = {SHA256_KEY: result.sha256}
    cloudops.call(lambda: dst.block_storage.set_volume_metadata(result.volume_id, **marker))
    copier.cleanup(disk.source)
    return result


def portable_image_metadata(dst, metadata: Mapping[str, Any]) -> dict[str, str]:
    """Volume image metadata for the destination: every key as in the source, except
    ``image_id``, which names the destination image called ``image_name`` (or is left out)."""
    out = {k: str(v) for k, v in metadata.items() if v is not None}
    out.pop("image_id", None)
    name = out.get("image_name")
    if name:
        images = [i for i in cloudops.call(lambda: list(dst.image.images(name=name))) if i.status == "active"]
        if len(images) == 1:
            out["image_id"] = images[0].id
    return out


def set_volume_image_metadata(dst, volume_id: str, want: Mapping[str, str]) -> None:
    """Make a volume's image metadata exactly ``want`` (set what differs, unset the rest)."""
    volume = cloudops.get_volume(dst, volume_id)
    have = {k: str(v) for k, v in (volume.volume_image_metadata or {}).items()}
    changed = {k: v for k, v in want.items() if have.get(k) != v}
    if changed:
        dst.block_storage.set_volume_image_metadata(volume, **changed)
    extra = sorted(k for k in have if k not in want)
    if extra:
        dst.block_storage.delete_volume_image_metadata(volume, keys=extra)


# -- step 3: create the destination server ---------------------------------------------------------


def create_destination_server(
    src, dst, data_dir: str | Path, name: str, *, overrides: Mapping[str, Any] | None = None
) -> dict:
    """Create ports, the server (block device mapping by boot index) and floating IPs.

    Idempotent: an existing server of ours that is ACTIVE is kept (only missing floating IPs
    are added); one in ERROR is deleted and made again; Neutron-mode ports are found by MAC.

    :returns: ``{"server", "action", "destination_id", "ports": [ids], "floating_ips":
        [addresses], "warnings": [...]}``.
    :raises DestinationError: a copy is missing, the server went ERROR, or a port/address is
        taken by something else.
    """
    server = load_server(data_dir, name, overrides)
    reason = skip_reason(dst, server)
    if reason:
        return {"server": name, "action": SKIP, "reason": reason}
    state = ServerState.load(data_dir, server)
    refs = RefIndex(dst)
    warnings: list[str] = []
    existing, _ = destination_server(dst, server)
    if existing is not None and existing.status == "ERROR":
        LOG.warning("destination server %s (%s) is in ERROR; deleting it to try again", name, existing.id)
        cloudops.call(dst.compute.delete_server, existing.id, ignore_missing=True)
        cloudops.wait_server_gone(dst, existing.id, what=f"destination server {name}")
        existing = None
    if existing is None:
        networks = _networks(dst, server, refs, warnings)
        body = _server_body(dst, server, refs, networks)
        LOG.info(
            "creating destination server %s (%d NICs, %d block devices)",
            name,
            len(networks),
            len(body.get("block_device_mapping", [])),
        )
        created = dst.compute.create_server(**body)
        existing = cloudops.get_server(dst, created.id) or created
    try:
        existing = cloudops.wait_server(
            dst, existing.id, "ACTIVE", what=f"destination server {name}", error=DestinationError
        )
    except DestinationError:
        LOG.error("destination server %s failed; deleting it", name)
        cloudops.call(dst.compute.delete_server, existing.id, ignore_missing=True)
        raise
    fips = attach_floating_ips(dst, server, existing, refs, state, warnings)
    ports = [p.id for p in cloudops.call(lambda: list(dst.network.ports(device_id=existing.id)))]
    for w in warnings:
        LOG.warning("%s: %s", name, w)
    return {
        "server": name,
        "action": MIGRATE,
        "destination_id": existing.id,
        "ports": ports,
        "floating_ips": fips,
        "warnings": warnings,
    }


def _networks(dst, server: Server, refs: RefIndex, warnings: list[str]) -> list[dict]:
    """The ``networks`` of the server create request, in NIC order."""
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
            if owner and not _is_our_server(dst, owner, server):
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


def _is_our_server(dst, server_id: str, server: Server) -> bool:
    s = cloudops.get_server(dst, server_id)
    return s is not None and (s.metadata or {}).get(SOURCE_ID_KEY) == server.source_id


def _server_body(dst, server: Server, refs: RefIndex, networks: list) -> dict:
    p = server.params
    mp = server.migration_params
    flavor = cloudops.call(dst.compute.find_flavor, p["flavor"]["name"], ignore_missing=False)
    body: dict[str, Any] = {
        "name": server.name,
        "flavor_id": flavor.id,
        "networks": networks or "none",
        "metadata": {
            **{k: str(v) for k, v in (p.get("metadata") or {}).items()},
            SOURCE_ID_KEY: server.source_id,
        },
    }
    for key in ("key_name", "availability_zone", "user_data", "description"):
        if p.get(key):
            body[key] = p[key]
    if p.get("config_drive"):
        body["config_drive"] = True
    if p.get("tags"):
        body["tags"] = list(p["tags"])
    hints = dict(p.get("scheduler_hints") or {})
    group_id = destination_server_group_id(dst, server)
    if group_id:
        hints["group"] = group_id
    if hints:
        body["scheduler_hints"] = hints
    if mp["port_creation_mode"] == "nova" and p.get("security_groups"):
        body["security_groups"] = [{"name": refs.id("security_group", sg)} for sg in p["security_groups"]]
    body["block_device_mapping"] = block_device_mapping(dst, server, refs)
    root = body["block_device_mapping"][0] if body["block_device_mapping"] else None
    if root and root["source_type"] == "image":
        body["image_id"] = root["uuid"]
    return body


def destination_server_group(dst, ref: Mapping[str, Any] | None):
    """The destination server group named like ``ref`` (``params.server_group``), or None.

    :raises openstack.exceptions.DuplicateResource: several groups have that name.
    """
    if not ref or not ref.get("name"):
        return None
    return cloudops.call(find_or_none, dst.compute.find_server_group, ref["name"])


def destination_server_group_id(dst, server: Server) -> str | None:
    """Id of the destination group for the scheduler hint ``group``; None if the server has none.

    :raises DestinationError: the record names a group the destination lacks.
    """
    ref = server.params.get("server_group")
    if not ref or not ref.get("name"):
        return None
    group = destination_server_group(dst, ref)
    if group is None:
        raise DestinationError(
            f"{server.name}: server group {ref['name']!r} not found in the destination "
            "(migrate the server groups first)"
        )
    return group.id


def block_device_mapping(dst, server: Server, refs: RefIndex) -> list[dict]:
    """``block_device_mapping_v2`` of the destination server, root (boot index 0) first.

    The root is the planned boot disk (a copied boot volume), else the destination image named
    like the source's; data volumes follow with boot index -1 at their source devices.

    :raises DestinationError: a planned disk has no verified copy yet.
    """
    bdm = []
    plan = disk_plan(server, flavor_disk=_flavor_disk(dst, server))
    if not any(d.role == "boot" for d in plan):
        image = refs.find("image", server.params.get("image"))
        bdm.append(
            {
                "boot_index": 0,
                "uuid": image.id,
                "source_type": "image",
                "destination_type": "local",
                "delete_on_termination": True,
            }
        )
    for disk in plan:
        vol = completed_copy(dst, disk.source.id)
        if vol is None:
            raise DestinationError(
                f"{disk.source.label}: no verified copy in the destination; run the copy step first"
            )
        entry = {
            "boot_index": 0 if disk.role == "boot" else -1,
            "uuid": vol.id,
            "source_type": "volume",
            "destination_type": "volume",
            "delete_on_termination": False,
        }
        if disk.device:
            entry["device_name"] = disk.device
        bdm.append(entry)
    bdm.sort(key=lambda e: (e["boot_index"] != 0,))
    return bdm


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


def missing_pieces(dst, server: Server, dst_server) -> list[str]:
    """What the destination server still lacks (empty when the migration is complete)."""
    missing = []
    if dst_server is None:
        return ["the destination server does not exist"]
    if dst_server.status != "ACTIVE":
        missing.append(f"the destination server is {dst_server.status}")
    if server.migration_params["floating_ip_mode"] != "skip" and server.floating_ips:
        ports = cloudops.call(lambda: list(dst.network.ports(device_id=dst_server.id)))
        fixed = {f["ip_address"]: p.id for p in ports for f in p.fixed_ips}
        for fip in server.floating_ips:
            port_id = fixed.get(fip["fixed_ip_address"])
            if port_id is None:
                continue  # a fixed IP Nova mode could not keep; reported at creation
            if not cloudops.listing(
                dst.network.ips, port_id=port_id, fixed_ip_address=fip["fixed_ip_address"]
            ):
                missing.append(f"floating IP for {fip['fixed_ip_address']}")
    return missing


# -- step 4: finalize ------------------------------------------------------------------------------


def finalize_server(
    src, dst, data_dir: str | Path, name: str, *, overrides: Mapping[str, Any] | None = None
) -> dict:
    """Finish or undo one server's migration, whatever happened before (always safe to run).

    - skipped server (name taken by a server we did not make): nothing is touched;
    - complete destination server: temporaries removed in both clouds, detached source volumes
      attached again, the source restarted only with ``restart_source_after``;
    - anything else: our destination server, ports, allocated floating IPs and volumes are
      deleted, temporaries removed, source volumes attached again, the source started again if
      we stopped it; then :class:`MigrationFailed` is raised. Except after an earlier run had
      finished the server: then nothing is deleted and :class:`WorkloadError` names what the
      destination lacks.

    :returns: ``{"server", "result": "migrated"|"skipped", "destination_id"?, "source_status",
        "cleaned": [...]}``.
    :raises MigrationFailed: the migration was unfinished and has been rolled back.
    """
    server = load_server(data_dir, name, overrides)
    reason = skip_reason(dst, server)
    if reason:
        return {"server": name, "result": SKIPPED, "reason": reason}
    state = ServerState.load(data_dir, server)
    existing, _ = destination_server(dst, server)
    missing = missing_pieces(dst, server, existing)
    cleaned = _cleanup_temporaries(src, dst, server, state)
    _reattach_source_volumes(src, state)
    if not missing:
        status = _restore_source_power(
            src, server, state, restart=server.migration_params["restart_source_after"]
        )
        state.set(result=MIGRATED, destination_id=existing.id)
        LOG.info("%s migrated: destination server %s ACTIVE; source %s", name, existing.id, status)
        return {
            "server": name,
            "result": MIGRATED,
            "destination_id": existing.id,
            "source_status": status,
            "cleaned": cleaned,
        }
    if state.get("result") == MIGRATED:
        raise WorkloadError(
            f"{name}: migrated by an earlier run, but the destination now lacks: "
            f"{'; '.join(missing)}. Nothing was rolled back; fix it or run again."
        )
    LOG.error("%s: migration unfinished (%s); rolling back the destination", name, "; ".join(missing))
    rolled = rollback_destination(dst, server, state, existing)
    status = _restore_source_power(src, server, state, restart=True)
    state.set(result=ROLLED_BACK)
    raise MigrationFailed(
        f"{name}: migration unfinished ({'; '.join(missing)}); destination rolled back "
        f"({len(rolled)} resource(s) deleted), source server {status}. Fix the cause (see the "
        "failed task before this one) and run again."
    )


def _cleanup_temporaries(src, dst, server: Server, state: ServerState) -> list[str]:
    copier = make_copier(server.migration_params["copy_method"], src, dst, journal=state)
    cleaned = []
    for disk in disk_plan(server):
        cleaned.extend(copier.cleanup(disk.source))
    return cleaned


def _reattach_source_volumes(src, state: ServerState) -> None:
    for volume_id, where in list(state.get("detached", {}).items()):
        reattach_volume(src, volume_id, where["server_id"], where.get("device"))
        state.record_reattach(volume_id)


def _restore_source_power(src, server: Server, state: ServerState, *, restart: bool) -> str:
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

    :returns: one line per deleted resource.
    """
    done = []
    if dst_server is not None and (dst_server.metadata or {}).get(SOURCE_ID_KEY) == server.source_id:
        cloudops.call(dst.compute.delete_server, dst_server.id, ignore_missing=True)
        cloudops.wait_server_gone(dst, dst_server.id, what="destination server")
        done.append(f"server {dst_server.id}")
    for fip_id in list(state.get("allocated_floating_ips", [])):
        cloudops.call(dst.network.delete_ip, fip_id, ignore_missing=True)
        done.append(f"floating IP {fip_id}")
    state.set(allocated_floating_ips=[])
    if server.migration_params["port_creation_mode"] == "neutron":
        refs = RefIndex(dst)
        for port in server.ports:
            net = refs.find("network", port["network"], required=False)
            if net is None or not port.get("mac_address"):
                continue
            for p in cloudops.listing(dst.network.ports, network_id=net.id, mac_address=port["mac_address"]):
                if not p.device_id:
                    cloudops.call(dst.network.delete_port, p.id, ignore_missing=True)
                    done.append(f"port {p.id}")
    for disk in disk_plan(server):
        for vol in cloudops.volumes_with_marker(dst, disk.source.id):
            cloudops.delete_volume(dst, vol, what="destination volume")
            done.append(f"volume {vol.id}")
    for line in done:
        LOG.info("rolled back %s: %s", server.name, line)
    return done


# -- everything ------------------------------------------------------------------------------------


def migrate_server(
    src, dst, data_dir: str | Path, name: str, *, overrides: Mapping[str, Any] | None = None
) -> dict:
    """All steps of one server in order, finalize always last (what the DAG's task group does).

    :returns: finalize's result, plus ``copies`` (the copy results) when disks were copied.
    :raises MigrationFailed: a step failed; the destination was rolled back, the source restored.
    """
    copies = None
    try:
        prepared = prepare_server(src, dst, data_dir, name, overrides=overrides)
        if prepared["action"] == MIGRATE:
            copies = copy_server_disks(src, dst, data_dir, name, overrides=overrides)
            create_destination_server(src, dst, data_dir, name, overrides=overrides)
    except (WorkloadError, sdk_exc.SDKException) as e:
        LOG.error("%s: %s: %s", name, type(e).__name__, e)
        try:
            finalize_server(src, dst, data_dir, name, overrides=overrides)
        except MigrationFailed as failed:
            raise failed from e
        raise
    result = finalize_server(src, dst, data_dir, name, overrides=overrides)
    if copies is not None:
        result["copies"] = copies["disks"]
    return result


__all__ = [
    "DONE",
    "MIGRATE",
    "MIGRATED",
    "ROLLED_BACK",
    "SKIP",
    "SKIPPED",
    "PlannedDisk",
    "attach_floating_ips",
    "block_device_mapping",
    "completed_copy",
    "copy_server_disks",
    "create_destination_server",
    "destination_server",
    "disk_plan",
    "ensure_disk_copy",
    "ensure_port",
    "finalize_server",
    "migrate_server",
    "missing_pieces",
    "portable_image_metadata",
    "prepare_server",
    "rollback_destination",
    "set_volume_image_metadata",
    "skip_reason",
]
