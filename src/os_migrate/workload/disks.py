"""The disks of one server: the plan, finding or making each verified copy, and the mapping.

- :func:`disk_plan`: which source disks are copied into which destination volumes (pure);
- :func:`ensure_disk_copy`: the verified copy of one disk, found by its markers or made with a
  :class:`~os_migrate.workload.disk_copy.DiskCopier`, then given the source's volume image
  metadata and the completion marker ``os_migrate_sha256``;
- :func:`block_device_mapping`: the ``block_device_mapping_v2`` of the destination server.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from os_migrate.cloud import find_or_none
from os_migrate.references import RefIndex
from os_migrate.workload import cloudops
from os_migrate.workload.cloudops import SHA256_KEY, SOURCE_ID_KEY
from os_migrate.workload.disk_copy import CopyResult, DiskCopier, DiskSource, VolumeSpec
from os_migrate.workload.errors import DestinationError
from os_migrate.workload.records import Server

LOG = logging.getLogger(__name__)


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


def flavor_disk(dst, server: Server) -> int:
    """Root disk size (GiB) of the server's destination flavor (:attr:`Server.flavor_name`, after
    ``_migration_params.flavor_name`` and the run's flavor map); 0 if it is missing."""
    flavor = cloudops.call(find_or_none, dst.compute.find_flavor, server.flavor_name)
    return int(getattr(flavor, "disk", 0) or 0)


def completed_copy(dst, source_id: str):
    """The verified destination copy of a source disk (volume with both markers), or None."""
    for vol in cloudops.volumes_with_marker(dst, source_id):
        if (vol.metadata or {}).get(SHA256_KEY) and vol.status in ("available", "in-use"):
            return vol
    return None


def ensure_disk_copy(copier: DiskCopier, dst, disk: PlannedDisk, server: Server | None) -> CopyResult:
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
    for line in copier.release(disk.source):
        LOG.info("%s: released %s (left by an interrupted copy)", disk.source.label, line)
    for partial in cloudops.volumes_with_marker(dst, disk.source.id):
        if copier.resumable(partial):
            LOG.info("%s: destination volume %s is being made; resuming", disk.source.label, partial.id)
            continue
        cloudops.delete_volume(dst, partial, what="unfinished destination volume")
    result = copier.copy(disk.source, disk.spec)
    want = disk.volume_image_metadata
    if want is None:
        want = dict(result.image_properties)
        image_ref = (server.params.get("image") if server is not None else None) or {}
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


def block_device_mapping(
    dst, server: Server, refs: RefIndex, *, plan: list[PlannedDisk] | None = None
) -> list[dict]:
    """``block_device_mapping_v2`` of the destination server, root (boot index 0) first.

    The root is the planned boot disk (a copied boot volume), else the destination image named
    like the source's; data volumes follow with boot index -1 at their source devices.

    :param plan: the disk plan (default: :func:`disk_plan` sized to the destination flavor).
    :raises DestinationError: a planned disk has no verified copy yet.
    """
    bdm = []
    if plan is None:
        plan = disk_plan(server, flavor_disk=flavor_disk(dst, server))
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


__all__ = [
    "PlannedDisk",
    "block_device_mapping",
    "completed_copy",
    "disk_plan",
    "ensure_disk_copy",
    "flavor_disk",
    "portable_image_metadata",
    "set_volume_image_metadata",
]
