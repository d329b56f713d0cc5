"""The destination project of a tenant migration, created first with an admin connection.

A tenant's destination connection is scoped to a project that may not exist yet in a new cloud.
:func:`ensure_connection_project` reads what that connection is scoped to (its settings only: it
never authenticates with it, since its project may be missing) and :func:`ensure_project` makes, with
an admin connection, the project (if missing) and the user's role in it (if missing)::

    admin = <openstacksdk Connection with the admin role>
    ensure_connection_project(admin, dst)   -> {"project": {...}, "user": {...}, "role": "member",
                                                "created_project": bool, "assigned_role": bool,
                                                "changed": bool}

Every check is a read and comes before the first write: the admin token must carry the ``admin``
role (:func:`os_migrate.cloud.is_admin`); the project's domain, the user (in its domain) and the
role must exist (none of them is created); a project named by id must exist (a project cannot be
created with a given id). When both the project and the role assignment exist nothing is written.
"""

from __future__ import annotations

import logging
from typing import Any

from os_migrate.cloud import check_connection, describe_cloud, find_or_none, is_admin
from os_migrate.exceptions import OsMigrateError

LOG = logging.getLogger(__name__)

#: The role a tenant user needs in its project to migrate tenant content.
DEFAULT_ROLE = "member"
#: Domain of a project or user whose connection names none (Keystone's default domain).
DEFAULT_DOMAIN = "Default"
#: Description of a project made here.
PROJECT_DESCRIPTION = "Created by os-migrate as the destination of a tenant migration"


class ProjectSetupError(OsMigrateError):
    """The destination project cannot be made: wrong admin credentials, or a missing domain, user,
    role or project id. Nothing was written (the same input fails the same way: not retryable)."""


def connection_scope(conn) -> dict[str, Any]:
    """What an openstacksdk connection is scoped to, read from its settings (no API call).

    :param conn: an ``openstack.connection.Connection`` (only ``conn.config.auth`` is read).
    :returns: ``{"project_name", "project_id", "project_domain", "user_name", "user_id",
        "user_domain", "application_credential": bool}``; a domain is a name or an id (``Default``
        when the connection names none); absent values are None. Never a secret.
    """
    auth = dict(getattr(getattr(conn, "config", None), "auth", None) or {})
    shared_domain = auth.get("domain_name") or auth.get("domain_id")
    return {
        "project_name": auth.get("project_name") or None,
        "project_id": auth.get("project_id") or None,
        "project_domain": auth.get("project_domain_name")
        or auth.get("project_domain_id")
        or shared_domain
        or DEFAULT_DOMAIN,
        "user_name": auth.get("username") or None,
        "user_id": auth.get("user_id") or None,
        "user_domain": auth.get("user_domain_name")
        or auth.get("user_domain_id")
        or shared_domain
        or DEFAULT_DOMAIN,
        "application_credential": bool(
            auth.get("application_credential_id") or auth.get("application_credential_name")
        ),
    }


def ensure_connection_project(admin, conn, *, role: str = DEFAULT_ROLE) -> dict[str, Any]:
    """Make the project ``conn`` is scoped to, and give ``conn``'s user ``role`` there.

    :param admin: an openstacksdk Connection whose token carries the ``admin`` role.
    :param conn: the tenant's destination connection (read only for its settings; it is never
        used to authenticate).
    :param role: the role to give the user in the project.
    :returns: as :func:`ensure_project`.
    :raises ProjectSetupError: ``conn`` uses an application credential (bound to an existing
        project), names no project or no user, or anything :func:`ensure_project` refuses.
    :raises CloudError: the admin cloud is unreachable or refuses the credentials.
    """
    scope = connection_scope(conn)
    where = f"destination connection {describe_cloud(conn)}"
    if scope["application_credential"]:
        raise ProjectSetupError(
            f"{where}: an application credential is bound to a project that already exists; "
            "create_dst_project needs a connection with a user and a project name"
        )
    if not (scope["project_name"] or scope["project_id"]):
        raise ProjectSetupError(f"{where}: it names no project (project_name or project_id)")
    if not (scope["user_name"] or scope["user_id"]):
        raise ProjectSetupError(f"{where}: it names no user (username or user_id)")
    return ensure_project(
        admin,
        scope["project_name"],
        scope["project_domain"],
        project_id=scope["project_id"],
        user_name=scope["user_name"] or scope["user_id"],
        user_domain_name=scope["user_domain"],
        role=role,
    )


def ensure_project(
    admin,
    project_name: str | None,
    domain_name: str = DEFAULT_DOMAIN,
    *,
    user_name: str,
    user_domain_name: str = DEFAULT_DOMAIN,
    role: str = DEFAULT_ROLE,
    project_id: str | None = None,
) -> dict[str, Any]:
    """Create project ``project_name`` in ``domain_name`` if missing, and give ``user_name`` the
    role ``role`` there if it lacks it (idempotent: no write when both exist).

    :param admin: an openstacksdk Connection whose token carries the ``admin`` role.
    :param project_name: the project's name (None when ``project_id`` names it).
    :param domain_name: the project's domain, by name or id (it must exist).
    :param user_name: the user, by name or id (it must exist in ``user_domain_name``).
    :param user_domain_name: the user's domain, by name or id.
    :param role: the role's name or id (it must exist).
    :param project_id: a project named by id instead: it must exist (it cannot be created).
    :returns: ``{"project": {"id", "name", "domain_id"}, "user": {"id", "name", "domain_id"},
        "role": name, "created_project": bool, "assigned_role": bool, "changed": bool}``.
    :raises ProjectSetupError: the admin token has no admin role; the domain, user or role is
        missing; ``project_id`` names no project; neither a project name nor an id is given.
        Raised before any write.
    :raises CloudError: the admin cloud is unreachable or refuses the credentials.
    """
    check_connection(admin)
    if not is_admin(admin):
        raise ProjectSetupError(
            f"admin connection {describe_cloud(admin)}: its token has no admin role; creating a "
            "project and assigning roles needs one"
        )
    identity = admin.identity
    domain = _required(identity.find_domain, domain_name, f"domain {domain_name!r} of the project")
    user_domain = _required(
        identity.find_domain, user_domain_name, f"domain {user_domain_name!r} of the user"
    )
    user = _required(
        lambda name, **kw: identity.find_user(name, domain_id=user_domain.id, **kw),
        user_name,
        f"user {user_name!r} in domain {user_domain.name!r}",
        "; create the user first (users are not created here)",
    )
    found_role = _required(identity.find_role, role, f"role {role!r}")
    if project_id:
        project = find_or_none(identity.find_project, project_id)
        if project is None or project.id != project_id:
            raise ProjectSetupError(
                f"project id {project_id!r} (the destination connection's project_id) does not exist; "
                "a project cannot be created with a given id: name it with project_name instead"
            )
    elif project_name:
        project = find_or_none(identity.find_project, project_name, domain_id=domain.id)
    else:
        raise ProjectSetupError("no project named: give a project name or id")
    created = assigned = False
    if project is None:
        LOG.info("creating project %s in domain %s", project_name, domain.name)
        project = identity.create_project(
            name=project_name, domain_id=domain.id, description=PROJECT_DESCRIPTION
        )
        created = True
    if created or not identity.validate_user_has_project_role(project, user, found_role):
        LOG.info("giving user %s the role %s in project %s", user.name, found_role.name, project.name)
        identity.assign_project_role_to_user(project, user, found_role)
        assigned = True
    if not (created or assigned):
        LOG.info(
            "project %s exists and user %s has the role %s there: nothing to do",
            project.name,
            user.name,
            found_role.name,
        )
    return {
        "project": {"id": project.id, "name": project.name, "domain_id": project.domain_id},
        "user": {"id": user.id, "name": user.name, "domain_id": user.domain_id},
        "role": found_role.name,
        "created_project": created,
        "assigned_role": assigned,
        "changed": created or assigned,
    }


def _required(find, name_or_id: str, what: str, hint: str = ""):
    found = find_or_none(find, name_or_id)
    if found is None:
        raise ProjectSetupError(f"{what} not found in the destination{hint}")
    return found


__all__ = [
    "DEFAULT_ROLE",
    "ProjectSetupError",
    "connection_scope",
    "ensure_connection_project",
    "ensure_project",
]
