"""Nova flavors (admin): sizes, visibility, description, extra specs and, for private flavors, the
projects that may use them.

A flavor is immutable here: Nova cannot change its sizes in place, and its extra specs and
description are the destination's business once it exists (they may carry aggregate, PCI or
placement traits of that cloud). So a same-named destination flavor that differs in any param is a
conflict reported by validation and plan, before any write, never an update; workloads then map
servers to another flavor name (``flavor_map``). Only ``access`` (which projects may use a private
flavor) is added to an existing flavor, and it is additive (a destination project keeps its
access).

Export covers the public flavors and the private flavors a project in the admin scope may use;
``access`` lists the scope's projects only (other projects are not being migrated).
"""

from __future__ import annotations

import logging
from typing import Any

from os_migrate import api_rules
from os_migrate.resources.base import _sort_key
from os_migrate.resources.identity import IDENTITY_REF_SCHEMA, AdminResource, missing_refs

LOG = logging.getLogger(__name__)

_SIZE_SCHEMA = {"type": "integer", "minimum": 0}


class Flavor(AdminResource):
    """A Nova flavor (see the module docstring)."""

    type = "openstack.compute.Flavor"
    type_key = "flavors"
    ref_kind = "flavor"
    ref_scope = "global"
    depends_on = ("projects",)
    params_from_sdk = (
        "name",
        "vcpus",
        "ram",
        "disk",
        "ephemeral",
        "swap",
        "rxtx_factor",
        "is_public",
        "description",
        "extra_specs",
    )
    info_from_sdk = ("id",)
    #: everything but the name: a flavor is never updated (see the module docstring)
    create_only = params_from_sdk[1:]
    unordered = ("access",)
    param_microversions = {"description": ("compute", "2.55")}
    params_schema = {
        "name": {"type": "string"},
        "vcpus": {"type": "integer", "minimum": 1},
        "ram": {"type": "integer", "minimum": 1},
        "disk": _SIZE_SCHEMA,
        "ephemeral": _SIZE_SCHEMA,
        "swap": _SIZE_SCHEMA,
        "rxtx_factor": {"type": "number", "exclusiveMinimum": 0},
        "is_public": {"type": "boolean"},
        "description": {"type": ["string", "null"]},
        "extra_specs": {"type": "object", "additionalProperties": {"type": "string"}},
        "access": {"type": "array", "items": IDENTITY_REF_SCHEMA},
    }
    required_params = ("name", "vcpus", "ram")

    def value_errors(self):
        p = self.params
        errors = api_rules.nova_name_errors("params.name", p.get("name"))
        for f, lo in (("vcpus", 1), ("ram", 1), ("disk", 0), ("ephemeral", 0), ("swap", 0)):
            errors += api_rules.int_range_errors(f"params.{f}", p.get(f), lo, api_rules.INT32_MAX)
        rxtx = p.get("rxtx_factor")
        if isinstance(rxtx, (int, float)) and rxtx > 3.40282e38:
            errors.append(f"params.rxtx_factor: {rxtx} is above Nova's 3.40282e38")
        errors += api_rules.length_errors("params.description", p.get("description"), 65535)
        for k, v in (p.get("extra_specs") or {}).items():
            errors += api_rules.length_errors(f"params.extra_specs.{k}", v, 255)
            if not 1 <= len(k) <= 255:
                errors.append(f"params.extra_specs.{k}: keys must be 1-255 characters")
        return errors

    @classmethod
    def list_ref_targets(cls, conn, project_id):
        # is_public=None lists public and private flavors (admin); get_extra_specs fetches them
        # for a Nova older than microversion 2.61, whose list does not carry them.
        return conn.compute.flavors(details=True, is_public=None, get_extra_specs=True)

    @classmethod
    def get_ref_target(cls, conn, obj_id):
        return conn.compute.get_flavor(obj_id)

    @classmethod
    def from_sdk(cls, obj, refs, access_ids: list[str] | None = None):
        res = super().from_sdk(obj, refs)
        params = dict(res.params)
        # Nova reports "no swap" as "" before microversion 2.75 and 0 after; 0 here, always.
        for key in ("disk", "ephemeral", "swap"):
            params[key] = int(getattr(obj, key, 0) or 0)
        if not obj.is_public:
            params["access"] = [refs.ref("project", pid) for pid in access_ids or []]
        res.record["params"] = cls.normalize_params(params)
        return res

    @classmethod
    def _access(cls, conn, obj) -> list[str]:
        return sorted(a["tenant_id"] for a in conn.compute.get_flavor_access(obj))

    @classmethod
    def export_scoped(cls, conn, refs, scope):
        out = []
        for obj in refs.objects("flavor").values():
            if obj.is_public:
                out.append(cls.from_sdk(obj, refs))
                continue
            access = [pid for pid in cls._access(conn, obj) if pid in scope.projects]
            if access:
                out.append(cls.from_sdk(obj, refs, access))
        return sorted(out, key=lambda r: r.identity)

    @classmethod
    def existing(cls, conn, refs, desired):
        wanted = {r.identity for r in desired}
        return [
            cls.from_sdk(o, refs, cls._access(conn, o) if not o.is_public and o.name in wanted else None)
            for o in refs.objects("flavor").values()
        ]

    def iter_refs(self):
        for i, project in enumerate(self.params.get("access") or []):
            yield f"params.access[{i}]", "project", project

    def diff(self, existing, *, only=None):
        keys = set(only) if only is not None else None
        changes = super().diff(existing, only=None if keys is None else keys - {"access"})
        changes.pop("access", None)
        if (keys is None or "access" in keys) and not self.params.get("is_public", True):
            missing = missing_refs(self.params.get("access"), existing.params.get("access"))
            if missing:
                changes["access"] = {"from": existing.params.get("access") or [], "to": missing}
        return changes

    def create_body(self, refs):
        body = super().create_body(refs)
        for key in ("extra_specs", "access"):
            body.pop(key, None)
        return body

    def _apply_specs_and_access(self, conn, refs, flavor: Any, specs: dict | None, access: list) -> None:
        if specs:
            conn.compute.create_flavor_extra_specs(flavor, specs)
        for project in sorted(access, key=_sort_key):
            conn.compute.flavor_add_tenant_access(flavor, refs.id("project", project))

    def create(self, conn, refs, *, source=None):
        flavor = super().create(conn, refs, source=source)
        self._apply_specs_and_access(
            conn, refs, flavor, self.params.get("extra_specs"), self.params.get("access") or []
        )
        return flavor

    def update(self, conn, existing, changes, refs, *, source=None):
        # every other param is create-only (a difference is a conflict): only access is added
        self._apply_specs_and_access(conn, refs, existing.sdk, None, changes["access"]["to"])
        return existing.sdk

    def _create_sdk(self, conn, body):
        return conn.compute.create_flavor(**body)
