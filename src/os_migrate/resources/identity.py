"""Keystone content an admin migrates: domains, projects, users, groups, roles, role assignments.

Every type here needs admin credentials (``admin_only``) and is imported by the admin workflow
(``import_phase = "admin"``). What an export covers is decided by the selected projects (filter
``projects``, names and regexes, required; see :class:`AdminScope`): those projects and their
ancestors, the direct role assignments on them (user-project and group-project), the users and
groups of those assignments, the members of those groups, the roles used and the domains all of
them live in. References between identity objects are ``{name, domain_name}`` (``ref_scope``
``"domain"``), domains are named by ``{name}``.

Nothing secret is exported: Keystone never returns a password, and a user is created with new
credentials: the run's initial password (``run_options["user_password"]``, e.g. an Airflow secret
the operator provides) or, without one, disabled until the operator acts. Import never enables an
existing disabled user (it may be waiting for its credentials). Group members and flavor access
are additive: import adds what is missing and never removes a destination-only member.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, cast

from os_migrate import api_rules
from os_migrate.exceptions import ValidationError
from os_migrate.references import RefIndex
from os_migrate.resources.base import Resource, _sort_key

if TYPE_CHECKING:
    from openstack.connection import Connection

    from os_migrate.filters import NameFilter

LOG = logging.getLogger(__name__)

#: JSON schema of a reference to an identity object: ``{name, domain_name}``.
IDENTITY_REF_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string"}, "domain_name": {"type": ["string", "null"]}},
    "additionalProperties": False,
}
#: JSON schema of a reference to a domain: ``{name}``.
DOMAIN_REF_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string"}},
    "additionalProperties": False,
}


def in_every_domain(conn: Any, lister: Any) -> list[Any]:
    """``lister()`` plus ``lister(domain_id=...)`` for every domain, without duplicates.

    Keystone lists only global roles without ``domain_id``, and with domain-specific identity
    drivers lists users and groups of the token's domain only (keystone ``api/roles.py``,
    ``_get_domain_id_for_list_request``): one list per domain finds all of them.
    """
    seen: dict[str, Any] = {o.id: o for o in lister()}
    for domain in conn.identity.domains():
        for obj in lister(domain_id=domain.id):
            seen.setdefault(obj.id, obj)
    return list(seen.values())


def missing_refs(wanted: list[dict] | None, have: list[dict] | None) -> list[dict]:
    """The references of ``wanted`` that ``have`` lacks (by ``domain/name``), sorted: what an
    additive list param (group members, flavor access) still has to add."""
    present = {qualified(r) for r in have or []}
    return sorted((r for r in wanted or [] if qualified(r) not in present), key=_sort_key)


def qualified(ref: Mapping[str, Any] | None) -> str:
    """``domain/name`` of an identity reference (``name`` alone without a domain)."""
    if not ref:
        return ""
    domain = ref.get("domain_name")
    return f"{domain}/{ref.get('name')}" if domain else str(ref.get("name"))


@dataclass
class AdminScope:
    """What an admin export covers, read once from the source (a few list requests, plus one
    role assignment list per selected project and one member list per group).

    :param projects: selected projects and their ancestors, by id (SDK objects).
    :param selected: ids of the projects the filter selected.
    :param assignments: direct role assignments on the selected projects (SDK objects).
    :param members: group id -> member user ids, for every group with an assignment.
    """

    projects: dict[str, Any]
    selected: set[str]
    assignments: list[Any] = field(default_factory=list)
    members: dict[str, list[str]] = field(default_factory=dict)
    exporter_id: str | None = None

    @property
    def user_ids(self) -> set[str]:
        """Users with an assignment, and members of the groups with one (the exporting admin
        itself left out: its account is the source cloud's, not the tenant's)."""
        direct = {a.user["id"] for a in self.assignments if a.user}
        return (direct | {uid for ids in self.members.values() for uid in ids}) - {self.exporter_id}

    @property
    def role_ids(self) -> set[str]:
        """Roles used by the assignments."""
        return {a.role["id"] for a in self.assignments}

    @classmethod
    def build(cls, conn: Any, refs: RefIndex, project_filter: NameFilter | None) -> AdminScope:
        """Read the scope of the projects ``project_filter`` selects.

        :raises ValidationError: no project filter (an admin export never covers a whole cloud:
            it would carry service users and the admin project along), or it selects nothing.
        """
        if project_filter is None:
            raise ValidationError(
                [
                    "filters.projects: an admin export needs the names or regexes of the projects to "
                    "migrate (it never exports a whole cloud's service users and projects)"
                ]
            )
        all_projects = refs.objects("project")
        selected = {pid for pid, p in all_projects.items() if project_filter.matches(p.name)}
        if not selected:
            raise ValidationError(["filters.projects: selects no project of the source cloud"])
        projects: dict[str, Any] = {}
        for pid in selected:
            while pid in all_projects and pid not in projects:
                projects[pid] = all_projects[pid]
                pid = all_projects[pid].parent_id
        scope = cls(projects, selected, exporter_id=conn.current_user_id)
        for pid in sorted(selected):
            for a in conn.identity.role_assignments(scope_project_id=pid):
                # Inherited assignments (OS-INHERIT) apply to subprojects: not migrated here.
                if "OS-INHERIT:inherited_to" in (a.scope or {}):
                    LOG.warning(
                        "project %s: inherited role assignment (role %s, %s %s) is not migrated",
                        pid,
                        a.role.get("id"),
                        "user" if a.user else "group",
                        (a.user or a.group or {}).get("id"),
                    )
                    continue
                if a.user and a.user["id"] == scope.exporter_id:
                    continue
                scope.assignments.append(a)
        for gid in sorted({a.group["id"] for a in scope.assignments if a.group}):
            scope.members[gid] = sorted(u.id for u in conn.identity.group_users(gid))
        return scope

    def domain_ids(self, refs: RefIndex) -> set[str]:
        """Domains of the projects, users, groups and domain-specific roles in scope."""
        ids = {p.domain_id for p in self.projects.values()}
        for kind, obj_ids in (("user", self.user_ids), ("group", set(self.members)), ("role", self.role_ids)):
            for obj_id in obj_ids:
                obj = refs.get(kind, obj_id)
                if obj is not None and getattr(obj, "domain_id", None):
                    ids.add(obj.domain_id)
        return {i for i in ids if i}


class AdminResource(Resource):
    """Base of the admin types: exported within an :class:`AdminScope`, compared with every
    destination object of the kind (listed once by the :class:`RefIndex`)."""

    import_phase = "admin"
    admin_only = True
    info_from_sdk: ClassVar[tuple[str, ...]] = ("id",)

    @classmethod
    def export_scoped(cls, conn: Connection, refs: RefIndex, scope: AdminScope) -> list[Resource]:
        """Serialize the resources of this type in ``scope``, sorted by identity."""
        raise NotImplementedError

    def value_errors(self):
        """Keystone's name limits (:data:`~os_migrate.api_rules.KEYSTONE_NAME_MAX`)."""
        limit = api_rules.KEYSTONE_NAME_MAX.get(self.type_key)
        if limit is None:
            return []
        return api_rules.length_errors("params.name", self.params.get("name"), limit, blank=False)

    @classmethod
    def existing(cls, conn, refs, desired):
        if cls.ref_kind is None:
            raise NotImplementedError
        return [cls.from_sdk(o, refs) for o in refs.objects(cls.ref_kind).values()]

    @classmethod
    def export_ids(cls, refs: RefIndex, ids: Iterable[str]) -> list[Resource]:
        """Records of the objects of this type's kind with ``ids`` (the kind listed once),
        sorted by identity; ids no longer visible are left out."""
        assert cls.ref_kind is not None
        objs = (refs.get(cls.ref_kind, obj_id) for obj_id in ids)
        return sorted((cls.from_sdk(o, refs) for o in objs if o is not None), key=lambda r: r.identity)


class Domain(AdminResource):
    """A Keystone domain (name, description, enabled)."""

    type = "openstack.identity.Domain"
    type_key = "domains"
    ref_kind = "domain"
    ref_scope = "global"
    params_from_sdk = ("name", "description", "is_enabled")
    params_schema = {
        "name": {"type": "string"},
        "description": {"type": ["string", "null"]},
        "is_enabled": {"type": "boolean"},
    }

    @classmethod
    def list_ref_targets(cls, conn, project_id):
        return conn.identity.domains()

    @classmethod
    def get_ref_target(cls, conn, obj_id):
        return conn.identity.get_domain(obj_id)

    @classmethod
    def export_scoped(cls, conn, refs, scope):
        return cls.export_ids(refs, scope.domain_ids(refs))

    def _create_sdk(self, conn, body):
        return conn.identity.create_domain(**body)

    def _update_sdk(self, conn, obj, body):
        return conn.identity.update_domain(obj, **body)


class _DomainOwned(AdminResource):
    """An identity object that lives in a domain: identity ``domain/name``."""

    ref_scope = "domain"
    create_only: ClassVar[tuple[str, ...]] = ("domain",)

    @property
    def identity(self):
        return qualified({"name": self.name, "domain_name": (self.params.get("domain") or {}).get("name")})

    @classmethod
    def _refs_from_sdk(cls, obj, refs):
        out = super()._refs_from_sdk(obj, refs)
        domain = out.get("domain")
        if domain:
            out["domain"] = {"name": domain["name"]}
        return out


class Project(_DomainOwned):
    """A Keystone project: description, enabled, tags, its domain and its parent project.

    ``parent`` is ``None`` for a project directly under its domain; a nested project is created
    after its parent (:meth:`import_order`). Domain and parent cannot change in place (a
    same-named destination project elsewhere is a conflict).
    """

    type = "openstack.identity.Project"
    type_key = "projects"
    ref_kind = "project"
    depends_on = ("domains",)
    params_from_sdk = ("name", "description", "is_enabled", "tags")
    ref_params = {"domain": "domain", "parent": "project"}
    create_only = ("domain", "parent")
    unordered = ("tags",)
    params_schema = {
        "name": {"type": "string"},
        "domain": DOMAIN_REF_SCHEMA,
        "parent": {"anyOf": [IDENTITY_REF_SCHEMA, {"type": "null"}]},
        "description": {"type": ["string", "null"]},
        "is_enabled": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "string"}},
    }

    @classmethod
    def list_ref_targets(cls, conn, project_id):
        return conn.identity.projects()

    @classmethod
    def get_ref_target(cls, conn, obj_id):
        return conn.identity.get_project(obj_id)

    @classmethod
    def _refs_from_sdk(cls, obj, refs):
        parent = obj.parent_id if obj.parent_id and obj.parent_id != obj.domain_id else None
        return {"domain": {"name": refs.domain_name(obj.domain_id)}, "parent": refs.ref("project", parent)}

    @classmethod
    def export_scoped(cls, conn, refs, scope):
        out = [cls.from_sdk(p, refs) for p in scope.projects.values()]
        return sorted(out, key=lambda r: r.identity)

    @staticmethod
    def ancestors(res: Resource, by_ident: Mapping[str, Resource]) -> list[Resource]:
        """The parent chain of ``res`` among ``by_ident`` (identity -> project), nearest first;
        it stops at a parent outside the mapping or at a cycle."""
        chain: list[Resource] = []
        seen: set[str] = set()
        while res.params.get("parent"):
            ident = qualified(res.params["parent"])
            if ident in seen or ident not in by_ident:
                break
            seen.add(ident)
            res = by_ident[ident]
            chain.append(res)
        return chain

    @classmethod
    def with_required(cls, selected, candidates):
        by_ident = {r.identity: r for r in candidates}
        keep = {id(r) for r in selected}
        keep |= {id(a) for res in selected for a in cls.ancestors(res, by_ident)}
        return [r for r in candidates if id(r) in keep]

    @classmethod
    def import_order(cls, resources):
        by_ident = {r.identity: r for r in resources}
        return sorted(resources, key=lambda r: (len(cls.ancestors(r, by_ident)), r.identity))

    def serial_key(self):
        # A parent must exist before its children are created: projects go one at a time, in
        # import_order (parents first).
        return "projects"

    def _create_sdk(self, conn, body):
        return conn.identity.create_project(**body)

    def _update_sdk(self, conn, obj, body):
        return conn.identity.update_project(obj, **body)


class User(_DomainOwned):
    """A Keystone user: email, description, enabled, default project; never a password.

    Created with the run's ``user_password`` when one is given, else disabled (the operator
    enables it once it has credentials). Import never enables an existing disabled user.
    """

    type = "openstack.identity.User"
    type_key = "users"
    ref_kind = "user"
    depends_on = ("domains", "projects")
    params_from_sdk = ("name", "email", "description", "is_enabled")
    ref_params = {"domain": "domain", "default_project": "project"}
    params_schema = {
        "name": {"type": "string"},
        "domain": DOMAIN_REF_SCHEMA,
        "email": {"type": ["string", "null"]},
        "description": {"type": ["string", "null"]},
        "is_enabled": {"type": "boolean"},
        "default_project": {"anyOf": [IDENTITY_REF_SCHEMA, {"type": "null"}]},
    }

    @classmethod
    def list_ref_targets(cls, conn, project_id):
        return in_every_domain(conn, conn.identity.users)

    @classmethod
    def get_ref_target(cls, conn, obj_id):
        return conn.identity.get_user(obj_id)

    @classmethod
    def export_scoped(cls, conn, refs, scope):
        out = cls.export_ids(refs, scope.user_ids)
        for res in out:
            project_id = getattr(res.sdk, "default_project_id", None)
            if project_id and project_id not in scope.projects:
                # not migrated: a reference to it could never resolve in the destination
                LOG.info(
                    "user %s: default project %s is outside the selection; left out", res.identity, project_id
                )
                res.record["params"].pop("default_project", None)
        return out

    def diff(self, existing, *, only=None):
        changes = super().diff(existing, only=only)
        enabled = changes.get("is_enabled")
        if enabled and enabled["to"] and not enabled["from"]:
            del changes["is_enabled"]  # never enable a user that may wait for its credentials
        return changes

    def _create_sdk(self, conn, body):
        password = self.run_options.get("user_password")
        if password:
            body = {**body, "password": password}
        elif body.get("is_enabled", True):
            body = {**body, "is_enabled": False}
            LOG.warning("user %s: created disabled (no initial password for this run)", self.identity)
        return conn.identity.create_user(**body)

    def _update_sdk(self, conn, obj, body):
        return conn.identity.update_user(obj, **body)


class Group(_DomainOwned):
    """A Keystone group and its members (``members``: user references, additive on import)."""

    type = "openstack.identity.Group"
    type_key = "groups"
    ref_kind = "group"
    depends_on = ("domains", "users")
    params_from_sdk = ("name", "description")
    ref_params = {"domain": "domain"}
    unordered = ("members",)
    params_schema = {
        "name": {"type": "string"},
        "domain": DOMAIN_REF_SCHEMA,
        "description": {"type": ["string", "null"]},
        "members": {"type": "array", "items": IDENTITY_REF_SCHEMA},
    }

    @classmethod
    def list_ref_targets(cls, conn, project_id):
        return in_every_domain(conn, conn.identity.groups)

    @classmethod
    def get_ref_target(cls, conn, obj_id):
        return conn.identity.get_group(obj_id)

    @classmethod
    def with_members(cls, obj, refs: RefIndex, member_ids: Iterable[str]) -> Group:
        """Record of group ``obj`` with the given member user ids as references."""
        res = cast(Group, cls.from_sdk(obj, refs))
        members = [refs.ref("user", uid) for uid in member_ids]
        res.record["params"] = cls.normalize_params({**res.params, "members": members})
        return res

    @classmethod
    def export_scoped(cls, conn, refs, scope):
        out = [cls.with_members(refs.get("group", gid), refs, ids) for gid, ids in scope.members.items()]
        return sorted(out, key=lambda r: r.identity)

    @classmethod
    def existing(cls, conn, refs, desired):
        wanted = {r.identity for r in desired}
        out = []
        for obj in refs.objects("group").values():
            res = cls.from_sdk(obj, refs)
            if res.identity in wanted:
                res = cls.with_members(obj, refs, [u.id for u in conn.identity.group_users(obj)])
            out.append(res)
        return out

    def iter_refs(self):
        yield from super().iter_refs()
        for i, member in enumerate(self.params.get("members") or []):
            yield f"params.members[{i}]", "user", member

    def diff(self, existing, *, only=None):
        keys = set(only) if only is not None else None
        changes = super().diff(existing, only=None if keys is None else keys - {"members"})
        changes.pop("members", None)
        if keys is None or "members" in keys:
            missing = self.missing_members(existing)
            if missing:
                changes["members"] = {"from": existing.params.get("members") or [], "to": missing}
        return changes

    def missing_members(self, existing: Resource | None) -> list[dict]:
        """Desired members not (yet) in ``existing``'s member list."""
        return missing_refs(self.params.get("members"), existing.params.get("members") if existing else None)

    def create_body(self, refs):
        body = super().create_body(refs)
        body.pop("members", None)
        return body

    def update_body(self, changes, refs):
        body = super().update_body({k: v for k, v in changes.items() if k != "members"}, refs)
        return body

    def _add_members(self, conn, refs: RefIndex, group: Any, members: Iterable[Mapping]) -> None:
        for member in members:
            conn.identity.add_user_to_group(refs.id("user", member), group)

    def create(self, conn, refs, *, source=None):
        group = super().create(conn, refs, source=source)
        self._add_members(conn, refs, group, self.params.get("members") or [])
        return group

    def update(self, conn, existing, changes, refs, *, source=None):
        body = self.update_body(changes, refs)
        group = conn.identity.update_group(existing.sdk, **body) if body else existing.sdk
        if "members" in changes:
            self._add_members(conn, refs, existing.sdk, changes["members"]["to"])
        return group

    def _create_sdk(self, conn, body):
        return conn.identity.create_group(**body)


class Role(_DomainOwned):
    """A Keystone role used by migrated assignments (global roles have no domain)."""

    type = "openstack.identity.Role"
    type_key = "roles"
    ref_kind = "role"
    depends_on = ("domains",)
    params_from_sdk = ("name", "description")
    ref_params = {"domain": "domain"}
    params_schema = {
        "name": {"type": "string"},
        "domain": {"anyOf": [DOMAIN_REF_SCHEMA, {"type": "null"}]},
        "description": {"type": ["string", "null"]},
    }

    @classmethod
    def list_ref_targets(cls, conn, project_id):
        return in_every_domain(conn, conn.identity.roles)

    @classmethod
    def get_ref_target(cls, conn, obj_id):
        return conn.identity.get_role(obj_id)

    @classmethod
    def export_scoped(cls, conn, refs, scope):
        return cls.export_ids(refs, scope.role_ids)

    def _create_sdk(self, conn, body):
        return conn.identity.create_role(**body)

    def _update_sdk(self, conn, obj, body):
        return conn.identity.update_role(obj, **body)


class RoleAssignment(AdminResource):
    """A role of a user or a group on a project, all by name (never updated: created or kept).

    A filter of ``projects`` selects the assignments on those projects.
    """

    type = "openstack.identity.RoleAssignment"
    type_key = "role_assignments"
    depends_on = ("projects", "users", "groups", "roles")
    parent = ("projects", "project")
    ref_params = {"role": "role", "user": "user", "group": "group", "project": "project"}
    create_only = ("role", "user", "group", "project")
    required_params = ("role", "project")
    info_from_sdk = ()
    params_schema = {
        "role": IDENTITY_REF_SCHEMA,
        "user": IDENTITY_REF_SCHEMA,
        "group": IDENTITY_REF_SCHEMA,
        "project": IDENTITY_REF_SCHEMA,
    }

    @property
    def name(self):
        return self.identity

    @property
    def identity(self):
        who = "user" if self.params.get("user") else "group"
        return (
            f"{qualified(self.params.get('role'))} {who}:{qualified(self.params.get(who))} "
            f"project:{qualified(self.params.get('project'))}"
        )

    def value_errors(self):
        if bool(self.params.get("user")) == bool(self.params.get("group")):
            return ["params: needs exactly one of user and group"]
        return []

    @classmethod
    def from_assignment(cls, a: Any, refs: RefIndex) -> RoleAssignment:
        """Record of one Keystone role assignment (SDK ``RoleAssignment``) on a project."""
        params = {
            "role": refs.ref("role", a.role["id"]),
            "project": refs.ref("project", a.scope["project"]["id"]),
        }
        if a.user:
            params["user"] = refs.ref("user", a.user["id"])
        else:
            params["group"] = refs.ref("group", a.group["id"])
        return cls({"type": cls.type, "params": params, "_info": {}, "_migration_params": {}}, sdk=a)

    @classmethod
    def export_scoped(cls, conn, refs, scope):
        out = [cls.from_assignment(a, refs) for a in scope.assignments]
        return sorted(out, key=lambda r: r.identity)

    @classmethod
    def existing(cls, conn, refs, desired):
        project_ids = {refs.id("project", r.params["project"], required=False) for r in desired}
        out = []
        for pid in sorted(p for p in project_ids if p):
            out += [
                cls.from_assignment(a, refs)
                for a in conn.identity.role_assignments(scope_project_id=pid)
                if "OS-INHERIT:inherited_to" not in (a.scope or {})
            ]
        return out

    def create(self, conn, refs, *, source=None):
        project = refs.id("project", self.params["project"])
        role = refs.id("role", self.params["role"])
        if self.params.get("user"):
            conn.identity.assign_project_role_to_user(project, refs.id("user", self.params["user"]), role)
        else:
            conn.identity.assign_project_role_to_group(project, refs.id("group", self.params["group"]), role)
        return None


#: Admin identity types, in registration order.
IDENTITY_TYPES = (Domain, Project, User, Group, Role, RoleAssignment)
