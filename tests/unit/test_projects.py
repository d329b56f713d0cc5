"""ensure_project: checks before any write, creates what is missing, writes nothing the second time."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from openstack import exceptions as sdk_exc

from os_migrate import projects
from os_migrate.projects import ProjectSetupError, connection_scope, ensure_connection_project, ensure_project


class FakeIdentity:
    """Keystone in memory: domains, users, roles, projects and role assignments; writes recorded."""

    def __init__(self):
        self.domains = {"default": SimpleNamespace(id="default", name="Default")}
        self.users = {"u-1": SimpleNamespace(id="u-1", name="alice", domain_id="default")}
        self.roles = {"r-m": SimpleNamespace(id="r-m", name="member")}
        self.projects: dict[str, SimpleNamespace] = {}
        self.assignments: set[tuple[str, str, str]] = set()
        self.writes: list[tuple] = []

    @staticmethod
    def _find(items, name_or_id, ignore_missing=True, **query):
        for item in items.values():
            if name_or_id in (item.id, item.name) and all(getattr(item, k) == v for k, v in query.items()):
                return item
        if ignore_missing:
            return None
        raise sdk_exc.NotFoundException(f"no {name_or_id}")

    def find_domain(self, name_or_id, ignore_missing=True):
        return self._find(self.domains, name_or_id, ignore_missing)

    def find_user(self, name_or_id, ignore_missing=True, **query):
        return self._find(self.users, name_or_id, ignore_missing, **query)

    def find_role(self, name_or_id, ignore_missing=True):
        return self._find(self.roles, name_or_id, ignore_missing)

    def find_project(self, name_or_id, ignore_missing=True, **query):
        return self._find(self.projects, name_or_id, ignore_missing, **query)

    def create_project(self, *, name, domain_id, description):
        project = SimpleNamespace(id=f"p-{name}", name=name, domain_id=domain_id, description=description)
        self.projects[project.id] = project
        self.writes.append(("create_project", name, domain_id))
        return project

    def validate_user_has_project_role(self, project, user, role):
        return (project.id, user.id, role.id) in self.assignments

    def assign_project_role_to_user(self, project, user, role):
        self.assignments.add((project.id, user.id, role.id))
        self.writes.append(("assign", project.name, user.name, role.name))


def admin_conn(identity, roles=("admin", "member")):
    access = SimpleNamespace(role_names=list(roles))
    session = SimpleNamespace(auth=SimpleNamespace(get_access=lambda session: access))
    return SimpleNamespace(
        identity=identity,
        session=session,
        authorize=lambda: None,
        config=SimpleNamespace(auth={"username": "admin", "project_name": "admin", "auth_url": "http://ks"}),
    )


def tenant_conn(**auth):
    return SimpleNamespace(
        config=SimpleNamespace(auth={"auth_url": "http://ks", "password": "s3cret", **auth})
    )


def test_a_missing_project_is_created_and_the_user_gets_member_then_nothing_is_written():
    identity = FakeIdentity()
    admin = admin_conn(identity)

    first = ensure_project(admin, "acme", "Default", user_name="alice", user_domain_name="Default")
    second = ensure_project(admin, "acme", "Default", user_name="alice", user_domain_name="Default")

    assert identity.writes == [("create_project", "acme", "default"), ("assign", "acme", "alice", "member")]
    assert first == {
        "project": {"id": "p-acme", "name": "acme", "domain_id": "default"},
        "user": {"id": "u-1", "name": "alice", "domain_id": "default"},
        "role": "member",
        "created_project": True,
        "assigned_role": True,
        "changed": True,
    }
    assert (second["created_project"], second["assigned_role"], second["changed"]) == (False, False, False)


def test_an_existing_project_only_gets_the_missing_role_assignment():
    identity = FakeIdentity()
    identity.projects["p-9"] = SimpleNamespace(id="p-9", name="acme", domain_id="default")

    result = ensure_project(admin_conn(identity), "acme", user_name="alice")

    assert identity.writes == [("assign", "acme", "alice", "member")]
    assert result["project"]["id"] == "p-9" and not result["created_project"] and result["assigned_role"]


@pytest.mark.parametrize(
    ("kwargs", "roles", "message"),
    [
        pytest.param({}, ("member",), "its token has no admin role", id="not-admin"),
        pytest.param({"domain_name": "Nope"}, None, "domain 'Nope' of the project not found", id="domain"),
        pytest.param({"user_name": "bob"}, None, "user 'bob' in domain 'Default'", id="user"),
        pytest.param(
            {"user_domain_name": "Elsewhere"}, None, "domain 'Elsewhere' of the user", id="user-domain"
        ),
        pytest.param({"role": "operator"}, None, "role 'operator' not found", id="role"),
        pytest.param(
            {"project_name": None, "project_id": "0123abcd"},
            None,
            r"project id '0123abcd' \(the destination connection's project_id\) does not exist",
            id="project-id",
        ),
    ],
)
def test_every_refusal_comes_before_any_write(kwargs, roles, message):
    identity = FakeIdentity()
    args = {"project_name": "acme", "domain_name": "Default", "user_name": "alice", **kwargs}
    admin = admin_conn(identity, roles or ("admin",))

    with pytest.raises(ProjectSetupError, match=message) as excinfo:
        ensure_project(admin, args.pop("project_name"), args.pop("domain_name"), **args)

    assert identity.writes == []
    assert excinfo.value.retryable is False


def test_an_existing_project_named_by_id_gets_the_role():
    identity = FakeIdentity()
    identity.projects["0123abcd"] = SimpleNamespace(id="0123abcd", name="acme", domain_id="default")

    result = ensure_project(admin_conn(identity), None, project_id="0123abcd", user_name="alice")

    assert identity.writes == [("assign", "acme", "alice", "member")]
    assert result["project"]["name"] == "acme"


def test_the_scope_of_a_connection_is_read_from_its_settings_without_secrets():
    conn = tenant_conn(
        username="alice", project_name="acme", user_domain_name="Users", project_domain_id="d-1"
    )

    scope = connection_scope(conn)

    assert scope == {
        "project_name": "acme",
        "project_id": None,
        "project_domain": "d-1",
        "user_name": "alice",
        "user_id": None,
        "user_domain": "Users",
        "application_credential": False,
    }
    assert "s3cret" not in repr(scope)
    assert (
        connection_scope(tenant_conn(username="a", project_name="p", domain_name="Corp"))["user_domain"]
        == "Corp"
    )
    assert connection_scope(tenant_conn(username="a", project_name="p"))["project_domain"] == "Default"


def test_the_destination_connection_project_is_made_for_its_user(monkeypatch):
    identity = FakeIdentity()
    conn = tenant_conn(
        username="alice", project_name="acme", user_domain_name="Default", project_domain_name="Default"
    )
    conn.authorize = lambda: pytest.fail("the destination connection must not authenticate")

    result = ensure_connection_project(admin_conn(identity), conn)

    assert result["project"]["name"] == "acme" and result["user"]["name"] == "alice"
    assert identity.writes == [("create_project", "acme", "default"), ("assign", "acme", "alice", "member")]


@pytest.mark.parametrize(
    ("auth", "message"),
    [
        ({"application_credential_id": "ac-1"}, "application credential is bound"),
        ({"username": "alice"}, "names no project"),
        ({"project_name": "acme"}, "names no user"),
    ],
)
def test_a_destination_connection_that_cannot_name_project_and_user_is_refused(auth, message):
    identity = FakeIdentity()

    with pytest.raises(ProjectSetupError, match=message):
        ensure_connection_project(admin_conn(identity), tenant_conn(**auth))
    assert identity.writes == []


def test_the_module_is_part_of_the_core_surface():
    assert projects.__all__ == sorted(projects.__all__)
