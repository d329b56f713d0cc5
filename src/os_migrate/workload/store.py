"""Reading workload records from the data dir, and the per-server migration state file.

The state file ``<data_dir>/workload_state/<source server id>.json`` is the journal of what a
migration changed in the **source** (so it can be undone even if a task is killed): the status
the server had before we stopped it, volumes we detached, floating IPs we allocated in the
destination, and the last result. It is written atomically after every change.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from os_migrate.dataset import check_record
from os_migrate.exceptions import DataError, ValidationError
from os_migrate.serialization import atomic_write_text, load_resources
from os_migrate.workload.records import (
    DETACHED_VOLUMES,
    WORKLOADS,
    DetachedVolume,
    Server,
    check_flavor_map,
    state_dir,
    workload_file,
)


def load_servers(data_dir: str | Path) -> list[Server]:
    """Every server record of ``workloads.yml`` (a missing file is an empty list).

    :raises ValidationError: structural errors, every one listed (file, index, field).
    :raises DataError: the file is not valid YAML or has another format version.
    """
    path = workload_file(data_dir, WORKLOADS)
    servers, errors = [], []
    for i, record in enumerate(load_resources(path)):
        rec_errors = check_record(path, i, record, Server)
        errors.extend(rec_errors)
        if not rec_errors:
            server = Server(record)
            server.file, server.index = str(path), i
            servers.append(server)
    if errors:
        raise ValidationError(errors)
    return servers


def load_detached_volumes(data_dir: str | Path) -> list[DetachedVolume]:
    """Every record of ``detached_volumes.yml``.

    :raises ValidationError: structural errors, every one listed.
    """
    path = workload_file(data_dir, DETACHED_VOLUMES)
    out, errors = [], []
    for i, record in enumerate(load_resources(path)):
        rec_errors = check_record(path, i, record, DetachedVolume)
        errors.extend(rec_errors)
        if not rec_errors:
            out.append(DetachedVolume(record))
    if errors:
        raise ValidationError(errors)
    return out


def load_server(
    data_dir: str | Path,
    name: str,
    overrides: Mapping[str, Any] | None = None,
    flavor_map: Mapping[str, str] | None = None,
) -> Server:
    """The server record named ``name``, with run-level ``_migration_params`` overrides and
    flavor map applied (see :attr:`Server.flavor_name`).

    :raises DataError: no record, or several records, with that name.
    :raises ValidationError: ``flavor_map`` does not map names to names.
    """
    flavor_map = check_flavor_map(flavor_map)
    matches = [s for s in load_servers(data_dir) if s.name == name]
    if not matches:
        raise DataError(f"no server named {name!r}", file=str(workload_file(data_dir)))
    if len(matches) > 1:
        raise DataError(
            f"{len(matches)} servers are named {name!r}; names must be unique",
            file=str(workload_file(data_dir)),
        )
    return matches[0].with_overrides(overrides).with_flavor_map(flavor_map)


class ServerState:
    """Journal of one server's migration (see module docstring); implements ``SourceJournal``.

    :param path: the JSON file.
    :param data: its content.
    """

    def __init__(self, path: Path, data: dict[str, Any]):
        self.path = path
        self.data = data
        self._lock = threading.RLock()  # disks of one server are copied by several threads

    @classmethod
    def load(cls, data_dir: str | Path, server: Server) -> ServerState:
        """The state of ``server`` (empty if it was never migrated)."""
        path = state_dir(data_dir) / f"{server.source_id}.json"
        data: dict[str, Any] = {}
        if path.exists():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except ValueError as e:
                raise DataError(f"corrupt state file: {e}", file=str(path)) from e
        data.setdefault("server", server.name)
        data.setdefault("source_id", server.source_id)
        data.setdefault("detached", {})
        data.setdefault("allocated_floating_ips", [])
        return cls(path, data)

    def save(self) -> None:
        """Write the file atomically."""
        with self._lock:
            atomic_write_text(self.path, json.dumps(self.data, indent=2, sort_keys=True) + "\n")

    def get(self, key: str, default: Any = None) -> Any:
        """A value of the state."""
        return self.data.get(key, default)

    def set(self, **values: Any) -> None:
        """Update values and save."""
        with self._lock:
            self.data.update(values)
            self.save()

    # -- SourceJournal ---------------------------------------------------------------------------
    def record_detach(self, volume_id: str, server_id: str, device: str | None) -> None:
        """Remember that a source volume is (about to be) detached."""
        with self._lock:
            self.data["detached"][volume_id] = {"server_id": server_id, "device": device}
            self.save()

    def record_reattach(self, volume_id: str) -> None:
        """Forget a detached volume once it is attached again."""
        with self._lock:
            if self.data["detached"].pop(volume_id, None) is not None:
                self.save()

    def record_floating_ip(self, fip_id: str) -> None:
        """Remember a floating IP allocated in the destination (deleted by a rollback)."""
        with self._lock:
            if fip_id not in self.data["allocated_floating_ips"]:
                self.data["allocated_floating_ips"].append(fip_id)
                self.save()
