"""Nova resources that belong to pre-workload content: keypairs and server groups."""

from __future__ import annotations

import logging
from collections import Counter

from openstack import exceptions as sdk_exc

from os_migrate import api_rules
from os_migrate.cloud import find_or_none, is_admin
from os_migrate.exceptions import ConflictError, ReferenceNotFound
from os_migrate.references import RefIndex
from os_migrate.resources.base import Resource

LOG = logging.getLogger(__name__)

#: JSON schema of a user reference (users live in a domain, not a project).
USER_REF_SCHEMA = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string"}, "domain_name": {"type": ["string", "null"]}},
    "additionalProperties": False,
}


class Keypair(Resource):
    """An SSH keypair (public part only; Nova never returns the private key of an existing
    keypair, and none is ever written to the data dir).

    With a tenant connection, the authenticated user's keypairs are exported and imported for the
    importing user. With an admin connection, export also covers the keypairs of every user with a
    role on the project, recorded with ``params.user`` (``{name, domain_name}``), and import
    recreates them for the user of that name in the destination (Nova API microversion 2.10,
    ``user_id`` on list and create). The public key and type cannot be changed in place: a keypair
    of that name with another key in the destination is a conflict, reported before any write.
    """

    type = "openstack.compute.Keypair"
    type_key = "keypairs"
    ref_kind = "keypair"
    params_from_sdk = ("name", "public_key", "type")
    info_from_sdk = ("id", "user_id", "fingerprint", "created_at")
    create_only = ("public_key", "type", "user")
    omit_defaults = {"type": "ssh"}
    # Nova API reference: keypair type since 2.2, user_id on list/create since 2.10.
    param_microversions = {"type": ("compute", "2.2"), "user": ("compute", "2.10")}
    required_params = ("name", "public_key")
    params_schema = {
        "name": {"type": "string"},
        "public_key": {"type": "string"},
        "type": {"enum": ["ssh", "x509"]},
        "user": USER_REF_SCHEMA,
    }

    @classmethod
    def list_ref_targets(cls, conn, project_id):
        return conn.compute.keypairs()

    @classmethod
    def get_ref_target(cls, conn, obj_id):
        return conn.compute.get_keypair(obj_id)

    @property
    def identity(self):
        user = self.params.get("user")
        return f"{user['name']}/{self.name}" if user else (self.name or "")

    @property
    def source_id(self):
        return self.info.get("id")

    def value_errors(self):
        return api_rules.keypair_errors(self.params)

    @classmethod
    def from_sdk(cls, obj, refs, user: dict | None = None):
        res = super().from_sdk(obj, refs)
        # A keypair's id is its name, unique per user only.
        res.record["_info"]["id"] = f"{obj.user_id or 'self'}/{obj.name}" if user else obj.name
        if user:
            res.record["params"]["user"] = user
        return res

    @classmethod
    def export(cls, conn, refs):
        out = [cls.from_sdk(k, refs) for k in conn.compute.keypairs()]
        if is_admin(conn):
            me = conn.current_user_id
            user_ids = {
                a.user["id"]
                for a in conn.identity.role_assignments(scope_project_id=refs.project_id)
                if a.user
            }
            for uid in sorted(user_ids - {me}):
                user = conn.identity.get_user(uid)
                domain = conn.identity.get_domain(user.domain_id)
                ref = {"name": user.name, "domain_name": domain.name}
                out += [cls.from_sdk(k, refs, ref) for k in conn.compute.keypairs(user_id=uid)]
        return sorted(out, key=lambda r: r.identity)

    @classmethod
    def existing(cls, conn, refs, desired):
        out = [cls.from_sdk(k, refs) for k in conn.compute.keypairs()]
        users = {
            (r.params["user"]["name"], r.params["user"].get("domain_name"))
            for r in desired
            if r.params.get("user")
        }
        for name, domain_name in sorted(users, key=str):
            uid = _user_id(conn, name, domain_name)
            if uid:
                ref = {"name": name, "domain_name": domain_name}
                out += [cls.from_sdk(k, refs, ref) for k in conn.compute.keypairs(user_id=uid)]
        return out

    def admin_params(self):
        return ["user"] if self.params.get("user") else []

    def create_body(self, refs):
        body = super().create_body(refs)
        body.pop("user", None)
        return body

    def _create_sdk(self, conn, body):
        user = self.params.get("user")
        if user:
            uid = _user_id(conn, user["name"], user.get("domain_name"))
            if uid is None:
                raise ReferenceNotFound(
                    f"user {user['name']!r} (domain {user.get('domain_name')!r}) not found in the destination"
                )
            body["user_id"] = uid
        return conn.compute.create_keypair(**body)


#: Server group policies (Nova API reference); the soft ones need microversion 2.15.
SERVER_GROUP_POLICIES = ("affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity")


class ServerGroup(Resource):
    """A Nova server group: a scheduling policy (and rules) that member servers follow.

    Nova has no update API for server groups: a same-named destination group with another
    ``policy`` or ``rules`` is a conflict reported by validation and plan, before any write.
    ``policy`` and ``rules`` are the microversion 2.64 fields (openstacksdk sends ``policies`` to
    an older Nova); ``rules`` needs 2.64, the ``soft-*`` policies need 2.15. Members are facts of
    the source (``_info.member_ids``): servers join the destination group when the workload
    migration creates them (scheduler hint ``group``, reference kind ``server_group``).
    """

    type = "openstack.compute.ServerGroup"
    type_key = "server_groups"
    ref_kind = "server_group"
    params_from_sdk = ("name", "policy", "rules")
    info_from_sdk = ("id", "project_id", "user_id", "member_ids")
    create_only = ("policy", "rules")
    param_microversions = {"rules": ("compute", "2.64")}
    required_params = ("name", "policy")
    params_schema = {
        "name": {"type": "string"},
        "policy": {"enum": list(SERVER_GROUP_POLICIES)},
        "rules": {
            "type": "object",
            "properties": {"max_server_per_host": {"type": "integer", "minimum": 1}},
            "additionalProperties": False,
        },
    }

    @classmethod
    def list_ref_targets(cls, conn, project_id):
        return conn.compute.server_groups()

    @classmethod
    def get_ref_target(cls, conn, obj_id):
        return conn.compute.get_server_group(obj_id)

    @classmethod
    def _refs_from_sdk(cls, obj, refs):
        # Before 2.64 Nova returns a one-item ``policies`` list instead of ``policy``.
        return {"policy": obj.policy or next(iter(obj.policies or []), None)}

    @classmethod
    def _extra_info(cls, obj):
        return {"member_ids": sorted(obj.member_ids or [])}

    def value_errors(self):
        return api_rules.length_errors("params.name", self.name, api_rules.NOVA_NAME_MAX, blank=False)

    @classmethod
    def existing(cls, conn, refs, desired):
        # Nova allows two groups with one name; such a twin is ambiguous (see compare).
        out = cls.export(conn, refs)
        counts = Counter(r.name for r in out)
        for r in out:
            r.record["_info"]["same_name_count"] = counts[r.name]
        return out

    @classmethod
    def ref_for_member(cls, refs: RefIndex, server_id: str) -> dict | None:
        """Reference to the server group that server ``server_id`` is a member of, or None.

        Works at any microversion (the groups' members, listed once by ``refs``); the workload
        export records it, and the import resolves it with ``refs.id("server_group", ref)``.
        """
        for group in refs.objects("server_group").values():
            if server_id in (group.member_ids or []):
                return refs.ref("server_group", group.id)
        return None

    def compare(self, twin):
        count = twin.info.get("same_name_count", 1)
        if count > 1:
            return (
                "conflict",
                {},
                [f"params.name: {count} server groups named {self.name!r} in the destination"],
            )
        return super().compare(twin)

    def required_microversions(self):
        out = super().required_microversions()
        if str(self.params.get("policy", "")).startswith("soft-"):
            out["policy"] = ("compute", "2.15")
        return out

    def _create_sdk(self, conn, body):
        return conn.compute.create_server_group(**body)

    def update(self, conn, existing, changes, refs, *, source=None):
        raise ConflictError(f"{self.describe()}: server groups cannot be updated ({', '.join(changes)})")


def _user_id(conn, name: str, domain_name: str | None) -> str | None:
    """ID of the user ``name`` in ``domain_name`` (any domain if None), or None."""
    try:
        domain_id = None
        if domain_name:
            domain = find_or_none(conn.identity.find_domain, domain_name)
            if domain is None:
                return None
            domain_id = domain.id
        user = find_or_none(conn.identity.find_user, name, domain_id=domain_id)
        return user.id if user else None
    except sdk_exc.ForbiddenException:
        return None
