"""Planning an import: a pure comparison of desired resources with the destination.

Like pip-tools' ``sync.diff``, :func:`make_plan` reads the destination (list requests only) and
returns what :func:`os_migrate.apply.apply_plan` would do, per resource one of ``create``,
``update`` (with the field-level difference), ``unchanged`` or ``skip`` (not selected by filters).
It never writes to a cloud.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from os_migrate.const import FORMAT_VERSION, VERSION_KEY
from os_migrate.dataset import load_dataset, location
from os_migrate.exceptions import ValidationError
from os_migrate.filters import Filters
from os_migrate.references import RefIndex
from os_migrate.resources import REGISTRY, RESOURCE_CLASSES, Resource
from os_migrate.serialization import atomic_write_text

if TYPE_CHECKING:
    from openstack.connection import Connection

CREATE, UPDATE, UNCHANGED, SKIP = "create", "update", "unchanged", "skip"
ACTIONS = (CREATE, UPDATE, UNCHANGED, SKIP)

#: Phase of the actions of a type's own import; deferred params have their class's phase name.
MAIN_PHASE = "main"


@dataclass
class Action:
    """One planned step.

    :param type_key: resource type key.
    :param identity: the resource's import identity (its name for most types).
    :param action: one of :data:`ACTIONS`.
    :param changes: for ``update``: ``{param: {"from": destination, "to": desired}}``.
    :param resource: the desired resource.
    :param existing: the destination twin, if any.
    :param phase: :data:`MAIN_PHASE`, or the ``deferred_phase`` of the resource's class.
    """

    type_key: str
    identity: str
    action: str
    resource: Resource
    changes: dict = field(default_factory=dict)
    existing: Resource | None = None
    phase: str = MAIN_PHASE

    def to_dict(self) -> dict[str, Any]:
        """Small JSON/YAML-able view: type, name, action, changes."""
        out: dict[str, Any] = {"type": self.type_key, "name": self.identity, "action": self.action}
        if self.changes:
            out["changes"] = self.changes
        if self.phase != MAIN_PHASE:
            out["phase"] = self.phase
        return out


def _plan_type(
    type_key: str, desired: list[Resource], existing: Mapping[str, Resource], flt: Filters, errors: list[str]
) -> list[Action]:
    actions = []
    cls = REGISTRY[type_key]
    chosen = {
        id(r)
        for r in cls.with_required([r for r in desired if flt.selects(type_key, r.name, r.params)], desired)
    }
    for res in desired:
        if id(res) not in chosen:
            actions.append(Action(type_key, res.identity, SKIP, res))
            continue
        twin = existing.get(res.identity)
        if twin is None:
            actions.append(Action(type_key, res.identity, CREATE, res))
            continue
        action, changes, problems = res.compare(twin)
        if problems:
            errors.extend(f"{location(res)}: {p}" for p in problems)
            continue
        actions.append(Action(type_key, res.identity, action, res, changes, twin))
    return actions


def _plan_deferred(
    cls: type[Resource], desired: list[Resource], existing: Mapping[str, Resource], flt: Filters
) -> list[Action]:
    """Updates of the :attr:`~os_migrate.resources.base.Resource.deferred` params of ``cls``."""
    actions = []
    for res in desired:
        if not flt.selects(cls.type_key, res.name, res.params):
            continue
        twin = existing.get(res.identity)
        if twin is None:
            want = {k: v for k, v in res.normalize_params(res.params).items() if k in cls.deferred}
            changes = {k: {"from": None, "to": v} for k, v in want.items()}
        else:
            changes = res.diff(twin, only=cls.deferred)
        if changes:
            actions.append(
                Action(cls.type_key, res.identity, UPDATE, res, changes, twin, phase=cls.deferred_phase)
            )
    return actions


def make_plan(
    conn: Connection,
    refs: RefIndex,
    chosen: Mapping[str, list[Resource]],
    types: tuple[str, ...],
    flt: Filters,
    data_dir: str | Path,
) -> list[Action]:
    """Compare the data set with the destination; one list request (or a few) per type.

    :param chosen: resources by type key (all records of each file; filters are applied here so
        that skipped ones are reported).
    :raises ValidationError: create-only fields differ from an existing destination resource.
    """
    errors: list[str] = []
    plan: list[Action] = []
    existing_by_type: dict[str, dict[str, Resource]] = {}
    for type_key in types:
        cls = REGISTRY[type_key]
        desired = cls.import_order(list(chosen.get(type_key, [])))
        existing_by_type[type_key] = {r.identity: r for r in cls.existing(conn, refs, desired)}
        plan.extend(_plan_type(type_key, desired, existing_by_type[type_key], flt, errors))
    for cls in RESOURCE_CLASSES:
        if not cls.deferred or cls.deferred_until not in types:
            continue
        owners = chosen.get(cls.type_key)
        if owners is None:
            owners = load_dataset(data_dir, [cls.type_key])[0][cls.type_key]
        existing = existing_by_type.get(cls.type_key) or {
            r.identity: r for r in cls.existing(conn, refs, owners)
        }
        plan.extend(_plan_deferred(cls, owners, existing, flt))
    if errors:
        raise ValidationError(errors)
    return plan


def count_actions(plan: list[Action]) -> dict[str, int]:
    """``{action: number}`` for every action kind (zeros included)."""
    counts = dict.fromkeys(ACTIONS, 0)
    for a in plan:
        counts[a.action] += 1
    return counts


def write_plan(
    data_dir: str | Path, plan: list[Action], types: tuple[str, ...], dry_run: bool
) -> dict[str, str]:
    """Write ``<data_dir>/plans/<type>.yml`` per type; returns ``{type: path}``."""
    files = {}
    for type_key in types:
        # Deferred params are applied (and reported) with their class's deferred_until type.
        mine = [
            a
            for a in plan
            if (a.type_key == type_key and a.phase == MAIN_PHASE)
            or (a.phase != MAIN_PHASE and REGISTRY[a.type_key].deferred_until == type_key)
        ]
        doc = {
            VERSION_KEY: FORMAT_VERSION,
            "dry_run": dry_run,
            "counts": count_actions(mine),
            "actions": [a.to_dict() for a in mine],
        }
        path = Path(data_dir) / "plans" / f"{type_key}.yml"
        atomic_write_text(path, yaml.safe_dump(doc, sort_keys=False, default_flow_style=False))
        files[type_key] = str(path)
    return files
