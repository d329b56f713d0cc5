"""Detached volumes (``detached_volumes.yml``): each copied on its own, with either copy method.

``select_volumes(data_dir, volumes)`` -> the names to migrate (the Airflow DAG maps one task over
them); ``migrate_volume(src, dst, data_dir, name, overrides=...)`` -> the result of one.

A detached volume is found again by the markers of any disk copy (:mod:`.disks`): the destination
volume carries ``os_migrate_source_id`` from its creation and ``os_migrate_sha256`` once verified,
so a re-run skips a finished volume and deletes and redoes an unfinished one. A destination volume
of the same name that os-migrate did not make means the volume is skipped (never touched).
The source volume is only read; if it was attached to a server since the export, the copy method
reads it the way it reads an attached volume (a temporary volume from a snapshot).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from os_migrate.exceptions import DataError
from os_migrate.filters import Filters
from os_migrate.workload import cloudops
from os_migrate.workload.cloudops import SHA256_KEY, SOURCE_ID_KEY
from os_migrate.workload.disk_copy import DiskSource, VolumeSpec, make_copier
from os_migrate.workload.disks import PlannedDisk, _volume_metadata, ensure_disk_copy
from os_migrate.workload.errors import WorkloadError
from os_migrate.workload.records import DETACHED_VOLUMES, DetachedVolume, workload_file
from os_migrate.workload.store import load_detached_volumes

LOG = logging.getLogger(__name__)


def select_volumes(data_dir: str | Path, volumes: list | None) -> list[str]:
    """Names of the records of ``detached_volumes.yml`` matching ``volumes`` (names and
    ``{"regex": ...}`` items, as the server filter); None or ``[]`` selects none.

    :raises ValidationError: a bad filter or a bad record.
    """
    if not volumes:
        return []
    flt = Filters({DETACHED_VOLUMES: volumes}, (DETACHED_VOLUMES,))
    return [v.identity for v in load_detached_volumes(data_dir) if flt.selects(DETACHED_VOLUMES, v.identity)]


def load_volume(
    data_dir: str | Path, name: str, overrides: Mapping[str, Any] | None = None
) -> DetachedVolume:
    """The record named ``name`` with run-level ``_migration_params`` overrides.

    :raises DataError: no record, or several, with that name.
    """
    found = [v for v in load_detached_volumes(data_dir) if v.identity == name]
    if len(found) != 1:
        raise DataError(
            f"{len(found) or 'no'} detached volume(s) named {name!r}; names must be unique",
            file=str(workload_file(data_dir, DETACHED_VOLUMES)),
        )
    record = found[0].record
    if overrides:
        record = {**record, "_migration_params": {**(record.get("_migration_params") or {}), **overrides}}
    return DetachedVolume(record)


def planned_disk(volume: DetachedVolume) -> PlannedDisk:
    """The copy to make: the source volume into a destination volume of the same name and shape."""
    p, mp = volume.params, volume.migration_params
    sid = _source_id(volume)
    type_map = mp.get("volume_type_map") or {}
    vtype = p.get("volume_type")
    return PlannedDisk(
        source=DiskSource("volume", sid, None, None, False, f"detached volume {volume.identity}"),
        spec=VolumeSpec(
            name=p.get("name") or volume.identity,
            size=int(p["size"]),
            volume_type=type_map.get(vtype, vtype) if vtype else None,
            description=p.get("description"),
            metadata=_volume_metadata(p.get("metadata"), sid),
            is_bootable=bool(p.get("is_bootable")),
        ),
        role="data",
        volume_image_metadata=dict(p.get("volume_image_metadata") or {}),
        device=None,
        boot_index=None,
    )


def _source_id(volume: DetachedVolume) -> str:
    if not volume.source_id:
        raise DataError(
            "no source volume id (_info.id); re-export it",
            resource=f"detached volume {volume.identity!r}",
            field="_info.id",
        )
    return str(volume.source_id)


def migrate_volume(
    src,
    dst,
    data_dir: str | Path,
    name: str,
    *,
    overrides: Mapping[str, Any] | None = None,
    ssh_resolver: Callable[[str], Any] | None = None,
) -> dict:
    """Copy one detached volume (idempotent; see module docstring).

    :returns: ``{"volume", "result": "migrated"|"done"|"skipped", "destination_id"?, "reason"?,
        "copy"?}``.
    :raises DataError: no such record.
    :raises CopyError: the copy failed; its temporaries and the unfinished volume were removed.
    """
    volume = load_volume(data_dir, name, overrides)
    disk = planned_disk(volume)
    for existing in cloudops.volumes_named(dst, disk.spec.name):
        if (existing.metadata or {}).get(SOURCE_ID_KEY) != volume.source_id:
            reason = (
                f"a volume named {disk.spec.name!r} already exists in the destination ({existing.id}) "
                "and was not created by os-migrate; skipped"
            )
            LOG.info("%s", reason)
            return {"volume": name, "result": "skipped", "reason": reason}
    mp = volume.migration_params
    if not mp.get("data_copy", True):
        return {"volume": name, "result": "skipped", "reason": "_migration_params.data_copy is false"}
    copier = make_copier(
        mp.get("copy_method") or "image",
        src,
        dst,
        ssh_resolver=ssh_resolver,
        **(mp.get("copy_settings") or {}),
    )
    try:
        result = ensure_disk_copy(copier, dst, disk, None)
    except WorkloadError:
        LOG.error("%s: copy failed; removing its temporaries and the unfinished volume", disk.source.label)
        copier.cleanup(disk.source)
        for partial in cloudops.volumes_with_marker(dst, disk.source.id):
            if not (partial.metadata or {}).get(SHA256_KEY):
                cloudops.delete_volume(dst, partial, what="unfinished destination volume")
        raise
    finally:
        copier.close()
    return {
        "volume": name,
        "result": "done" if result.access == "reused" else "migrated",
        "destination_id": result.volume_id,
        "copy": result.to_dict(),
    }


__all__ = ["load_volume", "migrate_volume", "planned_disk", "select_volumes"]
