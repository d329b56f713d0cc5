"""References between resources by name, never by ID.

A reference is a mapping ``{"name": str, "project_name": str | None, "domain_name": str | None}``;
identity objects (projects, users, groups, roles) are named by ``{"name", "domain_name"}`` and domains
by ``{"name"}`` (their class's ``ref_scope``).
``project_name``/``domain_name`` equal :data:`~os_migrate.const.AUTH_PROJECT` (``%auth%``) when the
target belongs to the project the connection is authenticated to, so data exported from project A
imports into project B. They are ``None`` when the owner could not be named (a tenant may not read
other projects, e.g. the admin-owned external network; like OS Migrate, a 403 on the identity
lookup degrades to a name-only reference).

:class:`RefIndex` answers both directions for one connection: ``ref(kind, id)`` on export and
``id(kind, ref)`` on import. It lists each kind once (one or a few list requests, never one GET per
resource) and caches the result; resources created during an import are added with :meth:`add`.
How a kind is listed and fetched is declared by its resource class
(:meth:`~os_migrate.resources.base.Resource.list_ref_targets`, ``get_ref_target``), found
through the registry's :data:`~os_migrate.resources.BY_KIND`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from openstack import exceptions as sdk_exc

from os_migrate.cloud import find_or_none
from os_migrate.const import AUTH_PROJECT
from os_migrate.exceptions import AmbiguousReference, ReferenceNotFound

if TYPE_CHECKING:
    from openstack.connection import Connection

LOG = logging.getLogger(__name__)

#: A reference mapping (see the module docstring).
Ref = Mapping[str, Any]


def _kind_class(kind: str) -> Any:
    # The registry imports this module (through the resource base class): import it lazily.
    from os_migrate.resources import BY_KIND

    try:
        return BY_KIND[kind]
    except KeyError:
        raise KeyError(f"no resource type declares ref_kind {kind!r}") from None


def owner_of(obj: Any) -> str | None:
    """Project id owning an SDK object (``project_id``, or ``owner`` for Glance images)."""
    return getattr(obj, "project_id", None) or getattr(obj, "owner", None)


def make_ref(
    name: str | None, project_name: str | None = AUTH_PROJECT, domain_name: str | None = AUTH_PROJECT
) -> dict:
    """Build a reference mapping."""
    return {"name": name, "project_name": project_name, "domain_name": domain_name}


def ref_str(ref: Ref | None) -> str:
    """Human-readable form of a reference for messages: ``name`` or ``project/name``."""
    if not ref:
        return "<none>"
    proj = ref.get("project_name")
    if proj is None and ref.get("domain_name") not in (None, AUTH_PROJECT):
        return f"{ref['domain_name']}/{ref.get('name')!r}"
    if proj in (None, AUTH_PROJECT):
        return repr(ref.get("name"))
    return f"{ref.get('domain_name') or '?'}/{proj}/{ref.get('name')!r}"


class RefIndex:
    """Cached name <-> id lookups of one connection.

    Safe to share between the threads of a concurrent import: a kind is listed once (a lock
    guards the cache), and lookups read a snapshot while other threads :meth:`add` objects.

    :param conn: an authenticated ``openstack.connection.Connection``.
    """

    def __init__(self, conn: Connection):
        self.conn = conn
        self.project_id: str = conn.current_project_id or ""
        # identity v3 (the v2 proxy in openstacksdk's type union has no domains)
        self._identity: Any = conn.identity
        self._objs: dict[str, dict[str, Any]] = {}
        self._projects: dict[str, tuple[str | None, str | None]] = {}
        self._project_ids: dict[tuple[str, str | None], str | None] = {}
        self._domain_names: dict[str, str | None] = {}
        self._lock = threading.RLock()

    # -- listing -------------------------------------------------------------------------------
    def objects(self, kind: str) -> dict[str, Any]:
        """All listed objects of ``kind`` by id (listed on first use)."""
        if kind not in self._objs:
            with self._lock:
                if kind not in self._objs:
                    listed = _kind_class(kind).list_ref_targets(self.conn, self.project_id)
                    self._objs[kind] = {o.id: o for o in listed}
        return self._objs[kind]

    def owned(self, kind: str) -> list[Any]:
        """The listed objects of ``kind`` owned by the connection's project.

        Export and plan list a type through this, so the list the index needs anyway serves both
        (one list request per kind, not two).
        """
        objs = self.objects(kind)
        with self._lock:
            listed = list(objs.values())
        return [o for o in listed if owner_of(o) == self.project_id]

    def add(self, kind: str, obj: Any) -> None:
        """Record an object created (or found) after the kind was listed."""
        objs = self.objects(kind)
        with self._lock:
            objs[obj.id] = obj

    def get(self, kind: str, obj_id: str | None) -> Any:
        """The object of ``kind`` with ``obj_id``, fetched with one GET if it was not listed.

        :returns: the SDK object, or None if it does not exist or is not visible.
        """
        if not obj_id:
            return None
        objs = self.objects(kind)
        if obj_id not in objs:
            try:
                obj = _kind_class(kind).get_ref_target(self.conn, obj_id)
            except (sdk_exc.NotFoundException, sdk_exc.ForbiddenException):
                return None
            with self._lock:
                objs[obj_id] = obj
        return objs[obj_id]

    # -- projects ------------------------------------------------------------------------------
    def project_names(self, project_id: str | None) -> tuple[str | None, str | None]:
        """``(project_name, domain_name)`` of a project id; ``%auth%`` for the own project.

        Returns ``(None, None)`` when identity does not let us read the project (403/404).
        """
        if not project_id:
            return None, None
        if project_id == self.project_id:
            return AUTH_PROJECT, AUTH_PROJECT
        if project_id not in self._projects:
            try:
                project = self._identity.get_project(project_id)
                domain = self._identity.get_domain(project.domain_id)
                self._projects[project_id] = (project.name, domain.name)
            except (sdk_exc.ForbiddenException, sdk_exc.NotFoundException):
                LOG.debug("project %s not readable; using a name-only reference", project_id)
                self._projects[project_id] = (None, None)
        return self._projects[project_id]

    def project_id_for(self, project_name: str | None, domain_name: str | None) -> str | None:
        """Project id for a reference's project; None when unknown or unrestricted."""
        if project_name in (None, AUTH_PROJECT):
            return self.project_id if project_name == AUTH_PROJECT else None
        key = (project_name, domain_name)
        if key not in self._project_ids:
            try:
                domain_id = None
                if domain_name:
                    domain = find_or_none(self._identity.find_domain, domain_name)
                    domain_id = domain.id if domain else None
                project = self._identity.find_project(project_name, domain_id=domain_id, ignore_missing=False)
                self._project_ids[key] = project.id if project else None
            except (sdk_exc.ForbiddenException, sdk_exc.NotFoundException):
                self._project_ids[key] = None
        return self._project_ids[key]

    # -- domains (identity objects) ------------------------------------------------------------
    def domain_name(self, domain_id: str | None) -> str | None:
        """Name of a domain id (one GET per domain, cached); None when unknown or unreadable."""
        if not domain_id:
            return None
        if domain_id not in self._domain_names:
            try:
                self._domain_names[domain_id] = self._identity.get_domain(domain_id).name
            except (sdk_exc.ForbiddenException, sdk_exc.NotFoundException):
                self._domain_names[domain_id] = None
        return self._domain_names[domain_id]

    def domain_id(self, domain_name: str | None) -> str | None:
        """Id of a domain name; None when it does not exist or cannot be read.

        Domains are listed once (``objects("domain")``) and kept current by :meth:`add`, so a
        domain created during an import resolves without another request.
        """
        if not domain_name:
            return None
        try:
            domains = self.objects("domain")
        except sdk_exc.ForbiddenException:
            return None
        with self._lock:
            listed = list(domains.values())
        return next((d.id for d in listed if d.name == domain_name), None)

    # -- both directions -----------------------------------------------------------------------
    def ref(self, kind: str, obj_id: str | None) -> dict | None:
        """Reference to the object of ``kind`` with ``obj_id`` (export direction).

        :returns: None if ``obj_id`` is empty; a reference with ``name: None`` and the source id
            under ``id`` if the object is not visible (validation then refuses it).
        """
        if not obj_id:
            return None
        obj = self.get(kind, obj_id)
        if obj is None:
            return {"name": None, "project_name": None, "domain_name": None, "id": obj_id}
        scope = _kind_class(kind).ref_scope
        if scope == "global":
            return {"name": obj.name}
        if scope == "domain":
            return {"name": obj.name, "domain_name": self.domain_name(getattr(obj, "domain_id", None))}
        project_name, domain_name = self.project_names(owner_of(obj))
        return make_ref(obj.name, project_name, domain_name)

    def find(self, kind: str, ref: Ref | None, *, required: bool = True) -> Any:
        """The object of ``kind`` a reference points to (import direction).

        :param required: raise when nothing matches (else return None).
        :raises ReferenceNotFound: nothing matches and ``required``.
        :raises AmbiguousReference: several objects match (same name, project not decisive).
        """
        if not ref or not ref.get("name"):
            if required:
                raise ReferenceNotFound(f"{kind} reference {ref_str(ref)} has no name")
            return None
        name = ref["name"]
        objs = self.objects(kind)
        with self._lock:
            listed = list(objs.values())
        candidates = [o for o in listed if o.name == name]
        project_name = ref.get("project_name")
        scope = _kind_class(kind).ref_scope
        if scope == "domain" and ref.get("domain_name"):
            did = self.domain_id(ref["domain_name"])
            candidates = [o for o in candidates if getattr(o, "domain_id", None) == did]
        elif scope == "project" and project_name is not None:
            pid = self.project_id_for(project_name, ref.get("domain_name"))
            if pid is not None or project_name == AUTH_PROJECT:
                candidates = [o for o in candidates if owner_of(o) == pid]
        if len(candidates) > 1:
            own = [o for o in candidates if owner_of(o) == self.project_id]
            if len(own) == 1:
                return own[0]
            raise AmbiguousReference(
                f"{kind} reference {ref_str(ref)} matches {len(candidates)} resources: "
                + ", ".join(sorted(o.id for o in candidates))
            )
        if not candidates:
            if required:
                raise ReferenceNotFound(f"{kind} {ref_str(ref)} not found")
            return None
        return candidates[0]

    def id(self, kind: str, ref: Ref | None, *, required: bool = True) -> str | None:
        """ID of :meth:`find`'s result (None when not found and not ``required``)."""
        obj = self.find(kind, ref, required=required)
        return obj.id if obj is not None else None
