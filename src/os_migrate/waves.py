"""Wave plans: which tenants and servers migrate when, as a YAML file kept in version control.

::

    version: 1
    defaults:                          # optional; merged under every tenant of every wave
      src_conn_id: "openstack_src_{tenant}"   # string values are str.format templates of {tenant}
      dst_conn_id: "openstack_dst_{tenant}"
    waves:
      - name: saturday-a               # DAG id os_migrate_wave_saturday_a
        start: "2026-12-05T02:00:00+01:00"   # date-time with offset | {cron: "0 2 * * 6",
                                             #   timezone: Europe/Prague} | staged
        end: "2026-12-05T06:00:00+01:00"     # optional, date-time start only
        window: 4h                     # optional window length: 90s, 30m, 4h, 2d or ISO 8601 PT4H
        approval: false
        on_preflight_failure: skip     # skip | stop
        concurrency: {servers: 4, copies_per_host_pair: 2}
        tenants:
          - tenant: tenant-a
            pre_workload: {resource_types: [networks, subnets], filters: {networks: ["regex:^app-"]}}
            servers: ["web-1", "regex:^db-"]

:func:`load_plan` checks the file against :data:`PLAN_SCHEMA` (JSON Schema Draft 2020-12) and with
semantic checks (duplicate waves or tenants, date-times, cron, time zones, durations, regexes,
templates), and raises :class:`~os_migrate.exceptions.ValidationError` listing every problem at
once, each as ``<file>:<line>: <path>: <message>``, e.g.
``waves.yml:12: waves[0].tenants[1].servers[2]: 'regex:(' does not compile: ...``.

Defaults merge key by key: a key a tenant sets replaces the default's whole value (a tenant's
``pre_workload`` or ``servers`` is not merged with the default's). Only string values of ``defaults``
are templates; a tenant's own values are taken as written. A tenant key left unset in both gets the
tenant DAGs' Param default (``pre_workload``: every pre-workload type, no filters; ``servers``: none).

A valid plan becomes frozen :class:`WavePlan` / :class:`Wave` / :class:`TenantRun` objects; each
tenant run gives the conf of the tenant DAGs ``os_migrate_pre_workload`` and
``os_migrate_workloads`` (:meth:`TenantRun.pre_workload_conf`, :meth:`TenantRun.workloads_conf`).
:func:`window_check` says whether a wave's change window is open at a given time.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import string
import zoneinfo
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from os_migrate.const import TENANT_PATTERN
from os_migrate.exceptions import ValidationError
from os_migrate.filters import parse_filter_item
from os_migrate.resources import PRE_WORKLOAD_TYPES
from os_migrate.workload.records import COPY_METHODS, FLAVOR_MAP_SCHEMA, MIGRATION_PARAMS_SCHEMA

#: Version of the wave plan format accepted by :func:`load_plan`.
PLAN_VERSION = 1
#: A wave name; it also names the wave's DAG (:func:`wave_dag_id`).
WAVE_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,39}$"
#: Prefix of the DAG id of a wave.
WAVE_DAG_PREFIX = "os_migrate_wave_"
#: What a wave does with a server that fails pre-flight.
PREFLIGHT_POLICIES = ("skip", "stop")
#: Default concurrency: servers migrated at once per wave, disk copies at once per conversion-host pair.
DEFAULT_SERVERS_AT_ONCE = 4
DEFAULT_COPIES_PER_HOST_PAIR = 2
#: Default Airflow Connection id of the destination admin (as the tenant DAGs' ``dst_admin_conn_id``).
DEFAULT_DST_ADMIN_CONN_ID = "openstack_dst_admin"

#: A window length: a number with an s/m/h/d suffix, or ISO 8601 ``P[nD][T[nH][nM][nS]]``.
_DURATION_SUFFIX = re.compile(r"^(\d+)([smhd])$")
_DURATION_ISO = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

# One cron field (used only when croniter is not importable): numbers, ranges, steps, lists, names.
_CRON_FIELD = r"(?:\*|[0-9A-Za-z]+(?:-[0-9A-Za-z]+)?)(?:/\d+)?"
_CRON_FIELD_RE = re.compile(rf"^{_CRON_FIELD}(?:,{_CRON_FIELD})*$")

#: JSON schema of one name filter item: an exact name, ``regex:<p>``/``re:<p>``/``/<p>/``, or
#: ``{"regex": <p>}`` (see :mod:`os_migrate.filters`); patterns are compiled by the semantic checks.
FILTER_ITEM_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {"type": "string"},
        {
            "type": "object",
            "properties": {"regex": {"type": "string", "minLength": 1}},
            "required": ["regex"],
            "additionalProperties": False,
        },
    ]
}
_FILTER_LIST = {"type": "array", "items": FILTER_ITEM_SCHEMA}
_NULL_OR_STRING = {"type": ["null", "string"]}
_CONN_ID = {"type": "string", "minLength": 1}

#: The keys a tenant (and ``defaults``) may set, with their schemas.
TENANT_PROPERTIES: dict[str, Any] = {
    "src_conn_id": _CONN_ID,
    "dst_conn_id": _CONN_ID,
    "data_dir": _NULL_OR_STRING,
    "pre_workload": {
        "oneOf": [
            {"type": "boolean"},
            {
                "type": "object",
                "properties": {
                    "resource_types": {
                        "type": "array",
                        "items": {"enum": list(PRE_WORKLOAD_TYPES)},
                        "uniqueItems": True,
                        "minItems": 1,
                    },
                    "filters": {
                        "type": "object",
                        "propertyNames": {"enum": list(PRE_WORKLOAD_TYPES)},
                        "additionalProperties": _FILTER_LIST,
                    },
                },
                "additionalProperties": False,
            },
        ]
    },
    "servers": _FILTER_LIST,
    "volumes": _FILTER_LIST,
    "migration_params": MIGRATION_PARAMS_SCHEMA,
    "flavor_map": FLAVOR_MAP_SCHEMA,
    "copy_method": {"enum": [None, *COPY_METHODS]},
    "src_host_conn_id": _NULL_OR_STRING,
    "dst_host_conn_id": _NULL_OR_STRING,
    "create_dst_project": {"type": "boolean"},
    "dst_admin_conn_id": _CONN_ID,
}

#: JSON schema (Draft 2020-12) of a wave plan file; the semantic checks of :func:`load_plan` add
#: what a schema cannot say (date-times, cron, time zones, durations, regexes, duplicates).
PLAN_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "version": {"const": PLAN_VERSION},
        "defaults": {"type": "object", "properties": TENANT_PROPERTIES, "additionalProperties": False},
        "waves": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "pattern": WAVE_NAME_PATTERN},
                    "start": {
                        "oneOf": [
                            {"type": "string"},
                            {
                                "type": "object",
                                "properties": {
                                    "cron": {"type": "string"},
                                    "timezone": {"type": "string", "minLength": 1},
                                },
                                "required": ["cron"],
                                "additionalProperties": False,
                            },
                        ]
                    },
                    "end": {"type": "string"},
                    "window": {"type": "string"},
                    "approval": {"type": "boolean"},
                    "on_preflight_failure": {"enum": list(PREFLIGHT_POLICIES)},
                    "concurrency": {
                        "type": "object",
                        "properties": {
                            "servers": {"type": "integer", "minimum": 1},
                            "copies_per_host_pair": {"type": "integer", "minimum": 1},
                        },
                        "additionalProperties": False,
                    },
                    "tenants": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "properties": {
                                "tenant": {"type": "string", "pattern": TENANT_PATTERN},
                                **TENANT_PROPERTIES,
                            },
                            "required": ["tenant"],
                            "additionalProperties": False,
                        },
                    },
                },
                "required": ["name", "start", "tenants"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["version", "waves"],
    "additionalProperties": False,
}


# -- the plan ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TenantRun:
    """One tenant's part of a wave: what its pre-workload and workloads runs get as conf.

    ``pre_workload`` is ``{"resource_types": [...], "filters": {...}}``, or ``None`` when the wave
    runs no pre-workload step for this tenant. ``servers``/``volumes`` are name filter items
    (:mod:`os_migrate.filters`); empty selects nothing. ``data_dir`` ``None`` means
    ``$OS_MIGRATE_STAGING_ROOT/<tenant>``, resolved on the worker.
    """

    tenant: str
    src_conn_id: str
    dst_conn_id: str
    data_dir: str | None
    pre_workload: dict[str, Any] | None
    servers: tuple[Any, ...]
    volumes: tuple[Any, ...]
    migration_params: dict[str, Any]
    flavor_map: dict[str, str]
    copy_method: str | None
    src_host_conn_id: str | None
    dst_host_conn_id: str | None
    create_dst_project: bool
    dst_admin_conn_id: str

    def _common_conf(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "src_conn_id": self.src_conn_id,
            "dst_conn_id": self.dst_conn_id,
            "data_dir": self.data_dir,
            "create_dst_project": self.create_dst_project,
            "dst_admin_conn_id": self.dst_admin_conn_id,
        }

    def pre_workload_conf(self) -> dict[str, Any] | None:
        """Conf of an ``os_migrate_pre_workload`` run (its Param names); ``None`` without pre-workload."""
        if self.pre_workload is None:
            return None
        return {
            **self._common_conf(),
            "resource_types": list(self.pre_workload["resource_types"]),
            "filters": {k: list(v) for k, v in self.pre_workload["filters"].items()},
        }

    def workloads_conf(self) -> dict[str, Any]:
        """Conf of an ``os_migrate_workloads`` run (its Param names)."""
        return {
            **self._common_conf(),
            "servers": list(self.servers),
            "volumes": list(self.volumes),
            "migration_params": dict(self.migration_params),
            "flavor_map": dict(self.flavor_map),
            "copy_method": self.copy_method,
            "src_host_conn_id": self.src_host_conn_id,
            "dst_host_conn_id": self.dst_host_conn_id,
        }


@dataclass(frozen=True)
class Wave:
    """One wave: when it runs, how, and its tenants.

    Exactly one of ``start`` (aware date-time), ``cron`` (5 fields, in ``timezone``) and ``staged``
    (runs when every tenant has new staged data) says when. ``timezone`` is an IANA name for cron
    (default ``UTC``), the start's UTC offset (``+01:00``) for a date-time start, ``UTC`` for staged.
    ``end`` (date-time start only) or ``window`` (a length) bound the change window.
    """

    name: str
    dag_id: str
    start: dt.datetime | None
    cron: str | None
    timezone: str
    staged: bool
    end: dt.datetime | None
    window: dt.timedelta | None
    approval: bool
    on_preflight_failure: str
    servers_at_once: int
    copies_per_host_pair: int
    tenants: tuple[TenantRun, ...]

    @property
    def tzinfo(self) -> dt.tzinfo:
        """The wave's time zone (for cron and for reporting times)."""
        if self.start is not None and self.start.tzinfo is not None:
            return self.start.tzinfo
        return zoneinfo.ZoneInfo(self.timezone)

    def schedule_text(self) -> str:
        """``2026-12-05T02:00:00+01:00``, ``cron 0 2 * * 6 (Europe/Prague)`` or ``staged``."""
        if self.start is not None:
            return self.start.isoformat()
        if self.cron is not None:
            return f"cron {self.cron} ({self.timezone})"
        return "staged"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: the wave's fields and, per tenant, both DAG confs."""
        return {
            "name": self.name,
            "dag_id": self.dag_id,
            "start": self.start.isoformat() if self.start else None,
            "cron": self.cron,
            "timezone": self.timezone,
            "staged": self.staged,
            "end": self.end.isoformat() if self.end else None,
            "window_seconds": int(self.window.total_seconds()) if self.window else None,
            "approval": self.approval,
            "on_preflight_failure": self.on_preflight_failure,
            "concurrency": {
                "servers": self.servers_at_once,
                "copies_per_host_pair": self.copies_per_host_pair,
            },
            "tenants": [
                {
                    "tenant": t.tenant,
                    "pre_workload_conf": t.pre_workload_conf(),
                    "workloads_conf": t.workloads_conf(),
                }
                for t in self.tenants
            ],
        }


@dataclass(frozen=True)
class WavePlan:
    """A loaded, valid wave plan: its file and its waves in file order."""

    path: str
    waves: tuple[Wave, ...]

    def wave(self, name: str) -> Wave:
        """The wave called ``name``; :class:`KeyError` if there is none."""
        for w in self.waves:
            if w.name == name:
                return w
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (see :meth:`Wave.to_dict`)."""
        return {"path": self.path, "waves": [w.to_dict() for w in self.waves]}


def wave_dag_id(name: str) -> str:
    """DAG id of the wave ``name``: ``os_migrate_wave_<name>`` with ``-`` as ``_``."""
    return WAVE_DAG_PREFIX + name.replace("-", "_")


# -- loading -----------------------------------------------------------------------------------


class _PlanLoader(yaml.SafeLoader):
    """Safe loader that keeps date-times as strings (they are parsed, and checked, by the plan)."""


_PlanLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def _node_lines(
    node: yaml.Node, path: str, lines: dict[str, int], errors: list[tuple[str, str, int]]
) -> None:
    """Fill ``lines`` (path -> 1-based line) from a composed node tree; duplicate keys go to ``errors``."""
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = _join(path, key)
            if key in seen:
                errors.append((child, f"duplicate key {key!r}", key_node.start_mark.line + 1))
                continue
            seen.add(key)
            lines[child] = key_node.start_mark.line + 1
            _node_lines(value_node, child, lines, errors)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _node_lines(item, _join(path, i), lines, errors)


class _Errors:
    """Collects ``<file>:<line>: <path>: <message>`` errors, the line found from the path."""

    def __init__(self, file: str, lines: Mapping[str, int]):
        self.file = file
        self.lines = lines
        self.items: list[tuple[int, str]] = []

    def line_of(self, path: str) -> int:
        """Line of ``path``, else of its nearest ancestor that has one (1 at worst)."""
        p = path
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[: max(p.rfind("."), p.rfind("["), 0)]
        return self.lines.get("", 1)

    def add(self, path: str, message: str, line: int | None = None) -> None:
        line = line or self.line_of(path)
        self.items.append((line, f"{self.file}:{line}: {path or '<plan>'}: {message}"))

    def sorted(self) -> list[str]:
        return [text for _, text in sorted(self.items, key=lambda item: item[0])]


def _schema_path(path: Iterator[str | int]) -> str:
    out = ""
    for key in path:
        out = _join(out, key)
    return out


def _report(e: jsonschema.ValidationError, validator: Any, errors: _Errors) -> None:
    path = _schema_path(iter(e.absolute_path))
    schema: Any = e.schema
    if e.validator == "additionalProperties" and isinstance(e.instance, Mapping):
        known = sorted(schema.get("properties", {}))
        for key in e.instance:
            if key not in known:
                errors.add(_join(path, key), f"unknown key {key!r} (known: {', '.join(known)})")
        return
    if "propertyNames" in e.relative_schema_path:
        types = ", ".join(PRE_WORKLOAD_TYPES)
        errors.add(_join(path, str(e.instance)), f"unknown resource type {e.instance!r} (known: {types})")
        return
    if e.validator == "oneOf":
        # report the errors of the alternative of the instance's type (the object form of a
        # start, a filter item or pre_workload), else say which forms are accepted
        branches: Any = e.validator_value
        matching = [
            sub
            for sub in e.context or []
            if validator.is_type(e.instance, branches[sub.relative_schema_path[0]].get("type", "object"))
        ]
        if matching:
            for sub in matching:
                _report(sub, validator, errors)
            return
        last = path.rsplit(".", 1)[-1]
        if last == "start":
            accepted = "a date-time with offset, {cron: ..., timezone: ...} or 'staged'"
        elif last == "pre_workload":
            accepted = "false, true or {resource_types: [...], filters: {...}}"
        else:
            accepted = "a name, 'regex:<pattern>' or {regex: <pattern>}"
        errors.add(path, f"expected {accepted}, got {e.instance!r}")
        return
    if e.validator == "const":
        errors.add(path, f"expected {e.validator_value!r}, got {e.instance!r}")
        return
    errors.add(path, e.message)


def _schema_errors(doc: Any, errors: _Errors) -> None:
    validator = jsonschema.Draft202012Validator(PLAN_SCHEMA)
    for e in validator.iter_errors(doc):
        _report(e, validator, errors)


def _offset_text(value: dt.datetime) -> str:
    """``+01:00`` for a date-time at UTC+1."""
    offset = value.utcoffset() or dt.timedelta(0)
    sign = "-" if offset < dt.timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def parse_duration(text: str) -> dt.timedelta:
    """``90s``, ``30m``, ``4h``, ``2d`` or ISO 8601 ``PT4H``/``P1DT2H30M`` as a timedelta.

    :raises ValueError: any other form, or a zero length.
    """
    m = _DURATION_SUFFIX.match(text.strip())
    if m:
        seconds = int(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    else:
        m = _DURATION_ISO.match(text.strip())
        if not m or text.strip() in ("P", "PT") or text.strip().endswith("T"):
            raise ValueError(f"{text!r} is not a duration like 90s, 30m, 4h, 2d or PT4H")
        d, h, mi, s = (int(g or 0) for g in m.groups())
        seconds = ((d * 24 + h) * 60 + mi) * 60 + s
    if seconds <= 0:
        raise ValueError(f"{text!r}: a window must be longer than zero")
    return dt.timedelta(seconds=seconds)


def duration_text(value: dt.timedelta) -> str:
    """A window length as the plan writes it: ``4h``, ``90m``, ``2d``, ``45s``."""
    seconds = int(value.total_seconds())
    for unit in ("d", "h", "m"):
        if seconds % _UNIT_SECONDS[unit] == 0:
            return f"{seconds // _UNIT_SECONDS[unit]}{unit}"
    return f"{seconds}s"


def parse_datetime(text: str) -> dt.datetime:
    """An ISO 8601 date-time with a UTC offset (``2026-12-05T02:00:00+01:00``, ``...Z``).

    :raises ValueError: not ISO 8601, or naive (no offset: its time zone would be a guess).
    """
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 date-time (2026-12-05T02:00:00+01:00)") from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{text!r} has no UTC offset; write it with one, e.g. {text}+01:00 or {text}Z")
    return value


def check_cron(expr: str) -> None:
    """Check a 5-field cron expression (minute hour day-of-month month day-of-week).

    Uses ``croniter`` (installed with Airflow, which schedules with it) when importable; without it,
    each field is only checked against a per-field pattern (numbers, names, ``*``, ranges, steps,
    lists), so a value out of range goes unnoticed until Airflow parses the DAG.

    :raises ValueError: not 5 fields, or a field croniter refuses.
    """
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(
            f"cron {expr!r} must have 5 fields (minute hour day month weekday), has {len(fields)}"
        )
    try:
        from croniter import croniter  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - croniter comes with Airflow
        bad = [f for f in fields if not _CRON_FIELD_RE.match(f)]
        if bad:
            raise ValueError(f"cron {expr!r}: bad field(s) {', '.join(bad)}") from None
        return
    if not croniter.is_valid(expr):
        raise ValueError(f"cron {expr!r} is not a valid cron expression")


def _check_template(value: str) -> str | None:
    """Why ``value`` is not a ``{tenant}`` template, or None."""
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(value) if name is not None]
    except ValueError as e:
        return f"{value!r} is not a valid template: {e}"
    bad = [n for n in names if n != "tenant"]
    if bad:
        return f"{value!r}: only {{tenant}} may be used in a template, not {', '.join('{' + b + '}' for b in bad)}"
    return None


def _filter_item_errors(items: Any, path: str, errors: _Errors) -> None:
    if not isinstance(items, list):
        return
    for i, item in enumerate(items):
        try:
            parsed = parse_filter_item(item)
        except TypeError:
            continue  # reported by the schema
        if parsed and parsed[0] == "regex":
            try:
                re.compile(parsed[1])
            except re.error as e:
                errors.add(_join(path, i), f"{item!r} does not compile: {e}")


def _tenant_errors(tenant: Mapping[str, Any], path: str, errors: _Errors) -> None:
    for key in ("servers", "volumes"):
        _filter_item_errors(tenant.get(key), _join(path, key), errors)
    pre = tenant.get("pre_workload")
    if isinstance(pre, Mapping) and isinstance(pre.get("filters"), Mapping):
        for type_key, items in pre["filters"].items():
            _filter_item_errors(items, _join(_join(path, "pre_workload.filters"), type_key), errors)


def _wave_errors(wave: Mapping[str, Any], path: str, errors: _Errors, merged: list[dict[str, Any]]) -> None:
    start, end, window = wave.get("start"), wave.get("end"), wave.get("window")
    start_dt = None
    if isinstance(start, str) and start != "staged":
        try:
            start_dt = parse_datetime(start)
        except ValueError as e:
            errors.add(_join(path, "start"), f"{e}; or use {{cron: ..., timezone: ...}} or 'staged'")
    elif isinstance(start, Mapping):
        if isinstance(start.get("cron"), str):
            try:
                check_cron(start["cron"])
            except ValueError as e:
                errors.add(_join(path, "start.cron"), str(e))
        tz = start.get("timezone")
        if isinstance(tz, str):
            try:
                zoneinfo.ZoneInfo(tz)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                errors.add(
                    _join(path, "start.timezone"), f"unknown time zone {tz!r} (an IANA name: Europe/Prague)"
                )
    if isinstance(end, str):
        if not (isinstance(start, str) and start != "staged"):
            errors.add(
                _join(path, "end"), "end needs a date-time start; with cron or staged give a window length"
            )
        else:
            try:
                end_dt = parse_datetime(end)
            except ValueError as e:
                errors.add(_join(path, "end"), str(e))
            else:
                if start_dt is not None and end_dt <= start_dt:
                    errors.add(_join(path, "end"), f"end {end} is not after start {start}")
        if window is not None:
            errors.add(_join(path, "window"), "give end or window, not both")
    if isinstance(window, str):
        try:
            parse_duration(window)
        except ValueError as e:
            errors.add(_join(path, "window"), str(e))
    tenants = wave.get("tenants")
    if not isinstance(tenants, list):
        return
    seen: dict[str, int] = {}
    for i, tenant in enumerate(tenants):
        tpath = _join(_join(path, "tenants"), i)
        if not isinstance(tenant, Mapping):
            continue
        name = tenant.get("tenant")
        if isinstance(name, str):
            if name in seen:
                errors.add(
                    _join(tpath, "tenant"), f"tenant {name!r} is already in this wave (tenants[{seen[name]}])"
                )
            else:
                seen[name] = i
        _tenant_errors(tenant, tpath, errors)
        m = merged[i] if i < len(merged) else {}
        if m.get("copy_method") == "conversion_host":
            missing = [k for k in ("src_host_conn_id", "dst_host_conn_id") if not m.get(k)]
            if missing:
                errors.add(
                    _join(tpath, "copy_method"),
                    f"copy_method conversion_host needs {' and '.join(missing)} (SSH connections of the hosts)",
                )


def _merge(defaults: Mapping[str, Any], tenant: Mapping[str, Any]) -> dict[str, Any]:
    """A tenant's settings: its own, else the defaults' (string defaults formatted with {tenant})."""
    name = str(tenant.get("tenant", ""))
    merged: dict[str, Any] = {}
    for key, value in defaults.items():
        if isinstance(value, str):
            with contextlib.suppress(KeyError, IndexError, ValueError):  # reported by the template check
                value = value.format(tenant=name)
        merged[key] = value
    merged.update(tenant)
    return merged


def _tenant_run(m: Mapping[str, Any]) -> TenantRun:
    tenant = m["tenant"]
    pre = m.get("pre_workload", True)
    if pre is False:
        pre_workload = None
    else:
        pre = pre if isinstance(pre, Mapping) else {}
        pre_workload = {
            "resource_types": list(pre.get("resource_types") or PRE_WORKLOAD_TYPES),
            "filters": {k: list(v) for k, v in (pre.get("filters") or {}).items()},
        }
    return TenantRun(
        tenant=tenant,
        src_conn_id=m.get("src_conn_id") or "openstack_src",
        dst_conn_id=m.get("dst_conn_id") or "openstack_dst",
        data_dir=m.get("data_dir") or None,
        pre_workload=pre_workload,
        servers=tuple(m.get("servers") or ()),
        volumes=tuple(m.get("volumes") or ()),
        migration_params=dict(m.get("migration_params") or {}),
        flavor_map=dict(m.get("flavor_map") or {}),
        copy_method=m.get("copy_method"),
        src_host_conn_id=m.get("src_host_conn_id"),
        dst_host_conn_id=m.get("dst_host_conn_id"),
        create_dst_project=bool(m.get("create_dst_project", False)),
        dst_admin_conn_id=m.get("dst_admin_conn_id") or DEFAULT_DST_ADMIN_CONN_ID,
    )


def _wave(w: Mapping[str, Any], tenants: list[dict[str, Any]]) -> Wave:
    start, cron, timezone, staged = None, None, "UTC", False
    if w["start"] == "staged":
        staged = True
    elif isinstance(w["start"], str):
        start = parse_datetime(w["start"])
        timezone = _offset_text(start)
    else:
        cron = " ".join(w["start"]["cron"].split())
        timezone = w["start"].get("timezone", "UTC")
    concurrency = w.get("concurrency") or {}
    return Wave(
        name=w["name"],
        dag_id=wave_dag_id(w["name"]),
        start=start,
        cron=cron,
        timezone=timezone,
        staged=staged,
        end=parse_datetime(w["end"]) if w.get("end") else None,
        window=parse_duration(w["window"]) if w.get("window") else None,
        approval=bool(w.get("approval", False)),
        on_preflight_failure=w.get("on_preflight_failure", "skip"),
        servers_at_once=int(concurrency.get("servers", DEFAULT_SERVERS_AT_ONCE)),
        copies_per_host_pair=int(concurrency.get("copies_per_host_pair", DEFAULT_COPIES_PER_HOST_PAIR)),
        tenants=tuple(_tenant_run(m) for m in tenants),
    )


def plan_files(path: str | Path) -> list[Path]:
    """The plan files at ``path``: the file itself, or a directory's ``*.yml``/``*.yaml``, sorted.

    :raises FileNotFoundError: ``path`` does not exist, or the directory holds no plan file.
    """
    root = Path(path).expanduser()
    if root.is_dir():
        files = sorted([*root.glob("*.yml"), *root.glob("*.yaml")])
        if not files:
            raise FileNotFoundError(f"{root}: no *.yml or *.yaml wave plan in this directory")
        return files
    if not root.exists():
        raise FileNotFoundError(f"{root}: no such wave plan file or directory")
    return [root]


def load_plan(path: str | Path) -> WavePlan:
    """Load and check a wave plan file (YAML or JSON).

    :param path: the plan file; error lines name it as given.
    :returns: the plan, defaults merged into every tenant.
    :raises ValidationError: every problem found, each ``<file>:<line>: <path>: <message>``.
    :raises OSError: the file cannot be read.
    """
    file = str(path)
    text = Path(path).read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=_PlanLoader)
        doc = yaml.load(text, Loader=_PlanLoader)  # a SafeLoader subclass
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise ValidationError([f"{file}:{line}: not valid YAML: {e}"]) from None
    lines: dict[str, int] = {}
    dup: list[tuple[str, str, int]] = []
    if node is not None:
        _node_lines(node, "", lines, dup)
    errors = _Errors(file, lines)
    for p, message, line in dup:
        errors.add(p, message, line)
    if not isinstance(doc, Mapping):
        errors.add("", f"a wave plan must be a mapping with version and waves, got {type(doc).__name__}")
        raise ValidationError(errors.sorted())
    _schema_errors(doc, errors)
    defaults: Mapping[str, Any] = doc["defaults"] if isinstance(doc.get("defaults"), Mapping) else {}
    for key, value in defaults.items():
        if isinstance(value, str):
            problem = _check_template(value)
            if problem:
                errors.add(_join("defaults", key), problem)
    waves: list[Any] = doc["waves"] if isinstance(doc.get("waves"), list) else []
    names: dict[str, int] = {}
    merged_waves: list[list[dict[str, Any]]] = []
    for i, wave in enumerate(waves):
        wpath = _join("waves", i)
        if not isinstance(wave, Mapping):
            merged_waves.append([])
            continue
        name = wave.get("name")
        if isinstance(name, str):
            dag_id = wave_dag_id(name)
            if dag_id in names:
                errors.add(
                    _join(wpath, "name"),
                    f"wave {name!r} repeats waves[{names[dag_id]}] (DAG id {dag_id})",
                )
            else:
                names[dag_id] = i
        tenants: list[Any] = wave["tenants"] if isinstance(wave.get("tenants"), list) else []
        merged = [_merge(defaults, t) if isinstance(t, Mapping) else {} for t in tenants]
        merged_waves.append(merged)
        _wave_errors(wave, wpath, errors, merged)
    if errors.items:
        raise ValidationError(errors.sorted())
    return WavePlan(path=file, waves=tuple(_wave(w, m) for w, m in zip(waves, merged_waves)))


# -- windows -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class WindowState:
    """Whether a wave's change window is open at a time: ``opens``/``closes`` (aware, ``closes``
    ``None`` = no end) and a ``reason`` naming the times in the wave's time zone."""

    open: bool
    opens: dt.datetime | None
    closes: dt.datetime | None
    reason: str


def _last_tick(cron: str, tz: dt.tzinfo, now: dt.datetime) -> dt.datetime:
    from croniter import croniter

    local = now.astimezone(tz)
    it = croniter(cron, local + dt.timedelta(seconds=1))
    prev: dt.datetime = it.get_prev(dt.datetime)
    return prev


def window_check(wave: Wave, now: dt.datetime, scheduled: dt.datetime | None = None) -> WindowState:
    """Whether ``wave`` may start (or go on starting servers) at ``now``.

    - date-time start: open from ``start`` to ``end`` (or ``start + window``; neither: no end);
    - cron: opens at ``scheduled`` (the run's cron tick; default the last tick at or before ``now``)
      and lasts ``window`` (no window: no end);
    - staged: opens at ``scheduled`` (the run's start; default ``now``) and lasts ``window``.

    :param now: aware date-time.
    :param scheduled: aware date-time of the run's tick or start, for cron and staged waves.
    :raises ValueError: ``now`` or ``scheduled`` is naive.
    """
    for label, value in (("now", now), ("scheduled", scheduled)):
        if value is not None and value.utcoffset() is None:
            raise ValueError(f"{label} must be an aware date-time, got {value!r}")
    tz = wave.tzinfo
    if wave.start is not None:
        opens: dt.datetime | None = wave.start
    elif wave.cron is not None:
        opens = scheduled if scheduled is not None else _last_tick(wave.cron, tz, now)
    else:
        opens = scheduled if scheduled is not None else now
    assert opens is not None
    closes = wave.end or (opens + wave.window if wave.window else None)

    def show(t: dt.datetime) -> str:
        return t.astimezone(tz).isoformat()

    if now < opens:
        return WindowState(
            False, opens, closes, f"wave {wave.name}: window opens at {show(opens)}, now {show(now)}"
        )
    if closes is not None and now > closes:
        return WindowState(
            False, opens, closes, f"wave {wave.name}: window closed at {show(closes)}, now {show(now)}"
        )
    until = f"until {show(closes)}" if closes is not None else "with no end"
    return WindowState(True, opens, closes, f"wave {wave.name}: window open since {show(opens)} {until}")


__all__ = [
    "FILTER_ITEM_SCHEMA",
    "PLAN_SCHEMA",
    "TenantRun",
    "Wave",
    "WavePlan",
    "WindowState",
    "check_cron",
    "duration_text",
    "load_plan",
    "parse_datetime",
    "parse_duration",
    "wave_dag_id",
    "window_check",
]
