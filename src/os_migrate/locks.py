"""One run at a time per data dir: a lock file created atomically, released by its holder only.

The lock is ``<data_dir>/.os-migrate.lock``, created with ``O_CREAT | O_EXCL`` (atomic on local
and NFSv3+ file systems), holding a small JSON object describing the holder, e.g.
``{"dag_id": "os_migrate_workloads", "run_id": "manual__...", "since": "2026-12-03T15:40:00+00:00"}``.
Only the identity fields (every key but ``since``) decide whether a holder is the same one, so a
retried task of the same run re-acquires its own lock. Holder fields must not be secrets: they are
written in clear and shown in error messages.

A lock whose holder is gone (a killed scheduler, a deleted run) stays until someone deletes the file;
:class:`~os_migrate.exceptions.DataDirBusy` says which file.
"""

from __future__ import annotations

import datetime
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from os_migrate.exceptions import DataDirBusy
from os_migrate.serialization import FILE_MODE, private_mkdir

#: Name of the lock file inside the data dir.
LOCK_FILE = ".os-migrate.lock"
#: Holder keys that are not part of its identity.
_NOT_IDENTITY = ("since",)


@dataclass(frozen=True)
class Lock:
    """A held lock: the data dir, the lock file path and the holder as written."""

    data_dir: str
    path: str
    holder: dict[str, Any]


def lock_path(data_dir: str | os.PathLike) -> Path:
    """``<data_dir>/.os-migrate.lock``."""
    return Path(data_dir) / LOCK_FILE


def _identity(holder: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (holder or {}).items() if k not in _NOT_IDENTITY}


def read_holder(data_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The current holder of the data dir's lock; None when unlocked; ``{}`` if unreadable."""
    try:
        text = lock_path(data_dir).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        holder = json.loads(text)
    except ValueError:
        return {}
    return holder if isinstance(holder, dict) else {}


def acquire(data_dir: str | os.PathLike, holder: dict[str, Any]) -> Lock:
    """Lock ``data_dir`` for ``holder`` (creating the directory if needed).

    :param data_dir: the data dir.
    :param holder: JSON-serializable identity of the run, e.g. ``{"dag_id", "run_id"}``; ``since``
        (UTC, ISO 8601) is added when missing. No secrets.
    :returns: the lock; acquiring again with the same identity returns the existing lock.
    :raises DataDirBusy: another holder has the lock.
    :raises ValueError: ``holder`` has no identity fields.
    """
    if not _identity(holder):
        raise ValueError("a lock holder needs at least one identity field (e.g. dag_id, run_id)")
    data_dir = str(data_dir)
    path = lock_path(data_dir)
    private_mkdir(path.parent)
    record = {**holder}
    record.setdefault("since", datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"))
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        current = read_holder(data_dir)
        if current is not None and current and _identity(current) == _identity(holder):
            return Lock(data_dir, str(path), current)
        raise DataDirBusy(data_dir, current, str(path)) from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())
    return Lock(data_dir, str(path), record)


def release(data_dir: str | os.PathLike, holder: dict[str, Any]) -> bool:
    """Remove the data dir's lock if ``holder`` (same identity) holds it.

    :returns: True if the lock was removed; False if there was none or another holder has it
        (then it is left alone).
    """
    current = read_holder(data_dir)
    if current is None or not current or _identity(current) != _identity(holder):
        return False
    try:
        lock_path(data_dir).unlink()
    except FileNotFoundError:
        return False
    return True
