"""Admin types (identity, flavors, quotas): comparison rules, creation bodies, scope and admin checks."""

from types import SimpleNamespace

import pytest

from os_migrate.apply import option_errors
from os_migrate.exceptions import ValidationError
from os_migrate.filters import Filters
from os_migrate.resources import RESOURCE_TYPES, Domain, Flavor, Group, Project, Quota, User
from os_migrate.resources.identity import AdminScope
from os_migrate.resources.quota import raised
from os_migrate.validation import admin_errors, capability_errors


def rec(cls, params, info=None, mp=None):
    return cls({"type": cls.type, "params": params, "_info": info or {}, "_migration_params": mp or {}})


def user(**params):
    return rec(User, {"name": "alice", "domain": {"name": "corp"}, **params})


def test_identity_of_identity_objects_is_domain_qualified():
    assert user().identity == "corp/alice"
    assert rec(Project, {"name": "web", "domain": {"name": "corp"}}).identity == "corp/web"


def test_import_never_enables_a_disabled_user_but_disables_and_updates():
    want = user(is_enabled=True, email="a@example.org")
    assert want.diff(user(is_enabled=False, email="a@example.org")) == {}
    assert want.diff(user(is_enabled=False, email="old@example.org")) == {
        "email": {"from": "old@example.org", "to": "a@example.org"}
    }
    assert user(is_enabled=False).diff(user(is_enabled=True)) == {"is_enabled": {"from": True, "to": False}}


class Recorder:
    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        def call(*args, **kwargs):
            self.calls.append((name, args, kwargs))
            return SimpleNamespace(id=f"new-{name}", name=kwargs.get("name"))

        return call


def test_a_user_gets_the_run_password_or_is_created_disabled():
    conn = SimpleNamespace(identity=Recorder())
    with_password = user(is_enabled=True)
    with_password.run_options = {"user_password": "s3cret-initial"}
    with_password._create_sdk(conn, {"name": "alice", "is_enabled": True})
    user(is_enabled=True)._create_sdk(conn, {"name": "alice", "is_enabled": True})
    (_, _, first), (_, _, second) = conn.identity.calls
    assert first == {"name": "alice", "is_enabled": True, "password": "s3cret-initial"}
    assert second == {"name": "alice", "is_enabled": False}
    # the password lives in memory for the run only: never in the record
    assert "s3cret" not in repr(with_password.record)


def test_group_members_are_additive():
    alice, bob, carol = ({"name": n, "domain_name": "corp"} for n in ("alice", "bob", "carol"))
    want = rec(Group, {"name": "ops", "domain": {"name": "corp"}, "members": [alice, bob]})
    assert (
        want.diff(rec(Group, {"name": "ops", "domain": {"name": "corp"}, "members": [bob, alice, carol]}))
        == {}
    )
    changes = want.diff(rec(Group, {"name": "ops", "domain": {"name": "corp"}, "members": [carol]}))
    assert changes == {"members": {"from": [carol], "to": [alice, bob]}}
    assert "members" not in want.create_body(FakeIds())


class FakeIds:
    def id(self, kind, ref, required=True):
        return f"{kind}-{ref['name']}"


FLAVOR = {"name": "big", "vcpus": 4, "ram": 8192, "disk": 40, "ephemeral": 0, "swap": 0, "is_public": False}


def test_a_differing_flavor_is_a_conflict_only_access_is_added():
    want = rec(Flavor, {**FLAVOR, "extra_specs": {"hw:cpu_policy": "dedicated"}, "access": [{"name": "p1"}]})
    action, _, errors = want.compare(
        rec(Flavor, {**FLAVOR, "ram": 4096, "extra_specs": {"hw:cpu_policy": "dedicated"}})
    )
    assert action == "conflict" and errors == [
        "params.ram: differs from the destination (4096 there, 8192 here) and cannot be updated in place"
    ]
    action, _, errors = want.compare(rec(Flavor, {**FLAVOR, "extra_specs": {"trait:CUSTOM_X": "required"}}))
    assert action == "conflict" and errors[0].startswith("params.extra_specs: differs from the destination")
    same = {**FLAVOR, "extra_specs": {"hw:cpu_policy": "dedicated"}}
    action, changes, _ = want.compare(rec(Flavor, same))
    assert (action, changes) == ("update", {"access": {"from": [], "to": [{"name": "p1"}]}})
    wider = rec(Flavor, {**same, "access": [{"name": "p0"}, {"name": "p1"}]})
    assert want.compare(wider)[0] == "unchanged"


def quota(limits, usage=None, mode=None):
    return rec(
        Quota,
        {"project": {"name": "web", "domain_name": "corp"}, **limits},
        {"usage": usage or {}},
        {"quota_mode": mode} if mode else None,
    )


def test_quota_modes():
    src = quota({"compute": {"cores": 8, "ram": 4096}}, {"compute": {"cores": 6, "ram": 1024}})
    dst = quota({"compute": {"cores": 20, "ram": 2048}}, {"compute": {"cores": 1, "ram": 512}})
    assert src.diff(dst) == {"compute": {"from": {"cores": 20, "ram": 2048}, "to": {"cores": 8, "ram": 4096}}}
    src.run_options = {"quota_mode": "keep"}
    assert src.compare(dst)[0] == "unchanged"
    src.run_options = {"quota_mode": "raise"}
    # cores: 20 >= max(6, 1) kept; ram 2048 >= max(1024, 512) kept
    assert src.diff(dst) == {}
    tight = quota({"compute": {"cores": 5, "ram": -1}}, {"compute": {"cores": 1, "ram": 512}})
    assert src.diff(tight) == {"compute": {"from": {"cores": 5}, "to": {"cores": 6}}}
    # after the migration the destination uses what the source did: nothing more to raise
    migrated = quota({"compute": {"cores": 6, "ram": -1}}, {"compute": {"cores": 6, "ram": 1024}})
    assert src.diff(migrated) == {}
    # copy never goes below what the destination project already uses
    src.run_options = {}
    busy = quota({"compute": {"cores": 20, "ram": 2048}}, {"compute": {"cores": 10, "ram": 512}})
    assert src.diff(busy) == {
        "compute": {"from": {"cores": 20, "ram": 2048}, "to": {"cores": 10, "ram": 4096}}
    }
    # the record's own mode wins over the run's
    assert quota({"compute": {"cores": 1}}, mode="keep").diff(tight) == {}
    assert raised(-1, 10) == -1 and raised(3, 10) == 10 and raised(30, 10) == 30
    assert quota({}, mode="lots").value_errors() == [
        "_migration_params.quota_mode: must be one of copy, keep, raise"
    ]


def test_nested_projects_are_created_parents_first():
    def project(name, parent=None):
        return rec(
            Project,
            {
                "name": name,
                "domain": {"name": "corp"},
                "parent": parent and {"name": parent, "domain_name": "corp"},
            },
        )

    order = Project.import_order(
        [project("leaf", "mid"), project("a-other"), project("mid", "top"), project("top")]
    )
    assert [p.name for p in order] == ["a-other", "top", "mid", "leaf"]


def test_admin_types_with_tenant_credentials_are_refused_before_any_write():
    tenant = SimpleNamespace(
        session=SimpleNamespace(
            auth=SimpleNamespace(get_access=lambda s: SimpleNamespace(role_names=["member"]))
        )
    )
    errors = capability_errors({"projects": [], "networks": [], "quotas": []}, tenant)
    assert errors == admin_errors(["projects", "quotas"], "import")
    assert "'projects' (openstack.identity.Project) needs an admin connection to import" in errors[0]


def test_admin_scope_needs_a_project_filter():
    with pytest.raises(ValidationError, match="filters.projects: an admin export needs"):
        AdminScope.build(None, None, Filters({}, RESOURCE_TYPES).of("projects"))
    refs = SimpleNamespace(objects=lambda kind: {"p1": SimpleNamespace(name="web", parent_id="d")})
    with pytest.raises(ValidationError, match="selects no project"):
        AdminScope.build(None, refs, Filters({"projects": ["nope"]}, RESOURCE_TYPES).of("projects"))


def test_run_options_are_checked_without_echoing_secrets():
    assert option_errors({"quota_mode": "raise", "user_password": "x"}) == []
    assert option_errors({"quota_mode": "max", "colour": "red", "user_password": 12}) == [
        "options.quota_mode: 'max' is not one of copy, keep, raise",
        "options.colour: unknown option (known: quota_mode, user_password)",
        "options.user_password: must be a string",
    ]


def test_a_selected_nested_project_brings_its_ancestors():
    def project(name, parent=None):
        return rec(
            Project,
            {
                "name": name,
                "domain": {"name": "corp"},
                "parent": parent and {"name": parent, "domain_name": "corp"},
            },
        )

    everything = [project("top"), project("mid", "top"), project("leaf", "mid"), project("other")]
    flt = Filters({"projects": ["leaf"]}, RESOURCE_TYPES)
    chosen = [r for r in everything if flt.selects("projects", r.name, r.params)]
    assert [p.name for p in Project.with_required(chosen, everything)] == ["top", "mid", "leaf"]


def test_a_reference_to_a_staged_project_needs_its_domain_too():
    from os_migrate.validation import reference_errors

    class NothingInTheDestination:
        def find(self, kind, ref, required=True):
            return None

    staged = rec(Project, {"name": "web", "domain": {"name": "other"}})
    ann = user(default_project={"name": "web", "domain_name": "corp"})
    data = {"domains": [rec(Domain, {"name": "corp"})], "projects": [staged], "users": [ann]}
    (error,) = reference_errors({"users": [ann]}, data, NothingInTheDestination())
    assert "params.default_project: project corp/'web' does not resolve" in error
    ann.params["default_project"]["domain_name"] = "other"
    assert reference_errors({"users": [ann]}, data, NothingInTheDestination()) == []
