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
from os_migrate.resources import REGISTRY, Resource
from os_migrate.serialization import atomic_write_text

if TYPE_CHECKING:
    from openstack.connection import Connection

CREATE, UPDATE, UNCHANGED, SKIP = "create", "update", "unchanged", "skip"
ACTIONS = (CREATE, UPDATE, UNCHANGED, SKIP)

#: Phase of router static routes, applied after router interfaces (nexthops need them).
ROUTES_PHASE = "routes"


@dataclass
class Action:
    """One planned step.

    :param type_key: resource type key.
    :param identity: the resource's import identity (its name for most types).
    :param action: one of :data:`ACTIONS`.
    :param changes: for ``update``: ``{param: {"from": destination, "to": desired}}``.
    :param resource: the desired resource.
    :param existing: the destination twin, if any.
    :param phase: ``"main"`` or :data:`ROUTES_PHASE`.
    """

    type_key: str
    identity: str
    action: str
    resource: Resource
    changes: dict = field(default_factory=dict)
    existing: Resource | None = None
    phase: str = "main"

    def to_dict(self) -> dict[str, Any]:
        """Small JSON/YAML-able view: type, name, action, changes."""
        out: dict[str, Any] = {"type": self.type_key, "name": self.identity, "action": self.action}
        if self.changes:
            out["changes"] = self.changes
        if self.phase != "main":
            out["phase"] = self.phase
        return out


def _plan_type(
    type_key: str, desired: list[Resource], existing: Mapping[str, Resource], flt: Filters, errors: list[str]
) -> list[Action]:
    actions = []
    for res in desired:
        if not flt.selects(type_key, res.name, res.params):
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


def _plan_routes(routers: list[Resource], existing: Mapping[str, Resource], flt: Filters) -> list[Action]:
    actions = []
    for res in routers:
        if not flt.selects("routers", res.name, res.params):
            continue
        twin = existing.get(res.identity)
        want = res.normalize_params(res.params).get("routes")
        if twin is None:
            if want:
                actions.append(
                    Action(
                        "routers",
                        res.identity,
                        UPDATE,
                        res,
                        {"routes": {"from": None, "to": want}},
                        phase=ROUTES_PHASE,
                    )
                )
            continue
        changes = res.diff(twin, only=["routes"])
        if changes:
            actions.append(Action("routers", res.identity, UPDATE, res, changes, twin, phase=ROUTES_PHASE))
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
        desired = chosen.get(type_key, [])
        existing_by_type[type_key] = {r.identity: r for r in cls.existing(conn, refs, desired)}
        plan.extend(_plan_type(type_key, chosen.get(type_key, []), existing_by_type[type_key], flt, errors))
    if "router_interfaces" in types:
        routers = chosen.get("routers")
        if routers is None:
            routers = load_dataset(data_dir, ["routers"])[0]["routers"]
        existing = existing_by_type.get("routers") or {
            r.identity: r for r in REGISTRY["routers"].export(conn, refs)
        }
        plan.extend(_plan_routes(routers, existing, flt))
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
        # Router static routes are applied (and reported) with the router interfaces.
        mine = [
            a
            for a in plan
            if (a.type_key == type_key and a.phase == "main")
            or (type_key == "router_interfaces" and a.phase == ROUTES_PHASE)
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
