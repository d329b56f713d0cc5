"""The data dir: one YAML file per resource type, written deterministically and atomically.

A data file looks like::

    os_migrate_version: 1
    resources:
    - type: openstack.network.Network
      params: {...}            # what is recreated and compared
      _info: {...}             # source facts (ids, status, timestamps), never compared
      _migration_params: {...} # knobs for the tool

Keys inside each record are sorted and list params are put in a canonical order by the resource
classes, so re-exporting an unchanged tenant gives a byte-identical file. Files are replaced with
``os.replace`` of a fully written and fsynced temporary file in the same directory (POSIX rename is
atomic), and only when their content changed.

Staged files are readable by their owner only: files are created ``0600`` (``mkstemp``) and the
folders this module creates ``0700`` (:func:`private_mkdir`); a data dir describes a tenant
(addresses, names, public keys, user data), which other users of the worker host must not read.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from os_migrate.const import FORMAT_VERSION, VERSION_KEY
from os_migrate.exceptions import DataError, DataVersionMismatch

_RECORD_KEY_ORDER = ("type", "params", "_info", "_migration_params")


#: libyaml's safe loader when PyYAML has it (same types as SafeLoader, about 6x faster).
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Dumper(yaml.SafeDumper):
    """SafeDumper that indents lists under their key and never emits aliases."""

    def increase_indent(self, flow: bool = False, indentless: bool = False):
        return super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _sorted_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted_value(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted_value(v) for v in value]
    return value


def canonical_record(record: dict) -> dict:
    """Return ``record`` with the fixed top-level key order and all nested keys sorted."""
    out = {k: _sorted_value(record[k]) for k in _RECORD_KEY_ORDER if k in record}
    for k in sorted(set(record) - set(_RECORD_KEY_ORDER)):
        out[k] = _sorted_value(record[k])
    return out


def dump_data(resources: list[dict]) -> str:
    """Serialize records to the text of a data file (deterministic)."""
    doc = {VERSION_KEY: FORMAT_VERSION, "resources": [canonical_record(r) for r in resources]}
    return yaml.dump(
        doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=100
    )


#: Mode of staged files and of the folders created for them.
FILE_MODE, DIR_MODE = 0o600, 0o700


def private_mkdir(path: str | os.PathLike) -> None:
    """Create ``path`` and missing parents with mode :data:`DIR_MODE` (existing folders keep
    their mode: the operator chose it)."""
    path = Path(path)
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    # Path.mkdir(parents=True) gives parents the default mode: create each one.
    for folder in reversed(missing):
        folder.mkdir(mode=DIR_MODE, exist_ok=True)


def atomic_write_text(path: str | os.PathLike, text: str) -> bool:
    """Write ``text`` to ``path`` atomically (mode :data:`FILE_MODE`), only if the content differs.

    :returns: True if the file was (re)written, False if it already held exactly ``text``.
    :raises OSError: if the directory is not writable.
    """
    path = Path(path)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    private_mkdir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE)  # mkstemp's mode already; stated so a change of helper keeps it
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return True


def write_resources(path: str | os.PathLike, resources: list[dict]) -> bool:
    """Write records to a data file atomically; returns True if the file content changed."""
    return atomic_write_text(path, dump_data(resources))


#: Largest data file read (bytes). An exported tenant of a few thousand resources is a few MiB;
#: a larger file is refused with a message instead of being parsed into memory.
MAX_DATA_FILE_BYTES = 64 * 1024 * 1024


def read_data_text(path: Path) -> str:
    """The text of a data file, refused with a :class:`DataError` naming the file when it is too
    large (:data:`MAX_DATA_FILE_BYTES`), binary (NUL bytes) or not UTF-8 (with line and column of
    the first bad byte).
    """
    try:
        size = path.stat().st_size
        if size > MAX_DATA_FILE_BYTES:
            raise DataError(
                f"file of {size} bytes; data files are limited to {MAX_DATA_FILE_BYTES} bytes", file=str(path)
            )
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"cannot read: {e.strerror or e}", file=str(path)) from e
    nul = raw.find(b"\0")
    if nul >= 0:
        line, col = _line_col(raw, nul)
        raise DataError(
            f"binary content (NUL byte at line {line}, column {col}); not a YAML text file", file=str(path)
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line, col = _line_col(raw, e.start)
        raise DataError(
            f"not UTF-8: byte 0x{raw[e.start]:02x} at line {line}, column {col} ({e.reason})", file=str(path)
        ) from None


def _line_col(raw: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column (in bytes) of ``offset``."""
    line = raw.count(b"\n", 0, offset) + 1
    return line, offset - (raw.rfind(b"\n", 0, offset) + 1) + 1


def load_resources(path: str | os.PathLike) -> list[dict]:
    """Load the records of one data file.

    A missing file is an empty list. The records are returned as plain dicts, unvalidated beyond
    the file structure: record-level checks belong to :mod:`os_migrate.validation`, which reports
    every problem at once.

    :raises DataError: the file is unreadable, too large, binary or not UTF-8 (see
        :func:`read_data_text`), not valid YAML (with line and column), or its top level is not a
        mapping with a ``resources`` list.
    :raises DataVersionMismatch: ``os_migrate_version`` is missing or not :data:`FORMAT_VERSION`.
    """
    path = Path(path)
    if not path.exists():
        return []
    text = read_data_text(path)
    try:
        doc = yaml.load(text, Loader=_Loader)
    except yaml.reader.ReaderError as e:
        # A character YAML does not allow (control characters); the error has a position only.
        line, col = _line_col(text.encode("utf-8"), len(text[: e.position].encode("utf-8")))
        code = e.character if isinstance(e.character, int) else ord(e.character)
        raise DataError(
            f"malformed YAML: line {line}, column {col}: {e.reason} (character 0x{code:02x})", file=str(path)
        ) from e
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(e, "problem", None) or str(e).replace('"<unicode string>"', str(path))
        raise DataError(f"malformed YAML: {where}{problem}", file=str(path)) from e
    except RecursionError:
        raise DataError("malformed YAML: nested too deeply", file=str(path)) from None
    if doc is None:
        return []
    if not isinstance(doc, dict):
        raise DataError(f"top level must be a mapping, got {type(doc).__name__}", file=str(path))
    version = doc.get(VERSION_KEY)
    if version != FORMAT_VERSION:
        raise DataVersionMismatch(
            f"unsupported format version {version!r} (this tool reads {FORMAT_VERSION})",
            file=str(path),
            field=VERSION_KEY,
        )
    resources = doc.get("resources", [])
    if not isinstance(resources, list):
        raise DataError("must be a list", file=str(path), field="resources")
    return resources
