"""Loading a data dir into resources, with structural checks that report every problem.

Errors are strings of the form
``<file>:<line>: resources[<i>] (<type> '<identity>'): <field>: <message>``, the line being where
the record starts in the file (left out when the file cannot be read again).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from pathlib import Path

import jsonschema
import yaml

from os_migrate.const import DATA_FILE_SUFFIX
from os_migrate.exceptions import DataError, ValidationError
from os_migrate.resources import REGISTRY, RESOURCE_TYPES, TENANT_TYPES, Resource
from os_migrate.resources.base import is_empty
from os_migrate.serialization import _Loader, load_resources, read_data_text


def resolve_types(types: Iterable[str] | str | None) -> tuple[str, ...]:
    """Validate requested type keys and return them in dependency order.

    :param types: type keys, or None for every tenant type (admin types are only ever named:
        :data:`~os_migrate.resources.ADMIN_TYPES`).
    :raises ValidationError: an unknown type key (all of them listed).
    """
    if types is None:
        return TENANT_TYPES
    if isinstance(types, str):
        types = [types]
    types = list(types)
    unknown = [t for t in types if t not in REGISTRY]
    if unknown:
        raise ValidationError(
            [f"resource_types: unknown type {t!r} (known: {', '.join(RESOURCE_TYPES)})" for t in unknown]
        )
    return tuple(t for t in RESOURCE_TYPES if t in types)


def data_file(data_dir: str | Path, type_key: str) -> Path:
    """Path of the data file of one type: ``<data_dir>/<type_key>.yml``."""
    return Path(data_dir) / f"{type_key}{DATA_FILE_SUFFIX}"


@functools.lru_cache(maxsize=64)
def _record_lines(path: str, mtime_ns: int) -> tuple[int, ...]:
    """1-based line of each record of ``resources`` in a data file (composed, not constructed:
    only when a message needs it); empty when the file no longer parses."""
    try:
        root = yaml.compose(read_data_text(Path(path)), Loader=_Loader)
    except (yaml.YAMLError, DataError, RecursionError):
        return ()
    if not isinstance(root, yaml.MappingNode):
        return ()
    for key, value in root.value:
        if key.value == "resources" and isinstance(value, yaml.SequenceNode):
            return tuple(item.start_mark.line + 1 for item in value.value)
    return ()


def record_at(path: str | Path, i: int | None) -> str:
    """``<file>:<line>`` of record ``i`` of a data file (``<file>`` alone when unknown)."""
    try:
        lines = _record_lines(str(path), Path(path).stat().st_mtime_ns)
    except OSError:
        lines = ()
    return f"{path}:{lines[i]}" if i is not None and 0 <= i < len(lines) else str(path)


def _where(path: Path, i: int, record: object, cls: type[Resource] | None = None) -> str:
    if isinstance(record, dict):
        cls = cls or REGISTRY.get(path.stem)
        try:
            ident = cls(record).identity if cls and isinstance(record.get("params"), dict) else "?"
        except (AttributeError, TypeError, KeyError):
            ident = "?"
        return f"{record_at(path, i)}: resources[{i}] ({record.get('type', '<no type>')} {ident!r})"
    return f"{record_at(path, i)}: resources[{i}]"


def check_record(path: Path, i: int, record: object, cls: type[Resource]) -> list[str]:
    """Structural errors of one record (schema, required params)."""
    where = _where(path, i, record, cls)
    if not isinstance(record, dict):
        return [f"{where}: must be a mapping, got {type(record).__name__}"]
    if record.get("type") != cls.type:
        return [f"{where}: type: expected {cls.type!r} in {path.name}, got {record.get('type')!r}"]
    errors = []
    validator = jsonschema.Draft202012Validator(cls.json_schema())
    for err in sorted(validator.iter_errors(record), key=lambda e: list(e.absolute_path)):
        field = ".".join(str(p) for p in err.absolute_path) or "<record>"
        errors.append(f"{where}: {field}: {err.message}")
    params = record["params"] if isinstance(record.get("params"), dict) else {}
    for p in cls.required_params:
        if is_empty(params.get(p)):
            errors.append(f"{where}: params.{p}: is required and must not be empty")
    if not errors:
        errors += [f"{where}: {e}" for e in cls(record).value_errors()]
    return errors


def load_dataset(data_dir: str | Path, types: Iterable[str]) -> tuple[dict[str, list[Resource]], list[str]]:
    """Load the data files of ``types``.

    :returns: ``({type_key: [Resource, ...]}, errors)``; records with errors are left out of the
        resources, every error is listed. A missing file is an empty type.
    """
    dataset: dict[str, list[Resource]] = {}
    errors: list[str] = []
    for type_key in types:
        cls = REGISTRY[type_key]
        path = data_file(data_dir, type_key)
        dataset[type_key] = []
        try:
            records = load_resources(path)
        except DataError as e:
            errors.append(str(e))
            continue
        for i, record in enumerate(records):
            rec_errors = check_record(path, i, record, cls)
            errors.extend(rec_errors)
            if not rec_errors:
                res = cls(record)
                res.file = str(path)
                res.index = i
                dataset[type_key].append(res)
    return dataset, errors


def location(res: Resource) -> str:
    """``<file>: resources[<i>] (<type> '<identity>')`` of a loaded resource."""
    where = record_at(res.file, res.index) if res.file else "?"
    return f"{where}: resources[{'?' if res.index is None else res.index}] ({res.describe()})"
