"""Project quotas (admin): compute, network and block storage limits of each selected project.

Params name the limits by openstacksdk's attributes (``compute.cores``, ``network.floating_ips``,
``block_storage.gigabytes``; -1 is unlimited); ``_info.usage`` records what the source project
uses. What import sets depends on the quota mode (``_migration_params.quota_mode`` of the record,
else the run's ``quota_mode`` option, else ``copy``):

- ``copy``: the destination limits become the source's;
- ``keep``: the destination's limits are left as they are (nothing written);
- ``raise``: a destination limit lower than what the migrated content needs (the source's usage,
  or the destination's own when larger: once migrated, the content counts there) is raised to
  that; higher and unlimited ones are kept, and a re-run raises nothing more.

In ``copy`` mode a limit is never set below the destination project's current usage (Nova and
Cinder refuse that with 400); such a limit is kept at the usage, with a warning.

APIs: Nova ``os-quota-sets`` (``/detail`` for usage), Neutron ``quotas`` (``/details``), Cinder
``os-quota-sets`` (``?usage=true``); one read per service and project.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from os_migrate.exceptions import DataError
from os_migrate.resources.identity import IDENTITY_REF_SCHEMA, AdminResource, qualified

LOG = logging.getLogger(__name__)

#: Quota keys per service (openstacksdk attribute names), in the record's order.
QUOTA_KEYS: dict[str, tuple[str, ...]] = {
    "compute": (
        "cores",
        "instances",
        "ram",
        "key_pairs",
        "metadata_items",
        "server_groups",
        "server_group_members",
    ),
    "network": (
        "networks",
        "subnets",
        "ports",
        "routers",
        "floating_ips",
        "security_groups",
        "security_group_rules",
    ),
    "block_storage": ("volumes", "gigabytes", "snapshots", "backups", "backup_gigabytes"),
}
#: Service type of each section (for ``Connection.has_service``).
_SERVICE_TYPES = {"compute": "compute", "network": "network", "block_storage": "block-storage"}
QUOTA_MODES = ("copy", "keep", "raise")


def read_quotas(conn, project_id: str) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    """``(limits, usage)`` of a project, each ``{section: {key: int}}`` (sections of the services
    the cloud offers)."""
    limits: dict[str, dict[str, int]] = {}
    usage: dict[str, dict[str, int]] = {}
    if conn.has_service("compute"):
        qs = conn.compute.get_quota_set(project_id, usage=True)
        limits["compute"] = {k: getattr(qs, k) for k in QUOTA_KEYS["compute"] if getattr(qs, k) is not None}
        usage["compute"] = {k: int(v) for k, v in (qs.usage or {}).items() if k in QUOTA_KEYS["compute"]}
    if conn.has_service("network"):
        q = conn.network.get_quota(project_id, details=True)
        details = {k: getattr(q, k) or {} for k in QUOTA_KEYS["network"]}
        limits["network"] = {k: d["limit"] for k, d in details.items() if "limit" in d}
        usage["network"] = {k: int(d.get("used") or 0) for k, d in details.items() if "limit" in d}
    if conn.has_service("block-storage"):
        qs = conn.block_storage.get_quota_set(project_id, usage=True)
        keys = QUOTA_KEYS["block_storage"]
        limits["block_storage"] = {k: getattr(qs, k) for k in keys if getattr(qs, k) is not None}
        usage["block_storage"] = {k: int(v) for k, v in (qs.usage or {}).items() if k in keys}
    return limits, usage


def raised(limit: int, need: int) -> int:
    """``limit`` raised to at least ``need`` (-1, unlimited, stays)."""
    return limit if limit < 0 or limit >= need else need


class Quota(AdminResource):
    """The quotas of one project (see the module docstring); identity ``domain/project``."""

    type = "openstack.quota.Quota"
    type_key = "quotas"
    depends_on = ("projects",)
    parent = ("projects", "project")
    ref_params = {"project": "project"}
    info_from_sdk = ()
    required_params = ("project",)
    params_schema = {
        "project": IDENTITY_REF_SCHEMA,
        **{
            section: {
                "type": "object",
                "properties": {k: {"type": "integer", "minimum": -1} for k in keys},
                "additionalProperties": False,
            }
            for section, keys in QUOTA_KEYS.items()
        },
    }

    @property
    def name(self):
        return self.identity

    @property
    def identity(self):
        return qualified(self.params.get("project"))

    @property
    def mode(self) -> str:
        """The quota mode of this record for this run (see the module docstring)."""
        return self.migration_params.get("quota_mode") or self.run_options.get("quota_mode") or "copy"

    def value_errors(self):
        mode = self.record.get("_migration_params", {}) or {}
        if mode.get("quota_mode") not in (None, *QUOTA_MODES):
            return [f"_migration_params.quota_mode: must be one of {', '.join(QUOTA_MODES)}"]
        return []

    @classmethod
    def _record(cls, refs, project_id: str, limits: dict, usage: dict, sdk: Any = None) -> Quota:
        params = {"project": refs.ref("project", project_id), **limits}
        rec = {"type": cls.type, "params": params, "_info": {"usage": usage}, "_migration_params": {}}
        return cls(rec, sdk=sdk)

    @classmethod
    def export_scoped(cls, conn, refs, scope):
        out = [cls._record(refs, pid, *read_quotas(conn, pid)) for pid in scope.selected]
        return sorted(out, key=lambda r: r.identity)

    @classmethod
    def existing(cls, conn, refs, desired):
        out = []
        for res in desired:
            pid = refs.id("project", res.params["project"], required=False)
            if pid:
                out.append(cls._record(refs, pid, *read_quotas(conn, pid), sdk=pid))
        return out

    def wanted(self, existing: Quota) -> dict:
        """Sections this record wants in the destination, given its current ``existing`` quotas."""
        out: dict[str, dict[str, int]] = {}
        if self.mode == "keep":
            return out
        usage = self.info.get("usage") or {}
        for section in QUOTA_KEYS:
            mine, have = self.params.get(section) or {}, existing.params.get(section) or {}
            used = existing.info.get("usage", {}).get(section, {})
            if self.mode == "copy":
                # Nova and Cinder refuse a limit below what the project uses: never go below it
                out[section] = {k: raised(v, int(used.get(k, 0))) for k, v in mine.items() if k in have}
                for k in out[section]:
                    if out[section][k] != mine[k]:
                        LOG.warning(
                            "%s: %s.%s kept at the destination's usage %d (the source's limit %d is lower)",
                            self.describe(),
                            section,
                            k,
                            out[section][k],
                            mine[k],
                        )
            else:
                # max, not sum: once the content is migrated the destination's usage includes it,
                # and a re-run must not raise again
                out[section] = {
                    k: raised(have[k], max(int(usage.get(section, {}).get(k, 0)), int(used.get(k, 0))))
                    for k in have
                }
        return out

    def diff(self, existing, *, only=None):
        changes = {}
        for section, want in self.wanted(existing).items():
            have = existing.params.get(section) or {}
            delta = {k: v for k, v in want.items() if have.get(k) != v}
            if delta:
                changes[section] = {"from": {k: have.get(k) for k in delta}, "to": delta}
        return changes

    def _write(self, conn, project_id: str, changes: Mapping[str, Any]) -> None:
        for section, change in changes.items():
            values = change["to"]
            if section == "compute":
                conn.compute.update_quota_set(project_id, **values)
            elif section == "network":
                conn.network.update_quota(project_id, **values)
            elif section == "block_storage":
                conn.block_storage.update_quota_set(project_id, **values)
            else:  # pragma: no cover - the schema allows only the three sections
                raise DataError(f"unknown quota section {section!r}")

    def create(self, conn, refs, *, source=None):
        # The project was created by this run: its quotas are the destination's defaults now.
        pid = refs.id("project", self.params["project"])
        current = self._record(refs, pid, *read_quotas(conn, pid))
        self._write(conn, pid, self.diff(current))
        return None

    def update(self, conn, existing, changes, refs, *, source=None):
        self._write(conn, existing.sdk, changes)
        return None
